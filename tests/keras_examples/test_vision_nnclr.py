"""keras.io example "Self-supervised contrastive learning with NNCLR"
(https://keras.io/examples/vision/nnclr/).

The stored copy is the Keras 3 version (``import keras``, ``keras.ops``,
KerasCV for two augmentation layers, ``tf.GradientTape`` in its
``train_step``). It is ported as a learner would: ``import brainnet as
keras``, ``from brainnet import layers``, and the ``ops`` calls as torch:
``ops.matmul`` is ``torch.matmul``, ``ops.tranpose`` (sic: the example's
typo for ``ops.transpose``, which Keras 3 does not have) and
``ops.transpose`` are ``.T``, ``ops.take(q, i, axis=0)`` is ``q[i]``,
``ops.argmax`` ``torch.argmax``, ``ops.stop_gradient`` ``.detach()``,
``ops.concatenate`` ``torch.cat``, ``ops.arange`` ``torch.arange``,
``ops.mean`` / ``ops.std`` ``torch.mean`` / ``torch.std(...,
unbiased=False)``, ``keras.random.normal`` ``torch.randn``. The queue,
``keras.Variable(..., trainable=False)``, is ``self.add_weight(...,
trainable=False)``, as brainnet's error for ``keras.Variable`` says, and its
``assign`` a ``copy_`` under ``torch.no_grad()``. Each ``GradientTape``
block is ``self.zero_grad()``, ``backward`` and ``apply_gradients``: the
contrastive loss is one value per row, so its sum is what the tape
differentiates; the probe's encoder call runs under ``torch.no_grad()``, as
the tape there differentiates the probe's weights only; its ``c_loss`` log
is the mean of the batch's loss values (the example logs the vector). KerasCV is not here:
``keras_cv.layers.RandomBrightness`` is Keras 3's ``layers.RandomBrightness``
(the same layer), and ``keras_cv.layers.RandomCropAndResize`` is written in
the test as a layer of its own (a box of a random area and aspect ratio at
a random place, resampled bilinearly to the target size as
``tf.image.crop_and_resize`` does, with ``F.affine_grid`` and
``F.grid_sample``). ``tf.data`` becomes torch ``DataLoader``s, and the zip of
the unlabeled and labeled batches a generator that zips the two loaders
pass after pass, so ``fit`` is given ``steps_per_epoch``.

STL-10 is not here: Fashion-MNIST stands in, as in the SimCLR port, padded
to 32 × 32 and repeated into three channels. Of 3,000 training images,
2,400 are the unlabeled set (labels -1, as STL-10's unlabelled split) and
600 the labeled one; 1,000 test images are the test set. Shortened for CI:
those sizes (100,000 unlabeled and 5,000 labeled images, 96 × 96, in the
example), a queue of 1,000 in place of 10,000, 5 epochs of 30 steps in
place of 25 of 200 (the fine-tuning's 5 epochs too), width 32 in place
of 128.

The tests check the crop-and-resize against NumPy, the nearest-neighbour
lookup in the support set (with its straight-through gradient), the
four-way contrastive loss, the queue's first-in-first-out update and the
contrastive and correlation accuracies against NumPy, that pretraining
lowers the contrastive loss (4.07 to 3.49), lifts the contrastive accuracy
far above chance (0.12; chance 0.01) and fills the queue with the batches'
projections, that the probe's validation loss is its cross-entropy
recomputed by hand and below chance's, and that the pretrained encoder
fine-tunes far above chance. The correlation accuracy stays near chance in
this short run (a feature that the ReLU zeroes over a whole batch has
standard deviation 0 and a NaN column, in Keras too); the probe, as in the
SimCLR port, only starts to learn in these 150 steps (test accuracy 0.17).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import brainnet as keras
from brainnet import layers

# Hyperparameters
labelled_train_images = 600  # 5,000 in the example
unlabelled_images = 2400  # 100,000 in the example

temperature = 0.1
queue_size = 1000  # 10,000 in the example
contrastive_augmenter = {
    "brightness": 0.5,
    "name": "contrastive_augmenter",
    "scale": (0.2, 1.0),
}
classification_augmenter = {
    "brightness": 0.2,
    "name": "classification_augmenter",
    "scale": (0.5, 1.0),
}
input_shape = (32, 32, 3)  # (96, 96, 3) in the example
width = 32  # 128 in the example
num_epochs = 5  # 25 in the example
steps_per_epoch = 30  # 200 in the example


def _stl_like(images):
    """Fashion-MNIST as STL-10's uint8 RGB images: padded to 32 × 32, gray in three channels."""
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    return np.repeat(images[..., None], 3, axis=-1)


@pytest.fixture(scope="module")
def datasets(fashion_dir):
    """Section "Load the Dataset"."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_labeled = torch.from_numpy(_stl_like(x_train[:labelled_train_images]))
    y_labeled = torch.from_numpy(y_train[:labelled_train_images]).long()
    x_unlabeled = torch.from_numpy(_stl_like(x_train[labelled_train_images:labelled_train_images + unlabelled_images]))
    y_unlabeled = torch.full((unlabelled_images,), -1)  # STL-10's unlabelled split has label -1
    x_test = torch.from_numpy(_stl_like(x_test[:1000]))
    y_test = torch.from_numpy(y_test[:1000]).long()

    def prepare_dataset():
        unlabeled_batch_size = unlabelled_images // steps_per_epoch
        labeled_batch_size = labelled_train_images // steps_per_epoch
        batch_size = unlabeled_batch_size + labeled_batch_size

        DataLoader, TensorDataset = torch.utils.data.DataLoader, torch.utils.data.TensorDataset
        unlabeled_train_dataset = DataLoader(
            TensorDataset(x_unlabeled, y_unlabeled), batch_size=unlabeled_batch_size, shuffle=True, drop_last=True
        )
        labeled_train_dataset = DataLoader(
            TensorDataset(x_labeled, y_labeled), batch_size=labeled_batch_size, shuffle=True, drop_last=True
        )
        test_dataset = DataLoader(TensorDataset(x_test, y_test), batch_size=batch_size)

        def zipped():  # tf.data.Dataset.zip: a new pass over both loaders, reshuffled, after each one
            while True:
                yield from zip(unlabeled_train_dataset, labeled_train_dataset)

        return batch_size, zipped(), labeled_train_dataset, test_dataset

    torch.manual_seed(0)
    return prepare_dataset()


# Section "Augmentations": keras_cv.layers.RandomCropAndResize, written here
class RandomCropAndResize(layers.Layer):
    """Crops a box of a random area (a fraction ``crop_area_factor`` of the image) and
    aspect ratio (``aspect_ratio_factor``) at a random place, then resizes it to
    ``target_size`` (bilinear, as ``tf.image.crop_and_resize``); identity at inference."""

    def __init__(self, target_size, crop_area_factor, aspect_ratio_factor, **kwargs):
        super().__init__(**kwargs)
        self.target_size = tuple(target_size)
        self.crop_area_factor = tuple(crop_area_factor)
        self.aspect_ratio_factor = tuple(aspect_ratio_factor)

    def crop_and_resize(self, images, boxes):
        """``tf.image.crop_and_resize(images, boxes, box_indices=range(N), crop_size)``:
        boxes ``(N, 4)`` of normalized ``[y1, x1, y2, x2]``; output pixel ``(i, j)`` samples
        ``(y1 + i·(y2 − y1)/(h − 1))·(H − 1)``, ``(x1 + j·(x2 − x1)/(w − 1))·(W − 1)``."""
        n, c = images.shape[0], images.shape[-1]
        y1, x1, y2, x2 = boxes.unbind(-1)
        theta = torch.zeros((n, 2, 3), dtype=images.dtype, device=images.device)
        theta[:, 0, 0], theta[:, 0, 2] = x2 - x1, x1 + x2 - 1  # x_norm = (x2 − x1)·u + (x1 + x2 − 1)
        theta[:, 1, 1], theta[:, 1, 2] = y2 - y1, y1 + y2 - 1
        grid = F.affine_grid(theta, (n, c, *self.target_size), align_corners=True)
        out = F.grid_sample(images.permute(0, 3, 1, 2), grid, mode="bilinear", align_corners=True)
        return out.permute(0, 2, 3, 1)  # (N, h, w, C)

    def call(self, images, training=True):
        if not training:
            return images
        n = images.shape[0]
        area = torch.empty(n).uniform_(*self.crop_area_factor)
        aspect_ratio = torch.empty(n).uniform_(*self.aspect_ratio_factor)
        height = torch.clip(torch.sqrt(area / aspect_ratio), 0, 1)
        width_ = torch.clip(torch.sqrt(area * aspect_ratio), 0, 1)
        top = torch.rand(n) * (1 - height)
        left = torch.rand(n) * (1 - width_)
        boxes = torch.stack([top, left, top + height, left + width_], dim=1).to(images.dtype)
        return self.crop_and_resize(images, boxes)


def augmenter(brightness, name, scale):
    return keras.Sequential(
        [
            layers.Input(shape=input_shape),
            layers.Rescaling(1 / 255),
            layers.RandomFlip("horizontal"),
            RandomCropAndResize(
                target_size=(input_shape[0], input_shape[1]),
                crop_area_factor=scale,
                aspect_ratio_factor=(3 / 4, 4 / 3),
            ),
            layers.RandomBrightness(factor=brightness, value_range=(0.0, 1.0)),
        ],
        name=name,
    )


# Section "Encoder architecture"
def encoder():
    return keras.Sequential(
        [
            layers.Input(shape=input_shape),
            layers.Conv2D(width, kernel_size=3, strides=2, activation="relu"),
            layers.Conv2D(width, kernel_size=3, strides=2, activation="relu"),
            layers.Conv2D(width, kernel_size=3, strides=2, activation="relu"),
            layers.Conv2D(width, kernel_size=3, strides=2, activation="relu"),
            layers.Flatten(),
            layers.Dense(width, activation="relu"),
        ],
        name="encoder",
    )


# Section "The NNCLR model for contrastive pre-training"
class NNCLR(keras.Model):
    def __init__(
        self,
        temperature,
        queue_size,
    ):
        super().__init__()
        self.probe_accuracy = keras.metrics.SparseCategoricalAccuracy()
        self.correlation_accuracy = keras.metrics.SparseCategoricalAccuracy()
        self.contrastive_accuracy = keras.metrics.SparseCategoricalAccuracy()
        self.probe_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        self.contrastive_augmenter = augmenter(**contrastive_augmenter)
        self.classification_augmenter = augmenter(**classification_augmenter)
        self.encoder = encoder()
        self.projection_head = keras.Sequential(
            [
                layers.Input(shape=(width,)),
                layers.Dense(width, activation="relu"),
                layers.Dense(width),
            ],
            name="projection_head",
        )
        self.linear_probe = keras.Sequential(
            [layers.Input(shape=(width,)), layers.Dense(10)], name="linear_probe"
        )
        self.temperature = temperature

        feature_dimensions = self.encoder.output_shape[1]
        self.feature_queue = self.add_weight(
            "feature_queue",
            keras.utils.normalize(
                torch.randn(queue_size, feature_dimensions),
                axis=1,
                order=2,
            ),
            trainable=False,
        )

    def compile(self, contrastive_optimizer, probe_optimizer, **kwargs):
        super().compile(**kwargs)
        self.contrastive_optimizer = contrastive_optimizer
        self.probe_optimizer = probe_optimizer

    def nearest_neighbour(self, projections):
        support_similarities = torch.matmul(projections, self.feature_queue.T)
        nn_projections = self.feature_queue[torch.argmax(support_similarities, dim=1)]
        return projections + (nn_projections - projections).detach()

    def update_contrastive_accuracy(self, features_1, features_2):
        features_1 = keras.utils.normalize(features_1, axis=1, order=2)
        features_2 = keras.utils.normalize(features_2, axis=1, order=2)
        similarities = torch.matmul(features_1, features_2.T)
        batch_size = features_1.shape[0]
        contrastive_labels = torch.arange(batch_size)
        self.contrastive_accuracy.update_state(
            torch.cat([contrastive_labels, contrastive_labels], dim=0),
            torch.cat([similarities, similarities.T], dim=0),
        )

    def update_correlation_accuracy(self, features_1, features_2):
        features_1 = (features_1 - torch.mean(features_1, dim=0)) / torch.std(features_1, dim=0, unbiased=False)
        features_2 = (features_2 - torch.mean(features_2, dim=0)) / torch.std(features_2, dim=0, unbiased=False)

        batch_size = features_1.shape[0]
        cross_correlation = torch.matmul(features_1.T, features_2) / batch_size

        feature_dim = features_1.shape[1]
        correlation_labels = torch.arange(feature_dim)
        self.correlation_accuracy.update_state(
            torch.cat([correlation_labels, correlation_labels], dim=0),
            torch.cat([cross_correlation, cross_correlation.T], dim=0),
        )

    def contrastive_loss(self, projections_1, projections_2):
        projections_1 = keras.utils.normalize(projections_1, axis=1, order=2)
        projections_2 = keras.utils.normalize(projections_2, axis=1, order=2)

        similarities_1_2_1 = torch.matmul(self.nearest_neighbour(projections_1), projections_2.T) / self.temperature
        similarities_1_2_2 = torch.matmul(projections_2, self.nearest_neighbour(projections_1).T) / self.temperature

        similarities_2_1_1 = torch.matmul(self.nearest_neighbour(projections_2), projections_1.T) / self.temperature
        similarities_2_1_2 = torch.matmul(projections_1, self.nearest_neighbour(projections_2).T) / self.temperature

        batch_size = projections_1.shape[0]
        contrastive_labels = torch.arange(batch_size)
        loss = keras.losses.sparse_categorical_crossentropy(
            torch.cat(
                [
                    contrastive_labels,
                    contrastive_labels,
                    contrastive_labels,
                    contrastive_labels,
                ],
                dim=0,
            ),
            torch.cat(
                [
                    similarities_1_2_1,
                    similarities_1_2_2,
                    similarities_2_1_1,
                    similarities_2_1_2,
                ],
                dim=0,
            ),
            from_logits=True,
        )

        with torch.no_grad():  # self.feature_queue.assign(...)
            self.feature_queue.copy_(torch.cat([projections_1, self.feature_queue[:-batch_size]], dim=0))
        return loss

    def train_step(self, data):
        (unlabeled_images, _), (labeled_images, labels) = data
        images = torch.cat((unlabeled_images, labeled_images), dim=0)
        augmented_images_1 = self.contrastive_augmenter(images)
        augmented_images_2 = self.contrastive_augmenter(images)

        self.zero_grad()
        features_1 = self.encoder(augmented_images_1)
        features_2 = self.encoder(augmented_images_2)
        projections_1 = self.projection_head(features_1)
        projections_2 = self.projection_head(features_2)
        contrastive_loss = self.contrastive_loss(projections_1, projections_2)
        contrastive_loss.sum().backward()  # the tape's gradient of a vector is its sum's
        weights = self.encoder.trainable_weights + self.projection_head.trainable_weights
        self.contrastive_optimizer.apply_gradients(zip([w.grad for w in weights], weights))
        with torch.no_grad():
            self.update_contrastive_accuracy(features_1, features_2)
            self.update_correlation_accuracy(features_1, features_2)
        preprocessed_images = self.classification_augmenter(labeled_images)

        self.zero_grad()
        with torch.no_grad():  # the tape differentiates the probe's weights only
            features = self.encoder(preprocessed_images)
        class_logits = self.linear_probe(features)
        probe_loss = self.probe_loss(labels, class_logits)
        probe_loss.backward()
        self.probe_optimizer.apply_gradients(
            zip([w.grad for w in self.linear_probe.trainable_weights], self.linear_probe.trainable_weights)
        )
        self.probe_accuracy.update_state(labels, class_logits)

        return {
            "c_loss": contrastive_loss.mean(),
            "c_acc": self.contrastive_accuracy.result(),
            "r_acc": self.correlation_accuracy.result(),
            "p_loss": probe_loss,
            "p_acc": self.probe_accuracy.result(),
        }

    def test_step(self, data):
        labeled_images, labels = data

        preprocessed_images = self.classification_augmenter(labeled_images, training=False)
        features = self.encoder(preprocessed_images, training=False)
        class_logits = self.linear_probe(features, training=False)
        probe_loss = self.probe_loss(labels, class_logits)

        self.probe_accuracy.update_state(labels, class_logits)
        return {"p_loss": probe_loss, "p_acc": self.probe_accuracy.result()}


def _numpy_crop_and_resize(image, box, size):
    """tf.image.crop_and_resize for one image, bilinear, pixel by pixel."""
    h_in, w_in, _ = image.shape
    y1, x1, y2, x2 = box
    out = np.zeros((size[0], size[1], image.shape[2]))
    for i in range(size[0]):
        for j in range(size[1]):
            y = (y1 + i * (y2 - y1) / (size[0] - 1)) * (h_in - 1)
            x = (x1 + j * (x2 - x1) / (size[1] - 1)) * (w_in - 1)
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            dy, dx = y - y0, x - x0
            y_1, x_1 = min(y0 + 1, h_in - 1), min(x0 + 1, w_in - 1)
            out[i, j] = ((1 - dy) * (1 - dx) * image[y0, x0] + (1 - dy) * dx * image[y0, x_1]
                         + dy * (1 - dx) * image[y_1, x0] + dy * dx * image[y_1, x_1])
    return out


def test_random_crop_and_resize_matches_numpy_crop_and_resize():
    """Section "Augmentations": ``keras_cv.layers.RandomCropAndResize``, written here."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, size=(3, 9, 11, 2))
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.25, 0.6, 0.95], [0.5, 0.0, 0.9, 0.4]])
    layer = RandomCropAndResize((6, 7), crop_area_factor=(0.2, 1.0), aspect_ratio_factor=(3 / 4, 4 / 3))
    got = layer.crop_and_resize(torch.from_numpy(images), torch.from_numpy(boxes)).numpy()
    for n in range(3):
        np.testing.assert_allclose(got[n], _numpy_crop_and_resize(images[n], boxes[n], (6, 7)), atol=1e-12)
    # the whole image at its own size is itself
    full = RandomCropAndResize((9, 11), (1.0, 1.0), (1.0, 1.0))
    np.testing.assert_allclose(full.crop_and_resize(torch.from_numpy(images), torch.from_numpy(boxes[:1]).expand(3, 4))
                               .numpy(), images, atol=1e-12)
    torch.manual_seed(0)
    cropped = layer(torch.from_numpy(images), training=True)
    assert cropped.shape == (3, 6, 7, 2) and 0 <= float(cropped.min()) and float(cropped.max()) <= 1
    assert layer(torch.from_numpy(images), training=False).shape == (3, 9, 11, 2)


def _numpy_nnclr_loss(p1, p2, queue, temperature):
    # z = p/‖p‖;  NN(z) = queue[argmax_k z·q_k];  S = [NN(z₁)z₂ᵀ; z₂NN(z₁)ᵀ; NN(z₂)z₁ᵀ; z₁NN(z₂)ᵀ] / τ
    # L_r = −log softmax(S_r)_{r mod B}
    z1 = p1 / np.linalg.norm(p1, axis=1, keepdims=True)
    z2 = p2 / np.linalg.norm(p2, axis=1, keepdims=True)

    def nn(z):
        return np.stack([queue[np.argmax([z[i] @ q for q in queue])] for i in range(len(z))])

    s = np.concatenate([nn(z1) @ z2.T, z2 @ nn(z1).T, nn(z2) @ z1.T, z1 @ nn(z2).T]) / temperature
    b = len(p1)
    log_p = s - s.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    return -log_p[np.arange(4 * b), np.arange(4 * b) % b], z1


def _model():
    keras.utils.set_random_seed(0)
    model = NNCLR(temperature=temperature, queue_size=queue_size)
    model.compile(contrastive_optimizer=keras.optimizers.Adam(), probe_optimizer=keras.optimizers.Adam())
    return model


def test_nearest_neighbour_contrastive_loss_and_queue_match_numpy():
    """Section "The NNCLR model": ``nearest_neighbour``, ``contrastive_loss`` and the queue's update."""
    model = _model()
    queue = model.feature_queue.detach().numpy().astype("float64").copy()
    assert queue.shape == (queue_size, width)
    np.testing.assert_allclose(np.linalg.norm(queue, axis=1), 1.0, rtol=1e-6)  # normalized rows
    rng = np.random.default_rng(1)
    p1 = rng.normal(size=(12, width))
    p2 = p1 + rng.normal(scale=1.0, size=(12, width))
    got = model.contrastive_loss(torch.from_numpy(p1).float(), torch.from_numpy(p2).float())
    want, z1 = _numpy_nnclr_loss(p1, p2, queue, temperature)
    assert got.shape == (48,)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=2e-5, atol=2e-5)
    # first in, first out: the batch's normalized projections_1 in front, the oldest rows gone
    new_queue = model.feature_queue.detach().numpy()
    np.testing.assert_allclose(new_queue[:12], z1, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(new_queue[12:], queue[:-12].astype("float32"))

    # the neighbour's value goes forward, the projection's gradient comes back (straight through)
    p = torch.from_numpy(p1[:3]).float().requires_grad_()
    z = p / p.norm(dim=1, keepdim=True)
    out = model.nearest_neighbour(z)
    nn_rows = new_queue[np.argmax(z.detach().numpy() @ new_queue.T, axis=1)]
    np.testing.assert_allclose(out.detach().numpy(), nn_rows, atol=1e-6)
    weights = torch.from_numpy(rng.normal(size=(3, width))).float()
    (through_nn,) = torch.autograd.grad((out * weights).sum(), p, retain_graph=True)
    (through_z,) = torch.autograd.grad((z * weights).sum(), p)
    np.testing.assert_allclose(through_nn.numpy(), through_z.numpy(), atol=1e-7)
    assert float(through_z.abs().sum()) > 0


def test_contrastive_and_correlation_accuracies_match_numpy():
    """Section "The NNCLR model": ``update_contrastive_accuracy``, ``update_correlation_accuracy``."""
    model = _model()
    rng = np.random.default_rng(2)
    f1 = rng.normal(size=(16, 8))
    f2 = f1 + rng.normal(scale=0.8, size=(16, 8))
    model.update_contrastive_accuracy(torch.from_numpy(f1), torch.from_numpy(f2))
    model.update_correlation_accuracy(torch.from_numpy(f1), torch.from_numpy(f2))
    n1 = f1 / np.linalg.norm(f1, axis=1, keepdims=True)
    n2 = f2 / np.linalg.norm(f2, axis=1, keepdims=True)
    s = n1 @ n2.T
    contrastive = (np.sum(s.argmax(1) == np.arange(16)) + np.sum(s.T.argmax(1) == np.arange(16))) / 32
    s1 = (f1 - f1.mean(0)) / f1.std(0)
    s2 = (f2 - f2.mean(0)) / f2.std(0)
    c = s1.T @ s2 / 16  # cross-correlation of the standardized features
    correlation = (np.sum(c.argmax(1) == np.arange(8)) + np.sum(c.T.argmax(1) == np.arange(8))) / 16
    assert float(model.contrastive_accuracy.result()) == pytest.approx(contrastive)
    assert float(model.correlation_accuracy.result()) == pytest.approx(correlation)
    assert 0 < contrastive < 1 and 0 < correlation <= 1


@pytest.fixture(scope="module")
def pretrained(datasets):
    """Section "Pre-train NNCLR"."""
    batch_size, train_dataset, _, test_dataset = datasets
    keras.utils.set_random_seed(2)
    model = NNCLR(temperature=temperature, queue_size=queue_size)
    model.compile(
        contrastive_optimizer=keras.optimizers.Adam(),
        probe_optimizer=keras.optimizers.Adam(),
        jit_compile=False,
    )
    initial_queue = model.feature_queue.detach().clone()
    pretrain_history = model.fit(
        train_dataset, epochs=num_epochs, steps_per_epoch=steps_per_epoch, validation_data=test_dataset, verbose=0
    )
    return model, pretrain_history, initial_queue


def test_pretraining_lowers_the_contrastive_loss_and_fills_the_queue(datasets, pretrained):
    """Section "Pre-train NNCLR"."""
    batch_size, _, _, test_dataset = datasets
    model, pretrain_history, initial_queue = pretrained
    history = pretrain_history.history
    print({key: [round(v, 3) for v in values] for key, values in history.items()})
    assert sorted(history) == ["c_acc", "c_loss", "p_acc", "p_loss", "r_acc", "val_p_acc", "val_p_loss"]
    assert history["c_loss"][-1] < history["c_loss"][0] - 0.3
    assert history["c_acc"][-1] > 5 / batch_size  # chance is 1 / batch
    # r_acc stays near chance here (0.005 to 0.03): a feature that the ReLU zeroes over a whole batch has
    # std 0, so its column of the cross-correlation is NaN (in Keras too); its computation is checked above
    assert all(0 <= v <= 1 for v in history["r_acc"])
    assert int(model.contrastive_optimizer.iterations) == num_epochs * steps_per_epoch
    # 150 batches of 100 went through a queue of 1,000: every row is a normalized projection now
    queue = model.feature_queue.detach()
    assert not torch.isclose(queue, initial_queue).all(dim=1).any()
    np.testing.assert_allclose(queue.norm(dim=1).numpy(), 1.0, rtol=1e-5)

    # the last validation loss is the probe's cross-entropy on the last batch of unaugmented test images: its
    # test_step returns the batch's loss, and Keras 3 logs a value that no metric tracks as the last step gave it
    x_test, y_test = list(test_dataset)[-1]
    y_test = y_test.numpy()
    with torch.no_grad():
        features = model.encoder(x_test.float() / 255, training=False)
        logits = model.linear_probe(features).double().numpy()
    log_p = logits - logits.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    assert history["val_p_loss"][-1] == pytest.approx(-log_p[np.arange(len(y_test)), y_test].mean(), rel=1e-4)
    assert history["val_p_loss"][-1] < math.log(10)  # below chance's cross-entropy


def test_the_pretrained_encoder_finetunes(datasets, pretrained):
    """Section "Evaluate our model"."""
    _, _, labeled_train_dataset, test_dataset = datasets
    model, _, _ = pretrained
    keras.utils.set_random_seed(3)
    finetuning_model = keras.Sequential(
        [
            layers.Input(shape=input_shape),
            augmenter(**classification_augmenter),
            model.encoder,
            layers.Dense(10),
        ],
        name="finetuning_model",
    )
    finetuning_model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
        jit_compile=False,
    )
    assert finetuning_model.layers[1] is model.encoder
    finetuning_history = finetuning_model.fit(
        labeled_train_dataset, epochs=num_epochs, validation_data=test_dataset, verbose=0
    )
    print("Maximal validation accuracy: {:.2f}%".format(max(finetuning_history.history["val_acc"]) * 100))
    assert finetuning_history.history["loss"][-1] < finetuning_history.history["loss"][0]
    assert max(finetuning_history.history["val_acc"]) > 0.45  # chance is 0.1
