"""keras.io example "Model interpretability with Integrated Gradients"
(https://keras.io/examples/vision/integrated_gradients/; the stored copy is
the tf.keras version), ported as a learner would: ``import brainnet as
keras`` in place of the TensorFlow imports, and the ``tf.GradientTape`` in
``get_gradients`` written with torch autograd (``tf.cast`` is
``torch.as_tensor(..., dtype=torch.float32)``, ``tape.watch(images)`` is
``images.requires_grad_(True)``, ``tape.gradient(top_class, images)`` is
``torch.autograd.grad(top_class.sum(), images)[0]``), ``tf.expand_dims`` as
``torch.unsqueeze`` of the NumPy image, ``tf.convert_to_tensor`` of a list
of tensors as ``torch.stack``, ``tf.reduce_mean`` as ``torch.mean``, and
``(img_input - baseline) * avg_grads`` with the NumPy difference made a
tensor first (NumPy and torch do not multiply each other).

Replaced, since nothing may be downloaded and brainnet has no
``keras.applications``: Xception with ImageNet weights is a small MNIST
convnet trained in a module fixture (tests/keras_examples/_pretrained_convnet.py;
RGB input, a softmax output as Xception's), ``xception.preprocess_input``
is its ``x / 255``, ``img_size`` is ``(28, 28, 3)``, and the elephant photo
is an MNIST test digit written with ``keras.utils.save_img``. The example's
functions use a module-level ``model``, which the fixture sets.
``decode_predictions`` is the argmax digit. Left out: the second
``vis.visualize`` call (``morphological_cleanup=True, outlines=True``) and
the two ``GradVisualizer`` methods it needs, which call ``scipy.ndimage``,
and scipy is no dependency of brainnet; ``visualize`` saves its figure to
``tmp_path`` in place of ``plt.show()``.

Each test names the section it runs and checks what it computes: the
gradients against finite differences of the model, the
completeness of integrated gradients (the attributions sum to the change of
the class probability from baseline to image, within a stated tolerance),
zero attribution where image and black baseline agree, and the visualizer's
overlay.

What the example computes is in the preprocessed model's units: its
gradients are taken on the preprocessed images ``p = x / 255`` but
multiplied by ``x - baseline`` in pixel units, so its attributions sum to
``255 · (F(x) - F(baseline))`` (with Xception's ``x / 127.5 - 1``,
``127.5 ·``); the pictures only use their relative sizes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import brainnet as keras

from ._pretrained_convnet import preprocess_input, pretrained_convnet

# Size of the input image
img_size = (28, 28, 3)  # Xception's is (299, 299, 3)

model = None  # set by the fixture `trained`: the stand-in for xception.Xception(weights="imagenet")


def get_img_array(img_path, size=(28, 28)):
    # `img` is a PIL image of size 28x28
    img = keras.preprocessing.image.load_img(img_path, target_size=size)
    # `array` is a float32 Numpy array of shape (28, 28, 3)
    array = keras.preprocessing.image.img_to_array(img)
    # We add a dimension to transform our array into a "batch"
    # of size (1, 28, 28, 3)
    array = np.expand_dims(array, axis=0)
    return array


def get_gradients(img_input, top_pred_idx):
    """Computes the gradients of outputs w.r.t input image.

    Args:
        img_input: 4D image tensor
        top_pred_idx: Predicted label for the input image

    Returns:
        Gradients of the predictions w.r.t img_input
    """
    images = torch.as_tensor(img_input, dtype=torch.float32).clone()  # a copy: the caller's tensor stays as it is

    images.requires_grad_(True)  # tape.watch(images)
    preds = model(images)
    top_class = preds[:, top_pred_idx]

    grads = torch.autograd.grad(top_class.sum(), images)[0]
    return grads


def get_integrated_gradients(img_input, top_pred_idx, baseline=None, num_steps=50):
    """Computes Integrated Gradients for a predicted label.

    Args:
        img_input (ndarray): Original image
        top_pred_idx: Predicted label for the input image
        baseline (ndarray): The baseline image to start with for interpolation
        num_steps: Number of interpolation steps between the baseline
            and the input used in the computation of integrated gradients. These
            steps along determine the integral approximation error. By default,
            num_steps is set to 50.

    Returns:
        Integrated gradients w.r.t input image
    """
    # If baseline is not provided, start with a black image
    # having same size as the input image.
    if baseline is None:
        baseline = np.zeros(img_size).astype(np.float32)
    else:
        baseline = baseline.astype(np.float32)

    # 1. Do interpolation.
    img_input = img_input.astype(np.float32)
    interpolated_image = [
        baseline + (step / num_steps) * (img_input - baseline)
        for step in range(num_steps + 1)
    ]
    interpolated_image = np.array(interpolated_image).astype(np.float32)

    # 2. Preprocess the interpolated images
    interpolated_image = preprocess_input(interpolated_image)

    # 3. Get the gradients
    grads = []
    for i, img in enumerate(interpolated_image):
        img = torch.unsqueeze(torch.as_tensor(img), 0)
        grad = get_gradients(img, top_pred_idx=top_pred_idx)
        grads.append(grad[0])
    grads = torch.stack(grads).to(torch.float32)

    # 4. Approximate the integral using the trapezoidal rule
    grads = (grads[:-1] + grads[1:]) / 2.0
    avg_grads = torch.mean(grads, dim=0)

    # 5. Calculate integrated gradients and return
    integrated_grads = torch.as_tensor(img_input - baseline) * avg_grads
    return integrated_grads


def random_baseline_integrated_gradients(
    img_input, top_pred_idx, num_steps=50, num_runs=2
):
    """Generates a number of random baseline images.

    Args:
        img_input (ndarray): 3D image
        top_pred_idx: Predicted label for the input image
        num_steps: Number of interpolation steps between the baseline
            and the input used in the computation of integrated gradients. These
            steps along determine the integral approximation error. By default,
            num_steps is set to 50.
        num_runs: number of baseline images to generate

    Returns:
        Averaged integrated gradients for `num_runs` baseline images
    """
    # 1. List to keep track of Integrated Gradients (IG) for all the images
    integrated_grads = []

    # 2. Get the integrated gradients for all the baselines
    for run in range(num_runs):
        baseline = np.random.random(img_size) * 255
        igrads = get_integrated_gradients(
            img_input=img_input,
            top_pred_idx=top_pred_idx,
            baseline=baseline,
            num_steps=num_steps,
        )
        integrated_grads.append(igrads)

    # 3. Return the average integrated gradients for the image
    integrated_grads = torch.stack(integrated_grads)
    return torch.mean(integrated_grads, dim=0)


class GradVisualizer:
    """Plot gradients of the outputs w.r.t an input image."""

    def __init__(self, positive_channel=None, negative_channel=None):
        if positive_channel is None:
            self.positive_channel = [0, 255, 0]
        else:
            self.positive_channel = positive_channel

        if negative_channel is None:
            self.negative_channel = [255, 0, 0]
        else:
            self.negative_channel = negative_channel

    def apply_polarity(self, attributions, polarity):
        if polarity == "positive":
            return np.clip(attributions, 0, 1)
        else:
            return np.clip(attributions, -1, 0)

    def apply_linear_transformation(
        self,
        attributions,
        clip_above_percentile=99.9,
        clip_below_percentile=70.0,
        lower_end=0.2,
    ):
        # 1. Get the thresholds
        m = self.get_thresholded_attributions(
            attributions, percentage=100 - clip_above_percentile
        )
        e = self.get_thresholded_attributions(
            attributions, percentage=100 - clip_below_percentile
        )

        # 2. Transform the attributions by a linear function f(x) = a*x + b such that
        # f(m) = 1.0 and f(e) = lower_end
        transformed_attributions = (1 - lower_end) * (np.abs(attributions) - e) / (
            m - e
        ) + lower_end

        # 3. Make sure that the sign of transformed attributions is the same as original attributions
        transformed_attributions *= np.sign(attributions)

        # 4. Only keep values that are bigger than the lower_end
        transformed_attributions *= transformed_attributions >= lower_end

        # 5. Clip values and return
        transformed_attributions = np.clip(transformed_attributions, 0.0, 1.0)
        return transformed_attributions

    def get_thresholded_attributions(self, attributions, percentage):
        if percentage == 100.0:
            return np.min(attributions)

        # 1. Flatten the attributions
        flatten_attr = attributions.flatten()

        # 2. Get the sum of the attributions
        total = np.sum(flatten_attr)

        # 3. Sort the attributions from largest to smallest.
        sorted_attributions = np.sort(np.abs(flatten_attr))[::-1]

        # 4. Calculate the percentage of the total sum that each attribution
        # and the values about it contribute.
        cum_sum = 100.0 * np.cumsum(sorted_attributions) / total

        # 5. Threshold the attributions by the percentage
        indices_to_consider = np.where(cum_sum >= percentage)[0][0]

        # 6. Select the desired attributions and return
        attributions = sorted_attributions[indices_to_consider]
        return attributions

    def binarize(self, attributions, threshold=0.001):
        return attributions > threshold

    # morphological_cleanup_fn and draw_outlines (scipy.ndimage) are left out

    def process_grads(
        self,
        image,
        attributions,
        polarity="positive",
        clip_above_percentile=99.9,
        clip_below_percentile=0,
        overlay=True,
    ):
        if polarity not in ["positive", "negative"]:
            raise ValueError(
                f""" Allowed polarity values: 'positive' or 'negative'
                                    but provided {polarity}"""
            )
        if clip_above_percentile < 0 or clip_above_percentile > 100:
            raise ValueError("clip_above_percentile must be in [0, 100]")

        if clip_below_percentile < 0 or clip_below_percentile > 100:
            raise ValueError("clip_below_percentile must be in [0, 100]")

        # 1. Apply polarity
        if polarity == "positive":
            attributions = self.apply_polarity(attributions, polarity=polarity)
            channel = self.positive_channel
        else:
            attributions = self.apply_polarity(attributions, polarity=polarity)
            attributions = np.abs(attributions)
            channel = self.negative_channel

        # 2. Take average over the channels
        attributions = np.average(attributions, axis=2)

        # 3. Apply linear transformation to the attributions
        attributions = self.apply_linear_transformation(
            attributions,
            clip_above_percentile=clip_above_percentile,
            clip_below_percentile=clip_below_percentile,
            lower_end=0.0,
        )

        # 4. Cleanup and 5. Draw the outlines: left out (scipy.ndimage)

        # 6. Expand the channel axis and convert to RGB
        attributions = np.expand_dims(attributions, 2) * channel

        # 7.Superimpose on the original image
        if overlay:
            attributions = np.clip((attributions * 0.8 + image), 0, 255)
        return attributions

    def visualize(
        self,
        image,
        gradients,
        integrated_gradients,
        polarity="positive",
        clip_above_percentile=99.9,
        clip_below_percentile=0,
        overlay=True,
        figsize=(15, 8),
        path="visualize.png",
    ):
        # 1. Make two copies of the original image
        img1 = np.copy(image)
        img2 = np.copy(image)

        # 2. Process the normal gradients
        grads_attr = self.process_grads(
            image=img1,
            attributions=gradients,
            polarity=polarity,
            clip_above_percentile=clip_above_percentile,
            clip_below_percentile=clip_below_percentile,
            overlay=overlay,
        )

        # 3. Process the integrated gradients
        igrads_attr = self.process_grads(
            image=img2,
            attributions=integrated_gradients,
            polarity=polarity,
            clip_above_percentile=clip_above_percentile,
            clip_below_percentile=clip_below_percentile,
            overlay=overlay,
        )

        _, ax = plt.subplots(1, 3, figsize=figsize)
        ax[0].imshow(image)
        ax[1].imshow(grads_attr.astype(np.uint8))
        ax[2].imshow(igrads_attr.astype(np.uint8))

        ax[0].set_title("Input")
        ax[1].set_title("Normal gradients")
        ax[2].set_title("Integrated gradients")
        plt.savefig(path)  # plt.show() in the example
        plt.close()


@pytest.fixture(scope="module")
def trained(mnist_dir):
    """Section "Setup": the model (the stand-in for Xception), set where the example's functions look."""
    global model
    model, accuracy, x_test, y_test = pretrained_convnet(mnist_dir)
    yield accuracy, x_test, y_test
    model = None


@pytest.fixture(scope="module")
def digit(trained, tmp_path_factory):
    """Section "Let's test-drive it", steps 1 to 4, on a test digit written as the example's image file."""
    accuracy, x_test, y_test = trained
    img_path = tmp_path_factory.mktemp("integrated_gradients") / "digit.png"
    keras.utils.save_img(img_path, x_test[0])
    # 1. Convert the image to numpy array
    img = get_img_array(img_path)
    # 2. Keep a copy of the original image
    orig_img = np.copy(img[0]).astype(np.uint8)
    # 3. Preprocess the image
    img_processed = torch.as_tensor(preprocess_input(img), dtype=torch.float32)
    # 4. Get model predictions
    preds = model.predict(img_processed)
    top_pred_idx = torch.argmax(torch.as_tensor(preds[0]))
    return orig_img, img_processed, preds, top_pred_idx, y_test[0]


def _probability(image, class_index):
    """F(x): the model's probability of the class for one image in pixel units (0..255)."""
    return float(model.predict(preprocess_input(image[None]), verbose=0)[0, class_index])


def test_the_stand_in_predicts_the_digit_from_the_image_file(trained, digit):
    """Section "Let's test-drive it", steps 1 to 4: the image read back, and "Predicted:"."""
    accuracy, x_test, _ = trained
    orig_img, img_processed, preds, top_pred_idx, label = digit
    assert accuracy > 0.85  # chance is 0.1
    np.testing.assert_array_equal(orig_img, x_test[0])  # the file holds the digit
    assert tuple(img_processed.shape) == (1, 28, 28, 3)
    assert preds.shape == (1, 10) and preds.sum() == pytest.approx(1.0, abs=1e-5)  # probabilities
    assert int(top_pred_idx) == label


def test_the_gradients_agree_with_finite_differences_of_the_model(digit):
    """Section "Let's test-drive it", step 5: ``get_gradients`` on the preprocessed image."""
    _, img_processed, preds, top_pred_idx, _ = digit
    grads = get_gradients(img_processed, top_pred_idx=top_pred_idx)
    assert grads.shape == img_processed.shape and torch.any(grads != 0)
    assert not img_processed.requires_grad  # the caller's tensor is left as it was, as with tape.watch
    # along the image itself: d/dt F(t·p) at t = 1 is Σ ∂F/∂p · p; central differences, t = 1 ± 0.001
    p = img_processed.numpy()
    eps = 1e-3
    scores = [model.predict(t * p, verbose=0)[0, int(top_pred_idx)] for t in (1 + eps, 1 - eps)]
    finite_difference = (float(scores[0]) - float(scores[1])) / (2 * eps)
    assert finite_difference != 0  # the probability is not saturated at this digit
    assert float((grads * img_processed).sum()) == pytest.approx(finite_difference, rel=0.05)  # float32 noise


def test_integrated_gradients_sum_to_the_change_of_the_class_probability(digit):
    """Section "Integrated Gradients algorithm": completeness, Σ IG = F(x) - F(baseline)."""
    orig_img, _, _, top_pred_idx, _ = digit
    x = orig_img.astype("float64")
    delta = _probability(x, top_pred_idx) - _probability(np.zeros(img_size), top_pred_idx)
    assert delta > 0.5  # the black image is far from the digit
    errors = {}
    for num_steps in (10, 50):
        igrads = get_integrated_gradients(np.copy(orig_img), top_pred_idx=top_pred_idx, num_steps=num_steps)
        assert igrads.shape == img_size
        # the example's attributions are in units of the preprocessed image, p = x / 255 (see the docstring)
        errors[num_steps] = abs(float(igrads.sum()) / 255 - delta)
        # the black baseline: no attribution where the image is black too
        assert torch.all(igrads[torch.as_tensor(orig_img) == 0] == 0)
    assert errors[50] < 0.02 * delta  # the trapezoidal rule with 50 steps, within 2%
    assert errors[50] < errors[10]  # and closer than with 10 steps


def test_random_baseline_integrated_gradients_average_their_runs(digit):
    """Section "Let's test-drive it", step 6: two random baselines, 50 steps each."""
    orig_img, _, _, top_pred_idx, _ = digit
    np.random.seed(0)
    igrads = random_baseline_integrated_gradients(np.copy(orig_img), top_pred_idx=top_pred_idx, num_steps=50,
                                                  num_runs=2)
    np.random.seed(0)
    baselines = [np.random.random(img_size) * 255 for _ in range(2)]
    x = orig_img.astype("float64")
    mean_delta = np.mean([_probability(x, top_pred_idx) - _probability(b, top_pred_idx) for b in baselines])
    assert igrads.shape == img_size
    assert float(igrads.sum()) / 255 == pytest.approx(mean_delta, rel=0.02, abs=0.005)


def test_the_visualizer_overlays_positive_attributions_in_green(digit, tmp_path):
    """Section "Let's test-drive it", step 7: ``GradVisualizer`` (its first ``visualize`` call)."""
    orig_img, img_processed, _, top_pred_idx, _ = digit
    grads = get_gradients(img_processed, top_pred_idx=top_pred_idx)
    igrads = get_integrated_gradients(np.copy(orig_img), top_pred_idx=top_pred_idx, num_steps=50)
    vis = GradVisualizer()
    vis.visualize(
        image=orig_img,
        gradients=grads[0].numpy(),
        integrated_gradients=igrads.numpy(),
        clip_above_percentile=99,
        clip_below_percentile=0,
        path=tmp_path / "visualize.png",
    )
    assert keras.utils.load_img(tmp_path / "visualize.png").size == (1500, 800)  # figsize (15, 8) at 100 dpi

    overlay = vis.process_grads(orig_img, igrads.numpy(), clip_above_percentile=99, clip_below_percentile=0)
    assert overlay.shape == img_size and overlay.min() >= 0 and overlay.max() <= 255
    positive = igrads.numpy().clip(0, 1).mean(axis=2) > 0
    added = overlay - orig_img
    assert np.all(added[..., [0, 2]] == 0)  # only the positive channel, green, is added
    assert np.all(added[~positive] == 0) and np.any(added[positive][:, 1] > 0)
    with pytest.raises(ValueError, match="Allowed polarity values"):
        vis.process_grads(orig_img, igrads.numpy(), polarity="both")
