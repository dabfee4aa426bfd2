"""Mistakes and habits of a learner's first programs (found by trying brainnet
as a new user): channels-first images, Keras spellings (``input_dim``,
``Sequential([Input(...), ...])``, ``loss="mae"``, ``optimizer=Adam``),
NumPy arrays called through a layer, a DataLoader given to ``fit``, and the
like. Each behaves as Keras does, or fails with expected / got / fix.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import brainnet
from brainnet.callbacks import EarlyStopping
from brainnet.layers import LSTM, Conv1D, Conv2D, Dense, Dropout, Flatten, Input
from brainnet.losses import MeanAbsoluteError, SparseCategoricalCrossentropy, mean_absolute_error
from brainnet.models import Sequential, load_model
from brainnet.optimizers import Adam


def _images(n=8, shape=(8, 8, 3), seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)).astype("float32"), rng.integers(0, 3, n)


def _cnn(shape=(8, 8, 3)):
    model = Sequential([Conv2D(2, 3, input_shape=shape), Flatten(), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"], device="cpu")
    return model


# ------------------------------------------------------------------ input shapes
def test_channels_first_images_get_a_transpose_not_a_reshape():
    model = _cnn()
    x, y = _images()
    with pytest.raises(ValueError, match=r"expected shape \(None, 8, 8, 3\), got \(8, 3, 8, 8\)\. Fix: these look "
                                         r"like channels-first images .* x = x\.transpose\(0, 2, 3, 1\)"):
        model.fit(x.transpose(0, 3, 1, 2), y, verbose=0)
    model.fit(x.transpose(0, 3, 1, 2).transpose(0, 2, 3, 1), y, verbose=0)  # the fix works


def test_one_image_without_batch_and_channel_axes():
    model = _cnn((8, 8, 1))
    with pytest.raises(ValueError, match=r"got \(8, 8\)\. Fix: this looks like one image without the batch and "
                                         r"channel axes; use x\[None, \.\.\., None\]"):
        model.predict(np.zeros((8, 8), "float32"), verbose=0)
    assert model.predict(np.zeros((8, 8), "float32")[None, ..., None], verbose=0).shape == (1, 3)


def test_input_shape_of_the_wrong_rank_is_fixed_in_input_shape():
    with pytest.raises(ValueError, match=r"Layer 'conv2d\w*' \(Conv2D\) expected input of rank 4 .*got "
                                         r"input_shape=\(28, 28\), which makes inputs of rank 3\. Fix: give "
                                         r"input_shape the sample's shape without the batch axis, e\.g\. "
                                         r"input_shape=\(28, 28, 1\)"):
        Sequential([Conv2D(3, 3, input_shape=(28, 28))])
    with pytest.raises(ValueError, match=r"input_shape=\(28,\), which makes inputs of rank 2\. .*"
                                         r"input_shape=\(28, 1\)"):
        Sequential([LSTM(3, input_shape=(28,))])


def test_channels_first_input_shape_is_recognised():
    with pytest.raises(ValueError, match=r"this looks like channels-first \(channels, height, width\) = "
                                         r"\(1, 28, 28\)\. Fix: .*input_shape=\(28, 28, 1\)"):
        Sequential([Conv2D(3, 3, input_shape=(1, 28, 28))])


def test_input_shape_as_a_number_and_input_dim():
    with pytest.raises(ValueError, match=r"Dense: expected input_shape as a tuple \(the shape of one sample\), got "
                                         r"the number 4\. Fix: input_shape=\(4,\)\."):
        Dense(3, input_shape=4)
    with pytest.raises(ValueError, match=r"Dense: expected input_shape as a tuple of sizes .*got 3\.5\. Fix: input_shape=\(28, 28, 1\)"):
        Dense(3, input_shape=3.5)
    with pytest.raises(ValueError, match=r"Dense: expected input_shape of positive whole sizes .*got \(4, 0\)"):
        Dense(3, input_shape=(4, 0))
    with pytest.raises(ValueError, match=r"Dense: expected input_shape or input_dim, got both .*Fix: keep one"):
        Dense(3, input_shape=(4,), input_dim=4)
    model = Sequential([Dense(5, input_dim=4), Dense(2)])  # the older Keras spelling
    assert model.built and model.input_shape == (None, 4) and model.count_params() == 4 * 5 + 5 + 5 * 2 + 2


def test_sequential_starts_with_an_input_as_in_keras_3():
    model = Sequential([Input(shape=(8, 8, 3)), Conv2D(2, 3), Flatten(), Dense(3, activation="softmax")])
    assert model.built and model.input_shape == (None, 8, 8, 3)
    assert model.compute_output_shape((None, 8, 8, 3)) == (None, 3)
    added = Sequential()
    added.add(Input(shape=(4,)))
    added.add(Dense(2))
    assert added.input_shape == (None, 4)
    with pytest.raises(TypeError, match=r"Sequential\.add: expected a layer, or an Input\(\.\.\.\) as the very "
                                        r"first entry, got .* after other layers\. Fix: Sequential\(\[Input"):
        Sequential([Dense(2, input_shape=(4,)), Input(shape=(4,))])
    with pytest.raises(ValueError, match=r"expected the first layer's input_shape to agree with the Input before "
                                         r"it, got Input of shape \(4,\) and input_shape=\(5,\)\. Fix: keep one"):
        Sequential([Input(shape=(4,)), Dense(2, input_shape=(5,))])


def test_saved_model_that_began_with_an_input_loads(tmp_path):
    model = Sequential([Input(shape=(4,)), Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", device="cpu")
    x = np.random.default_rng(0).normal(size=(4, 4)).astype("float32")
    model.save(tmp_path / "m.brainnet")
    np.testing.assert_allclose(load_model(tmp_path / "m.brainnet").predict(x, verbose=0), model.predict(x, verbose=0))


# ------------------------------------------------------------------ calling, fitting
def test_layers_and_models_take_numpy_arrays_as_keras_does():
    dense = Dense(3)
    out = dense(np.ones((2, 4)))  # float64 in: the weights' float32 out, as Keras's floatx
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (2, 3)
    model = _cnn()
    x, _ = _images(2)
    torch.testing.assert_close(model(x), model(torch.from_numpy(x)))


def test_a_dataloader_or_a_generator_trains_as_keras_takes_them():
    model = _cnn()
    x, y = _images()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                         batch_size=4)
    assert len(model.fit(loader, epochs=2, verbose=0).history["loss"]) == 2
    history = model.fit(((x, y) for _ in range(3)), steps_per_epoch=3, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    with pytest.raises(ValueError, match=r"y: expected an array .*got a DataLoader, which gives batches"):
        model.fit(x, loader, verbose=0)


def test_validation_data_must_be_a_pair():
    model = _cnn()
    x, y = _images()
    with pytest.raises(ValueError, match=r"fit: expected validation_data as a tuple \(x_val, y_val\) or \(x_val, y_val, "
                                         r"sample_weight_val\), or a DataLoader, got a ndarray\. "
                                         r"Fix: model\.fit\(x, y, validation_data=\(x_val, y_val\)\)"):
        model.fit(x, y, validation_data=x, verbose=0)
    with pytest.raises(ValueError, match=r"got a tuple of length 1\."):
        model.fit(x, y, validation_data=(x,), verbose=0)
    model.fit(x, y, validation_data=[x, y], verbose=0)


def test_predict_and_evaluate_leave_each_layer_in_its_mode():
    model = Sequential([Dense(4, input_shape=(3,)), Dropout(0.5), Dense(2)])
    model.compile("adam", "mse", device="cpu")
    x, y = np.ones((4, 3), "float32"), np.ones((4, 2), "float32")
    model.train()
    model.layers[1].eval()  # a user's own choice for one layer
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert [layer.training for layer in model.layers] == [True, False, True] and model.training
    model.eval()
    model.predict(x, verbose=0)
    assert not model.training


# ------------------------------------------------------------------ compile
def test_mae_loss_as_keras_names_it():
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    expected = np.abs(y - p).mean(-1)  # L = mean_j |y_j − ŷ_j|
    np.testing.assert_allclose(mean_absolute_error(torch.tensor(y), torch.tensor(p)).numpy(), expected)
    assert float(MeanAbsoluteError()(torch.tensor(y), torch.tensor(p))) == pytest.approx(expected.mean())
    model = Sequential([Dense(3, input_shape=(4,))])
    model.compile(Adam, "mae", device="cpu")  # the class, as for losses: its defaults
    assert isinstance(model.trainer.optimizer, Adam) and isinstance(model.trainer.heads[0].loss, MeanAbsoluteError)
    x = rng.normal(size=(6, 4)).astype("float32")
    t = rng.normal(size=(6, 3)).astype("float32")
    assert model.evaluate(x, t, verbose=0) == pytest.approx(np.abs(model.predict(x, verbose=0) - t).mean(), rel=1e-5)


def test_softmax_output_with_a_logits_loss_warns():
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    with pytest.warns(UserWarning, match=r"compile: the loss expects logits \(from_logits=True\), got a model whose "
                                         r"last layer applies softmax, so softmax would be applied twice .*Fix: drop "
                                         r"from_logits=True, or remove activation='softmax'"):
        model.compile("adam", SparseCategoricalCrossentropy(from_logits=True), device="cpu")
    logits = Sequential([Dense(3, input_shape=(4,))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logits.compile("adam", SparseCategoricalCrossentropy(from_logits=True), device="cpu")
        model.compile("adam", "sparse_categorical_crossentropy", device="cpu")


# ------------------------------------------------------------------ callbacks, weights, modules
def test_a_near_miss_monitor_name_gets_the_logged_name():
    model = _cnn()
    x, y = _images(20)
    with pytest.warns(UserWarning, match=r"EarlyStopping: expected 'val_acc' in the epoch's logs, got only loss, "
                                         r"accuracy, val_loss, val_accuracy; skipping this epoch\. Fix: "
                                         r"monitor='val_accuracy'\."):
        model.fit(x, y, epochs=1, verbose=0, validation_split=0.2, callbacks=[EarlyStopping(monitor="val_acc")])


def test_a_keras_layout_kernel_gets_the_transpose():
    conv = Sequential([Conv2D(2, 3, input_shape=(8, 8, 3))]).layers[0]
    keras_kernel = np.random.default_rng(0).normal(size=(3, 3, 3, 2)).astype("float32")  # (kh, kw, in, out)
    with pytest.raises(ValueError, match=r"expected shape \(2, 3, 3, 3\) \(PyTorch's kernel layout: out, in, then "
                                         r"the window\), got \(3, 3, 3, 2\), Keras's layout .*Fix: "
                                         r"np\.transpose\(kernel, \(3, 2, 0, 1\)\)\."):
        conv.set_weights([keras_kernel, np.zeros(2)])
    conv.set_weights([np.transpose(keras_kernel, (3, 2, 0, 1)), np.zeros(2)])
    np.testing.assert_array_equal(conv.get_weights()[0][1, 2, 0, 1], keras_kernel[0, 1, 2, 1])
    conv1d = Sequential([Conv1D(2, 3, input_shape=(8, 3))]).layers[0]
    with pytest.raises(ValueError, match=r"np\.transpose\(kernel, \(2, 1, 0\)\)"):
        conv1d.set_weights([np.zeros((3, 3, 2)), np.zeros(2)])


def test_submodules_load_on_first_use_after_a_plain_import():
    assert brainnet.explain.saliency is not None and brainnet.datasets.mnist.load_data is not None
    assert brainnet.text is not None and brainnet.preprocessing is not None and "explain" in dir(brainnet)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        brainnet.nope


def test_load_data_warns_when_its_path_is_not_used(tmp_path, monkeypatch):
    from brainnet.datasets import _files, mnist

    def found(folder, sha256):
        return "arrays" if folder == tmp_path / "mnist" else None

    monkeypatch.setenv("BRAINNET_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(_files, "_load_folder", found)
    with pytest.warns(UserWarning, match=r"load_data: expected path='mnist\.npz' to be a folder holding the four "
                                         r"MNIST files, got nothing \(no such path\); loaded them from .* instead\. "
                                         r"Fix: path='/folder/with/the/files', or leave path out"):
        assert mnist.load_data(path="mnist.npz") == "arrays"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mnist.load_data() == "arrays" and mnist.load_data(path=tmp_path / "mnist") == "arrays"


@pytest.mark.parametrize("metric", ["mae", "mse"])
def test_an_error_metric_on_class_labels_says_what_it_needs(metric):
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[metric], device="cpu")
    x = np.random.default_rng(0).random((8, 4)).astype("float32")
    with pytest.raises(ValueError, match=r"metric \w+: expected targets with one value per output, shaped like the "
                                         r"predictions \(8, 3\), got \(8,\)\. Fix: for class labels use "
                                         r"metrics=\['accuracy'\]"):
        model.fit(x, np.arange(8) % 3, verbose=0)


def test_unknown_fit_arguments_name_what_fit_takes():
    model = _cnn()
    x, y = _images()
    with pytest.raises(TypeError, match=r"fit: expected x, y, batch_size, .* got epoch=\. Fix: check the spelling "
                                        r"of 'epoch' \(did you mean epochs=\?\)\."):
        model.fit(x, y, epoch=2, verbose=0)
    with pytest.raises(TypeError, match=r"fit: expected x, y, .*, initial_epoch, steps_per_epoch, validation_steps, "
                                        r"validation_freq or validation_batch_size, "
                                        r"got workers=\. Fix: check the spelling of 'workers'\.$"):
        model.fit(x, y, workers=2, verbose=0)


# ------------------------------------------------------------------ the later chapters
def test_unknown_lengths_stay_unknown_through_calls_with_arguments():
    from brainnet.layers import Embedding, MultiHeadAttention, TransformerEncoder

    seq, h, c = Input(shape=(None, 4)), Input(shape=(6,)), Input(shape=(6,))
    assert LSTM(6, return_sequences=True)(seq, initial_state=[h, c]).shape == (None, None, 6)
    x = Input(shape=(None, 8))
    assert MultiHeadAttention(2, 4)(x, x, use_causal_mask=True).shape == (None, None, 8)
    assert Dropout(0.5)(x, training=True).shape == (None, None, 8)
    tokens = Input(shape=(None,), dtype="int64")
    assert TransformerEncoder(32, 2)(Embedding(30, 16, mask_zero=True)(tokens)).shape == (None, None, 16)
    assert LSTM(6, return_sequences=True)(Input(shape=(5, 4)), initial_state=[h, c]).shape == (None, 5, 6)


def test_a_seq2seq_lstm_with_initial_states_trains():
    from brainnet.models import Model

    enc_in, dec_in = Input(shape=(None, 4)), Input(shape=(None, 4))
    _, h, c = LSTM(8, return_state=True)(enc_in)
    out = Dense(4, activation="softmax")(LSTM(8, return_sequences=True)(dec_in, initial_state=[h, c]))
    model = Model([enc_in, dec_in], out)
    model.compile("adam", "categorical_crossentropy", device="cpu")
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(8, 5, 4)).astype("float32"), rng.normal(size=(8, 5, 4)).astype("float32")]
    target = np.eye(4, dtype="float32")[rng.integers(0, 4, (8, 5))]
    assert np.isfinite(model.fit(x, target, epochs=1, verbose=0).history["loss"]).all()
    assert model.predict(x, verbose=0).shape == (8, 5, 4)


def test_a_custom_layer_whose_arguments_its_config_forgets_is_not_saved(tmp_path):
    from brainnet.layers import Layer
    from brainnet.models import Model

    class Scale(Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

    inputs = Input(shape=(4,))
    model = Model(inputs, Dense(3)(Scale(torch.tensor(3.0))(inputs)))  # not a plain value: no Keras 3 auto-config
    with pytest.raises(ValueError, match=r"save: expected layer class 'Scale' to record its __init__ arguments "
                                         r"\['factor'\] in get_config\(\), got only the get_config\(\) it inherits "
                                         r"from Layer.*Fix: def get_config\(self\): return \{\*\*super\(\)\.get_config\(\), "
                                         r"'factor': self\.factor\}"):
        model.save(tmp_path / "m.brainnet")
    Scale.get_config = lambda self: {**Layer.get_config(self), "factor": float(self.factor)}  # the fix
    model.save(tmp_path / "m.brainnet")
    loaded = load_model(tmp_path / "m.brainnet", custom_objects={"Scale": Scale})
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_add_weight_takes_keras_shape_and_initializer():
    from brainnet.layers import Layer

    class Affine(Layer):
        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], 5))  # glorot_uniform, named by the attribute
            self.bias = self.add_weight(shape=(5,), initializer="zeros", name="bias")
            self.scale = self.add_weight(shape=(5,), initializer="ones", trainable=False)

        def call(self, x):
            return (x @ self.kernel + self.bias) * self.scale

    layer = Affine()
    out = layer(torch.ones(2, 40))
    assert out.shape == (2, 5) and [n for n, _ in layer.named_parameters()] == ["kernel", "bias"]
    limit = (6 / (40 + 5)) ** 0.5
    kernel = layer.kernel.detach()
    assert float(kernel.abs().max()) <= limit and float(kernel.std()) > limit / 3
    assert torch.equal(layer.bias, torch.zeros(5)) and torch.equal(layer.scale, torch.ones(5))
    with pytest.raises(ValueError, match=r"Affine\.add_weight: expected initializer among zeros, ones, "
                                         r"constant, .* got 'glorot'\. Fix: initializer='glorot_uniform'"):
        layer.add_weight(shape=(2,), initializer="glorot")
    torch.manual_seed(0)  # Keras's other initializers by name: bounds and spreads
    fan_in, fan_out = 400, 300
    for name, bound, std in (("uniform", 0.05, 0.05 / 3 ** 0.5), ("normal", None, 0.05),
                             ("truncated_normal", 0.1, None), ("he_uniform", (6 / fan_in) ** 0.5, None),
                             ("lecun_uniform", (3 / fan_in) ** 0.5, None),
                             ("glorot_normal", None, (2 / (fan_in + fan_out)) ** 0.5),
                             ("lecun_normal", None, (1 / fan_in) ** 0.5)):
        w = layer.add_weight(shape=(fan_in, fan_out), initializer=name).detach()
        if bound is not None:
            assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.9 * bound, name
        if std is not None:
            assert abs(float(w.std()) - std) < 0.03 * std, (name, float(w.std()), std)
    w = layer.add_weight(shape=(3, 3, 8, 16), initializer="orthogonal").detach().reshape(72, 16)
    torch.testing.assert_close(w.T @ w, torch.eye(16), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=r"Affine\.add_weight: expected a value or a shape, got neither\. Fix: "):
        layer.add_weight(name="w")
    with pytest.raises(ValueError, match=r"Affine\.add_weight: expected a value of shape \(3,\), got \(2,\)"):
        layer.add_weight("w", torch.zeros(2), shape=(3,))


def test_a_named_weight_kept_in_another_attribute_is_one_weight_and_saves(tmp_path):
    # keras.io's MIL attention layer: self.v_weight_params = self.add_weight(name="v", ...)
    from brainnet.layers import Layer

    class Gate(Layer):
        def build(self, input_shape):
            self.v_weight_params = self.add_weight(shape=(input_shape[-1], 2), name="v")
            self.kernel = self.add_weight(shape=(2,), initializer="ones")  # no name: the attribute's
            self.frozen = self.add_weight(shape=(2,), initializer="zeros", name="b", trainable=False)

        def call(self, x):
            return x @ self.v_weight_params * self.kernel + self.frozen

    inputs = Input((3,))
    model = brainnet.Model(inputs, Gate(name="gate")(inputs))
    gate = model.get_layer("gate")
    assert list(gate.state_dict()) == ["v", "kernel", "b"]  # was: "v" and "v_weight_params", the same tensor twice
    assert gate.v_weight_params is gate.v and model.count_params() == 3 * 2 + 2 + 2
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    want = x @ gate.v.detach().numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-6)
    model.save_weights(tmp_path / "g.weights.safetensors")  # was: safetensors refused the shared tensors
    with torch.no_grad():
        gate.v_weight_params.zero_()
    model.load_weights(tmp_path / "g.weights.safetensors")
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-6)
    assert gate.v_weight_params is gate.v  # loading copies into the one tensor


def test_several_outputs_inside_a_sequential_are_refused():
    from brainnet.layers import SimpleRNN

    with pytest.raises(ValueError, match=r"Sequential: expected each layer to pass one tensor to the next, got 2 "
                                         r"outputs \[\(None, 4\), \(None, 4\)\] \(return_state=True\?\) before "
                                         r"'dense\w*' \(Dense\)\. Fix: return_state=False inside a Sequential"):
        Sequential([Input(shape=(10, 3)), SimpleRNN(4, return_state=True), Dense(1)])


def test_unknown_layer_arguments_and_a_float32_output_layer():
    from brainnet import mixed_precision
    from brainnet.layers import Activation

    with pytest.raises(TypeError, match=r"Dense: expected the layer's own arguments or name, input_shape, input_dim, "
                                        r"trainable, dtype, got foo=1\. Fix: check 'foo' against "
                                        r"help\(brainnet\.layers\.Dense\)"):
        Dense(3, foo=1)
    with pytest.raises(ValueError, match=r"Dense: expected dtype='float32' .*got 'mixed_bfloat16'\. Fix: "):
        Dense(3, dtype="mixed_bfloat16")
    mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = Sequential([Dense(8, input_shape=(4,)), Activation("softmax", dtype="float32")])
        model.compile("adam", "sparse_categorical_crossentropy", device="cpu")
        x = np.random.default_rng(0).random((6, 4)).astype("float32")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            hidden = model.layers[0](torch.from_numpy(x))
            out = model.layers[1](hidden)
        assert hidden.dtype == torch.bfloat16 and out.dtype == torch.float32
        np.testing.assert_allclose(out.sum(-1).detach().numpy(), 1.0, rtol=1e-6)
    finally:
        mixed_precision.set_global_policy("float32")
    assert model.layers[1].get_config()["dtype"] == "float32"


def test_rank_errors_after_a_recurrent_layer_point_at_return_sequences():
    with pytest.raises(ValueError, match=r"after an LSTM, GRU or SimpleRNN, give that layer return_sequences=True"):
        Sequential([Input(shape=(10, 3)), LSTM(4), LSTM(4)])


def test_a_misspelt_monitor_is_named():
    with pytest.raises(ValueError, match=r"EarlyStopping: mode='auto' cannot tell whether 'val_los' should go down "
                                         r"or up\. Fix: monitor='val_loss' if that is the name meant, else"):
        EarlyStopping(monitor="val_los")


def test_fit_takes_inputs_keyed_by_the_inputs_names():
    from brainnet.layers import Concatenate
    from brainnet.models import Model

    a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
    model = Model([a, b], Dense(1)(Concatenate()([a, b])))
    model.compile("sgd", "mse", device="cpu")
    rng = np.random.default_rng(0)
    xa, xb, y = (rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 2)).astype("float32"),
                 rng.normal(size=(8, 1)).astype("float32"))
    np.testing.assert_allclose(model.predict({"b": xb, "a": xa}, verbose=0), model.predict([xa, xb], verbose=0))
    assert model.evaluate({"a": xa, "b": xb}, y, verbose=0) == pytest.approx(model.evaluate([xa, xb], y, verbose=0))
    with pytest.raises(ValueError, match=r"x: expected a dict with one array per Input, keyed \['a', 'b'\], got keys "
                                         r"\['a', 'c'\]\. Fix: model\.fit\(\{'a': \.\.\., 'b': \.\.\.\}, y\)"):
        model.fit({"a": xa, "c": xb}, y, verbose=0)


def test_output_shape_and_build_of_a_subclassed_model():
    from brainnet.models import Model

    class Net(Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden, self.out = Dense(8), Dense(3)

        def call(self, x):
            return self.out(self.hidden(x))

    net = Net()
    with pytest.raises(ValueError, match=r"Net '\w+': expected a built model for output_shape, got one whose input "
                                         r"shape is not known yet\. Fix: give input_shape= to the first layer, call "
                                         r"model\.build\(\(None, \.\.\.\)\)"):
        net.output_shape
    net.build((None, 10))  # as Keras: then summary and output_shape work
    assert net.built and net.input_shape == (None, 10) and net.output_shape == (None, 3)
    net.summary()
    assert Sequential([Dense(3, input_shape=(4,))]).output_shape == (None, 3)


def test_load_weights_into_an_unbuilt_model_says_to_build_it_first(tmp_path):
    from brainnet.models import Model

    class Net(Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.out = Dense(3)

        def call(self, x):
            return self.out(x)

    trained = Net()
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    expected = trained(x)
    trained.save_weights(tmp_path / "w.safetensors")
    fresh = Net()
    with pytest.raises(ValueError, match=r"load_weights: expected a built model, got '\w+', whose layers have no "
                                         r"weights yet \(2 tensors in .* have nowhere to go\)\. Fix: call the model "
                                         r"once on a batch \(model\(x\[:1\]\)\), or model\.build"):
        fresh.load_weights(tmp_path / "w.safetensors")
    fresh.build((None, 4))  # the fix the message gives
    fresh.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(fresh(x).detach().numpy(), expected.detach().numpy())
    with pytest.raises(ValueError, match=r"expected a built model, got 'sequential\w*'"):
        Sequential([Dense(3)]).load_weights(tmp_path / "w.safetensors")


def test_a_subclassed_models_summary_shows_each_layers_output_shape(capsys):
    from brainnet.models import Model

    class Tagger(Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.lstm, self.out = LSTM(4, return_sequences=True), Dense(2)

        def call(self, x):
            return self.out(self.lstm(x))

    model = Tagger().train()  # a mode of the user's own, which build keeps
    model.build((None, None, 5))  # sequences of any length
    rows = {layer.name: shape for layer, shape, _ in model.summary_rows()}
    assert rows == {model.lstm.name: (None, None, 4), model.out.name: (None, None, 2)}
    assert model.output_shape == (None, None, 2) and model.training
    model.summary()
    assert "(None, None, 4)" in capsys.readouterr().out
