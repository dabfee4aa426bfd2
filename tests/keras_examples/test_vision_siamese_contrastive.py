"""keras.io example "Image similarity estimation using a Siamese Network with a
contrastive loss" (https://keras.io/examples/vision/siamese_contrastive/),
ported as a learner would: ``import brainnet as keras`` and
``from brainnet import layers`` in place of the TensorFlow imports, the
``tf.math`` calls of ``euclidean_distance`` and of the loss written as torch
calls, ``tf.concat`` on the NumPy pairs as ``np.concatenate``, and the plots
drawn with matplotlib's Agg backend. Shortened for CI: pairs made from 2,000
training, 1,000 validation and 1,000 test images (4,000, 2,000 and 2,000
pairs) in place of 30,000, 30,000 and 10,000, and 2 epochs in place of 10.
Each test names the section it runs and checks what it computes: the pairs,
the distance layer and the contrastive loss against NumPy, the summary's
count, and test accuracy on unseen pairs far above chance.
"""

from __future__ import annotations

import random

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import brainnet as keras  # noqa: E402
from brainnet import layers  # noqa: E402

epochs = 2
batch_size = 16
margin = 1  # the contrastive loss's margin


def make_pairs(x, y):
    # for each image: one pair with an image of its class (label 1), one with another class (label 0)
    num_classes = max(y) + 1
    digit_indices = [np.where(y == i)[0] for i in range(num_classes)]
    pairs = []
    labels = []
    for idx1 in range(len(x)):
        x1 = x[idx1]
        label1 = y[idx1]
        idx2 = random.choice(digit_indices[label1])
        x2 = x[idx2]
        pairs += [[x1, x2]]
        labels += [1]
        label2 = random.randint(0, num_classes - 1)
        while label2 == label1:
            label2 = random.randint(0, num_classes - 1)
        idx2 = random.choice(digit_indices[label2])
        x2 = x[idx2]
        pairs += [[x1, x2]]
        labels += [0]
    return np.array(pairs), np.array(labels).astype("float32")


def visualize(pairs, labels, to_show=6, num_col=3, predictions=None, test=False):
    # a grid of pairs side by side, titled with the label (and the prediction on test pairs)
    num_row = to_show // num_col if to_show // num_col != 0 else 1
    to_show = num_row * num_col
    fig, axes = plt.subplots(num_row, num_col, figsize=(5, 5))
    for i in range(to_show):
        if num_row == 1:
            ax = axes[i % num_col]
        else:
            ax = axes[i // num_col, i % num_col]
        ax.imshow(np.concatenate([pairs[i][0], pairs[i][1]], axis=1), cmap="gray")
        ax.set_axis_off()
        if test:
            ax.set_title("True: {} | Pred: {:.5f}".format(labels[i], predictions[i][0]))
        else:
            ax.set_title("Label: {}".format(labels[i]))
    if test:
        plt.tight_layout(rect=(0, 0, 1.9, 1.9), w_pad=0.0)
    else:
        plt.tight_layout(rect=(0, 0, 1.5, 1.5))
    plt.show()
    return fig


def plt_metric(history, metric, title, has_valid=True):
    # one curve per epoch, train and validation
    plt.plot(history[metric])
    if has_valid:
        plt.plot(history["val_" + metric])
        plt.legend(["train", "validation"], loc="upper left")
    plt.title(title)
    plt.ylabel(metric)
    plt.xlabel("epoch")
    plt.show()


def euclidean_distance(vects):
    # sqrt(max(Σ_k (x_k - y_k)², ε)), one value per pair
    x, y = vects
    sum_square = torch.sum(torch.square(x - y), dim=1, keepdim=True)
    return torch.sqrt(torch.clamp(sum_square, min=keras.backend.epsilon()))


def loss(margin=1):
    # the contrastive loss: mean((1 - y) · p² + y · max(margin - p, 0)²)
    def contrastive_loss(y_true, y_pred):
        square_pred = torch.square(y_pred)
        margin_square = torch.square(torch.clamp(margin - y_pred, min=0))
        return torch.mean((1 - y_true) * square_pred + (y_true) * margin_square)

    return contrastive_loss


def _siamese():
    """Section "Define the model", as written."""
    input = layers.Input((28, 28, 1))
    x = layers.BatchNormalization()(input)
    x = layers.Conv2D(4, (5, 5), activation="tanh")(x)
    x = layers.AveragePooling2D(pool_size=(2, 2))(x)
    x = layers.Conv2D(16, (5, 5), activation="tanh")(x)
    x = layers.AveragePooling2D(pool_size=(2, 2))(x)
    x = layers.Flatten()(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dense(10, activation="tanh")(x)
    embedding_network = keras.Model(input, x)

    input_1 = layers.Input((28, 28, 1))
    input_2 = layers.Input((28, 28, 1))
    # one embedding network for both towers: the weights are shared
    tower_1 = embedding_network(input_1)
    tower_2 = embedding_network(input_2)
    merge_layer = layers.Lambda(euclidean_distance)([tower_1, tower_2])
    normal_layer = layers.BatchNormalization()(merge_layer)
    output_layer = layers.Dense(1, activation="sigmoid")(normal_layer)
    siamese = keras.Model(inputs=[input_1, input_2], outputs=output_layer)
    return siamese, embedding_network


@pytest.fixture(scope="module")
def pairs(mnist_dir):
    """Sections "Load the MNIST dataset", "Define training and validation sets"
    and "Create pairs of images"."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        (x_train_val, y_train_val), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train_val = x_train_val.astype("float32")
    x_test = x_test.astype("float32")
    x_train, x_val = x_train_val[:2000], x_train_val[30000:31000]
    y_train, y_val = y_train_val[:2000], y_train_val[30000:31000]
    random.seed(1337)
    pairs_train, labels_train = make_pairs(x_train, y_train)
    pairs_val, labels_val = make_pairs(x_val, y_val)
    pairs_test, labels_test = make_pairs(x_test[:1000], y_test[:1000])
    return (x_train, y_train), (pairs_train, labels_train), (pairs_val, labels_val), (pairs_test, labels_test)


def test_each_image_gets_one_matching_and_one_other_class_partner(pairs):
    """Sections "Create pairs of images" and "Visualize pairs and their labels"."""
    (x_train, y_train), (pairs_train, labels_train), _, _ = pairs
    assert pairs_train.shape == (4000, 2, 28, 28) and labels_train.dtype == np.float32
    np.testing.assert_array_equal(labels_train, np.tile([1.0, 0.0], 2000))
    np.testing.assert_array_equal(pairs_train[0::2, 0], x_train)  # the first of each pair is the image itself
    np.testing.assert_array_equal(pairs_train[1::2, 0], x_train)
    # find each partner's class by its pixels
    flat = x_train.reshape(len(x_train), -1)
    index = {row.tobytes(): label for row, label in zip(flat, y_train)}
    partner_labels = np.array([index[p.reshape(-1).tobytes()] for p in pairs_train[:, 1]])
    np.testing.assert_array_equal(partner_labels[0::2], y_train)
    assert np.all(partner_labels[1::2] != y_train)
    x_train_1 = pairs_train[:, 0]
    assert x_train_1.shape == (4000, 28, 28)  # the example's comment, at this size
    figure = visualize(pairs_train[:-1], labels_train[:-1], to_show=4, num_col=4)
    assert [ax.get_title() for ax in figure.axes] == ["Label: 1.0", "Label: 0.0", "Label: 1.0", "Label: 0.0"]
    assert figure.axes[0].images[0].get_array().shape == (28, 56)
    plt.close("all")


def test_the_distance_layer_and_the_contrastive_loss_match_numpy():
    """Sections "Define the model" (the Lambda) and "Define the constrastive Loss"."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 10)), rng.normal(size=(6, 10))
    b[0] = a[0]  # equal embeddings: the distance is sqrt(ε), not 0 (its gradient stays finite)
    got = layers.Lambda(euclidean_distance)([torch.from_numpy(a), torch.from_numpy(b)])
    want = np.sqrt(np.maximum(np.sum((a - b) ** 2, axis=1, keepdims=True), 1e-7))
    assert tuple(got.shape) == (6, 1)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)

    y_true = rng.integers(0, 2, size=(32, 1)).astype("float64")
    y_pred = rng.uniform(0, 2.5, size=(32, 1))
    for m in (1, 2):
        want = np.mean((1 - y_true) * y_pred**2 + y_true * np.maximum(m - y_pred, 0) ** 2)
        got = loss(margin=m)(torch.from_numpy(y_true), torch.from_numpy(y_pred))
        np.testing.assert_allclose(float(got), want, rtol=1e-12)


def test_the_siamese_network_learns_to_tell_same_digit_pairs_apart(pairs):
    """Sections "Compile the model", "Train the model", "Visualize results",
    "Evaluate the model" and "Visualize the predictions"."""
    _, (pairs_train, labels_train), (pairs_val, labels_val), (pairs_test, labels_test) = pairs
    x_train_1, x_train_2 = pairs_train[:, 0], pairs_train[:, 1]
    x_val_1, x_val_2 = pairs_val[:, 0], pairs_val[:, 1]
    x_test_1, x_test_2 = pairs_test[:, 0], pairs_test[:, 1]
    keras.utils.set_random_seed(1337)
    siamese, embedding_network = _siamese()
    siamese.compile(loss=loss(margin=margin), optimizer="RMSprop", metrics=["accuracy"])
    lines = []
    siamese.summary(print_fn=lines.append)
    # the embedding network (5,318) counted once although both towers use it, + BatchNorm(1) 4 + Dense(1) 2
    assert embedding_network.count_params() == 4 + 104 + 1616 + 1024 + 2570
    assert "Total params: 5,324" in lines and "Trainable params: 4,808" in lines

    history = siamese.fit(
        [x_train_1, x_train_2],
        labels_train,
        validation_data=([x_val_1, x_val_2], labels_val),
        batch_size=batch_size,
        epochs=epochs,
        verbose=0,
    )
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.history["loss"][-1] < history.history["loss"][0]
    for metric, title in (("accuracy", "Model accuracy"), ("loss", "Constrastive Loss")):
        plt_metric(history=history.history, metric=metric, title=title)
        curves = [list(line.get_ydata()) for line in plt.gca().get_lines()]
        assert curves == [history.history[metric], history.history["val_" + metric]]
        plt.close("all")

    results = siamese.evaluate([x_test_1, x_test_2], labels_test, verbose=0)
    predictions = siamese.predict([x_test_1, x_test_2], verbose=0)
    assert predictions.shape == (2000, 1)
    # evaluate's [loss, accuracy] are the contrastive loss and the 0.5-threshold accuracy of these predictions
    p, y = predictions[:, 0].astype("float64"), labels_test.astype("float64")
    np.testing.assert_allclose(results[0], np.mean((1 - y) * p**2 + y * np.maximum(margin - p, 0) ** 2), rtol=1e-4)
    assert results[1] == pytest.approx(np.mean((p > 0.5) == (y == 1)))
    assert results[1] > 0.75  # chance is 0.5; 0.85 with this seed
    visualize(pairs_test, labels_test, to_show=3, predictions=predictions, test=True)
    plt.close("all")
