"""keras.io's "Introduction to Keras for engineers" guide (Keras 3), ported as
a learner would: ``import brainnet as keras``, the guide's code otherwise as
written, ``keras.ops.matmul`` as ``torch.matmul`` and ``keras.random`` as
torch's generator (the spellings docs/keras.md gives), on real MNIST.

Slices of the data and one or two epochs keep the file short (the guide
trains 20 epochs on 60,000 images); the tests check what the guide's code
promises: shapes, files, a model that reloads to the same predictions,
``evaluate`` equal to its NumPy definition on ``predict``'s output, and
custom layers equal to their equations.

What the port found: a ``tf.data.Dataset`` given to ``fit`` failed inside
NumPy (``float() argument must be ...``); brainnet reads no ``tf.data`` (it
has no TensorFlow), and now refuses such an iterable with the fix. And the
guide's ``MyDense`` (its own ``call``, ``self.activation``) crashed ``fit`` as
the softmax output layer of a Sequential or functional model; it now trains
as in Keras.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    """The guide's "Here's the data" section, as written (load_data() finds the files
    through BRAINNET_DATA_DIR), then the first 256 training and 128 test images."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    # Scale images to the [0, 1] range
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    # Make sure images have shape (28, 28, 1)
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)
    assert x_train.shape == (60000, 28, 28, 1) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28, 1) and y_test.shape == (10000,)
    return x_train[:256], y_train[:256], x_test[:128], y_test[:128]


def test_the_mnist_convnet_trains_checkpoints_saves_reloads_and_predicts(mnist, tmp_path, monkeypatch):
    """Section "A first example: A MNIST convnet": the guide's Sequential convnet,
    compile, fit with ModelCheckpoint + EarlyStopping and validation_split=0.15,
    evaluate, save, keras.saving.load_model, predict."""
    x_train, y_train, x_test, y_test = mnist
    monkeypatch.chdir(tmp_path)  # the checkpoints are written to the working directory
    keras.utils.set_random_seed(0)
    num_classes = 10
    input_shape = (28, 28, 1)
    model = keras.Sequential([
        keras.layers.Input(shape=input_shape),
        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Conv2D(128, kernel_size=(3, 3), activation="relu"),
        keras.layers.Conv2D(128, kernel_size=(3, 3), activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])
    lines = []
    model.summary(print_fn=lines.append)
    assert "Total params: 260,298" in lines  # the guide's summary (Keras 3) shows the same count
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(),
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
    )
    batch_size = 128
    epochs = 2
    callbacks = [
        keras.callbacks.ModelCheckpoint(filepath="model_at_epoch_{epoch}.keras"),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=2),
    ]
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.15,
                        callbacks=callbacks, verbose=0)
    assert sorted(history.history) == ["acc", "loss", "val_acc", "val_loss"]
    assert history.history["loss"][1] < history.history["loss"][0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_at_epoch_1.keras", "model_at_epoch_2.keras"]
    score = model.evaluate(x_test, y_test, verbose=0)

    model.save("final_model.keras")
    model = keras.saving.load_model("final_model.keras")
    predictions = model.predict(x_test, verbose=0)
    assert predictions.shape == (128, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)
    # evaluate's [loss, acc] is their NumPy definition on the reloaded model's predictions
    p_true = predictions[np.arange(len(y_test)), y_test].astype("float64")
    np.testing.assert_allclose(score[0], -np.log(p_true).mean(), rtol=1e-4)
    assert score[1] == pytest.approx(np.mean(predictions.argmax(axis=1) == y_test))
    last = keras.saving.load_model("model_at_epoch_2.keras")  # the last checkpoint is the final model
    np.testing.assert_allclose(last.predict(x_test[:8], verbose=0), predictions[:8], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- custom components
class MyDense(keras.layers.Layer):
    def __init__(self, units, activation=None, name=None):
        super().__init__(name=name)
        self.units = units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        self.w = self.add_weight(
            shape=(input_dim, self.units),
            initializer=keras.initializers.GlorotNormal(),
            name="kernel",
            trainable=True,
        )
        self.b = self.add_weight(
            shape=(self.units,),
            initializer=keras.initializers.Zeros(),
            name="bias",
            trainable=True,
        )

    def call(self, inputs):
        x = torch.matmul(inputs, self.w) + self.b  # keras.ops.matmul(inputs, self.w) + self.b
        return self.activation(x)


class MyDropout(keras.layers.Layer):
    def __init__(self, rate, name=None):
        super().__init__(name=name)
        self.rate = rate
        self.seed_generator = torch.Generator().manual_seed(1337)  # keras.random.SeedGenerator(1337)

    def call(self, inputs):
        # keras.random.dropout(inputs, self.rate, seed=self.seed_generator)
        keep = torch.rand(inputs.shape, generator=self.seed_generator) >= self.rate
        return inputs * keep / (1 - self.rate)


class MyModel(keras.Model):
    def __init__(self, num_classes):
        super().__init__()
        self.conv_base = keras.Sequential([
            keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Conv2D(128, kernel_size=(3, 3), activation="relu"),
            keras.layers.Conv2D(128, kernel_size=(3, 3), activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
        ])
        self.dp = MyDropout(0.5)
        self.dense = MyDense(num_classes, activation="softmax")

    def call(self, x):
        x = self.conv_base(x)
        x = self.dp(x)
        return self.dense(x)


def _compiled_model():
    model = MyModel(num_classes=10)
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(),
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
    )
    return model


def test_the_custom_dense_and_dropout_layers_compute_their_equations():
    """Section "Writing cross-framework custom components": MyDense is
    softmax(x·W + b) (checked in NumPy, float64) with 2 trainable weights; MyDropout
    keeps each value with probability 1 − rate, scaled by 1/(1 − rate), drawn from
    its own seeded generator (the same seed gives the same mask)."""
    layer = MyDense(4, activation="softmax")
    x = np.random.default_rng(0).normal(size=(5, 3))
    y = layer(torch.from_numpy(x).float()).detach().numpy()
    w, b = (v.detach().double().numpy() for v in (layer.w, layer.b))
    z = x @ w + b
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(y, expected / expected.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-6)
    assert [tuple(v.shape) for v in layer.trainable_weights] == [(3, 4), (4,)]
    np.testing.assert_array_equal(layer.b.detach().numpy(), 0.0)

    ones = torch.ones(200, 50)
    first, second = MyDropout(0.5)(ones), MyDropout(0.5)(ones)
    torch.testing.assert_close(first, second, rtol=0, atol=0)  # SeedGenerator(1337) in both
    assert set(first.unique().tolist()) == {0.0, 2.0}
    assert abs(float((first == 0).float().mean()) - 0.5) < 0.02


def test_the_custom_dense_as_the_last_layer_of_sequential_and_functional_models_trains(mnist):
    """Section "Writing cross-framework custom components", MyDense used as a learner
    would next: the softmax output layer of a Sequential and of a functional model.
    fit crashed (MyDense must implement call_pre_activation) because brainnet took
    self.activation for a final activation it could fuse with the cross-entropy; a
    layer with its own call is now taken as it is, as in Keras: evaluate's loss is the
    cross-entropy of predict's probabilities (NumPy), and training lowers it."""
    x_train, y_train, _, _ = mnist
    x, y = x_train[:128], y_train[:128]
    inputs = keras.Input(shape=(28, 28, 1))
    functional = keras.Model(inputs, MyDense(10, activation="softmax")(keras.layers.Flatten()(inputs)))
    sequential = keras.Sequential([keras.Input(shape=(28, 28, 1)), keras.layers.Flatten(),
                                   MyDense(10, activation="softmax")])
    for model in (sequential, functional):
        keras.utils.set_random_seed(3)
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(), optimizer=keras.optimizers.Adam(1e-2))
        before = model.evaluate(x, y, verbose=0)
        model.fit(x, y, epochs=3, batch_size=32, verbose=0)
        loss = model.evaluate(x, y, verbose=0)
        p = model.predict(x, verbose=0).astype("float64")
        np.testing.assert_allclose(loss, -np.log(p[np.arange(len(y)), y]).mean(), rtol=1e-4)
        assert loss < 0.5 * before


def test_the_subclassed_model_trains_on_arrays_and_on_torch_dataloaders(mnist):
    """Sections "Writing cross-framework custom components" (MyModel compiled and fit
    on the arrays with validation_split=0.15) and "Training models on arbitrary data
    sources" (the same model fit on PyTorch DataLoaders with validation_data)."""
    x_train, y_train, x_test, y_test = mnist
    batch_size = 128
    keras.utils.set_random_seed(1)
    model = _compiled_model()
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=1, validation_split=0.15, verbose=0)
    assert sorted(history.history) == ["acc", "loss", "val_acc", "val_loss"]
    assert len(model.trainable_weights) == 10  # four conv kernels and biases, MyDense's w and b
    assert tuple(model.dense.w.shape) == (128, 10)

    # Create a TensorDataset
    train_torch_dataset = torch.utils.data.TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train))
    val_torch_dataset = torch.utils.data.TensorDataset(torch.from_numpy(x_test), torch.from_numpy(y_test))
    # Create a DataLoader
    train_dataloader = torch.utils.data.DataLoader(train_torch_dataset, batch_size=batch_size, shuffle=True)
    val_dataloader = torch.utils.data.DataLoader(val_torch_dataset, batch_size=batch_size, shuffle=False)
    model = _compiled_model()
    history = model.fit(train_dataloader, epochs=1, validation_data=val_dataloader, verbose=0)
    assert sorted(history.history) == ["acc", "loss", "val_acc", "val_loss"]
    probabilities = model.predict(x_test[:16], verbose=0)
    assert probabilities.shape == (16, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


class _BatchedDataset:
    """What tf.data.Dataset.from_tensor_slices((x, y)).batch(n) is to fit: an iterable
    of (x, y) batches that is neither an array nor a torch data source."""

    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size

    def __iter__(self):
        for i in range(0, len(self.x), self.batch_size):
            yield self.x[i:i + self.batch_size], self.y[i:i + self.batch_size]


def test_a_tf_data_style_dataset_is_refused_with_the_fix_and_the_fix_trains(mnist):
    """Section "Training models on arbitrary data sources", its tf.data part: brainnet
    has no TensorFlow and reads no tf.data.Dataset (docs/keras.md); such an iterable of
    batches is refused with the fix, and the fix (an iterator with steps_per_epoch)
    trains."""
    x_train, y_train, x_test, y_test = mnist
    x_train, y_train = x_train[:128], y_train[:128]
    train_dataset = _BatchedDataset(x_train, y_train, 64)
    model = keras.Sequential([keras.Input(shape=(28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(), optimizer=keras.optimizers.Adam(1e-2))
    message = (r"x: expected arrays \(NumPy, torch tensors, pandas, lists\) or a batch source \(a torch DataLoader "
               r"or Dataset, a brainnet.utils.PyDataset, an iterator\), got a _BatchedDataset, an iterable that is "
               r"none of these \(brainnet reads no tf.data.Dataset\). Fix: pass an iterator over its \(x, y\) "
               r"batches with steps_per_epoch")
    with pytest.raises(TypeError, match=message):
        model.fit(train_dataset, epochs=1, verbose=0)
    with pytest.raises(TypeError, match=message):
        model.predict(train_dataset, verbose=0)
    before = model.evaluate(x_train, y_train, verbose=0)
    model.fit(iter(train_dataset), steps_per_epoch=2, epochs=1, verbose=0)
    assert model.evaluate(x_train, y_train, verbose=0) < before
