"""keras.io example "MoE for MNIST"
(https://keras.io/examples/vision/mnist_moe/), ported as a learner would:
``import brainnet as keras`` and ``from brainnet import layers`` in place of
the Keras and TensorFlow imports; ``tf.math.top_k`` is ``torch.topk``,
``tf.tensor_scatter_nd_add`` on the usage counter is ``Tensor.index_add``,
``tf.gather_nd`` of the chosen experts' outputs is ``torch.gather``, the
``K.`` backend calls are torch calls, ``tf.GradientTape`` is
``zero_grad``/``backward``, and the ``tf.Variable`` usage counter is a
non-trainable weight (``self.add_weight(..., trainable=False)``: brainnet
has no ``keras.Variable`` and says so). The custom ``train_step`` and
``test_step`` keep the example's ``self.compiled_metrics.update_state(y,
y_pred)``, tf.keras 2's spelling that Keras 3 keeps as a deprecated shim,
which brainnet now has too (with the deprecation warning).
Shortened for CI: 6,000 training and 2,000 test images and 3 epochs in
place of 20; the base architecture's summary is left out (the convnet port,
test_vision_mnist_convnet.py, checks it).
Each test names the section it runs and checks what it computes: the top-k
gating, the usage counter and the weighted sum of the chosen experts against
NumPy, the diversity, importance and overflow losses against NumPy, and the
MoE classifier's training: the classification loss falls, accuracy far above
chance, and evaluate's ``moe_loss`` is the layer's terms at the last batch.
What the example does that a reader may not expect, kept as written: the
usage counter is never reset, so the overflow term (which has no gradient)
grows with every batch, and the logged ``loss`` is the "loss" tracker's (the
step's dict spreads ``self.metrics`` after its own "loss"), which the steps
never update.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

num_classes = 10
input_shape = (28, 28, 1)

NUM_EXPERTS = 5
TOP_K = 3
BATCH_SIZE = 128
NUM_EPOCHS = 3  # 20 in the example
LEARNING_RATE = 0.001


@pytest.fixture(scope="module")
def data(mnist_dir):
    """Section "Data Preparation", as written, then sliced."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)
    return x_train[:6000], y_train[:6000], x_test[:2000], y_test[:2000]


class FirstLinearMoE(layers.Layer):
    """Section "Linear MoE using Dense layers": the example's first LinearMoE."""

    def __init__(
        self,
        hidden_size,
        num_experts=NUM_EXPERTS,
        top_k=TOP_K,
    ):
        super().__init__()

        # Initialize experts
        self.experts = [
            layers.Dense(
                hidden_size,
                kernel_initializer=keras.initializers.RandomNormal(mean=0.0, stddev=0.001),
                bias_initializer="zeros",
            )
            for _ in range(num_experts)
        ]
        # Initialize gating network
        self.gating_network = layers.Dense(
            NUM_EXPERTS,
            kernel_initializer=keras.initializers.RandomNormal(mean=0.0, stddev=0.001),
            bias_initializer="zeros",
        )

        self.num_experts = num_experts
        self.top_k = top_k
        # Keep track of how many times each expert is used
        self.expert_usage_count = self.add_weight(
            "expert_usage_count", torch.zeros((num_experts,), dtype=torch.float32), trainable=False
        )

    def call(self, x):
        # Get gating weights
        gating_weights = self.gating_network(x)

        # Get the top k experts based on the gating weights
        top_k_weights, top_k_indices = torch.topk(gating_weights, k=self.top_k)

        # Count usage of each expert
        updates = torch.ones_like(torch.reshape(top_k_indices, [-1]), dtype=torch.float32)
        self.expert_usage_count.copy_(
            self.expert_usage_count.index_add(0, torch.reshape(top_k_indices, [-1]), updates)
        )

        # Get outputs from only the top-k experts
        top_k_expert_outputs = torch.stack(
            [self.experts[expert_index](x) for expert_index in top_k_indices.numpy()[0]],
            dim=1,
        )  # Stack outputs along axis 1

        # Combine outputs using top-k weights
        combined_output = torch.einsum("ijk,ij->ik", top_k_expert_outputs, top_k_weights)

        return combined_output


def _dense_numpy(layer, x):
    return x @ layer.kernel.detach().numpy().astype("float64") + layer.bias.detach().numpy()


def test_the_first_linear_moe_weighs_its_top_k_experts_by_their_gating_logits():
    """Section "Linear MoE using Dense layers": top 3 of the gate's logits, their experts' outputs summed with
    those logits as weights, each chosen expert counted once."""
    keras.utils.set_random_seed(0)
    sample_data = torch.rand((1, 10))
    linear_mode = FirstLinearMoE(32, 10, 3)
    out = linear_mode(sample_data)
    assert tuple(out.shape) == (1, 32)

    x = sample_data.numpy().astype("float64")
    gate = _dense_numpy(linear_mode.gating_network, x)[0]  # 5 logits: the example's gate has NUM_EXPERTS units
    top = np.argsort(-gate)[:3]
    expected = sum(gate[i] * _dense_numpy(linear_mode.experts[i], x)[0] for i in top)
    np.testing.assert_allclose(out.detach().numpy()[0], expected, rtol=1e-4, atol=1e-9)
    counts = np.zeros(10)
    counts[top] = 1
    np.testing.assert_array_equal(linear_mode.expert_usage_count.numpy(), counts)
    assert linear_mode.expert_usage_count.requires_grad is False
    assert [w is linear_mode.expert_usage_count for w in linear_mode.non_trainable_weights] == [True]


def check_expert_usage(runs):
    # Running the later multiple times to show randomness of expert selection
    usages = []
    for i in range(runs):
        sample_data = torch.rand((1, 10))
        linear_mode = FirstLinearMoE(10, 5)
        _ = linear_mode(sample_data)
        usages.append(linear_mode.expert_usage_count.numpy().copy())
    return usages


def test_routing_collapse_section_each_new_layer_counts_three_experts_once():
    """Section "Routing Collapse": every fresh layer picks TOP_K distinct experts, not always the same ones."""
    keras.utils.set_random_seed(1)
    usages = check_expert_usage(8)
    for usage in usages:
        assert sorted(usage.tolist()) == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert len({tuple(u) for u in usages}) > 1  # selection depends on the random initialization


class LinearMoE(layers.Layer):
    """Section "Adding loss functions to prevent route collapse": the example's second LinearMoE."""

    def __init__(
        self,
        hidden_size,
        num_experts=NUM_EXPERTS,
        top_k=TOP_K,
    ):
        super().__init__()

        # Initialize experts
        self.experts = [
            layers.Dense(
                hidden_size,
                kernel_initializer=keras.initializers.RandomNormal(mean=0.0, stddev=0.001),
                bias_initializer="zeros",
            )
            for _ in range(num_experts)
        ]
        # Initialize gating network
        self.gating_network = layers.Dense(
            num_experts,  # Match output to num_experts
            kernel_initializer=keras.initializers.RandomNormal(mean=0.0, stddev=0.001),
            bias_initializer="zeros",
        )

        self.num_experts = num_experts
        self.top_k = top_k
        # Keep track of how many times each expert is used as a layer weight
        self.expert_usage_count = self.add_weight(
            "expert_usage_count", torch.zeros((num_experts,), dtype=torch.float32), trainable=False
        )

        self.batch_capacity = BATCH_SIZE // num_experts

    def _diversity_loss(self, weights):
        entropy = -torch.sum(weights * torch.log(weights + 1e-10), dim=1)
        self.diversity_loss = -torch.mean(entropy)

    def _importance_loss(self, gating_weights):
        batch_importance_sum = torch.sum(gating_weights, dim=0)
        mean_importance = torch.mean(batch_importance_sum)
        self.importance_loss = torch.mean(
            torch.square(batch_importance_sum - mean_importance * torch.ones_like(batch_importance_sum))
        )

    def call(self, x):
        # Get gating weights and normalize
        gating_weights = self.gating_network(x)
        gating_weights = torch.softmax(gating_weights, dim=-1)  # Ensure weights are probabilities
        self._diversity_loss(gating_weights)
        self._importance_loss(gating_weights)

        # Get the top k experts based on the gating weights
        top_k_weights, top_k_indices = torch.topk(gating_weights, k=self.top_k)

        # Count usage of each expert
        updates = torch.ones_like(torch.reshape(top_k_indices, [-1]), dtype=torch.float32)
        self.expert_usage_count.copy_(
            self.expert_usage_count.index_add(0, torch.reshape(top_k_indices, [-1]), updates)
        )

        # Calculate overflow using updated usage count
        self.batch_overflow_sum = torch.sum(torch.relu(self.expert_usage_count - self.batch_capacity))

        # Compute all expert outputs
        expert_outputs = torch.stack([expert(x) for expert in self.experts], dim=1)
        # Shape: (batch_size, num_experts, hidden_size)

        # Gather the top-k expert outputs using top_k_indices
        top_k_expert_outputs = torch.gather(
            expert_outputs, 1, top_k_indices[..., None].expand(-1, -1, expert_outputs.shape[-1])
        )  # Shape: (batch_size, top_k, hidden_size)

        # Combine outputs using top-k weights
        combined_output = torch.sum(top_k_expert_outputs * torch.unsqueeze(top_k_weights, dim=-1), dim=1)

        return combined_output

    def compute_total_loss(self, load_balance_coef=0.01):
        return load_balance_coef * (self.diversity_loss + self.batch_overflow_sum + self.importance_loss)


def test_the_load_balancing_losses_match_numpy():
    """Section "Adding loss functions to prevent route collapse": softmax gating, the top-k weighted sum, the
    entropy (diversity), importance and overflow terms, and compute_total_loss, against NumPy."""
    keras.utils.set_random_seed(2)
    moe = LinearMoE(hidden_size=4, num_experts=6, top_k=2)
    moe.gating_network.build((None, 8))
    with torch.no_grad():  # a gate far from uniform, so that the terms are not all near zero
        moe.gating_network.kernel.normal_(0.0, 1.0)
    x = torch.randn(40, 8)
    out = moe(x)
    for _ in range(3):  # the counter accumulates over calls: 4 calls of 40 rows, 2 experts each
        moe(x)

    xs = x.numpy().astype("float64")
    logits = _dense_numpy(moe.gating_network, xs)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    top = np.argsort(-p, axis=1, kind="stable")[:, :2]
    expert_out = np.stack([_dense_numpy(e, xs) for e in moe.experts], axis=1)  # (40, 6, 4)
    rows = np.arange(40)[:, None]
    expected = np.sum(expert_out[rows, top] * p[rows, top][..., None], axis=1)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-4, atol=1e-9)

    diversity = -np.mean(-np.sum(p * np.log(p + 1e-10), axis=1))
    importance_sum = p.sum(0)
    importance = np.mean((importance_sum - importance_sum.mean()) ** 2)
    counts = 4 * np.bincount(top.ravel(), minlength=6)
    assert counts.sum() == 4 * 40 * 2
    np.testing.assert_array_equal(moe.expert_usage_count.numpy(), counts)
    overflow = np.sum(np.maximum(counts - BATCH_SIZE // 6, 0))
    assert overflow > 0
    np.testing.assert_allclose(moe.diversity_loss.item(), diversity, rtol=1e-5)
    np.testing.assert_allclose(moe.importance_loss.item(), importance, rtol=1e-4)
    assert moe.batch_overflow_sum.item() == overflow
    np.testing.assert_allclose(moe.compute_total_loss(load_balance_coef=0.01).item(),
                               0.01 * (diversity + overflow + importance), rtol=1e-5)


class MoEModel(keras.Model):
    def __init__(self, input_shape, num_classes, num_experts=NUM_EXPERTS, top_k=TOP_K):
        super().__init__()

        # Define the convolutional block
        self.conv_block = keras.Sequential(
            [
                layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
                layers.MaxPooling2D(pool_size=(2, 2)),
                layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
                layers.MaxPooling2D(pool_size=(2, 2)),
                layers.Flatten(),
                layers.Dropout(0.5),
            ]
        )

        # MoE classifier
        self.moe_classifier = LinearMoE(hidden_size=num_classes, num_experts=num_experts, top_k=top_k)

        # Softmax layer
        self.softmax = layers.Softmax()

    def call(self, inputs, training=False):
        conv_flatten = self.conv_block(inputs)
        moe_output = self.moe_classifier(conv_flatten)
        outputs = self.softmax(moe_output)
        return outputs

    def train_step(self, data):
        x, y = data  # Unpack input data and labels

        self.zero_grad()
        y_pred = self(x, training=True)
        classification_loss = self.compute_loss(x, y, y_pred)
        moe_loss = self.moe_classifier.compute_total_loss(load_balance_coef=0.01)
        total_loss = classification_loss + moe_loss

        # Compute gradients
        total_loss.backward()
        gradients = [v.grad for v in self.trainable_variables]

        # Update weights
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))  # Update metrics (e.g., accuracy)
        self.compiled_metrics.update_state(y, y_pred)
        # Return a dict of metrics for monitoring
        return {
            "loss": total_loss,
            "moe_loss": moe_loss,
            **{m.name: m.result() for m in self.metrics},
        }

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        classification_loss = self.compute_loss(x, y, y_pred)
        moe_loss = self.moe_classifier.compute_total_loss(load_balance_coef=0.01)
        total_loss = classification_loss + moe_loss

        self.compiled_metrics.update_state(y, y_pred)
        return {
            "loss": total_loss,
            "moe_loss": moe_loss,
            **{m.name: m.result() for m in self.metrics},
        }


def _cross_entropy_numpy(model, x, y):
    p = model.predict(x, batch_size=BATCH_SIZE, verbose=0).astype("float64")
    return -np.mean(np.sum(y * np.log(p), axis=1)), np.mean(p.argmax(1) == y.argmax(1))


def test_the_moe_classifier_trains_far_above_chance(data):
    """Sections "MNIST classification with MoE", "Training" and "Evaluation": the custom steps log the
    example's moe_loss and accuracy; the classification loss falls; every row the MoE layer saw counted top_k
    experts."""
    x_train, y_train, x_test, y_test = data
    keras.utils.set_random_seed(1337)
    model = MoEModel(input_shape=input_shape, num_classes=num_classes, num_experts=6, top_k=4)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss=keras.losses.CategoricalCrossentropy(),  # Assumes one-hot encoded labels
        metrics=["accuracy"],
    )
    initial_loss, _ = _cross_entropy_numpy(model, x_test, y_test)
    counted = model.moe_classifier.expert_usage_count.sum().item()
    with pytest.warns(UserWarning, match="compiled_metrics` is deprecated"):
        history = model.fit(
            x_train,
            y_train,
            batch_size=BATCH_SIZE,
            epochs=NUM_EPOCHS,
            validation_data=(x_test, y_test),
            verbose=0,
        )
    assert sorted(history.history) == ["accuracy", "loss", "moe_loss", "val_accuracy", "val_loss", "val_moe_loss"]
    # the example's dict puts self.metrics after its own "loss", so the logged loss is the "loss" tracker's,
    # which its steps never update (Keras 3 feeds that tracker the predictions: it logs their mean, 0.1)
    assert history.history["loss"] == [0.0] * NUM_EPOCHS
    moe = model.moe_classifier
    # the usage counter grew by top_k for every row of every batch, training and validation
    rows = NUM_EPOCHS * (len(x_train) + len(x_test))
    assert moe.expert_usage_count.sum().item() - counted == 4 * rows
    with pytest.warns(UserWarning, match="compiled_metrics` is deprecated"):
        score = model.evaluate(x_test, y_test, verbose=0)
    # evaluate's moe_loss is the layer's at the last batch: 0.01 (diversity + overflow + importance)
    counts = moe.expert_usage_count.numpy()
    assert moe.batch_overflow_sum.item() == np.sum(np.maximum(counts - BATCH_SIZE // 6, 0))
    np.testing.assert_allclose(score[1], 0.01 * (moe.diversity_loss.item() + moe.batch_overflow_sum.item()
                                                 + moe.importance_loss.item()), rtol=1e-5)
    final_loss, accuracy = _cross_entropy_numpy(model, x_test, y_test)
    np.testing.assert_allclose(model.compute_loss(y=torch.from_numpy(y_test), y_pred=model(torch.from_numpy(x_test)))
                               .item(), final_loss, rtol=1e-4)
    assert final_loss < 0.7 * initial_loss
    assert score[2] == pytest.approx(accuracy)
    assert accuracy > 0.6  # chance is 0.1
