"""keras.io example "Deep Dream"
(https://keras.io/examples/generative/deep_dream/), ported as a learner
would. The stored copy is the tf.keras version: ``import brainnet as keras``
/ ``from brainnet import layers`` in place of the TensorFlow imports, the
``tf.*`` calls written as torch calls (``tf.reduce_prod(tf.cast(tf.shape(a),
"float32"))`` is ``float(a.numel())``, ``tf.reduce_sum`` / ``tf.square`` /
``tf.maximum`` / ``tf.abs`` are ``torch.sum`` / ``torch.square`` /
``torch.maximum`` / ``torch.abs``, ``tf.identity(x)`` is
``torch.tensor(x)``), ``tf.image.resize(x, shape)`` as Keras 3's
``layers.Resizing(*shape)(x)`` (bilinear with half-pixel centres and no
antialiasing, as ``tf.image.resize``'s default), and the ``tf.function`` /
``tf.GradientTape`` step with ``tape.watch(img)`` as
``img.requires_grad_(True)`` and ``torch.autograd.grad(loss, img)``. The
image utilities, the feature extractor over the chosen layers (a dict of
outputs), the loss that leaves out the activations' borders, the
normalized gradient ascent with its ``max_loss`` stop, and the octave loop
that reinjects the detail lost by upscaling are the example's.

Replaced, because nothing may be downloaded here: InceptionV3 with ImageNet
weights by a small convnet trained in the test on 4,000 MNIST digits (3
epochs), four
of whose convolutions carry the names the example's ``layer_settings`` asks
for (``mixed4`` to ``mixed7``; ``include_top=False`` is the classifier cut
after ``mixed7``), and ``inception_v3.preprocess_input`` by the same
scaling written in the test (``x / 127.5 - 1``), which the stand-in is
trained on and the example's ``deprocess_image`` undoes; the photograph of
the sky by a picture the test writes (a handwritten digit, enlarged to
56×84 and coloured). Shortened for CI: 10 ascent steps per octave in place
of 20; ``IPython``'s ``display`` left out. With the stand-in the loss passes
``max_loss`` after a few steps of the first octave, so, as the example's
loop does then, each later octave stops after its first step.

Each test names the section it runs. They check: the loss against NumPy
(squares summed away from the borders, over the whole activation's size,
weighted per layer); that one ascent step moves the image by the learning
rate times gradients whose mean magnitude is 1 and raises the loss; that
the loop stops at ``max_loss``; and that the octave loop visits the
example's shapes from smallest to largest, prints rising losses none above
``max_loss``, gives an image of the original size with a higher loss than
the original's, and saves it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

from ._pretrained_convnet import trained_stand_in

result_prefix = "sky_dream"

# These are the names of the layers
# for which we try to maximize activation,
# as well as their weight in the final loss
# we try to maximize.
layer_settings = {
    "mixed4": 1.0,
    "mixed5": 1.5,
    "mixed6": 2.0,
    "mixed7": 2.5,
}

step = 0.01  # Gradient ascent step size
num_octave = 3  # Number of scales at which to run gradient ascent
octave_scale = 1.4  # Size ratio between scales
iterations = 10  # Number of ascent steps per scale (20 in the example)
max_loss = 15.0


class inception_v3:
    """The stand-in for ``keras.applications.inception_v3``: its ``preprocess_input``."""

    @staticmethod
    def preprocess_input(x):
        return np.asarray(x, dtype="float32") / 127.5 - 1.0  # pixels to [-1, 1]


def _inception_like():
    """A small convnet whose convolutions mixed4..mixed7 stand for InceptionV3's blocks, then a classifier."""
    inputs = keras.Input(shape=(None, None, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2d")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="mixed4")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="mixed5")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="mixed6")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="mixed7")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="inception_like")


@pytest.fixture(scope="module")
def model(mnist_dir):
    """The InceptionV3 stand-in trained on 4,000 MNIST digits as RGB pictures, cut after mixed7."""
    classifier, accuracy, _, _ = trained_stand_in(_inception_like, inception_v3.preprocess_input, mnist_dir,
                                                  train=4000, epochs=3)
    return keras.Model(classifier.inputs, classifier.get_layer("mixed7").output), accuracy


@pytest.fixture(scope="module")
def base_image_path(mnist_dir, tmp_path_factory):
    """The picture to dream on, as a file: a test digit enlarged to 56×84 and coloured."""
    _, (x_test, _) = keras.datasets.mnist.load_data(path=mnist_dir)
    digit = np.kron(x_test[1].astype("float32") / 255.0, np.ones((2, 2)))  # 56×56
    picture = np.zeros((56, 84, 3), "float32") + np.array([110.0, 160.0, 220.0])  # a sky blue
    picture[:, 14:70] += digit[..., None] * np.array([140.0, 60.0, -180.0])  # an orange digit
    path = tmp_path_factory.mktemp("pictures") / "sky.png"
    keras.utils.save_img(path, np.clip(picture, 0, 255).astype("uint8"))
    return str(path)


def preprocess_image(image_path):
    # Util function to open, resize and format pictures
    # into appropriate arrays.
    img = keras.utils.load_img(image_path)
    img = keras.utils.img_to_array(img)
    img = np.expand_dims(img, axis=0)
    img = inception_v3.preprocess_input(img)
    return img


def deprocess_image(x):
    # Util function to convert a NumPy array into a valid image.
    x = x.reshape((x.shape[1], x.shape[2], 3))
    # Undo inception v3 preprocessing
    x /= 2.0
    x += 0.5
    x *= 255.0
    # Convert to uint8 and clip to the valid range [0, 255]
    x = np.clip(x, 0, 255).astype("uint8")
    return x


def _dream_functions(model):
    """Sections "Compute the Deep Dream loss" and "Set up the gradient ascent loop for one octave"."""
    # Get the symbolic outputs of each "key" layer (we gave them unique names).
    outputs_dict = dict([(layer.name, layer.output) for layer in [model.get_layer(name) for name in layer_settings.keys()]])

    # Set up a model that returns the activation values for every target layer
    # (as a dict)
    feature_extractor = keras.Model(inputs=model.inputs, outputs=outputs_dict)

    def compute_loss(input_image):
        features = feature_extractor(input_image)
        # Initialize the loss
        loss = torch.zeros(size=())
        for name in features.keys():
            coeff = layer_settings[name]
            activation = features[name]
            # We avoid border artifacts by only involving non-border pixels in the loss.
            scaling = float(activation.numel())
            loss += coeff * torch.sum(torch.square(activation[:, 2:-2, 2:-2, :])) / scaling
        return loss

    def gradient_ascent_step(img, learning_rate):
        img = img.detach().requires_grad_(True)  # tape.watch(img)
        loss = compute_loss(img)
        # Compute gradients.
        grads = torch.autograd.grad(loss, img)[0]
        # Normalize gradients.
        grads /= torch.maximum(torch.mean(torch.abs(grads)), torch.tensor(1e-6))
        img = img.detach() + learning_rate * grads
        return loss.detach(), img

    def gradient_ascent_loop(img, iterations, learning_rate, max_loss=None):
        for i in range(iterations):
            loss, img = gradient_ascent_step(img, learning_rate)
            if max_loss is not None and loss > max_loss:
                break
            print("... Loss value at step %d: %.2f" % (i, loss))
        return img

    return feature_extractor, compute_loss, gradient_ascent_step, gradient_ascent_loop


def test_the_loss_is_the_equation_in_numpy(model, base_image_path):
    """Section "Compute the Deep Dream loss": Σ_layers c_l · Σ (a_l[:, 2:-2, 2:-2, :])² / size(a_l)."""
    model, accuracy = model
    assert accuracy > 0.8  # a trained network stands in for InceptionV3 (chance: 0.1)
    feature_extractor, compute_loss, _, _ = _dream_functions(model)
    img = torch.from_numpy(preprocess_image(base_image_path))
    assert tuple(img.shape) == (1, 56, 84, 3) and -1.0 <= float(img.min()) and float(img.max()) <= 1.0
    with torch.no_grad():
        features = {k: v.numpy().astype("float64") for k, v in feature_extractor(img).items()}
        got = float(compute_loss(img))
    assert sorted(features) == sorted(layer_settings)
    assert features["mixed4"].shape == (1, 28, 42, 16) and features["mixed7"].shape == (1, 14, 21, 32)
    want = sum(layer_settings[name] * np.sum(a[:, 2:-2, 2:-2, :] ** 2) / a.size for name, a in features.items())
    assert want > 0 and got == pytest.approx(want, rel=1e-5)
    # the border rows and columns do not count: changing them in the features changes nothing
    a = features["mixed7"].copy()
    a[:, :2] += 5.0
    assert np.sum(a[:, 2:-2, 2:-2, :] ** 2) == np.sum(features["mixed7"][:, 2:-2, 2:-2, :] ** 2)


def test_one_ascent_step_moves_by_normalized_gradients_and_the_loop_stops_at_max_loss(model, base_image_path, capsys):
    """Section "Set up the gradient ascent loop for one octave"."""
    model, _ = model
    _, compute_loss, gradient_ascent_step, gradient_ascent_loop = _dream_functions(model)
    img = torch.from_numpy(preprocess_image(base_image_path))
    loss, stepped = gradient_ascent_step(img, learning_rate=step)
    assert float(loss) == pytest.approx(float(compute_loss(img).detach()), rel=1e-6)
    # |Δ| averages to the learning rate: the gradients were divided by their mean magnitude
    assert float(torch.mean(torch.abs(stepped - img))) == pytest.approx(step, rel=1e-4)
    assert float(compute_loss(stepped).detach()) > float(loss)  # ascent

    dreamed = gradient_ascent_loop(img, iterations=5, learning_rate=step)
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in printed] == [f"... Loss value at step {i}" for i in range(5)]
    assert float(compute_loss(dreamed).detach()) > float(loss)
    # a max_loss below the first loss stops the loop at once, with the first step's image
    first = gradient_ascent_loop(img, iterations=5, learning_rate=step, max_loss=float(loss) / 2)
    assert capsys.readouterr().out == ""
    torch.testing.assert_close(first, stepped)


def test_the_octave_loop_dreams_at_three_scales_and_saves_the_picture(model, base_image_path, tmp_path, monkeypatch,
                                                                     capsys):
    """Section "Run the training loop, iterating over different octaves"."""
    monkeypatch.chdir(tmp_path)  # the example saves its picture in the working directory
    model, _ = model
    _, compute_loss, _, gradient_ascent_loop = _dream_functions(model)

    original_img = preprocess_image(base_image_path)
    original_shape = original_img.shape[1:3]

    successive_shapes = [original_shape]
    for i in range(1, num_octave):
        shape = tuple([int(dim / (octave_scale**i)) for dim in original_shape])
        successive_shapes.append(shape)
    successive_shapes = successive_shapes[::-1]
    assert successive_shapes == [(28, 42), (40, 60), (56, 84)]  # 56 / 1.4², 56 / 1.4, 56
    shrunk_original_img = layers.Resizing(*successive_shapes[0])(torch.from_numpy(original_img))

    img = torch.tensor(original_img)  # Make a copy
    for i, shape in enumerate(successive_shapes):
        print("Processing octave %d with shape %s" % (i, shape))
        img = layers.Resizing(*shape)(img)
        img = gradient_ascent_loop(img, iterations=iterations, learning_rate=step, max_loss=max_loss)
        upscaled_shrunk_original_img = layers.Resizing(*shape)(shrunk_original_img)
        same_size_original = layers.Resizing(*shape)(torch.from_numpy(original_img))
        lost_detail = same_size_original - upscaled_shrunk_original_img

        img += lost_detail
        shrunk_original_img = layers.Resizing(*shape)(torch.from_numpy(original_img))

    keras.utils.save_img(result_prefix + ".png", deprocess_image(img.numpy()))

    printed = capsys.readouterr().out
    assert [line for line in printed.splitlines() if line.startswith("Processing")] == [
        "Processing octave 0 with shape (28, 42)", "Processing octave 1 with shape (40, 60)",
        "Processing octave 2 with shape (56, 84)"]
    # the losses printed at the first octave rise, and none passes max_loss (the loop stops first)
    first_octave = printed.split("Processing octave 1")[0]
    losses = [float(line.split(": ")[1]) for line in first_octave.splitlines() if line.startswith("... Loss")]
    assert len(losses) >= 2 and all(b > a for a, b in zip(losses, losses[1:])), losses
    every = [float(line.split(": ")[1]) for line in printed.splitlines() if line.startswith("... Loss")]
    assert max(every) <= max_loss
    assert tuple(img.shape) == (1, 56, 84, 3) and bool(torch.isfinite(img).all())
    with torch.no_grad():
        assert float(compute_loss(img)) > 1.2 * float(compute_loss(torch.from_numpy(original_img)))
    saved = keras.utils.img_to_array(keras.utils.load_img(tmp_path / "sky_dream.png"))
    assert saved.shape == (56, 84, 3)
    assert not np.array_equal(saved, keras.utils.img_to_array(keras.utils.load_img(base_image_path)))
