"""The example programs, run as a user runs them: ``python examples/<name>.py``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from recipe_bounds import (
    SEQUENCE_ATTENTION_MIN, SEQUENCE_LSTM_MIN, SEQUENCE_TRANSFORMER_MIN, TWO_INPUT_JOINT_MIN,
)

REPO = Path(__file__).resolve().parents[1]

# One epoch on the first 6,000 MNIST images (5,400 after the 10% validation
# split, 84 SGD steps) gives 0.898 test accuracy on the first 1,200 test
# images with the example's seed 0 (0.858-0.898 over seeds 0-3). Chance is
# 0.10; 3,000 images (43 steps) would reach only 0.70-0.78, still warming up.
MIN_ACCURACY = 0.80


def _run_example(name: str, mnist_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """Runs ``examples/<name>`` for one epoch on the first 6,000 MNIST images, offline."""
    env = {k: v for k, v in os.environ.items() if k != "BRAINNET_DEVICE"}
    env.update(
        BRAINNET_DATA_DIR=str(mnist_dir.parent), BRAINNET_OFFLINE="1",
        BRAINNET_CACHE_DIR=str(tmp_path / "cache"), BRAINNET_EPOCHS="1", BRAINNET_LIMIT="6000",
    )
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / name)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _accuracy(stdout: str) -> float:
    found = re.findall(r"^test accuracy: (\d\.\d{4})$", stdout, flags=re.MULTILINE)
    assert len(found) == 1, stdout[-2000:]
    return float(found[0])


def test_mnist_cnn_example_trains_evaluates_and_predicts(mnist_dir, tmp_path):
    result = _run_example("mnist_cnn.py", mnist_dir, tmp_path)
    assert _accuracy(result.stdout) >= MIN_ACCURACY, result.stdout[-2000:]
    predictions = re.findall(r"^test image (\d): predicted (\d), true (\d)$", result.stdout, re.MULTILINE)
    assert [int(i) for i, _, _ in predictions] == [0, 1, 2, 3, 4]
    assert [int(true) for _, _, true in predictions] == [7, 2, 1, 0, 4]  # MNIST's first test labels
    assert sum(p == t for _, p, t in predictions) >= 4  # easy digits: 5 of 5 with seed 0, allow one miss
    assert "Epoch 1/1" in result.stdout + result.stderr  # the progress bar


# The row-wise MNIST examples train with the same data, optimizer and batch as
# their recipes (see tests/test_cli.py for the measured figures), so they
# reach the same accuracy after one epoch on 6,000 images.
@pytest.mark.parametrize(
    "name, minimum",
    [
        pytest.param("mnist_lstm.py", SEQUENCE_LSTM_MIN, id="lstm"),
        pytest.param("mnist_lstm_attention.py", SEQUENCE_ATTENTION_MIN, id="lstm-attention"),
        pytest.param("mnist_transformer.py", SEQUENCE_TRANSFORMER_MIN, id="transformer"),
    ],
)
def test_sequence_example_trains_evaluates_and_predicts(name, minimum, mnist_dir, tmp_path):
    result = _run_example(name, mnist_dir, tmp_path)
    assert _accuracy(result.stdout) >= minimum, result.stdout[-2000:]
    predictions = re.findall(r"^test image (\d): predicted (\d), true (\d)$", result.stdout, re.MULTILINE)
    assert [int(true) for _, _, true in predictions] == [7, 2, 1, 0, 4]
    assert "Epoch 1/1" in result.stdout + result.stderr


def test_attention_example_shows_why_the_printed_call_fails(mnist_dir, tmp_path):
    result = _run_example("mnist_lstm_attention.py", mnist_dir, tmp_path)
    assert "as printed, Attention()([lstm, inputs]) fails:" in result.stdout
    assert "got query (None, 28, 64) and key (None, 28, 28) (64 ≠ 28)" in result.stdout


def test_two_input_example_trains_evaluates_and_predicts(mnist_dir, tmp_path):
    # The joint model of `brainnet run mnist-two-input`, trained the same way (bound measured in recipe_bounds.py).
    result = _run_example("two_input_mnist.py", mnist_dir, tmp_path)
    assert _accuracy(result.stdout) >= TWO_INPUT_JOINT_MIN, result.stdout[-2000:]
    assert re.search(r"^concatenate \(Concatenate\) .* dense, lstm$", result.stdout, re.MULTILINE)  # the join
    predictions = re.findall(r"^test image (\d): predicted (\d), true (\d)$", result.stdout, re.MULTILINE)
    assert [int(true) for _, _, true in predictions] == [7, 2, 1, 0, 4]
    assert "Epoch 1/1" in result.stdout + result.stderr


def test_custom_train_step_example_trains_a_vae_below_the_mean_image(mnist_dir, tmp_path):
    # A model that overrides train_step and test_step (a VAE). Measured with seed 0, 3 epochs on the first
    # 6,000 images: test reconstruction loss 154.4 against 200.6 for drawing every digit as the mean image.
    env = {k: v for k, v in os.environ.items() if k != "BRAINNET_DEVICE"}
    env.update(BRAINNET_DATA_DIR=str(mnist_dir.parent), BRAINNET_OFFLINE="1", BRAINNET_CACHE_DIR=str(tmp_path / "c"))
    result = subprocess.run([sys.executable, str(REPO / "examples" / "custom_train_step.py"), "--epochs", "3",
                             "--limit", "6000"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loss = float(re.search(r"^test reconstruction loss: (\d+\.\d)$", result.stdout, re.MULTILINE).group(1))
    baseline = float(re.search(r"^mean-image baseline: (\d+\.\d)$", result.stdout, re.MULTILINE).group(1))
    assert loss < 0.85 * baseline, result.stdout[-2000:]
    assert len(re.findall(r"^test image \d: mean squared pixel error 0\.\d{4}$", result.stdout, re.MULTILINE)) == 5
    assert "Epoch 3/3" in result.stdout + result.stderr and "reconstruction_loss:" in result.stdout + result.stderr
