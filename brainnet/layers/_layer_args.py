"""The arguments every layer takes besides its own: ``name`` (unique by
default, as Keras names layers), ``input_shape`` / ``input_dim``, ``dtype`` and
the refusal of arguments no brainnet layer knows. ``Layer.__init__`` checks
them here; ``Layer.get_config`` gives them back.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from typing import Any

import numpy as np
import torch

NAME_COUNTERS: dict[str, itertools.count] = defaultdict(itertools.count)  # brainnet.backend.clear_session resets it


def snake_case(name: str) -> str:
    """``"BatchNormalization"`` → ``"batch_normalization"``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """Keras-style unique names: ``dense``, ``dense_1``, ``dense_2``, ..."""
    n = next(NAME_COUNTERS[base])
    return base if n == 0 else f"{base}_{n}"


def take_common_args(layer: Any, name: str | None, input_shape: Any, input_dim: int | None, dtype: Any,
                     unknown: dict[str, Any]) -> None:
    """``Layer.__init__``'s part: refuse unknown arguments and a dtype other
    than float32, then set ``layer.name`` (given, or unique from the class
    name), ``layer.input_shape_arg`` (the sample shape from ``input_shape`` or
    ``input_dim``, or None) and ``layer.float32`` (``dtype='float32'``: the
    layer computes in float32 even under autocast)."""
    kind = type(layer).__name__
    check_common_args(kind, unknown, dtype)
    layer.float32 = dtype is not None
    layer.name = name or unique_name(snake_case(kind))
    layer.input_shape_arg = input_shape_arg(kind, input_shape, input_dim)


def check_common_args(kind: str, unknown: dict[str, Any], dtype: Any) -> None:
    """Refuse an argument neither the layer nor ``Layer`` takes, and a dtype other than float32."""
    if unknown:
        arg = next(iter(unknown))
        raise TypeError(
            f"{kind}: expected the layer's own arguments or name, input_shape, input_dim, trainable, dtype, "
            f"got {arg}={unknown[arg]!r}. Fix: check {arg!r} against help(brainnet.layers.{kind}); "
            "brainnet may not have this Keras option."
        )
    if dtype not in (None, "float32", torch.float32):
        raise ValueError(
            f"{kind}: expected dtype='float32' (this layer computed in float32 under a mixed-precision "
            f"policy, as Keras's output layers often are) or None, got {dtype!r}. Fix: dtype='float32', "
            "or set the policy of the whole model with brainnet.mixed_precision.set_global_policy(...)."
        )


def input_shape_arg(kind: str, input_shape: Any, input_dim: int | None) -> tuple | None:
    """The sample shape given as ``input_shape`` or as ``input_dim`` (Keras's older
    spelling of ``input_shape=(input_dim,)``), checked; None when neither is given."""
    if input_dim is not None:
        if input_shape is not None:
            raise ValueError(
                f"{kind}: expected input_shape or input_dim, got both "
                f"(input_shape={input_shape!r}, input_dim={input_dim!r}). Fix: keep one, e.g. "
                f"input_shape=({input_dim!r},)."
            )
        input_shape = (input_dim,)
    return None if input_shape is None else check_input_shape_arg(kind, input_shape)


def check_input_shape_arg(layer: str, input_shape: Any) -> tuple:
    """``input_shape`` as a tuple of sizes (None: any), or an error that shows the tuple."""
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        raise ValueError(
            f"{layer}: expected input_shape as a tuple (the shape of one sample), got the number "
            f"{input_shape}. Fix: input_shape=({int(input_shape)},)."
        )
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ValueError(
            f"{layer}: expected input_shape as a tuple of sizes (the shape of one sample), got "
            f"{input_shape!r}. Fix: input_shape=(28, 28, 1) for 28×28 one-channel images."
        ) from None
    if not all(d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0)
               for d in shape):
        raise ValueError(
            f"{layer}: expected input_shape of positive whole sizes (or None for any), got "
            f"{input_shape!r}. Fix: input_shape=(28, 28, 1) for 28×28 one-channel images."
        )
    return tuple(None if d is None else int(d) for d in shape)


def common_config(layer: Any) -> dict[str, Any]:
    """``Layer.get_config``'s part: the arguments above as the layer was made
    (``name``, ``trainable``, ``input_shape`` when given, ``dtype`` when
    ``"float32"``), JSON-safe."""
    config: dict[str, Any] = {"name": layer.name, "trainable": layer._trainable}
    if layer.input_shape_arg is not None:
        config["input_shape"] = list(layer.input_shape_arg)
    if layer.float32:
        config["dtype"] = "float32"
    return config
