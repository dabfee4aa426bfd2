"""keras.io example "Point cloud segmentation with PointNet"
(https://keras.io/examples/vision/pointnet_segmentation/), its Keras 3
version, ported as a learner would: ``import brainnet as keras`` and ``from
brainnet import layers`` in place of the Keras imports, ``keras.ops.eye`` /
``reshape`` / ``tensordot`` / ``sum`` / ``square`` written as their torch
calls, the augmentation's ``tf.random.uniform(tf.shape(label_cloud_batch),
-0.005, 0.005, dtype=tf.float64)`` as ``torch.rand(label_cloud_batch.shape,
dtype=torch.float64) * 0.01 - 0.005``, and the model's
``keras.ops.tile(global_features, [1, num_points, 1])`` on a symbolic
tensor as ``layers.Lambda(lambda t: torch.tile(t, [1, num_points, 1]))``
(brainnet runs no torch function on a symbolic tensor and says to wrap it
so; see docs/keras.md). The blocks, the regularizer (its ``get_config``
included, never called here nor in the example), the T-nets, the model, the
schedule, the weights-only ``ModelCheckpoint`` and ``load_weights`` are the
example's.

Data: ShapeNet's airplanes are not here (nothing downloads), so the
``.pts`` point files and their per-part ``.seg`` label files are made in
NumPy, one dict of 0/1 arrays per cloud: toy airplanes whose points lie on
a body (a cylinder along x), two wings (flat boxes), a tail (a fin at the
back) and two engines (short cylinders under the wings), plus a landing
gear that no label file names (the example's "none" class), each plane of a
random size and point count (≥ NUM_SAMPLE_POINTS, as the example keeps). A
few clouds have no engine labels and go to ``test_point_clouds`` through the
example's ``KeyError`` path. The example's parsing loop, sampling and
normalization run on them as written. Its ``tf.data`` pipelines are a
``keras.utils.PyDataset`` (shuffled each epoch, each batch jittered) for
training and the arrays with ``batch_size=BATCH_SIZE`` for validation.

Shortened for CI: 256 sampled points in place of 1,024, 160 clouds, 8
epochs, and the widths cut: T-net 64, 128, 1024, 512, 256 → 16, 32, 128,
64, 32; features 64, 128, 128 → 32, 32, 32 (so the feature T-net is 32 × 32
in place of 128 × 128); 512, 2048 → 64, 256; the segmentation head's 128 →
32. The batch normalizations' momentum is 0.0, as the example's tf.keras
version had it, in place of the Keras 3 version's default 0.99: with 0.99,
and with 0.9 too, the moving statistics lagged these 32 steps so far that
the validation accuracy fell to 0.22 while the same model in training mode
labelled 0.92 of the validation points right (momentum 0.0 keeps the last
batch's statistics). The plots are left out (the predicted labels
they draw are checked instead).

What the tests check: the parsing loop's labels (the "none" class for
unlabelled points, the one-hot rows, the clouds without a part sent to the
test list), the sampling and normalization against NumPy, the tiled global
features (the same vector at every point, the max over the points), the
model's per-point softmax and its permutation equivariance (permuted points
give the same labels, permuted), falling loss, per-point validation
accuracy far above the share of the largest part, and the weights-only
checkpoint giving the history's best ``val_loss`` after ``load_weights``.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

LABELS = ["wing", "body", "tail", "engine"]  # ShapeNet's airplane parts
VAL_SPLIT = 0.2
NUM_SAMPLE_POINTS = 256  # 1024 in the example
BATCH_SIZE = 32
EPOCHS = 8  # the example's 60
NUM_CLOUDS = 160


# Section "Loading the dataset": the .pts and .seg files, made here.
def _box(rng, n, low, high):
    return rng.uniform(low, high, size=(n, 3))


def _cylinder_x(rng, n, x0, x1, centre, radius):
    a = rng.uniform(0, 2 * np.pi, size=n)
    return np.stack([rng.uniform(x0, x1, size=n), centre[0] + radius * np.cos(a), centre[1] + radius * np.sin(a)], 1)


def make_airplane(rng, with_engines=True):
    """Points on a toy airplane and, per part, a 0/1 array (one .seg file each)."""
    length, span = rng.uniform(1.6, 2.4), rng.uniform(1.6, 2.6)
    n = rng.integers(NUM_SAMPLE_POINTS + 20, NUM_SAMPLE_POINTS + 120)
    share = {"body": 0.35, "wing": 0.35, "tail": 0.15, "engine": 0.15 if with_engines else 0.0}
    counts = {part: int(n * s) for part, s in share.items()}
    parts = {
        "body": _cylinder_x(rng, counts["body"], -length / 2, length / 2, (0.0, 0.0), 0.15),
        "wing": np.concatenate([_box(rng, counts["wing"] // 2, (-0.25, 0.15, -0.02), (0.25, span / 2, 0.02)),
                                _box(rng, counts["wing"] - counts["wing"] // 2, (-0.25, -span / 2, -0.02),
                                     (0.25, -0.15, 0.02))]),
        "tail": _box(rng, counts["tail"], (-length / 2, -0.02, 0.1), (-length / 2 + 0.3, 0.02, 0.55)),
    }
    if with_engines:
        e = counts["engine"]
        parts["engine"] = np.concatenate([_cylinder_x(rng, e // 2, -0.1, 0.3, (span / 4, -0.2), 0.07),
                                          _cylinder_x(rng, e - e // 2, -0.1, 0.3, (-span / 4, -0.2), 0.07)])
    gear = _box(rng, n - sum(counts.values()), (-0.05, -0.05, -0.4), (0.05, 0.05, -0.15))  # in no .seg file: "none"
    point_cloud = np.concatenate(list(parts.values()) + [gear])
    label_data = {}
    start = 0
    for part, points in parts.items():
        seg = np.zeros(len(point_cloud))
        seg[start:start + len(points)] = 1
        label_data[part] = seg
        start += len(points)
    order = rng.permutation(len(point_cloud))
    return point_cloud[order], {part: seg[order] for part, seg in label_data.items()}


def parse_files(rng):
    """The example's loop over the .pts files, with a made-up airplane in place of each file."""
    point_clouds, test_point_clouds = [], []
    point_cloud_labels, all_labels = [], []

    for index in range(NUM_CLOUDS + 8):
        point_cloud, files = make_airplane(rng, with_engines=index % 21 != 20)  # a few clouds lack a part
        if point_cloud.shape[0] < NUM_SAMPLE_POINTS:
            continue

        label_data, num_labels = {}, 0
        for label in LABELS:
            if label in files:  # os.path.exists(label_file)
                label_data[label] = files[label].astype("float32")
                num_labels = len(label_data[label])

        # Point clouds having labels will be our training samples.
        try:
            label_map = ["none"] * num_labels
            for label in LABELS:
                for i, data in enumerate(label_data[label]):
                    label_map[i] = label if data == 1 else label_map[i]
            label_data = [
                LABELS.index(label) if label != "none" else len(LABELS)
                for label in label_map
            ]
            # Apply one-hot encoding to the dense label representation.
            label_data = keras.utils.to_categorical(label_data, num_classes=len(LABELS) + 1)

            point_clouds.append(point_cloud)
            point_cloud_labels.append(label_data)
            all_labels.append(label_map)
        except KeyError:
            test_point_clouds.append(point_cloud)
    return point_clouds, test_point_clouds, point_cloud_labels, all_labels


def preprocess(point_clouds, point_cloud_labels, all_labels):
    """Section "Preprocessing", as the example writes it."""
    for index in range(len(point_clouds)):
        current_point_cloud = point_clouds[index]
        current_label_cloud = point_cloud_labels[index]
        current_labels = all_labels[index]
        num_points = len(current_point_cloud)
        # Randomly sampling respective indices.
        sampled_indices = random.sample(list(range(num_points)), NUM_SAMPLE_POINTS)
        # Sampling points corresponding to sampled indices.
        sampled_point_cloud = np.array([current_point_cloud[i] for i in sampled_indices])
        # Sampling corresponding one-hot encoded labels.
        sampled_label_cloud = np.array([current_label_cloud[i] for i in sampled_indices])
        # Sampling corresponding labels for visualization.
        sampled_labels = np.array([current_labels[i] for i in sampled_indices])
        # Normalizing sampled point cloud.
        norm_point_cloud = sampled_point_cloud - np.mean(sampled_point_cloud, axis=0)
        norm_point_cloud /= np.max(np.linalg.norm(norm_point_cloud, axis=1))
        point_clouds[index] = norm_point_cloud
        point_cloud_labels[index] = sampled_label_cloud
        all_labels[index] = sampled_labels


# Section "Creating TensorFlow datasets".
def augment(point_cloud_batch, label_cloud_batch):
    noise = torch.rand(label_cloud_batch.shape, dtype=torch.float64) * 0.01 - 0.005
    point_cloud_batch += noise[:, :, :3]
    return point_cloud_batch, label_cloud_batch


class TrainingBatches(keras.utils.PyDataset):
    """``generate_dataset(..., is_training=True)``: shuffled, batched, each batch jittered."""

    def __init__(self, point_clouds, label_clouds):
        super().__init__()
        self.x, self.y = torch.from_numpy(np.array(point_clouds)), torch.from_numpy(np.array(label_clouds))
        self.on_epoch_begin()

    def __len__(self):
        return math.ceil(len(self.x) / BATCH_SIZE)

    def on_epoch_begin(self):
        self.order = torch.randperm(len(self.x))

    def __getitem__(self, index):
        chosen = self.order[index * BATCH_SIZE:(index + 1) * BATCH_SIZE]
        points, labels = augment(self.x[chosen].clone(), self.y[chosen])
        return points.float(), labels


# Section "PointNet model".
def conv_block(x, filters, name):
    x = layers.Conv1D(filters, kernel_size=1, padding="valid", name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=0.0, name=f"{name}_batch_norm")(x)  # as the tf.keras version; Keras 3 version: default 0.99
    return layers.Activation("relu", name=f"{name}_relu")(x)


def mlp_block(x, filters, name):
    x = layers.Dense(filters, name=f"{name}_dense")(x)
    x = layers.BatchNormalization(momentum=0.0, name=f"{name}_batch_norm")(x)  # as the tf.keras version; Keras 3 version: default 0.99
    return layers.Activation("relu", name=f"{name}_relu")(x)


class OrthogonalRegularizer(keras.regularizers.Regularizer):
    """Reference: https://keras.io/examples/vision/pointnet/#build-a-model"""

    def __init__(self, num_features, l2reg=0.001):
        self.num_features = num_features
        self.l2reg = l2reg
        self.identity = torch.eye(num_features)

    def __call__(self, x):
        x = torch.reshape(x, (-1, self.num_features, self.num_features))
        xxt = torch.tensordot(x, x, dims=([2], [2]))
        xxt = torch.reshape(xxt, (-1, self.num_features, self.num_features))
        return torch.sum(self.l2reg * torch.square(xxt - self.identity))

    def get_config(self):
        config = super().get_config()
        config.update({"num_features": self.num_features, "l2reg_strength": self.l2reg})
        return config


def transformation_net(inputs, num_features, name):
    x = conv_block(inputs, filters=16, name=f"{name}_1")  # 64 in the example
    x = conv_block(x, filters=32, name=f"{name}_2")  # 128
    x = conv_block(x, filters=128, name=f"{name}_3")  # 1024
    x = layers.GlobalMaxPooling1D()(x)
    x = mlp_block(x, filters=64, name=f"{name}_1_1")  # 512
    x = mlp_block(x, filters=32, name=f"{name}_2_1")  # 256
    return layers.Dense(
        num_features * num_features,
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(np.eye(num_features).flatten()),
        activity_regularizer=OrthogonalRegularizer(num_features),
        name=f"{name}_final",
    )(x)


def transformation_block(inputs, num_features, name):
    transformed_features = transformation_net(inputs, num_features, name=name)
    transformed_features = layers.Reshape((num_features, num_features))(
        transformed_features
    )
    return layers.Dot(axes=(2, 1), name=f"{name}_mm")([inputs, transformed_features])


def get_shape_segmentation_model(num_points, num_classes):
    input_points = keras.Input(shape=(None, 3))

    # PointNet Classification Network.
    transformed_inputs = transformation_block(
        input_points, num_features=3, name="input_transformation_block"
    )
    features_64 = conv_block(transformed_inputs, filters=32, name="features_64")  # 64 filters in the example
    features_128_1 = conv_block(features_64, filters=32, name="features_128_1")  # 128
    features_128_2 = conv_block(features_128_1, filters=32, name="features_128_2")  # 128
    transformed_features = transformation_block(
        features_128_2, num_features=32, name="transformed_features"  # 128
    )
    features_512 = conv_block(transformed_features, filters=64, name="features_512")  # 512
    features_2048 = conv_block(features_512, filters=256, name="pre_maxpool_block")  # 2048
    global_features = layers.MaxPool1D(pool_size=num_points, name="global_features")(
        features_2048
    )
    global_features = layers.Lambda(lambda t: torch.tile(t, [1, num_points, 1]))(global_features)

    # Segmentation head.
    segmentation_input = layers.Concatenate(name="segmentation_input")(
        [
            features_64,
            features_128_1,
            features_128_2,
            transformed_features,
            features_512,
            global_features,
        ]
    )
    segmentation_features = conv_block(
        segmentation_input, filters=32, name="segmentation_features"  # 128
    )
    outputs = layers.Conv1D(
        num_classes, kernel_size=1, activation="softmax", name="segmentation_head"
    )(segmentation_features)
    return keras.Model(input_points, outputs)


@pytest.fixture(scope="module")
def data():
    """Sections "Structuring the dataset" and "Preprocessing"."""
    random.seed(0)
    rng = np.random.default_rng(0)
    point_clouds, test_point_clouds, point_cloud_labels, all_labels = parse_files(rng)
    raw = [(c.copy(), l.copy()) for c, l in zip(point_clouds[:2], point_cloud_labels[:2])]
    preprocess(point_clouds, point_cloud_labels, all_labels)
    return point_clouds, test_point_clouds, point_cloud_labels, all_labels, raw


def test_the_parsed_labels_are_one_hot_parts_and_clouds_missing_a_part_are_test_clouds(data):
    """Section "Structuring the dataset": the example's parsing loop on the made-up files."""
    point_clouds, test_point_clouds, point_cloud_labels, all_labels, raw = data
    # every 21st plane (8) has no engines: a test cloud, or skipped when it has fewer than NUM_SAMPLE_POINTS points
    assert len(point_clouds) == NUM_CLOUDS and 1 <= len(test_point_clouds) <= 8
    assert all(len(c) >= NUM_SAMPLE_POINTS for c in test_point_clouds + point_clouds)
    cloud, one_hot = raw[0]
    assert one_hot.shape == (len(cloud), len(LABELS) + 1) and np.all(one_hot.sum(axis=1) == 1)
    assert one_hot[:, len(LABELS)].sum() == len(cloud) - int(0.35 * len(cloud)) * 2 - int(0.15 * len(cloud)) * 2
    # the landing gear's points are in no part's file: the "none" class, index len(LABELS)
    body = one_hot[:, LABELS.index("body")] == 1
    np.testing.assert_allclose(np.hypot(cloud[body, 1], cloud[body, 2]), 0.15)  # on the body's cylinder


def test_sampling_and_normalization_as_numpy_computes_them(data):
    """Section "Preprocessing": each cloud sampled to NUM_SAMPLE_POINTS and scaled into the unit ball."""
    point_clouds, _, point_cloud_labels, all_labels, raw = data
    assert point_clouds[0].shape == (NUM_SAMPLE_POINTS, 3) and point_cloud_labels[0].shape == (NUM_SAMPLE_POINTS, 5)
    np.testing.assert_allclose(point_clouds[0].mean(axis=0), 0, atol=1e-12)
    assert np.linalg.norm(point_clouds[0], axis=1).max() == pytest.approx(1.0)
    cloud, one_hot = raw[0]
    random.seed(0)  # the fixture's seed: the first cloud's draw again
    sampled = random.sample(list(range(len(cloud))), NUM_SAMPLE_POINTS)
    want = cloud[sampled] - cloud[sampled].mean(axis=0)
    want /= np.linalg.norm(want, axis=1).max()
    np.testing.assert_allclose(point_clouds[0], want, rtol=1e-12)
    np.testing.assert_array_equal(point_cloud_labels[0], one_hot[sampled])
    assert list(all_labels[0]) == [(LABELS + ["none"])[np.argmax(r)] for r in point_cloud_labels[0]]


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """Sections "Creating TensorFlow datasets", "Instantiate the model" and "Training"."""
    point_clouds, _, point_cloud_labels, _, _ = data
    keras.utils.set_random_seed(0)
    split_index = int(len(point_clouds) * (1 - VAL_SPLIT))
    train_point_clouds = point_clouds[:split_index]
    train_label_cloud = point_cloud_labels[:split_index]
    total_training_examples = len(train_point_clouds)
    val_point_clouds = np.array(point_clouds[split_index:], dtype="float32")
    val_label_cloud = np.array(point_cloud_labels[split_index:])
    train_dataset = TrainingBatches(train_point_clouds, train_label_cloud)

    x, y = train_dataset[0]
    num_points = x.shape[1]
    num_classes = y.shape[-1]

    steps_per_epoch = total_training_examples // BATCH_SIZE
    lr_schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=0.003, decay_steps=steps_per_epoch * 5, decay_rate=0.5, staircase=True
    )

    segmentation_model = get_shape_segmentation_model(num_points, num_classes)
    segmentation_model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr_schedule),
        loss=keras.losses.CategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    checkpoint_filepath = str(tmp_path_factory.mktemp("seg") / "checkpoint.weights.h5")
    checkpoint_callback = keras.callbacks.ModelCheckpoint(
        checkpoint_filepath,
        monitor="val_loss",
        save_best_only=True,
        save_weights_only=True,
    )
    history = segmentation_model.fit(
        train_dataset,
        validation_data=(val_point_clouds, val_label_cloud),
        validation_batch_size=BATCH_SIZE,
        epochs=EPOCHS,
        callbacks=[checkpoint_callback],
        verbose=0,
    )
    segmentation_model.load_weights(checkpoint_filepath)
    return segmentation_model, history, val_point_clouds, val_label_cloud


def test_the_global_features_are_tiled_to_every_point():
    """Section "PointNet model": ``MaxPool1D(pool_size=num_points)`` then the tile."""
    keras.utils.set_random_seed(1)
    model = get_shape_segmentation_model(16, 5)
    tiled = [layer for layer in model.layers if isinstance(layer, layers.Lambda)][0]
    features = keras.Model(model.inputs, [model.get_layer("pre_maxpool_block_relu").output, tiled.output])
    x = np.random.default_rng(2).normal(size=(3, 16, 3)).astype("float32")
    before, after = features.predict(x, verbose=0)
    assert after.shape == (3, 16, 256)
    np.testing.assert_allclose(after, np.repeat(before.max(axis=1, keepdims=True), 16, axis=1), rtol=1e-6)


def test_pointnet_segments_the_parts_far_above_the_largest_share(trained):
    """Sections "Training", "Visualize the training landscape" and "Inference"."""
    segmentation_model, history, val_point_clouds, val_label_cloud = trained
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    # load_weights put back the best epoch's weights
    loss, accuracy = segmentation_model.evaluate(val_point_clouds, val_label_cloud, batch_size=BATCH_SIZE, verbose=0)
    assert loss == pytest.approx(min(history.history["val_loss"]), rel=1e-4)
    largest_share = val_label_cloud.mean(axis=(0, 1)).max()  # the body's or the wings' share of the points
    assert accuracy > largest_share + 0.3

    validation_batch = (val_point_clouds[:BATCH_SIZE], val_label_cloud[:BATCH_SIZE])
    val_predictions = segmentation_model.predict(validation_batch[0], verbose=0)
    assert val_predictions.shape == (len(validation_batch[0]), NUM_SAMPLE_POINTS, len(LABELS) + 1)
    np.testing.assert_allclose(val_predictions.sum(axis=-1), 1.0, rtol=1e-5)
    label_map = LABELS + ["none"]
    predicted = [label_map[np.argmax(label)] for label in val_predictions[0]]
    truth = [label_map[np.argmax(label)] for label in validation_batch[1][0]]
    assert np.mean(np.array(predicted) == np.array(truth)) > largest_share + 0.2

    # PointNet treats the cloud as a set: permuted points get the same labels, permuted
    order = np.random.default_rng(3).permutation(NUM_SAMPLE_POINTS)
    permuted = segmentation_model.predict(validation_batch[0][:, order], verbose=0)
    np.testing.assert_allclose(permuted, val_predictions[:, order], rtol=1e-4, atol=1e-5)
