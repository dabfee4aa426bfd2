"""Seeds of the layers that draw random numbers (augmentation, noise).

A layer made with ``seed=`` owns a ``torch.Generator`` on the device of its
inputs, seeded once, so its sequence of draws repeats from run to run and is
independent of other draws; without a seed it draws from torch's global
generator (``torch.manual_seed`` / ``brainnet.utils.set_random_seed``).
The layer keeps the generator in ``_generator`` and the seed in ``seed``:
the CUDA-graph training step registers these generators with the graph
(``Trainer._cuda_generators``), so a replayed step draws new numbers.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch


def check_seed(layer: str, seed: Any) -> int | None:
    """``seed`` as an int, or None; an error for anything else."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ValueError(
            f"{layer}: expected seed to be an integer or None, got {seed!r}. "
            f"Fix: {layer}(..., seed=42)."
        )
    return None if seed is None else int(seed)


def generator_for(layer: Any, like: torch.Tensor) -> torch.Generator | None:
    """The seeded layer's generator on ``like``'s device (made on first use, or
    when the inputs move to another device), or None for an unseeded layer."""
    if layer.seed is None:
        return None
    if layer._generator is None or layer._generator.device != like.device:
        layer._generator = torch.Generator(device=like.device).manual_seed(layer.seed)
    return layer._generator
