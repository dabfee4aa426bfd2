"""keras.io example "Grad-CAM class activation visualization"
(https://keras.io/examples/vision/grad_cam/), its Keras 3 version, ported as
a learner would: ``import brainnet as keras`` in place of the Keras import,
and the ``tf.GradientTape`` block written with torch autograd (the forward
pass records the graph; ``tape.gradient(class_channel, conv_output)`` is
``torch.autograd.grad(class_channel.sum(), conv_output)``, the sum being
what the tape does with a non-scalar target), ``tf.reduce_mean`` as
``torch.mean``, ``tf.newaxis`` as ``None``, ``tf.maximum``/``tf.math.reduce_max``
as ``torch.maximum``/``torch.max``; ``make_gradcam_heatmap`` and
``save_and_display_gradcam`` are otherwise as written.

Replaced, since nothing may be downloaded and brainnet has no
``keras.applications``: Xception with ImageNet weights is a small MNIST
convnet trained in a module fixture (tests/keras_examples/_pretrained_convnet.py;
RGB input of any size, global average pooling, its last convolution's
activation named ``block14_sepconv2_act``), ``preprocess_input`` is its
``x / 255``, and ``img_size`` is ``(28, 28)``. The elephant photo is an MNIST
test digit written with ``keras.utils.save_img``; the cat-and-dog photo is
two test digits side by side (a 28 × 56 picture, which the fully
convolutional stand-in takes as Xception would), and classes 260 ("chow")
and 285 ("Egyptian cat") are the two digits' classes. ``decode_predictions``
(ImageNet's class names) is the argmax digit; ``display`` and
``plt.matshow`` are left out, and cam.jpg is written to ``tmp_path``.

Each test names the section it runs and checks what it computes: the
stand-in far above chance, the logits left after the softmax is removed,
the heatmap against NumPy (for a network ending in global average pooling
and a linear layer, the gradient of class c's logit on the last feature
maps is the constant ``W[:, c] / (H'W')``, so Grad-CAM is
``ReLU(A · W[:, c]) / max``), each digit of the two-digit picture lit by its
own class's heatmap, and the superimposed picture's colours following the
heatmap.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest
import torch

import brainnet as keras

from ._pretrained_convnet import preprocess_input, pretrained_convnet

img_size = (28, 28)  # Xception's is (299, 299)
last_conv_layer_name = "block14_sepconv2_act"


def get_img_array(img_path, size):
    # `img` is a PIL image of size 28x28
    img = keras.utils.load_img(img_path, target_size=size)
    # `array` is a float32 Numpy array of shape (28, 28, 3)
    array = keras.utils.img_to_array(img)
    # We add a dimension to transform our array into a "batch"
    # of size (1, 28, 28, 3)
    array = np.expand_dims(array, axis=0)
    return array


def make_gradcam_heatmap(img_array, model, last_conv_layer_name, pred_index=None):
    # First, we create a model that maps the input image to the activations
    # of the last conv layer as well as the output predictions
    grad_model = keras.models.Model(
        model.input, [model.get_layer(last_conv_layer_name).output, model.output]
    )

    # Then, we compute the gradient of the top predicted class for our input image
    # with respect to the activations of the last conv layer (torch records the graph)
    last_conv_layer_output, preds = grad_model(img_array)
    if pred_index is None:
        pred_index = torch.argmax(preds[0])
    class_channel = preds[:, pred_index]

    # This is the gradient of the output neuron (top predicted or chosen)
    # with regard to the output feature map of the last conv layer
    grads = torch.autograd.grad(class_channel.sum(), last_conv_layer_output)[0]

    # This is a vector where each entry is the mean intensity of the gradient
    # over a specific feature map channel
    pooled_grads = torch.mean(grads, dim=(0, 1, 2))

    # We multiply each channel in the feature map array
    # by "how important this channel is" with regard to the top predicted class
    # then sum all the channels to obtain the heatmap class activation
    last_conv_layer_output = last_conv_layer_output[0]
    heatmap = last_conv_layer_output @ pooled_grads[..., None]
    heatmap = torch.squeeze(heatmap)

    # For visualization purpose, we will also normalize the heatmap between 0 & 1
    heatmap = torch.maximum(heatmap, torch.tensor(0.0)) / torch.max(heatmap)
    return heatmap.detach().numpy()


def save_and_display_gradcam(img_path, heatmap, cam_path="cam.jpg", alpha=0.4):
    # Load the original image
    img = keras.utils.load_img(img_path)
    img = keras.utils.img_to_array(img)

    # Rescale heatmap to a range 0-255
    heatmap = np.uint8(255 * heatmap)

    # Use jet colormap to colorize heatmap
    jet = mpl.colormaps["jet"]

    # Use RGB values of the colormap
    jet_colors = jet(np.arange(256))[:, :3]
    jet_heatmap = jet_colors[heatmap]

    # Create an image with RGB colorized heatmap
    jet_heatmap = keras.utils.array_to_img(jet_heatmap)
    jet_heatmap = jet_heatmap.resize((img.shape[1], img.shape[0]))
    jet_heatmap = keras.utils.img_to_array(jet_heatmap)

    # Superimpose the heatmap on original image
    superimposed_img = jet_heatmap * alpha + img
    superimposed_img = keras.utils.array_to_img(superimposed_img)

    # Save the superimposed image
    superimposed_img.save(cam_path)


@pytest.fixture(scope="module")
def trained(mnist_dir):
    """Section "Configurable parameters": the model (the stand-in for Xception)."""
    return pretrained_convnet(mnist_dir)


@pytest.fixture(scope="module")
def model(trained):
    """Section "Let's test-drive it": "Remove last layer's softmax"."""
    model = trained[0]
    model.layers[-1].activation = None
    return model


def _digit_file(tmp_path, picture, name):
    """The test's picture written as the example's downloaded image file."""
    path = tmp_path / name
    keras.utils.save_img(path, picture)
    return str(path)


def _reference_heatmap(model, img_array, class_index):
    """Grad-CAM in NumPy for a network ending in GAP and a linear layer: ReLU(A · W[:, c]) / max."""
    features = keras.Model(model.input, model.get_layer(last_conv_layer_name).output)
    a = features.predict(img_array, verbose=0)[0].astype("float64")  # (H', W', K)
    kernel = model.get_layer("predictions").get_weights()[0].astype("float64")  # (K, classes)
    cam = a @ (kernel[:, class_index] / (a.shape[0] * a.shape[1]))  # α_k = mean of ∂y_c/∂A_k = W_kc / (H'W')
    return np.maximum(cam, 0) / cam.max()


def test_the_stand_in_for_xception_classifies_far_above_chance_and_gives_logits(trained, model):
    """Sections "Configurable parameters" and "Let's test-drive it": the model, its softmax removed."""
    _, accuracy, x_test, _ = trained
    assert accuracy > 0.85  # chance is 0.1
    img_array = preprocess_input(x_test[:16].astype("float32"))
    preds = model.predict(img_array)  # "Print what the top predicted class is"
    assert preds.shape == (16, 10)
    assert not np.allclose(preds.sum(axis=1), 1.0)  # logits now, not probabilities
    features = keras.Model(model.input, model.get_layer("avg_pool").output).predict(img_array, verbose=0)
    kernel, bias = model.get_layer("predictions").get_weights()
    np.testing.assert_allclose(preds, features @ kernel + bias, rtol=1e-4, atol=1e-4)


def test_the_grad_cam_heatmap_equals_the_numpy_computation(trained, model, tmp_path):
    """Sections "The Grad-CAM algorithm" and "Let's test-drive it" on a test digit read from a file."""
    _, _, x_test, y_test = trained
    img_path = _digit_file(tmp_path, x_test[0], "digit.png")
    img_array = preprocess_input(get_img_array(img_path, size=img_size))
    assert img_array.shape == (1, 28, 28, 3)
    np.testing.assert_allclose(img_array[0], x_test[0] / 255.0, atol=1e-6)  # the file holds the digit
    preds = model.predict(img_array)
    assert preds[0].argmax() == y_test[0]  # "Predicted:" the digit

    heatmap = make_gradcam_heatmap(img_array, model, last_conv_layer_name)
    assert heatmap.shape == (7, 7)  # the last convolution's grid: 28 / 2 / 2
    assert heatmap.min() >= 0 and heatmap.max() == pytest.approx(1.0)
    np.testing.assert_allclose(heatmap, _reference_heatmap(model, img_array, y_test[0]), atol=1e-5)

    save_and_display_gradcam(img_path, heatmap, cam_path=str(tmp_path / "cam.jpg"))
    cam = keras.utils.img_to_array(keras.utils.load_img(tmp_path / "cam.jpg"))
    assert cam.shape == (28, 28, 3)  # the original image's size
    # the digit is grey (equal channels), so red minus blue is the jet colouring: hot is red, cold is blue
    red_minus_blue = (cam[..., 0] - cam[..., 2]).reshape(7, 4, 7, 4).mean(axis=(1, 3))
    assert np.corrcoef(red_minus_blue.ravel(), heatmap.ravel())[0, 1] > 0.8


def test_each_digit_of_a_two_digit_picture_is_lit_by_its_own_class(trained, model, tmp_path):
    """Section "Let's try another image": one picture, a heatmap for each of two classes."""
    _, _, x_test, y_test = trained
    first = 0
    second = next(i for i in range(1, len(y_test)) if y_test[i] != y_test[first])
    img_path = _digit_file(tmp_path, np.concatenate([x_test[first], x_test[second]], axis=1), "two.png")
    img_array = preprocess_input(get_img_array(img_path, size=(28, 56)))
    preds = model.predict(img_array)
    assert set(np.argsort(preds[0])[-2:]) == {y_test[first], y_test[second]}  # "the two top predicted classes"

    for pred_index, lit, dark in ((y_test[first], slice(0, 7), slice(7, 14)),
                                  (y_test[second], slice(7, 14), slice(0, 7))):
        heatmap = make_gradcam_heatmap(img_array, model, last_conv_layer_name, pred_index=pred_index)
        assert heatmap.shape == (7, 14)
        np.testing.assert_allclose(heatmap, _reference_heatmap(model, img_array, pred_index), atol=1e-5)
        assert heatmap[:, lit].sum() > 2 * heatmap[:, dark].sum()  # the class's own digit carries its heatmap
        save_and_display_gradcam(img_path, heatmap, cam_path=str(tmp_path / f"cam_{pred_index}.jpg"))
        assert keras.utils.load_img(tmp_path / f"cam_{pred_index}.jpg").size == (56, 28)
