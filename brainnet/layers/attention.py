"""Attention layers: Attention (dot-product), AdditiveAttention (Bahdanau) and
MultiHeadAttention (the Transformer's, in ``multi_head_attention.py``).

All three weigh the values by how well each key matches each query::

    A = softmax(scores(Q, K))   over the keys,   y = A·V

and differ only in ``scores``. Masks are booleans, True = "a real step, attend
to it". A masked key gets −1e9 added to its score before the softmax (as in
Keras), so its weight is 0 and a row whose keys are all masked stays finite.
The input and mask checks they share are in ``_attention_inputs.py``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ._attention_inputs import _keep, _split_mask, check_dropout, check_query_value_key, mask_bias, masked_softmax
from ._dropout import dropout
from .base import Layer, Shape, glorot_uniform
from .multi_head_attention import MultiHeadAttention

# Importable from here as before the split.
__all__ = ["Attention", "AdditiveAttention", "MultiHeadAttention", "check_dropout", "check_query_value_key",
           "mask_bias", "masked_softmax"]


# ------------------------------------------------------------- Attention
class Attention(Layer):
    """Dot-product attention (Luong-style), as Keras's ``Attention``.

    Equations, for each query step i and key step j::

        score_ij = s · q_i·k_j              score_mode="dot" (s = 1 unless use_scale)
                   (÷ √d_k too when scale_by_dk=True)
        score_ij = c · Σ_d tanh(s·(q_id + k_jd))    score_mode="concat"
        A = softmax_j(score),   y_i = Σ_j A_ij v_j

    ``s`` is the learned scalar ``scale`` (use_scale=True, initialised to 1) and
    ``c`` the learned scalar ``concat_score_weight`` (concat mode). Keras's
    default is the *unscaled* ``A = softmax(QKᵀ)``; the teaching material's
    ``A = softmax(QKᵀ/√d_k)`` is ``Attention(scale_by_dk=True)``, a brainnet
    argument. With ``use_causal_mask=True`` step i attends only steps j ≤ i.

    Args:
        use_scale: learn the scalar ``scale`` (default False).
        score_mode: ``"dot"`` (default) or ``"concat"``.
        dropout: fraction of attention weights dropped in training (default 0).
        scale_by_dk: divide dot scores by √d_k, d_k the key's feature size
            (default False, Keras's behaviour).

    Call arguments:
        inputs: ``[query, value]`` or ``[query, value, key]`` (key defaults to value).
        mask: ``[query_mask, value_mask]``, ``(batch, T)`` booleans; masked
            keys get weight 0, outputs at masked query steps are 0.
        return_attention_scores: also return ``A``.
        use_causal_mask: mask future steps (j > i).

    Input shape: query ``(batch, T_q, d)``, value ``(batch, T_v, d_v)``, key ``(batch, T_v, d)``.
    Output shape: ``(batch, T_q, d_v)``; with the scores also ``(batch, T_q, T_v)``.

    Raises:
        ValueError: an unknown score_mode, a dropout outside [0, 1), inputs that
            are not [query, value(, key)] of rank 3, or (dot, concat) query and
            key of different feature sizes.

    Example:
        >>> import torch
        >>> q, v = torch.ones(2, 3, 4), torch.ones(2, 5, 4)
        >>> Attention(scale_by_dk=True)([q, v]).shape
        torch.Size([2, 3, 4])
    """

    equation = "A = softmax(QKᵀ),  y = A·V"
    supports_masking = True

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0,
                 scale_by_dk: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
        if score_mode not in ("dot", "concat"):
            raise ValueError(
                f"{cls}: expected score_mode 'dot' or 'concat', got {score_mode!r}. Fix: score_mode='dot'."
            )
        if scale_by_dk and score_mode != "dot":
            raise ValueError(
                f"{cls}: scale_by_dk divides dot-product scores by √d_k, got score_mode={score_mode!r}. "
                "Fix: use score_mode='dot' with scale_by_dk=True, or drop scale_by_dk."
            )
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = check_dropout(cls, dropout)
        self.scale_by_dk = bool(scale_by_dk)
        if self.scale_by_dk:
            self.equation = "A = softmax(QKᵀ/√d_k),  y = A·V"

    def check_input_shape(self, shape: Any) -> None:
        score = "scores Q·Kᵀ" if self.score_mode == "dot" else "scores Σ tanh(q + k)"
        check_query_value_key(self, shape, "attention([query, value])", same_dim=score)

    def build(self, input_shape: list[Shape]) -> None:
        self.scale = self.add_weight("scale", torch.ones(())) if self.use_scale else None
        concat = self.score_mode == "concat"
        self.concat_score_weight = self.add_weight("concat_score_weight", torch.ones(())) if concat else None

    def scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """score_ij for query (B, T_q, d) and key (B, T_k, d): (B, T_q, T_k)."""
        if self.score_mode == "dot":
            scores = query @ key.transpose(-1, -2)  # (B, T_q, T_k)
            if self.scale_by_dk:
                scores = scores / math.sqrt(key.shape[-1])
            return scores * self.scale if self.scale is not None else scores
        pairs = query.unsqueeze(-2) + key.unsqueeze(-3)  # (B, T_q, T_k, d)
        if self.scale is not None:
            pairs = self.scale * pairs
        return self.concat_score_weight * torch.tanh(pairs).sum(-1)

    def call(self, inputs: list[torch.Tensor], mask: Any = None, training: bool | None = None,
             return_attention_scores: bool = False, use_causal_mask: bool = False) -> Any:
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        q_mask, kv_mask = _split_mask(self, mask, inputs)
        scores = self.scores(query, key)  # (B, T_q, T_k)
        key_mask = None if kv_mask is None else kv_mask[:, None, :]  # (B, 1, T_k)
        weights = masked_softmax(scores, _keep(key_mask, use_causal_mask, *scores.shape[-2:], scores.device))
        if training and self.dropout > 0:
            weights = dropout(weights, self.dropout)
        out = weights @ value  # (B, T_q, d_v)
        if q_mask is not None:
            out = out * q_mask[..., None].to(out.dtype)
        return (out, weights) if return_attention_scores else out

    def compute_output_shape(self, input_shape: list[Shape]) -> Shape:
        return tuple(input_shape[0][:-1]) + (input_shape[1][-1],)

    def compute_mask(self, inputs: Any, mask: Any) -> torch.Tensor | None:
        return mask[0] if isinstance(mask, (list, tuple)) else None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "scale_by_dk": self.scale_by_dk}


class AdditiveAttention(Attention):
    """Additive (Bahdanau-style) attention, as Keras's ``AdditiveAttention``.

    Equations, for each query step i and key step j::

        score_ij = Σ_d w_d · tanh(q_id + k_jd),   A = softmax_j(score),   y_i = Σ_j A_ij v_j

    with ``w`` the learned vector ``scale`` of shape ``(d,)`` (glorot-uniform
    initialised) when ``use_scale=True`` (the default), else all ones.

    Args:
        use_scale: learn ``w`` (default True).
        dropout: fraction of attention weights dropped in training (default 0).

    Call arguments, input and output shapes: as ``Attention``; query and key
    must have the same feature size ``d``.

    Raises:
        ValueError: as ``Attention``.

    Example:
        >>> import torch
        >>> AdditiveAttention()([torch.ones(2, 3, 4), torch.ones(2, 5, 4)]).shape
        torch.Size([2, 3, 4])
    """

    equation = "score_ij = Σ_d w_d·tanh(q_id + k_jd),  A = softmax(score),  y = A·V"

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, **kwargs: Any) -> None:
        for arg in ("score_mode", "scale_by_dk"):
            if arg in kwargs:
                raise ValueError(f"AdditiveAttention: scores are always Σ_d w_d·tanh(q_d + k_d), got {arg}="
                                 f"{kwargs[arg]!r}. Fix: drop {arg}, or use Attention({arg}=...).")
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def check_input_shape(self, shape: Any) -> None:
        check_query_value_key(self, shape, "attention([query, value])", same_dim="scores Σ tanh(q + k)")

    def build(self, input_shape: list[Shape]) -> None:
        d = input_shape[0][-1]
        self.scale = self.add_weight("scale", glorot_uniform((d,), d, d)) if self.use_scale else None

    def scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        pairs = torch.tanh(query.unsqueeze(-2) + key.unsqueeze(-3))  # (B, T_q, T_k, d)
        return (pairs * self.scale).sum(-1) if self.scale is not None else pairs.sum(-1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["score_mode"], config["scale_by_dk"]
        return config
