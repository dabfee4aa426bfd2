"""FordA's stand-in for the keras.io timeseries classification examples: a
labelled univariate series set made in NumPy, in FordA's TSV layout (one row
per series, the label in the first column as -1 or 1, then the series,
z-normalized). Class -1 is a noisy sine, class 1 a noisy square wave
(``sign(sin)``) of the same random frequency and phase, so the classes
differ in shape, not in scale or mean.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

STEPS = 176


def table(n: int, seed: int, steps: int = STEPS) -> np.ndarray:
    """``n`` rows: label (-1/1) in column 0, a z-normalized series of ``steps`` values after it."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    labels = rng.choice([-1, 1], size=n)
    freq = rng.uniform(1 / 40, 1 / 12, size=(n, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    wave = np.sin(2 * np.pi * freq * t + phase)
    wave = np.where(labels[:, None] == 1, np.sign(wave), wave)
    series = wave + rng.normal(0, 0.4, size=wave.shape)
    series = (series - series.mean(axis=1, keepdims=True)) / series.std(axis=1, keepdims=True)
    return np.concatenate([labels[:, None].astype(float), series], axis=1)


def write_tsv(folder: Path, n_train: int = 800, n_test: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """``FordA_TRAIN.tsv`` and ``FordA_TEST.tsv`` in ``folder``; returns the two tables."""
    train, test = table(n_train, seed=1), table(n_test, seed=2)
    np.savetxt(folder / "FordA_TRAIN.tsv", train, delimiter="\t")
    np.savetxt(folder / "FordA_TEST.tsv", test, delimiter="\t")
    return train, test
