"""keras.io example "Image Super-Resolution using an Efficient Sub-Pixel CNN"
(https://keras.io/examples/vision/super_resolution_sub_pixel/), its Keras 3
version, ported as a learner would: ``import brainnet as keras`` and
``from brainnet import layers`` in place of the Keras imports, the
``DepthToSpace`` layer's ``ops.shape``, ``ops.reshape`` and
``ops.transpose`` written as ``.shape``, ``torch.reshape`` and
``torch.permute``, the rest as written.

Replaced, and why:

- BSDS500 (a download of 500 photographs) is colour pictures the test
  writes as JPEG files: 2x2 mosaics of Fashion-MNIST items, each tinted
  with a colour, cut to 54x54, 160 in ``images/train`` and 40 in
  ``images/val`` under ``root_dir``, and 10 more in a folder of their own
  for the final section. The example's test pictures lie under
  ``root_dir`` too, so it trains on them before it measures on them; the
  port keeps them out, so the PSNR it checks is on held-out pictures.
- The example keeps TensorFlow "only for data preprocessing": its
  ``tf.image.rgb_to_yuv``, ``tf.split(input, 3, axis)`` and
  ``tf.image.resize(..., method="area")`` are written with torch (YUV's
  matrix, ``torch.split(input, 1, dim)``,
  ``torch.nn.functional.interpolate(mode="area")``), ``tf.image.psnr``
  with NumPy, and ``tf.data``'s ``map`` is ``MappedBatches`` (each batch
  of ``image_dataset_from_directory``'s DataLoader mapped as it is read).
  ``IPython.display`` of the pictures is left out; ``plot_results`` runs
  with Matplotlib's Agg backend and writes its PNG files (for the first
  test picture only), closing each figure in place of ``plt.show()``;
  ``import PIL.Image`` in place of ``import PIL``, whose ``PIL.Image`` the
  example finds because TensorFlow imported it.
- Shortened for CI: ``crop_size`` 54 in place of 300 (18x18 inputs), the
  convolutions narrower (32, 32 and 16 filters in place of 64, 64 and 32;
  the last keeps ``channels * upscale_factor**2``), 16 epochs in place of
  100.

What the tests check: the ``DepthToSpace`` layer against a NumPy loop of
its equation (``y[n, h·r+i, w·r+j, c] = x[n, h, w, (i·r+j)·C + c]``) with
several channels and on inputs of several sizes; the preprocessing (the
luminance and the area resize against NumPy, the shapes of the input and
target batches); the model's summary and any input size; training: a loss
that falls, the callback's PSNR after every validation batch equal to
``10·log10(1/loss)`` of the mean loss of the batches so far (Keras's batch
logs hold the running mean) and rising over the epochs, the best
checkpoint written and loaded (brainnet now saves a layer of the user's
that has no ``get_config``, as Keras 3 does) into a model whose validation
loss is that of the epoch it was saved at; and the final section: on the
held-out pictures the model's upscaling has a mean PSNR 0.5 dB or more
above that of PIL's bicubic upscaling of the same low-resolution pictures
(22.3 against 21.3 dB when measured).
"""

from __future__ import annotations

import math
import os

import numpy as np
import PIL.Image  # "import PIL" in the example, where TensorFlow has imported PIL.Image already
import pytest
import torch

import brainnet as keras
from brainnet import layers
from brainnet.utils import array_to_img, img_to_array, load_img
from brainnet.preprocessing import image_dataset_from_directory
from tests.keras_examples._mapped_batches import MappedBatches

crop_size = 54  # 300 in the example
upscale_factor = 3
input_size = crop_size // upscale_factor
batch_size = 8
epochs = 16  # 100 in the example


def _mosaics(x, rng, count):
    """``count`` colour pictures: 2x2 Fashion-MNIST items, each tinted, cut to crop_size."""
    pictures = []
    for _ in range(count):
        tiles = x[rng.choice(len(x), 4, replace=False)].astype(np.float32) / 255  # (4, 28, 28)
        colours = rng.uniform(0.25, 1.0, size=(4, 1, 1, 3))
        tinted = tiles[..., None] * colours  # (4, 28, 28, 3)
        mosaic = np.concatenate([np.concatenate(tinted[:2], axis=1), np.concatenate(tinted[2:], axis=1)], axis=0)
        pictures.append((255 * mosaic[1:1 + crop_size, 1:1 + crop_size]).round().astype(np.uint8))
    return pictures


@pytest.fixture(scope="module")
def folders(fashion_dir, tmp_path_factory):
    """BSDS500's layout: root_dir/images/{train,val}/*.jpg, and the held-out test pictures."""
    (x_train, _), _ = keras.datasets.fashion_mnist.load_data()
    rng = np.random.default_rng(0)
    base = tmp_path_factory.mktemp("bsds")
    root_dir = base / "BSDS500" / "data"
    for part, count in (("train", 160), ("val", 40)):
        (root_dir / "images" / part).mkdir(parents=True)
        for i, picture in enumerate(_mosaics(x_train[:30000], rng, count)):
            PIL.Image.fromarray(picture).save(root_dir / "images" / part / f"{i}.jpg", quality=95)
    test_path = base / "test"
    test_path.mkdir()
    for i, picture in enumerate(_mosaics(x_train[30000:], rng, 10)):  # items the training pictures never show
        PIL.Image.fromarray(picture).save(test_path / f"{i}.jpg", quality=95)
    return str(root_dir), str(test_path)


# Use torch ops to process (tf.image.rgb_to_yuv, tf.split, tf.image.resize(method="area") in the example).
_RGB_TO_YUV = torch.tensor([[0.299, -0.14714119, 0.61497538],
                            [0.587, -0.28886916, -0.51496512],
                            [0.114, 0.43601035, -0.10001026]])


def rgb_to_yuv(images):
    return images @ _RGB_TO_YUV  # (B, H, W, 3) @ (3, 3)


def process_input(input, input_size, upscale_factor):
    input = rgb_to_yuv(input)
    last_dimension_axis = len(input.shape) - 1
    y, u, v = torch.split(input, 1, dim=last_dimension_axis)
    y = torch.nn.functional.interpolate(y.permute(0, 3, 1, 2), size=[input_size, input_size], mode="area")
    return y.permute(0, 2, 3, 1)  # (B, input_size, input_size, 1)


def process_target(input):
    input = rgb_to_yuv(input)
    last_dimension_axis = len(input.shape) - 1
    y, u, v = torch.split(input, 1, dim=last_dimension_axis)
    return y


def scaling(input_image):
    input_image = input_image / 255.0
    return input_image


@pytest.fixture(scope="module")
def datasets(folders):
    """Sections "Load data" and "Crop and resize images"."""
    root_dir, _ = folders
    train_ds = image_dataset_from_directory(
        root_dir,
        batch_size=batch_size,
        image_size=(crop_size, crop_size),
        validation_split=0.2,
        subset="training",
        seed=1337,
        label_mode=None,
    )

    valid_ds = image_dataset_from_directory(
        root_dir,
        batch_size=batch_size,
        image_size=(crop_size, crop_size),
        validation_split=0.2,
        subset="validation",
        seed=1337,
        label_mode=None,
    )
    assert (len(train_ds.file_paths), len(valid_ds.file_paths)) == (160, 40)  # "Using 160 files for training."

    # Scale from (0, 255) to (0, 1)
    train_ds = MappedBatches(train_ds, scaling)
    valid_ds = MappedBatches(valid_ds, scaling)

    train_ds = MappedBatches(train_ds, lambda x: (process_input(x, input_size, upscale_factor), process_target(x)))
    valid_ds = MappedBatches(valid_ds, lambda x: (process_input(x, input_size, upscale_factor), process_target(x)))
    # .prefetch(buffer_size=32) in the example; a DataLoader of the mapped batches is what fit reads
    return (torch.utils.data.DataLoader(train_ds, batch_size=None),
            torch.utils.data.DataLoader(valid_ds, batch_size=None))


def test_the_input_and_target_batches(datasets):
    """Section "Crop and resize images": the luminance, and the area resize, against NumPy."""
    train_ds, _ = datasets
    for batch in train_ds:  # train_ds.take(1)
        break
    lowres, target = batch
    assert lowres.shape == (batch_size, input_size, input_size, 1)
    assert target.shape == (batch_size, crop_size, crop_size, 1)
    assert 0.0 <= float(target.min()) and float(target.max()) <= 1.0 + 1e-6
    # the area resize by 3 is the mean of each 3x3 block of the target
    blocks = target.numpy()[..., 0].reshape(batch_size, input_size, 3, input_size, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(lowres.numpy()[..., 0], blocks, atol=1e-6)
    for img in lowres:  # the example displays them
        assert array_to_img(img.numpy()).size == (input_size, input_size)
    rgb = np.random.default_rng(1).uniform(size=(2, 3, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(process_target(torch.from_numpy(rgb)).numpy()[..., 0],
                               rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32), atol=1e-6)


class DepthToSpace(layers.Layer):
    def __init__(self, block_size):
        super().__init__()
        self.block_size = block_size

    def call(self, input):
        batch, height, width, depth = input.shape
        depth = depth // (self.block_size**2)

        x = torch.reshape(
            input, [batch, height, width, self.block_size, self.block_size, depth]
        )
        x = torch.permute(x, [0, 1, 3, 2, 4, 5])
        x = torch.reshape(
            x, [batch, height * self.block_size, width * self.block_size, depth]
        )
        return x


def _depth_to_space_reference(x, r):
    """y[n, h·r+i, w·r+j, c] = x[n, h, w, (i·r+j)·C + c], one element at a time."""
    n, h, w, d = x.shape
    c = d // (r * r)
    y = np.zeros((n, h * r, w * r, c), dtype=x.dtype)
    for b in range(n):
        for hh in range(h):
            for ww in range(w):
                for i in range(r):
                    for j in range(r):
                        for k in range(c):
                            y[b, hh * r + i, ww * r + j, k] = x[b, hh, ww, (i * r + j) * c + k]
    return y


@pytest.mark.parametrize("block_size, channels, height, width", [(3, 1, 4, 5), (2, 3, 3, 2), (3, 2, 2, 2)])
def test_depth_to_space_against_numpy(block_size, channels, height, width):
    """Section "Build a model": the sub-pixel rearrangement, as TensorFlow's depth_to_space orders it."""
    x = np.random.default_rng(2).normal(size=(2, height, width, channels * block_size**2)).astype(np.float32)
    y = DepthToSpace(block_size)(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(y, _depth_to_space_reference(x, block_size))


def get_model(upscale_factor=3, channels=1):
    conv_args = {
        "activation": "relu",
        "kernel_initializer": "orthogonal",
        "padding": "same",
    }
    inputs = keras.Input(shape=(None, None, channels))
    x = layers.Conv2D(32, 5, **conv_args)(inputs)  # 64 in the example
    x = layers.Conv2D(32, 3, **conv_args)(x)  # 64 in the example
    x = layers.Conv2D(16, 3, **conv_args)(x)  # 32 in the example
    x = layers.Conv2D(channels * (upscale_factor**2), 3, **conv_args)(x)
    outputs = DepthToSpace(upscale_factor)(x)

    return keras.Model(inputs, outputs)


def test_the_model_takes_pictures_of_any_size():
    """Section "Build a model": Input(shape=(None, None, 1)), so any size upscales by 3."""
    model = get_model(upscale_factor=upscale_factor, channels=1)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(None, None, None, 9)" in text and "(None, None, None, 1)" in text
    assert model.count_params() == (5 * 5 * 1 + 1) * 32 + (9 * 32 + 1) * 32 + (9 * 32 + 1) * 16 + (9 * 16 + 1) * 9
    for h, w in ((18, 18), (7, 11)):
        assert model.predict(np.zeros((1, h, w, 1), "float32"), verbose=0).shape == (1, 3 * h, 3 * w, 1)


def psnr(a, b, max_val):
    """tf.image.psnr of two pictures: 10·log10(max_val² / mean((a − b)²))."""
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return 10 * math.log10(max_val**2 / mse)


def test_training_with_the_psnr_callback_then_upscaling_held_out_pictures(folders, datasets, tmp_path, monkeypatch):
    """Sections "Define utility functions", "Define callbacks to monitor training",
    "Train the model" and "Run model prediction and plot the results"."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mpl_toolkits.axes_grid1.inset_locator import mark_inset, zoomed_inset_axes

    _, test_path = folders
    train_ds, valid_ds = datasets
    monkeypatch.chdir(tmp_path)
    test_img_paths = sorted(
        [
            os.path.join(test_path, fname)
            for fname in os.listdir(test_path)
            if fname.endswith(".jpg")
        ]
    )

    def plot_results(img, prefix, title):
        """Plot the result with zoom-in area."""
        img_array = img_to_array(img)
        img_array = img_array.astype("float32") / 255.0

        # Create a new figure with a default 111 subplot.
        fig, ax = plt.subplots()
        ax.imshow(img_array[::-1], origin="lower")

        plt.title(title)
        # zoom-factor: 2.0, location: upper-left
        axins = zoomed_inset_axes(ax, 2, loc=2)
        axins.imshow(img_array[::-1], origin="lower")

        # Specify the limits (200 to 300 and 100 to 200 in the example's 300-pixel pictures).
        x1, x2, y1, y2 = 36, 54, 18, 36
        # Apply the x-limits.
        axins.set_xlim(x1, x2)
        # Apply the y-limits.
        axins.set_ylim(y1, y2)

        plt.yticks(visible=False)
        plt.xticks(visible=False)

        # Make the line.
        mark_inset(ax, axins, loc1=1, loc2=3, fc="none", ec="blue")
        plt.savefig(str(prefix) + "-" + title + ".png")
        plt.close(fig)  # plt.show() in the example

    def get_lowres_image(img, upscale_factor):
        """Return low-resolution image to use as model input."""
        return img.resize(
            (img.size[0] // upscale_factor, img.size[1] // upscale_factor),
            PIL.Image.BICUBIC,
        )

    def upscale_image(model, img):
        """Predict the result based on input image and restore the image as RGB."""
        ycbcr = img.convert("YCbCr")
        y, cb, cr = ycbcr.split()
        y = img_to_array(y)
        y = y.astype("float32") / 255.0

        input = np.expand_dims(y, axis=0)
        out = model.predict(input, verbose=0)

        out_img_y = out[0]
        out_img_y *= 255.0

        # Restore the image in RGB color space.
        out_img_y = out_img_y.clip(0, 255)
        out_img_y = out_img_y.reshape((np.shape(out_img_y)[0], np.shape(out_img_y)[1]))
        out_img_y = PIL.Image.fromarray(np.uint8(out_img_y), mode="L")
        out_img_cb = cb.resize(out_img_y.size, PIL.Image.BICUBIC)
        out_img_cr = cr.resize(out_img_y.size, PIL.Image.BICUBIC)
        out_img = PIL.Image.merge("YCbCr", (out_img_y, out_img_cb, out_img_cr)).convert(
            "RGB"
        )
        return out_img

    class ESPCNCallback(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.test_img = get_lowres_image(load_img(test_img_paths[0]), upscale_factor)
            self.history = []  # the port keeps each epoch's list to check it

        # Store PSNR value in each epoch.
        def on_epoch_begin(self, epoch, logs=None):
            self.psnr = []
            self.history.append(self.psnr)

        def on_epoch_end(self, epoch, logs=None):
            print("Mean PSNR for epoch: %.2f" % (np.mean(self.psnr)))
            if epoch % 20 == 0:
                prediction = upscale_image(self.model, self.test_img)
                plot_results(prediction, "epoch-" + str(epoch), "prediction")

        def on_test_batch_end(self, batch, logs=None):
            self.psnr.append(10 * math.log10(1 / logs["loss"]))

    early_stopping_callback = keras.callbacks.EarlyStopping(monitor="loss", patience=10)

    checkpoint_filepath = str(tmp_path / "checkpoint.keras")  # "/tmp/checkpoint.keras" in the example

    model_checkpoint_callback = keras.callbacks.ModelCheckpoint(
        filepath=checkpoint_filepath,
        save_weights_only=False,
        monitor="loss",
        mode="min",
        save_best_only=True,
    )

    keras.utils.set_random_seed(1337)
    model = get_model(upscale_factor=upscale_factor, channels=1)
    model.summary(print_fn=lambda line: None)

    espcn = ESPCNCallback()
    callbacks = [espcn, early_stopping_callback, model_checkpoint_callback]
    loss_fn = keras.losses.MeanSquaredError()
    optimizer = keras.optimizers.Adam(learning_rate=0.001)

    model.compile(
        optimizer=optimizer,
        loss=loss_fn,
    )

    history = model.fit(
        train_ds, epochs=epochs, callbacks=callbacks, validation_data=valid_ds, verbose=0
    )
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    # the callback heard every validation batch of every epoch: 40 pictures in batches of 8
    assert [len(epoch_psnr) for epoch_psnr in espcn.history] == [5] * epochs
    last_batches = [(x, y) for x, y in valid_ds]
    batch_losses = [float(np.mean((model.predict(x, verbose=0) - y.numpy()) ** 2)) for x, y in last_batches]
    running = np.cumsum(batch_losses) / np.arange(1, len(batch_losses) + 1)  # a batch's logs: the mean so far, as Keras
    np.testing.assert_allclose(espcn.history[-1], [10 * math.log10(1 / loss) for loss in running], rtol=1e-4)
    assert np.mean(espcn.history[-1]) > np.mean(espcn.history[0]) + 1.0
    assert os.path.exists("epoch-0-prediction.png")
    assert os.path.exists(checkpoint_filepath)
    best = int(np.argmin(losses))  # save_best_only on "loss": the checkpoint holds that epoch's weights
    restored = keras.models.load_model(checkpoint_filepath, custom_objects={"DepthToSpace": DepthToSpace})
    assert restored.evaluate(valid_ds, verbose=0) == pytest.approx(history.history["val_loss"][best], rel=1e-4)
    assert isinstance(restored.layers[-1], DepthToSpace) and restored.layers[-1].block_size == upscale_factor

    total_bicubic_psnr = 0.0
    total_test_psnr = 0.0

    for index, test_img_path in enumerate(test_img_paths[:10]):  # [50:60] in the example
        img = load_img(test_img_path)
        lowres_input = get_lowres_image(img, upscale_factor)
        w = lowres_input.size[0] * upscale_factor
        h = lowres_input.size[1] * upscale_factor
        highres_img = img.resize((w, h))
        prediction = upscale_image(model, lowres_input)
        lowres_img = lowres_input.resize((w, h))
        lowres_img_arr = img_to_array(lowres_img)
        highres_img_arr = img_to_array(highres_img)
        predict_img_arr = img_to_array(prediction)
        bicubic_psnr = psnr(lowres_img_arr, highres_img_arr, max_val=255)
        test_psnr = psnr(predict_img_arr, highres_img_arr, max_val=255)

        total_bicubic_psnr += bicubic_psnr
        total_test_psnr += test_psnr

        print(
            "PSNR of low resolution image and high resolution image is %.4f" % bicubic_psnr
        )
        print("PSNR of predict and high resolution is %.4f" % test_psnr)
        if index == 0:  # the example plots all three for every picture
            plot_results(lowres_img, index, "lowres")
            plot_results(highres_img, index, "highres")
            plot_results(prediction, index, "prediction")

    print("Avg. PSNR of lowres images is %.4f" % (total_bicubic_psnr / 10))
    print("Avg. PSNR of reconstructions is %.4f" % (total_test_psnr / 10))
    assert total_test_psnr / 10 > total_bicubic_psnr / 10 + 0.5
    assert os.path.exists("0-prediction.png")
