"""The catalogue of user mistakes: each gives expected / got / fix, never a silent fix."""

from __future__ import annotations

import numpy as np
import pytest

from brainnet.layers import Conv2D, Dense, Flatten, MaxPooling2D
from brainnet.models import Sequential
from brainnet.optimizers import SGD


def cnn() -> Sequential:
    model = Sequential()
    model.add(Conv2D(4, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    model.add(MaxPooling2D((2, 2)))
    model.add(Flatten())
    model.add(Dense(10, activation="softmax"))
    return model


def compiled(loss: str = "sparse_categorical_crossentropy") -> Sequential:
    model = cnn()
    model.compile(optimizer=SGD(learning_rate=0.01), loss=loss, metrics=["accuracy"])
    return model


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(8, 28, 28, 1)).astype("float32")


LABELS = np.arange(8) % 10


def test_flat_images_to_image_model(images):
    with pytest.raises(ValueError, match=r"expected shape \(None, 28, 28, 1\), got \(8, 784\).*Fix: x = x.reshape\(-1, 28, 28, 1\)"):
        compiled().fit(images.reshape(8, 784), LABELS, verbose=0)


def test_integer_labels_with_categorical_loss(images):
    with pytest.raises(ValueError, match=r"categorical_crossentropy expects one-hot.*got integer class labels.*sparse_categorical_crossentropy.*to_categorical\(y, 10\)"):
        compiled("categorical_crossentropy").fit(images, LABELS, verbose=0)


def test_one_hot_labels_with_sparse_loss(images):
    one_hot = np.eye(10)[LABELS]
    with pytest.raises(ValueError, match=r"expects class indices of shape \(None,\), got one-hot labels of shape \(8, 10\).*categorical_crossentropy.*argmax"):
        compiled().fit(images, one_hot, verbose=0)


def test_string_labels(images):
    with pytest.raises(ValueError, match=r"y: expected numbers, got strings such as '7'.*Fix: .*y.astype\(int\)"):
        compiled().fit(images, np.array(["7"] * 8), verbose=0)


def test_string_labels_in_object_array(images):
    with pytest.raises(ValueError, match=r"got strings such as '7'"):
        compiled().fit(images, np.array(["7"] * 8, dtype=object), verbose=0)


def test_different_sample_counts(images):
    with pytest.raises(ValueError, match=r"same number of samples, got 8 in x and 5 in y"):
        compiled().fit(images, LABELS[:5], verbose=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs(images, bad):
    images[3, 0, 0, 0] = bad
    with pytest.raises(ValueError, match=r"expected finite numbers, got 1 NaN or infinite value\(s\) \(first in sample 3\).*Fix"):
        compiled().fit(images, LABELS, verbose=0)


def test_empty_inputs():
    with pytest.raises(ValueError, match=r"x: expected at least one sample.*got an empty array of shape \(0, 28, 28, 1\)"):
        compiled().fit(np.zeros((0, 28, 28, 1), "float32"), np.zeros(0), verbose=0)


def test_label_outside_output_classes(images):
    labels = LABELS.copy()
    labels[2] = 10
    with pytest.raises(ValueError, match=r"expected class labels in 0..9 \(the output layer has 10 units\), got label 10.*Dense\(11\)"):
        compiled().fit(images, labels, verbose=0)


def test_negative_label(images):
    labels = LABELS.copy()
    labels[0] = -1
    with pytest.raises(ValueError, match=r"got label -1"):
        compiled().evaluate(images, labels, verbose=0)


def test_non_integer_labels_with_sparse_loss(images):
    with pytest.raises(ValueError, match=r"expects integer class labels, got non-integer values such as 0.5"):
        compiled().fit(images, np.full(8, 0.5), verbose=0)


def test_unknown_optimizer():
    with pytest.raises(ValueError, match=r"Unknown optimizer 'adamm'.*Expected one of: sgd, rmsprop, adam, adamw.*Fix: optimizer='adam'"):
        cnn().compile(optimizer="adamm", loss="mse")


def test_unknown_loss():
    with pytest.raises(ValueError, match=r"Unknown loss 'sparse_categorical_crossentropyy'.*Fix: loss='sparse_categorical_crossentropy'"):
        cnn().compile(optimizer="sgd", loss="sparse_categorical_crossentropyy")


def test_unknown_metric():
    with pytest.raises(ValueError, match=r"Unknown metric 'acuracy'.*Fix: metrics=\['accuracy'\]"):
        cnn().compile(optimizer="sgd", loss="mse", metrics=["acuracy"])


def test_unknown_activation():
    with pytest.raises(ValueError, match=r"Unknown activation 'rleu'.*Fix: use activation='relu'"):
        Dense(3, activation="rleu")


def test_fit_before_compile(images):
    with pytest.raises(RuntimeError, match=r"fit: expected a compiled model, got one that was never compiled. Fix: call model.compile"):
        cnn().fit(images, LABELS)


def test_evaluate_before_compile(images):
    with pytest.raises(RuntimeError, match=r"evaluate: expected a compiled model"):
        cnn().evaluate(images, LABELS)


def test_layer_receives_wrong_rank():
    model = Sequential([Conv2D(4, (3, 3))])  # no input_shape: the rank check happens at the layer
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"Layer 'conv2d(_\d+)?' \(Conv2D\) expected input of rank 4 \(batch, height, width, channels\), got shape \(None, 28, 28\) of rank 3.*x\[..., None\]"):
        model.fit(np.zeros((8, 28, 28), "float32"), np.zeros((8, 26, 26, 4)), verbose=0)


def test_image_smaller_than_kernel():
    with pytest.raises(ValueError, match=r"smaller than its window 5×5 with padding='valid'.*padding='same'"):
        Sequential([Conv2D(4, (5, 5), input_shape=(3, 3, 1))])


def test_add_a_class_instead_of_an_instance():
    with pytest.raises(TypeError, match=r"expected a brainnet layer instance, got the class Dense.*note the parentheses"):
        Sequential().add(Dense)


def test_bad_validation_split(images):
    with pytest.raises(ValueError, match=r"expected validation_split in \[0, 1\), got 1.5"):
        compiled().fit(images, LABELS, validation_split=1.5, verbose=0)


def test_bad_batch_size(images):
    with pytest.raises(ValueError, match=r"batch_size: expected a positive integer, got 0"):
        compiled().fit(images, LABELS, batch_size=0, verbose=0)


def test_unavailable_device():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match=r"CUDA is not available here. Fix: device='cpu'"):
        cnn().compile(optimizer="sgd", loss="mse", device="cuda")


def test_binary_labels_outside_0_1():
    model = Sequential([Dense(1, activation="sigmoid", input_shape=(3,))])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    with pytest.raises(ValueError, match=r"binary_crossentropy expects labels in \[0, 1\], got values from 0.0 to 2.0"):
        model.fit(np.zeros((3, 3), "float32"), np.array([0, 1, 2]), verbose=0)


def test_regression_target_shape_mismatch():
    model = Sequential([Dense(2, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"mean_squared_error expects targets shaped like the model output \(4, 2\), got \(4, 3\)"):
        model.fit(np.zeros((4, 3), "float32"), np.zeros((4, 3)), verbose=0)


def test_wrong_feature_size_after_build():
    layer = Dense(2)
    import torch

    layer(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"was built for inputs of shape \(None, 3\), got \(1, 4\) \(axis -1: expected 3, got 4\)"):
        layer(torch.zeros(1, 4))


def test_one_sample_without_batch_axis(images):
    with pytest.raises(ValueError, match=r"expected shape \(None, 28, 28, 1\), got \(28, 28, 1\).*without the batch axis; use x\[None\]"):
        cnn().predict(images[0])


def test_missing_labels(images):
    with pytest.raises(ValueError, match=r"y: expected an array of samples, got None"):
        compiled().fit(images, verbose=0)


def test_non_integer_tokens_into_embedding():
    from brainnet.layers import Embedding, GlobalAveragePooling1D

    model = Sequential([Embedding(10, 4, input_shape=(5,)), GlobalAveragePooling1D(), Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"starts with an Embedding, which expects integer token indices, got non-integer values such as 0.5"):
        model.fit(np.full((4, 5), 0.5, "float32"), np.zeros(4, int), verbose=0)


# ------------------------------------------------- sequence models (None, T, F)
def lstm(steps=10, features=1) -> Sequential:
    from brainnet.layers import LSTM, Input

    model = Sequential([Input(shape=(steps, features)), LSTM(4), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def conv1d(steps=10, features=3) -> Sequential:
    from brainnet.layers import Conv1D, GlobalMaxPooling1D, Input

    model = Sequential([Input(shape=(steps, features)), Conv1D(4, 3), GlobalMaxPooling1D(), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


SERIES = np.sin(np.arange(240) / 5).astype("float32")  # 8 windows of 30 values, or 80 steps of 3 features
TARGETS = np.zeros(8, "float32")


def test_sequences_without_a_feature_axis_take_one_feature_as_keras():
    """(N, T) into Input(shape=(T, 1)) is taken as (N, T, 1) (Keras 3's rank rule), fit and predict."""
    x = SERIES[:80].reshape(8, 10)
    model = lstm()
    model.fit(x, TARGETS, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x[..., None], verbose=0))


def test_flat_sequences_are_reshaped_to_steps_of_features():
    flat = SERIES.reshape(8, 30)
    with pytest.raises(ValueError, match=r"expected shape \(None, 10, 3\), got \(8, 30\)\. Fix: x = x\.reshape\(-1, 10, 3\) "
                                         r"\(10 time steps of 3 features; each row must hold them step after step\)"):
        conv1d().fit(flat, TARGETS, verbose=0)
    from brainnet.layers import LSTM, Input

    any_length = Sequential([Input(shape=(None, 3)), LSTM(2)])
    with pytest.raises(ValueError, match=r"got \(8, 30\)\. Fix: x = x\.reshape\(len\(x\), -1, 3\) \(time steps of 3"):
        any_length.predict(flat, verbose=0)
    assert any_length.predict(flat.reshape(len(flat), -1, 3), verbose=0).shape == (8, 2)  # the fix runs


def test_sequences_of_the_wrong_length():
    long_windows = SERIES[:96].reshape(8, 12, 1)
    with pytest.raises(ValueError, match=r"expected shape \(None, 10, 1\), got \(8, 12, 1\)\. Fix: the model takes sequences "
                                         r"of 10 time steps \(axis 1\), got 12: make windows of 10 steps \(e\.g\. "
                                         r"brainnet\.utils\.timeseries_dataset_from_array\(data, targets, sequence_length=10\)\), "
                                         r"or build the model with Input\(shape=\(None, 1\)\) to take any length"):
        lstm().fit(long_windows, TARGETS, verbose=0)
    with pytest.raises(ValueError, match=r"got \(8, 12\)\. Fix: the model takes sequences of 10 time steps, got 12; make "
                                         r"windows of 10 steps .* and add the feature axis with x\[\.\.\., None\]"):
        lstm().predict(long_windows[..., 0], verbose=0)
    with pytest.raises(ValueError, match=r"expected shape \(None, 10, 3\), got \(8, 12, 3\)\. Fix: the model takes "
                                         r"sequences of 10 time steps"):
        conv1d().predict(np.tile(SERIES, 2)[:288].reshape(8, 12, 3), verbose=0)
    from brainnet.utils import timeseries_dataset_from_array

    windows = timeseries_dataset_from_array(SERIES, SERIES, sequence_length=10, batch_size=32)  # the first fix
    history = lstm().fit(windows, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    from brainnet.layers import LSTM, Input

    any_length = Sequential([Input(shape=(None, 1)), LSTM(4), Dense(1)])  # the second fix
    assert any_length.predict(long_windows, verbose=0).shape == (8, 1)


def test_sequences_with_the_wrong_number_of_features():
    two = SERIES[:160].reshape(8, 10, 2)
    with pytest.raises(ValueError, match=r"expected shape \(None, 10, 3\), got \(8, 10, 2\)\. Fix: the model takes 3 "
                                         r"features per time step \(the last axis\), got 2: give every step the 3 "
                                         r"features it was trained on, in the same order, or build the model with "
                                         r"Input\(shape=\(10, 2\)\)"):
        conv1d().fit(two, TARGETS, verbose=0)
    with pytest.raises(ValueError, match=r"got \(8, 10\)\. Fix: these look like sequences without the feature axis, "
                                         r"\(samples, time\); the model takes 3 features per step: give them as "
                                         r"\(samples, 10, 3\) \(e\.g\. np\.stack\(\[feature_1, …, feature_3\], axis=-1\)\)"):
        conv1d().predict(two[..., 0], verbose=0)
    with pytest.raises(ValueError, match=r"got \(8, 12, 2\)\. Fix: the model takes sequences of 10 time steps of 3 "
                                         r"features, got 12 of 2: make windows of 10 steps"):
        conv1d().predict(SERIES[:192].reshape(8, 12, 2), verbose=0)
    assert conv1d(10, 2).predict(two, verbose=0).shape == (8, 1)  # the fix runs


def test_sequences_given_features_first():
    x = SERIES.reshape(8, 10, 3)
    model = conv1d()
    with pytest.raises(ValueError, match=r"expected shape \(None, 10, 3\), got \(8, 3, 10\)\. Fix: these look like "
                                         r"\(samples, features, time\); brainnet, like Keras, takes \(samples, time, "
                                         r"features\): x = x\.transpose\(0, 2, 1\)"):
        model.predict(x.transpose(0, 2, 1), verbose=0)
    np.testing.assert_array_equal(model.predict(x.transpose(0, 2, 1).transpose(0, 2, 1), verbose=0),
                                  model.predict(x, verbose=0))


def test_one_sequence_without_its_batch_axis():
    from brainnet.layers import LSTM, Input

    x = SERIES.reshape(8, 10, 3)
    with pytest.raises(ValueError, match=r"expected shape \(None, 10, 3\), got \(10, 3\)\. Fix: this looks like one "
                                         r"sample without the batch axis; use x\[None\]"):
        conv1d().predict(x[0], verbose=0)
    any_length = Sequential([Input(shape=(None, 3)), LSTM(2)])
    with pytest.raises(ValueError, match=r"expected shape \(None, None, 3\), got \(10, 3\)\. Fix: this looks like one "
                                         r"sample without the batch axis; use x\[None\]"):
        any_length.predict(x[0], verbose=0)
    model = lstm()
    with pytest.raises(ValueError, match=r"expected shape \(None, 10, 1\), got \(10,\)\. Fix: this looks like one "
                                         r"sequence without the batch and feature axes; use x\[None, :, None\] "
                                         r"\(shape \(1, 10, 1\)\)"):
        model.predict(SERIES[:10], verbose=0)
    assert model.predict(SERIES[:10][None, :, None], verbose=0).shape == (1, 1)
