"""utils.load_img, img_to_array, array_to_img and save_img on real PNG files:
pixels checked against NumPy, resizing against NumPy's index arithmetic and
PIL's own resize of the crop, a real MNIST digit saved and read back bit for
bit, and each error's text."""

from __future__ import annotations

import doctest
import io

import numpy as np
import pytest
from PIL import Image

import brainnet._image_files
from brainnet.datasets import _idx
from brainnet.layers import Dense, Flatten, Input
from brainnet.models import Sequential
from brainnet.utils import array_to_img, img_to_array, load_img, save_img


def _png(path, pixels: np.ndarray, mode: str):
    Image.fromarray(pixels, mode).save(path)
    return path


@pytest.fixture
def rgb() -> np.ndarray:
    """A 6 x 10 RGB picture whose every pixel differs: (row, column, channel) -> value."""
    i, j, c = np.meshgrid(np.arange(6), np.arange(10), np.arange(3), indexing="ij")
    return (i * 40 + j * 4 + c).astype(np.uint8)


# ------------------------------------------------------------------ load_img + img_to_array
def test_png_reads_back_as_its_pixels(tmp_path, rgb):
    img = load_img(_png(tmp_path / "a.png", rgb, "RGB"))
    assert img.mode == "RGB" and img.size == (10, 6)
    x = img_to_array(img)
    assert x.dtype == np.float32 and x.shape == (6, 10, 3)
    np.testing.assert_array_equal(x, rgb.astype(np.float32))
    np.testing.assert_array_equal(img_to_array(img, dtype="uint8"), rgb)
    np.testing.assert_array_equal(img_to_array(img, data_format="channels_first"), rgb.transpose(2, 0, 1))


def test_color_modes_convert_as_pil(tmp_path, rgb):
    path = _png(tmp_path / "a.png", rgb, "RGB")
    gray = load_img(path, color_mode="grayscale")
    assert gray.mode == "L"
    x = img_to_array(gray)
    assert x.shape == (6, 10, 1)
    # ITU-R 601-2 luma, as PIL's convert("L") rounds it: L = (299 R + 587 G + 114 B) / 1000
    luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(x[..., 0], luma, atol=1)
    assert img_to_array(gray, data_format="channels_first").shape == (1, 6, 10)
    rgba = img_to_array(load_img(path, color_mode="rgba"))
    np.testing.assert_array_equal(rgba[..., :3], rgb)
    np.testing.assert_array_equal(rgba[..., 3], 255)
    # a grayscale file read as RGB repeats its one channel
    g = _png(tmp_path / "g.png", rgb[..., 0], "L")
    np.testing.assert_array_equal(img_to_array(load_img(g)), np.repeat(rgb[..., :1], 3, axis=2))
    # 16-bit grayscale keeps its depth
    deep = np.arange(60, dtype=np.uint16).reshape(6, 10) * 1000
    Image.fromarray(deep).save(tmp_path / "deep.png")
    np.testing.assert_array_equal(img_to_array(load_img(tmp_path / "deep.png", color_mode="grayscale"))[..., 0], deep)


def test_load_from_bytes_io_and_str(tmp_path, rgb):
    path = _png(tmp_path / "a.png", rgb, "RGB")
    from_bytes = load_img(io.BytesIO(path.read_bytes()))
    np.testing.assert_array_equal(img_to_array(from_bytes), rgb)
    np.testing.assert_array_equal(img_to_array(load_img(str(path))), rgb)


def test_resize_nearest_matches_numpy_indexing(tmp_path, rgb):
    path = _png(tmp_path / "a.png", rgb, "RGB")
    # halving by nearest takes source pixel floor((k + 0.5) * 2) = 2k + 1
    x = img_to_array(load_img(path, target_size=(3, 5)), dtype="uint8")
    np.testing.assert_array_equal(x, rgb[1::2, 1::2])
    # stretching keeps no aspect: (6, 10) -> (6, 5) halves the width only
    x = img_to_array(load_img(path, target_size=(6, 5)), dtype="uint8")
    np.testing.assert_array_equal(x, rgb[:, 1::2])
    # the same size is no resize
    assert load_img(path, target_size=(6, 10), interpolation="bicubic").size == (10, 6)


def test_keep_aspect_ratio_crops_the_centre(tmp_path, rgb):
    path = _png(tmp_path / "a.png", rgb, "RGB")
    # 10 wide, 6 high into 3 x 3: crop 6 x 6 from column (10 - 6) // 2 = 2, then halve by nearest
    x = img_to_array(load_img(path, target_size=(3, 3), keep_aspect_ratio=True), dtype="uint8")
    np.testing.assert_array_equal(x, rgb[:, 2:8][1::2, 1::2])
    # a tall target: 10 x 6 into (6, 2): crop width = 6 * 2 // 6 = 2 from column 4, all rows
    x = img_to_array(load_img(path, target_size=(6, 2), keep_aspect_ratio=True), dtype="uint8")
    np.testing.assert_array_equal(x, rgb[:, 4:6])
    for interpolation in ("bilinear", "bicubic", "lanczos", "box", "hamming"):
        got = load_img(path, target_size=(4, 4), interpolation=interpolation, keep_aspect_ratio=True)
        resample = getattr(Image.Resampling, interpolation.upper())
        want = Image.fromarray(rgb, "RGB").resize((4, 4), resample, box=(2, 0, 8, 6))
        np.testing.assert_array_equal(img_to_array(got), img_to_array(want))
        stretched = Image.fromarray(rgb, "RGB").resize((4, 4), resample)
        np.testing.assert_array_equal(img_to_array(load_img(path, target_size=(4, 4), interpolation=interpolation)),
                                      img_to_array(stretched))


# ------------------------------------------------------------------ array_to_img + save_img
def test_array_to_img_scales_to_0_255():
    x = np.array([[[-1.0], [0.0]], [[1.0], [3.0]]])  # (2, 2, 1)
    img = array_to_img(x)
    assert img.mode == "L" and img.size == (2, 2)
    want = ((x - x.min()) / (x.max() - x.min()) * 255).astype(np.float32).astype(np.uint8)[..., 0]
    np.testing.assert_array_equal(np.asarray(img), want)
    np.testing.assert_array_equal(np.asarray(array_to_img(np.full((2, 2, 1), 7.0))), 0)  # constant -> 0
    np.testing.assert_array_equal(np.asarray(array_to_img(x * 10 + 100, scale=False)), (x * 10 + 100)[..., 0])
    big = array_to_img(np.array([[[300.0]], [[5.0]]]), scale=False)  # over 255: 32-bit grayscale
    assert big.mode == "I" and np.asarray(big).ravel().tolist() == [300, 5]
    assert array_to_img(np.zeros((2, 3, 4))).mode == "RGBA"
    chw = array_to_img(np.arange(24.0).reshape(3, 2, 4), data_format="channels_first", scale=False)
    assert chw.mode == "RGB" and chw.size == (4, 2)
    np.testing.assert_array_equal(np.asarray(chw), np.arange(24).reshape(3, 2, 4).transpose(1, 2, 0))


def test_save_img_round_trip(tmp_path, rgb):
    save_img(tmp_path / "a.png", rgb, scale=False)
    np.testing.assert_array_equal(img_to_array(load_img(tmp_path / "a.png")), rgb)
    assert not [p for p in tmp_path.iterdir() if p.name != "a.png"]  # no temporary file left behind
    save_img(tmp_path / "b.bmp", rgb.transpose(2, 0, 1), data_format="channels_first", scale=False)
    assert Image.open(tmp_path / "b.bmp").format == "BMP"
    np.testing.assert_array_equal(img_to_array(load_img(tmp_path / "b.bmp")), rgb)
    buffer = io.BytesIO()
    save_img(buffer, rgb, file_format="png", scale=False)
    np.testing.assert_array_equal(img_to_array(load_img(io.BytesIO(buffer.getvalue()))), rgb)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 128, np.uint8)], axis=2)
    with pytest.warns(UserWarning, match="JPEG has no alpha channel"):
        save_img(tmp_path / "c.jpg", rgba, file_format="jpg", scale=False, quality=100)
    assert Image.open(tmp_path / "c.jpg").mode == "RGB"


def test_real_mnist_digit_saved_and_reloaded_bit_exactly(tmp_path, mnist_dir):
    gz = mnist_dir / "t10k-images-idx3-ubyte.gz"
    digits = _idx.parse_idx(_idx.decompress(gz.read_bytes(), str(gz)), str(gz))
    digit = digits[0]  # (28, 28) uint8, a 7
    assert digit.min() == 0 and digit.max() == 255
    save_img(tmp_path / "digit.png", digit[..., None], scale=False)
    x = img_to_array(load_img(tmp_path / "digit.png", color_mode="grayscale"))
    assert x.shape == (28, 28, 1)
    np.testing.assert_array_equal(x[..., 0], digit)
    save_img(tmp_path / "scaled.png", digit[..., None])  # min 0 and max 255: scaling changes nothing
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "scaled.png")), digit)
    # the README's workflow: one's own picture into model.predict
    model = Sequential([Input(shape=(28, 28, 1)), Flatten(), Dense(10, activation="softmax")])
    from_file = model.predict(img_to_array(load_img(tmp_path / "digit.png", color_mode="grayscale"))[None] / 255.0,
                              verbose=0)
    direct = model.predict(digit[None, :, :, None].astype(np.float32) / 255.0, verbose=0)
    np.testing.assert_array_equal(from_file, direct)


# ------------------------------------------------------------------ errors
def test_errors_say_what_and_the_fix(tmp_path, rgb):
    path = _png(tmp_path / "a.png", rgb, "RGB")
    with pytest.raises(FileNotFoundError, match=r"load_img: expected an image file at .*missing.png.*got no such "
                                                r"file.*Fix: pass the path"):
        load_img(tmp_path / "missing.png")
    with pytest.raises(FileNotFoundError, match="got a folder"):
        load_img(tmp_path)
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(OSError, match=r"load_img: expected an image file Pillow can read.*Fix: check that"):
        load_img(tmp_path / "notes.png")
    with pytest.raises(TypeError, match=r"load_img: expected a path .* got int\. Fix: load_img\('picture.png'\)"):
        load_img(3)
    with pytest.raises(ValueError, match=r"load_img: expected color_mode one of \['grayscale', 'rgb', 'rgba'\], "
                                         r"got 'RGB'\. Fix: color_mode='rgb'"):
        load_img(path, color_mode="RGB")
    with pytest.raises(ValueError, match=r"load_img: expected interpolation one of .*got 'area'\. Fix: "):
        load_img(path, target_size=(3, 3), interpolation="area")
    for bad in ((3,), (3, 0), 28, (2.5, 3)):
        with pytest.raises(ValueError, match=r"load_img: expected target_size to be \(height, width\).*Fix: "
                                             r"target_size=\(28, 28\)"):
            load_img(path, target_size=bad)
    with pytest.raises(ValueError, match=r"img_to_array: expected data_format 'channels_last', 'channels_first' "
                                         r"or None, got 'nhwc'\. Fix: leave data_format out"):
        img_to_array(load_img(path), data_format="nhwc")
    with pytest.raises(ValueError, match=r"img_to_array: expected an image.*got shape \(2, 2, 2, 2\)\. Fix: "):
        img_to_array(np.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError, match=r"array_to_img: expected one picture.*got shape \(1, 6, 10, 3\)\. "
                                         r"Fix: x\[0\] for the first picture of a batch"):
        array_to_img(rgb[None])
    with pytest.raises(ValueError, match=r"got shape \(6, 10\)\. Fix: x\[\.\.\., None\] for a grayscale"):
        array_to_img(rgb[..., 0])
    with pytest.raises(ValueError, match=r"got shape \(60,\)\. Fix: x\.reshape\(height, width, channels\)"):
        array_to_img(rgb[..., 0].ravel())
    with pytest.raises(ValueError, match=r"array_to_img: expected 1 \(grayscale\), 3 \(RGB\) or 4 \(RGBA\) "
                                         r"channels, got 6.*Fix: data_format='channels_first'"):
        array_to_img(np.zeros((6, 10, 6)))
    with pytest.raises(ValueError, match="array_to_img: expected data_format"):
        array_to_img(rgb, data_format="first")
    with pytest.raises(ValueError, match="save_img: expected data_format"):
        save_img(tmp_path / "x.png", rgb, data_format="NHWC")
    with pytest.raises(ValueError, match=r"save_img: expected a file name ending in an image extension.*got "
                                         r".*picture.data'\. Fix: save_img\('picture.png', x\)"):
        save_img(tmp_path / "picture.data", rgb)
    assert not (tmp_path / "picture.data").exists()
    for bad in ("pngg", 3):  # a typo reached Pillow as KeyError: 'PNGG'
        with pytest.raises(ValueError, match=rf"save_img: expected file_format to be one Pillow writes \('png', "
                                             rf"'jpeg', 'bmp', 'gif', 'tiff', 'webp', \.\.\.\), got {bad!r}\. Fix: "
                                             r"file_format='png', or leave it out"):
            save_img(tmp_path / "typo.png", rgb, file_format=bad)
    assert not (tmp_path / "typo.png").exists()
    save_img(tmp_path / "fine.png", rgb, file_format="PNG")  # any case, as Pillow
    save_img(tmp_path / "fine.jpg", rgb, file_format="jpg")


def test_docstring_examples_run():
    failures, tried = doctest.testmod(brainnet._image_files, extraglobs={"np": np})
    assert tried >= 4 and failures == 0


def test_keras_preprocessing_image_names_the_same_functions(tmp_path, rgb):
    # Keras 3 exports them as keras.utils.* and keras.preprocessing.image.* (the keras.io WGAN-GP's GANMonitor).
    import brainnet
    import brainnet.preprocessing.image as image_module

    image = brainnet.preprocessing.image
    assert (image.load_img, image.img_to_array, image.array_to_img, image.save_img) == (
        load_img, img_to_array, array_to_img, save_img)
    assert "image" in brainnet.preprocessing.__all__
    image.array_to_img(rgb.astype("float32")).save(tmp_path / "x.png")
    np.testing.assert_array_equal(image.img_to_array(image.load_img(tmp_path / "x.png")),
                                  np.floor(255 * rgb.astype("float64") / rgb.max()).astype("float32"))
    failures, tried = doctest.testmod(image_module)
    assert tried >= 3 and failures == 0
