"""``InputLayer``: Keras's layer form of ``Input``, the first entry of a
``Sequential`` written the tf.keras way (``keras.layers.InputLayer((28, 28,
1))``). Its ``output`` is the symbolic tensor ``Input`` makes."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from .base import Layer
from .input_spec import dtype_name
from .symbolic import Input, SymbolicTensor


class InputLayer(Layer):
    """The entry of a model as a layer: ``output`` is ``Input(shape, ...)``, and so
    is ``input`` (as in Keras 2: ``Model(model.get_layer("image").input, ...)``
    takes the model's input; Keras 3's is an empty list).

    Computes nothing: y = x. Keras 3 builds ``Input`` from it; here it is the
    other way round, and a ``Sequential`` given an ``InputLayer`` first takes
    its ``output`` as its ``Input`` (``model.layers`` leaves it out, as in
    Keras).

    Args:
        shape: shape of one sample, without the batch axis (``None`` = any size).
        batch_size: fixed batch size, or None (any).
        dtype: the input's dtype, ``"float32"`` when None; ``"int32"``/``"int64"``
            for indices, ``"string"`` for texts.
        sparse: only None or False (brainnet's tensors are dense).
        ragged: only None or False.
        batch_shape: shape with the batch axis first, instead of ``shape`` and
            ``batch_size``.
        input_tensor: an ``Input(...)`` to take as the output, instead of a new one.
        optional: whether the model may be given None for this input.
        name: the layer's and its tensor's name (default ``input_layer``, ...).
        input_shape, batch_input_shape: tf.keras's names of ``shape`` and
            ``batch_shape``, taken with Keras 3's deprecation warning for the first.

    Input shape:
        none: the layer is the input.

    Output shape:
        ``(batch_size, *shape)``, or ``batch_shape``.

    Raises:
        ValueError: ``sparse`` or ``ragged`` True, ``input_tensor`` that is not an
            ``Input(...)`` or disagrees with ``shape``/``batch_shape``/``dtype``,
            and whatever ``Input`` refuses (no shape, shape and batch_shape both).
        TypeError: an argument ``InputLayer`` does not take.

    Example:
        >>> from brainnet.layers import Dense, InputLayer
        >>> from brainnet.models import Sequential
        >>> model = Sequential([InputLayer((3,)), Dense(2)])
        >>> model.output_shape, len(model.layers)
        ((None, 2), 1)
    """

    def __init__(self, shape: tuple | int | None = None, batch_size: int | None = None, dtype: Any = None,
                 sparse: bool | None = None, ragged: bool | None = None, batch_shape: tuple | None = None,
                 input_tensor: SymbolicTensor | None = None, optional: bool = False, name: str | None = None,
                 **kwargs: Any) -> None:
        if "input_shape" in kwargs:
            warnings.warn("InputLayer: argument `input_shape` is deprecated. Use `shape` instead.", stacklevel=2)
            shape = kwargs.pop("input_shape")
        if "batch_input_shape" in kwargs:
            batch_shape = kwargs.pop("batch_input_shape")
        if kwargs:
            raise TypeError(
                f"InputLayer: expected shape, batch_size, dtype, sparse, ragged, batch_shape, input_tensor, "
                f"optional or name, got {sorted(kwargs)}. Fix: InputLayer(shape=(28, 28, 1)) or "
                "InputLayer(batch_shape=(None, 28, 28, 1))."
            )
        for arg, value in (("sparse", sparse), ("ragged", ragged)):
            if value:
                raise ValueError(
                    f"InputLayer: expected {arg}=None or False, got {arg}={value!r}: brainnet's tensors are "
                    f"dense. Fix: leave {arg} out and give dense arrays (sparse.toarray(), or pad the sequences "
                    "with brainnet.utils.pad_sequences)."
                )
        if input_tensor is not None:
            tensor = _checked_input_tensor(input_tensor, shape, batch_size, batch_shape, dtype)
        else:
            tensor = Input(shape=shape, batch_size=batch_size, name=name, dtype="float32" if dtype is None else dtype,
                           batch_shape=batch_shape, optional=optional)
        super().__init__(name=name or tensor.name)
        self.output = tensor
        self.input = tensor  # Keras 2's too (keras.io's model.get_layer("image").input); Keras 3 gives []
        self.built = True  # nothing to build: summary counts its 0 weights
        tensor.__dict__.setdefault("input_layer", self)  # a functional model on it lists this layer first
        self.batch_shape = tensor.shape
        self.dtype = dtype_name(tensor.dtype)
        self.optional = bool(tensor.optional)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(self.batch_shape)

    def get_config(self) -> dict[str, Any]:
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "sparse": False, "ragged": False,
                "name": self.name, "optional": self.optional}


def _checked_input_tensor(tensor: Any, shape: Any, batch_size: Any, batch_shape: Any, dtype: Any) -> SymbolicTensor:
    """``input_tensor``: an ``Input(...)`` whose shape and dtype agree with the other arguments given."""
    if not isinstance(tensor, SymbolicTensor) or tensor.node is not None:
        got = f"the output of layer '{tensor.name}'" if isinstance(tensor, SymbolicTensor) else type(tensor).__name__
        raise ValueError(
            f"InputLayer: expected input_tensor to be an Input(...), got {got}. "
            "Fix: InputLayer(input_tensor=Input(shape=(28, 28, 1))), or InputLayer(shape=(28, 28, 1))."
        )
    if isinstance(shape, int):
        shape = (shape,)
    checks = (("shape", shape, tensor.shape[1:]), ("batch_size", batch_size, tensor.shape[0]),
              ("batch_shape", batch_shape, tensor.shape),
              ("dtype", None if dtype is None else dtype_name(dtype), dtype_name(tensor.dtype)))
    for arg, given, has in checks:
        if given is not None and (tuple(given) if isinstance(given, (list, tuple)) else given) != has:
            raise ValueError(
                f"InputLayer: expected {arg} to agree with input_tensor's ({has!r}), got {arg}={given!r}. "
                f"Fix: leave {arg} out when you give input_tensor."
            )
    return tensor


def input_layer_of(tensor: SymbolicTensor) -> InputLayer | None:
    """The ``InputLayer`` of an ``Input``: the one that made it (or was first made on
    it), else a new one named as the tensor, kept with it so that every model on
    the Input lists the same layer (Keras 3 makes the layer with the Input).
    None for a model input that is another layer's output (a model built on
    intermediate tensors, such as a FeatureSpace's encoded features)."""
    if tensor.node is not None:
        return None
    return tensor.__dict__.get("input_layer") or InputLayer(input_tensor=tensor, name=tensor.name)
