"""keras.io example "Neural style transfer"
(https://keras.io/examples/generative/neural_style_transfer/), ported as a
learner would. The stored copies are the tf.keras version: ``import brainnet
as keras`` / ``from brainnet import layers`` in place of the TensorFlow
imports, the ``tf.*`` calls written as torch calls (``tf.transpose(x, (2, 0,
1))`` is ``torch.permute(x, (2, 0, 1))``, ``tf.matmul`` is ``torch.matmul``,
``tf.reduce_sum`` is ``torch.sum``, ``tf.concat`` is ``torch.cat``,
``tf.convert_to_tensor`` is ``torch.as_tensor``), ``tf.Variable(image)`` as a
tensor that requires its gradient, and the ``tf.function`` /
``tf.GradientTape`` step as ``torch.autograd.grad(loss, combination_image)``.
The image utilities (``load_img``, ``img_to_array``, ``save_img``), the Gram
matrix, the style, content and total variation losses, the feature
extractor made with ``keras.Model(inputs=model.inputs,
outputs=outputs_dict)`` over every layer's output, and the SGD loop with an
``ExponentialDecay`` learning rate that saves the image as it goes are the
example's.

Replaced, because nothing may be downloaded here: the VGG19 network with
ImageNet weights by a small VGG-like convnet trained in the test on 4,000
MNIST digits (one convolution per block, two in the last, named as the
example asks: ``block1_conv1`` to ``block5_conv1`` and ``block5_conv2``;
``include_top=False`` is the trained classifier cut after
``block5_conv2``), and ``vgg19.preprocess_input`` by the same "caffe"
preprocessing written in the test (RGB to BGR, minus ImageNet's mean pixel),
which the stand-in is trained on and the example's ``deprocess_image``
undoes; the photograph of Paris and Van Gogh's Starry Night by pictures the
test writes as files (a handwritten digit, enlarged and coloured, and a
coloured diagonal-stripe texture). Shortened for CI: 48 rows in place of
400, 200 iterations in place of 4,000, the image saved every 50 in place of
every 100; ``IPython``'s ``display`` left out. One change a torch port
needs: the loop gives ``deprocess_image`` ``combination_image.detach()
.numpy().copy()``, since TensorFlow's ``.numpy()`` is a copy while torch's
shares the tensor's memory, and ``deprocess_image`` adds the mean pixel in
place (without the copy, every save would shift the image being optimised).

With the stand-in's features and the example's loss weights (tuned for
VGG19 on 400-row pictures), the loss falls through its total variation
term: in 200 iterations the style term stays about where it starts, so the
test checks the computation, not the art.

Each test names the section it runs. They check: the Gram matrix and the
three losses against NumPy in float64; that the preprocessing and
``deprocess_image`` give the loaded picture back; that the stand-in
classifies digits well above chance and the feature extractor returns
every layer's output by name; and that the loop's first loss is the sum
of its three terms, that it falls below half of it (the total variation
term below half of its start, the content term above its start of 0), that
the image changes, and that the pictures are saved every 50 iterations at
the right size (``save_img`` stretching each to 0..255, as Keras does).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

from ._pretrained_convnet import trained_stand_in

result_prefix = "paris_generated"

# Weights of the different loss components
total_variation_weight = 1e-6
style_weight = 1e-6
content_weight = 2.5e-8

img_nrows = 48  # 400 in the example
iterations = 200  # 4000 in the example
save_every = 50  # 100 in the example


class vgg19:
    """The stand-in for ``keras.applications.vgg19``: its ``preprocess_input`` ("caffe" mode)."""

    @staticmethod
    def preprocess_input(x):
        x = np.asarray(x, dtype="float32")[..., ::-1]  # 'RGB'->'BGR'
        return x - np.array([103.939, 116.779, 123.68], dtype="float32")  # zero-centred by ImageNet's mean pixel


def _vgg_like():
    """Five blocks named as VGG19's (one convolution each, two in the last), then a classifier head (the "top")."""
    inputs = keras.Input(shape=(None, None, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="block1_conv1")(inputs)
    x = layers.MaxPooling2D(2, name="block1_pool")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="block2_conv1")(x)
    x = layers.MaxPooling2D(2, name="block2_pool")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="block3_conv1")(x)
    x = layers.MaxPooling2D(2, name="block3_pool")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="block4_conv1")(x)
    x = layers.MaxPooling2D(2, name="block4_pool")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="block5_conv1")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="block5_conv2")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="vgg_like")


@pytest.fixture(scope="module")
def stand_in(mnist_dir):
    """The VGG19 stand-in trained on 4,000 MNIST digits as RGB pictures, its test accuracy on 1,000."""
    classifier, accuracy, _, _ = trained_stand_in(_vgg_like, vgg19.preprocess_input, mnist_dir, train=4000, epochs=2)
    # include_top=False: the network up to its last convolution
    return keras.Model(classifier.inputs, classifier.get_layer("block5_conv2").output), accuracy


@pytest.fixture(scope="module")
def pictures(mnist_dir, tmp_path_factory):
    """The two pictures as files: a test digit enlarged to 64×96 and coloured, and a stripe texture."""
    folder = tmp_path_factory.mktemp("pictures")
    _, (x_test, _) = keras.datasets.mnist.load_data(path=mnist_dir)
    digit = x_test[0].astype("float32") / 255.0
    big = np.kron(digit, np.ones((2, 2)))  # 56×56
    base = np.zeros((64, 96, 3), "float32")
    base[4:60, 20:76] = big[..., None] * np.array([230.0, 200.0, 40.0])  # a yellow digit
    base += np.array([20.0, 30.0, 90.0])  # on a blue ground
    rows, cols = np.mgrid[:80, :80]
    stripes = ((rows + cols) // 6) % 2
    style = np.where(stripes[..., None] == 1, np.array([30, 60, 160]), np.array([240, 210, 60])).astype("float32")
    base_image_path, style_reference_image_path = folder / "paris.png", folder / "starry_night.png"
    keras.utils.save_img(base_image_path, np.clip(base, 0, 255).astype("uint8"))
    keras.utils.save_img(style_reference_image_path, style.astype("uint8"))
    return str(base_image_path), str(style_reference_image_path)


def _setup(base_image_path):
    """Section "Setup": the generated picture's size from the base picture's."""
    width, height = keras.preprocessing.image.load_img(base_image_path).size
    img_ncols = int(width * img_nrows / height)
    return img_ncols


def _utilities(img_ncols):
    """Sections "Image preprocessing / deprocessing utilities" and "Compute the style transfer loss"."""

    def preprocess_image(image_path):
        # Util function to open, resize and format pictures into appropriate tensors
        img = keras.preprocessing.image.load_img(image_path, target_size=(img_nrows, img_ncols))
        img = keras.preprocessing.image.img_to_array(img)
        img = np.expand_dims(img, axis=0)
        img = vgg19.preprocess_input(img)
        return torch.as_tensor(img)

    def deprocess_image(x):
        # Util function to convert a tensor into a valid image
        x = x.reshape((img_nrows, img_ncols, 3))
        # Remove zero-center by mean pixel
        x[:, :, 0] += 103.939
        x[:, :, 1] += 116.779
        x[:, :, 2] += 123.68
        # 'BGR'->'RGB'
        x = x[:, :, ::-1]
        x = np.clip(x, 0, 255).astype("uint8")
        return x

    # The gram matrix of an image tensor (feature-wise outer product)
    def gram_matrix(x):
        x = torch.permute(x, (2, 0, 1))
        features = torch.reshape(x, (x.shape[0], -1))
        gram = torch.matmul(features, torch.transpose(features, 0, 1))
        return gram

    def style_loss(style, combination):
        S = gram_matrix(style)
        C = gram_matrix(combination)
        channels = 3
        size = img_nrows * img_ncols
        return torch.sum(torch.square(S - C)) / (4.0 * (channels**2) * (size**2))

    def content_loss(base, combination):
        return torch.sum(torch.square(combination - base))

    def total_variation_loss(x):
        a = torch.square(x[:, : img_nrows - 1, : img_ncols - 1, :] - x[:, 1:, : img_ncols - 1, :])
        b = torch.square(x[:, : img_nrows - 1, : img_ncols - 1, :] - x[:, : img_nrows - 1, 1:, :])
        return torch.sum(torch.pow(a + b, 1.25))

    return preprocess_image, deprocess_image, gram_matrix, style_loss, content_loss, total_variation_loss


def test_the_gram_matrix_and_the_losses_are_the_equations_in_numpy():
    """Section "Compute the style transfer loss": gram_matrix, style_loss, content_loss
    and total_variation_loss against NumPy, in float64."""
    img_ncols = 20
    _, _, gram_matrix, style_loss, content_loss, total_variation_loss = _utilities(img_ncols)
    rng = np.random.default_rng(0)
    style, combination = rng.normal(size=(2, 6, 5, 4))
    # G_ij = Σ_p F_pi F_pj over the positions p, for the channels i, j
    flat = lambda f: f.reshape(-1, f.shape[-1])  # noqa: E731  (positions, channels)
    want_gram = np.array([[np.sum(flat(style)[:, i] * flat(style)[:, j]) for j in range(4)] for i in range(4)])
    np.testing.assert_allclose(gram_matrix(torch.from_numpy(style)).numpy(), want_gram, rtol=1e-12)
    want_style = np.sum((flat(style).T @ flat(style) - flat(combination).T @ flat(combination)) ** 2) / (
        4.0 * 3**2 * (img_nrows * img_ncols) ** 2)
    assert style_loss(torch.from_numpy(style), torch.from_numpy(combination)).item() == pytest.approx(want_style, rel=1e-12)
    assert content_loss(torch.from_numpy(style), torch.from_numpy(combination)).item() == pytest.approx(
        np.sum((combination - style) ** 2), rel=1e-12)

    x = rng.normal(size=(1, img_nrows, img_ncols, 3))
    want_tv = 0.0
    for i in range(img_nrows - 1):
        for j in range(img_ncols - 1):
            d = (x[0, i, j] - x[0, i + 1, j]) ** 2 + (x[0, i, j] - x[0, i, j + 1]) ** 2
            want_tv += np.sum(d**1.25)
    assert total_variation_loss(torch.from_numpy(x)).item() == pytest.approx(want_tv, rel=1e-12)
    # a flat picture has no variation
    assert total_variation_loss(torch.ones(1, img_nrows, img_ncols, 3)).item() == 0.0


def test_preprocess_then_deprocess_gives_the_picture_back(pictures):
    """Section "Image preprocessing / deprocessing utilities" on the base picture."""
    base_image_path, _ = pictures
    img_ncols = _setup(base_image_path)
    assert img_ncols == 72  # 96 · 48 / 64
    preprocess_image, deprocess_image, *_ = _utilities(img_ncols)
    x = preprocess_image(base_image_path)
    assert tuple(x.shape) == (1, img_nrows, img_ncols, 3) and x.dtype == torch.float32
    loaded = keras.preprocessing.image.img_to_array(
        keras.preprocessing.image.load_img(base_image_path, target_size=(img_nrows, img_ncols)))
    np.testing.assert_allclose(x.numpy()[0, :, :, 0], loaded[:, :, 2] - 103.939, rtol=1e-6)  # B first
    back = deprocess_image(x.numpy().copy())
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, np.clip(np.round(loaded), 0, 255).astype("uint8"))


def test_the_style_transfer_loop_lowers_the_loss_and_saves_the_image(stand_in, pictures, tmp_path, monkeypatch):
    """Sections "Compute the style transfer loss" (the feature extractor over every
    layer's output, compute_loss) and "The training loop" (SGD with ExponentialDecay,
    the image saved every save_every iterations)."""
    model, accuracy = stand_in
    assert accuracy > 0.8  # a trained network stands in for VGG19 (chance: 0.1)
    monkeypatch.chdir(tmp_path)  # the example saves its pictures in the working directory
    base_image_path, style_reference_image_path = pictures
    img_ncols = _setup(base_image_path)
    preprocess_image, deprocess_image, _, style_loss, content_loss, total_variation_loss = _utilities(img_ncols)

    # Get the symbolic outputs of each "key" layer (we gave them unique names).
    outputs_dict = dict([(layer.name, layer.output) for layer in model.layers])

    # Set up a model that returns the activation values for every layer in
    # VGG19 (as a dict).
    feature_extractor = keras.Model(inputs=model.inputs, outputs=outputs_dict)

    # List of layers to use for the style loss.
    style_layer_names = [
        "block1_conv1",
        "block2_conv1",
        "block3_conv1",
        "block4_conv1",
        "block5_conv1",
    ]
    # The layer to use for the content loss.
    content_layer_name = "block5_conv2"

    def compute_loss(combination_image, base_image, style_reference_image):
        input_tensor = torch.cat([base_image, style_reference_image, combination_image], dim=0)
        features = feature_extractor(input_tensor)

        # Initialize the loss
        loss = torch.zeros(size=())

        # Add content loss
        layer_features = features[content_layer_name]
        base_image_features = layer_features[0, :, :, :]
        combination_features = layer_features[2, :, :, :]
        loss = loss + content_weight * content_loss(base_image_features, combination_features)
        # Add style loss
        for layer_name in style_layer_names:
            layer_features = features[layer_name]
            style_reference_features = layer_features[1, :, :, :]
            combination_features = layer_features[2, :, :, :]
            sl = style_loss(style_reference_features, combination_features)
            loss += (style_weight / len(style_layer_names)) * sl

        # Add total variation loss
        loss += total_variation_weight * total_variation_loss(combination_image)
        return loss

    def compute_loss_and_grads(combination_image, base_image, style_reference_image):
        loss = compute_loss(combination_image, base_image, style_reference_image)
        grads = torch.autograd.grad(loss, combination_image)[0]
        return loss.detach(), grads

    def parts(combination_image):  # the weighted content, style and total variation terms, for the checks below
        with torch.no_grad():
            features = feature_extractor(torch.cat([base_image, style_reference_image, combination_image], dim=0))
            content = content_weight * float(content_loss(features[content_layer_name][0],
                                                          features[content_layer_name][2]))
            style = sum(float(style_loss(features[n][1], features[n][2])) for n in style_layer_names)
            variation = total_variation_weight * float(total_variation_loss(combination_image))
            return content, style_weight / len(style_layer_names) * style, variation

    names = set(feature_extractor(torch.zeros(1, img_nrows, img_ncols, 3)))
    assert set(style_layer_names) | {content_layer_name} <= names
    assert tuple(feature_extractor(torch.zeros(1, img_nrows, img_ncols, 3))["block3_conv1"].shape) == (
        1, img_nrows // 4, img_ncols // 4, 32)

    optimizer = keras.optimizers.SGD(
        keras.optimizers.schedules.ExponentialDecay(initial_learning_rate=100.0, decay_steps=100, decay_rate=0.96)
    )

    base_image = preprocess_image(base_image_path)
    style_reference_image = preprocess_image(style_reference_image_path)
    combination_image = preprocess_image(base_image_path).requires_grad_(True)  # tf.Variable(...)

    start = parts(combination_image)
    assert start[0] == 0.0  # the combination starts as the base picture
    losses = []
    for i in range(1, iterations + 1):
        loss, grads = compute_loss_and_grads(combination_image, base_image, style_reference_image)
        optimizer.apply_gradients([(grads, combination_image)])
        losses.append(float(loss))  # kept for the checks below
        if i % save_every == 0:
            print("Iteration %d: loss=%.2f" % (i, loss))
            img = deprocess_image(combination_image.detach().numpy().copy())  # .copy(): deprocess_image writes into it
            fname = result_prefix + "_at_iteration_%d.png" % i
            keras.preprocessing.image.save_img(fname, img)

    assert all(np.isfinite(losses))
    assert losses[0] == pytest.approx(sum(start), rel=1e-4)
    assert np.mean(losses[-5:]) < 0.5 * losses[0], losses
    # with the stand-in, the fall is the total variation's (the example's weights suit VGG19's features)
    end = parts(combination_image)
    assert end[2] < 0.5 * start[2] and end[0] > 0.0, (start, end)
    assert float((combination_image.detach() - base_image).abs().mean()) > 1.0  # pixels moved (0..255 scale)
    saved = sorted(p.name for p in tmp_path.glob(result_prefix + "_at_iteration_*.png"))
    assert saved == sorted(f"{result_prefix}_at_iteration_{i}.png" for i in range(save_every, iterations + 1, save_every))
    last = keras.preprocessing.image.img_to_array(
        keras.preprocessing.image.load_img(tmp_path / f"{result_prefix}_at_iteration_{iterations}.png"))
    assert last.shape == (img_nrows, img_ncols, 3)
    # save_img scales the picture to the full 0..255 range first (its scale=True, as in Keras)
    final = deprocess_image(combination_image.detach().numpy().copy()).astype("float64")
    scaled = (final - final.min()) / (final.max() - final.min()) * 255
    np.testing.assert_allclose(last, scaled, atol=1.0)
