"""Keras 3's guide "The Functional API" (keras.io guides/functional_api.py),
ported as a learner would: the imports become ``import brainnet as keras`` and
``from brainnet import layers``, ``ops.*`` the torch calls docs/keras.md gives
(``ops.matmul`` is ``torch.matmul``, ``ops.zeros`` ``torch.zeros``,
``ops.stack(xs, axis=1)`` ``torch.stack(xs, dim=1)``), and the data the guide
downloads (CIFAR-10, VGG19's ImageNet weights) is replaced by Fashion-MNIST
and a network built here. Each test names the guide section it runs,
shortened (few epochs, slices of the data), and checks its results: shapes
the guide states, values against NumPy, training that learns.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers
from brainnet.utils import set_random_seed


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def test_introduction_training_and_saving_the_mnist_model(mnist_dir, tmp_path):
    """Sections "Introduction", "Training, evaluation, and inference" and "Save and serialize"."""
    set_random_seed(0)
    inputs = keras.Input(shape=(784,))
    img_inputs = keras.Input(shape=(32, 32, 3))
    assert inputs.shape == (None, 784) and img_inputs.shape == (None, 32, 32, 3)
    assert inputs.dtype == torch.float32
    dense = layers.Dense(64, activation="relu")
    x = dense(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
    assert model.name == "mnist_model" and model.count_params() == 784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    for name, shapes in (("my_first_model.png", False), ("my_first_model_with_shape_info.png", True)):
        path = keras.utils.plot_model(model, str(tmp_path / name), show_shapes=shapes)
        assert (tmp_path / name).stat().st_size > 0 and str(path).endswith(name)

    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=mnist_dir)
    x_train = x_train.reshape(60000, 784).astype("float32") / 255
    x_test = x_test.reshape(10000, 784).astype("float32") / 255
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.RMSprop(),
        metrics=["accuracy"],
    )
    history = model.fit(x_train[:6000], y_train[:6000], batch_size=64, epochs=2, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][1] < history.history["loss"][0]
    test_scores = model.evaluate(x_test[:2000], y_test[:2000], verbose=0)
    logits = _np(model(torch.from_numpy(x_test[:2000])))
    assert test_scores[1] == pytest.approx(np.mean(logits.argmax(1) == y_test[:2000]), abs=1e-6)
    assert test_scores[1] > 0.85  # 4,800 images, 2 epochs

    path = str(tmp_path / "my_model.keras")
    model.save(path)
    expected = model.predict(x_test[:100], verbose=0)
    del model
    model = keras.models.load_model(path)  # the same model, purely from the file
    np.testing.assert_allclose(model.predict(x_test[:100], verbose=0), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.evaluate(x_test[:2000], y_test[:2000], verbose=0), test_scores, rtol=1e-5)


def _encoder(name: str):
    encoder_input = keras.Input(shape=(28, 28, 1), name=name)
    x = layers.Conv2D(16, 3, activation="relu")(encoder_input)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    return encoder_input, layers.GlobalMaxPooling2D()(x)


def _decoder_on(x):
    x = layers.Reshape((4, 4, 1))(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    return layers.Conv2DTranspose(1, 3, activation="relu")(x)


def test_one_graph_of_layers_makes_an_encoder_and_an_autoencoder(fashion_dir):
    """Section "Use the same graph of layers to define multiple models"."""
    set_random_seed(1)
    encoder_input, encoder_output = _encoder("img")
    encoder = keras.Model(encoder_input, encoder_output, name="encoder")
    autoencoder = keras.Model(encoder_input, _decoder_on(encoder_output), name="autoencoder")
    assert encoder.output_shape == (None, 16)
    assert autoencoder.output_shape == (None, 28, 28, 1)  # "strictly symmetrical"
    # the encoder's layers are the autoencoder's first layers, the same objects
    assert autoencoder.layers[:len(encoder.layers)] == encoder.layers

    (x_train, _), _ = keras.datasets.fashion_mnist.load_data()
    x = x_train[:512, :, :, None].astype("float32") / 255
    autoencoder.compile("adam", "mse")
    history = autoencoder.fit(x, x, batch_size=64, epochs=3, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    # training the autoencoder trained the encoder: it gives the code the decoder read
    code = _np(encoder(torch.from_numpy(x[:8])))
    middle = keras.Model(encoder_input, autoencoder.get_layer(index=len(encoder.layers) - 1).output)
    np.testing.assert_allclose(code, middle.predict(x[:8], verbose=0), rtol=1e-6, atol=1e-6)


def test_models_are_callable_like_layers_nested_autoencoder_and_ensemble():
    """Section "All models are callable, just like layers"."""
    set_random_seed(2)
    encoder_input, encoder_output = _encoder("original_img")
    encoder = keras.Model(encoder_input, encoder_output, name="encoder")
    decoder_input = keras.Input(shape=(16,), name="encoded_img")
    decoder = keras.Model(decoder_input, _decoder_on(decoder_input), name="decoder")
    autoencoder_input = keras.Input(shape=(28, 28, 1), name="img")
    decoded_img = decoder(encoder(autoencoder_input))
    autoencoder = keras.Model(autoencoder_input, decoded_img, name="autoencoder")
    assert autoencoder.layers[1:] == [encoder, decoder]  # after its InputLayer, as Keras 3
    assert type(autoencoder.layers[0]).__name__ == "InputLayer" and autoencoder.layers[0].output is autoencoder_input
    x = torch.rand(3, 28, 28, 1)
    with torch.no_grad():
        np.testing.assert_allclose(_np(autoencoder(x)), _np(decoder(encoder(x))), rtol=1e-6, atol=1e-6)
    assert autoencoder.count_params() == encoder.count_params() + decoder.count_params()

    def get_model():
        inputs = keras.Input(shape=(128,))
        outputs = layers.Dense(1)(inputs)
        return keras.Model(inputs, outputs)

    model1, model2, model3 = get_model(), get_model(), get_model()
    inputs = keras.Input(shape=(128,))
    y1, y2, y3 = model1(inputs), model2(inputs), model3(inputs)
    outputs = layers.average([y1, y2, y3])
    ensemble_model = keras.Model(inputs=inputs, outputs=outputs)
    data = np.random.default_rng(2).normal(size=(5, 128)).astype("float64")
    # y = mean over the three models of x·w_m + b_m, in float64
    want = np.mean([data @ _np(m.layers[1].kernel).astype("float64") + _np(m.layers[1].bias) for m in
                    (model1, model2, model3)], axis=0)
    np.testing.assert_allclose(ensemble_model.predict(data.astype("float32"), verbose=0), want, rtol=1e-5, atol=1e-5)


def _ticket_model():
    num_tags, num_words, num_departments = 12, 10000, 4
    title_input = keras.Input(shape=(None,), name="title")
    body_input = keras.Input(shape=(None,), name="body")
    tags_input = keras.Input(shape=(num_tags,), name="tags")
    title_features = layers.LSTM(128)(layers.Embedding(num_words, 64)(title_input))
    body_features = layers.LSTM(32)(layers.Embedding(num_words, 64)(body_input))
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, name="priority")(x)
    department_pred = layers.Dense(num_departments, name="department")(x)
    model = keras.Model(
        inputs=[title_input, body_input, tags_input],
        outputs={"priority": priority_pred, "department": department_pred},
    )
    rng = np.random.default_rng(3)
    data = {"title": rng.integers(num_words, size=(128, 10)), "body": rng.integers(num_words, size=(128, 100)),
            "tags": rng.integers(2, size=(128, num_tags)).astype("float32")}
    targets = {"priority": rng.random(size=(128, 1)), "department": rng.integers(2, size=(128, num_departments))}
    return model, data, targets


def _log_sigmoid(z):
    return -np.logaddexp(0.0, -z)


def test_multiple_inputs_and_outputs_losses_by_list_and_by_name(tmp_path):
    """Section "Models with multiple inputs and outputs" (the ticket model, outputs as a dict).

    The list of losses pairs with the outputs in the order the dict is written
    (priority, department), as the guide means; Keras 3 pairs it with the keys
    sorted (docs/keras.md, *Outputs given as a dict*)."""
    set_random_seed(3)
    model, data, targets = _ticket_model()
    assert keras.utils.plot_model(model, str(tmp_path / "multi_input_and_output_model.png"), show_shapes=True)
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[keras.losses.BinaryCrossentropy(from_logits=True), keras.losses.CategoricalCrossentropy(from_logits=True)],
        loss_weights=[1.0, 0.2],
    )
    pred = model.predict(data, verbose=0)
    assert pred["priority"].shape == (128, 1) and pred["department"].shape == (128, 4)
    z, y = pred["priority"].astype("float64"), targets["priority"]
    bce = np.mean(-(y * _log_sigmoid(z) + (1 - y) * _log_sigmoid(-z)))
    logits, t = pred["department"].astype("float64"), targets["department"]
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    cce = np.mean(-(t * log_p).sum(1))
    got = model.evaluate(data, targets, verbose=0, return_dict=True)
    assert got["priority_loss"] == pytest.approx(bce, rel=1e-4)
    assert got["department_loss"] == pytest.approx(cce, rel=1e-4)
    assert got["loss"] == pytest.approx(1.0 * bce + 0.2 * cce, rel=1e-4)

    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={"priority": keras.losses.BinaryCrossentropy(from_logits=True),
              "department": keras.losses.CategoricalCrossentropy(from_logits=True)},
        loss_weights={"priority": 1.0, "department": 0.2},
    )
    assert model.evaluate(data, targets, verbose=0, return_dict=True) == pytest.approx(got, rel=1e-6)
    history = model.fit(data, targets, epochs=3, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_a_toy_resnet_trains_on_fashion_mnist_in_place_of_cifar10(fashion_dir):
    """Section "A toy ResNet model" (CIFAR-10 is not here: Fashion-MNIST, padded to
    32x32 and repeated over 3 channels, takes its place; keras.datasets.cifar10 is
    refused with that fix)."""
    with pytest.raises(AttributeError, match=r"keras.datasets.cifar10 was expected.*Fix: train on "
                                             r"brainnet.datasets.fashion_mnist.load_data\(\)"):
        keras.datasets.cifar10.load_data()
    set_random_seed(4)
    inputs = keras.Input(shape=(32, 32, 3), name="img")
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    block_1_output = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_1_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_2_output = layers.add([x, block_1_output])
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_2_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_3_output = layers.add([x, block_2_output])
    x = layers.Conv2D(64, 3, activation="relu")(block_3_output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs, outputs, name="toy_resnet")
    assert block_1_output.shape == block_2_output.shape == block_3_output.shape == (None, 9, 9, 64)
    assert model.count_params() == 223_242  # Keras's summary of the guide's model

    (x_train, y_train), _ = keras.datasets.fashion_mnist.load_data()
    x_train = np.repeat(np.pad(x_train[:1000], ((0, 0), (2, 2), (2, 2)))[..., None], 3, axis=-1)
    x_train = x_train.astype("float32") / 255.0
    y_train = keras.utils.to_categorical(y_train[:1000], 10)
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True), metrics=["acc"])
    before = model.evaluate(x_train[800:], y_train[800:], verbose=0)
    # the guide's "first 1000 samples", one epoch, the last 200 held out
    history = model.fit(x_train, y_train, batch_size=64, epochs=1, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x_train[800:], y_train[800:],
                                                                          verbose=0)[0], rel=1e-5)
    assert history.history["val_loss"][0] < before[0]  # it learnt from 800 images it never validated on


def test_a_shared_embedding_encodes_two_text_inputs_with_one_weight():
    """Section "Shared layers"."""
    shared_embedding = layers.Embedding(1000, 128)
    text_input_a = keras.Input(shape=(None,), dtype="int32")
    text_input_b = keras.Input(shape=(None,), dtype="int32")
    encoded_input_a = shared_embedding(text_input_a)
    encoded_input_b = shared_embedding(text_input_b)
    assert encoded_input_a.shape == encoded_input_b.shape == (None, None, 128)
    model = keras.Model([text_input_a, text_input_b], [encoded_input_a, encoded_input_b])
    assert len(model.weights) == 1
    ids_a, ids_b = np.array([[1, 2, 3]]), np.array([[3, 999]])
    out_a, out_b = model.predict([ids_a, ids_b], verbose=0)
    table = _np(shared_embedding.embeddings)
    np.testing.assert_array_equal(out_a, table[ids_a])
    np.testing.assert_array_equal(out_b, table[ids_b])


def test_extracting_every_layers_output_of_a_vgg_style_model():
    """Section "Extract and reuse nodes in the graph of layers" (VGG19's ImageNet
    weights are not here: keras.applications is refused with the fix, and a small
    VGG-style model built with layers takes its place)."""
    with pytest.raises(AttributeError, match=r"no attribute 'applications'.*Fix: brainnet ships and downloads no "
                                             r"pretrained weights"):
        keras.applications.VGG19()
    set_random_seed(5)
    image = keras.Input(shape=(32, 32, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(image)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    vgg = keras.Model(image, layers.Dense(10, activation="softmax")(x))

    features_list = [layer.output for layer in vgg.layers]
    feat_extraction_model = keras.Model(inputs=vgg.input, outputs=features_list)
    img = np.random.random((1, 32, 32, 3)).astype("float32")
    extracted_features = feat_extraction_model(img)
    # model.layers starts with the InputLayer, as in Keras 3: the first feature is the image itself
    assert [tuple(f.shape) for f in extracted_features] == [
        (1, 32, 32, 3), (1, 32, 32, 8), (1, 32, 32, 8), (1, 16, 16, 8), (1, 16, 16, 16), (1, 8, 8, 16), (1, 1024), (1, 10)]
    h = torch.from_numpy(img)
    with torch.no_grad():
        for layer, feature in zip(vgg.layers, extracted_features):
            h = layer(h)
            np.testing.assert_allclose(_np(feature), _np(h), rtol=1e-6, atol=1e-6)


class CustomDense(layers.Layer):
    def __init__(self, units=32):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

    def call(self, inputs):
        return torch.matmul(inputs, self.w) + self.b  # ops.matmul

    def get_config(self):
        return {"units": self.units}


def test_a_custom_dense_layer_and_from_config_with_custom_objects():
    """Section "Extend the API using custom layers"."""
    set_random_seed(6)
    inputs = keras.Input((4,))
    outputs = CustomDense(10)(inputs)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(6).normal(size=(3, 4))
    layer = model.layers[1]  # after the InputLayer
    want = x @ _np(layer.w).astype("float64") + _np(layer.b)  # y = x·w + b
    np.testing.assert_allclose(model.predict(x.astype("float32"), verbose=0), want, rtol=1e-5, atol=1e-6)

    config = model.get_config()
    new_model = keras.Model.from_config(config, custom_objects={"CustomDense": CustomDense})
    assert isinstance(new_model.layers[1], CustomDense) and new_model.layers[1].units == 10
    new_model.set_weights(model.get_weights())
    np.testing.assert_allclose(new_model.predict(x.astype("float32"), verbose=0), want, rtol=1e-5, atol=1e-6)
    # the custom objects were only for that call, and a Sequential takes them too
    with pytest.raises(ValueError, match=r"unknown layer class or function 'CustomDense'.*Fix: .*"
                                         r"load_model \(or model_from_json, Model.from_config\)"):
        keras.Model.from_config(config)
    sequential = keras.Sequential([keras.Input((4,)), CustomDense(2)])
    again = keras.Sequential.from_config(sequential.get_config(), custom_objects={"CustomDense": CustomDense})
    assert isinstance(again.layers[0], CustomDense) and again.layers[0].units == 2
    again(torch.zeros(1, 4))
    again.set_weights(sequential.get_weights())
    np.testing.assert_allclose(again.predict(x.astype("float32"), verbose=0),
                               sequential.predict(x.astype("float32"), verbose=0), rtol=1e-6)
    with pytest.raises(TypeError, match=r"from_config: expected custom_objects to be a dict of name → class or "
                                        r"function, got \[<class .*Fix: Model.from_config\(config, custom_objects="):
        keras.Model.from_config(config, custom_objects=[CustomDense])


def test_the_subclassed_mlp_of_the_comparison():
    """Section "When to use the functional API" (the subclassed MLP, built by a call)."""

    class MLP(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense_1 = layers.Dense(64, activation="relu")
            self.dense_2 = layers.Dense(10)

        def call(self, inputs):
            x = self.dense_1(inputs)
            return self.dense_2(x)

    mlp = MLP()
    assert mlp.weights == []  # no state until it is called once
    _ = mlp(torch.zeros((1, 32)))  # ops.zeros
    assert _.shape == (1, 10) and len(mlp.weights) == 4
    x = np.random.default_rng(7).normal(size=(2, 32))
    w1, b1, w2, b2 = (_np(w).astype("float64") for w in (mlp.dense_1.kernel, mlp.dense_1.bias,
                                                          mlp.dense_2.kernel, mlp.dense_2.bias))
    want = np.maximum(x @ w1 + b1, 0) @ w2 + b2
    with torch.no_grad():
        np.testing.assert_allclose(_np(mlp(torch.from_numpy(x).float())), want, rtol=1e-5, atol=1e-5)


units, timesteps, input_dim = 32, 10, 5


class CustomRNN(layers.Layer):
    """The guide's RNN written from scratch: y_t = tanh(P1 x_t + c1) + tanh(P2 y_{t-1} + c2)."""

    def __init__(self, classifier=None):
        super().__init__()
        self.units = units
        self.projection_1 = layers.Dense(units=units, activation="tanh")
        self.projection_2 = layers.Dense(units=units, activation="tanh")
        self.classifier = classifier if classifier is not None else layers.Dense(1)

    def call(self, inputs):
        outputs = []
        state = torch.zeros((inputs.shape[0], self.units))  # ops.zeros(shape=...)
        for t in range(inputs.shape[1]):
            x = inputs[:, t, :]
            h = self.projection_1(x)
            y = h + self.projection_2(state)
            state = y
            outputs.append(y)
        features = torch.stack(outputs, dim=1)  # ops.stack(outputs, axis=1)
        return self.classifier(features)


def _rnn_features(rnn, x):
    """The recurrence in NumPy, float64, from the layer's weights."""
    p1, c1 = (_np(w).astype("float64") for w in (rnn.projection_1.kernel, rnn.projection_1.bias))
    p2, c2 = (_np(w).astype("float64") for w in (rnn.projection_2.kernel, rnn.projection_2.bias))
    state, ys = np.zeros((x.shape[0], units)), []
    for t in range(x.shape[1]):
        state = np.tanh(x[:, t] @ p1 + c1) + np.tanh(state @ p2 + c2)
        ys.append(state)
    return np.stack(ys, axis=1)


def test_a_functional_model_inside_a_layer_written_from_scratch():
    """Section "Mix-and-match API styles" (a functional classifier inside a subclassed RNN)."""
    set_random_seed(8)
    inputs = keras.Input((None, units))
    x = layers.GlobalAveragePooling1D()(inputs)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    rnn_model = CustomRNN(classifier=model)
    _ = rnn_model(torch.zeros((1, timesteps, input_dim)))
    assert _.shape == (1, 1)
    data = np.random.default_rng(8).normal(size=(4, timesteps, input_dim))
    features = _rnn_features(rnn_model, data)
    dense = model.layers[-1]
    want = features.mean(axis=1) @ _np(dense.kernel).astype("float64") + _np(dense.bias)
    with torch.no_grad():
        np.testing.assert_allclose(_np(rnn_model(torch.from_numpy(data).float())), want, rtol=1e-5, atol=1e-5)


def test_a_layer_written_from_scratch_inside_a_functional_model_with_a_static_batch_shape():
    """Section "Mix-and-match API styles" (the custom RNN in a functional model,
    ``Input(batch_shape=...)``)."""
    set_random_seed(9)
    batch_size = 16
    inputs = keras.Input(batch_shape=(batch_size, timesteps, input_dim))
    assert inputs.shape == (16, 10, 5)
    x = layers.Conv1D(32, 3)(inputs)
    rnn = CustomRNN()
    outputs = rnn(x)
    assert x.shape == (16, 8, 32) and outputs.shape == (16, 8, 1)  # the static batch kept, as Keras
    model = keras.Model(inputs, outputs)
    data = np.random.default_rng(9).normal(size=(batch_size, timesteps, input_dim)).astype("float32")
    got = model.predict(data, batch_size=batch_size, verbose=0)
    assert got.shape == (16, 8, 1)
    conv = _np(keras.Model(inputs, x)(torch.from_numpy(data))).astype("float64")
    dense = rnn.classifier
    want = _rnn_features(rnn, conv) @ _np(dense.kernel).astype("float64") + _np(dense.bias)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    rnn_model = CustomRNN()
    assert rnn_model(torch.zeros((1, 10, 5))).shape == (1, 10, 1)


def test_input_batch_shape_is_shape_and_batch_size_and_its_errors():
    """Keras 3's ``Input(batch_shape=...)`` (used by "Mix-and-match API styles")."""
    assert keras.Input(batch_shape=(None, 28, 28, 1)).shape == keras.Input(shape=(28, 28, 1)).shape
    assert keras.Input(batch_shape=[4, None], dtype="int64").shape == (4, None)
    with pytest.raises(ValueError, match=r"expected either batch_shape or shape \(with batch_size\), got "
                                         r"batch_shape=\(16, 5\) and shape=\(5,\)\. Fix: Input\(batch_shape=\(16, 5\)\) "
                                         r"alone"):
        keras.Input(shape=(5,), batch_shape=(16, 5))
    with pytest.raises(ValueError, match=r"and batch_size=16\. Fix: "):
        keras.Input(batch_size=16, batch_shape=(16, 5))
    with pytest.raises(ValueError, match=r"expected batch_shape to be a tuple of sizes with the batch axis first, got "
                                         r"16\. Fix: Input\(batch_shape=\(16, 10, 5\)\)"):
        keras.Input(batch_shape=16)
    with pytest.raises(ValueError, match=r"got neither shape nor batch_shape\. Fix: Input\(shape=\(28, 28, 1\)\)"):
        keras.Input()
