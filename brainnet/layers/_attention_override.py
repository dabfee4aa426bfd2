"""Keras 3's hook for attention of one's own: a ``MultiHeadAttention`` subclass
that overrides ``_compute_attention`` keeps the layer's projections and
replaces what happens between them (the keras.io example "Train a Vision
Transformer on small datasets" scales the query by a learned temperature τ
there and masks the diagonal).

The hook gets the projected heads in Keras's layout and returns the heads'
outputs and the attention weights::

    query (B, T, H, d_k), key (B, S, H, d_k), value (B, S, H, d_v)
    scores = einsum("aecd,abcd->acbe", key, query / √d_k)     # (B, H, T, S)
    A = softmax(scores + (1 − mask)·(−10⁹))                     # over S
    heads = einsum("acbe,aecd->abcd", dropout(A), value)       # (B, T, H, d_v)

``attention_mask`` is ``(B, T, S)`` booleans (True = attend), the layer's
mask argument combined with the graph's masks and the causal mask, or None.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import torch

from ._attention_inputs import masked_softmax
from ._dropout import dropout

# Keras's einsum equations for rank-3 inputs (one attention axis):
# a batch, b query step, e key step, c head, d channel.
DOT_PRODUCT_EQUATION = "aecd,abcd->acbe"  # key (B, S, H, d), query (B, T, H, d) → scores (B, H, T, S)
COMBINE_EQUATION = "acbe,aecd->abcd"  # weights (B, H, T, S), value (B, S, H, d_v) → heads (B, T, H, d_v)


class AttentionDropout:
    """``layer._dropout_layer``: ``y = x·m/(1 − rate)`` in training, ``y = x`` otherwise."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def __call__(self, x: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        return dropout(x, self.rate) if training else x


def keras_masked_softmax(scores: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """``layer._masked_softmax(scores, mask)``: the mask ``(B, T, S)`` gets the
    heads' axis, ``(B, 1, T, S)``, and masked keys −10⁹ before the softmax."""
    keep = None
    if attention_mask is not None:
        keep = attention_mask.to(torch.bool)
        while keep.dim() < scores.dim():
            keep = keep.unsqueeze(-3)  # (B, 1, T, S): the same mask for every head
    return masked_softmax(scores, keep)


def compute_attention(layer: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: torch.Tensor | None = None, training: bool | None = None,
                      return_attention_scores: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Keras's default ``_compute_attention`` (its explicit path): returns the
    heads ``(B, T, H, d_v)`` and the weights ``(B, H, T, S)``."""
    query = query * layer._inverse_sqrt_key_dim
    scores = torch.einsum(DOT_PRODUCT_EQUATION, key, query)  # (B, H, T, S)
    weights = layer._masked_softmax(scores, attention_mask)
    heads = torch.einsum(COMBINE_EQUATION, layer._dropout_layer(weights, training=training), value)
    return heads, weights


@functools.lru_cache(maxsize=None)
def _takes_scores_flag(function: Any) -> bool:
    """Whether an override of ``_compute_attention`` has the parameter ``return_attention_scores``."""
    parameters = inspect.signature(function).parameters.values()
    return any(p.name == "return_attention_scores" or p.kind is p.VAR_KEYWORD for p in parameters)


def call_overridden(layer: Any, inputs: list[torch.Tensor], keep: torch.Tensor | None, training: bool | None,
                    return_attention_scores: bool) -> Any:
    """``MultiHeadAttention.call`` for a subclass with its own ``_compute_attention``:
    the projections, the hook, the output projection."""
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) > 2 else value
    q = layer.query_dense(query)  # (B, T, H, d_k)
    k = layer._heads_of_keys(layer.key_dense(key).transpose(1, 2)).transpose(1, 2)  # (B, S, H, d_k)
    v = layer._heads_of_keys(layer.value_dense(value).transpose(1, 2)).transpose(1, 2)  # (B, S, H, d_v)
    if keep is not None and keep.dim() == 2:
        keep = keep[None]  # the causal mask alone: (1, T, S), as Keras makes it
    # An override written for Keras 3.0 takes 5 arguments (and always returns the
    # weights); one written for later Keras 3 also takes return_attention_scores.
    extra = {"return_attention_scores": return_attention_scores} if _takes_scores_flag(
        type(layer)._compute_attention) else {}
    heads, weights = layer._compute_attention(q, k, v, keep, training, **extra)
    out = layer.output_dense(heads)  # (B, T, d_out)
    return (out, weights) if return_attention_scores else out
