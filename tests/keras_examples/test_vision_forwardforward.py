"""keras.io example "Using Forward-Forward Algorithm for Image Classification"
(https://keras.io/examples/vision/forwardforward/). The stored copy is the
TensorFlow version (``tf.GradientTape``, ``xla.dynamic_update_slice``,
``tf.map_fn``); it is ported as a learner would with ``import brainnet as
keras`` and the tf calls written as torch: the tape is ``zero_grad``,
``backward`` and the weights' ``.grad``, ``tf.stop_gradient`` is
``.detach()``, ``dynamic_update_slice`` is ``torch.cat`` of the slices
around the label, ``tf.map_fn`` is a comprehension stacked with
``torch.stack``, ``tf.random.shuffle(y)`` is ``y[torch.randperm(len(y))]``,
the ``tf.Variable`` counters are ``add_weight`` states, and sklearn's
``accuracy_score`` is a NumPy mean. Three lines change for brainnet and
Keras 3 alike: each ``FFDense`` gets an Adam of its own (the layer
optimizer's learning rate), as one optimizer is built for one set of
weights (the TF-2 optimizer of the example made slots for each new
variable); ``compile`` leaves out ``jit_compile=True``, refused with that fix
for a model whose ``train_step`` runs eagerly; and ``fit`` takes the arrays
with ``batch_size`` in place of a ``tf.data`` pipeline. The plots are left
out. Shortened for CI: 1,000 training images in one batch (in place of
60,000), 4 epochs (in place of 250, each still 50 steps per layer), layers of
100 units (in place of 500: one epoch at 500 takes about 17 s on one core),
and 300 test images. The tests check the goodness loss and the label overlay
against NumPy, that each layer trains on its own loss, and test accuracy far
above chance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras

N_TRAIN, N_TEST, UNITS, EPOCHS = 1000, 300, 100, 4  # the example: 60,000, 10,000, 500, 250


class FFDense(keras.layers.Layer):
    """A Dense layer trained by its own Forward-Forward loss (used inside FFNetwork)."""

    def __init__(
        self,
        units,
        optimizer,
        loss_metric,
        num_epochs=50,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(
            units=units,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
        )
        self.relu = keras.layers.ReLU()
        self.optimizer = optimizer
        self.loss_metric = loss_metric
        self.threshold = 1.5
        self.num_epochs = num_epochs

    def call(self, x):
        # each sample scaled to unit length first, so only its direction reaches the layer
        x_norm = torch.linalg.vector_norm(x, ord=2, dim=1, keepdim=True)
        x_norm = x_norm + 1e-4
        x_dir = x / x_norm
        res = self.dense(x_dir)
        return self.relu(res)

    def forward_forward(self, x_pos, x_neg):
        # goodness g = mean(h²): pushed above the threshold for positive samples, below for negative ones
        for i in range(self.num_epochs):
            self.dense.zero_grad()
            g_pos = torch.mean(torch.pow(self.call(x_pos), 2), 1)
            g_neg = torch.mean(torch.pow(self.call(x_neg), 2), 1)
            loss = torch.log(
                1
                + torch.exp(
                    torch.cat([-g_pos + self.threshold, g_neg - self.threshold], 0)
                )
            )
            mean_loss = torch.mean(loss).to(torch.float32)
            self.loss_metric.update_state([mean_loss.detach()])
            # the gradient stays inside this layer: its inputs were detached by the layer before
            mean_loss.backward()
            gradients = [w.grad for w in self.dense.trainable_weights]
            self.optimizer.apply_gradients(zip(gradients, self.dense.trainable_weights))
        return (
            self.call(x_pos).detach(),
            self.call(x_neg).detach(),
            self.loss_metric.result(),
        )


class FFNetwork(keras.Model):
    """FFDense layers trained one after the other by train_step; predicts the label of most goodness."""

    def __init__(
        self, dims, layer_optimizer=keras.optimizers.Adam(learning_rate=0.03), **kwargs
    ):
        super().__init__(**kwargs)
        self.layer_optimizer = layer_optimizer
        self.loss_var = self.add_weight("loss_var", torch.tensor(0.0), trainable=False)
        self.loss_count = self.add_weight("loss_count", torch.tensor(0.0), trainable=False)
        self.layer_list = [keras.Input(shape=(dims[0],))]
        for d in range(len(dims) - 1):
            self.layer_list += [
                FFDense(
                    dims[d + 1],
                    # one Adam per layer (the example shares self.layer_optimizer)
                    optimizer=keras.optimizers.Adam(learning_rate=self.layer_optimizer.learning_rate),
                    loss_metric=keras.metrics.Mean(),
                )
            ]

    def overlay_y_on_x(self, data):
        # the label written as a one-hot in the first 10 pixels, at the image's brightest value
        X_sample, y_sample = data
        max_sample = torch.amax(X_sample, dim=0, keepdim=True)
        max_sample = max_sample.to(torch.float64)
        X_zeros = torch.zeros([10], dtype=torch.float64)
        X_update = torch.cat([X_zeros[:y_sample], max_sample, X_zeros[y_sample + 1:]])
        X_sample = torch.cat([X_update, X_sample[10:]])
        return X_sample, y_sample

    @torch.no_grad()
    def predict_one_sample(self, x):
        # the goodness of every layer summed, for the image overlaid with each of the 10 labels
        goodness_per_label = []
        x = torch.reshape(x, [x.shape[0] * x.shape[1]])
        for label in range(10):
            h, label = self.overlay_y_on_x(data=(x, label))
            h = torch.reshape(h, [-1, h.shape[0]])
            goodness = []
            for layer_idx in range(1, len(self.layer_list)):
                layer = self.layer_list[layer_idx]
                h = layer(h)
                goodness += [torch.mean(torch.pow(h, 2), 1)]
            goodness_per_label += [
                torch.unsqueeze(torch.sum(torch.stack(goodness), dim=None, keepdim=True), 1)
            ]
        goodness_per_label = torch.cat(goodness_per_label, 1)
        return torch.argmax(goodness_per_label, 1).to(torch.float64)

    def predict(self, data):
        x = data
        preds = torch.stack([self.predict_one_sample(sample) for sample in x])
        return np.asarray(preds, dtype=int)

    def train_step(self, data):
        x, y = data
        x = torch.reshape(x, [-1, x.shape[1] * x.shape[2]])  # (B, 784)
        # positive samples carry their own label, negative ones a shuffled one
        x_pos, y = map(torch.stack, zip(*[self.overlay_y_on_x((xi, yi)) for xi, yi in zip(x, y)]))
        random_y = y[torch.randperm(len(y))]
        x_neg, y = map(torch.stack, zip(*[self.overlay_y_on_x((xi, yi)) for xi, yi in zip(x, random_y)]))
        h_pos, h_neg = x_pos, x_neg
        for idx, layer in enumerate(self.layers):
            if isinstance(layer, FFDense):
                print(f"Training layer {idx+1} now : ")
                h_pos, h_neg, loss = layer.forward_forward(h_pos, h_neg)
                self.loss_var += loss
                self.loss_count += 1.0
            else:
                print(f"Passing layer {idx+1} now : ")
                x = layer(x)
        mean_res = torch.divide(self.loss_var, self.loss_count)
        return {"FinalLoss": mean_res}


def _numpy_ff_loss(x_pos, x_neg, kernel, bias, threshold=1.5):
    # h = relu(x / (‖x‖ + 1e-4) · W + b), g = mean_j h_j², loss = mean(softplus([θ − g_pos, g_neg − θ]))
    def goodness(x):
        h = np.maximum((x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-4)) @ kernel + bias, 0)
        return np.mean(h**2, axis=1)

    z = np.concatenate([threshold - goodness(x_pos), goodness(x_neg) - threshold])
    return np.mean(np.log1p(np.exp(z)))


def test_the_label_overlay_writes_a_one_hot_at_the_brightest_value():
    """Section "Define the FFNetwork Custom Model": overlay_y_on_x."""
    model = FFNetwork(dims=[784, 8])
    x = np.random.default_rng(0).uniform(0, 0.8, size=784)
    for label in (0, 3, 9):
        got, y = model.overlay_y_on_x((torch.from_numpy(x), label))
        want = x.copy()
        want[:10] = 0
        want[label] = x.max()
        assert y == label and got.dtype == torch.float64
        np.testing.assert_array_equal(got.numpy(), want)


def test_each_ff_layer_steps_on_its_own_goodness_loss_in_numpy():
    """Section "Define FFDense custom layer": forward_forward."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x_pos, x_neg = rng.uniform(size=(16, 20)), rng.uniform(size=(16, 20))
    layer = FFDense(12, optimizer=keras.optimizers.Adam(learning_rate=0.03), loss_metric=keras.metrics.Mean(),
                    num_epochs=1)
    layer(torch.from_numpy(x_pos))
    kernel, bias = (w.detach().double().numpy().copy() for w in (layer.dense.kernel, layer.dense.bias))
    h_pos, h_neg, loss = layer.forward_forward(torch.from_numpy(x_pos), torch.from_numpy(x_neg))
    assert float(loss) == pytest.approx(_numpy_ff_loss(x_pos, x_neg, kernel, bias), rel=1e-5)
    assert not h_pos.requires_grad and tuple(h_neg.shape) == (16, 12)
    # Adam's first step moves each weight with a gradient by about the learning rate
    step = layer.dense.kernel.detach().double().numpy() - kernel
    assert np.max(np.abs(step)) == pytest.approx(0.03, rel=1e-3)
    layer.num_epochs = 30
    layer.loss_metric.reset_state()
    _, _, later = layer.forward_forward(torch.from_numpy(x_pos), torch.from_numpy(x_neg))
    kernel, bias = (w.detach().double().numpy() for w in (layer.dense.kernel, layer.dense.bias))
    assert _numpy_ff_loss(x_pos, x_neg, kernel, bias) < float(loss) - 0.05


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    """Sections "Load the dataset" and "Convert MNIST NumPy arrays", on slices."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train = x_train.astype(float) / 255
    x_test = x_test.astype(float) / 255
    y_train = y_train.astype(int)
    y_test = y_test.astype(int)
    return x_train[:N_TRAIN], y_train[:N_TRAIN], x_test[:N_TEST], y_test[:N_TEST]


def test_the_forward_forward_network_learns_mnist(mnist):
    """Sections "Fit the network and visualize results" and "Perform inference and testing"."""
    x_train, y_train, x_test, y_test = mnist
    keras.utils.set_random_seed(0)
    model = FFNetwork(dims=[784, UNITS, UNITS])
    assert [type(layer).__name__ for layer in model.layers] == ["FFDense", "FFDense"]
    with pytest.raises(ValueError, match=r"expected jit_compile='auto' or False for a model that overrides "
                                         r"train_step .* Fix: model\.compile\(\.\.\., jit_compile=False\)"):
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.03), loss="mse", jit_compile=True,
                      metrics=[keras.metrics.Mean()])
        model.fit(x_train, y_train, batch_size=N_TRAIN, epochs=1, verbose=0)

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.03),
        loss="mse",
        metrics=[keras.metrics.Mean()],
    )
    history = model.fit(x_train, y_train, batch_size=N_TRAIN, epochs=EPOCHS, verbose=0)
    losses = history.history["FinalLoss"]
    assert len(losses) == EPOCHS and losses[-1] < losses[0] < np.log1p(np.exp(1.5))
    assert float(model.loss_count) == 2 * EPOCHS  # one forward_forward per layer and step
    # each layer's metric saw its 50 steps of the last epoch: fit resets the metrics layers keep, as Keras 3
    assert [int(layer.loss_metric.count) for layer in model.layers] == [50] * 2

    preds = model.predict(torch.from_numpy(x_test))
    preds = preds.reshape((preds.shape[0], preds.shape[1]))
    assert preds.shape == (N_TEST, 1)
    results = np.mean(preds[:, 0] == y_test)
    print(f"Test Accuracy score : {results*100}%")
    assert results > 0.3  # chance is 0.1
