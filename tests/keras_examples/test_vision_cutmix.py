"""keras.io example "CutMix data augmentation for image classification"
(https://keras.io/examples/vision/cutmix/), ported as a learner would:
``import brainnet as keras`` in place of the Keras imports and the
TensorFlow calls written as torch: ``tf.random.gamma(shape=[size],
alpha=a)`` is ``torch.distributions.Gamma(torch.tensor(a), 1.0).sample((size,))``
(so the example's ``alpha = [0.25]`` gives its ``(1, 1)`` draw),
``keras.random.uniform((1,), minval=0, maxval=IMG_SIZE)`` cast to int32 is
``(torch.rand(1) * IMG_SIZE).to(torch.int32)``, ``tf.clip_by_value`` is
``torch.clamp``, ``tf.image.crop_to_bounding_box(image, y, x, h, w)`` on one
``(H, W, C)`` image is ``image[y:y + h, x:x + w]`` and
``tf.image.pad_to_bounding_box(crop, y, x, H, W)`` is
``torch.nn.functional.pad(crop, (0, 0, x, W - x - w, y, H - y - h))`` (the pad
widths name the last axis first). The stored copy is the TensorFlow
version; the calls above are the Keras 3 version's where it has them.

Data: CIFAR-10 is not here (nothing downloads), so the images are
Fashion-MNIST's, resized from 28×28 to the example's ``IMG_SIZE = 32`` by
``layers.Resizing(32, 32)`` (the example's ``tf.image.resize``; the ResNet's
``AveragePooling2D(pool_size=8)`` needs 32 → 16 → 8) and divided by 255 as
its ``preprocess_image`` does, on the whole arrays once. Its
``tf.data`` pipeline (two shuffled copies zipped, shuffled, mapped through
``cutmix`` one pair at a time, batched by 32) is a ``keras.utils.PyDataset``
that draws two new orders each epoch and cuts and mixes pair by pair; the
test data are the arrays with ``batch_size=32``. The 9-image preview plot is
left out (its labels are checked instead).

Shortened for CI: 2,000 training and 1,000 test images, 5 epochs in place
of 15, and a narrower, shallower ResNet: ``resnet_v20(input_shape,
depth=8)`` (the example's function, called with 8 in place of 20: one
residual block per stack) with 8, 16 and 32 filters in place of 16, 32 and
64 (at the example's widths one epoch of these images takes about 4 s on one
core, and its BatchNormalization's moving averages, momentum 0.99, need
about 300 steps before evaluation with them is fair).

What the tests check: ``get_box`` against a NumPy version of the box
equations with the same random centre, ``cutmix``'s image (the box from the
second image, the rest from the first) and label (λ = 1 − box area / image
area) against NumPy, the batches' shapes and labels, the ResNet's size, and
the two trainings from the same saved initial weights: identical predictions
before training, falling loss, test accuracy far above chance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

BATCH_SIZE = 32
IMG_SIZE = 32
EPOCHS = 5  # 15 in the example


def sample_beta_distribution(size, concentration_0=0.2, concentration_1=0.2):
    gamma_1_sample = torch.distributions.Gamma(torch.tensor(concentration_1), 1.0).sample((size,))
    gamma_2_sample = torch.distributions.Gamma(torch.tensor(concentration_0), 1.0).sample((size,))
    return gamma_1_sample / (gamma_1_sample + gamma_2_sample)


def get_box(lambda_value):
    cut_rat = torch.sqrt(1.0 - lambda_value)

    cut_w = IMG_SIZE * cut_rat  # rw
    cut_w = cut_w.to(torch.int32)

    cut_h = IMG_SIZE * cut_rat  # rh
    cut_h = cut_h.to(torch.int32)

    cut_x = torch.rand(1) * IMG_SIZE  # rx
    cut_x = cut_x.to(torch.int32)
    cut_y = torch.rand(1) * IMG_SIZE  # ry
    cut_y = cut_y.to(torch.int32)

    boundaryx1 = torch.clamp(cut_x[0] - cut_w // 2, 0, IMG_SIZE)
    boundaryy1 = torch.clamp(cut_y[0] - cut_h // 2, 0, IMG_SIZE)
    bbx2 = torch.clamp(cut_x[0] + cut_w // 2, 0, IMG_SIZE)
    bby2 = torch.clamp(cut_y[0] + cut_h // 2, 0, IMG_SIZE)

    target_h = bby2 - boundaryy1
    if target_h == 0:
        target_h += 1

    target_w = bbx2 - boundaryx1
    if target_w == 0:
        target_w += 1

    return int(boundaryx1), int(boundaryy1), int(target_h), int(target_w)


def cutmix(train_ds_one, train_ds_two):
    (image1, label1), (image2, label2) = train_ds_one, train_ds_two

    alpha = [0.25]
    beta = [0.25]

    # Get a sample from the Beta distribution
    lambda_value = sample_beta_distribution(1, alpha, beta)

    # Define Lambda
    lambda_value = lambda_value[0][0]

    # Get the bounding box offsets, heights and widths
    boundaryx1, boundaryy1, target_h, target_w = get_box(lambda_value)

    # Get a patch from the second image (`image2`)
    crop2 = image2[boundaryy1:boundaryy1 + target_h, boundaryx1:boundaryx1 + target_w]
    # Pad the `image2` patch (`crop2`) with the same offset
    image2 = torch.nn.functional.pad(
        crop2, (0, 0, boundaryx1, IMG_SIZE - boundaryx1 - target_w, boundaryy1, IMG_SIZE - boundaryy1 - target_h)
    )
    # Get a patch from the first image (`image1`)
    crop1 = image1[boundaryy1:boundaryy1 + target_h, boundaryx1:boundaryx1 + target_w]
    # Pad the `image1` patch (`crop1`) with the same offset
    img1 = torch.nn.functional.pad(
        crop1, (0, 0, boundaryx1, IMG_SIZE - boundaryx1 - target_w, boundaryy1, IMG_SIZE - boundaryy1 - target_h)
    )

    # Modify the first image by subtracting the patch from `image1`
    # (before applying the `image2` patch)
    image1 = image1 - img1
    # Add the modified `image1` and `image2`  together to get the CutMix image
    image = image1 + image2

    # Adjust Lambda in accordance to the pixel ration
    lambda_value = 1 - (target_w * target_h) / (IMG_SIZE * IMG_SIZE)

    # Combine the labels of both images
    label = lambda_value * label1 + (1 - lambda_value) * label2
    return image, label


class CutMixBatches(keras.utils.PyDataset):
    """``train_ds.shuffle(1024).map(cutmix).batch(BATCH_SIZE)`` with ``train_ds`` the zip
    of two shuffled copies: each epoch two new orders, cut and mixed pair by pair."""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.on_epoch_begin()

    def __len__(self):
        return math.ceil(len(self.x) / BATCH_SIZE)

    def on_epoch_begin(self):
        self.order_one = torch.randperm(len(self.x))
        self.order_two = torch.randperm(len(self.x))

    def __getitem__(self, index):
        pairs = zip(self.order_one[index * BATCH_SIZE:(index + 1) * BATCH_SIZE],
                    self.order_two[index * BATCH_SIZE:(index + 1) * BATCH_SIZE])
        images, labels = zip(*[cutmix((self.x[i], self.y[i]), (self.x[j], self.y[j])) for i, j in pairs])
        return torch.stack(images), torch.stack(labels)


def resnet_layer(
    inputs,
    num_filters=8,  # 16 in the example
    kernel_size=3,
    strides=1,
    activation="relu",
    batch_normalization=True,
    conv_first=True,
):
    conv = keras.layers.Conv2D(
        num_filters,
        kernel_size=kernel_size,
        strides=strides,
        padding="same",
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.l2(1e-4),
    )
    x = inputs
    if conv_first:
        x = conv(x)
        if batch_normalization:
            x = keras.layers.BatchNormalization()(x)
        if activation is not None:
            x = keras.layers.Activation(activation)(x)
    else:
        if batch_normalization:
            x = keras.layers.BatchNormalization()(x)
        if activation is not None:
            x = keras.layers.Activation(activation)(x)
        x = conv(x)
    return x


def resnet_v20(input_shape, depth, num_classes=10):
    if (depth - 2) % 6 != 0:
        raise ValueError("depth should be 6n+2 (eg 20, 32, 44 in [a])")
    # Start model definition.
    num_filters = 8  # 16 in the example
    num_res_blocks = int((depth - 2) / 6)

    inputs = keras.layers.Input(shape=input_shape)
    x = resnet_layer(inputs=inputs)
    # Instantiate the stack of residual units
    for stack in range(3):
        for res_block in range(num_res_blocks):
            strides = 1
            if stack > 0 and res_block == 0:  # first layer but not first stack
                strides = 2  # downsample
            y = resnet_layer(inputs=x, num_filters=num_filters, strides=strides)
            y = resnet_layer(inputs=y, num_filters=num_filters, activation=None)
            if stack > 0 and res_block == 0:  # first layer but not first stack
                # linear projection residual shortcut connection to match
                # changed dims
                x = resnet_layer(
                    inputs=x,
                    num_filters=num_filters,
                    kernel_size=1,
                    strides=strides,
                    activation=None,
                    batch_normalization=False,
                )
            x = keras.layers.add([x, y])
            x = keras.layers.Activation("relu")(x)
        num_filters *= 2

    # Add classifier on top.
    # v1 does not use BN after last shortcut connection-ReLU
    x = keras.layers.AveragePooling2D(pool_size=8)(x)
    y = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", kernel_initializer="he_normal"
    )(y)

    # Instantiate model.
    model = keras.models.Model(inputs=inputs, outputs=outputs)
    return model


def training_model():
    return resnet_v20((32, 32, 1), 8)  # (32, 32, 3) and depth 20 in the example


def _numpy_box(lambda_value, cut_x, cut_y, size):
    # r = √(1 − λ); w = h = ⌊size·r⌋; box [x − w//2, x + w//2) × [y − h//2, y + h//2) clipped to the image,
    # an empty side widened to 1 pixel
    cut = int(np.float32(size) * np.sqrt(np.float32(1.0) - np.float32(lambda_value)))
    x1, x2 = np.clip([cut_x - cut // 2, cut_x + cut // 2], 0, size)
    y1, y2 = np.clip([cut_y - cut // 2, cut_y + cut // 2], 0, size)
    return int(x1), int(y1), max(int(y2 - y1), 1), max(int(x2 - x1), 1)


def test_get_box_cuts_the_box_that_the_equations_give_in_numpy():
    """Section "Define the CutMix data augmentation function": ``get_box``."""
    rng = np.random.default_rng(0)
    lambdas = np.concatenate([[0.0, 1.0, 0.5, 0.999], rng.uniform(size=200)]).astype("float32")
    clipped = 0
    for seed, lam in enumerate(lambdas):
        torch.manual_seed(seed)
        box = get_box(torch.tensor(lam))
        torch.manual_seed(seed)  # the same two draws of the centre
        cut_x, cut_y = int(torch.rand(1) * IMG_SIZE), int(torch.rand(1) * IMG_SIZE)
        assert box == _numpy_box(lam, cut_x, cut_y, IMG_SIZE)
        x1, y1, h, w = box
        assert 0 <= x1 and x1 + w <= IMG_SIZE and 0 <= y1 and y1 + h <= IMG_SIZE and h >= 1 and w >= 1
        clipped += (w, h) != (int(IMG_SIZE * np.sqrt(1 - lam)) // 2 * 2,) * 2
    assert 0 < clipped < len(lambdas)  # both clipped and whole boxes were met


def test_cutmix_pastes_the_box_of_the_second_image_and_weighs_the_labels_by_area():
    """Section "Define the CutMix data augmentation function": ``cutmix`` on pairs of images."""
    rng = np.random.default_rng(1)
    for seed in range(30):
        image1 = rng.uniform(size=(IMG_SIZE, IMG_SIZE, 1)).astype("float32")
        image2 = rng.uniform(size=(IMG_SIZE, IMG_SIZE, 1)).astype("float32") + 2.0  # tells the sources apart
        label1, label2 = keras.utils.to_categorical([seed % 10, (seed + 3) % 10], 10)
        torch.manual_seed(seed)
        image, label = cutmix((torch.from_numpy(image1), torch.from_numpy(label1)),
                              (torch.from_numpy(image2), torch.from_numpy(label2)))
        torch.manual_seed(seed)  # the same draws: λ, then the box
        x1, y1, h, w = get_box(sample_beta_distribution(1, [0.25], [0.25])[0][0])

        mask = np.zeros((IMG_SIZE, IMG_SIZE, 1), dtype="float32")
        mask[y1:y1 + h, x1:x1 + w] = 1.0
        assert tuple(image.shape) == (IMG_SIZE, IMG_SIZE, 1)
        np.testing.assert_allclose(image.numpy(), mask * image2 + (1 - mask) * image1, atol=1e-6)
        from_first = float(np.mean(image.numpy() < 1.5))  # the share of pixels kept from image1
        label = label.double().numpy()
        assert label[seed % 10] == pytest.approx(from_first, abs=1e-6)
        assert label[seed % 10] == pytest.approx(1 - w * h / IMG_SIZE**2, abs=1e-6)
        assert label[(seed + 3) % 10] == pytest.approx(1 - from_first, abs=1e-6)
        assert label.sum() == pytest.approx(1.0)


@pytest.fixture(scope="module")
def data(fashion_dir):
    """Sections "Load the CIFAR-10 dataset" (Fashion-MNIST here) and "Define the image
    preprocessing function", on the first 3,000 training and 1,000 test images."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_train, y_train, x_test, y_test = x_train[:2000], y_train[:2000], x_test[:1000], y_test[:1000]
    y_train = keras.utils.to_categorical(y_train, num_classes=10)
    y_test = keras.utils.to_categorical(y_test, num_classes=10)

    def preprocess_image(image, label):
        image = keras.layers.Resizing(IMG_SIZE, IMG_SIZE)(image)
        image = image / 255.0
        return image, label

    x_train, y_train = preprocess_image(np.expand_dims(x_train, -1).astype("float32"), y_train)
    x_test, y_test = preprocess_image(np.expand_dims(x_test, -1).astype("float32"), y_test)
    return x_train.numpy(), y_train, x_test.numpy(), y_test


def test_the_cutmix_batches_hold_mixed_images_and_mixed_labels(data):
    """Section "Visualize the new dataset after applying the CutMix augmentation"."""
    x_train, y_train = data[0], data[1]
    assert x_train.shape == (2000, 32, 32, 1) and 0.0 <= x_train.min() and x_train.max() <= 1.0
    keras.utils.set_random_seed(42)
    train_ds_cmu = CutMixBatches(x_train, y_train)
    assert len(train_ds_cmu) == math.ceil(2000 / BATCH_SIZE)
    image_batch, label_batch = train_ds_cmu[0]
    assert tuple(image_batch.shape) == (BATCH_SIZE, 32, 32, 1) and tuple(label_batch.shape) == (BATCH_SIZE, 10)
    np.testing.assert_allclose(label_batch.sum(dim=1).numpy(), 1.0, rtol=1e-6)
    assert int((label_batch > 0).sum(dim=1).max()) <= 2
    # a new epoch, new pairs
    train_ds_cmu.on_epoch_begin()
    assert not torch.equal(train_ds_cmu[0][0], image_batch)


def test_training_with_and_without_cutmix_from_the_same_initial_weights(data, tmp_path):
    """Sections "Define a ResNet-20 model", "Train the model with the dataset augmented by CutMix"
    and "Train the model using the original non-augmented dataset"."""
    x_train, y_train, x_test, y_test = data
    keras.utils.set_random_seed(42)
    with pytest.raises(ValueError, match="depth should be 6n"):
        resnet_v20((32, 32, 1), 10)
    initial_model = training_model()
    # a first Conv2D, then 3 stacks of one block of two (the 2nd and 3rd with a 1×1 shortcut): 9 Conv2D, 7 with
    # BatchNormalization; 8 → 16 → 32 filters, 32 → 16 → 8 pixels, pooled to 1
    assert sum(isinstance(layer, layers.Conv2D) for layer in initial_model.layers) == 9
    assert sum(isinstance(layer, layers.BatchNormalization) for layer in initial_model.layers) == 7
    assert tuple(initial_model.get_layer(index=-3).output.shape) == (None, 1, 1, 32)
    assert initial_model.output_shape == (None, 10)
    initial_model.save_weights(tmp_path / "initial_weights.weights.h5")
    initial_predictions = initial_model.predict(x_test[:64], verbose=0)

    model = training_model()
    model.load_weights(tmp_path / "initial_weights.weights.h5")
    np.testing.assert_array_equal(model.predict(x_test[:64], verbose=0), initial_predictions)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    train_ds_cmu = CutMixBatches(x_train, y_train)
    history = model.fit(train_ds_cmu, validation_data=(x_test, y_test), epochs=EPOCHS, verbose=0)
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=BATCH_SIZE, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert test_accuracy > 0.5  # chance is 0.1
    assert test_accuracy == pytest.approx(history.history["val_accuracy"][-1])

    model = training_model()
    model.load_weights(tmp_path / "initial_weights.weights.h5")
    np.testing.assert_array_equal(model.predict(x_test[:64], verbose=0), initial_predictions)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=BATCH_SIZE, validation_data=(x_test, y_test),
                        epochs=EPOCHS, verbose=0)
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=BATCH_SIZE, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert test_accuracy > 0.5
