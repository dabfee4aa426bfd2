"""A functional model with an optional input, Keras 3's ``Input(..., optional=True)``:
called, predicting, saved and loaded, cloned, with the input given and with None,
against a NumPy version of what the graph computes (y = (x·W₁ + b₁ [+ o])·W₂ + b₂);
and the errors for None where it cannot go."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from brainnet.layers import Dense, InputSpec, Layer
from brainnet.models import Input, Model, clone_model, load_model
from brainnet.saving import register_serializable

RNG = np.random.default_rng(0)
X = RNG.normal(size=(7, 3)).astype("float32")
O = RNG.normal(size=(7, 4)).astype("float32")


@register_serializable(package="tests_optional")
class ShiftIfGiven(Layer):
    """y = x + o when o is given, y = x when o is None."""

    equation = "y = x + o (o given),  y = x (o None)"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = [InputSpec(ndim=2), InputSpec(ndim=2, optional=True)]

    def call(self, inputs):
        x, o = inputs
        return x if o is None else x + o

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def optional_model(dict_inputs: bool = False) -> Model:
    x_in, o_in = Input(shape=(3,), name="x"), Input(shape=(4,), name="o", optional=True)
    y = Dense(2, name="head")(ShiftIfGiven(name="shift")([Dense(4, name="hidden")(x_in), o_in]))
    return Model({"x": x_in, "o": o_in} if dict_inputs else [x_in, o_in], y)


def naive(model: Model, x: np.ndarray, o: np.ndarray | None) -> np.ndarray:
    """The graph in float64, one sum at a time."""
    (w1, b1), (w2, b2) = (l.get_weights() for l in (model.get_layer("hidden"), model.get_layer("head")))
    h = np.array([[sum(float(x[n, k]) * w1[k, j] for k in range(3)) + b1[j] for j in range(4)] for n in range(len(x))])
    if o is not None:
        h = h + o
    return np.array([[sum(h[n, k] * w2[k, j] for k in range(4)) + b2[j] for j in range(2)] for n in range(len(x))])


def test_called_with_and_without_the_optional_input_matches_numpy():
    model = optional_model()
    np.testing.assert_allclose(model([X, None]).detach().numpy(), naive(model, X, None), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model([X, O]).detach().numpy(), naive(model, X, O), rtol=1e-5, atol=1e-6)
    assert model.inputs[1].optional and not model.inputs[0].optional


def test_dict_inputs_take_none_for_the_optional_one():
    model = optional_model(dict_inputs=True)
    np.testing.assert_allclose(model({"x": X, "o": None}).detach().numpy(), naive(model, X, None), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(model.predict({"x": X, "o": None}, verbose=0), naive(model, X, None), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("batch_size", [None, 3])
def test_predict_with_and_without_the_optional_input(batch_size):
    model = optional_model()
    for o in (None, O):
        got = model.predict([X, o], batch_size=batch_size, verbose=0)
        np.testing.assert_allclose(got, naive(model, X, o), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch([X, None]), naive(model, X, None), rtol=1e-5, atol=1e-6)


def test_save_and_load_round_trip(tmp_path):
    model = optional_model()
    path = tmp_path / "optional.keras"
    model.save(path)
    loaded = load_model(path)
    assert [t.optional for t in loaded.inputs] == [False, True]
    for o in (None, O):
        np.testing.assert_array_equal(loaded.predict([X, o], verbose=0), model.predict([X, o], verbose=0))
        np.testing.assert_allclose(loaded([X, o]).detach().numpy(), naive(model, X, o), rtol=1e-5, atol=1e-6)
    spec = json.loads(model.to_json())["config"]["inputs"]
    assert [s.get("optional", False) for s in spec] == [False, True]


def test_dict_model_round_trip_and_clone(tmp_path):
    model = optional_model(dict_inputs=True)
    model.save(tmp_path / "optional_dict.keras")
    loaded = load_model(tmp_path / "optional_dict.keras")
    for o in (None, O):
        np.testing.assert_array_equal(loaded.predict({"x": X, "o": o}, verbose=0),
                                      model.predict({"x": X, "o": o}, verbose=0))
    clone = clone_model(model)
    assert [t.optional for t in clone.inputs] == [False, True]
    assert tuple(clone({"x": X, "o": None}).shape) == (7, 2)


def test_none_where_it_cannot_go_is_refused_with_the_fix():
    x_in, o_in = Input(shape=(3,), name="x"), Input(shape=(4,), name="needed")
    required = Model([x_in, o_in], ShiftIfGiven()([Dense(4)(x_in), o_in]))
    with pytest.raises(ValueError, match=r"Model '.*': the Input 'needed' is not optional, expected a tensor for it, "
                                         r"got None\. Fix: .*Input\(shape=\.\.\., name='needed', optional=True\)"):
        required([X, None])
    with pytest.raises(ValueError, match=r"x\[1\]: the Input 'needed' is not optional, expected an array for it, "
                                         r"got None\. Fix: pass its array"):
        required.predict([X, None], verbose=0)
    model = optional_model()
    model.compile(optimizer="sgd", loss="mse")
    y = np.zeros((7, 2), "float32")
    for run in (lambda: model.fit([X, None], y, verbose=0), lambda: model.evaluate([X, None], y, verbose=0)):
        with pytest.raises(ValueError, match=r"x\[1\]: expected an array for the Input 'o' in fit and evaluate, got "
                                             r"None .*Fix: give 'o' an array here"):
            run()
    a_in, b_in = Input(shape=(2,), optional=True), Input(shape=(2,), optional=True)
    both_optional = Model([a_in, b_in], ShiftIfGiven()([a_in, b_in]))
    with pytest.raises(ValueError, match=r"x: expected an array for at least one input, got None for all 2 of them\. "
                                         r"Fix: "):
        both_optional.predict([None, None], verbose=0)
    with pytest.raises(ValueError, match=r"Input: expected optional to be True or False, got 'yes'\. Fix: "):
        Input(shape=(2,), optional="yes")


def test_a_layer_that_cannot_take_none_still_says_so():
    """None reaches the layers that read the optional Input; one without an optional InputSpec refuses it."""
    x_in, o_in = Input(shape=(3,), name="x"), Input(shape=(4,), name="o", optional=True)
    model = Model([x_in, o_in], ShiftIfGiven()([Dense(4)(x_in), Dense(4, name="reads_o")(o_in)]))
    with pytest.raises(ValueError, match=r"Layer 'reads_o' \(Dense\): expected a tensor, or a list of tensors, got "
                                         r"None\. Fix:"):
        model([X, None])
    np.testing.assert_equal(tuple(model([torch.as_tensor(X), torch.as_tensor(O)]).shape), (7, 4))
