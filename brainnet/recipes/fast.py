"""The speed recipe: 99 % on MNIST as fast as this machine allows.

``brainnet run mnist-fast`` trains a small two-convolution network (16 and 32
filters of 5×5, each followed by a 2×2 max-pooling, then batch normalization
and ReLU; 18,522 weights instead of the teaching CNN's 225,034) on all 60,000
training images for 2 epochs: SGD with Nesterov momentum 0.9, batch 128, the
rate rising linearly from 0.01 to 0.1 over the first 10 % of the steps, then
a cosine decay to 0. The data go to the device once, before the clock
starts. On CUDA the policy is ``mixed_bfloat16`` and the step is captured as
a CUDA graph (``jit_compile=True``). On a CPU the step runs eagerly, in
bfloat16 (``mixed_bfloat16``) where the CPU has AMX matrix units and in
float32 elsewhere (``auto_policy``; ``--precision`` overrides it). It prints
the training time, the first epoch's (with the CUDA graph's capture) apart,
and the test accuracy.

Pooling before batch normalization (not the teaching order, convolution →
normalization → ReLU → pooling) normalizes a quarter as many values: on 2
CPU cores the recipe trained 1.23 × faster in float32, and the test accuracy
was no lower (BENCHMARKS.md, "mnist-fast, pooling first").
"""

from __future__ import annotations

import math
from typing import Any

import torch

from brainnet import mixed_precision
from brainnet.datasets import mnist
from brainnet.layers import Activation, BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D
from brainnet.models import Sequential
from brainnet.optimizers import SGD
from brainnet.schedules import CosineDecay
from brainnet.training.trainer import resolve_device
from brainnet.utils import set_random_seed

from ._common import IMAGE_PREPROCESSING, PRECISION_POLICIES, EpochTimer, Recipe, RunConfig, load_images, run_facts, write_outputs

EPOCHS, BATCH_SIZE = 2, 128
PEAK_RATE, WARMUP_FRACTION = 0.1, 0.1


def fast_cnn() -> Sequential:
    """Two stages of 5×5 convolution, 2×2 max-pooling, batch normalization
    and ReLU, then a softmax.

    Returns:
        A built ``Sequential`` for ``(N, 28, 28, 1)`` images; 18,522 weights
        (18,426 trained, 96 batch-normalization statistics).
    """
    model = Sequential()
    model.add(Conv2D(16, (5, 5), use_bias=False, input_shape=(28, 28, 1)))
    model.add(MaxPooling2D((2, 2)))
    model.add(BatchNormalization())
    model.add(Activation("relu"))
    model.add(Conv2D(32, (5, 5), use_bias=False))
    model.add(MaxPooling2D((2, 2)))
    model.add(BatchNormalization())
    model.add(Activation("relu"))
    model.add(Flatten())
    model.add(Dense(10, activation="softmax"))
    return model


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles, the matrix units that make bfloat16
    products several times faster than float32 ones (Intel Xeon since
    Sapphire Rapids). Without them (AVX2-only CPUs), bfloat16 is emulated and
    slower than float32."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe is not None and probe())


def auto_policy(device: torch.device) -> str:
    """The recipe's policy: ``mixed_bfloat16`` on CUDA and on a CPU with AMX,
    ``float32`` elsewhere."""
    return "mixed_bfloat16" if device.type == "cuda" or (device.type == "cpu" and cpu_has_amx()) else "float32"


def run_mnist_fast(config: RunConfig) -> dict[str, Any]:
    """Trains ``fast_cnn`` on MNIST with the speed recipe and times it.

    Args:
        config: the run's options (``--epochs`` and ``--batch-size`` override
            2 and 128, the schedule follows them; ``--precision float32`` or
            ``bfloat16`` overrides ``auto_policy``).

    Returns:
        The summary written to ``history.json``, with ``train_seconds`` (all
        epochs) and ``seconds_per_epoch``.
    """
    set_random_seed(config.seed)
    (x_train, y_train), (x_test, y_test) = load_images(mnist, "mnist", config.data_dir, config.limit)
    device = resolve_device(config.device)
    cuda = device.type == "cuda"
    epochs, batch_size = config.epochs or EPOCHS, config.batch_size or BATCH_SIZE
    steps = epochs * math.ceil(len(x_train) / batch_size)
    warmup = int(steps * WARMUP_FRACTION)
    schedule = CosineDecay(PEAK_RATE / 10, max(steps - warmup, 1), warmup_target=PEAK_RATE, warmup_steps=warmup)
    model = fast_cnn()
    model.preprocessing, model.class_names = IMAGE_PREPROCESSING, list(mnist.CLASS_NAMES)
    policy = auto_policy(device) if config.precision == "auto" else PRECISION_POLICIES[config.precision]
    previous = mixed_precision.global_policy()
    mixed_precision.set_global_policy(policy)
    try:
        model.compile(SGD(schedule, momentum=0.9, nesterov=True), "sparse_categorical_crossentropy",
                      ["accuracy"], device=device, jit_compile=cuda)
    finally:
        mixed_precision.set_global_policy(previous)
    # The data set in the device's memory before the clock starts.
    x_dev, y_dev = torch.as_tensor(x_train, device=device), torch.as_tensor(y_train, device=device)
    x_test_dev, y_test_dev = torch.as_tensor(x_test, device=device), torch.as_tensor(y_test, device=device)
    timer = EpochTimer()
    history = model.fit(x_dev, y_dev, epochs=epochs, batch_size=batch_size, callbacks=[timer])
    loss, accuracy = model.evaluate(x_test_dev, y_test_dev, batch_size=2000, verbose=0)
    train_seconds = sum(timer.seconds)
    later = f"; later epochs {sum(timer.seconds[1:]) / (len(timer.seconds) - 1):.3f} s each" if len(timer.seconds) > 1 else ""
    print(f"training time: {train_seconds:.3f} s on {device}, {policy} (epoch 1, with warm-up"
          f"{' and CUDA-graph capture' if cuda else ''}: {timer.seconds[0]:.3f} s{later})")
    print(f"test accuracy: {accuracy:.4f}")
    print(f"test loss: {loss:.4f}")
    summary = {
        "recipe": "mnist-fast",
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "epochs": len(timer.seconds),
        "seconds_per_epoch": timer.seconds,
        "train_seconds": train_seconds,
        "test_loss": float(loss),
        "test_accuracy": float(accuracy),
        **run_facts(config, model, batch_size, len(x_train), len(x_test)),
        "policy": policy,
        "jit_compile": cuda,
    }
    probabilities = model.predict(x_test_dev, verbose=0)
    for path in write_outputs(model, summary, config.out, x_test, y_test, probabilities):
        print(f"wrote {path}")
    return summary


FAST_RECIPES = (
    Recipe(
        "mnist-fast",
        "99 % on MNIST fast: a small 2-conv net with batch norm, 2 epochs (bf16 on CUDA and AMX CPUs; CUDA graph)",
        run_mnist_fast,
    ),
)
