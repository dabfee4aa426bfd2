"""The challenge recipes (``brainnet.recipes.challenges``): ``mnist-small-data``
and ``mnist-two-input``, their networks, and each recipe run the way a user
runs it (``python -m brainnet run ...`` in a subprocess) on a slice of real
MNIST, offline. The accuracy bounds and their measurements are in
tests/recipe_bounds.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from recipe_bounds import (
    SMALL_DATA_AUGMENTED_MIN, SMALL_DATA_PLAIN_MIN, TWO_INPUT_COLUMNS_MIN, TWO_INPUT_IMAGE_MIN, TWO_INPUT_JOINT_MIN,
)

from brainnet.models import load_model
from brainnet.recipes import RECIPES, teaching_cnn
from brainnet.recipes.challenges import (
    HELD_OUT, augmented_cnn, column_branch_model, columns, image_branch_model, small_training_set, two_input_model,
)
from brainnet.utils import set_random_seed

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(recipe: str, args: list[str], mnist_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("BRAINNET_DATA_DIR", "BRAINNET_DEVICE")}
    env.update(BRAINNET_OFFLINE="1", BRAINNET_CACHE_DIR=str(tmp_path / "cache"))
    result = subprocess.run(
        [sys.executable, "-m", "brainnet.cli", "run", recipe, *args, "--out", str(tmp_path / "out"), "--seed", "0",
         "--device", "cpu", "--data-dir", str(mnist_dir.parent)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _printed(name: str, stdout: str) -> float:
    found = re.findall(rf"^{re.escape(name)}: ([+-]?\d+\.\d+)(?: points)?$", stdout, flags=re.MULTILINE)
    assert len(found) == 1, f"expected one '{name}: ...' line in:\n{stdout[-2000:]}"
    return float(found[0])


# ------------------------------------------------------------------ mnist-small-data
def test_small_training_set_draws_per_class_from_the_pool_by_seed():
    labels = np.repeat(np.arange(10), 100)[np.random.default_rng(7).permutation(1000)]
    picks = small_training_set(labels, per_class=6, seed=3, pool=800)
    assert picks.dtype == np.int64 and len(picks) == 60 and len(set(picks.tolist())) == 60
    assert (np.bincount(labels[picks], minlength=10) == 6).all()  # stratified: 6 of each class
    assert picks.max() < 800  # never from the held-out images
    assert np.array_equal(picks, small_training_set(labels, per_class=6, seed=3, pool=800))  # same seed, same draw
    assert not np.array_equal(picks, small_training_set(labels, per_class=6, seed=4, pool=800))


@pytest.mark.parametrize("per_class", [0, 1000, 2.5, True])
def test_small_training_set_refuses_an_impossible_per_class(per_class):
    labels = np.repeat(np.arange(10), 100)
    with pytest.raises(ValueError, match=re.escape(
        f"small_training_set: expected per_class from 1 to 100 (the images of the rarest class, 0, among the "
        f"first 50000), got {per_class!r}. Fix: small_training_set(labels, per_class=60, seed=0).")):
        small_training_set(labels, per_class=per_class, seed=0)


def test_augmented_cnn_is_the_teaching_cnn_at_inference():
    set_random_seed(5)
    plain = teaching_cnn()
    set_random_seed(5)
    augmented = augmented_cnn()
    assert [type(layer).__name__ for layer in augmented.layers] == [
        "RandomRotation", "RandomTranslation", "RandomZoom",
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dropout", "Dense"]
    assert sum(p.numel() for p in augmented.parameters()) == 225_034
    for a, b in zip(plain.parameters(), augmented.parameters(), strict=True):  # the same initial weights
        assert torch.equal(a, b)
    x = np.random.default_rng(0).uniform(-1, 1, (4, 28, 28, 1)).astype("float32")
    np.testing.assert_array_equal(augmented.predict(x), plain.predict(x))  # identity at inference
    augmented.train()
    with torch.no_grad():  # in training the images change and dropout draws: the outputs differ
        assert not torch.allclose(augmented(torch.from_numpy(x), training=True), plain(torch.from_numpy(x)))


def test_run_mnist_small_data_on_a_slice(mnist_dir, tmp_path):
    # --limit 1000: 60 images per digit (600), 200 held-out validation and 200 test images.
    result = _run("mnist-small-data", ["--limit", "1000", "--epochs", "10"], mnist_dir, tmp_path)
    plain, augmented = _printed("test accuracy (plain)", result.stdout), _printed("test accuracy (augmented)", result.stdout)
    assert plain >= SMALL_DATA_PLAIN_MIN and augmented >= SMALL_DATA_AUGMENTED_MIN, result.stdout[-2000:]
    assert _printed("gain", result.stdout) == pytest.approx(100 * (augmented - plain), abs=0.011)

    out = tmp_path / "out"
    summary = json.loads((out / "history.json").read_text())
    assert summary["recipe"] == "mnist-small-data" and summary["epochs"] == 10
    assert summary["test_accuracy"] == summary["augmented_test_accuracy"] == pytest.approx(augmented, abs=5e-5)
    assert summary["plain_test_accuracy"] == summary["plain"]["test_accuracy"] == pytest.approx(plain, abs=5e-5)
    assert summary["gain"] == pytest.approx(summary["augmented_test_accuracy"] - summary["plain_test_accuracy"])
    for run in (summary, summary["plain"]):
        assert all(len(run["history"][key]) == 10 for key in ("loss", "accuracy", "val_loss", "val_accuracy"))
        assert len(run["seconds_per_epoch"]) == 10 and run["fit_seconds"] >= sum(run["seconds_per_epoch"]) > 0
    assert (summary["train_images"], summary["validation_images"], summary["test_images"]) == (600, 200, 200)
    indices = np.array(summary["train_indices"])
    assert len(set(indices.tolist())) == 600 and indices.max() < HELD_OUT  # never a validation image
    assert summary["regularization"] == {"rotation": 0.025, "translation": 0.07, "zoom": 0.07, "dropout": 0.5,
                                         "label_smoothing": 0.1}
    assert summary["seed"] == 0 and summary["device"] == "cpu" and summary["parameters"] == 225_034

    for folder in (out, out / "plain"):
        for name in ("model.weights.safetensors", "model.brainnet", "history.json", "training_curves.png",
                     "report.html"):
            assert (folder / name).is_file() and f"wrote {folder / name}" in result.stdout
    assert (out / "comparison.png").read_bytes()[:8] == PNG_MAGIC
    assert json.loads((out / "plain" / "history.json").read_text())["test_accuracy"] == summary["plain_test_accuracy"]
    saved = load_model(out / "model.brainnet")  # the augmented model, what `brainnet predict` uses
    assert type(saved.layers[0]).__name__ == "RandomRotation" and saved.class_names == list("0123456789")


# ------------------------------------------------------------------ mnist-two-input
def test_columns_are_the_images_columns_left_to_right():
    images = np.arange(2 * 28 * 28, dtype="float32").reshape(2, 28, 28, 1)
    seq = columns(images)
    assert seq.shape == (2, 28, 28) and seq.flags.c_contiguous
    np.testing.assert_array_equal(seq[1, 5], images[1, :, 5, 0])  # step 5 is column 5, top to bottom


def test_two_input_model_joins_its_branches():
    model = two_input_model()
    assert [t.name for t in model.inputs] == ["image", "columns"]
    assert sum(p.numel() for p in model.parameters()) == 371_594
    branches = sum(p.numel() for p in image_branch_model().parameters()) + sum(
        p.numel() for p in column_branch_model().parameters())
    assert branches == 371_594 - 1_290 + 2 * 650  # the joint head Dense(128→10) vs two Dense(64→10) heads
    x = np.zeros((3, 28, 28, 1), dtype="float32")
    assert model.predict([x, columns(x)]).shape == (3, 10)


def test_run_mnist_two_input_on_a_slice(mnist_dir, tmp_path):
    result = _run("mnist-two-input", ["--limit", "6000", "--epochs", "1"], mnist_dir, tmp_path)
    joint = _printed("test accuracy", result.stdout)
    image = _printed("test accuracy (image branch alone)", result.stdout)
    column = _printed("test accuracy (column branch alone)", result.stdout)
    assert joint >= TWO_INPUT_JOINT_MIN and image >= TWO_INPUT_IMAGE_MIN and column >= TWO_INPUT_COLUMNS_MIN, (
        result.stdout[-2000:])

    out = tmp_path / "out"
    summary = json.loads((out / "history.json").read_text())
    assert summary["recipe"] == "mnist-two-input" and summary["epochs"] == 1
    assert summary["test_accuracy"] == pytest.approx(joint, abs=5e-5)
    assert summary["image_branch_test_accuracy"] == summary["branches"]["image"]["test_accuracy"]
    assert summary["image_branch_test_accuracy"] == pytest.approx(image, abs=5e-5)
    assert summary["column_branch_test_accuracy"] == pytest.approx(column, abs=5e-5)
    assert summary["parameters"] == 371_594 and summary["batch_size"] == 128
    assert (summary["train_images"], summary["validation_images"], summary["test_images"]) == (5400, 600, 1200)
    for name in ("model.weights.safetensors", "model.brainnet", "history.json", "training_curves.png", "report.html"):
        assert f"wrote {out / name}" in result.stdout

    saved = load_model(out / "model.brainnet")  # two inputs survive saving: predict takes the same list
    assert [t.name for t in saved.inputs] == ["image", "columns"]
    x = np.random.default_rng(0).uniform(-1, 1, (2, 28, 28, 1)).astype("float32")
    assert saved.predict([x, columns(x)]).shape == (2, 10)


def test_challenge_recipes_are_listed():
    assert {"mnist-small-data", "mnist-two-input"} <= set(RECIPES)
