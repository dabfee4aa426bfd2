"""keras.io example "Semi-supervised image classification using contrastive
pretraining with SimCLR" (https://keras.io/examples/vision/semisupervised_simclr/).

The stored copy is the Keras 3 version run on TensorFlow (``import keras``
with ``tf.*`` calls and ``tf.GradientTape``); it is ported as a learner
would: ``import brainnet as keras``, ``from brainnet import layers``, and
the TensorFlow calls written as torch: ``tf.random.uniform(shape, minval,
maxval)`` is ``torch.empty(shape).uniform_(minval, maxval)``, ``tf.eye(3,
batch_shape=[b, 1])`` is ``torch.eye(3).expand(b, 1, 3, 3)``,
``tf.clip_by_value`` is ``torch.clip``, ``tf.math.l2_normalize(v, axis=1)``
is ``torch.nn.functional.normalize(v, dim=1)``, ``tf.matmul(a, b,
transpose_b=True)`` is ``a @ b.T``, ``tf.range`` is ``torch.arange``,
``tf.concat`` is ``torch.cat``, and each ``GradientTape`` block is
``self.zero_grad()``, ``backward`` and ``apply_gradients`` (the contrastive
loss is one value per image: its sum, which is what the tape
differentiates; the probe's encoder call runs under ``torch.no_grad()``,
as the tape there differentiates the probe's weights only). ``tf.data``
becomes torch ``DataLoader``s, and ``tf.data.Dataset.zip`` of the unlabeled
and labeled batches a generator that zips the two loaders pass after pass,
so ``fit`` is given ``steps_per_epoch``.

STL-10 is not here: Fashion-MNIST stands in, padded to 32 × 32 (the
encoder's four valid 3 × 3 convolutions with stride 2 need at least 31
pixels: 32 → 15 → 7 → 3 → 1) and repeated into three channels, so the
example's colour augmentation works on it as written. Of 3,000 training
images, 2,400 are the unlabeled set (labels -1, as STL-10's unlabelled
split) and 600 the labeled one; 1,000 test images are the test set.
(MNIST was tried first: its mostly black digits give the untrained
encoder's features a spread about 100 times smaller, and in this short run
the linear probe did not move from chance.)

Shortened for CI: those sizes (100,000 unlabeled and 5,000 labeled images
in the example), 5 epochs in place of 20, a batch of 100 (80 unlabeled +
20 labeled, 30 steps per epoch) in place of 525, and width 32 in place of
128. The plots are left out.

The tests check the colour augmentation and the contrastive loss and
accuracy against NumPy, the augmenters' identity at inference, and that
pretraining lowers the contrastive loss, lifts the contrastive accuracy far
above chance, trains the linear probe above chance (its validation loss
recomputed by hand), and leaves an encoder that fine-tunes, like the
supervised baseline, far above chance. The probe itself is judged by its
falling test loss, not its accuracy: with the example's ``Adam()`` it only
starts to learn in these 150 steps (the example takes 4,000), and over
four seeds its best test accuracy was 0.13 to 0.28.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

# Dataset hyperparameters
unlabeled_dataset_size = 2400  # 100000 in the example
labeled_dataset_size = 600  # 5000 in the example
image_channels = 3

# Algorithm hyperparameters
num_epochs = 5  # 20 in the example
batch_size = 100  # 525 in the example
width = 32  # 128 in the example
temperature = 0.1
# Stronger augmentations for contrastive, weaker ones for supervised training
contrastive_augmentation = {"min_area": 0.25, "brightness": 0.6, "jitter": 0.2}
classification_augmentation = {
    "min_area": 0.75,
    "brightness": 0.3,
    "jitter": 0.1,
}


def _stl_like(images):
    """Fashion-MNIST as STL-10's uint8 RGB images: padded to 32 × 32, gray in three channels."""
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    return np.repeat(images[..., None], image_channels, axis=-1)


@pytest.fixture(scope="module")
def datasets(fashion_dir):
    """Section "Dataset"."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_labeled = torch.from_numpy(_stl_like(x_train[:labeled_dataset_size]))
    y_labeled = torch.from_numpy(y_train[:labeled_dataset_size]).long()
    x_unlabeled = torch.from_numpy(_stl_like(x_train[labeled_dataset_size:labeled_dataset_size + unlabeled_dataset_size]))
    y_unlabeled = torch.full((unlabeled_dataset_size,), -1)  # STL-10's unlabelled split has label -1
    x_test = torch.from_numpy(_stl_like(x_test[:1000]))
    y_test = torch.from_numpy(y_test[:1000]).long()

    def prepare_dataset():
        # Labeled and unlabeled samples are loaded synchronously
        # with batch sizes selected accordingly
        steps_per_epoch = (unlabeled_dataset_size + labeled_dataset_size) // batch_size
        unlabeled_batch_size = unlabeled_dataset_size // steps_per_epoch
        labeled_batch_size = labeled_dataset_size // steps_per_epoch
        print(f"batch size is {unlabeled_batch_size} (unlabeled) + {labeled_batch_size} (labeled)")

        DataLoader, TensorDataset = torch.utils.data.DataLoader, torch.utils.data.TensorDataset
        unlabeled_train_dataset = DataLoader(
            TensorDataset(x_unlabeled, y_unlabeled), batch_size=unlabeled_batch_size, shuffle=True
        )
        labeled_train_dataset = DataLoader(
            TensorDataset(x_labeled, y_labeled), batch_size=labeled_batch_size, shuffle=True
        )
        test_dataset = DataLoader(TensorDataset(x_test, y_test), batch_size=batch_size)

        # Labeled and unlabeled datasets are zipped together
        def zipped():
            while True:  # a new pass over both loaders, reshuffled, after each one
                yield from zip(unlabeled_train_dataset, labeled_train_dataset)

        return zipped(), labeled_train_dataset, test_dataset, steps_per_epoch

    torch.manual_seed(0)
    return prepare_dataset()


# Distorts the color distibutions of images
class RandomColorAffine(layers.Layer):
    def __init__(self, brightness=0, jitter=0, **kwargs):
        super().__init__(**kwargs)

        self.brightness = brightness
        self.jitter = jitter

    def get_config(self):
        config = super().get_config()
        config.update({"brightness": self.brightness, "jitter": self.jitter})
        return config

    def call(self, images, training=True):
        if training:
            batch_size = images.shape[0]

            # Same for all colors
            brightness_scales = 1 + torch.empty((batch_size, 1, 1, 1), device=images.device).uniform_(
                -self.brightness, self.brightness
            )
            # Different for all colors
            jitter_matrices = torch.empty((batch_size, 1, 3, 3), device=images.device).uniform_(
                -self.jitter, self.jitter
            )

            color_transforms = (
                torch.eye(3, device=images.device).expand(batch_size, 1, 3, 3) * brightness_scales
                + jitter_matrices
            )
            images = torch.clip(torch.matmul(images, color_transforms), 0, 1)
        return images


# Image augmentation module
def get_augmenter(min_area, brightness, jitter):
    zoom_factor = 1.0 - math.sqrt(min_area)
    return keras.Sequential(
        [
            layers.Rescaling(1 / 255),
            layers.RandomFlip("horizontal"),
            layers.RandomTranslation(zoom_factor / 2, zoom_factor / 2),
            layers.RandomZoom((-zoom_factor, 0.0), (-zoom_factor, 0.0)),
            RandomColorAffine(brightness, jitter),
        ]
    )


# Define the encoder architecture
def get_encoder():
    return keras.Sequential(
        [
            layers.Conv2D(width, kernel_size=3, strides=2, activation="relu"),
            layers.Conv2D(width, kernel_size=3, strides=2, activation="relu"),
            layers.Conv2D(width, kernel_size=3, strides=2, activation="relu"),
            layers.Conv2D(width, kernel_size=3, strides=2, activation="relu"),
            layers.Flatten(),
            layers.Dense(width, activation="relu"),
        ],
        name="encoder",
    )


# Define the contrastive model with model-subclassing
class ContrastiveModel(keras.Model):
    def __init__(self):
        super().__init__()

        self.temperature = temperature
        self.contrastive_augmenter = get_augmenter(**contrastive_augmentation)
        self.classification_augmenter = get_augmenter(**classification_augmentation)
        self.encoder = get_encoder()
        # Non-linear MLP as projection head
        self.projection_head = keras.Sequential(
            [
                keras.Input(shape=(width,)),
                layers.Dense(width, activation="relu"),
                layers.Dense(width),
            ],
            name="projection_head",
        )
        # Single dense layer for linear probing
        self.linear_probe = keras.Sequential(
            [layers.Input(shape=(width,)), layers.Dense(10)],
            name="linear_probe",
        )

        self.encoder.summary()
        self.projection_head.summary()
        self.linear_probe.summary()

    def compile(self, contrastive_optimizer, probe_optimizer, **kwargs):
        super().compile(**kwargs)

        self.contrastive_optimizer = contrastive_optimizer
        self.probe_optimizer = probe_optimizer

        # self.contrastive_loss will be defined as a method
        self.probe_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        self.contrastive_loss_tracker = keras.metrics.Mean(name="c_loss")
        self.contrastive_accuracy = keras.metrics.SparseCategoricalAccuracy(name="c_acc")
        self.probe_loss_tracker = keras.metrics.Mean(name="p_loss")
        self.probe_accuracy = keras.metrics.SparseCategoricalAccuracy(name="p_acc")

    @property
    def metrics(self):
        return [
            self.contrastive_loss_tracker,
            self.contrastive_accuracy,
            self.probe_loss_tracker,
            self.probe_accuracy,
        ]

    def contrastive_loss(self, projections_1, projections_2):
        # InfoNCE loss (information noise-contrastive estimation)
        # NT-Xent loss (normalized temperature-scaled cross entropy)

        # Cosine similarity: the dot product of the l2-normalized feature vectors
        projections_1 = torch.nn.functional.normalize(projections_1, dim=1)
        projections_2 = torch.nn.functional.normalize(projections_2, dim=1)
        similarities = torch.matmul(projections_1, projections_2.T) / self.temperature

        # The similarity between the representations of two augmented views of the
        # same image should be higher than their similarity with other views
        batch_size = projections_1.shape[0]
        contrastive_labels = torch.arange(batch_size, device=similarities.device)
        self.contrastive_accuracy.update_state(contrastive_labels, similarities)
        self.contrastive_accuracy.update_state(contrastive_labels, similarities.T)

        # The temperature-scaled similarities are used as logits for cross-entropy
        # a symmetrized version of the loss is used here
        loss_1_2 = keras.losses.sparse_categorical_crossentropy(
            contrastive_labels, similarities, from_logits=True
        )
        loss_2_1 = keras.losses.sparse_categorical_crossentropy(
            contrastive_labels, similarities.T, from_logits=True
        )
        return (loss_1_2 + loss_2_1) / 2

    def train_step(self, data):
        (unlabeled_images, _), (labeled_images, labels) = data

        # Both labeled and unlabeled images are used, without labels
        images = torch.cat((unlabeled_images, labeled_images), dim=0)
        # Each image is augmented twice, differently
        augmented_images_1 = self.contrastive_augmenter(images, training=True)
        augmented_images_2 = self.contrastive_augmenter(images, training=True)
        self.zero_grad()
        features_1 = self.encoder(augmented_images_1, training=True)
        features_2 = self.encoder(augmented_images_2, training=True)
        # The representations are passed through a projection mlp
        projections_1 = self.projection_head(features_1, training=True)
        projections_2 = self.projection_head(features_2, training=True)
        contrastive_loss = self.contrastive_loss(projections_1, projections_2)
        contrastive_loss.sum().backward()  # the tape's gradient of a vector is its sum's
        weights = self.encoder.trainable_weights + self.projection_head.trainable_weights
        self.contrastive_optimizer.apply_gradients(zip([w.grad for w in weights], weights))
        self.contrastive_loss_tracker.update_state(contrastive_loss)

        # Labels are only used in evalutation for an on-the-fly logistic regression
        preprocessed_images = self.classification_augmenter(labeled_images, training=True)
        self.zero_grad()
        with torch.no_grad():
            # the encoder is used in inference mode here to avoid regularization
            # and updating the batch normalization paramers if they are used
            features = self.encoder(preprocessed_images, training=False)
        class_logits = self.linear_probe(features, training=True)
        probe_loss = self.probe_loss(labels, class_logits)
        probe_loss.backward()
        weights = self.linear_probe.trainable_weights
        self.probe_optimizer.apply_gradients(zip([w.grad for w in weights], weights))
        self.probe_loss_tracker.update_state(probe_loss)
        self.probe_accuracy.update_state(labels, class_logits)

        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        labeled_images, labels = data

        # For testing the components are used with a training=False flag
        preprocessed_images = self.classification_augmenter(labeled_images, training=False)
        features = self.encoder(preprocessed_images, training=False)
        class_logits = self.linear_probe(features, training=False)
        probe_loss = self.probe_loss(labels, class_logits)
        self.probe_loss_tracker.update_state(probe_loss)
        self.probe_accuracy.update_state(labels, class_logits)

        # Only the probe metrics are logged at test time
        return {m.name: m.result() for m in self.metrics[2:]}


def _classifier(encoder, name):
    """Sections "Supervised baseline model" and "Supervised finetuning of the pretrained encoder"."""
    model = keras.Sequential(
        [
            get_augmenter(**classification_augmentation),
            encoder,
            layers.Dense(10),
        ],
        name=name,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
    )
    return model


def test_random_color_affine_is_a_clipped_per_image_colour_matrix_in_numpy():
    """Section "Image augmentations": ``RandomColorAffine``."""
    layer = RandomColorAffine(brightness=0.6, jitter=0.2)
    images = torch.from_numpy(np.random.default_rng(0).uniform(0, 1, size=(5, 4, 6, 3)).astype("float32"))
    torch.manual_seed(3)
    got = layer(images, training=True).numpy()
    torch.manual_seed(3)  # the same draws, in the same order
    scales = 1 + torch.empty((5, 1, 1, 1)).uniform_(-0.6, 0.6).numpy().astype("float64")
    jitters = torch.empty((5, 1, 3, 3)).uniform_(-0.2, 0.2).numpy().astype("float64")
    # y[n, i, j, :] = clip(x[n, i, j, :] · (s_n · I + J_n), 0, 1)
    want = np.empty((5, 4, 6, 3))
    x = images.numpy().astype("float64")
    for n in range(5):
        matrix = scales[n, 0, 0, 0] * np.eye(3) + jitters[n, 0]
        for i in range(4):
            for j in range(6):
                want[n, i, j] = np.clip(x[n, i, j] @ matrix, 0, 1)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert 0 < np.mean(want == 0) + np.mean(want == 1)  # the clip was reached
    assert np.abs(scales - 1).max() <= 0.6 and np.abs(jitters).max() <= 0.2
    np.testing.assert_array_equal(layer(images, training=False).numpy(), images.numpy())
    assert RandomColorAffine.from_config(layer.get_config()).jitter == 0.2


def test_the_augmenters_rescale_and_keep_shapes_and_are_the_identity_at_inference(datasets):
    """Section "Image augmentations": ``get_augmenter``."""
    _, labeled_train_dataset, _, _ = datasets
    images, _ = next(iter(labeled_train_dataset))
    keras.utils.set_random_seed(0)
    for settings in (classification_augmentation, contrastive_augmentation):
        augmenter = get_augmenter(**settings)
        augmented = augmenter(images, training=True)
        assert augmented.shape == (20, 32, 32, 3) and augmented.dtype == torch.float32
        assert 0 <= float(augmented.min()) and float(augmented.max()) <= 1
        plain = augmenter(images, training=False)
        np.testing.assert_allclose(plain.numpy(), images.numpy() / 255, rtol=1e-6)
        assert not torch.allclose(augmented, plain)
    # the strong augmenter zooms in by up to 1 − √0.25 = 0.5 and translates by a quarter
    zoom = get_augmenter(**contrastive_augmentation).layers[3]
    assert zoom.get_config()["height_factor"] == [-0.5, 0.0]
    assert get_augmenter(**contrastive_augmentation).layers[2].get_config()["width_factor"] == 0.25


def _numpy_nt_xent(p1, p2, temperature):
    # z = p / ‖p‖;  S = z₁ z₂ᵀ / τ;  L_i = ½ (−log softmax(S_i)_i − log softmax(Sᵀ_i)_i)
    z1 = p1 / np.linalg.norm(p1, axis=1, keepdims=True)
    z2 = p2 / np.linalg.norm(p2, axis=1, keepdims=True)
    s = z1 @ z2.T / temperature

    def diagonal_cross_entropy(logits):
        log_p = logits - logits.max(axis=1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
        return -np.diag(log_p)

    accuracy = (np.mean(s.argmax(axis=1) == np.arange(len(s))) + np.mean(s.T.argmax(axis=1) == np.arange(len(s)))) / 2
    return (diagonal_cross_entropy(s) + diagonal_cross_entropy(s.T)) / 2, accuracy


def test_the_contrastive_loss_and_accuracy_match_numpy():
    """Section "Self-supervised model for contrastive pretraining": ``contrastive_loss``."""
    keras.utils.set_random_seed(0)
    model = ContrastiveModel()
    model.compile(contrastive_optimizer=keras.optimizers.Adam(), probe_optimizer=keras.optimizers.Adam())
    rng = np.random.default_rng(1)
    p1 = rng.normal(size=(12, width))
    p2 = p1 + rng.normal(scale=2.0, size=(12, width))  # positives near, not equal
    got = model.contrastive_loss(torch.from_numpy(p1), torch.from_numpy(p2))
    want, accuracy = _numpy_nt_xent(p1, p2, temperature)
    assert got.shape == (12,)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    assert float(model.contrastive_accuracy.result()) == pytest.approx(accuracy)
    assert 0 < accuracy < 1
    # identical views lower it, unrelated ones raise it
    assert _numpy_nt_xent(p1, p1, temperature)[0].mean() < want.mean()
    assert _numpy_nt_xent(p1, rng.normal(size=(12, width)), temperature)[0].mean() > want.mean()


def test_the_supervised_baseline_learns_from_the_labeled_images(datasets):
    """Section "Supervised baseline model"."""
    _, labeled_train_dataset, test_dataset, _ = datasets
    keras.utils.set_random_seed(1)
    baseline_model = _classifier(get_encoder(), "baseline_model")
    baseline_history = baseline_model.fit(
        labeled_train_dataset, epochs=num_epochs, validation_data=test_dataset, verbose=0
    )
    print("Maximal validation accuracy: {:.2f}%".format(max(baseline_history.history["val_acc"]) * 100))
    assert baseline_history.history["loss"][-1] < baseline_history.history["loss"][0]
    assert max(baseline_history.history["val_acc"]) > 0.45  # chance is 0.1


@pytest.fixture(scope="module")
def pretrained(datasets):
    """Section "Self-supervised model for contrastive pretraining": the fit."""
    train_dataset, _, test_dataset, steps_per_epoch = datasets
    keras.utils.set_random_seed(2)
    pretraining_model = ContrastiveModel()
    pretraining_model.compile(
        contrastive_optimizer=keras.optimizers.Adam(),
        probe_optimizer=keras.optimizers.Adam(),
    )
    pretraining_history = pretraining_model.fit(
        train_dataset, epochs=num_epochs, steps_per_epoch=steps_per_epoch, validation_data=test_dataset, verbose=0
    )
    print("Maximal validation accuracy: {:.2f}%".format(max(pretraining_history.history["val_p_acc"]) * 100))
    return pretraining_model, pretraining_history


def test_contrastive_pretraining_learns_views_and_trains_the_probe(datasets, pretrained):
    """Section "Self-supervised model for contrastive pretraining"."""
    _, _, test_dataset, steps_per_epoch = datasets
    pretraining_model, pretraining_history = pretrained
    history = pretraining_history.history
    assert sorted(history) == ["c_acc", "c_loss", "p_acc", "p_loss", "val_p_acc", "val_p_loss"]
    print({key: [round(v, 3) for v in values] for key, values in history.items()})
    assert history["c_loss"][0] < math.log(batch_size) + 0.1  # it starts near chance, log(batch)
    assert history["c_loss"][-1] < history["c_loss"][0] - 0.4
    assert history["c_acc"][-1] > 4 / batch_size  # chance is 1 / batch
    # the probe only starts to learn in these 150 steps (the example takes 4,000): its test loss falls
    assert history["val_p_loss"][-1] < history["val_p_loss"][0] - 0.02
    assert int(pretraining_model.contrastive_optimizer.iterations) == num_epochs * steps_per_epoch
    assert int(pretraining_model.probe_optimizer.iterations) == num_epochs * steps_per_epoch

    # the last validation loss is the probe's cross-entropy on the unaugmented test images
    x_test = torch.cat([x for x, _ in test_dataset])
    y_test = torch.cat([y for _, y in test_dataset]).numpy()
    with torch.no_grad():
        features = pretraining_model.encoder(x_test.float() / 255, training=False)
        logits = pretraining_model.linear_probe(features).double().numpy()
    log_p = logits - logits.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    assert history["val_p_loss"][-1] == pytest.approx(-log_p[np.arange(len(y_test)), y_test].mean(), rel=1e-4)
    assert history["val_p_acc"][-1] == pytest.approx(np.mean(logits.argmax(axis=1) == y_test))


def test_the_pretrained_encoder_finetunes_on_the_labeled_images(datasets, pretrained):
    """Section "Supervised finetuning of the pretrained encoder"."""
    _, labeled_train_dataset, test_dataset, _ = datasets
    pretraining_model, _ = pretrained
    keras.utils.set_random_seed(3)
    finetuning_model = _classifier(pretraining_model.encoder, "finetuning_model")
    assert finetuning_model.layers[1] is pretraining_model.encoder
    finetuning_history = finetuning_model.fit(
        labeled_train_dataset, epochs=num_epochs, validation_data=test_dataset, verbose=0
    )
    print("Maximal validation accuracy: {:.2f}%".format(max(finetuning_history.history["val_acc"]) * 100))
    assert finetuning_history.history["loss"][-1] < finetuning_history.history["loss"][0]
    assert max(finetuning_history.history["val_acc"]) > 0.45  # chance is 0.1
