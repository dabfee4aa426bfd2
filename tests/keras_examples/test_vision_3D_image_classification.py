"""keras.io example "3D image classification from CT scans"
(https://keras.io/examples/vision/3D_image_classification/), its Keras 3
version (``compile(..., run_eagerly=True)``, the best model kept by
``ModelCheckpoint("3d_image_classification.keras", save_best_only=True)``
and read back by ``model.load_weights``), ported as a learner would:
``import brainnet as keras`` and ``from brainnet import layers`` in place of
the Keras imports, the model, compile, callbacks and fit as the example
writes them.

Data: MosMedData's CT scans are not here (nothing downloads, and nibabel is
not installed), so ``read_nifti_file`` is replaced by ``make_scan``, which
draws a small chest CT in Hounsfield units in NumPy: air (-1000 HU) around a
body of soft tissue (about 40 HU), two lungs (about -850 HU) of random sizes,
and, for the "abnormal" class, two to five ground-glass opacities (blobs that
raise the lung towards -300 HU); noise on every voxel. scipy is not
installed either, so the example's three scipy calls are written with torch:
``ndimage.zoom(img, factors, order=1)`` as ``torch.nn.functional.interpolate
(mode="trilinear", align_corners=True)`` (linear interpolation that keeps
the corner voxels, as scipy's zoom does), and ``ndimage.rotate(volume, angle,
reshape=False)`` as each (height, width) slice turned about its centre with
``torch.nn.functional.grid_sample`` (bilinear where scipy's default spline
is cubic; zeros outside, as scipy's ``cval=0``). The ``tf.data`` loaders
are a ``keras.utils.PyDataset`` that shuffles the training scans each epoch
and rotates them one by one (``train_preprocessing``) and the validation
arrays with their channel axis added (``validation_preprocessing``).

Shortened for CI: scans of 64 × 64 × 40 voxels resized to 48 × 48 × 48 in
place of 512 × 512 × (varied) resized to 128 × 128 × 64 (48 is about the
smallest that four blocks of a valid 3 × 3 × 3 convolution and a pooling by
2 leave a voxel of), 40 scans per class in place of 100 (the example's 70-30
split), 10 epochs in place of 100, batches of 8 scans in place of 2, the
initial learning rate 0.001 in place of 0.0001 and the batch
normalizations' momentum 0.9 in place of 0.99 (the example's settings need
far more than these 70 steps: with batches of 2 and momentum 0.99 the
network separated the classes in training mode while the moving statistics,
still mostly their starting values, made every validation scan one class),
and the network's widths cut from 64, 64, 128, 256 filters and 512 units to
8, 8, 16, 32 and 64. The plots are left out.

What the tests check: ``normalize`` against NumPy, ``resize_volume``'s
quarter turn (``np.rot90``) and its trilinear zoom on a linear volume it must
reproduce exactly, ``rotate`` against a naive NumPy bilinear rotation and
its clipping to [0, 1], the batches' shapes, falling training loss and
validation accuracy far above chance, the checkpoint holding the best
epoch's weights (loaded by ``load_weights``, they give the lowest
``val_loss`` of the history again), and the example's closing prediction
on one scan.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

RAW_SHAPE = (64, 64, 40)  # height, width, depth of the made-up scans
SIZE = 48  # the example's 128 × 128 × 64
SCANS_PER_CLASS = 40  # 100 in the example's subset
TRAIN_PER_CLASS = 28  # the example's 70 of 100
EPOCHS = 10  # 100 in the example


# Section "Loading data and preprocessing", with scans drawn in place of the NIfTI files.
def make_scan(rng, abnormal):
    """A chest CT of RAW_SHAPE in Hounsfield units (in place of nib.load(filepath).get_fdata())."""
    h, w, d = RAW_SHAPE
    y, x, z = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), np.linspace(-1, 1, d), indexing="ij")
    scan = np.full(RAW_SHAPE, -1000.0)  # air
    scan[(x / 0.85) ** 2 + (y / 0.65) ** 2 <= 1] = 40.0  # the body's soft tissue
    lungs = np.zeros(RAW_SHAPE, dtype=bool)
    for side in (-1, 1):
        rx, ry, rz = rng.uniform(0.22, 0.3), rng.uniform(0.35, 0.45), rng.uniform(0.7, 0.9)
        lungs |= ((x - side * 0.38) / rx) ** 2 + (y / ry) ** 2 + (z / rz) ** 2 <= 1
    scan[lungs] = -850.0
    if abnormal:  # ground-glass opacities: blobs that raise the lung's density
        inside = np.argwhere(lungs)
        for centre in inside[rng.choice(len(inside), size=rng.integers(4, 8))]:
            cy, cx, cz = (np.array([y, x, z])[:, centre[0], centre[1], centre[2]])
            blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / (2 * rng.uniform(0.12, 0.18) ** 2))
            scan += np.where(lungs, 650.0 * blob, 0.0)
    return scan + rng.normal(0, 30, size=RAW_SHAPE)


def normalize(volume):
    """Normalize the volume"""
    min = -1000
    max = 400
    volume[volume < min] = min
    volume[volume > max] = max
    volume = (volume - min) / (max - min)
    volume = volume.astype("float32")
    return volume


def ndimage_rotate(volume, angle):
    """``ndimage.rotate(volume, angle, reshape=False)``: each (height, width)
    slice turned by ``angle`` degrees about its centre, counter-clockwise as
    ``np.rot90`` turns it, bilinear, zeros outside."""
    volume = torch.as_tensor(np.ascontiguousarray(volume), dtype=torch.float32)
    h, w, _ = volume.shape
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    di, dj = torch.meshgrid(torch.arange(h) - (h - 1) / 2, torch.arange(w) - (w - 1) / 2, indexing="ij")
    src_i, src_j = c * di + s * dj + (h - 1) / 2, -s * di + c * dj + (w - 1) / 2  # where each voxel comes from
    grid = torch.stack([src_j / (w - 1) * 2 - 1, src_i / (h - 1) * 2 - 1], dim=-1)[None]  # (1, H, W, 2): x, y
    slices = volume.permute(2, 0, 1)[None]  # (1, D, H, W): the slices as channels
    turned = torch.nn.functional.grid_sample(slices, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return turned[0].permute(1, 2, 0).numpy()  # (H, W, D)


def ndimage_zoom(img, factors):
    """``ndimage.zoom(img, factors, order=1)``: linear interpolation onto
    round(n · factor) voxels per axis, the corner voxels kept."""
    size = [round(n * f) for n, f in zip(img.shape, factors)]
    volume = torch.as_tensor(np.ascontiguousarray(img), dtype=torch.float32)[None, None]
    return torch.nn.functional.interpolate(volume, size=size, mode="trilinear", align_corners=True)[0, 0].numpy()


def resize_volume(img):
    """Resize across z-axis"""
    # Set the desired depth
    desired_depth = SIZE
    desired_width = SIZE
    desired_height = SIZE
    # Get current depth
    current_depth = img.shape[-1]
    current_width = img.shape[0]
    current_height = img.shape[1]
    # Compute depth factor
    depth = current_depth / desired_depth
    width = current_width / desired_width
    height = current_height / desired_height
    depth_factor = 1 / depth
    width_factor = 1 / width
    height_factor = 1 / height
    # Rotate (ndimage.rotate(img, 90, reshape=False) on square slices is this quarter turn)
    img = np.rot90(img, 1, axes=(0, 1))
    # Resize across z-axis
    img = ndimage_zoom(img, (width_factor, height_factor, depth_factor))
    return img


def process_scan(rng, abnormal):
    """Read and resize volume"""
    # Read scan
    volume = make_scan(rng, abnormal)
    # Normalize
    volume = normalize(volume)
    # Resize width, height and depth
    volume = resize_volume(volume)
    return volume


# Section "Data augmentation".
def rotate(volume):
    """Rotate the volume by a few degrees"""

    def scipy_rotate(volume):
        # define some rotation angles
        angles = [-20, -10, -5, 5, 10, 20]
        # pick angles at random
        angle = random.choice(angles)
        # rotate volume
        volume = ndimage_rotate(volume, angle)
        volume[volume < 0] = 0
        volume[volume > 1] = 1
        return volume

    augmented_volume = scipy_rotate(volume)
    return augmented_volume


def train_preprocessing(volume, label):
    """Process training data by rotating and adding a channel."""
    # Rotate volume
    volume = rotate(volume)
    volume = np.expand_dims(volume, axis=3)
    return volume, label


def validation_preprocessing(volume, label):
    """Process validation data by only adding a channel."""
    volume = np.expand_dims(volume, axis=3)
    return volume, label


class TrainLoader(keras.utils.PyDataset):
    """``train_loader.shuffle(len(x_train)).map(train_preprocessing).batch(batch_size)``."""

    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.on_epoch_begin()

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def on_epoch_begin(self):
        self.order = np.random.permutation(len(self.x))

    def __getitem__(self, index):
        chosen = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        volumes, labels = zip(*(train_preprocessing(self.x[i], self.y[i]) for i in chosen))
        return np.stack(volumes), np.stack(labels)


# Section "Define a 3D convolutional neural network".
def get_model(width=128, height=128, depth=64):
    """Build a 3D convolutional neural network model."""

    inputs = keras.Input((width, height, depth, 1))

    x = layers.Conv3D(filters=8, kernel_size=3, activation="relu")(inputs)  # 64 in the example
    x = layers.MaxPool3D(pool_size=2)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)  # 0.99 in the example

    x = layers.Conv3D(filters=8, kernel_size=3, activation="relu")(x)  # 64
    x = layers.MaxPool3D(pool_size=2)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)  # 0.99 in the example

    x = layers.Conv3D(filters=16, kernel_size=3, activation="relu")(x)  # 128
    x = layers.MaxPool3D(pool_size=2)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)  # 0.99 in the example

    x = layers.Conv3D(filters=32, kernel_size=3, activation="relu")(x)  # 256
    x = layers.MaxPool3D(pool_size=2)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)  # 0.99 in the example

    x = layers.GlobalAveragePooling3D()(x)
    x = layers.Dense(units=64, activation="relu")(x)  # 512
    x = layers.Dropout(0.3)(x)

    outputs = layers.Dense(units=1, activation="sigmoid")(x)

    # Define the model.
    model = keras.Model(inputs, outputs, name="3dcnn")
    return model


def test_normalize_and_resize_volume_as_numpy_computes_them():
    """Section "Loading data and preprocessing": ``normalize`` and ``resize_volume``."""
    rng = np.random.default_rng(0)
    hu = rng.uniform(-1500, 2000, size=RAW_SHAPE)
    np.testing.assert_allclose(normalize(hu.copy()), (np.clip(hu, -1000, 400) + 1000) / 1400, rtol=1e-6)
    scan = make_scan(rng, abnormal=True)
    assert scan.shape == RAW_SHAPE and scan.min() < -900 and scan.max() > -700  # air, and tissue above the lungs

    h, w, d = RAW_SHAPE
    i, j, k = np.meshgrid(np.arange(h), np.arange(w), np.arange(d), indexing="ij")
    linear = (0.5 * i - 0.25 * j + 2.0 * k).astype("float32")
    resized = resize_volume(linear)
    assert resized.shape == (SIZE, SIZE, SIZE) and resized.dtype == np.float32
    turned = np.rot90(linear, 1, axes=(0, 1))  # out[a, b] = in[b, w - 1 - a]
    assert turned[0, 0, 0] == linear[0, w - 1, 0] and turned[3, 5, 7] == linear[5, w - 1 - 3, 7]
    p, q, r = np.meshgrid(*(np.arange(SIZE) * (n - 1) / (SIZE - 1) for n in turned.shape), indexing="ij")
    # trilinear interpolation gives a linear volume back exactly: turned(p, q, r) = 0.5 q − 0.25 (w − 1 − p) + 2 r
    want = 0.5 * q - 0.25 * (w - 1 - p) + 2.0 * r
    np.testing.assert_allclose(resized, want, atol=1e-3)


def _numpy_rotate(volume, angle):
    # out(i, j) = bilinear read of the slice at the centre + R(angle)ᵀ-turned offset, zero outside
    h, w, d = volume.shape
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    out = np.zeros_like(volume, dtype=np.float64)
    for i in range(h):
        for j in range(w):
            di, dj = i - (h - 1) / 2, j - (w - 1) / 2
            si, sj = c * di + s * dj + (h - 1) / 2, -s * di + c * dj + (w - 1) / 2
            i0, j0 = math.floor(si), math.floor(sj)
            for ii, jj in ((i0, j0), (i0 + 1, j0), (i0, j0 + 1), (i0 + 1, j0 + 1)):
                if 0 <= ii < h and 0 <= jj < w:
                    out[i, j] += (1 - abs(si - ii)) * (1 - abs(sj - jj)) * volume[ii, jj]
    return out


def test_rotate_turns_each_slice_as_a_numpy_bilinear_rotation_and_clips():
    """Section "Data augmentation": ``rotate`` (``scipy_rotate``)."""
    rng = np.random.default_rng(1)
    volume = rng.uniform(size=(12, 10, 3)).astype("float32")
    for angle in (-20, 5, 90):
        np.testing.assert_allclose(ndimage_rotate(volume, angle), _numpy_rotate(volume, angle), atol=1e-5)
    np.testing.assert_allclose(ndimage_rotate(volume[:10], 90), np.rot90(volume[:10], 1, axes=(0, 1)), atol=1e-5)

    random.seed(3)
    angle = random.choice([-20, -10, -5, 5, 10, 20])
    random.seed(3)
    loud = volume * 1.5 - 0.2  # values outside [0, 1], as the cubic spline can overshoot
    got = rotate(loud)
    np.testing.assert_allclose(got, np.clip(_numpy_rotate(loud, angle), 0, 1), atol=1e-5)
    assert got.min() == 0.0 and got.max() == 1.0


def _datasets():
    """Section "Build train and validation datasets"."""
    rng = np.random.default_rng(0)
    abnormal_scans = np.array([process_scan(rng, abnormal=True) for _ in range(SCANS_PER_CLASS)])
    normal_scans = np.array([process_scan(rng, abnormal=False) for _ in range(SCANS_PER_CLASS)])
    abnormal_labels = np.array([1 for _ in range(len(abnormal_scans))])
    normal_labels = np.array([0 for _ in range(len(normal_scans))])
    n = TRAIN_PER_CLASS
    x_train = np.concatenate((abnormal_scans[:n], normal_scans[:n]), axis=0)
    y_train = np.concatenate((abnormal_labels[:n], normal_labels[:n]), axis=0)
    x_val = np.concatenate((abnormal_scans[n:], normal_scans[n:]), axis=0)
    y_val = np.concatenate((abnormal_labels[n:], normal_labels[n:]), axis=0)
    return x_train, y_train, x_val, y_val


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Sections "Build train and validation datasets", "Data augmentation",
    "Define a 3D convolutional neural network" and "Train model"."""
    keras.utils.set_random_seed(0)
    random.seed(0)
    x_train, y_train, x_val, y_val = _datasets()
    batch_size = 8  # 2 in the example
    train_dataset = TrainLoader(x_train, y_train, batch_size)
    x_val_ch = np.stack([validation_preprocessing(volume, label)[0] for volume, label in zip(x_val, y_val)])

    model = get_model(width=SIZE, height=SIZE, depth=SIZE)
    initial_learning_rate = 0.001  # 0.0001 in the example
    lr_schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate, decay_steps=100000, decay_rate=0.96, staircase=True
    )
    model.compile(
        loss="binary_crossentropy",
        optimizer=keras.optimizers.Adam(learning_rate=lr_schedule),
        metrics=["acc"],
        run_eagerly=True,
    )
    folder = tmp_path_factory.mktemp("ct")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        checkpoint_cb = keras.callbacks.ModelCheckpoint("3d_image_classification.keras", save_best_only=True)
        early_stopping_cb = keras.callbacks.EarlyStopping(monitor="val_acc", patience=15)
        model.fit(
            train_dataset,
            validation_data=(x_val_ch, y_val),
            validation_batch_size=batch_size,
            epochs=EPOCHS,
            shuffle=True,
            verbose=0,
            callbacks=[checkpoint_cb, early_stopping_cb],
        )
    return model, folder / "3d_image_classification.keras", train_dataset, x_val, y_val


def test_the_training_batches_are_rotated_scans_with_a_channel(trained):
    """Section "Data augmentation": the loaders' batches."""
    _, _, train_dataset, x_val, y_val = trained
    assert train_dataset.batch_size == 8 and len(train_dataset) == 2 * TRAIN_PER_CLASS // 8
    images, labels = train_dataset[0]
    assert images.shape == (8, SIZE, SIZE, SIZE, 1) and images.dtype == np.float32 and labels.shape == (8,)
    assert 0.0 <= images.min() and images.max() <= 1.0
    first = train_dataset.order[0]
    np.testing.assert_array_equal(labels, train_dataset.y[train_dataset.order[:8]])
    assert not np.allclose(images[0, ..., 0], train_dataset.x[first])  # turned by a few degrees
    volume, label = validation_preprocessing(x_val[0], y_val[0])
    assert volume.shape == (SIZE, SIZE, SIZE, 1) and label == y_val[0]


def test_the_3d_cnn_learns_and_the_checkpoint_holds_its_best_epoch(trained):
    """Sections "Train model", "Visualizing model performance" and "Make predictions on a single CT scan"."""
    model, path, _, x_val, y_val = trained
    history = model.history.history
    assert model.output_shape == (None, 1)
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    assert max(history["val_acc"]) >= 0.8  # chance is 0.5

    # Load best weights.
    model.load_weights(path)
    loss, acc = model.evaluate(x_val[..., None], y_val, batch_size=2, verbose=0)
    assert loss == pytest.approx(min(history["val_loss"]), rel=1e-4)
    assert acc > 0.75

    prediction = model.predict(np.expand_dims(x_val[0], axis=0), verbose=0)[0]
    scores = [1 - prediction[0], prediction[0]]
    class_names = ["normal", "abnormal"]
    assert sum(scores) == pytest.approx(1.0) and 0 <= prediction[0] <= 1
    assert class_names[int(prediction[0] > 0.5)] == class_names[y_val[0]]
