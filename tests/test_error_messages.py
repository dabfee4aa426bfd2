"""The user mistakes of docs/errors.md that no other test triggers: each one
made the way a user would make it, and its message (expected / got / fix)
checked. Grouped by the module that raises the error.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from brainnet import Input, Model
from brainnet.callbacks import BackupAndRestore, LearningRateScheduler, TensorBoard
from brainnet.datasets import DatasetNotFoundError, _files, mnist
from brainnet.layers import Dense, Layer, MultiHeadAttention, PositionalEncoding, TransformerDecoder
from brainnet.models import Sequential, load_model
from brainnet.models import saving
from brainnet.optimizers import SGD, Adam
from brainnet.preprocessing import preprocessing_for
from brainnet.saving import register_serializable
from brainnet.training import state
from brainnet.training.trainer import Trainer


def _dense(inputs: int = 3, units: int = 2) -> Sequential:
    return Sequential([Dense(units, activation="softmax", input_shape=(inputs,))])


def _two_in_two_out() -> Model:
    a, b = Input(shape=(3,), name="a"), Input(shape=(2,), name="b")
    return Model([a, b], [Dense(2, activation="softmax", name="cls")(a), Dense(1, name="reg")(b)])


# ------------------------------------------------------------------ brainnet/_registry.py
def test_custom_object_that_is_not_a_layer(tmp_path):
    _dense().save(tmp_path / "m.brainnet")
    with pytest.raises(ValueError, match=r"'Dense' names <built-in function len>, expected a subclass of Layer "
                                         r"for a layer\. Fix: register only the classes the model uses"):
        load_model(tmp_path / "m.brainnet", custom_objects={"Dense": len})


@register_serializable(package="tests_errors")
class Halve(Layer):
    """y = x / 2, whose get_config adds an argument its constructor lacks."""

    def call(self, inputs):
        return inputs / 2

    def get_config(self):
        return {**super().get_config(), "factor": 2}


def test_class_whose_config_does_not_fit_its_constructor(tmp_path):
    Sequential([Halve(input_shape=(3,))]).save(tmp_path / "h.brainnet")
    with pytest.raises(ValueError, match=r"layer class 'tests_errors>Halve' could not be rebuilt from its saved "
                                         r"config \(.*factor.*\)\. Fix: give the class a get_config\(\) that returns"):
        load_model(tmp_path / "h.brainnet")


# ------------------------------------------------------------------ brainnet/layers
def test_set_weights_with_the_wrong_number_or_shape():
    layer = Dense(2, input_shape=(3,), name="d")
    layer.build_from_shape((None, 3))
    with pytest.raises(ValueError, match=r"Layer 'd' set_weights: expected 2 arrays \(shapes \[\(3, 2\), \(2,\)\]\), "
                                         r"got 1\. Fix: pass the list that get_weights\(\) returns"):
        layer.set_weights([np.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"Layer 'd' set_weights: expected shape \(3, 2\), got \(2, 3\)\. "
                                         r"Fix: pass arrays shaped like get_weights\(\)"):
        layer.set_weights([np.zeros((2, 3)), np.zeros(2)])


def test_load_own_variables_with_a_wrong_shape_gives_the_set_weights_error():
    """Keras 3's load_own_variables assigns each array, which checks its shape; the
    error is set_weights' (one shared check), naming the layer, both shapes and the fix."""
    from brainnet.layers import Conv2D

    layer = Dense(2, input_shape=(3,), name="d")
    layer.build_from_shape((None, 3))
    before = [w.copy() for w in layer.get_weights()]
    with pytest.raises(ValueError, match=r"Layer 'd' load_own_variables: expected shape \(3, 2\), got \(2, 3\)\. "
                                         r"Fix: pass arrays shaped like get_weights\(\)"):
        layer.load_own_variables({"0": np.zeros((2, 3)), "1": np.zeros(2)})
    with pytest.raises(ValueError, match=r"Layer 'd' load_own_variables: expected shape \(2,\), got \(1,\)\."):
        layer.load_own_variables({"0": np.zeros((3, 2)), "1": np.ones(1)})  # torch would broadcast it into both
    for w, b in zip(layer.get_weights()[1:], before[1:]):
        np.testing.assert_array_equal(w, b)
    conv = Conv2D(4, 3, name="c")
    conv.build_from_shape((None, 8, 8, 2))
    keras_kernel = np.zeros((3, 3, 2, 4))  # Keras's (window, in, out)
    with pytest.raises(ValueError, match=r"Layer 'c' load_own_variables: expected shape \(4, 2, 3, 3\) \(PyTorch's "
                                         r"kernel layout: out, in, then the window\), got \(3, 3, 2, 4\), Keras's "
                                         r"layout \(the window, in, out\)\. Fix: np\.transpose\(kernel, "
                                         r"\(3, 2, 0, 1\)\)"):
        conv.load_own_variables({"0": keras_kernel, "1": np.zeros(4)})
    conv.load_own_variables({"0": np.transpose(keras_kernel + 1, (3, 2, 0, 1)), "1": np.zeros(4)})  # the fix loads
    assert float(conv.kernel.detach().min()) == 1.0

    class Scaled(Model):  # a model with a weight of its own: Model.load_own_variables
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(3,), initializer="ones")

        def call(self, x):
            return x * self.scale

    model = Scaled(name="scaled")
    model(np.ones((1, 3), "float32"))
    with pytest.raises(ValueError, match=r"Layer 'scaled' load_own_variables: expected shape \(3,\), got \(4,\)\. "
                                         r"Fix: pass arrays shaped like get_weights\(\)"):
        model.load_own_variables({"0": np.zeros(4)})


def test_input_shape_that_is_not_sizes():
    with pytest.raises(ValueError, match=r"Input: expected shape to be a tuple of sizes \(None for any\), got "
                                         r"'28x28'\. Fix: Input\(shape=\(28, 28, 1\)\)"):
        Input(shape="28x28")


def test_positional_encoding_wavelength():
    with pytest.raises(ValueError, match=r"PositionalEncoding: expected max_wavelength > 0, got 0\. "
                                         r"Fix: max_wavelength=10000"):
        PositionalEncoding(max_wavelength=0)


def test_transformer_decoder_given_three_sequences():
    x = torch.ones(1, 4, 8)
    with pytest.raises(ValueError, match=r"\(TransformerDecoder\) expected a decoder sequence and at most one encoder "
                                         r"sequence, got 3 inputs\. Fix: layer\(decoder_sequence, encoder_sequence\)"):
        TransformerDecoder(16, 2)([x, x, x])


# ------------------------------------------------------------------ brainnet/models
def test_functional_model_called_with_too_few_inputs():
    model = _two_in_two_out()
    with pytest.raises(ValueError, match=r"Model '.*': expected 2 input\(s\) \(a, b\), got 1\. Fix: pass a list "
                                         r"with one array per Input, in the order of inputs="):
        model([torch.ones(1, 3)])


def test_functional_model_with_a_tensor_call_argument_cannot_be_saved(tmp_path):
    x = Input(shape=(3, 4))
    mask = torch.ones(1, 3, 3, dtype=torch.bool)  # a constant tensor, not a graph input
    model = Model(x, MultiHeadAttention(num_heads=1, key_dim=2)(x, x, attention_mask=mask))
    with pytest.raises(ValueError, match=r"cannot save a layer call argument of type Tensor \(only tensors from the "
                                         r"graph and plain values\)\. Fix: make it an Input"):
        model.save(tmp_path / "m.brainnet")


def _archive(path, entries: dict[str, bytes], metadata: dict | None = None) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        if metadata is not None:
            archive.writestr("metadata.json", json.dumps(metadata))
        for name, data in entries.items():
            archive.writestr(name, data)


def test_files_that_are_not_whole_brainnet_models(tmp_path):
    (tmp_path / "tiny").write_bytes(b"PK")
    with pytest.raises(ValueError, match=r"is not a brainnet file: it is empty or truncated\. Fix: save the model again"):
        load_model(tmp_path / "tiny")
    (tmp_path / "text").write_bytes(b"\xff\xfe not a model at all, just bytes")
    with pytest.raises(ValueError, match=r"it does not start like a brainnet archive \(first bytes .*\)\. "
                                         r"Fix: load a file written by model.save\(\)"):
        load_model(tmp_path / "text")
    weights = saving.tensor_bytes({"w": torch.zeros(1)})
    _archive(tmp_path / "plain.zip", {"model.weights.safetensors": weights})
    with pytest.raises(ValueError, match=r"is a ZIP archive but not a brainnet file \(no metadata.json; a torch.save\(\) "
                                         r"or Keras file, perhaps\)\. Fix: load a file written by model.save\(\)"):
        load_model(tmp_path / "plain.zip")
    meta = {"format": "brainnet", "kind": "model", "format_version": 1}
    _archive(tmp_path / "part.brainnet", {"model.weights.safetensors": weights}, meta)
    with pytest.raises(ValueError, match=r"part.brainnet is incomplete: it lacks \['config.json'\]\. "
                                         r"Fix: save the model again"):
        load_model(tmp_path / "part.brainnet")
    _archive(tmp_path / "backup.brainnet", {"model.weights.safetensors": weights}, {**meta, "kind": "backup"})
    with pytest.raises(ValueError, match=r"holds a brainnet 'backup', expected a 'model'\. Fix: pass it to "
                                         r"BackupAndRestore\(backup_dir=...\) to continue training"):
        load_model(tmp_path / "backup.brainnet")


def test_save_without_overwrite_or_before_build(tmp_path):
    model = _dense()
    model.save(tmp_path / "m.brainnet")
    with pytest.raises(FileExistsError, match=r"model.save: expected a new file, got an existing .*m.brainnet and "
                                              r"overwrite=False\. Fix: model.save\(path, overwrite=True\)"):
        model.save(tmp_path / "m.brainnet", overwrite=False)
    with pytest.raises(ValueError, match=r"model.save: expected a built model, got 'lazy' with no weights yet\. "
                                         r"Fix: train it or give input_shape="):
        Sequential([Dense(2)], name="lazy").save(tmp_path / "lazy.brainnet")


def test_empty_sequential_and_summary_before_build():
    with pytest.raises(ValueError, match=r"Sequential: expected at least one layer, got an empty model\. "
                                         r"Fix: model.add\(Dense\(10, input_shape=\(784,\)\)\)"):
        Sequential().predict(np.zeros((2, 3), "float32"))
    lines = []  # as Keras 3: the layers with '?' and '(unbuilt)', then how to build it
    Sequential([Dense(2, name="dense"), Dense(3, name="head")], name="unbuilt").summary(print_fn=lines.append)
    rows = [line.split() for line in lines if line.startswith(("dense", "head"))]
    assert rows == [["dense", "(Dense)", "?", "0", "(unbuilt)"], ["head", "(Dense)", "?", "0", "(unbuilt)"]]
    assert "Total params: 0" in lines
    assert lines[-1].startswith("'unbuilt' is not built yet, so its shapes and weights are not known: give "
                                "input_shape= to the first layer")
    built = []
    Sequential([Dense(2, input_shape=(4,))]).summary(print_fn=built.append)
    assert not any("not built" in line or "unbuilt" in line for line in built) and "Total params: 10" in built


# ------------------------------------------------------------------ brainnet/optimizers.py
def test_negative_learning_rate():
    optimizer = SGD()
    with pytest.raises(ValueError, match=r"SGD.learning_rate: expected a number ≥ 0, got -0.1\. "
                                         r"Fix: optimizer.learning_rate = 0.001"):
        optimizer.learning_rate = -0.1


# ------------------------------------------------------------------ brainnet/preprocessing/__init__.py
def test_preprocessing_of_an_unbuilt_model():
    with pytest.raises(ValueError, match=r"Model 'lazy_model': expected a built model whose input is an image, got "
                                         r"one with no input shape yet\. Fix: save the model after training it"):
        preprocessing_for(Sequential([Dense(2)], name="lazy_model"))


# ------------------------------------------------------------------ brainnet/recipes/_common.py
def test_recipe_data_set_not_found(tmp_path, monkeypatch):
    from brainnet.recipes import load_images

    empty = tmp_path / "data"
    empty.mkdir()
    monkeypatch.setenv("BRAINNET_OFFLINE", "1")
    monkeypatch.setenv("BRAINNET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_files, "SYSTEM_DIR", tmp_path / "system")
    monkeypatch.setattr(mnist, "MIRRORS", ())
    with pytest.raises(DatasetNotFoundError, match=r"data set mnist not found in .*data/mnist/ \(--data-dir\), the "
                                                   r"system folder or the cache, and not downloaded .*Fix: put them in "
                                                   r"DIR/mnist/ and pass --data-dir DIR or set BRAINNET_DATA_DIR=DIR"):
        load_images(mnist, "mnist", data_dir=empty)


# ------------------------------------------------------------------ brainnet/training/callbacks
def test_backup_and_restore_arguments_and_an_incomplete_backup(tmp_path):
    with pytest.raises(ValueError, match=r"BackupAndRestore: expected a backup_dir, got an empty path\. "
                                         r"Fix: backup_dir='backup'"):
        BackupAndRestore("")
    folder = tmp_path / "backup"
    folder.mkdir()
    model = _dense()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    saving.write_archive(folder / BackupAndRestore.FILENAME, "backup",
                         {"model.weights.safetensors": saving.tensor_bytes(model.state_dict())}, "test")
    with pytest.raises(ValueError, match=r"BackupAndRestore: .*training_backup.brainnet is incomplete: it lacks "
                                         r"optimizer.json\. Fix: delete it to start over"):
        model.fit(np.zeros((4, 3), "float32"), np.zeros(4), verbose=0, callbacks=[BackupAndRestore(folder)])


def test_tensorboard_update_freq():
    pytest.importorskip("tensorboard")
    with pytest.raises(ValueError, match=r"TensorBoard: expected update_freq 'epoch' or a number of batches ≥ 1, "
                                         r"got 0\. Fix: update_freq='epoch' or update_freq=100"):
        TensorBoard(update_freq=0)


def test_learning_rate_callbacks_on_a_model_never_compiled():
    # Called outside fit (which compiles first). Was: AttributeError on None.
    from brainnet.callbacks import ReduceLROnPlateau

    for callback, call in ((LearningRateScheduler(lambda epoch: 0.1), lambda c: c.on_epoch_begin(0)),
                           (ReduceLROnPlateau(), lambda c: c.on_epoch_end(0, {"val_loss": 1.0}))):
        callback.set_model(_dense())
        with pytest.raises(RuntimeError, match=rf"{type(callback).__name__}: expected a compiled model with an "
                                               r"optimizer\. Fix: model.compile\(...\) first"):
            call(callback)


# ------------------------------------------------------------------ brainnet/training/data.py, outputs.py
def test_ragged_samples():
    model = _dense(2)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"x: expected an array of equally sized samples, got list that NumPy cannot "
                                         r"stack \(.*\)\. Fix: pad or crop samples to one shape"):
        model.fit([[1.0, 2.0], [3.0]], [0, 1], verbose=0)


def test_one_loss_or_metric_list_per_output():
    with pytest.raises(ValueError, match=r"compile: expected 2 losses \(one per output: \['cls', 'reg'\]\), got 1\. "
                                         r"Fix: give one per output as a list, or a dict keyed by"):
        _two_in_two_out().compile(optimizer="sgd", loss=["mse"])
    with pytest.raises(ValueError, match=r"compile: expected 2 metric lists \(one per output: \['cls', 'reg'\]\), got "
                                         r"3\. Fix: give one per output"):
        _two_in_two_out().compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"],
                                  metrics=[["accuracy"], ["mae"], ["mse"]])


# ------------------------------------------------------------------ brainnet/training/state.py
def test_a_lambda_loss_is_not_saved_and_says_why(tmp_path):
    model = _dense()
    model.compile(optimizer="sgd", loss=lambda y_true, y_pred: ((y_true - y_pred) ** 2).mean())
    with pytest.warns(UserWarning, match=r"model.save: the file holds no compile settings: the loss is a lambda, "
                                         r"which a file cannot name\. Fix: define it with def and decorate it"):
        model.save(tmp_path / "m.brainnet")


def _trained_state(model: Sequential):
    model.compile(optimizer=Adam(), loss="sparse_categorical_crossentropy")
    model.fit(np.zeros((4, model.input_shape[1]), "float32"), np.zeros(4), verbose=0)
    return state.optimizer_state(model.trainer.optimizer)


def test_optimizer_state_for_other_weights():
    tensors, info = _trained_state(_dense(3))
    bigger = Sequential([Dense(4, input_shape=(3,)), Dense(2, activation="softmax")])
    _trained_state(bigger)
    with pytest.raises(ValueError, match=r"src: expected an optimizer state for this model's 4 trainable weights, got "
                                         r"one for 2\. Fix: load it into the same architecture"):
        state.load_optimizer_state(bigger.trainer.optimizer, tensors, info, "src")
    wider = _dense(5)
    _trained_state(wider)
    with pytest.raises(ValueError, match=r"src: optimizer state '.*' of weight 0 has shape \(3, 2\), the weight has "
                                         r"\(5, 2\)\. Fix: load it into the architecture that saved it"):
        state.load_optimizer_state(wider.trainer.optimizer, tensors, info, "src")


# ------------------------------------------- brainnet/training/trainer.py, devices.py, prepare.py, fitting.py
def test_unknown_device_name():
    with pytest.raises(ValueError, match=r"device: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got 'gpu0'\. "
                                         r"Fix: device='cpu'"):
        _dense().compile(optimizer="sgd", loss="mse", device="gpu0")


def test_multi_input_and_multi_output_arrays():
    model = _two_in_two_out()
    model.compile(optimizer="sgd", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"})
    xa, xb, labels, sizes = np.zeros((4, 3), "float32"), np.zeros((4, 2), "float32"), np.zeros(4), np.zeros((4, 1))
    with pytest.raises(ValueError, match=r"x: expected 2 arrays \(one per model input\), got 3\. Fix: pass one array "
                                         r"per Input, in the order of Model\(inputs=\[...\]\)"):
        model.fit([xa, xb, xb], [labels, sizes], verbose=0)
    with pytest.raises(ValueError, match=r"y: expected labels for outputs \['cls', 'reg'\], got none for \['reg'\]\. "
                                         r"Fix: y=\{name: labels, ...\} with every output name"):
        model.fit([xa, xb], {"cls": labels}, verbose=0)
    with pytest.raises(ValueError, match=r"y: the model has 2 outputs \['cls', 'reg'\], expected a list of 2 label "
                                         r"arrays, got one ndarray\. Fix: model.fit\(x, \[y_a, y_b\]\)"):
        model.fit([xa, xb], labels, verbose=0)


def test_compile_without_a_loss_then_fit():
    model = _dense()
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match=r"compile: expected a loss, got loss=None\. Fix: model.compile\(optimizer="
                                         r"'adam', loss='sparse_categorical_crossentropy'\), or add the loss in "
                                         r"a layer's call with self\.add_loss\(\.\.\.\)"):
        model.fit(np.zeros((4, 3), "float32"), np.zeros(4), verbose=0)


def test_a_trainer_without_an_optimizer_cannot_train():
    # What model.predict builds for a model never compiled; training through it is refused.
    trainer = Trainer(_dense(), None, None, None, "cpu")
    with pytest.raises(ValueError, match=r"fit: expected a compiled model, got one without an optimizer\. "
                                         r"Fix: model.compile\(optimizer='adam', loss=...\) before fit"):
        trainer.build_optimizer()


def test_validation_split_that_leaves_no_validation_sample():
    model = _dense()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"fit: validation_split=0.1 of 5 samples leaves 0 for validation\. "
                                         r"Fix: use more data or a different split"):
        model.fit(np.zeros((5, 3), "float32"), np.zeros(5), validation_split=0.1, verbose=0)


# ------------------------------------------------------------------ brainnet/layers/_augmentation.py, augmentation*.py
# The entries tests/layers/test_augmentation.py does not trigger.
def test_augmentation_arguments_and_inputs():
    from brainnet.layers.augmentation import RandomErasing, RandomRotation

    cases = [
        (lambda: RandomRotation((0.2, -0.1)), r"RandomRotation: expected factor with low ≤ high, got \(0.2, -0.1\)\. "
                                              r"Fix: RandomRotation\(factor=\(-0.1, 0.2\)\)"),
        (lambda: RandomRotation(0.1, fill_value="black"), r"RandomRotation: expected fill_value to be a number, got "
                                                          r"'black'\. Fix: fill_value=0.0"),
        (lambda: RandomErasing(scale=(0.5, 2.0)), r"RandomErasing: expected scale as a pair \(low, high\) within "
                                                  r"\[0, 1\], got \(0.5, 2.0\)\. Fix: RandomErasing\(scale=\(0.02, 0.33\)\)"),
        (lambda: RandomErasing(ratio=(0, 3)), r"RandomErasing: expected ratio as a pair \(low, high\) of positive "
                                              r"numbers, got \(0, 3\)\. Fix: RandomErasing\(ratio=\(0.3, 3.3\)\)"),
        (lambda: RandomErasing(value="noise"), r"RandomErasing: expected value to be a number, a list of numbers or "
                                               r"'random', got 'noise'\. Fix: RandomErasing\(value=0\) or "),
        (lambda: RandomErasing(value=None), r"RandomErasing: expected value to be a number, a list of numbers or "
                                            r"'random', got None\. Fix: RandomErasing\(value=0\)\.$"),
    ]
    for build, message in cases:
        with pytest.raises(ValueError, match=message):
            build()


# ------------------------------------------------------------------ brainnet (the package)
def test_keras_ops_and_random_namespaces_point_to_torch():
    # Keras tutorials draw with keras.random.normal (the VAE's Sampling layer, the GAN guide) and
    # compute with keras.ops; brainnet has neither, on purpose (docs/keras.md), and says what to write.
    import brainnet as keras

    with pytest.raises(AttributeError, match=r"no attribute 'random': Keras's keras.random namespace was expected.*"
                                             r"Fix: draw with torch: keras.random.normal\(\(n, d\)\) is torch.randn"):
        keras.random.normal((2, 3))
    with pytest.raises(AttributeError, match=r"no attribute 'ops'.*Fix: call torch directly: ops.exp\(x\) is "
                                             r"torch.exp\(x\)"):
        keras.ops.exp
    assert not hasattr(keras, "random")  # still an AttributeError: hasattr, getattr(..., default) work
    with pytest.raises(AttributeError, match=r"^module 'brainnet' has no attribute 'nonexistent'$"):
        keras.nonexistent


def test_keras_distribution_namespace_points_to_fit_in_a_process_group():
    # Keras's multi-GPU guide (PyTorch) trains with keras.distribution.DataParallel; brainnet's fit is
    # data-parallel in any torch.distributed group, and the error says so.
    import brainnet as keras

    with pytest.raises(AttributeError, match=r"no attribute 'distribution': Keras's keras.distribution namespace "
                                             r"was expected.*Fix: fit is already data-parallel in every process of "
                                             r"a torch.distributed group: start the program with torchrun \(or call "
                                             r"torch.distributed.init_process_group\('gloo', rank=rank, "
                                             r"world_size=n\) in each process you start\)"):
        keras.distribution.initialize()
    assert not hasattr(keras, "distribution")
