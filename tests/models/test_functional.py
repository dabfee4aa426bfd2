"""The functional API and subclassing, trained the way users train them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet
from brainnet.layers import Add, BatchNormalization, Concatenate, Conv2D, Dense, Dropout, Flatten, Input, Layer
from brainnet.models import Model, Sequential, load_model
from brainnet.utils import set_random_seed


def two_views(n: int = 256, seed: int = 0):
    """A label that needs both inputs: class = (a·1 > 0) xor (b·1 > 0)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 4)).astype("float32")
    b = rng.normal(size=(n, 3)).astype("float32")
    label = ((a.sum(1) > 0) ^ (b.sum(1) > 0)).astype(int)
    return a, b, label


def test_model_call_builds_functional_and_predicts_like_the_layers():
    inputs = Input(shape=(3,))
    hidden = Dense(5, activation="relu")
    head = Dense(2, activation="softmax")
    model = Model(inputs=inputs, outputs=head(hidden(inputs)))
    assert type(model).__name__ == "Functional" and isinstance(model, Model)
    x = np.random.default_rng(0).normal(size=(6, 3)).astype("float32")
    expected = head(hidden(torch.from_numpy(x))).detach().numpy()
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-6)


def test_multi_input_multi_output_trains_with_per_output_losses_and_metrics():
    set_random_seed(0)
    a, b, label = two_views()
    in_a, in_b = Input(shape=(4,), name="a"), Input(shape=(3,), name="b")
    joined = Dense(32, activation="relu")(Concatenate()([in_a, in_b]))
    cls = Dense(2, activation="softmax", name="cls")(joined)
    reg = Dense(1, name="reg")(joined)
    model = Model(inputs=[in_a, in_b], outputs=[cls, reg])
    model.compile(optimizer=brainnet.optimizers.Adam(0.01),
                  loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5}, metrics={"cls": ["accuracy"]})
    target = a.sum(1, keepdims=True)
    history = model.fit([a, b], {"cls": label, "reg": target}, epochs=60, batch_size=64, verbose=0)
    logs = history.history
    assert set(logs) == {"loss", "cls_loss", "reg_loss", "cls_accuracy"}
    assert logs["cls_accuracy"][-1] > 0.9
    assert logs["loss"][-1] == pytest.approx(logs["cls_loss"][-1] + 0.5 * logs["reg_loss"][-1], rel=1e-4)
    probs, values = model.predict([a, b])
    assert probs.shape == (256, 2) and values.shape == (256, 1)
    result = model.evaluate([a, b], [label, target], verbose=0, return_dict=True)
    assert list(result) == ["loss", "cls_loss", "reg_loss", "cls_accuracy"]


class Sum(Layer):
    """y = Σ_i x_i over a list of same-shaped inputs (a subclassed layer)."""

    equation = "y = Σ_i x_i"

    def call(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def test_shared_layer_shares_weights():
    shared = Dense(4)
    a, b = Input(shape=(3,)), Input(shape=(3,))
    model = Model(inputs=[a, b], outputs=[shared(a), shared(b)])
    assert len(model.layers) == 3 and model.count_params() == 3 * 4 + 4  # two InputLayers, one Dense
    x = np.ones((2, 3), "float32")
    out_a, out_b = model.predict([x, x])
    np.testing.assert_array_equal(out_a, out_b)


def test_nested_models():
    inner = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)])
    inputs = Input(shape=(3,))
    outer = Model(inputs, Dense(1)(inner(inputs)))
    assert outer.count_params() == inner.count_params() + 3
    x = np.random.default_rng(1).normal(size=(5, 3)).astype("float32")
    expected = outer.layers[2](inner(torch.from_numpy(x))).detach().numpy()  # InputLayer, inner, Dense
    np.testing.assert_allclose(outer.predict(x), expected, rtol=1e-6)


def test_trainable_set_on_a_model_is_set_on_every_layer_inside_it():
    """Keras 3: model.trainable = False freezes the nested models and their layers too
    (their own .trainable reads False), and True unfreezes them all again."""
    inner = Sequential([Input(shape=(3,)), Dense(3, activation="relu"), Dense(3)])
    outer = Sequential([Input(shape=(3,)), inner, Dense(2)])
    outer.trainable = False
    assert [inner.trainable, inner.layers[0].trainable, outer.layers[1].trainable] == [False, False, False]
    assert outer.trainable_weights == [] and len(outer.non_trainable_weights) == 6
    outer.trainable = True
    assert inner.layers[1].trainable and len(outer.trainable_weights) == 6
    inner.layers[0].trainable = False  # a layer alone: its weights only
    assert inner.trainable and len(outer.trainable_weights) == 4


def test_training_false_given_in_the_graph_holds_under_fit_and_after_loading(tmp_path):
    """base(inputs, training=False) in a functional model (the transfer-learning guide):
    fit trains the model, but that call keeps running in inference mode (no dropout, the
    batch-norm statistics stay), and the argument is saved with the graph."""
    set_random_seed(0)
    base = Sequential([Input(shape=(4,)), Dense(8), BatchNormalization(), Dropout(0.5)])
    inputs = Input(shape=(4,))
    model = Model(inputs, Dense(1)(base(inputs, training=False)))
    free = Model(inputs, Dense(1)(base(inputs)))  # the same layers, training left to the caller
    x = torch.from_numpy(np.random.default_rng(2).normal(size=(32, 4)).astype("float32"))
    torch.testing.assert_close(model(x, training=True), model(x, training=False), rtol=0, atol=0)
    assert not torch.equal(free(x, training=True), free(x, training=False))  # dropout and batch statistics
    bn = base.layers[1]
    stats = [bn.moving_mean.clone(), bn.moving_variance.clone()]
    kernel = base.layers[0].get_weights()[0]
    model.compile(optimizer="adam", loss="mse")
    model.fit(x.numpy(), np.ones((32, 1), "float32"), epochs=2, verbose=0)
    torch.testing.assert_close([bn.moving_mean, bn.moving_variance], stats, rtol=0, atol=0)
    assert not np.allclose(base.layers[0].get_weights()[0], kernel)  # trainable: it still learns
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    torch.testing.assert_close(loaded(x, training=True), model(x, training=False), rtol=0, atol=1e-6)


def test_subclassed_layer_and_model_train_through_fit():
    class Scale(Layer):
        """y = x · w (one learned weight per feature)."""

        equation = "y = x·w"

        def build(self, input_shape):
            self.w = self.add_weight("w", torch.ones(input_shape[-1]))

        def call(self, inputs):
            return inputs * self.w

    class Classifier(Model):
        def __init__(self):
            super().__init__()
            self.scale = Scale()
            self.hidden = Dense(8, activation="relu")
            self.out = Dense(2, activation="softmax")

        def call(self, inputs):
            return self.out(self.hidden(self.scale(inputs)))

    set_random_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = (rng.normal(size=(200, 2)) * 0.5 + np.where(y[:, None] == 1, 2.0, -2.0)).astype("float32")
    model = Classifier()
    model.compile(optimizer=brainnet.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    assert not torch.equal(model.scale.w.detach().cpu(), torch.ones(2))  # the custom weight trained
    assert model.predict(x[:3]).shape == (3, 2)


def test_summary_shows_connections(capsys):
    a, b = Input(shape=(3,), name="left"), Input(shape=(3,), name="right")
    model = Model([a, b], Sum(name="total")([Dense(2, name="pa")(a), Dense(2, name="pb")(b)]))
    model.summary()
    out = capsys.readouterr().out
    assert "Connected to" in out and "pa, pb" in out and "left" in out


def test_conv_branch_in_functional_model_trains():
    set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 8, 8, 1)).astype("float32")
    y = (x[:, :4].mean((1, 2, 3)) > x[:, 4:].mean((1, 2, 3))).astype(int)
    inputs = Input(shape=(8, 8, 1))
    out = Dense(2, activation="softmax")(Flatten()(Conv2D(4, 3, activation="relu")(inputs)))
    model = Model(inputs, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=30, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_errors():
    a = Input(shape=(3,))
    b = Input(shape=(3,))
    out = Sum()([Dense(2)(a), Dense(2)(b)])
    with pytest.raises(ValueError, match=r"an Input that is not in inputs=.*Fix: pass every Input"):
        Model(inputs=a, outputs=out)
    with pytest.raises(TypeError, match=r"expected outputs to be symbolic tensors.*got ndarray"):
        Model(inputs=a, outputs=np.zeros(3))
    model = Model([a, b], out)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"the model has 2 inputs, expected a list of 2 arrays"):
        model.fit(np.zeros((4, 3), "float32"), np.zeros((4, 2)), verbose=0)
    with pytest.raises(ValueError, match=r"compile: losses names outputs \['nope'\]"):
        Model([a, b], [Dense(1, name="o1")(a), Dense(1, name="o2")(b)]).compile(loss={"nope": "mse"})
    with pytest.raises(TypeError, match=r"has no values, so it cannot be used in an if"):
        bool(a)


# ------------------------------------------------------------ outputs as a dict (Keras 3)
def _dict_model():
    torch.manual_seed(0)
    inp = Input((4,), name="features")
    hidden = Dense(8, activation="relu")(inp)
    return Model(inp, {"prob": Dense(1, activation="sigmoid", name="head_a")(hidden),
                       "cls": Dense(3, activation="softmax", name="head_b")(hidden)})


def test_outputs_given_as_a_dict_name_the_outputs_everywhere(tmp_path):
    model = _dict_model()
    assert model.output_names == ["prob", "cls"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    y_prob = (x[:, :1] > 0).astype("float32")
    y_cls = rng.integers(0, 3, 40)
    out = model(torch.as_tensor(x))
    assert list(out) == ["prob", "cls"] and out["cls"].shape == (40, 3)
    # the dict's values are the two heads' outputs, computed by hand from the shared hidden layer
    hidden = model.layers[1](torch.as_tensor(x))  # after the InputLayer
    torch.testing.assert_close(out["prob"], model.get_layer("head_a")(hidden))
    model.compile("adam", loss={"cls": "sparse_categorical_crossentropy", "prob": "binary_crossentropy"},
                  loss_weights={"prob": 2.0, "cls": 0.5}, metrics={"cls": ["accuracy"]}, device="cpu")
    logs = model.evaluate(x, {"prob": y_prob, "cls": y_cls}, return_dict=True, verbose=0)
    assert list(logs) == ["loss", "prob_loss", "cls_loss", "cls_accuracy"]
    assert logs["loss"] == pytest.approx(2.0 * logs["prob_loss"] + 0.5 * logs["cls_loss"], rel=1e-5)
    history = model.fit(x, {"prob": y_prob, "cls": y_cls}, epochs=2, verbose=0, validation_split=0.25)
    assert "val_cls_accuracy" in history.history
    predicted = model.predict(x, verbose=0)
    assert isinstance(predicted, dict) and list(predicted) == ["prob", "cls"]
    np.testing.assert_allclose(predicted["cls"], model(torch.as_tensor(x))["cls"].detach().numpy(), rtol=1e-6)
    model.save(tmp_path / "dict.brainnet")
    loaded = load_model(tmp_path / "dict.brainnet")
    again = loaded.predict(x, verbose=0)
    assert list(again) == ["prob", "cls"]
    for key in again:
        np.testing.assert_array_equal(again[key], predicted[key])


def test_outputs_dict_with_a_key_that_is_not_a_string():
    inp = Input((4,))
    with pytest.raises(TypeError, match=r"Model: expected outputs as a dict to map names \(strings\) to symbolic "
                                        r"tensors, got keys \[0\]\. Fix: Model\(inputs, outputs=\{'digit': "):
        Model(inp, {0: Dense(1)(inp)})
    with pytest.raises(TypeError, match=r"got an empty dict\. Fix: "):
        Model(inp, {})


# ------------------------------------------------------------ inputs as a dict (Keras 3)
def test_inputs_given_as_a_dict_take_dicts_of_data_and_survive_save(tmp_path):
    torch.manual_seed(0)
    inputs = {"size": Input((1,), name="size"), "rooms": Input((2,), name="rooms")}
    joined = Concatenate()([inputs["size"], inputs["rooms"]])
    model = Model(inputs=inputs, outputs=Dense(1, name="price")(joined))
    rng = np.random.default_rng(0)
    x = {"rooms": rng.normal(size=(32, 2)).astype("float32"), "size": rng.normal(size=(32, 1)).astype("float32")}
    kernel, bias = model.get_layer("price").kernel.detach().numpy(), model.get_layer("price").bias.detach().numpy()
    expected = np.concatenate([x["size"], x["rooms"]], axis=1) @ kernel + bias  # by name, whatever the key order
    np.testing.assert_allclose(model(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    model.compile("sgd", "mse", device="cpu")
    model.fit(x, x["size"] * 2.0, epochs=1, verbose=0)
    model.save(tmp_path / "dict_inputs.brainnet")
    loaded = load_model(tmp_path / "dict_inputs.brainnet")
    assert loaded.get_config()["input_keys"] == ["size", "rooms"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    clone = brainnet.models.clone_model(model)
    assert clone.get_config()["input_keys"] == ["size", "rooms"] and clone(x).shape == (32, 1)


def test_inputs_dict_errors_say_what_and_the_fix():
    a = Input((1,), name="a")
    with pytest.raises(ValueError, match=r"expected inputs as a dict to map each Input's name to that Input, got "
                                         r"key 'b' for the Input named 'a'\. Fix: Input\(\.\.\., name='b'\)"):
        Model({"b": a}, Dense(1)(a))
    with pytest.raises(ValueError, match=r"got an empty dict\. Fix: "):
        Model({}, Dense(1)(a))
    b = Input((1,), name="b")
    model = Model({"a": a, "b": b}, Add()([a, b]))
    with pytest.raises(ValueError, match=r"expected a dict with one value per Input, keyed \['a', 'b'\], got keys "
                                         r"\['a'\]\. Fix: model\(\{'a': \.\.\., 'b': \.\.\.\}\)"):
        model({"a": torch.zeros(2, 1)})


def test_a_torch_function_on_a_symbolic_tensor_is_refused_with_the_lambda_fix():
    """Keras 3 runs ``keras.ops`` on symbolic tensors; a torch function has no values
    to run on, so it says so and names the Lambda that does the same (the keras.io
    VQ-VAE's one-hot of its integer Input)."""
    codes = Input(shape=(7, 7), dtype="int32")
    with pytest.raises(TypeError, match=r"torch function one_hot\(\) was given a symbolic tensor .*no values: "
                                        r"torch functions expect torch\.Tensors\. Fix: make the call inside a layer, "
                                        r"layers\.Lambda\(lambda t: <your one_hot\(\.\.\.\) call on t>\)\(x\)"):
        torch.nn.functional.one_hot(codes, 8)
    with pytest.raises(TypeError, match=r"torch function matmul\(\) was given a symbolic tensor"):
        torch.matmul(Input(shape=(3,)), torch.ones(3, 2))
    # The fix: the same call inside a Lambda, in the graph and on real codes.
    from brainnet.layers import Lambda
    model = Model(codes, Lambda(lambda t: torch.nn.functional.one_hot(t.long(), 8).float())(codes))
    assert model.output.shape == (None, 7, 7, 8)
    got = model.predict(np.full((2, 7, 7), 3), verbose=0)
    assert got.shape == (2, 7, 7, 8) and np.all(got[..., 3] == 1) and got.sum() == 2 * 49
