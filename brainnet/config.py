"""Keras 3's ``keras.config``: the settings brainnet keeps global, with Keras's names.

Tutorials read and set these at the top of a program. Each function here
tells the truth about brainnet, so some setters accept only the value that
brainnet has:

* ``backend()`` is ``"torch"``: PyTorch is brainnet's only engine.
* ``floatx()`` is the float type layers make their weights in (torch's
  default dtype, ``"float32"``); ``set_floatx`` accepts ``"float32"`` only.
* ``epsilon()`` is the fuzz factor ε = 1e-7 that the losses clip
  probabilities with, the weight constraints divide by and the AUC's end
  thresholds use; it is fixed, so ``set_epsilon`` accepts 1e-7 only (an
  optimizer's ε is its own argument: ``Adam(epsilon=1e-4)``).
* ``image_data_format()`` is ``"channels_last"``: images are
  ``(batch, height, width, channels)``, and ``set_image_data_format``
  refuses ``"channels_first"``.
* ``dtype_policy()`` / ``set_dtype_policy(...)`` are
  ``brainnet.mixed_precision``'s ``global_policy`` / ``set_global_policy``.
* ``enable_unsafe_deserialization()`` does nothing: brainnet files never
  hold code, so there is nothing unsafe to allow (see its docstring).

    >>> from brainnet import config
    >>> config.backend(), config.floatx(), config.epsilon(), config.image_data_format()
    ('torch', 'float32', 1e-07, 'channels_last')
"""

from __future__ import annotations

import torch

from .losses import EPSILON
from .mixed_precision import DTypePolicy, global_policy, set_global_policy

FLOAT_TYPES = ("bfloat16", "float16", "float32", "float64")  # the names Keras's set_floatx knows
DATA_FORMATS = ("channels_first", "channels_last")


def backend() -> str:
    """The engine brainnet runs on: ``"torch"`` (Keras 3 also names ``"jax"``,
    ``"tensorflow"``, ``"numpy"``; brainnet has PyTorch only)."""
    return "torch"


def floatx() -> str:
    """The float type layers make their weights in, by name: torch's default
    dtype, ``"float32"`` unless changed with ``torch.set_default_dtype``.

    Example:
        >>> floatx()
        'float32'
    """
    return str(torch.get_default_dtype()).removeprefix("torch.")


def set_floatx(value: str) -> None:
    """Keras's ``set_floatx``, for the one float type brainnet trains in: ``"float32"``.

    ``set_floatx("float32")`` makes torch's default dtype float32 again (the
    dtype brainnet's layers create their weights in). Other float types are
    refused: ``"mixed_bfloat16"`` (``set_dtype_policy``) computes in
    bfloat16 with float32 weights, and a model built in float32 can be
    turned into float64 as a whole with ``model.to(torch.float64)`` (``fit``
    then feeds it float64 batches).

    Args:
        value: ``"float32"``.

    Raises:
        ValueError: any other value, with the way to get that float type.

    Example:
        >>> set_floatx("float32")
    """
    if value not in FLOAT_TYPES:
        raise ValueError(f"set_floatx: expected one of {list(FLOAT_TYPES)} (Keras's names), got {value!r}. "
                         "Fix: set_floatx('float32').")
    if value != "float32":
        raise ValueError(
            f"set_floatx: expected 'float32', the float type brainnet's layers make their weights in, got {value!r}. "
            "Fix: leave it float32; for bfloat16 compute brainnet.config.set_dtype_policy('mixed_bfloat16'), for "
            "float64 turn the built model with model.to(torch.float64)."
        )
    torch.set_default_dtype(torch.float32)


def epsilon() -> float:
    """ε = 1e-7, the fuzz factor of brainnet's numerics: probabilities are
    clipped to ``[ε, 1 − ε]`` in the losses, ``MaxNorm``/``UnitNorm``/
    ``MinMaxNorm`` divide by ``ε + ‖w‖``, ``utils.normalize`` divides a
    tensor by ``max(‖x‖, ε)``. Keras 3's default too.

    Example:
        >>> epsilon()
        1e-07
    """
    return EPSILON


def set_epsilon(value: float) -> None:
    """Keras's ``set_epsilon``, for the value brainnet has: 1e-7.

    brainnet's ε is a constant of the code (the losses, the constraints and
    the AUC thresholds read it as such), so another value is refused rather
    than accepted and ignored.

    Args:
        value: 1e-7.

    Raises:
        ValueError: any other value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != EPSILON:
        raise ValueError(
            f"set_epsilon: expected {EPSILON!r}, the fixed ε of brainnet's losses and constraints, got {value!r}. "
            "Fix: leave it at 1e-7; an optimizer's ε is its own argument, e.g. Adam(epsilon=1e-4), and a layer's "
            "its own, e.g. BatchNormalization(epsilon=1e-5)."
        )


def image_data_format() -> str:
    """``"channels_last"``: images are ``(batch, height, width, channels)``,
    volumes ``(batch, depth, height, width, channels)``.

    Example:
        >>> image_data_format()
        'channels_last'
    """
    return "channels_last"


def set_image_data_format(data_format: str) -> None:
    """Keras's ``set_image_data_format``, for brainnet's one layout: ``"channels_last"``.

    Args:
        data_format: ``"channels_last"`` (any case, as Keras).

    Raises:
        ValueError: ``"channels_first"`` (brainnet is channels last only),
            or a name that is neither.
    """
    name = str(data_format).lower()
    if name not in DATA_FORMATS:
        raise ValueError(f"set_image_data_format: expected one of {list(DATA_FORMATS)}, got {data_format!r}. "
                         "Fix: set_image_data_format('channels_last').")
    if name == "channels_first":
        raise ValueError(
            "set_image_data_format: expected 'channels_last', brainnet's only layout (images (batch, height, width, "
            "channels)), got 'channels_first'. Fix: leave it channels_last and transpose channels-first arrays once, "
            "x = x.transpose(0, 2, 3, 1) (volumes: x.transpose(0, 2, 3, 4, 1))."
        )


def dtype_policy() -> DTypePolicy:
    """The global dtype policy, ``brainnet.mixed_precision.global_policy()``."""
    return global_policy()


def set_dtype_policy(policy: str | DTypePolicy) -> None:
    """Set the global dtype policy, ``brainnet.mixed_precision.set_global_policy``:
    ``"float32"`` (default) or ``"mixed_bfloat16"``, read by ``compile``.

    Raises:
        ValueError: another policy (``"mixed_float16"`` included), with the fix.
    """
    set_global_policy(policy)


def enable_unsafe_deserialization() -> None:
    """Accepted, and does nothing: brainnet files never hold code.

    Keras writes a ``Lambda``'s Python bytecode into the file and refuses to
    load it unless this was called. A brainnet file holds a JSON config and
    safetensors weights only; a ``Lambda`` is saved by the registered name of
    its function (``@brainnet.saving.register_serializable()``), and loading
    looks that name up among the functions your program registered or passes
    in ``custom_objects``. There is no code in the file to allow, so a Keras
    program that calls this before ``load_model`` runs unchanged, and loading
    stays as safe as before.
    """


__all__ = ["backend", "floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format", "set_image_data_format",
           "dtype_policy", "set_dtype_policy", "enable_unsafe_deserialization"]
