"""keras.io example "Classification using Attention-based Deep Multiple
Instance Learning (MIL)" (https://keras.io/examples/vision/attention_mil_classification/),
its Keras 3 version, ported as a learner would: ``import brainnet as keras``
and ``from brainnet import layers`` in place of the Keras imports, the
``ops`` calls of ``MILAttentionLayer`` written as torch calls
(``ops.tensordot(a, b, axes=1)`` is ``torch.tensordot(a, b, dims=1)``,
``ops.stack`` is ``torch.stack``, ``ops.softmax(x, axis=0)`` is
``torch.softmax(x, dim=0)``). Its plotting helper (a ``return`` in the
stored example) and tqdm are left out; ``train`` takes the checkpoint's path
(a test's temporary folder) and the number of epochs. Shortened for CI: the
example's 1,000 training and 300 validation bags, 2 epochs in place of 20
(the example's early stopping and best-weights checkpoint kept), one model
(``ENSEMBLE_AVG_COUNT = 1``, as in the example). The tests check
the gated attention against NumPy (softmax over a bag's instances of
``wᵀ(tanh(V h) ⊙ sigmoid(U h))``), the bags and their labels, the class
weights, the model's parameter count, that the checkpoint restores the best
epoch, and held-out bag accuracy above the majority class, with the "1"
getting the most attention in the positive bags.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

POSITIVE_CLASS = 1
BAG_COUNT = 1000
VAL_BAG_COUNT = 300
BAG_SIZE = 3
ENSEMBLE_AVG_COUNT = 1


def create_bags(input_data, input_labels, positive_class, bag_count, instance_count):
    # bags of `instance_count` random digits; a bag is positive when it holds `positive_class`
    bags = []
    bag_labels = []
    input_data = np.divide(input_data, 255.0)
    count = 0
    for _ in range(bag_count):
        index = np.random.choice(input_data.shape[0], instance_count, replace=False)
        instances_data = input_data[index]
        instances_labels = input_labels[index]
        bag_label = 0
        if positive_class in instances_labels:
            bag_label = 1
            count += 1
        bags.append(instances_data)
        bag_labels.append(np.array([bag_label]))
    print(f"Positive bags: {count}")
    print(f"Negative bags: {bag_count - count}")
    # one array per position in the bag: the model's BAG_SIZE inputs
    return (list(np.swapaxes(bags, 0, 1)), np.array(bag_labels))


class MILAttentionLayer(layers.Layer):
    """Attention-based deep MIL pooling weights (gated or not), one (batch, 1) score per instance."""

    def __init__(
        self,
        weight_params_dim,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        use_gated=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.weight_params_dim = weight_params_dim
        self.use_gated = use_gated
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.v_init = self.kernel_initializer
        self.w_init = self.kernel_initializer
        self.u_init = self.kernel_initializer
        self.v_regularizer = self.kernel_regularizer
        self.w_regularizer = self.kernel_regularizer
        self.u_regularizer = self.kernel_regularizer

    def build(self, input_shape):
        # a list of (batch_size, input_dim) shapes, one per instance
        input_dim = input_shape[0][1]
        self.v_weight_params = self.add_weight(
            shape=(input_dim, self.weight_params_dim),
            initializer=self.v_init,
            name="v",
            regularizer=self.v_regularizer,
            trainable=True,
        )
        self.w_weight_params = self.add_weight(
            shape=(self.weight_params_dim, 1),
            initializer=self.w_init,
            name="w",
            regularizer=self.w_regularizer,
            trainable=True,
        )
        if self.use_gated:
            self.u_weight_params = self.add_weight(
                shape=(input_dim, self.weight_params_dim),
                initializer=self.u_init,
                name="u",
                regularizer=self.u_regularizer,
                trainable=True,
            )
        else:
            self.u_weight_params = None
        self.input_built = True

    def call(self, inputs):
        instances = [self.compute_attention_scores(instance) for instance in inputs]
        instances = torch.stack(instances)  # (instances, batch, 1)
        # softmax over the instances of each bag: a bag's weights sum to 1
        alpha = torch.softmax(instances, dim=0)
        return [alpha[i] for i in range(alpha.shape[0])]

    def compute_attention_scores(self, instance):
        original_instance = instance
        # tanh(V h)
        instance = torch.tanh(torch.tensordot(instance, self.v_weight_params, dims=1))
        if self.use_gated:
            # gated: tanh(V h) ⊙ sigmoid(U h)
            instance = instance * torch.sigmoid(
                torch.tensordot(original_instance, self.u_weight_params, dims=1)
            )
        # wᵀ(...)
        return torch.tensordot(instance, self.w_weight_params, dims=1)


def create_model(instance_shape):
    # the same two Dense layers embed every instance of the bag
    inputs, embeddings = [], []
    shared_dense_layer_1 = layers.Dense(128, activation="relu")
    shared_dense_layer_2 = layers.Dense(64, activation="relu")
    for _ in range(BAG_SIZE):
        inp = layers.Input(instance_shape)
        flatten = layers.Flatten()(inp)
        dense_1 = shared_dense_layer_1(flatten)
        dense_2 = shared_dense_layer_2(dense_1)
        inputs.append(inp)
        embeddings.append(dense_2)

    alpha = MILAttentionLayer(
        weight_params_dim=256,
        kernel_regularizer=keras.regularizers.L2(0.01),
        use_gated=True,
        name="alpha",
    )(embeddings)

    # each (batch, 1) weight scales its (batch, 64) embedding
    multiply_layers = [
        layers.multiply([alpha[i], embeddings[i]]) for i in range(len(alpha))
    ]
    concat = layers.concatenate(multiply_layers, axis=1)
    output = layers.Dense(2, activation="softmax")(concat)
    return keras.Model(inputs, output)


def compute_class_weights(labels):
    # weights inversely proportional to each class's count (balanced)
    negative_count = len(np.where(labels == 0)[0])
    positive_count = len(np.where(labels == 1)[0])
    total_count = negative_count + positive_count
    return {
        0: (1 / negative_count) * (total_count / 2),
        1: (1 / positive_count) * (total_count / 2),
    }


def train(train_data, train_labels, val_data, val_labels, model, file_path, epochs=20):
    # keep the weights of the best validation loss; stop when it has not improved for 10 epochs
    model_checkpoint = keras.callbacks.ModelCheckpoint(
        file_path,
        monitor="val_loss",
        verbose=0,
        mode="min",
        save_best_only=True,
        save_weights_only=True,
    )
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=10, mode="min"
    )
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(
        train_data,
        train_labels,
        validation_data=(val_data, val_labels),
        epochs=epochs,
        class_weight=compute_class_weights(train_labels),
        batch_size=1,
        callbacks=[early_stopping, model_checkpoint],
        verbose=0,
    )
    model.load_weights(file_path)
    return model


def predict(data, labels, trained_models):
    models_predictions = []
    models_attention_weights = []
    models_losses = []
    models_accuracies = []
    for model in trained_models:
        predictions = model.predict(data)
        models_predictions.append(predictions)
        # a second model on the same graph gives the attention layer's outputs
        intermediate_model = keras.Model(model.input, model.get_layer("alpha").output)
        intermediate_predictions = intermediate_model.predict(data)
        attention_weights = np.squeeze(np.swapaxes(intermediate_predictions, 1, 0))
        models_attention_weights.append(attention_weights)
        loss, accuracy = model.evaluate(data, labels, verbose=0)
        models_losses.append(loss)
        models_accuracies.append(accuracy)
    print(
        f"The average loss and accuracy are {np.sum(models_losses, axis=0) / ENSEMBLE_AVG_COUNT:.2f}"
        f" and {100 * np.sum(models_accuracies, axis=0) / ENSEMBLE_AVG_COUNT:.2f} % resp."
    )
    return (
        np.sum(models_predictions, axis=0) / ENSEMBLE_AVG_COUNT,
        np.sum(models_attention_weights, axis=0) / ENSEMBLE_AVG_COUNT,
    )


def _numpy_attention(hs, v, w, u=None):
    # s_k = wᵀ(tanh(V h_k) ⊙ sigmoid(U h_k)), a_k = exp(s_k) / Σ_j exp(s_j) over the bag's instances
    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    scores = []
    for h in hs:
        gate = np.tanh(h @ v)
        if u is not None:
            gate = gate * sigmoid(h @ u)
        scores.append(gate @ w)  # (batch, 1)
    scores = np.stack(scores)  # (instances, batch, 1)
    e = np.exp(scores - scores.max(axis=0))
    return e / e.sum(axis=0)


@pytest.mark.parametrize("use_gated", [True, False])
def test_the_mil_attention_layer_is_a_softmax_over_instances_in_numpy(use_gated):
    """Section "Attention operator implementation"."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    hs = [rng.normal(size=(5, 16)).astype("float32") for _ in range(BAG_SIZE)]
    layer = MILAttentionLayer(weight_params_dim=8, kernel_regularizer=keras.regularizers.L2(0.01),
                              use_gated=use_gated, name="alpha")
    with torch.no_grad():
        alpha = layer([torch.from_numpy(h) for h in hs])
    assert len(alpha) == BAG_SIZE and all(tuple(a.shape) == (5, 1) for a in alpha)
    v, w = layer.v_weight_params.double().detach().numpy(), layer.w_weight_params.double().detach().numpy()
    u = layer.u_weight_params.double().detach().numpy() if use_gated else None
    want = _numpy_attention([h.astype("float64") for h in hs], v, w, u)
    np.testing.assert_allclose(np.stack([a.numpy() for a in alpha]), want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.stack([a.numpy() for a in alpha]).sum(axis=0), 1.0, rtol=1e-6)
    # the weights are named as in the example (v, w and u), each held once, each regularized by L2(0.01)
    names = ["v", "w", "u"] if use_gated else ["v", "w"]
    assert [name for name, _ in layer.named_parameters()] == names
    penalty = 0.01 * sum(float((p.detach().double() ** 2).sum()) for p in layer.parameters())
    assert float(sum(layer.losses).detach()) == pytest.approx(penalty, rel=1e-5)


@pytest.fixture(scope="module")
def bags(mnist_dir):
    """Section "Create dataset": MNIST digits in bags of 3, positive when a 1 is among them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        (x_train, y_train), (x_val, y_val) = keras.datasets.mnist.load_data()
    np.random.seed(7)
    train_data, train_labels = create_bags(x_train, y_train, POSITIVE_CLASS, BAG_COUNT, BAG_SIZE)
    val_state = np.random.get_state()
    val_data, val_labels = create_bags(x_val, y_val, POSITIVE_CLASS, VAL_BAG_COUNT, BAG_SIZE)
    # replay the validation draws to know each instance's digit
    np.random.set_state(val_state)
    val_digits = np.stack([y_val[np.random.choice(len(y_val), BAG_SIZE, replace=False)]
                           for _ in range(VAL_BAG_COUNT)])
    return train_data, train_labels, val_data, val_labels, val_digits


def test_bags_hold_three_digits_and_are_labelled_by_the_positive_class(bags):
    train_data, train_labels, val_data, val_labels, val_digits = bags
    assert len(train_data) == BAG_SIZE and all(d.shape == (BAG_COUNT, 28, 28) for d in train_data)
    assert len(val_data) == BAG_SIZE and val_labels.shape == (VAL_BAG_COUNT, 1)
    assert 0.0 <= min(d.min() for d in train_data) and max(d.max() for d in train_data) == 1.0
    np.testing.assert_array_equal(val_labels[:, 0], (val_digits == POSITIVE_CLASS).any(axis=1))
    weights = compute_class_weights(train_labels)
    positives = int(train_labels.sum())
    # about 1 − 0.9³ ≈ 27 % of the bags hold a 1 (MNIST's ones are 11 % of its digits)
    assert 0.2 < positives / BAG_COUNT < 0.4
    assert weights[0] * (BAG_COUNT - positives) == pytest.approx(BAG_COUNT / 2)
    assert weights[1] * positives == pytest.approx(BAG_COUNT / 2)


def test_the_model_learns_which_bags_hold_a_one_and_attends_to_it(bags, tmp_path):
    """Sections "Create model", "Build and train model" and "Model evaluation"."""
    train_data, train_labels, val_data, val_labels, val_digits = bags
    keras.utils.set_random_seed(1)
    instance_shape = train_data[0][0].shape
    assert instance_shape == (28, 28)
    models = [create_model(instance_shape) for _ in range(ENSEMBLE_AVG_COUNT)]
    # 784·128+128, 128·64+64, the attention's V, w, U (64·256, 256, 64·256), 192·2+2
    assert models[0].count_params() == 100480 + 8256 + 16384 + 256 + 16384 + 386 == 142146
    file_path = str(tmp_path / "best_model.weights.h5")
    trained_models = [
        train(train_data, train_labels, val_data, val_labels, model, file_path, epochs=2)  # 20 in the example
        for model in models
    ]
    history = trained_models[0].history.history
    assert history["loss"][-1] < history["loss"][0]

    class_predictions, attention_params = predict(val_data, val_labels, trained_models)
    assert class_predictions.shape == (VAL_BAG_COUNT, 2) and attention_params.shape == (VAL_BAG_COUNT, BAG_SIZE)
    np.testing.assert_allclose(attention_params.sum(axis=1), 1.0, rtol=1e-5)
    # the checkpoint restored the epoch of the lowest validation loss
    loss, accuracy = trained_models[0].evaluate(val_data, val_labels, verbose=0)
    assert loss == pytest.approx(min(history["val_loss"]), rel=1e-4)
    majority = max(val_labels.mean(), 1 - val_labels.mean())  # about 0.73
    assert accuracy > max(0.85, majority + 0.1)
    assert accuracy == pytest.approx(np.mean(class_predictions.argmax(1) == val_labels[:, 0]))
    # in the bags rightly called positive that hold one 1, the 1 has the largest weight
    ones = (val_digits == POSITIVE_CLASS)
    found = (class_predictions.argmax(1) == 1) & (val_labels[:, 0] == 1) & (ones.sum(axis=1) == 1)
    assert found.sum() > 40
    assert np.mean(attention_params[found].argmax(1) == ones[found].argmax(1)) > 0.9
