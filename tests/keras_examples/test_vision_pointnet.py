"""keras.io example "Point cloud classification with PointNet"
(https://keras.io/examples/vision/pointnet/), its Keras 3 version, ported as
a learner would: ``import brainnet as keras`` and ``from brainnet import
layers`` in place of the Keras imports, ``ops.eye(n)`` written as
``torch.eye(n)``, ``ops.reshape`` as ``torch.reshape``,
``ops.tensordot(x, x, axes=(2, 2))`` as ``torch.tensordot(x, x, dims=([2],
[2]))``, ``ops.sum``/``ops.square`` as ``torch.sum``/``torch.square``, and
the augmentation's ``keras.random.uniform(points.shape, -0.005, 0.005,
dtype="float64")`` as ``torch.rand(points.shape, dtype=torch.float64) * 0.01
- 0.005`` and ``keras.random.shuffle(points)`` as
``points[torch.randperm(len(points))]``. The model code (``conv_bn``,
``dense_bn``, the ``OrthogonalRegularizer`` subclass of
``keras.regularizers.Regularizer``, ``tnet`` with its identity-initialised
bias ``keras.initializers.Constant(np.eye(num_features).flatten())`` and its
``layers.Dot(axes=(2, 1))``, the PointNet itself) is the example's, widths
included.

Data: ModelNet10 is not here (nothing downloads, and trimesh is not
installed), so ``parse_dataset`` makes the point clouds itself: points
sampled uniformly on the surfaces of four shapes (sphere, cube, cylinder,
cone; surfaces and caps in proportion to their areas), each of a random size
and turned by a random angle about the z axis, as float64 arrays as
trimesh's ``mesh.sample`` gives them. Its ``tf.data`` pipeline (shuffle,
``map(augment)``, 80 % taken for training and the rest skipped to
validation, batches of 32) is a ``keras.utils.PyDataset`` that shuffles the
training part each epoch and augments cloud by cloud; the split is drawn
once (the example's ``take``/``skip`` after a shuffle that reshuffles every
epoch mixes the two parts from one epoch to the next). The clouds are cast
to float32 for the model, as Keras does with float64 inputs.

Shortened for CI: 128 points per cloud in place of 2,048, four classes of 80
training and 40 test clouds in place of ModelNet10's 3,991 and 908 meshes,
and 6 epochs in place of 20 (about 0.3 s per step of 32 clouds on one core).
The plots are left out (the 8 predictions they show are checked instead).

What the tests check: the regularizer against a NumPy version of its sum
(for one matrix the paper's l2reg · ||X Xᵀ − I||²; for a batch,
``tensordot`` multiplies every matrix with every other and the reshape cuts
those products into blocks in memory order, in Keras too), the T-net's
start as the identity (its ``Dot`` gives back its input) and its ``Dot``
against NumPy on other weights, the penalty that the model reports after a
call, the made-up clouds lying on their surfaces and ``augment``'s jitter
and shuffle, falling training loss, test accuracy far above chance, and the
trained PointNet refused by ``model.save`` while its regularizer has no
``get_config`` (as in Keras 3), then saved and loaded with the same
predictions once it has one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

NUM_POINTS = 128  # 2048 in the example
NUM_CLASSES = 4  # ModelNet10's 10
BATCH_SIZE = 32
EPOCHS = 6  # 20 in the example
CLASS_NAMES = ["sphere", "cube", "cylinder", "cone"]


# Section "Load dataset": the surfaces that stand in for ModelNet10's meshes.
def _sphere(rng, n, size):
    v = rng.normal(size=(n, 3))
    return size * v / np.linalg.norm(v, axis=1, keepdims=True)


def _cube(rng, n, size):
    points = rng.uniform(-size, size, size=(n, 3))
    axis = rng.integers(0, 3, size=n)  # six faces of equal area: an axis and a side
    points[np.arange(n), axis] = size * rng.choice([-1.0, 1.0], size=n)
    return points


def _disc(rng, n, radius):
    r = radius * np.sqrt(rng.uniform(size=n))
    a = rng.uniform(0, 2 * np.pi, size=n)
    return r * np.cos(a), r * np.sin(a)


def _cylinder(rng, n, size):
    radius, half = size, size
    side = rng.uniform(size=n) < (2 * np.pi * radius * 2 * half) / (2 * np.pi * radius * 2 * half + 2 * np.pi * radius**2)
    a = rng.uniform(0, 2 * np.pi, size=n)
    x, y, z = radius * np.cos(a), radius * np.sin(a), rng.uniform(-half, half, size=n)
    cx, cy = _disc(rng, n, radius)
    cz = half * rng.choice([-1.0, 1.0], size=n)
    return np.stack([np.where(side, x, cx), np.where(side, y, cy), np.where(side, z, cz)], axis=1)


def _cone(rng, n, size):
    radius, height = size, 2 * size
    slant = np.hypot(radius, height)
    side = rng.uniform(size=n) < (np.pi * radius * slant) / (np.pi * radius * slant + np.pi * radius**2)
    t = np.sqrt(rng.uniform(size=n))  # distance from the apex, as a fraction: uniform on the lateral area
    a = rng.uniform(0, 2 * np.pi, size=n)
    x, y, z = t * radius * np.cos(a), t * radius * np.sin(a), size - t * height
    bx, by = _disc(rng, n, radius)
    return np.stack([np.where(side, x, bx), np.where(side, y, by), np.where(side, z, -size)], axis=1)


SURFACES = [_sphere, _cube, _cylinder, _cone]


def _sample(rng, label, num_points):
    points = SURFACES[label](rng, num_points, rng.uniform(0.5, 1.0))
    theta = rng.uniform(-np.pi, np.pi)  # turned about z, as the meshes of a class stand in different ways
    c, s = np.cos(theta), np.sin(theta)
    return points @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T


def parse_dataset(num_points=2048, train_per_class=80, test_per_class=40, seed=0):
    rng = np.random.default_rng(seed)
    train_points = []
    train_labels = []
    test_points = []
    test_labels = []
    class_map = {}

    for i, name in enumerate(CLASS_NAMES):
        # store folder name with ID so we can retrieve later
        class_map[i] = name
        for _ in range(train_per_class):
            train_points.append(_sample(rng, i, num_points))
            train_labels.append(i)
        for _ in range(test_per_class):
            test_points.append(_sample(rng, i, num_points))
            test_labels.append(i)

    return (
        np.array(train_points),
        np.array(test_points),
        np.array(train_labels),
        np.array(test_labels),
        class_map,
    )


def augment(points, label):
    # jitter points
    points += torch.rand(points.shape, dtype=torch.float64) * 0.01 - 0.005
    # shuffle points
    points = points[torch.randperm(len(points))]
    return points, label


class AugmentedBatches(keras.utils.PyDataset):
    """``dataset.shuffle(len(train_points)).map(augment)...batch(BATCH_SIZE)``:
    a new order each epoch, each cloud jittered and its points shuffled."""

    def __init__(self, points, labels):
        super().__init__()
        self.points, self.labels = torch.from_numpy(points), torch.from_numpy(labels)
        self.on_epoch_begin()

    def __len__(self):
        return math.ceil(len(self.points) / BATCH_SIZE)

    def on_epoch_begin(self):
        self.order = torch.randperm(len(self.points))

    def __getitem__(self, index):
        pairs = [augment(self.points[i].clone(), self.labels[i]) for i in self.order[index * BATCH_SIZE:(index + 1) * BATCH_SIZE]]
        points, labels = zip(*pairs)
        return torch.stack(points).float(), torch.stack(labels)


# Section "Build a model".
def conv_bn(x, filters):
    x = layers.Conv1D(filters, kernel_size=1, padding="valid")(x)
    x = layers.BatchNormalization(momentum=0.0)(x)
    return layers.Activation("relu")(x)


def dense_bn(x, filters):
    x = layers.Dense(filters)(x)
    x = layers.BatchNormalization(momentum=0.0)(x)
    return layers.Activation("relu")(x)


class OrthogonalRegularizer(keras.regularizers.Regularizer):
    def __init__(self, num_features, l2reg=0.001):
        self.num_features = num_features
        self.l2reg = l2reg
        self.eye = torch.eye(num_features)

    def __call__(self, x):
        x = torch.reshape(x, (-1, self.num_features, self.num_features))
        xxt = torch.tensordot(x, x, dims=([2], [2]))
        xxt = torch.reshape(xxt, (-1, self.num_features, self.num_features))
        return torch.sum(self.l2reg * torch.square(xxt - self.eye))


def tnet(inputs, num_features):
    # Initialise bias as the identity matrix
    bias = keras.initializers.Constant(np.eye(num_features).flatten())
    reg = OrthogonalRegularizer(num_features)

    x = conv_bn(inputs, 32)
    x = conv_bn(x, 64)
    x = conv_bn(x, 512)
    x = layers.GlobalMaxPooling1D()(x)
    x = dense_bn(x, 256)
    x = dense_bn(x, 128)
    x = layers.Dense(
        num_features * num_features,
        kernel_initializer="zeros",
        bias_initializer=bias,
        activity_regularizer=reg,
    )(x)
    feat_T = layers.Reshape((num_features, num_features))(x)
    # Apply affine transformation to input features
    return layers.Dot(axes=(2, 1))([inputs, feat_T])


def pointnet():
    inputs = keras.Input(shape=(NUM_POINTS, 3))

    x = tnet(inputs, 3)
    x = conv_bn(x, 32)
    x = conv_bn(x, 32)
    x = tnet(x, 32)
    x = conv_bn(x, 32)
    x = conv_bn(x, 64)
    x = conv_bn(x, 512)
    x = layers.GlobalMaxPooling1D()(x)
    x = dense_bn(x, 256)
    x = layers.Dropout(0.3)(x)
    x = dense_bn(x, 128)
    x = layers.Dropout(0.3)(x)

    outputs = layers.Dense(NUM_CLASSES, activation="softmax")(x)

    model = keras.Model(inputs=inputs, outputs=outputs, name="pointnet")
    return model


def _numpy_orthogonal_penalty(x, k, l2reg):
    # l2reg · Σ ||M − I||²_F over the k × k blocks M of the products P[b, i, c, j] = Σ_l x_bil x_cjl
    # (shape (B, k, B, k)) read in memory order, as ops.reshape(xxt, (-1, k, k)) reads them
    m = x.reshape(-1, k, k)
    products = np.einsum("bil,cjl->bicj", m, m)
    blocks = products.reshape(-1, k, k)
    return l2reg * np.sum((blocks - np.eye(k)) ** 2)


def test_the_orthogonal_regularizer_is_its_sum_in_numpy():
    """Section "Build a model": ``OrthogonalRegularizer`` on a batch of flattened matrices.
    For one matrix it is the paper's l2reg · ||X Xᵀ − I||²; for a batch, ``tensordot``
    multiplies every matrix with every other and the reshape cuts those products into
    blocks in memory order, which Keras computes the same way."""
    rng = np.random.default_rng(0)
    for k, batch in ((3, 1), (3, 4), (5, 2)):
        x = rng.normal(size=(batch, k * k))
        reg = OrthogonalRegularizer(k, l2reg=0.01)
        reg.eye = reg.eye.double()
        got = float(reg(torch.from_numpy(x)))
        assert got == pytest.approx(_numpy_orthogonal_penalty(x, k, 0.01), rel=1e-10)
        if batch == 1:
            m = x.reshape(k, k)
            assert got == pytest.approx(0.01 * np.sum((m @ m.T - np.eye(k)) ** 2), rel=1e-10)
    identities = torch.eye(3).flatten().repeat(4, 1)
    assert float(OrthogonalRegularizer(3)(identities)) > 0  # blocks across pairs of matrices are no identities
    assert float(OrthogonalRegularizer(3)(identities[:1])) == 0.0


def test_the_tnet_starts_as_the_identity_and_its_dot_is_a_batched_matrix_product():
    """Section "Build a model": ``tnet`` as a model of its own."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input(shape=(NUM_POINTS, 3))
    model = keras.Model(inputs, tnet(inputs, 3))
    x = np.random.default_rng(2).normal(size=(4, NUM_POINTS, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), x, atol=1e-6)  # zero kernel, identity bias
    model(torch.from_numpy(x))
    identities = np.tile(np.eye(3).flatten(), (4, 1))
    assert [float(loss.detach()) for loss in model.losses] == [pytest.approx(_numpy_orthogonal_penalty(identities, 3, 0.001))]

    dense, dot = [layer for layer in model.layers if isinstance(layer, layers.Dense)][-1], model.layers[-1]
    assert isinstance(dot, layers.Dot)
    with torch.no_grad():
        dense.kernel.normal_(0, 0.1)  # now each cloud gets a matrix of its own
    penultimate = keras.Model(inputs, dense.output)
    feat_T = penultimate.predict(x, verbose=0).astype("float64").reshape(4, 3, 3)
    want = np.einsum("bnk,bkj->bnj", x.astype("float64"), feat_T)  # Dot(axes=(2, 1)): Σ_k x_nk T_kj
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-4, atol=1e-5)
    model(torch.from_numpy(x))
    assert float(model.losses[0].detach()) == pytest.approx(_numpy_orthogonal_penalty(feat_T, 3, 0.001), rel=1e-4)


def test_the_made_up_clouds_lie_on_their_surfaces_and_augment_jitters_and_shuffles():
    """Sections "Load dataset" (``parse_dataset`` replaced) and the ``augment`` map."""
    train_points, test_points, train_labels, test_labels, class_map = parse_dataset(NUM_POINTS, 3, 2)
    assert train_points.shape == (12, NUM_POINTS, 3) and test_points.shape == (8, NUM_POINTS, 3)
    assert train_points.dtype == np.float64
    assert np.bincount(train_labels).tolist() == [3, 3, 3, 3] and class_map[2] == "cylinder"
    sphere_radii = np.linalg.norm(train_points[train_labels == 0], axis=2)
    np.testing.assert_allclose(sphere_radii, sphere_radii[:, :1].repeat(NUM_POINTS, 1), rtol=1e-12)
    cube = train_points[train_labels == 1][0]
    z = cube[:, 2]
    assert np.isclose(np.abs(z).max(), np.abs(z)).mean() == pytest.approx(1 / 3, abs=0.1)  # top and bottom: 2 faces of 6
    cylinder = train_points[train_labels == 2][0]
    r, z = np.hypot(cylinder[:, 0], cylinder[:, 1]), cylinder[:, 2]
    assert np.all(np.isclose(r, r.max()) | np.isclose(np.abs(z), z.max()))  # side or caps

    torch.manual_seed(0)
    points = torch.from_numpy(train_points[0].copy())
    jittered, label = augment(points.clone(), 7)
    assert label == 7 and jittered.dtype == torch.float64
    torch.manual_seed(0)  # the same draws again: the noise first, then the order
    noise = torch.rand(points.shape, dtype=torch.float64) * 0.01 - 0.005
    order = torch.randperm(NUM_POINTS)
    assert order.tolist() != list(range(NUM_POINTS))
    offsets = jittered - points[order]
    np.testing.assert_allclose(offsets.numpy(), noise[order].numpy(), atol=1e-15)
    assert offsets.abs().max() <= 0.005 and offsets.abs().max() > 0.004


@pytest.fixture(scope="module")
def trained():
    """Sections "Load dataset", "Build a model" and "Train model"."""
    keras.utils.set_random_seed(seed=42)
    train_points, test_points, train_labels, test_labels, CLASS_MAP = parse_dataset(NUM_POINTS)
    train_size = 0.8
    order = np.random.default_rng(42).permutation(len(train_points))
    train_dataset_size = int(len(train_points) * train_size)
    train, val = order[:train_dataset_size], order[train_dataset_size:]
    train_dataset = AugmentedBatches(train_points[train], train_labels[train])
    validation_dataset = (train_points[val].astype("float32"), train_labels[val])

    model = pointnet()
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=keras.optimizers.Adam(learning_rate=0.001),
        metrics=["sparse_categorical_accuracy"],
    )
    history = model.fit(train_dataset, epochs=EPOCHS, validation_data=validation_dataset, verbose=0)
    return model, history, test_points.astype("float32"), test_labels


def test_pointnet_learns_the_shapes_far_above_chance(trained):
    """Sections "Train model" and "Visualize predictions"."""
    model, history, test_points, test_labels = trained
    assert model.input_shape == (None, NUM_POINTS, 3) and model.output_shape == (None, NUM_CLASSES)
    assert len(model.losses) == 2  # the two T-nets' orthogonality penalties
    loss = history.history["loss"]
    assert loss[-1] < 0.7 * loss[0]
    _, accuracy = model.evaluate(test_points, test_labels, batch_size=BATCH_SIZE, verbose=0)
    assert accuracy > 0.6  # chance is 0.25

    points, labels = test_points[::20][:8], test_labels[::20][:8]
    preds = model.predict(points, verbose=0)
    assert preds.shape == (8, NUM_CLASSES)
    np.testing.assert_allclose(preds.sum(axis=1), 1.0, rtol=1e-5)
    preds = np.argmax(preds, -1)
    assert (preds == labels).mean() >= 0.5


@keras.saving.register_serializable(package="pointnet_port")
class SavableOrthogonalRegularizer(OrthogonalRegularizer):
    def get_config(self):
        return {"num_features": self.num_features, "l2reg": self.l2reg}


def test_the_trained_pointnet_saves_and_loads_once_its_regularizer_has_a_config(trained, tmp_path):
    """The trained PointNet saved whole: refused with the example's regularizer (no
    ``get_config``, as Keras 3 refuses it), saved and loaded with the same predictions
    once the regularizer says its arguments."""
    model, _, test_points, _ = trained
    with pytest.raises(ValueError, match=r"expected the regularizer OrthogonalRegularizer to define get_config\(\).*"
                                         r"Fix: def get_config\(self\): return \{'num_features': self\.num_features"):
        model.save(tmp_path / "pointnet.keras")
    for layer in model.layers:
        reg = getattr(layer, "activity_regularizer", None)
        if isinstance(reg, OrthogonalRegularizer):
            layer.activity_regularizer = SavableOrthogonalRegularizer(reg.num_features, reg.l2reg)
    model.save(tmp_path / "pointnet.keras")
    loaded = keras.models.load_model(tmp_path / "pointnet.keras")
    regs = [layer.activity_regularizer for layer in loaded.layers if getattr(layer, "activity_regularizer", None)]
    assert [(type(r), r.num_features, r.l2reg) for r in regs] == [(SavableOrthogonalRegularizer, 3, 0.001),
                                                                   (SavableOrthogonalRegularizer, 32, 0.001)]
    np.testing.assert_allclose(loaded.predict(test_points, verbose=0), model.predict(test_points, verbose=0),
                               rtol=1e-5, atol=1e-6)
