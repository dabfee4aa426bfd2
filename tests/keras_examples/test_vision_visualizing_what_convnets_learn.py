"""keras.io example "Visualizing what convnets learn"
(https://keras.io/examples/vision/visualizing_what_convnets_learn/; the
stored copy is the tf.keras version), ported as a learner would: ``import
brainnet as keras`` in place of the TensorFlow imports, and the
``@tf.function`` gradient ascent step written with torch autograd (``tape.watch(img)``
is ``img.detach().requires_grad_(True)``, ``tape.gradient(loss, img)`` is
``torch.autograd.grad(loss, img)[0]``, ``tf.math.l2_normalize(grads)`` over
all axes is ``grads / torch.sqrt(torch.clamp(torch.sum(grads ** 2), min=1e-12))``),
``tf.reduce_mean`` as ``torch.mean`` and ``tf.random.uniform`` as
``torch.rand``; ``compute_loss``, ``visualize_filter`` and ``deprocess_image``
are otherwise as written.

Replaced, since nothing may be downloaded and brainnet has no
``keras.applications``: ResNet50V2 with ImageNet weights is a small MNIST
convnet trained in a module fixture (tests/keras_examples/_pretrained_convnet.py;
like ``ResNet50V2(include_top=False)`` it takes RGB pictures of any size),
whose middle convolution (32 filters) is named ``conv3_block4_out``. Its
inputs are in [0, 1], not ResNet50V2's [-1, 1], so ``initialize_image``'s
near-grey noise is centred on 0.5 (``(img - 0.5) * 0.25 + 0.5``) in place of
0. Shortened: pictures of 78 × 78 in place of 180 × 180 (the example's
25-pixel crop then leaves 28 × 28, the MNIST size) and a grid of the first
16 filters (4 × 4) in place of 64 (8 × 8). ``display`` is left out and the
PNG files are written to ``tmp_path``.

Each test names the section it runs and checks what it computes: the
feature extractor's output against the layer's maps, the loss against NumPy,
a gradient-ascent step of length ``learning_rate`` that raises the filter's
activation, 30 steps that raise it far more, and the stitched grid.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras

from ._pretrained_convnet import pretrained_convnet

# The dimensions of our input image
img_width = 78  # 180 in the example
img_height = 78
# Our target layer: we will visualize the filters from this layer.
# See `model.summary()` for list of layer names, if you want to change this.
layer_name = "conv3_block4_out"

feature_extractor = None  # set by the fixture `extractor`, section "Build a feature extraction model"


def compute_loss(input_image, filter_index):
    activation = feature_extractor(input_image)
    # We avoid border artifacts by only involving non-border pixels in the loss.
    filter_activation = activation[:, 2:-2, 2:-2, filter_index]
    return torch.mean(filter_activation)


def gradient_ascent_step(img, filter_index, learning_rate):
    img = img.detach().requires_grad_(True)  # tape.watch(img)
    loss = compute_loss(img, filter_index)
    # Compute gradients.
    grads = torch.autograd.grad(loss, img)[0]
    # Normalize gradients.
    grads = grads / torch.sqrt(torch.clamp(torch.sum(grads**2), min=1e-12))
    img = img.detach() + learning_rate * grads
    return loss, img


def initialize_image():
    # We start from a gray image with some random noise
    img = torch.rand((1, img_width, img_height, 3))
    # The stand-in expects inputs in the range [0, 1] (ResNet50V2: [-1, +1]).
    # Here we scale our random inputs to [0.375, 0.625]
    return (img - 0.5) * 0.25 + 0.5


def visualize_filter(filter_index):
    # We run gradient ascent for 30 steps
    iterations = 30
    learning_rate = 10.0
    img = initialize_image()
    for iteration in range(iterations):
        loss, img = gradient_ascent_step(img, filter_index, learning_rate)

    # Decode the resulting input image
    img = deprocess_image(img[0].numpy())
    return loss, img


def deprocess_image(img):
    # Normalize array: center on 0., ensure variance is 0.15
    img -= img.mean()
    img /= img.std() + 1e-5
    img *= 0.15

    # Center crop
    img = img[25:-25, 25:-25, :]

    # Clip to [0, 1]
    img += 0.5
    img = np.clip(img, 0, 1)

    # Convert to RGB array
    img *= 255
    img = np.clip(img, 0, 255).astype("uint8")
    return img


@pytest.fixture(scope="module")
def extractor(mnist_dir):
    """Section "Build a feature extraction model", on the stand-in for ResNet50V2."""
    global feature_extractor
    model, accuracy, _, _ = pretrained_convnet(mnist_dir)
    # Set up a model that returns the activation values for our target layer
    layer = model.get_layer(name=layer_name)
    feature_extractor = keras.Model(inputs=model.inputs, outputs=layer.output)
    yield model, accuracy
    feature_extractor = None


def test_the_feature_extractor_gives_the_target_layers_maps(extractor):
    """Section "Build a feature extraction model"."""
    model, accuracy = extractor
    assert accuracy > 0.85  # the stand-in learned its digits; chance is 0.1
    keras.utils.set_random_seed(1)
    img = initialize_image()
    assert img.shape == (1, 78, 78, 3) and 0.375 <= img.min() and img.max() <= 0.625
    maps = feature_extractor(img)
    assert maps.shape == (1, 39, 39, 32)  # after one 2 × 2 pooling, the layer's 32 filters
    (layer_maps,) = keras.explain.feature_maps(model, img.numpy(), layers=[layer_name]).values()
    np.testing.assert_allclose(maps[0].detach().numpy(), layer_maps, rtol=1e-5, atol=1e-6)
    assert (layer_maps < 0).any()  # the block's output before its ReLU, as ResNet50V2's


def test_the_loss_is_the_mean_activation_of_the_filter_without_its_border(extractor):
    """Section "Set up the gradient ascent process": ``compute_loss``."""
    keras.utils.set_random_seed(2)
    img = initialize_image()
    a = feature_extractor.predict(img.numpy(), verbose=0).astype("float64")
    for filter_index in (0, 5):
        expected = a[0, 2:-2, 2:-2, filter_index].mean()  # 35 × 35 inner pixels of the 39 × 39 map
        assert compute_loss(img, filter_index).item() == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_one_gradient_ascent_step_moves_the_image_by_the_learning_rate_and_raises_the_activation(extractor):
    """Section "Set up the gradient ascent process": ``gradient_ascent_step``."""
    keras.utils.set_random_seed(3)
    img = initialize_image()
    loss, stepped = gradient_ascent_step(img, 0, learning_rate=1.0)
    assert loss.item() == pytest.approx(compute_loss(img, 0).item(), rel=1e-6)  # the loss before the step
    assert float(torch.linalg.vector_norm(stepped - img)) == pytest.approx(1.0, rel=1e-4)  # ‖Δimg‖ = lr
    assert compute_loss(stepped, 0).item() > loss.item()  # uphill


def test_thirty_steps_of_gradient_ascent_raise_the_filters_activation(extractor):
    """Section "Set up the end-to-end filter visualization loop": ``visualize_filter(0)``, and
    the 15 filters after it."""
    for filter_index in range(16):
        keras.utils.set_random_seed(4)
        start = compute_loss(initialize_image(), filter_index).item()
        keras.utils.set_random_seed(4)  # the same grey start
        loss, img = visualize_filter(filter_index)
        assert loss.item() > start + 1.0, filter_index  # the activation before the last step (gains of 2.3 to 38)
        assert img.shape == (28, 28, 3) and img.dtype == np.uint8  # the 25-pixel border cropped
        assert img.min() < 100 < 155 < img.max(), filter_index  # contrast: a pattern, not grey


def test_the_grid_of_the_first_16_filters(extractor, tmp_path):
    """Section "Visualize the first 64 filters in the target layer", 16 of them."""
    keras.utils.set_random_seed(5)
    loss, img = visualize_filter(0)
    keras.preprocessing.image.save_img(tmp_path / "0.png", img)
    x = img.astype("float64")
    stretched = np.floor(255 * (x - x.min()) / (x.max() - x.min()) + 1e-6)  # save_img's scale=True
    np.testing.assert_array_equal(keras.utils.img_to_array(keras.utils.load_img(tmp_path / "0.png")), stretched)

    all_imgs = []
    for filter_index in range(16):
        loss, img = visualize_filter(filter_index)
        all_imgs.append(img)

    # Build a black picture with enough space for
    # our 4 x 4 filters of size 28 x 28, with a 5px margin in between
    margin = 5
    n = 4
    cropped_width = img_width - 25 * 2
    cropped_height = img_height - 25 * 2
    width = n * cropped_width + (n - 1) * margin
    height = n * cropped_height + (n - 1) * margin
    stitched_filters = np.zeros((width, height, 3))

    # Fill the picture with our saved filters
    for i in range(n):
        for j in range(n):
            img = all_imgs[i * n + j]
            stitched_filters[
                (cropped_width + margin) * i : (cropped_width + margin) * i + cropped_width,
                (cropped_height + margin) * j : (cropped_height + margin) * j
                + cropped_height,
                :,
            ] = img
    keras.preprocessing.image.save_img(tmp_path / "stiched_filters.png", stitched_filters)

    assert stitched_filters.shape == (127, 127, 3)
    saved = keras.utils.img_to_array(keras.utils.load_img(tmp_path / "stiched_filters.png"))
    # save_img stretches to 0..255 (the margins are 0), as Keras
    np.testing.assert_array_equal(saved, np.floor(255 * stitched_filters / stitched_filters.max() + 1e-6))
    np.testing.assert_array_equal(stitched_filters[33:61, 66:94], all_imgs[1 * n + 2])  # row 1, column 2
    assert np.all(stitched_filters[28:33] == 0)  # the black margin
    assert len({im.tobytes() for im in all_imgs}) == 16  # each filter its own pattern
