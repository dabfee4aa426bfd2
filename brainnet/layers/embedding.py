"""Embedding: turns token indices into learned vectors."""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F

from .. import constraints, initializers, regularizers
from .base import Layer, Shape, capturing
from .core import check_positive_int


class Embedding(Layer):
    """Looks up a learned vector for each integer token index.

    Equation::

        y[n, t] = W[x[n, t]]

    with ``W`` the ``embeddings`` matrix ``(input_dim, output_dim)``
    (by default initialised uniformly in [−0.05, 0.05], as Keras). Indices may come as an
    integer tensor or as floats holding whole numbers (``fit`` converts inputs
    to the model's float dtype).

    With ``mask_zero=True`` index 0 means "padding": the layer also gives the
    next layers a mask ``x != 0`` (``compute_mask``), so an RNN skips the
    padded steps. Index 0 is then reserved, so ``input_dim`` is the vocabulary
    size + 1.

    Args:
        input_dim: number of rows of ``W``; indices must lie in ``[0, input_dim)``.
        output_dim: size of each vector (positive int).
        embeddings_initializer: how ``W`` starts (``brainnet.initializers``;
            default ``"uniform"``, U(−0.05, 0.05), as Keras).
        embeddings_constraint: projects ``W`` after each optimizer update
            (``brainnet.constraints``, e.g. ``UnitNorm(axis=1)`` for rows of
            norm 1; default None).
        mask_zero: treat index 0 as padding and produce a mask (default False).
        embeddings_regularizer: penalty on the table ``W`` (Keras's name),
            e.g. ``"l2"``: adds ``R(W)`` to the loss, the whole table (every
            row, looked up or not, as Keras); activity_regularizer: adds ``R(y)``
            of the output (see ``brainnet.regularizers``). Default None.
        **kwargs: ``name``, ``input_shape`` (e.g. ``(time,)``), ``trainable``.
            ``input_length`` (Keras 2) is accepted with a warning and ignored,
            as in Keras 3.

    Input shape: ``(batch, ...)`` indices, usually ``(batch, time)``.
    Output shape: ``(batch, ..., output_dim)``.

    Raises:
        ValueError: a bad hyperparameter; indices that are not whole numbers
            or lie outside ``[0, input_dim)``.

    Example:
        >>> import torch
        >>> Embedding(100, 8)(torch.tensor([[4, 2, 0]])).shape
        torch.Size([1, 3, 8])
    """

    equation = "y[n, t] = W[x[n, t]]"
    input_dtype = torch.int64
    min_rank = 1
    rank_hint = "(batch, time) of token indices"

    def __init__(
        self, input_dim: int, output_dim: int, embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None, embeddings_constraint: Any = None, mask_zero: bool = False,
        activity_regularizer: Any = None, **kwargs: Any,
    ) -> None:
        if kwargs.pop("input_length", None) is not None:
            warnings.warn(
                "Embedding: the argument input_length is deprecated and ignored (as in Keras 3). "
                "Fix: remove it, and give input_shape=(time,) to build the model at once.",
                UserWarning,
                stacklevel=2,
            )
        super().__init__(**kwargs)
        self.input_dim = check_positive_int("Embedding", "input_dim", input_dim)
        self.output_dim = check_positive_int("Embedding", "output_dim", output_dim)
        self.mask_zero = bool(mask_zero)
        self.embeddings_initializer = initializers.layer_initializer(
            "Embedding", "embeddings_initializer", embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer, argument="embeddings_regularizer")
        self.embeddings_constraint = constraints.get(embeddings_constraint, argument="embeddings_constraint",
                                                     layer="Embedding")
        self.activity_regularizer = regularizers.get(activity_regularizer, argument="activity_regularizer")
        if self.mask_zero and self.input_dim < 2:
            raise ValueError(
                f"Embedding: with mask_zero=True index 0 is reserved for padding, so input_dim must "
                f"be at least 2 (vocabulary size + 1), got {self.input_dim}. "
                "Fix: Embedding(input_dim=vocab_size + 1, output_dim=..., mask_zero=True)."
            )

    def build(self, input_shape: Shape) -> None:
        self.embeddings = self.add_weight("embeddings", self.initial_value("embeddings", (self.input_dim,
                                                                                          self.output_dim)))

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.embedding(self._indices(inputs), self.embeddings)  # (B, ..., output_dim)

    def _indices(self, x: torch.Tensor) -> torch.Tensor:
        """The inputs as int64 indices, after checking they can be indices."""
        if x.dtype == torch.bool or x.is_complex():
            raise ValueError(
                f"Layer '{self.name}' (Embedding): expected integer token indices, got a tensor of "
                f"dtype {x.dtype}. Fix: x = x.astype('int64')."
            )
        # A CUDA graph cannot read values back to check them; fit has checked every index
        # of its arrays (training.data.check_indices) before the first step.
        if x.is_floating_point() and not capturing(x):
            bad = ~torch.isfinite(x) | (x != torch.floor(x))
            if bool(bad.any()):
                raise ValueError(
                    f"Layer '{self.name}' (Embedding): expected integer token indices, got "
                    f"non-integer values such as {float(x[bad][0])}. Fix: pass token indices, "
                    "e.g. x = x.astype('int64') after checking where the fractions come from."
                )
        if x.numel() and not capturing(x):
            low, high = (int(v) for v in torch.aminmax(x))
            if low < 0 or high >= self.input_dim:
                bad_value = low if low < 0 else high
                raise ValueError(
                    f"Layer '{self.name}' (Embedding): expected indices in [0, {self.input_dim}) "
                    f"(input_dim={self.input_dim}), got {bad_value}. Fix: "
                    + (
                        f"Embedding(input_dim={high + 1}, ...) to cover every index."
                        if low >= 0
                        else "map tokens to indices 0, 1, 2, ... (negative indices are not allowed)."
                    )
                )
        return x.long()

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """``inputs != 0`` with ``mask_zero=True`` (True = real step), else None."""
        return inputs != 0 if self.mask_zero else None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "mask_zero": self.mask_zero,
            **initializers.config_of(self, "embeddings"),
            **regularizers.config_of(self, "embeddings", "activity"),
            **constraints.config_of(self, "embeddings"),
        }

    def weight_regularizers(self) -> dict[str, Any]:
        return {"embeddings": self.embeddings_regularizer}

    def weight_constraints(self) -> dict[str, Any]:
        return {"embeddings": self.embeddings_constraint}
