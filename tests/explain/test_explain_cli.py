"""``brainnet explain``: a saved model, real MNIST test digits as PNG files,
the maps written as PNGs and the top class printed; and its errors.

The workflow test runs the command in a subprocess on the small CNN of
conftest.py (trained one epoch on 2,000 MNIST images) and digits from the
test set it never saw; the rest call ``brainnet.cli.main`` in-process.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainnet.cli import main
from brainnet.layers import Concatenate, Dense, Embedding, Flatten, Input, MultiHeadAttention
from brainnet.models import Model, Sequential
from brainnet.preprocessing import preprocessing_for
from brainnet.recipes._common import IMAGE_PREPROCESSING
from brainnet.recipes.sequences import ROWS_PREPROCESSING
from brainnet.utils import set_random_seed

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TOP = re.compile(r"^(?P<image>.+?)(?P<inverted> \(inverted\))?: top class (?P<name>\S+) \((?P<p>\d\.\d{4})\)$")


def write_digit(path: Path, raw: np.ndarray, dark_on_white: bool = False) -> Path:
    Image.fromarray(255 - raw if dark_on_white else raw).save(path)
    return path


def explain(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    code = main(["explain", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, out: str, err: str) -> str:
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("brainnet: error: ") and "Fix:" in lines[0], err
    return lines[0]


def assert_pngs(paths: list[Path]) -> None:
    for path in paths:
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 2_000, path


def test_explain_writes_the_maps_and_prints_the_top_class(trained_cnn, tmp_path: Path) -> None:
    t = trained_cnn
    seven = write_digit(tmp_path / "seven.png", t.raw_test[0])  # test image 0 is a 7
    paper = write_digit(tmp_path / "paper.png", t.raw_test[1], dark_on_white=True)  # a 2, dark on white
    model = Path("brainnet-out", "mnist-cnn", "model.brainnet")  # where `brainnet run mnist-cnn` saves it
    (tmp_path / model).parent.mkdir(parents=True)
    shutil.copy(t.file, tmp_path / model)
    env = {k: v for k, v in os.environ.items() if k != "BRAINNET_DATA_DIR"}
    result = subprocess.run([sys.executable, "-m", "brainnet.cli", "explain", str(model), "--image", "seven.png",
                             "--image", "paper.png"], cwd=tmp_path, env={**env, "OMP_NUM_THREADS": "1"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    # The top class is the model's answer on the picture prepared exactly as `brainnet predict` prepares it.
    prep = preprocessing_for(t.model)
    for line, picture, inverted, label in zip(lines[:2], (seven, paper), (False, True), t.y_test[:2]):
        found = TOP.match(line)
        assert found, result.stdout
        assert found["image"] == picture.name and bool(found["inverted"]) == inverted
        probabilities = t.model.predict(prep.load(picture).array[None])[0]
        assert found["name"] == str(probabilities.argmax()) == str(label)  # and the model gets both right
        assert float(found["p"]) == pytest.approx(float(probabilities.max()), abs=5e-5)
    out = model.parent / "explain-model"  # explain-<model stem>, beside the model
    names = ["saliency.png", "smoothgrad.png", "grad_cam.png",
             "feature_maps_1_seven.png", "feature_maps_2_paper.png"]
    assert lines[2:] == [f"wrote {out / name}" for name in names]
    assert sorted(p.name for p in (tmp_path / out).iterdir()) == sorted(names)
    assert_pngs([tmp_path / out / name for name in names])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["brainnet-out", "paper.png", "seven.png"]


def test_two_recipes_models_get_their_own_default_folders(trained_cnn, tmp_path: Path, capsys, monkeypatch) -> None:
    # Every recipe saves model.brainnet: the default folder is beside the model, not named after "model" alone.
    monkeypatch.chdir(tmp_path)
    seven = write_digit(tmp_path / "seven.png", trained_cnn.raw_test[0])
    folders = []
    for recipe in ("mnist-cnn", "fashion-cnn"):
        model = Path("brainnet-out", recipe, "model.brainnet")
        model.parent.mkdir(parents=True)
        shutil.copy(trained_cnn.file, model)
        layer = "pool" if recipe == "mnist-cnn" else "conv"
        code, out, err = explain(capsys, model, "--image", seven, "--layer", layer)
        assert code == 0, err
        folders.append(model.parent / "explain-model")
        assert f"wrote {folders[-1] / 'grad_cam.png'}" in out.splitlines()
    # Each folder holds its own model's Grad-CAM (of another layer here), neither overwrote the other.
    assert (folders[0] / "grad_cam.png").read_bytes() != (folders[1] / "grad_cam.png").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["brainnet-out", "seven.png"]
    assert main(["explain", "--help"]) == 0
    assert "default: explain-<MODEL stem> beside MODEL" in " ".join(capsys.readouterr().out.split())


def test_layer_and_out_choose_the_maps_and_the_folder(trained_cnn, tmp_path: Path, capsys) -> None:
    t = trained_cnn
    seven = write_digit(tmp_path / "seven.png", t.raw_test[0])
    code, out, err = explain(capsys, t.file, "--image", seven, "--out", tmp_path / "last")
    assert code == 0, err
    code, out, err = explain(capsys, t.file, "--image", seven, "--out", tmp_path / "pool", "--layer", "pool")
    assert code == 0, err
    assert f"wrote {tmp_path / 'pool' / 'grad_cam.png'}" in out.splitlines()
    # Grad-CAM weighs another layer's maps (13 × 13 pooled, not the 26 × 26 convolution), so another picture.
    assert (tmp_path / "pool" / "grad_cam.png").read_bytes() != (tmp_path / "last" / "grad_cam.png").read_bytes()
    assert (tmp_path / "pool" / "saliency.png").read_bytes() == (tmp_path / "last" / "saliency.png").read_bytes()


def test_attention_model_gets_attention_maps_and_no_grad_cam(tmp_path: Path, capsys) -> None:
    # The sequence recipes' models read (N, 28, 28) rows of pixels.
    set_random_seed(0)
    inputs = Input((28, 28))
    attended = MultiHeadAttention(2, 4, name="mha")(inputs, inputs)  # (N, 28, 28)
    model = Model(inputs, Dense(10, activation="softmax")(Flatten(name="flat")(attended)))
    model.preprocessing, model.class_names = ROWS_PREPROCESSING, [str(d) for d in range(10)]
    model.save(str(tmp_path / "rows.brainnet"))
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a "1"
    one = write_digit(tmp_path / "one.png", digit)
    code, out, err = explain(capsys, tmp_path / "rows.brainnet", "--image", one, "--out", tmp_path / "maps")
    assert code == 0, err
    names = ["saliency.png", "smoothgrad.png", "attention_1_one.png"]
    assert out.splitlines()[1:] == [f"wrote {tmp_path / 'maps' / name}" for name in names]
    assert_pngs([tmp_path / "maps" / name for name in names])
    line = one_line_error(*explain(capsys, tmp_path / "rows.brainnet", "--image", one, "--out", tmp_path / "x",
                                   "--layer", "flat"))
    assert "got output of shape (None, 784). Fix: leave the layer out: this model has no layer with feature maps" \
        in line


# ------------------------------------------------------------------ errors
def test_error_image_not_found_or_not_an_image(trained_cnn, tmp_path: Path, capsys) -> None:
    never = ("--out", tmp_path / "never")
    line = one_line_error(*explain(capsys, trained_cnn.file, "--image", tmp_path / "missing.png", *never))
    assert re.search(r"image .*missing\.png: expected an image file \(PNG, JPEG, \.\.\.\), got no such file\. "
                     r"Fix: check the path", line)
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture\n")
    line = one_line_error(*explain(capsys, trained_cnn.file, "--image", notes, *never))
    assert re.search(r"image .*notes\.png: expected a PNG or JPEG image, got a file Pillow cannot read", line)
    line = one_line_error(*explain(capsys, tmp_path / "none.brainnet", "--image", notes, *never))
    assert re.search(r"load_model: expected a file, got nothing at .*none\.brainnet\. Fix: check the path", line)
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("build, got", [
    (lambda: Sequential([Dense(3, activation="softmax", input_shape=(4,))], name="flat"),
     "a model whose input is an image (None, height, width, 1 or 3) or rows of pixels (None, height, width), "
     "got model 'flat' with input shape (None, 4)"),
    (lambda: Sequential([Embedding(50, 4, input_shape=(28,)), Flatten(), Dense(2, activation="softmax")],
                        name="words"),
     "a model whose input is an image (None, height, width, 1 or 3) or rows of pixels (None, height, width), "
     "got model 'words' with integer token ids as input"),
    (lambda: two_inputs(), "a model with one image input, got model 'pair' with 2 inputs [(None, 28, 28, 1), "
                           "(None, 4)]"),
], ids=["flat-vector", "tokens", "two-inputs"])
def test_error_model_without_an_image_input(build, got, tmp_path: Path, capsys) -> None:
    model = build()
    model.preprocessing = IMAGE_PREPROCESSING
    model.save(str(tmp_path / "flat.brainnet"))
    picture = write_digit(tmp_path / "zero.png", np.zeros((28, 28), np.uint8))
    line = one_line_error(*explain(capsys, tmp_path / "flat.brainnet", "--image", picture,
                                   "--out", tmp_path / "never"))
    # It speaks of explain (not of `brainnet predict`), says what it expected and got, and what to do instead.
    assert line == (f"brainnet: error: brainnet explain: expected {got}. Fix: brainnet explain draws what image "
                    "models look at in pictures, for image models only; for this model call brainnet.explain in "
                    "Python with inputs shaped like its training data (attention_maps(model, x) for attention "
                    "layers, saliency(model, x) for a classifier).")
    assert "predict" not in line
    assert not (tmp_path / "never").exists()


def two_inputs() -> Model:
    image, columns = Input((28, 28, 1)), Input((4,))
    joined = Concatenate()([Flatten()(image), columns])
    return Model([image, columns], Dense(2, activation="softmax")(joined), name="pair")


def test_error_image_model_that_is_not_a_classifier(tmp_path: Path, capsys) -> None:
    model = Sequential([Flatten(input_shape=(28, 28, 1)), Dense(1)])  # one number per picture: a regression
    model.preprocessing = IMAGE_PREPROCESSING
    model.save(str(tmp_path / "regression.brainnet"))
    picture = write_digit(tmp_path / "zero.png", np.zeros((28, 28), np.uint8))
    line = one_line_error(*explain(capsys, tmp_path / "regression.brainnet", "--image", picture,
                                   "--out", tmp_path / "never"))
    assert line.endswith("regression.brainnet: expected a classifier with one output of shape (N, classes), "
                         "classes ≥ 2, got outputs of shape (1, 1). Fix: brainnet explain draws maps of the "
                         "predicted class, for classifiers only; for other models call "
                         "brainnet.explain.feature_maps(model, x) in Python.")
    assert not (tmp_path / "never").exists()


def test_error_unknown_layer_or_one_without_feature_maps(trained_cnn, tmp_path: Path, capsys) -> None:
    seven = write_digit(tmp_path / "seven.png", trained_cnn.raw_test[0])
    args = (trained_cnn.file, "--image", seven, "--out", tmp_path / "never")
    line = one_line_error(*explain(capsys, *args, "--layer", "conv9"))
    assert ("explain: expected the name of a layer of the model, got 'conv9'; the model's layers are 'conv', "
            "'pool', 'flatten', 'dense'. Fix: pass one of these names" in line)
    line = one_line_error(*explain(capsys, *args, "--layer", "dense"))
    assert ("explain: expected layer 'dense' to give feature maps (N, H', W', K), as a Conv2D or pooling layer "
            "does, got output of shape (None, 10). Fix: name one of 'conv', 'pool' (--layer NAME"
            in line)
    assert not (tmp_path / "never").exists()  # nothing written


def test_error_out_is_not_a_folder(trained_cnn, tmp_path: Path, capsys) -> None:
    seven = write_digit(tmp_path / "seven.png", trained_cnn.raw_test[0])
    (tmp_path / "taken").write_text("a file\n")
    line = one_line_error(*explain(capsys, trained_cnn.file, "--image", seven, "--out", tmp_path / "taken"))
    assert line == (f"brainnet: error: --out {tmp_path / 'taken'}: expected a folder the pictures can be written "
                    "into, got File exists. Fix: pass --out with a new or writable folder.")


def test_bad_explain_options_exit_2(trained_cnn, capsys) -> None:
    assert main(["explain", str(trained_cnn.file)]) == 2
    assert "the following arguments are required: --image" in capsys.readouterr().err
    assert main(["explain", str(trained_cnn.file), "--image", "x.png", "--invert", "maybe"]) == 2
    assert "argument --invert: invalid choice: 'maybe'" in capsys.readouterr().err
