"""keras.io example "Keras debugging tips"
(https://keras.io/examples/keras_recipes/debugging_tips/), ported as a
learner would and its advice run for real: ``import brainnet as keras`` and
``from brainnet import layers`` in place of the TensorFlow imports (the
stored copy is the tf.keras version), the TensorFlow calls as torch calls:
``tf.random.normal(shape=(2, 5))`` is ``torch.randn(2, 5)``, ``tf.nn.relu``
is ``torch.relu``, ``tf.concat(xs, axis=a)`` is ``torch.cat(xs, dim=a)``,
``tf.matmul`` is ``torch.matmul``, ``tf.reduce_max`` / ``reduce_min`` /
``reduce_mean`` are ``torch.max`` / ``min`` / ``mean``, and
``tf.math.l2_normalize(w)`` (no axis: over all of ``w``) is
``w / torch.sqrt(torch.clamp(torch.sum(w ** 2), min=1e-12))``. The two nested
``tf.GradientTape``s of its ``train_step`` are the forward pass then
``torch.autograd.grad(loss, trainable_vars, create_graph=True)`` (the first
tape's gradients, kept differentiable for the second tape) and
``torch.autograd.grad(dl_dw, trainable_vars, grad_outputs=[torch.ones_like(g)
for g in dl_dw])`` (``tape2.gradient`` of a list of tensors differentiates
the sum of all their entries). Keras 2's ``self.compiled_loss`` and
``self.compiled_metrics.update_state`` are kept as written (deprecated shims
that warn, in Keras 3 too; the warnings are filtered here, and so is
torch's warning that ``"%.4f" % torch.max(g)`` reads a tensor that requires
grad).

Shortened for CI: the first 12,000 MNIST training images; the three
training runs of Tip 3 as written (3 epochs, then 10 printed steps, then 5
epochs), the final run 10 epochs in place of 50. The printed run is fit with
``shuffle=False`` so that the test knows the first batch whose gradients are
printed. brainnet runs each step eagerly unless ``compile(jit_compile=True)``,
so ``run_eagerly=True`` there means "never compiled" and the prints appear
on every step with or without it (Keras without it prints once, while
tracing). Tip 2's model is built as written (its vocabulary of 10,000 words
included) and drawn by brainnet's ``plot_model`` (matplotlib, no pydot).
Tip 4, which the example shows as text only, runs for real:
``keras.callbacks.TensorBoard(log_dir=log_dir, profile_batch=(10, 15))``
(torch's profiler; its trace a ``*.pt.trace.json`` under
``log_dir/train/plugins/profile/``) on one epoch of 16 batches of the final
model, its ``dataset`` a ``DataLoader`` of 4,096 MNIST images.

Each test names the tip it runs and checks what the tip claims: the buggy
layer fails on the shapes its printed shapes show, the fixed one computes
the antirectifier in NumPy; the summary and the plot show each layer's
output shape and the parameter counts add up; the custom step's printed
first- and second-order gradient statistics equal a NumPy backward pass and
its Hessian-vector product on the first batch, every step is printed, the
unnormalized combination does not learn while the normalized ones do, the
last reaching well above chance; and the profile holds batches 10 to 15,
each with the matrix products of its step.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

pytestmark = [
    pytest.mark.filterwarnings("ignore:`model.compiled_loss\\(\\)` is deprecated"),
    pytest.mark.filterwarnings("ignore:`model.compiled_metrics` is deprecated"),
    # "%.4f" % torch.max(g): torch warns that g, made with create_graph=True, requires grad
    pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True to a scalar"),
]


# ------------------------------------------------------------------ Tip 1
class MyAntirectifierWithABug(layers.Layer):
    def build(self, input_shape):
        output_dim = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(output_dim * 2, output_dim),
            initializer="he_normal",
            name="kernel",
            trainable=True,
        )

    def call(self, inputs):
        # Take the positive part of the input
        pos = torch.relu(inputs)
        # Take the negative part of the input
        neg = torch.relu(-inputs)
        # Concatenate the positive and negative parts
        concatenated = torch.cat([pos, neg], dim=0)
        # Project the concatenation down to the same dimensionality as the input
        return torch.matmul(concatenated, self.kernel)


class MyAntirectifierWithPrints(MyAntirectifierWithABug):
    def call(self, inputs):
        pos = torch.relu(inputs)
        neg = torch.relu(-inputs)
        print("pos.shape:", pos.shape)
        print("neg.shape:", neg.shape)
        concatenated = torch.cat([pos, neg], dim=0)
        print("concatenated.shape:", concatenated.shape)
        print("kernel.shape:", self.kernel.shape)
        return torch.matmul(concatenated, self.kernel)


class MyAntirectifier(MyAntirectifierWithABug):
    def call(self, inputs):
        pos = torch.relu(inputs)
        neg = torch.relu(-inputs)
        print("pos.shape:", pos.shape)
        print("neg.shape:", neg.shape)
        concatenated = torch.cat([pos, neg], dim=1)
        print("concatenated.shape:", concatenated.shape)
        print("kernel.shape:", self.kernel.shape)
        return torch.matmul(concatenated, self.kernel)


def test_tip_1_the_layer_tested_alone_shows_its_bug_and_then_computes_the_antirectifier(capsys):
    """Tip 1: test each part before you test the whole."""
    x = torch.randn(2, 5)
    with pytest.raises(RuntimeError, match=r"4x5 and 10x5"):  # TensorFlow: In[0]: [4,5], In[1]: [10,5]
        MyAntirectifierWithABug()(x)

    with pytest.raises(RuntimeError, match=r"4x5 and 10x5"):
        MyAntirectifierWithPrints()(x)
    printed = capsys.readouterr().out
    assert "concatenated.shape: torch.Size([4, 5])" in printed  # the batch axis doubled: the wrong axis
    assert "kernel.shape: torch.Size([10, 5])" in printed

    layer = MyAntirectifier()
    y = layer(x)
    printed = capsys.readouterr().out
    assert printed.splitlines() == ["pos.shape: torch.Size([2, 5])", "neg.shape: torch.Size([2, 5])",
                                    "concatenated.shape: torch.Size([2, 10])", "kernel.shape: torch.Size([10, 5])"]
    # y = [max(x, 0), max(-x, 0)] · K
    x64, kernel = x.double().numpy(), layer.kernel.detach().double().numpy()
    want = np.concatenate([np.maximum(x64, 0), np.maximum(-x64, 0)], axis=1) @ kernel
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ Tip 2
num_tags = 12  # Number of unique issue tags
num_words = 10000  # Size of vocabulary obtained when preprocessing text data
num_departments = 4  # Number of departments for predictions


def _issue_model():
    title_input = keras.Input(shape=(None,), name="title")  # Variable-length sequence of ints
    body_input = keras.Input(shape=(None,), name="body")  # Variable-length sequence of ints
    tags_input = keras.Input(shape=(num_tags,), name="tags")  # Binary vectors of size `num_tags`

    # Embed each word in the title into a 64-dimensional vector
    title_features = layers.Embedding(num_words, 64)(title_input)
    # Embed each word in the text into a 64-dimensional vector
    body_features = layers.Embedding(num_words, 64)(body_input)

    # Reduce sequence of embedded words in the title into a single 128-dimensional vector
    title_features = layers.LSTM(128)(title_features)
    # Reduce sequence of embedded words in the body into a single 32-dimensional vector
    body_features = layers.LSTM(32)(body_features)

    # Merge all available features into a single large vector via concatenation
    x = layers.concatenate([title_features, body_features, tags_input])

    # Stick a logistic regression for priority prediction on top of the features
    priority_pred = layers.Dense(1, name="priority")(x)
    # Stick a department classifier on top of the features
    department_pred = layers.Dense(num_departments, name="department")(x)

    # Instantiate an end-to-end model predicting both priority and department
    return keras.Model(
        inputs=[title_input, body_input, tags_input],
        outputs=[priority_pred, department_pred],
    )


def test_tip_2_summary_and_plot_model_show_each_layers_output_shape(tmp_path, monkeypatch, capsys):
    """Tip 2: use model.summary() and plot_model() to check layer output shapes."""
    keras.backend.clear_session()  # layer names from lstm, not lstm_3, whatever ran before in this process
    model = _issue_model()
    model.summary()
    summary = capsys.readouterr().out
    rows = {line.split()[0]: line for line in summary.splitlines() if line[:1].isalpha()}
    assert "(None, None, 64)" in rows["embedding"] and "(None, None, 64)" in rows["embedding_1"]
    assert "(None, 128)" in rows["lstm"] and "(None, 32)" in rows["lstm_1"]
    assert "(None, 172)" in rows["concatenate"]  # 128 + 32 + 12
    assert "(None, 1)" in rows["priority"] and "(None, 4)" in rows["department"]
    lstm = lambda units, features: 4 * ((features + units) * units + units)  # noqa: E731
    expected = 2 * num_words * 64 + lstm(128, 64) + lstm(32, 64) + (172 + 1) + (172 * 4 + 4)
    assert model.count_params() == expected
    assert f"Total params: {expected:,}" in summary

    monkeypatch.chdir(tmp_path)
    keras.utils.plot_model(model, show_shapes=True)
    with open(tmp_path / "model.png", "rb") as picture:
        assert picture.read(8) == b"\x89PNG\r\n\x1a\n"
    layout = keras.models.visualization.model_layout(model, show_shapes=True)
    drawn = {box.layer.name: " ".join(box.lines) for box in layout.boxes if box.layer is not None}
    assert "(None, 172)" in drawn["concatenate"] and "(None, 4)" in drawn["department"]
    assert len(layout.edges) == 9  # 2 + 2 into the LSTMs, 3 into the concatenation, 2 out of it


# ------------------------------------------------------------------ Tip 3
def l2_normalize(w):
    return w / torch.sqrt(torch.clamp(torch.sum(w**2), min=1e-12))  # tf.math.l2_normalize(w)


class MyModel(keras.Model):
    """The first version: 0.5 · second-order + 0.5 · first-order gradients."""

    def train_step(self, data):
        inputs, targets = data
        trainable_vars = self.trainable_variables
        # with tf.GradientTape() as tape2: with tf.GradientTape() as tape1:
        preds = self(inputs, training=True)  # Forward pass
        # Compute the loss value
        # (the loss function is configured in `compile()`)
        loss = self.compiled_loss(targets, preds)
        # Compute first-order gradients
        dl_dw = torch.autograd.grad(loss, trainable_vars, create_graph=True)  # tape1.gradient
        # Compute second-order gradients
        d2l_dw2 = torch.autograd.grad(dl_dw, trainable_vars, grad_outputs=[torch.ones_like(g) for g in dl_dw])

        # Combine first-order and second-order gradients
        grads = [0.5 * w1 + 0.5 * w2 for (w1, w2) in zip(d2l_dw2, dl_dw)]

        # Update weights
        self.optimizer.apply_gradients(zip(grads, trainable_vars))

        # Update metrics (includes the metric that tracks the loss)
        self.compiled_metrics.update_state(targets, preds)
        # Return a dict mapping metric names to current value
        return {m.name: m.result() for m in self.metrics}


class MyModelWithPrints(keras.Model):
    def train_step(self, data):
        print()
        print("----Start of step: %d" % (self.step_counter,))
        self.step_counter += 1

        inputs, targets = data
        trainable_vars = self.trainable_variables
        preds = self(inputs, training=True)  # Forward pass
        loss = self.compiled_loss(targets, preds)
        dl_dw = torch.autograd.grad(loss, trainable_vars, create_graph=True)
        d2l_dw2 = torch.autograd.grad(dl_dw, trainable_vars, grad_outputs=[torch.ones_like(g) for g in dl_dw])

        print("Max of dl_dw[0]: %.4f" % torch.max(dl_dw[0]))
        print("Min of dl_dw[0]: %.4f" % torch.min(dl_dw[0]))
        print("Mean of dl_dw[0]: %.4f" % torch.mean(dl_dw[0]))
        print("-")
        print("Max of d2l_dw2[0]: %.4f" % torch.max(d2l_dw2[0]))
        print("Min of d2l_dw2[0]: %.4f" % torch.min(d2l_dw2[0]))
        print("Mean of d2l_dw2[0]: %.4f" % torch.mean(d2l_dw2[0]))

        # Combine first-order and second-order gradients
        grads = [0.5 * w1 + 0.5 * w2 for (w1, w2) in zip(d2l_dw2, dl_dw)]

        # Update weights
        self.optimizer.apply_gradients(zip(grads, trainable_vars))

        # Update metrics (includes the metric that tracks the loss)
        self.compiled_metrics.update_state(targets, preds)
        # Return a dict mapping metric names to current value
        return {m.name: m.result() for m in self.metrics}


class MyModelNormalized(keras.Model):
    first_weight, second_weight = 0.5, 0.5  # the final version: 0.2 and 0.8

    def train_step(self, data):
        inputs, targets = data
        trainable_vars = self.trainable_variables
        preds = self(inputs, training=True)  # Forward pass
        loss = self.compiled_loss(targets, preds)
        dl_dw = torch.autograd.grad(loss, trainable_vars, create_graph=True)
        d2l_dw2 = torch.autograd.grad(dl_dw, trainable_vars, grad_outputs=[torch.ones_like(g) for g in dl_dw])

        dl_dw = [l2_normalize(w) for w in dl_dw]
        d2l_dw2 = [l2_normalize(w) for w in d2l_dw2]

        # Combine first-order and second-order gradients
        grads = [self.first_weight * w1 + self.second_weight * w2 for (w1, w2) in zip(d2l_dw2, dl_dw)]

        # Update weights
        self.optimizer.apply_gradients(zip(grads, trainable_vars))

        # Update metrics (includes the metric that tracks the loss)
        self.compiled_metrics.update_state(targets, preds)
        # Return a dict mapping metric names to current value
        return {m.name: m.result() for m in self.metrics}


class MyModelFinal(MyModelNormalized):
    first_weight, second_weight = 0.2, 0.8


# Construct an instance of MyModel
def get_model(model_class=MyModel):
    inputs = keras.Input(shape=(784,))
    intermediate = layers.Dense(256, activation="relu")(inputs)
    outputs = layers.Dense(10, activation="softmax")(intermediate)
    model = model_class(inputs, outputs)
    return model


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
    x_train = np.reshape(x_train, (-1, 784)) / 255
    return x_train[:12000], y_train[:12000]


def _numpy_gradients_and_hessian_times_ones(x, y, w1, b1, w2, b2):
    """First layer's ∂L/∂W1 and (H·1) for W1, L = -mean_n log softmax(relu(x W1 + b1) W2 + b2)[y_n]:
    backpropagation, then its derivative along the all-ones direction of every weight
    (forward-mode through the backward pass; relu'' = 0)."""
    n = len(x)
    z1 = x @ w1 + b1
    mask = (z1 > 0).astype(x.dtype)
    h = z1 * mask
    z2 = h @ w2 + b2
    p = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.eye(10)[y]
    dz2 = (p - onehot) / n
    dh = dz2 @ w2.T
    dz1 = dh * mask
    dw1 = x.T @ dz1
    # the same, differentiated along v = 1 for W1, b1, W2, b2
    rz1 = x.sum(axis=1, keepdims=True) + 1 + 0 * z1  # x·V1 + v_b1
    rh = rz1 * mask
    rz2 = rh @ w2 + h.sum(axis=1, keepdims=True) + 1  # Rh·W2 + h·V2 + v_b2
    rp = p * (rz2 - (p * rz2).sum(axis=1, keepdims=True))
    rdz2 = rp / n
    rdh = rdz2 @ w2.T + dz2 @ np.ones_like(w2).T
    rdz1 = rdh * mask
    return dw1, x.T @ rdz1


def _printed(text, name):
    return [float(v) for v in re.findall(rf"{re.escape(name)}: (-?[0-9.]+)", text)]


def test_tip_3_printing_inside_train_step_shows_the_first_layers_gradients(mnist, capsys):
    """Tip 3, the run with prints: run_eagerly=True, 10 steps, each printing the
    first layer's first- and second-order gradient statistics."""
    x_train, y_train = mnist
    keras.utils.set_random_seed(0)
    model = get_model(MyModelWithPrints)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        run_eagerly=True,
    )
    w1, b1, w2, b2 = (w.astype("float64") for w in model.get_weights())
    assert w1.shape == (784, 256)  # trainable_variables[0]: the first layer's kernel
    model.step_counter = 0
    # We pass epochs=1 and steps_per_epoch=10 to only run 10 steps of training.
    model.fit(x_train, y_train, epochs=1, batch_size=1024, verbose=0, steps_per_epoch=10, shuffle=False)
    printed = capsys.readouterr().out
    assert model.step_counter == 10
    assert re.findall(r"----Start of step: (\d+)", printed) == [str(i) for i in range(10)]

    stats = {name: _printed(printed, name) for name in (
        "Max of dl_dw[0]", "Min of dl_dw[0]", "Mean of dl_dw[0]",
        "Max of d2l_dw2[0]", "Min of d2l_dw2[0]", "Mean of d2l_dw2[0]")}
    assert all(len(values) == 10 for values in stats.values())
    # the first step's statistics: a NumPy backward pass on the first batch, from the initial weights
    dw1, hessian_ones = _numpy_gradients_and_hessian_times_ones(x_train[:1024], y_train[:1024], w1, b1, w2, b2)
    for name, want in (("Max of dl_dw[0]", dw1.max()), ("Min of dl_dw[0]", dw1.min()),
                       ("Mean of dl_dw[0]", dw1.mean()), ("Max of d2l_dw2[0]", hessian_ones.max()),
                       ("Min of d2l_dw2[0]", hessian_ones.min()), ("Mean of d2l_dw2[0]", hessian_ones.mean())):
        assert stats[name][0] == pytest.approx(want, rel=1e-3, abs=6e-5), name
    # "The first order and second order gradients can have values that differ by orders of magnitudes"
    assert abs(hessian_ones).max() > 50 * abs(dw1).max()


def test_tip_3_without_run_eagerly_brainnet_still_runs_the_python_step_each_time(mnist, capsys):
    """Tip 3's point about compiled steps, as brainnet differs: eager unless jit_compile=True."""
    x_train, y_train = mnist
    model = get_model(MyModelWithPrints)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e-2), loss="sparse_categorical_crossentropy")
    model.step_counter = 0
    model.fit(x_train, y_train, epochs=1, batch_size=1024, verbose=0, steps_per_epoch=2)
    assert re.findall(r"----Start of step: (\d+)", capsys.readouterr().out) == ["0", "1"]
    with pytest.raises(ValueError, match="run_eagerly=True .* or jit_compile=True"):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", run_eagerly=True, jit_compile=True)


def test_tip_3_the_normalized_combination_learns_where_the_first_does_not(mnist):
    """Tip 3: the first custom step (does not converge), the normalized one
    (converges, slowly), and the final one (0.2 / 0.8 and a decaying learning rate)."""
    x_train, y_train = mnist

    keras.utils.set_random_seed(0)
    model = get_model(MyModel)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    first = model.fit(x_train, y_train, epochs=3, batch_size=1024, validation_split=0.1, verbose=0).history
    assert first["val_accuracy"][-1] < 0.3  # "Oh no, it doesn't converge!" (chance is 0.1)

    keras.utils.set_random_seed(0)
    model = get_model(MyModelNormalized)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    normalized = model.fit(x_train, y_train, epochs=5, batch_size=1024, validation_split=0.1, verbose=0).history
    # "Now, training converges! It doesn't work well at all, but at least the model learns something."
    assert all(b < a for a, b in zip(normalized["loss"], normalized["loss"][1:]))
    assert normalized["val_accuracy"][-1] > first["val_accuracy"][-1] + 0.15

    keras.utils.set_random_seed(0)
    model = get_model(MyModelFinal)
    lr = keras.optimizers.schedules.InverseTimeDecay(initial_learning_rate=0.1, decay_steps=25, decay_rate=0.1)
    model.compile(
        optimizer=keras.optimizers.SGD(lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    final = model.fit(x_train, y_train, epochs=10, batch_size=2048, validation_split=0.1, verbose=0).history
    assert final["val_accuracy"][-1] > 0.85  # the example's 97% after 50 epochs on all 60,000 images
    steps = 10 * int(np.ceil(0.9 * len(x_train) / 2048))
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1 / (1 + 0.1 * steps / 25), rel=1e-5)


# ------------------------------------------------------------------ Tip 4
def test_tip_4_the_tensorboard_callback_profiles_batches_10_to_15(mnist, tmp_path):
    """Tip 4: if your code is slow, run the profiler (here torch's, through the TensorBoard callback)."""
    x_train, y_train = mnist
    dataset = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x_train[:4096]).float(), torch.from_numpy(y_train[:4096])),
        batch_size=256)
    model = get_model(MyModelFinal)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    log_dir = tmp_path / "logs"

    # Profile from batches 10 to 15
    tb_callback = keras.callbacks.TensorBoard(log_dir=log_dir, profile_batch=(10, 15))
    # Train the model and use the TensorBoard Keras callback to collect
    # performance profiling data
    model.fit(dataset, epochs=1, callbacks=[tb_callback], verbose=0)

    (trace,) = (log_dir / "train" / "plugins" / "profile").glob("*.pt.trace.json")
    events = [e for e in json.loads(trace.read_text())["traceEvents"] if e.get("ph") == "X"]
    spans = {e["name"]: e for e in events if e["name"].startswith("train_batch_")}
    assert sorted(spans, key=lambda n: int(n.rsplit("_", 1)[1])) == [f"train_batch_{n}" for n in range(10, 16)]
    for span in spans.values():  # each step's work lies inside its span: forward and both backward passes
        inside = [e for e in events if e["name"] in ("aten::mm", "aten::addmm")
                  and span["ts"] <= e["ts"] <= span["ts"] + span["dur"]]
        assert len(inside) >= 6
