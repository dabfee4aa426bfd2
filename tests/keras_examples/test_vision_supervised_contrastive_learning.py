"""keras.io example "Supervised Contrastive Learning"
(https://keras.io/examples/vision/supervised-contrastive-learning/). The
stored copy is the TensorFlow version (it uses TensorFlow Addons'
``npairs_loss`` and ``layers.experimental.preprocessing``); it is ported as
a learner would, with ``import brainnet as keras`` and ``from brainnet import
layers``, the preprocessing layers under their Keras 3 names
(``layers.Normalization``, ``layers.RandomWidth``, ...), and the tf calls
written as torch: ``tf.math.l2_normalize(v, axis=1)`` is
``torch.nn.functional.normalize(v, dim=1)``, and ``npairs_loss(labels,
logits)`` is the cross-entropy of the logits against the same-label matrix
with each row divided by its sum (``torch.nn.functional.cross_entropy`` with
probability targets), the TFA function's own steps. Two things change for
the data brainnet has: Fashion-MNIST (28×28×1) in place of CIFAR-10, and, as
brainnet ships no ``keras.applications`` (the test shows its refusal and
fix), the encoder's ``ResNet50V2(include_top=False, weights=None,
pooling="avg")`` is a small convolutional network ending in the same global
average pooling. Shortened for CI: 4,000 training and 2,000 test images, 3
epochs in place of 50 for each of the three fits. The tests check the loss
against NumPy (and what ``evaluate`` reports with it), the normalization's
statistics, that pretraining lowers the loss and the frozen encoder stays
unchanged, and test accuracy far above chance for both experiments.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

num_classes = 10
input_shape = (28, 28, 1)  # (32, 32, 3) for CIFAR-10 in the example

learning_rate = 0.001
batch_size = 265
hidden_units = 512
projection_units = 128
num_epochs = 3  # 50 in the example
dropout_rate = 0.5
temperature = 0.05


class SupervisedContrastiveLoss(keras.losses.Loss):
    def __init__(self, temperature=1, name=None):
        super(SupervisedContrastiveLoss, self).__init__(name=name)
        self.temperature = temperature

    def __call__(self, labels, feature_vectors, sample_weight=None):
        # cosine similarities of every pair in the batch, sharpened by the temperature
        feature_vectors_normalized = torch.nn.functional.normalize(feature_vectors, dim=1)
        logits = torch.divide(
            torch.matmul(
                feature_vectors_normalized, torch.transpose(feature_vectors_normalized, 0, 1)
            ),
            self.temperature,
        )
        # npairs_loss: each row's targets are the samples of its class, in equal shares
        labels = torch.squeeze(labels)
        targets = (labels[:, None] == labels[None, :]).to(logits.dtype)
        targets = targets / torch.sum(targets, 1, keepdim=True)
        return torch.nn.functional.cross_entropy(logits, targets)


def _numpy_supcon_loss(labels, features, temperature):
    # z_i = f_i / ‖f_i‖;  s_ij = z_i·z_j / τ;  t_ij = [y_i = y_j] / Σ_k [y_i = y_k];  L = mean_i −Σ_j t_ij log softmax(s_i)_j
    z = features / np.linalg.norm(features, axis=1, keepdims=True)
    s = z @ z.T / temperature
    log_p = s - s.max(axis=1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    t = (labels[:, None] == labels[None, :]).astype("float64")
    t /= t.sum(axis=1, keepdims=True)
    return np.mean(-(t * log_p).sum(axis=1))


def test_the_supervised_contrastive_loss_matches_numpy():
    """Section "1. Supervised contrastive learning loss function"."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(12, 6))
    labels = np.array([0, 1, 2, 0, 1, 1, 3, 0, 2, 2, 3, 1])
    loss = SupervisedContrastiveLoss(temperature)
    want = _numpy_supcon_loss(labels, features, temperature)
    for shaped in (labels, labels[:, None]):  # CIFAR-10's labels are (N, 1): squeezed
        got = loss(torch.from_numpy(shaped), torch.from_numpy(features))
        assert float(got) == pytest.approx(want, rel=1e-9)
    # features pulled together within each class lower it
    centres = rng.normal(size=(4, 6))
    assert _numpy_supcon_loss(labels, centres[labels] + 0.01 * features, temperature) < want
    assert loss.name == "supervised_contrastive_loss"


def test_keras_applications_is_refused_with_what_to_build_instead():
    """Section "Build the encoder model": the ResNet50V2 that brainnet does not ship."""
    with pytest.raises(AttributeError, match=r"keras\.applications namespace was expected, but brainnet has none "
                                             r"on purpose\. Fix: brainnet ships and downloads no pretrained weights"):
        keras.applications.ResNet50V2


@pytest.fixture(scope="module")
def data(fashion_dir):
    """Section "Prepare the data", on Fashion-MNIST."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_train = np.expand_dims(x_train, -1).astype("float32")[:4000]
    x_test = np.expand_dims(x_test, -1).astype("float32")[:2000]
    return x_train, y_train[:4000], x_test, y_test[:2000]


@pytest.fixture(scope="module")
def data_augmentation(data):
    """Section "Using image data augmentation"."""
    x_train = data[0]
    data_augmentation = keras.Sequential(
        [
            layers.Normalization(),
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.02),
            layers.RandomWidth(0.2),
            layers.RandomHeight(0.2),
        ]
    )
    data_augmentation.layers[0].adapt(x_train)
    return data_augmentation


def _functions(data_augmentation):
    """Sections "Build the encoder model", "Build the classification model" and the projection head."""

    def create_encoder():
        # ResNet50V2(include_top=False, weights=None, pooling="avg") in the example
        resnet = keras.Sequential(
            [
                layers.Conv2D(32, 3, activation="relu"),
                layers.MaxPooling2D(),
                layers.Conv2D(64, 3, activation="relu"),
                layers.MaxPooling2D(),
                layers.Conv2D(128, 3, activation="relu"),
                layers.GlobalAveragePooling2D(),
            ]
        )
        inputs = keras.Input(shape=input_shape)
        augmented = data_augmentation(inputs)
        outputs = resnet(augmented)
        model = keras.Model(inputs=inputs, outputs=outputs, name="cifar10-encoder")
        return model

    def create_classifier(encoder, trainable=True):
        for layer in encoder.layers:
            layer.trainable = trainable
        inputs = keras.Input(shape=input_shape)
        features = encoder(inputs)
        features = layers.Dropout(dropout_rate)(features)
        features = layers.Dense(hidden_units, activation="relu")(features)
        features = layers.Dropout(dropout_rate)(features)
        outputs = layers.Dense(num_classes, activation="softmax")(features)
        model = keras.Model(inputs=inputs, outputs=outputs, name="cifar10-classifier")
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=[keras.metrics.SparseCategoricalAccuracy()],
        )
        return model

    def add_projection_head(encoder):
        inputs = keras.Input(shape=input_shape)
        features = encoder(inputs)
        outputs = layers.Dense(projection_units, activation="relu")(features)
        model = keras.Model(
            inputs=inputs, outputs=outputs, name="cifar-encoder_with_projection-head"
        )
        return model

    return create_encoder, create_classifier, add_projection_head


def test_the_normalization_is_adapted_and_the_encoder_takes_resized_batches(data, data_augmentation):
    x_train = data[0]
    norm = data_augmentation.layers[0]
    np.testing.assert_allclose(np.asarray(norm.mean).reshape(-1), [x_train.mean()], rtol=1e-4)
    np.testing.assert_allclose(np.asarray(norm.variance).reshape(-1), [x_train.var()], rtol=1e-4)
    create_encoder, _, _ = _functions(data_augmentation)
    encoder = create_encoder()
    lines = []
    encoder.summary(print_fn=lines.append)
    assert "Non-trainable params: 3" in lines  # the normalization's mean, variance and count
    keras.utils.set_random_seed(0)
    augmented = data_augmentation(torch.from_numpy(x_train[:8]), training=True)
    assert augmented.shape[0] == 8 and augmented.shape[1:3] != (28, 28)  # a new size for the batch
    assert encoder(torch.from_numpy(x_train[:8]), training=True).shape == (8, 128)


def test_baseline_then_contrastive_pretraining_and_a_frozen_encoder(data, data_augmentation):
    """Sections "Experiment 1" and "Experiment 2"."""
    x_train, y_train, x_test, y_test = data
    create_encoder, create_classifier, add_projection_head = _functions(data_augmentation)

    keras.utils.set_random_seed(1)
    encoder = create_encoder()
    classifier = create_classifier(encoder)
    history = classifier.fit(x=x_train, y=y_train, batch_size=batch_size, epochs=num_epochs, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    accuracy = classifier.evaluate(x_test, y_test, verbose=0)[1]
    print(f"Test accuracy: {round(accuracy * 100, 2)}%")
    assert accuracy > 0.4  # chance is 0.1

    keras.utils.set_random_seed(2)
    encoder = create_encoder()
    encoder_with_projection_head = add_projection_head(encoder)
    encoder_with_projection_head.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=SupervisedContrastiveLoss(temperature),
    )
    history = encoder_with_projection_head.fit(
        x=x_train, y=y_train, batch_size=batch_size, epochs=num_epochs, verbose=0
    )
    assert history.history["loss"][-1] < history.history["loss"][0]
    # evaluate reports the loss of the (unaugmented) projections, as NumPy computes it
    reported = encoder_with_projection_head.evaluate(x_test[:batch_size], y_test[:batch_size],
                                                     batch_size=batch_size, verbose=0)
    projections = encoder_with_projection_head.predict(x_test[:batch_size], verbose=0).astype("float64")
    assert reported == pytest.approx(_numpy_supcon_loss(y_test[:batch_size], projections, temperature), rel=1e-4)

    classifier = create_classifier(encoder, trainable=False)
    frozen = [w.detach().clone() for w in encoder.weights]
    history = classifier.fit(x=x_train, y=y_train, batch_size=batch_size, epochs=num_epochs, verbose=0)
    assert all(torch.equal(a, b) for a, b in zip(frozen, encoder.weights))  # only the new head trained
    accuracy = classifier.evaluate(x_test, y_test, verbose=0)[1]
    print(f"Test accuracy: {round(accuracy * 100, 2)}%")
    assert accuracy > 0.3  # chance is 0.1
