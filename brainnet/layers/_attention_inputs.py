"""What the attention layers share: checking their inputs ``[query, value(, key)]``
and masks, and the masked softmax.

Masks are booleans, True = "a real step, attend to it". A masked key gets −1e9
added to its score before the softmax (as in Keras), so its weight is 0 and a
row whose keys are all masked stays finite.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import Layer, shape_str


def check_dropout(layer: str, value: Any) -> float:
    """Validate a dropout rate in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{layer}: expected dropout in [0, 1), got {value!r}. Fix: {layer}(..., dropout=0.1).")
    return float(value)


def mask_bias(keep: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """0 where ``keep`` is True, −1e9 where it is False (−3e4 in float16)."""
    return (~keep).to(dtype) * (-3e4 if dtype == torch.float16 else -1e9)


def masked_softmax(scores: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    """softmax over the last axis (the keys), masked keys biased by −1e9 first."""
    if keep is not None:
        scores = scores + mask_bias(keep, scores.dtype)
    return torch.softmax(scores, dim=-1)


def _keep(attention_mask: torch.Tensor | None, use_causal_mask: bool, t_q: int, t_k: int,
          device: torch.device) -> torch.Tensor | None:
    """The (…, T_q, T_k) mask of query/key pairs that may attend, or None for all;
    the causal mask lets query step i attend key step j when j ≤ i (as Keras)."""
    keep = None if attention_mask is None else attention_mask.to(torch.bool)
    if use_causal_mask:
        causal = torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril()  # (T_q, T_k)
        keep = causal if keep is None else keep & causal
    return keep


def _split_mask(layer: Layer, mask: Any, inputs: list[torch.Tensor]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Keras's ``mask=[query_mask, value_mask(, key_mask)]`` → (query mask, key mask);
    key and value share their steps, so a key mask and a value mask are combined.
    Each mask must be ``(batch, T)`` of its input ``[query, value(, key)]``."""
    if mask is None:
        return None, None
    if not isinstance(mask, (list, tuple)) or len(mask) not in (2, 3):
        got = f"a tensor of shape {shape_str(mask.shape)}" if isinstance(mask, torch.Tensor) else repr(mask)
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) expected mask=[query_mask, value_mask] "
            f"((batch, T) booleans, either may be None), got {got}. "
            "Fix: mask=[None, value_mask] to mask padded keys only."
        )
    for role, m, x in zip(("query", "value", "key"), mask, [*inputs[:2], inputs[-1]]):
        if m is not None and tuple(m.shape) != tuple(x.shape[:2]):
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) expected the {role} mask of shape "
                f"(batch, T) = {shape_str(x.shape[:2])} (True = a real step), got {shape_str(m.shape)}. "
                f"Fix: a mask per input, each with that input's batch and time steps (e.g. tokens != 0)."
            )
    q_mask = None if mask[0] is None else mask[0].to(torch.bool)
    kv = [m.to(torch.bool) for m in mask[1:] if m is not None]
    kv_mask = None if not kv else (kv[0] if len(kv) == 1 else kv[0] & kv[1])
    return q_mask, kv_mask


def check_query_value_key(layer: Layer, shapes: Any, usage: str, same_dim: str = "") -> None:
    """Check the shapes of [query, value(, key)]: rank 3, key and value with the
    same steps and, when ``same_dim`` names the score, query and key with the
    same feature size."""
    name = f"Layer '{layer.name}' ({type(layer).__name__})"
    if not isinstance(shapes, list) or len(shapes) not in (2, 3):
        got = f"{len(shapes)} tensors" if isinstance(shapes, list) else f"one tensor of shape {shape_str(shapes)}"
        raise ValueError(f"{name} expected inputs [query, value] or [query, value, key], got {got}. Fix: {usage}.")
    query, value = shapes[0], shapes[1]
    key = shapes[2] if len(shapes) == 3 else value
    batches = [s[0] for s in shapes if len(s) and s[0] is not None]
    if len(set(batches)) > 1:
        raise ValueError(
            f"{name} expected query, value and key with the same number of samples, got "
            f"{', '.join(shape_str(s) for s in shapes)}. Fix: pass the query, value and key of the same "
            "samples together (same batch size, same order)."
        )
    if same_dim and None not in (query[-1], key[-1]) and query[-1] != key[-1]:
        raise ValueError(
            f"{name} computes {same_dim}, which needs query and key with the same feature size; "
            f"got query {shape_str(query)} and key {shape_str(key)} ({query[-1]} ≠ {key[-1]}). "
            f"Fix: project one side with Dense(...), e.g. query = Dense({key[-1]})(query), "
            f"or use MultiHeadAttention(num_heads=2, key_dim=32)(query, value), which projects both."
        )
    for role, shape in (("query", query), ("value", value), ("key", key)):
        if len(shape) != 3:
            raise ValueError(
                f"{name} expected {role} of rank 3 (batch, time, features), got {shape_str(shape)}. "
                "Fix: keep the time axis (a recurrent layer needs return_sequences=True), "
                f"or add one with Reshape((1, {shape[-1]}))."
            )
    if None not in (key[1], value[1]) and key[1] != value[1]:
        raise ValueError(
            f"{name} expected key and value with the same number of steps, got key "
            f"{shape_str(key)} and value {shape_str(value)}. Fix: pass the key that belongs to the value."
        )
