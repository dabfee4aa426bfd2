"""``brainnet run mnist-fast``: the speed recipe, on a slice of real MNIST.

Measured 2026-11-23 on 2 CPU cores, ``brainnet run mnist-fast --limit 6000
--seed S`` (2 epochs, 94 steps, tested on 1,200 images): seeds 0, 1, 2 gave
0.941, 0.919, 0.898. Chance is 0.10; the bound sits below every seed.
"""

import json
import os
import subprocess
import sys

from brainnet.recipes import RECIPES
from brainnet.recipes.fast import fast_cnn

MIN_ACCURACY = 0.80


def test_fast_cnn_is_the_documented_network():
    model = fast_cnn()
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "BatchNormalization", "Activation", "MaxPooling2D",
        "Conv2D", "BatchNormalization", "Activation", "MaxPooling2D", "Flatten", "Dense"]
    assert sum(p.numel() for p in model.parameters()) == 18_426
    assert "mnist-fast" in RECIPES


def test_run_mnist_fast_on_a_slice(mnist_dir, tmp_path):
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k not in ("BRAINNET_DEVICE",)}
    env.update(BRAINNET_OFFLINE="1", BRAINNET_CACHE_DIR=str(tmp_path / "cache"))
    result = subprocess.run(
        [sys.executable, "-m", "brainnet", "run", "mnist-fast", "--limit", "6000", "--seed", "0",
         "--device", "cpu", "--out", str(out), "--data-dir", str(mnist_dir.parent)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training time: " in result.stdout and " s on cpu (epoch 1, with warm-up: " in result.stdout
    summary = json.loads((out / "history.json").read_text())
    assert summary["recipe"] == "mnist-fast" and summary["epochs"] == 2
    assert summary["test_accuracy"] >= MIN_ACCURACY
    assert summary["train_seconds"] == sum(summary["seconds_per_epoch"]) > 0
    assert summary["policy"] == "float32" and summary["jit_compile"] is False  # the CPU settings
    assert summary["train_images"] == 6000 and summary["test_images"] == 1200
    assert (out / "model.brainnet").is_file() and (out / "report.html").is_file()
