"""``brainnet predict`` and ``brainnet.preprocessing``: a saved model
classifies pictures prepared as its training images were.

The workflow test trains the MNIST recipe through the command line on a
6,000-image slice (one epoch, ~10 s; test accuracy ~0.90, see test_cli.py)
and classifies real MNIST test images that the run never saw (the last 20
of the test set; --limit 6000 evaluates on the first 1,200), written as PNG
and JPEG files and as dark digits on white paper. The error tests call
``brainnet.cli.main`` in-process on small untrained models.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainnet import Input, Model
from brainnet.cli import main
from brainnet.datasets import mnist
from brainnet.layers import LSTM, Dense, Embedding, Flatten
from brainnet.models import Sequential, load_model
from brainnet.preprocessing import ImagePreprocessing, preprocessing_for
from brainnet.recipes import teaching_cnn
from brainnet.recipes._common import IMAGE_PREPROCESSING
from brainnet.recipes.sequences import ROWS_PREPROCESSING
from brainnet.utils import set_random_seed

DIGITS = 20  # the last 20 MNIST test images
# At --limit 6000 the recipe's test accuracy is 0.86-0.90 over seeds 0-3; on
# 20 images, 15 right (75 %) leaves room for an unlucky draw and still fails
# any broken preprocessing (a wrong normalisation or a missed inversion
# drops to 10-30 %).
MIN_RIGHT = 15


# ------------------------------------------------------------------ helpers
def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BRAINNET_DATA_DIR", "BRAINNET_DEVICE")}
    env.update(BRAINNET_OFFLINE="1", BRAINNET_CACHE_DIR=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    return env


def _brainnet(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "brainnet.cli", *args], cwd=cwd, env=_env(cwd),
                          capture_output=True, text=True, timeout=300)


def _parse(stdout: str) -> dict[str, tuple[bool, list[tuple[str, float]]]]:
    """``{image: (inverted, [(class, probability), ...])}`` from predict's output."""
    found: dict[str, tuple[bool, list[tuple[str, float]]]] = {}
    current = None
    for line in stdout.splitlines():
        if line.startswith("  "):
            name, probability = line.strip().rsplit(None, 1)
            found[current][1].append((name, float(probability)))
        else:
            match = re.fullmatch(r"(.+?)( \(inverted[^)]*\))?:", line)
            assert match, f"unexpected line {line!r} in:\n{stdout}"
            current = match.group(1)
            found[current] = (match.group(2) is not None, [])
    return found


@pytest.fixture(scope="module")
def trained(mnist_dir, tmp_path_factory) -> Path:
    """A folder holding ``out/`` of ``brainnet run mnist-cnn --epochs 1 --limit 6000``."""
    folder = tmp_path_factory.mktemp("predict")
    result = _brainnet(["run", "mnist-cnn", "--epochs", "1", "--limit", "6000", "--out", "out", "--seed", "0",
                        "--device", "cpu", "--data-dir", str(mnist_dir.parent)], folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


@pytest.fixture(scope="module")
def digits(mnist_dir, trained) -> tuple[np.ndarray, np.ndarray]:
    """The last ``DIGITS`` MNIST test images (uint8, white on black) and their labels."""
    (_, _), (x_test, y_test) = mnist.load_data(path=mnist_dir)
    return x_test[-DIGITS:], y_test[-DIGITS:]


def _write(folder: Path, images: np.ndarray, stem: str, suffix: str, invert: bool = False, scale: int = 1) -> list[str]:
    names = []
    for i, pixels in enumerate(images):
        image = Image.fromarray(255 - pixels if invert else pixels)
        if scale != 1:  # a bigger picture, as a scan would be; predict shrinks it back to 28 x 28
            image = image.resize((28 * scale, 28 * scale), Image.Resampling.BILINEAR)
        name = f"{stem}{i:02d}{suffix}"
        image.save(folder / name, **({"quality": 95} if suffix == ".jpg" else {}))
        names.append(name)
    return names


# ------------------------------------------------------------------ the workflow
def test_recipe_saves_the_model_with_its_preprocessing_and_class_names(trained):
    out = trained / "out"
    model = load_model(out / "model.brainnet")
    assert model.preprocessing == IMAGE_PREPROCESSING
    assert model.preprocessing.get_config() == {"size": [28, 28], "color_mode": "grayscale", "background": "dark",
                                                "mean": 127.5, "std": 127.5, "channel_axis": True}
    assert model.class_names == [str(d) for d in range(10)]
    with zipfile.ZipFile(out / "model.brainnet") as archive:  # plain JSON in the file, as documented
        config = json.loads(archive.read("config.json"))
    assert config["preprocessing"]["background"] == "dark" and config["class_names"][7] == "7"
    same = teaching_cnn()  # the whole model and the weights file hold the same weights
    same.load_weights(str(out / "model.weights.safetensors"))
    x = np.random.default_rng(0).uniform(-1, 1, size=(4, 28, 28, 1)).astype("float32")
    np.testing.assert_array_equal(model.predict(x), same.predict(x))


def test_predict_names_the_right_digit_for_real_test_images(trained, digits):
    images, labels = digits
    names = _write(trained, images, "digit", ".png")
    result = _brainnet(["predict", "out/model.brainnet", *names], trained)
    assert result.returncode == 0, result.stderr
    found = _parse(result.stdout)
    assert list(found) == names
    right = 0
    for name, label in zip(names, labels):
        inverted, top = found[name]
        assert not inverted  # white on black, like the training images
        assert len(top) == 3  # --top 3 by default
        probabilities = [p for _, p in top]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0001
        assert len({c for c, _ in top}) == 3 and all(c in "0123456789" for c, _ in top)
        right += top[0][0] == str(label)
    assert right >= MIN_RIGHT, f"{right}/{DIGITS} right:\n{result.stdout}"

    # The printed probabilities are the model's own, for the same pixels normalised as in training.
    model = load_model(trained / "out" / "model.brainnet")
    expected = model.predict(((images.astype("float32") - 127.5) / 127.5)[..., None])
    for name, row in zip(names, expected):
        best = int(np.argmax(row))
        assert found[name][1][0] == (str(best), pytest.approx(float(row[best]), abs=5e-5))


def test_predict_reads_jpeg_and_inverts_dark_digits_on_white(trained, digits):
    images, labels = digits
    png = _write(trained, images, "plain", ".png")
    dark_png = _write(trained, images, "paper", ".png", invert=True)
    dark_jpg = _write(trained, images, "scan", ".jpg", invert=True, scale=4)  # 112 x 112 JPEG
    result = _brainnet(["predict", "out/model.brainnet", *png, *dark_png, *dark_jpg, "--top", "1"], trained)
    assert result.returncode == 0, result.stderr
    found = _parse(result.stdout)
    for name in png:
        assert not found[name][0]
    for name in dark_png + dark_jpg:
        assert found[name][0], f"{name} not inverted"
    assert "(inverted: light background, the training images' is dark)" in result.stdout
    # 255 − (255 − x) = x exactly: the inverted PNG gives the very same answer.
    for plain, dark in zip(png, dark_png):
        assert found[dark][1] == found[plain][1]
    right = sum(found[name][1][0][0] == str(label) for name, label in zip(dark_jpg, labels))
    assert right >= MIN_RIGHT, f"{right}/{DIGITS} JPEG scans right:\n{result.stdout}"
    assert all(len(found[name][1]) == 1 for name in found)  # --top 1

    not_inverted = _brainnet(["predict", "out/model.brainnet", dark_png[0], "--invert", "no", "--top", "10"], trained)
    top = _parse(not_inverted.stdout)[dark_png[0]]
    assert not top[0] and len(top[1]) == 10  # all ten classes


# ------------------------------------------------------------------ in-process
def _save(model, path: Path, preprocessing=None, class_names=None) -> Path:
    model.preprocessing, model.class_names = preprocessing, class_names
    model.save(str(path))
    return path


def _digit_png(path: Path, background: int = 0) -> Path:
    pixels = np.full((28, 28), background, np.uint8)
    pixels[6:22, 12:16] = 255 - background  # a "1"
    Image.fromarray(pixels).save(path)
    return path


def _predict(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["predict", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(code: int, out: str, err: str) -> str:
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("brainnet: error: "), err
    assert "Fix:" in lines[0]
    return lines[0]


@pytest.fixture
def cnn_file(tmp_path) -> Path:
    set_random_seed(0)
    return _save(teaching_cnn(), tmp_path / "cnn.brainnet", IMAGE_PREPROCESSING, ["zero", *"123456789"])


def test_class_names_and_top_k_in_process(cnn_file, tmp_path, capsys):
    code, out, err = _predict(capsys, cnn_file, _digit_png(tmp_path / "one.png"), "--top", "4")
    assert code == 0, err
    (inverted, top), = _parse(out).values()
    assert not inverted and len(top) == 4 and all(name in ["zero", *"123456789"] for name, _ in top)


def test_row_model_reads_the_image_as_28_rows(tmp_path, capsys):
    # The sequence recipes' models take (N, 28, 28): the same pixels without a channel axis.
    set_random_seed(0)
    inputs = Input(shape=(28, 28))
    path = _save(Model(inputs, Dense(10, activation="softmax")(LSTM(8)(inputs))), tmp_path / "rows.brainnet",
                 ROWS_PREPROCESSING, [str(d) for d in range(10)])
    image = _digit_png(tmp_path / "one.png")
    loaded = load_model(path)
    x = preprocessing_for(loaded).load(image)
    assert x.array.shape == (28, 28) and x.array.dtype == np.float32
    code, out, err = _predict(capsys, path, image)
    assert code == 0, err
    (_, top), = _parse(out).values()
    best = loaded.predict(x.array[None])[0]
    assert top[0] == (str(int(np.argmax(best))), pytest.approx(float(best.max()), abs=5e-5))


def test_a_loaded_image_passed_whole_to_predict_or_fit_says_to_pass_its_array(tmp_path):
    # ImagePreprocessing.load returns a LoadedImage (array, background, inverted), not the array itself.
    set_random_seed(0)
    model = teaching_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
    image = IMAGE_PREPROCESSING.load(_digit_png(tmp_path / "one.png"))
    with pytest.raises(ValueError, match=r"^x: expected an array of samples \(N, \.\.\.\), got a LoadedImage \(what "
                                         r"ImagePreprocessing\.load returns: \.array of shape \(28, 28, 1\), "
                                         r"\.background, \.inverted\)\. Fix: pass its array with a batch axis, "
                                         r"image\.array\[None\], e\.g\. model\.predict\(image\.array\[None\]\)\.$"):
        model.predict(image)
    with pytest.raises(ValueError, match=r"^x: expected an array of samples \(N, \.\.\.\), got a list of 2 LoadedImage "
                                         r"objects \(what ImagePreprocessing\.load returns\)\. Fix: stack their "
                                         r"arrays, model\.predict\(np\.stack\(\[image\.array for image in "
                                         r"images\]\)\)\.$"):
        model.fit([image, image], np.array([1, 1]), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"^x: expected an array of samples \(N, \.\.\.\), got a LoadedImage"):
        model.evaluate(image, np.array([1]), verbose=0)
    # The fixes work.
    assert model.predict(image.array[None], verbose=0).shape == (1, 10)
    assert model.predict(np.stack([image.array, image.array]), verbose=0).shape == (2, 10)


def test_logits_model_gets_softmax_probabilities_with_a_note(tmp_path, capsys):
    set_random_seed(0)
    model = Sequential([Flatten(input_shape=(28, 28, 1)), Dense(3)])  # logits, no softmax
    path = _save(model, tmp_path / "logits.brainnet", IMAGE_PREPROCESSING, ["a", "b", "c"])
    code, out, err = _predict(capsys, path, _digit_png(tmp_path / "one.png"), "--top", "3")
    assert code == 0, err
    assert out.splitlines()[0] == "(the model outputs logits: probabilities are their softmax)"
    (_, top), = _parse("\n".join(out.splitlines()[1:])).values()
    assert sum(p for _, p in top) == pytest.approx(1, abs=2e-4)


# ------------------------------------------------------------------ errors
def test_error_image_not_found(cnn_file, tmp_path, capsys):
    line = _one_line_error(*_predict(capsys, cnn_file, tmp_path / "missing.png"))
    assert re.search(r"image .*missing\.png: expected an image file \(PNG, JPEG, \.\.\.\), got no such file\. "
                     r"Fix: check the path", line)


def test_error_not_an_image(cnn_file, tmp_path, capsys):
    text = tmp_path / "notes.png"
    text.write_text("not a picture\n")
    line = _one_line_error(*_predict(capsys, cnn_file, text))
    assert re.search(r"image .*notes\.png: expected a PNG or JPEG image, got a file Pillow cannot read as an "
                     r"image \(UnidentifiedImageError.*Fix: pass an image file", line)


def test_error_model_file_not_found(tmp_path, capsys):
    line = _one_line_error(*_predict(capsys, tmp_path / "none.brainnet", _digit_png(tmp_path / "one.png")))
    assert re.search(r"load_model: expected a file, got nothing at .*none\.brainnet\. Fix: check the path", line)


def test_error_model_without_preprocessing_says_how_to_add_it(tmp_path, capsys):
    path = _save(teaching_cnn(), tmp_path / "bare.brainnet")  # model.save before model.preprocessing was set
    line = _one_line_error(*_predict(capsys, path, _digit_png(tmp_path / "one.png")))
    assert "expected a model that records how its training images were prepared" in line
    assert ("model.preprocessing = brainnet.preprocessing.ImagePreprocessing(size=(28, 28), background='dark')"
            in line)
    assert "model.save(path)" in line and "brainnet run" in line
    # The fix it prints works.
    model = load_model(path)
    model.preprocessing = ImagePreprocessing(size=(28, 28), background="dark")
    model.save(str(path))
    assert _predict(capsys, path, tmp_path / "one.png")[0] == 0


@pytest.mark.parametrize("build, got", [
    (lambda: Sequential([Dense(10, activation="softmax", input_shape=(784,))], name="flat"),
     r"got model 'flat' with input shape \(None, 784\)"),
    (lambda: Sequential([Embedding(50, 4, input_shape=(28,)), Flatten(), Dense(2, activation="softmax")],
                        name="words"), "got model 'words' with integer token ids as input"),
], ids=["flat-vector", "tokens"])
def test_error_model_input_is_not_an_image(build, got, tmp_path, capsys):
    path = _save(build(), tmp_path / "flat.brainnet", IMAGE_PREPROCESSING)
    line = _one_line_error(*_predict(capsys, path, _digit_png(tmp_path / "one.png")))
    assert re.search(r"brainnet: error: brainnet predict: expected a model whose input is an image \(None, height, "
                     rf"width, 1 or 3\) or rows of pixels \(None, height, width\), {got}\. Fix: brainnet predict "
                     r"reads pictures for image models only; .*model\.predict\(x\)", line)


def test_error_preprocessing_that_does_not_fit_the_input(tmp_path, capsys):
    path = _save(teaching_cnn(), tmp_path / "cnn.brainnet", ImagePreprocessing(size=(32, 32)))
    line = _one_line_error(*_predict(capsys, path, _digit_png(tmp_path / "one.png")))
    assert re.search(r"expected recorded preprocessing that fits the model's input \(28, 28, 1\), got images of "
                     r"\(32, 32, 1\).*Fix: set model.preprocessing", line)


def test_error_output_is_not_a_class_vector_or_names_do_not_fit(tmp_path, capsys):
    image = _digit_png(tmp_path / "one.png")
    regression = _save(Sequential([Flatten(input_shape=(28, 28, 1)), Dense(1)]), tmp_path / "r.brainnet",
                       IMAGE_PREPROCESSING)
    line = _one_line_error(*_predict(capsys, regression, image))
    assert re.search(r"expected a classifier with one output of shape \(N, classes\), classes ≥ 2, got outputs "
                     r"of shape \(1, 1\)", line)
    names = _save(teaching_cnn(), tmp_path / "n.brainnet", IMAGE_PREPROCESSING, ["cat", "dog"])
    line = _one_line_error(*_predict(capsys, names, image))
    assert "expected one class name per output unit (10), got 2 names. Fix: set model.class_names" in line


def test_bad_predict_options_exit_2(cnn_file, capsys):
    assert main(["predict", str(cnn_file)]) == 2  # no image
    assert "the following arguments are required: IMAGE" in capsys.readouterr().err
    assert main(["predict", str(cnn_file), "x.png", "--top", "0"]) == 2
    assert "argument --top: expected an integer >= 1, got 0" in capsys.readouterr().err


# ------------------------------------------------------------------ ImagePreprocessing
def test_load_normalises_exactly_like_the_recipes(tmp_path):
    pixels = np.arange(28 * 28, dtype=np.int64).reshape(28, 28) % 256
    pixels[0, :] = pixels[-1, :] = pixels[:, 0] = pixels[:, -1] = 0  # a dark border: no inversion
    Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "g.png")
    loaded = IMAGE_PREPROCESSING.load(tmp_path / "g.png")
    assert loaded.background == "dark" and not loaded.inverted
    np.testing.assert_array_equal(loaded.array, ((pixels.astype("float32") - 127.5) / 127.5)[..., None])
    inverted = IMAGE_PREPROCESSING.load(tmp_path / "g.png", invert="yes")
    np.testing.assert_array_equal(inverted.array, -loaded.array)


def test_load_flattens_transparency_on_white_pads_to_the_aspect_and_follows_exif(tmp_path):
    rgba = np.zeros((20, 40, 4), np.uint8)  # transparent, with an opaque black bar in the middle
    rgba[8:12, 10:30] = (0, 0, 0, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    loaded = ImagePreprocessing(size=(8, 8), background="dark", mean=0, std=255).load(tmp_path / "t.png")
    assert loaded.background == "light" and loaded.inverted  # white paper, black ink → inverted
    x = loaded.array[..., 0]
    assert x.shape == (8, 8)
    # 40 x 20 padded with white to 40 x 40 (not stretched): after inversion, dark rows above and below.
    assert x[:2].max() < 0.05 and x[-2:].max() < 0.05 and x[3:5, 3:5].min() > 0.3

    tall = np.zeros((30, 10), np.uint8)
    tall[:5] = 255  # bright at the top
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    Image.fromarray(tall).save(tmp_path / "r.jpg", exif=exif, quality=95)
    upright = ImagePreprocessing(size=(10, 30), mean=0, std=255).load(tmp_path / "r.jpg")  # no background: as is
    assert not upright.inverted and upright.array.shape == (10, 30, 1)
    assert upright.array[:, -4:].mean() > 0.8 and upright.array[:, :20].mean() < 0.1  # the top is now on the right


def test_rgb_preprocessing_keeps_three_channels(tmp_path):
    Image.new("RGB", (50, 50), (255, 0, 0)).save(tmp_path / "red.png")
    x = ImagePreprocessing(size=(16, 16), color_mode="rgb", mean=0, std=255).load(tmp_path / "red.png").array
    assert x.shape == (16, 16, 3)
    np.testing.assert_allclose(x.mean(axis=(0, 1)), [1, 0, 0], atol=1e-6)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"size": (28,)}, ValueError, r"expected size=\(height, width\) of two positive integers, got \(28,\)\. Fix: size=\(28, 28\)"),
    ({"size": (28, 0)}, ValueError, r"two positive integers, got \(28, 0\)"),
    ({"size": (28, 28), "color_mode": "gray"}, ValueError, r"expected color_mode 'grayscale' or 'rgb', got 'gray'\. Fix"),
    ({"size": (28, 28), "background": "black"}, ValueError, r"expected background 'dark', 'light' or None, got 'black'\. Fix: background='dark'"),
    ({"size": (28, 28), "mean": "127.5"}, TypeError, r"expected mean to be a finite number, got '127.5'\. Fix: mean=127.5"),
    ({"size": (28, 28), "std": 0}, ValueError, r"expected std ≠ 0 .*Fix: std=127.5"),
    ({"size": (28, 28), "channel_axis": 1}, TypeError, r"expected channel_axis True or False, got 1\. Fix"),
    ({"size": (28, 28), "color_mode": "rgb", "channel_axis": False}, ValueError, r"only a grayscale image can lose.*Fix: channel_axis=True"),
])
def test_bad_preprocessing_values(kwargs, error, message):
    with pytest.raises(error, match=r"ImagePreprocessing: .*" + message):
        ImagePreprocessing(**kwargs)


def test_bad_invert_value(tmp_path):
    with pytest.raises(ValueError, match=r"load: expected invert 'auto', 'yes' or 'no', got True\. Fix: invert='auto'"):
        IMAGE_PREPROCESSING.load(_digit_png(tmp_path / "one.png"), invert=True)


def test_save_checks_preprocessing_and_class_names_types(tmp_path):
    model = teaching_cnn()
    model.preprocessing = {"size": [28, 28]}
    with pytest.raises(TypeError, match=r"model.save: expected model.preprocessing to be an ImagePreprocessing or "
                                        r"None, got dict\. Fix: model.preprocessing = "):
        model.save(str(tmp_path / "m.brainnet"))
    model.preprocessing, model.class_names = None, "0123456789"
    with pytest.raises(TypeError, match=r"model.class_names: expected a list of strings .* got '0123456789'\. "
                                        r"Fix: model.class_names = \['cat', 'dog'\]"):
        model.save(str(tmp_path / "m.brainnet"))


@pytest.mark.parametrize("preprocessing, class_names, message", [
    ({"size": [28, 28], "__class__": "os.system"}, None, r"expected a dict with keys among .*got \['__class__', 'size'\]"),
    ({"size": [28, 28], "std": "eval('1')"}, None, r"expected std to be a finite number"),
    ("ImagePreprocessing", None, r"expected a dict with keys among .*got str"),
    (None, [0, 1], r"class_names: expected a list of strings"),
], ids=["unknown-key", "string-number", "not-a-dict", "names-not-strings"])
def test_load_model_refuses_altered_preprocessing(cnn_file, tmp_path, preprocessing, class_names, message):
    with zipfile.ZipFile(cnn_file) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    config = json.loads(entries["config.json"])
    config["preprocessing"], config["class_names"] = preprocessing, class_names
    entries["config.json"] = json.dumps(config).encode()
    altered = tmp_path / "altered.brainnet"
    with zipfile.ZipFile(altered, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match=r"load_model: .*altered\.brainnet: config.json was altered or damaged: .*"
                                         + message):
        load_model(altered)


def test_files_without_the_new_keys_still_load(cnn_file, tmp_path):
    # Files written before preprocessing and class_names existed lack both keys.
    with zipfile.ZipFile(cnn_file) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    config = json.loads(entries["config.json"])
    del config["preprocessing"], config["class_names"]
    entries["config.json"] = json.dumps(config).encode()
    old = tmp_path / "old.brainnet"
    with zipfile.ZipFile(old, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    model = load_model(old)
    assert model.preprocessing is None and model.class_names is None
