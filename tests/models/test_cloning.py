"""clone_model: same architecture, new layers, fresh weights, not compiled;
clone_function, call_function, input_tensors, recursive; the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import (
    LSTM, Add, BatchNormalization, Concatenate, Dense, Dropout, Embedding, Input, Lambda, Layer,
)
from brainnet.models import Model, Sequential, clone_model
from brainnet.saving import register_serializable
from brainnet.utils import set_random_seed

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 4)).astype("float32")


def assert_fresh_then_equal(model, clone, x):
    """Same config; new layer objects; other predictions until the weights are copied, then the same."""
    assert clone.get_config() == model.get_config()
    assert all(a is not b for a, b in zip(clone.layers, model.layers))
    assert not any(p.data_ptr() == q.data_ptr() for p in clone.parameters() for q in model.parameters())
    def outputs(m):
        out = m.predict(x)
        return out if isinstance(out, list) else [out]

    assert not np.allclose(outputs(clone)[0], outputs(model)[0])
    clone.set_weights(model.get_weights())
    for got, want in zip(outputs(clone), outputs(model)):
        np.testing.assert_array_equal(got, want)


def test_sequential_clone_has_fresh_weights_and_is_not_compiled():
    set_random_seed(0)
    model = Sequential([Input((4,)), Dense(8, activation="relu"), BatchNormalization(), Dropout(0.2),
                        Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(X, np.arange(6) % 3, epochs=2, verbose=0)
    clone = clone_model(model)
    assert type(clone) is Sequential and clone.name == model.name
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]  # as Keras: names kept
    assert clone.trainer is None and clone.optimizer is None and clone.history is None  # not compiled
    assert clone.input_shape == (None, 4) and clone.inputs[0].shape == (None, 4)
    assert_fresh_then_equal(model, clone, X)
    with pytest.raises(RuntimeError, match=r"fit: expected a compiled model"):
        clone.fit(X, np.arange(6) % 3, verbose=0)


def test_a_lazily_built_sequential_gives_a_built_clone():
    model = Sequential([Dense(3), Dense(2)])
    model.predict(X)  # built by its first batch
    clone = clone_model(model)
    assert clone.built and clone.input_shape == (None, 4)
    assert_fresh_then_equal(model, clone, X)
    assert not clone_model(Sequential([Dense(3)])).built  # never built: the clone neither


def test_functional_clone_keeps_shared_layers_shared_and_the_graph():
    set_random_seed(0)
    tokens, extra = Input((5,), dtype="int64", name="tokens"), Input((4,), name="extra")
    shared = Dense(4, name="shared")
    h = LSTM(4)(Embedding(10, 3, mask_zero=True)(tokens))
    joined = Concatenate()([shared(h), shared(extra)])
    model = Model([tokens, extra], [Dense(2, activation="softmax", name="cls")(joined), Add()([shared(extra), h])])
    clone = clone_model(model)
    assert type(clone).__name__ == "Functional" and clone.output_names == model.output_names
    assert [t.name for t in clone.inputs] == ["tokens", "extra"] and clone.inputs[0].dtype == torch.int64
    assert len(clone.layers) == len(model.layers)  # the shared layer is still one layer
    xs = [RNG.integers(0, 10, size=(6, 5)), X]
    assert_fresh_then_equal(model, clone, xs)


def test_clone_function_changes_or_shares_layers():
    set_random_seed(0)
    inputs = Input((4,))
    model = Model(inputs, Dense(2)(Dropout(0.5)(Dense(8, name="body")(inputs))))

    def fn(layer):
        if isinstance(layer, Dropout):
            return Dropout(0.1, name=layer.name)
        if layer.name == "body":
            return layer  # shared: same weights
        return type(layer).from_config(layer.get_config())

    clone = clone_model(model, clone_function=fn)
    assert clone.layers[2].rate == 0.1 and clone.get_layer("body") is model.get_layer("body")
    assert clone.layers[3] is not model.layers[3]
    seen = []
    clone_model(Sequential([Dense(2, input_shape=(3,)), Dense(1)]), clone_function=lambda l: seen.append(l.name) or
                type(l).from_config(l.get_config()))
    assert len(seen) == 2


def test_call_function_inserts_layers_in_a_functional_clone():
    inputs = Input((4,))
    model = Model(inputs, Dense(1, name="out")(Dense(8, name="hidden")(inputs)))

    def call(layer, x, **kwargs):
        y = layer(x, **kwargs)
        return Dropout(0.5, name=f"{layer.name}_dropout")(y) if layer.name == "hidden" else y

    clone = clone_model(model, call_function=call)
    assert [layer.name for layer in clone.layers[1:]] == ["hidden", "hidden_dropout", "out"]


def test_input_tensors_build_the_clone_on_given_inputs():
    inputs = Input((4,))
    model = Model(inputs, Dense(2)(inputs))
    mine = Input((4,), name="mine")
    clone = clone_model(model, input_tensors=mine)
    assert clone.inputs[0] is mine
    seq = Sequential([Dense(2, input_shape=(4,))])
    assert clone_model(seq, input_tensors=[mine]).inputs[0] is mine


def test_recursive_clones_nested_models_with_the_same_functions():
    inner = Sequential([Dense(3, input_shape=(4,), name="inner_dense")], name="inner")
    inputs = Input((4,))
    model = Model(inputs, Dense(1, name="top")(inner(inputs)))
    names = []

    def fn(layer):
        names.append(layer.name)
        return type(layer).from_config(layer.get_config())

    clone_model(model, clone_function=fn)
    assert names == ["inner", "top"]  # the nested model is one layer to clone_function
    names.clear()
    clone = clone_model(model, clone_function=fn, recursive=True)
    assert names == ["inner_dense", "top"]
    assert clone.layers[1] is not inner and clone.layers[1].layers[0] is not inner.layers[0]
    assert_fresh_then_equal(model, clone, X)


@register_serializable(package="tests_clone")
class Tower(Model):
    def __init__(self, units: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = Dense(units, activation="relu")
        self.out = Dense(2)

    def call(self, inputs):
        return self.out(self.hidden(inputs))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_subclassed_model_with_get_config_is_cloned_and_built():
    model = Tower(6)
    model.build((None, 4))
    clone = clone_model(model)
    assert type(clone) is Tower and clone.units == 6 and clone.built
    assert clone.hidden is not model.hidden
    x = torch.from_numpy(X)
    assert not torch.allclose(clone(x), model(x))
    clone.set_weights(model.get_weights())
    assert torch.equal(clone(x), model(x))


def test_a_lambda_layer_keeps_its_function():
    model = Sequential([Dense(3, input_shape=(4,)), Lambda(lambda t, k: t * k, arguments={"k": 2.0},
                                                           mask=lambda t, m: t > 0)])
    clone = clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))
    copied = clone.layers[1]
    assert copied.arguments == {"k": 2.0} and copied.mask is model.layers[1].mask


def test_errors():
    with pytest.raises(TypeError, match=r"clone_model: expected a brainnet model .* got Dense\. Fix: clone the model, "
                                        r"or copy a layer with type\(layer\)\.from_config"):
        clone_model(Dense(2))
    seq = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(TypeError, match=r"clone_model: expected clone_function to be a function, got int\. Fix"):
        clone_model(seq, clone_function=3)
    with pytest.raises(TypeError, match=r"clone_model: expected clone_function to return a layer for 'd' \(Dense\), got "
                                        r"NoneType\. Fix: return a layer"):
        clone_model(Sequential([Dense(2, input_shape=(3,), name="d")]), clone_function=lambda layer: None)
    with pytest.raises(ValueError, match=r"clone_model: expected call_function only with a functional model, got it "
                                         r"with a Sequential one.*Fix: clone_model\(model, clone_function=\.\.\.\)"):
        clone_model(seq, call_function=lambda layer, x: layer(x))
    with pytest.raises(ValueError, match=r"clone_model: expected only the model for the subclassed model 'Tower'.*Fix: "
                                         r"clone_model\(model\), or change the settings"):
        clone_model(Tower(), clone_function=lambda layer: layer)
    with pytest.raises(ValueError, match=r"clone_model: expected input_tensors for a Sequential model to be one "
                                         r"Input\(\.\.\.\), got .*Fix: clone_model\(model, input_tensors=Input\(shape=\(3,\)\)\)"):
        clone_model(seq, input_tensors=[Input((3,)), Input((3,))])
    a, b = Input((3,)), Input((2,))
    two = Model([a, b], Concatenate()([a, b]))
    with pytest.raises(ValueError, match=r"clone_model: expected input_tensors shaped like model\.inputs \(a list of 2 "
                                         r"symbolic tensors: .*Fix: input_tensors=\[Input\(\.\.\.\), Input\(\.\.\.\)\]"):
        clone_model(two, input_tensors=Input((3,)))
    inputs = Input((4,))
    model = Model(inputs, Dense(2, name="d2")(inputs))
    with pytest.raises(ValueError, match=r"clone_model: expected the clone of 'd2' to give 1 output\(s\), as the "
                                         r"original, got 2\. Fix"):
        clone_model(model, call_function=lambda layer, x: [layer(x), layer(x)])

    class Scaled(Layer):  # its __init__ argument is missing from the get_config it inherits
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs):
            return inputs * self.factor

    with pytest.raises(ValueError, match=r"expected layer class 'Scaled' to record its __init__ arguments \['factor'\]"):
        clone_model(Sequential([Scaled(torch.tensor(3.0), input_shape=(2,))]))  # not plain: no auto-config

    class Rigid(Layer):
        def __init__(self, factor, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs):
            return inputs * self.factor

        def get_config(self):
            return {"name": self.name}  # forgets factor

    with pytest.raises(ValueError, match=r"clone_model: expected layer class 'Rigid' to be rebuilt from its "
                                         r"get_config\(\), got an error \(.*factor.*\)\. Fix: give the class a get_config"):
        clone_model(Sequential([Rigid(3.0, input_shape=(2,))]))
