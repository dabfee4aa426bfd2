"""keras.io example "Metric learning for image similarity search"
(https://keras.io/examples/vision/metric_learning/; the stored copy is the
tf.keras version), ported as a learner would: ``import brainnet as keras``
and ``from brainnet import layers`` in place of the Keras imports, the
``tf.GradientTape`` block written with torch's autograd, ``tf.einsum`` as
``torch.einsum`` and ``tf.range`` as ``torch.arange``.

Replaced, and why:

- CIFAR-10 (a download) is Fashion-MNIST: its ten classes of 28x28
  grey images in place of CIFAR-10's ten of 32x32 colour ones
  (``height_width = 28``, one channel); 10,000 training images and the
  first 2,000 test images.
- ``tf.nn.l2_normalize(embeddings, axis=-1)`` on the functional graph's
  symbolic tensor is ``layers.UnitNormalization(axis=-1)``: brainnet runs no
  torch function on a symbolic tensor (docs/keras.md), and this layer
  computes the same ``x / ‖x‖₂``.
- Shortened for CI: 2 epochs of 300 batches in place of 20 of 1,000.
  The collages (PIL) and the confusion-matrix plot (scikit-learn) are
  left out; the confusion matrix itself is computed, as the example does.

The train step is the example's, ``self.compiled_loss(y, y_pred)`` and
``self.compiled_metrics.update_state(y, y_pred)`` included: Keras 3 keeps
both as deprecated shims of Keras 2's API (with a warning that names
``compute_loss`` and ``self.metrics``), and brainnet has them with the
same warnings.

What the tests check: an ``AnchorPositivePairs`` batch holds, for each
class, two different images of that class (section "Dataset"); the train
step's loss is the softmax cross-entropy of the anchor-positive similarity
matrix over the temperature computed in NumPy, and the shims warn (section
"Embedding model"); after training the loss has fallen, the embeddings are
unit vectors, each test image is its own nearest neighbour and its ten
nearest neighbours share its class far more often than chance (section
"Testing").
"""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

height_width = 28  # 32 for CIFAR-10
num_classes = 10


@pytest.fixture(scope="module")
def data(fashion_dir):
    """Section "Dataset": scaled images and the class-to-indices lookups."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_train = x_train[:10000, :, :, None].astype("float32") / 255.0
    y_train = np.squeeze(y_train[:10000])
    x_test = x_test[:2000, :, :, None].astype("float32") / 255.0
    y_test = np.squeeze(y_test[:2000])

    class_idx_to_train_idxs = defaultdict(list)
    for y_train_idx, y in enumerate(y_train):
        class_idx_to_train_idxs[y].append(y_train_idx)

    class_idx_to_test_idxs = defaultdict(list)
    for y_test_idx, y in enumerate(y_test):
        class_idx_to_test_idxs[y].append(y_test_idx)
    return x_train, y_train, x_test, y_test, class_idx_to_train_idxs, class_idx_to_test_idxs


def _anchor_positive_pairs(x_train, class_idx_to_train_idxs):
    class AnchorPositivePairs(keras.utils.Sequence):
        def __init__(self, num_batchs):
            self.num_batchs = num_batchs

        def __len__(self):
            return self.num_batchs

        def __getitem__(self, _idx):
            x = np.empty((2, num_classes, height_width, height_width, 1), dtype=np.float32)
            for class_idx in range(num_classes):
                examples_for_class = class_idx_to_train_idxs[class_idx]
                anchor_idx = random.choice(examples_for_class)
                positive_idx = random.choice(examples_for_class)
                while positive_idx == anchor_idx:
                    positive_idx = random.choice(examples_for_class)
                x[0, class_idx] = x_train[anchor_idx]
                x[1, class_idx] = x_train[positive_idx]
            return x

    return AnchorPositivePairs


class EmbeddingModel(keras.Model):
    def train_step(self, data):
        # Note: Workaround for open issue, to be removed.
        if isinstance(data, tuple):
            data = data[0]
        anchors, positives = data[0], data[1]

        self.zero_grad()  # tf.GradientTape() in the example
        # Run both anchors and positives through model.
        anchor_embeddings = self(anchors, training=True)
        positive_embeddings = self(positives, training=True)

        # Calculate cosine similarity between anchors and positives. As they have
        # been normalised this is just the pair wise dot products.
        similarities = torch.einsum("ae,pe->ap", anchor_embeddings, positive_embeddings)

        # Since we intend to use these as logits we scale them by a temperature.
        # This value would normally be chosen as a hyper parameter.
        temperature = 0.2
        similarities /= temperature

        # We use these similarities as logits for a softmax. The labels for
        # this call are just the sequence [0, 1, 2, ..., num_classes] since we
        # want the main diagonal values, which correspond to the anchor/positive
        # pairs, to be high. This loss will move embeddings for the
        # anchor/positive pairs together and move all other pairs apart.
        sparse_labels = torch.arange(num_classes)
        loss = self.compiled_loss(sparse_labels, similarities)

        # Calculate gradients and apply via optimizer.
        loss.backward()
        gradients = [v.grad for v in self.trainable_variables]
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))

        # Update and return metrics (specifically the one for the loss value).
        self.compiled_metrics.update_state(sparse_labels, similarities)
        return {m.name: m.result() for m in self.metrics}


def _embedding_model():
    """Section "Embedding model": the architecture, as small as the example's."""
    inputs = layers.Input(shape=(height_width, height_width, 1))
    x = layers.Conv2D(filters=32, kernel_size=3, strides=2, activation="relu")(inputs)
    x = layers.Conv2D(filters=64, kernel_size=3, strides=2, activation="relu")(x)
    x = layers.Conv2D(filters=128, kernel_size=3, strides=2, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    embeddings = layers.Dense(units=8, activation=None)(x)
    embeddings = layers.UnitNormalization(axis=-1)(embeddings)  # tf.nn.l2_normalize(embeddings, axis=-1)

    model = EmbeddingModel(inputs, embeddings)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def test_a_batch_pairs_two_different_images_of_each_class(data):
    """Section "Dataset": ``next(iter(AnchorPositivePairs(num_batchs=1)))``."""
    x_train, y_train, _, _, class_idx_to_train_idxs, _ = data
    random.seed(0)
    AnchorPositivePairs = _anchor_positive_pairs(x_train, class_idx_to_train_idxs)
    pairs = AnchorPositivePairs(num_batchs=1)
    assert len(pairs) == 1
    examples = next(iter(pairs))
    assert examples.shape == (2, num_classes, height_width, height_width, 1)
    flat = x_train.reshape(len(x_train), -1)
    for class_idx in range(num_classes):
        anchor = np.flatnonzero((flat == examples[0, class_idx].reshape(-1)).all(axis=1))
        positive = np.flatnonzero((flat == examples[1, class_idx].reshape(-1)).all(axis=1))
        assert (y_train[anchor] == class_idx).all() and (y_train[positive] == class_idx).all()
        assert not np.array_equal(examples[0, class_idx], examples[1, class_idx])


def _numpy_pair_loss(anchor_embeddings, positive_embeddings, temperature=0.2):
    # mean_a −log softmax(S)_aa, S_ap = e_a · e_p / T
    s = anchor_embeddings.astype("float64") @ positive_embeddings.astype("float64").T / temperature
    s -= s.max(axis=1, keepdims=True)
    log_softmax = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return -np.mean(np.diag(log_softmax))


def test_the_train_step_minimizes_the_pairs_cross_entropy_in_numpy(data):
    """Section "Embedding model": one ``train_step`` on one batch."""
    x_train, _, _, _, class_idx_to_train_idxs, _ = data
    keras.utils.set_random_seed(0)
    random.seed(1)
    model = _embedding_model()
    batch = _anchor_positive_pairs(x_train, class_idx_to_train_idxs)(num_batchs=1)[0]
    anchors, positives = model.predict(batch[0], verbose=0), model.predict(batch[1], verbose=0)
    np.testing.assert_allclose(np.linalg.norm(anchors, axis=1), 1.0, rtol=1e-5)
    before = [w.copy() for w in model.get_weights()]
    with pytest.warns(UserWarning) as record:
        logs = model.train_step(torch.from_numpy(batch))
    # the shims of Keras 2's API warn and name what to use instead, as Keras 3's do
    messages = " ".join(str(w.message) for w in record)
    assert "compiled_loss()` is deprecated" in messages and "compute_loss" in messages
    assert "compiled_metrics` is deprecated" in messages and "self.metrics" in messages
    assert list(logs) == ["loss"]
    assert float(logs["loss"]) == pytest.approx(_numpy_pair_loss(anchors, positives), rel=1e-5)
    # the step moved every weight (Adam's first step moves each by about the learning rate)
    assert all(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def test_training_brings_same_class_images_together(data):
    """Sections "Embedding model" (``fit``) and "Testing": near neighbours
    and the confusion matrix of their classes."""
    x_train, y_train, x_test, y_test, class_idx_to_train_idxs, class_idx_to_test_idxs = data
    keras.utils.set_random_seed(0)
    random.seed(0)
    model = _embedding_model()
    AnchorPositivePairs = _anchor_positive_pairs(x_train, class_idx_to_train_idxs)
    with pytest.warns(UserWarning, match="deprecated"):
        history = model.fit(AnchorPositivePairs(num_batchs=300), epochs=2, verbose=0)  # 1,000 and 20
    loss = history.history["loss"]
    assert len(loss) == 2 and loss[1] < loss[0] < np.log(num_classes)  # log 10: embeddings that tell nothing

    near_neighbours_per_example = 10

    embeddings = model.predict(x_test, verbose=0)
    assert embeddings.shape == (len(x_test), 8)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    gram_matrix = np.einsum("ae,be->ab", embeddings, embeddings)
    near_neighbours = np.argsort(gram_matrix.T)[:, -(near_neighbours_per_example + 1) :]
    # the most similar image to each is itself (cosine 1)
    assert np.mean(near_neighbours[:, -1] == np.arange(len(x_test))) > 0.99

    confusion_matrix = np.zeros((num_classes, num_classes))

    # For each class.
    for class_idx in range(num_classes):
        # Consider 10 examples.
        example_idxs = class_idx_to_test_idxs[class_idx][:10]
        for y_test_idx in example_idxs:
            # And count the classes of its near neighbours.
            for nn_idx in near_neighbours[y_test_idx][:-1]:
                nn_class_idx = y_test[nn_idx]
                confusion_matrix[class_idx, nn_class_idx] += 1

    assert confusion_matrix.sum(axis=1).tolist() == [100.0] * num_classes
    # neighbours of the same class: chance is 0.1
    same_class = np.trace(confusion_matrix) / confusion_matrix.sum()
    print(f"near neighbours of the same class: {same_class:.3f}")
    assert same_class > 0.5
