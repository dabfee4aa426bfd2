"""keras.io example "Zero-DCE for low-light image enhancement"
(https://keras.io/examples/vision/zero_dce/), the stored copy is the
tf.keras version, ported as a learner would: ``import brainnet as keras``
and ``from brainnet import layers`` in place of the Keras imports, the
TensorFlow calls in their torch spellings (``tf.reduce_mean`` is
``torch.mean``, ``tf.pow`` is ``torch.pow``, ``tf.nn.conv2d(x, k,
padding="SAME")`` on (N, H, W, C) with an (h, w, in, out) kernel is
``torch.nn.functional.conv2d`` on permuted tensors after TensorFlow's
"SAME" padding, ``tf.GradientTape`` is ``backward``), the rest as the
example has it: the DCE-Net of seven convolutions with its three skip
concatenations, the eight light-enhancement curve iterations
``x ← x + r·(x² − x)``, the four non-reference losses (colour constancy,
exposure, illumination smoothness, spatial consistency) with their weights
200, 1, 5 and 10, the ``ZeroDCE`` model whose ``compile`` override sets its
own ``Adam`` after ``super().compile()``, whose ``train_step`` and
``test_step`` return the five losses, and whose ``save_weights`` and
``load_weights`` hand over to the DCE-Net, and ``infer`` on a PIL image.

The example's ``SpatialConsistancyLoss`` kernels are kept as written:
TensorFlow reads their nesting as 1×3 kernels with three output channels,
not the paper's 3×3 difference kernels, so "left" and "right" compare the
pooled pixels themselves and "up" and "down" compare horizontal
differences; its ``illumination_smoothness_loss`` divides by
``(W − 1)·C`` and ``W·(C − 1)`` as written. The NumPy references below
compute what the example's code computes.

Data: the LOL data set is a download; here 320 Fashion-MNIST images, padded
to 32×32, lifted to [0.3, 0.95] (photographs have no pure black, and the
curve keeps 0 at 0) and tinted warm (R, G, B scaled by 1, 0.95, 0.9) are the
well-exposed originals, and the same raised to the power 2 (a gamma
curve) are the low-light images, written as PNG files that the example's
``load_data`` reads back (``keras.utils.load_img`` and the ``Resizing``
layer for ``tf.io.read_file``, ``decode_png`` and ``tf.image.resize``;
arrays in place of ``tf.data``). Shortened for CI: 32×32 images in place of
512×512 (so the exposure loss's 16×16 regions are four per image), 240
training and 80 validation images in place of 300 and 185, DCE-Net
convolutions of 16 filters in place of 32, 3 epochs at a learning rate of
2e-3 in place of 100 at 1e-4, and the plots left out.

What the tests check: the DCE-Net's curve maps (shape, range, parameter
count), the curve iterations and each loss against NumPy, the weighted
total, and that training lowers the loss and brings the enhanced images
closer to the originals than the low-light inputs were, that ``infer``
gives the model's output as an image, and that weights saved through the
override load into a new model that then gives the same images.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import brainnet as keras
from brainnet import layers

IMAGE_SIZE = 32  # the example: 512
BATCH_SIZE = 8
MAX_TRAIN_IMAGES = 240  # the example: 300 of LOL's 485
FILTERS = 16  # the example: 32


def load_data(image_path):
    image = keras.utils.img_to_array(keras.utils.load_img(image_path, color_mode="rgb"))
    image = layers.Resizing(IMAGE_SIZE, IMAGE_SIZE)(torch.from_numpy(image[None]))[0]
    image = image / 255.0
    return image


def data_generator(low_light_images):
    # tf.data's map and batch(drop_remainder=True): the images stacked, the last partial batch dropped
    images = torch.stack([load_data(path) for path in low_light_images])
    return images[: len(images) // BATCH_SIZE * BATCH_SIZE].numpy()


def build_dce_net():
    input_img = keras.Input(shape=[None, None, 3])
    conv1 = layers.Conv2D(FILTERS, (3, 3), strides=(1, 1), activation="relu", padding="same")(input_img)
    conv2 = layers.Conv2D(FILTERS, (3, 3), strides=(1, 1), activation="relu", padding="same")(conv1)
    conv3 = layers.Conv2D(FILTERS, (3, 3), strides=(1, 1), activation="relu", padding="same")(conv2)
    conv4 = layers.Conv2D(FILTERS, (3, 3), strides=(1, 1), activation="relu", padding="same")(conv3)
    int_con1 = layers.Concatenate(axis=-1)([conv4, conv3])
    conv5 = layers.Conv2D(FILTERS, (3, 3), strides=(1, 1), activation="relu", padding="same")(int_con1)
    int_con2 = layers.Concatenate(axis=-1)([conv5, conv2])
    conv6 = layers.Conv2D(FILTERS, (3, 3), strides=(1, 1), activation="relu", padding="same")(int_con2)
    int_con3 = layers.Concatenate(axis=-1)([conv6, conv1])
    x_r = layers.Conv2D(24, (3, 3), strides=(1, 1), activation="tanh", padding="same")(int_con3)
    return keras.Model(inputs=input_img, outputs=x_r)


def color_constancy_loss(x):
    mean_rgb = torch.mean(x, dim=(1, 2), keepdim=True)
    mr, mg, mb = mean_rgb[:, :, :, 0], mean_rgb[:, :, :, 1], mean_rgb[:, :, :, 2]
    d_rg = torch.pow(mr - mg, 2)
    d_rb = torch.pow(mr - mb, 2)
    d_gb = torch.pow(mb - mg, 2)
    return torch.pow(torch.pow(d_rg, 2) + torch.pow(d_rb, 2) + torch.pow(d_gb, 2), 0.5)


def exposure_loss(x, mean_val=0.6):
    x = torch.mean(x, 3, keepdim=True)
    mean = layers.AveragePooling2D(pool_size=16, strides=16)(x)
    return torch.mean(torch.pow(mean - mean_val, 2))


def illumination_smoothness_loss(x):
    batch_size = x.shape[0]
    h_x = x.shape[1]
    w_x = x.shape[2]
    count_h = (x.shape[2] - 1) * x.shape[3]
    count_w = x.shape[2] * (x.shape[3] - 1)
    h_tv = torch.sum(torch.pow((x[:, 1:, :, :] - x[:, : h_x - 1, :, :]), 2))
    w_tv = torch.sum(torch.pow((x[:, :, 1:, :] - x[:, :, : w_x - 1, :]), 2))
    return 2 * (h_tv / count_h + w_tv / count_w) / batch_size


def conv2d_same(x, kernel):
    """tf.nn.conv2d(x, kernel, strides=[1, 1, 1, 1], padding="SAME"): x (N, H, W, C), kernel (h, w, C, out)."""
    kh, kw = kernel.shape[:2]
    x = torch.nn.functional.pad(x.permute(0, 3, 1, 2), ((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2))
    return torch.nn.functional.conv2d(x, kernel.permute(3, 2, 0, 1)).permute(0, 2, 3, 1)  # (N, H, W, out)


class SpatialConsistancyLoss:
    def __init__(self):
        self.left_kernel = torch.tensor([[[[0, 0, 0]], [[-1, 1, 0]], [[0, 0, 0]]]], dtype=torch.float32)
        self.right_kernel = torch.tensor([[[[0, 0, 0]], [[0, 1, -1]], [[0, 0, 0]]]], dtype=torch.float32)
        self.up_kernel = torch.tensor([[[[0, -1, 0]], [[0, 1, 0]], [[0, 0, 0]]]], dtype=torch.float32)
        self.down_kernel = torch.tensor([[[[0, 0, 0]], [[0, 1, 0]], [[0, -1, 0]]]], dtype=torch.float32)

        self.pool = layers.AveragePooling2D(pool_size=4)

    def __call__(self, original, enhanced):
        original_mean = torch.mean(original, 3, keepdim=True)
        enhanced_mean = torch.mean(enhanced, 3, keepdim=True)
        original_pool = self.pool(original_mean)
        enhanced_pool = self.pool(enhanced_mean)

        d_original_left = conv2d_same(original_pool, self.left_kernel)
        d_original_right = conv2d_same(original_pool, self.right_kernel)
        d_original_up = conv2d_same(original_pool, self.up_kernel)
        d_original_down = conv2d_same(original_pool, self.down_kernel)

        d_enhanced_left = conv2d_same(enhanced_pool, self.left_kernel)
        d_enhanced_right = conv2d_same(enhanced_pool, self.right_kernel)
        d_enhanced_up = conv2d_same(enhanced_pool, self.up_kernel)
        d_enhanced_down = conv2d_same(enhanced_pool, self.down_kernel)

        d_left = torch.pow(d_original_left - d_enhanced_left, 2)
        d_right = torch.pow(d_original_right - d_enhanced_right, 2)
        d_up = torch.pow(d_original_up - d_enhanced_up, 2)
        d_down = torch.pow(d_original_down - d_enhanced_down, 2)
        return d_left + d_right + d_up + d_down


class ZeroDCE(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dce_model = build_dce_net()

    def compile(self, learning_rate, **kwargs):
        super().compile(**kwargs)
        self.optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
        self.spatial_constancy_loss = SpatialConsistancyLoss()

    def get_enhanced_image(self, data, output):
        r1 = output[:, :, :, :3]
        r2 = output[:, :, :, 3:6]
        r3 = output[:, :, :, 6:9]
        r4 = output[:, :, :, 9:12]
        r5 = output[:, :, :, 12:15]
        r6 = output[:, :, :, 15:18]
        r7 = output[:, :, :, 18:21]
        r8 = output[:, :, :, 21:24]
        x = data + r1 * (torch.pow(data, 2) - data)
        x = x + r2 * (torch.pow(x, 2) - x)
        x = x + r3 * (torch.pow(x, 2) - x)
        enhanced_image = x + r4 * (torch.pow(x, 2) - x)
        x = enhanced_image + r5 * (torch.pow(enhanced_image, 2) - enhanced_image)
        x = x + r6 * (torch.pow(x, 2) - x)
        x = x + r7 * (torch.pow(x, 2) - x)
        enhanced_image = x + r8 * (torch.pow(x, 2) - x)
        return enhanced_image

    def call(self, data):
        dce_net_output = self.dce_model(data)
        return self.get_enhanced_image(data, dce_net_output)

    def _calculate_losses(self, data, output):
        output = self.dce_model(data)
        enhanced_image = self.get_enhanced_image(data, output)
        loss_illumination = 200 * illumination_smoothness_loss(output)
        loss_spatial_constancy = torch.mean(self.spatial_constancy_loss(enhanced_image, data))
        loss_color_constancy = 5 * torch.mean(color_constancy_loss(enhanced_image))
        loss_exposure = 10 * torch.mean(exposure_loss(enhanced_image))
        total_loss = loss_illumination + loss_spatial_constancy + loss_color_constancy + loss_exposure
        return {
            "total_loss": total_loss,
            "illumination_smoothness_loss": loss_illumination,
            "spatial_constancy_loss": loss_spatial_constancy,
            "color_constancy_loss": loss_color_constancy,
            "exposure_loss": loss_exposure,
        }

    def train_step(self, data):
        self.zero_grad()  # the tape: gradients start from zero
        output = self.dce_model(data)
        losses = self._calculate_losses(data, output)
        losses["total_loss"].backward()
        gradients = [v.grad for v in self.dce_model.trainable_weights]
        self.optimizer.apply_gradients(zip(gradients, self.dce_model.trainable_weights))

        return losses

    def test_step(self, data):
        output = self.dce_model(data)
        return self._calculate_losses(data, output)

    def save_weights(self, filepath):
        self.dce_model.save_weights(filepath)

    def load_weights(self, filepath):
        self.dce_model.load_weights(filepath)


def infer(zero_dce_model, original_image):
    image = keras.preprocessing.image.img_to_array(original_image)
    image = image.astype("float32") / 255.0
    image = np.expand_dims(image, axis=0)
    output_image = zero_dce_model(image)
    output_image = (output_image[0, :, :, :] * 255).to(torch.uint8)  # tf.cast truncates as .to does
    output_image = Image.fromarray(output_image.detach().numpy())
    return output_image


# NumPy references of what the example's code computes, in float64


def np_curves(data, output):
    x = data
    for n in range(8):  # LE_n(x) = x + α_n · (x² − x), α_n the channels 3n..3n+2 of the DCE-Net's output
        alpha = output[..., 3 * n: 3 * n + 3]
        x = x + alpha * (x * x - x)
    return x


def np_color_constancy(x):
    # per image: sqrt(Σ over the pairs (p, q) of RG, RB, GB of ((mean_p − mean_q)²)²), shape (N, 1, 1)
    m = x.mean(axis=(1, 2))
    pairs = [(0, 1), (0, 2), (2, 1)]
    return np.sqrt(sum(((m[:, p] - m[:, q]) ** 2) ** 2 for p, q in pairs))[:, None, None]


def np_block_means(x, size):
    """Average pooling, size × size windows, stride size, "valid": x (N, H, W, C)."""
    n, h, w, c = x.shape
    out = np.zeros((n, h // size, w // size, c))
    for i in range(h // size):
        for j in range(w // size):
            out[:, i, j] = x[:, i * size:(i + 1) * size, j * size:(j + 1) * size].mean(axis=(1, 2))
    return out


def np_exposure(x, mean_val=0.6):
    return np.mean((np_block_means(x.mean(axis=3, keepdims=True), 16) - mean_val) ** 2)


def np_illumination_smoothness(a):
    n, h, w, c = a.shape
    h_tv = np.sum((a[:, 1:] - a[:, :-1]) ** 2)
    w_tv = np.sum((a[:, :, 1:] - a[:, :, :-1]) ** 2)
    return 2 * (h_tv / ((w - 1) * c) + w_tv / (w * (c - 1))) / n


def np_conv_same(x, kernel):
    """TensorFlow's conv2d (a cross-correlation) with "SAME" padding: the extra pad goes after."""
    kh, kw, _, out = kernel.shape
    n, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)))
    y = np.zeros((n, h, w, out))
    for i in range(h):
        for j in range(w):
            for di in range(kh):
                for dj in range(kw):
                    y[:, i, j] += padded[:, i + di, j + dj] @ kernel[di, dj]
    return y


def np_spatial_consistency(original, enhanced):
    kernels = [np.array(k, dtype="float64") for k in (
        [[[[0, 0, 0]], [[-1, 1, 0]], [[0, 0, 0]]]], [[[[0, 0, 0]], [[0, 1, -1]], [[0, 0, 0]]]],
        [[[[0, -1, 0]], [[0, 1, 0]], [[0, 0, 0]]]], [[[[0, 0, 0]], [[0, 1, 0]], [[0, -1, 0]]]])]
    o = np_block_means(original.mean(axis=3, keepdims=True), 4)
    e = np_block_means(enhanced.mean(axis=3, keepdims=True), 4)
    return sum((np_conv_same(o, k) - np_conv_same(e, k)) ** 2 for k in kernels)


@pytest.fixture(scope="module")
def lol_like(fashion_dir, tmp_path_factory):
    """Section "Creating a TensorFlow Dataset", on PNG files written here: the gamma-darkened copies of
    well-exposed originals, in a folder named as LOL's (our485/low); the originals as an array."""
    (x, _), _ = keras.datasets.fashion_mnist.load_data()
    x = np.pad(x[:320].astype("float64") / 255.0, ((0, 0), (2, 2), (2, 2)))  # (320, 32, 32)
    originals = (0.3 + 0.65 * x[..., None]) * np.array([1.0, 0.95, 0.9])  # (320, 32, 32, 3) in [0.27, 0.95]
    low = originals**2  # the gamma curve that darkens them
    root = tmp_path_factory.mktemp("lol_dataset")
    (root / "our485" / "low").mkdir(parents=True)
    for i, image in enumerate(low):
        keras.utils.save_img(root / "our485" / "low" / f"{i:03d}.png", np.round(image * 255), scale=False)
    return root, np.round(originals * 255) / 255  # the well-exposed images, 8-bit as LOL's


def test_the_dce_net_estimates_24_curve_maps_for_any_image_size():
    """Section "DCE-Net": 3 maps per iteration for 8 iterations, tanh so in [-1, 1], any height and width."""
    keras.utils.set_random_seed(0)
    dce = build_dce_net()
    for shape in ((2, 32, 32, 3), (1, 20, 44, 3)):
        with torch.no_grad():
            out = dce(torch.rand(shape))
        assert tuple(out.shape) == shape[:3] + (24,)
        assert float(out.abs().max()) <= 1.0
    f = FILTERS
    # conv1 on 3 channels, conv2-4 on f, conv5-6 on 2f (a concatenation), the 24 maps on 2f
    assert dce.count_params() == (27 * f + f) + 3 * (9 * f * f + f) + 2 * (9 * 2 * f * f + f) + (9 * 2 * f * 24 + 24)


def test_the_curve_iterations_are_numpys():
    """Section "Deep Curve Estimation Model": get_enhanced_image is LE applied 8 times, each with its own maps."""
    keras.utils.set_random_seed(1)
    model = ZeroDCE()
    rng = np.random.default_rng(0)
    data = rng.uniform(size=(2, 6, 5, 3))
    output = rng.uniform(-1, 1, size=(2, 6, 5, 24))
    got = model.get_enhanced_image(torch.from_numpy(data), torch.from_numpy(output)).numpy()
    want = np_curves(data, output)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert 0 <= want.min() and want.max() <= 1  # maps in [-1, 1] keep the pixels in [0, 1]
    assert (np_curves(data, -np.ones_like(output)) >= data).all()  # α = −1 brightens every pixel
    # call: the curves that the DCE-Net estimates for the image itself
    images = torch.rand(2, 16, 16, 3)
    with torch.no_grad():
        maps = model.dce_model(images).double().numpy()
        enhanced = model(images).double().numpy()
    np.testing.assert_allclose(enhanced, np_curves(images.double().numpy(), maps), rtol=1e-5, atol=1e-6)


def test_the_four_losses_and_their_weighted_total_are_numpys():
    """Section "Loss Functions": each loss as the example's code computes it, and _calculate_losses' sum."""
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(3, 32, 48, 3))
    y = rng.uniform(size=(3, 32, 48, 3))
    maps = rng.uniform(-1, 1, size=(3, 32, 48, 24))
    t = torch.from_numpy

    got = color_constancy_loss(t(x)).numpy()
    assert got.shape == (3, 1, 1)
    np.testing.assert_allclose(got, np_color_constancy(x), rtol=1e-10)
    # float32 pooling layer: float32 tolerances
    assert float(exposure_loss(t(x).float())) == pytest.approx(np_exposure(x), rel=1e-5)
    assert float(illumination_smoothness_loss(t(maps))) == pytest.approx(np_illumination_smoothness(maps), rel=1e-10)
    got = SpatialConsistancyLoss()(t(x).float(), t(y).float()).numpy()
    assert got.shape == (3, 8, 12, 3)  # 4×4 pooling; the 1×3 kernels have three output channels
    np.testing.assert_allclose(got, np_spatial_consistency(x, y), rtol=1e-4, atol=1e-7)
    # a dark image: the exposure loss is its regions' distance from 0.6
    assert float(exposure_loss(torch.zeros(1, 32, 32, 3))) == pytest.approx(0.36)

    keras.utils.set_random_seed(3)
    model = ZeroDCE()
    model.compile(learning_rate=1e-4)
    images = torch.from_numpy(x[:, :, :32].astype("float32"))
    with torch.no_grad():
        losses = model._calculate_losses(images, None)
        maps = model.dce_model(images).double().numpy()
    enhanced = np_curves(images.double().numpy(), maps)
    want = {
        "illumination_smoothness_loss": 200 * np_illumination_smoothness(maps),
        "spatial_constancy_loss": np.mean(np_spatial_consistency(enhanced, images.double().numpy())),
        "color_constancy_loss": 5 * np.mean(np_color_constancy(enhanced)),
        "exposure_loss": 10 * np_exposure(enhanced),
    }
    want["total_loss"] = sum(want.values())
    for name, value in want.items():
        assert float(losses[name]) == pytest.approx(value, rel=1e-4, abs=1e-7), name


def test_zero_dce_trains_without_references_and_brings_the_images_back_toward_the_originals(lol_like, tmp_path):
    """Sections "Creating a TensorFlow Dataset", "Training", "Inference" and the save/load overrides."""
    root, high = lol_like
    train_low_light_images = sorted(root.glob("our485/low/*"))[:MAX_TRAIN_IMAGES]
    val_low_light_images = sorted(root.glob("our485/low/*"))[MAX_TRAIN_IMAGES:]
    train_dataset = data_generator(train_low_light_images)
    val_dataset = data_generator(val_low_light_images)
    assert train_dataset.shape == (240, IMAGE_SIZE, IMAGE_SIZE, 3) and val_dataset.shape == (80, 32, 32, 3)

    keras.utils.set_random_seed(0)
    zero_dce_model = ZeroDCE()
    zero_dce_model.compile(learning_rate=2e-3)  # the example: 1e-4 for 100 epochs
    assert isinstance(zero_dce_model.optimizer, keras.optimizers.Adam)
    assert float(zero_dce_model.optimizer.learning_rate) == pytest.approx(2e-3)
    history = zero_dce_model.fit(train_dataset, validation_data=val_dataset, epochs=3,
                                 batch_size=BATCH_SIZE, verbose=0)
    names = ["total_loss", "illumination_smoothness_loss", "spatial_constancy_loss", "color_constancy_loss",
             "exposure_loss"]
    assert sorted(history.history) == sorted(names + ["val_" + n for n in names])
    total = history.history["total_loss"]
    assert total[-1] < 0.7 * total[0]
    assert history.history["val_exposure_loss"][-1] < history.history["val_exposure_loss"][0]

    # inference on the validation images, which training never saw
    originals = high[MAX_TRAIN_IMAGES:]
    with torch.no_grad():
        enhanced = zero_dce_model(val_dataset).numpy()
    assert 0 <= enhanced.min() and enhanced.max() <= 1
    low_error = np.mean((val_dataset - originals) ** 2)
    enhanced_error = np.mean((enhanced - originals) ** 2)
    assert enhanced_error < 0.5 * low_error, (enhanced_error, low_error)
    assert enhanced.mean() > val_dataset.mean() + 0.1  # brighter

    original_image = Image.open(val_low_light_images[0])
    enhanced_image = infer(zero_dce_model, original_image)
    assert enhanced_image.size == original_image.size and enhanced_image.mode == "RGB"
    want = np.floor(enhanced[0] * 255)  # the 8-bit PNG read back is the array the model saw
    assert np.abs(np.asarray(enhanced_image).astype("float64") - want).max() <= 1

    # the overrides save and load the DCE-Net's weights
    zero_dce_model.save_weights(tmp_path / "dce.weights.h5")
    restored = ZeroDCE()
    restored.load_weights(tmp_path / "dce.weights.h5")
    with torch.no_grad():
        np.testing.assert_allclose(restored(val_dataset[:4]).numpy(), enhanced[:4], rtol=1e-5, atol=1e-6)
