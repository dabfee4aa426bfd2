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
