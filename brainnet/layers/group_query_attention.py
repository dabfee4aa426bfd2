"""GroupQueryAttention (Keras 3's name): multi-head attention whose query heads
share fewer key/value heads, in groups, as in Ainslie et al. 2023 (GQA)::

    head_u = softmax(Q_u K_g(u)ᵀ/√d)·V_g(u),   g(u) = ⌊u / (H_q/H_kv)⌋

``num_key_value_heads=1`` is multi-query attention; equal to
``num_query_heads`` it is ``MultiHeadAttention``. Fewer key/value heads mean
smaller key and value projections (and caches) for the same query heads.
"""

from __future__ import annotations

from typing import Any

import torch

from ._attention_inputs import check_dropout
from .core import check_positive_int
from .multi_head_attention import MultiHeadAttention


class GroupQueryAttention(MultiHeadAttention):
    """Grouped-query attention: ``H_q`` query heads in ``H_kv`` groups, each
    group reading one key head and one value head.

    Equations, with ``r = H_q / H_kv`` query heads per group and query head
    u = 0 … H_q − 1 reading key/value head g = ⌊u / r⌋ (as Keras repeats them)::

        Q_u = X_q W_u^Q + b_u^Q,   K_g = X_k W_g^K + b_g^K,   V_g = X_v W_g^V + b_g^V
        A_u = softmax(Q_u K_gᵀ / √d),   head_u = A_u V_g
        y = Σ_u head_u W_u^O + b^O

    Weights (Keras's layout): ``query_dense.kernel`` ``(d_q, H_q, d)``,
    ``key_dense.kernel`` ``(d_k_in, H_kv, d)``, ``value_dense.kernel``
    ``(d_v_in, H_kv, d)``, ``output_dense.kernel`` ``(H_q, d, d_q)``, each
    with a bias of shape ``(H_q, d)``, ``(H_kv, d)``, ``(H_kv, d)``, ``(d_q,)``.

    Args:
        head_dim: d, the size of every query, key and value head.
        num_query_heads: H_q.
        num_key_value_heads: H_kv, a divisor of H_q (1: multi-query attention).
        dropout: fraction of attention weights dropped in training (default 0).
        use_bias: add the biases (default True).
        kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint,
        bias_constraint: on the four projections, as in ``MultiHeadAttention``.

    Call arguments: ``layer(query, value, key=None, attention_mask=None,
    return_attention_scores=False, training=None, use_causal_mask=False)``;
    ``attention_mask`` is ``(batch, T_q, T_k)`` booleans, True = attend.

    Input shape: query ``(batch, T_q, d_q)``, value ``(batch, T_k, d_v_in)``, key ``(batch, T_k, d_k_in)``.
    Output shape: ``(batch, T_q, d_q)``; with the scores also ``(batch, H_q, T_q, T_k)``.

    Raises:
        ValueError: a head count or size that is not a positive integer,
            ``num_query_heads`` not a multiple of ``num_key_value_heads``, a
            dropout outside [0, 1), and the input errors of ``MultiHeadAttention``.

    Example:
        >>> import torch
        >>> x = torch.ones(2, 5, 16)
        >>> layer = GroupQueryAttention(head_dim=8, num_query_heads=4, num_key_value_heads=2)
        >>> out, scores = layer(x, x, return_attention_scores=True)
        >>> out.shape, scores.shape, tuple(layer.key_dense.kernel.shape)
        (torch.Size([2, 5, 16]), torch.Size([2, 4, 5, 5]), (16, 2, 8))
    """

    equation = "head_u = softmax(Q_u K_g(u)ᵀ/√d)·V_g(u),  y = Σ_u head_u W_u^O + b^O"

    def __init__(self, head_dim: int, num_query_heads: int, num_key_value_heads: int, dropout: float = 0.0,
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None, **kwargs: Any) -> None:
        name = "GroupQueryAttention"
        head_dim = check_positive_int(name, "head_dim", head_dim)
        num_query_heads = check_positive_int(name, "num_query_heads", num_query_heads)
        num_key_value_heads = check_positive_int(name, "num_key_value_heads", num_key_value_heads)
        if num_query_heads % num_key_value_heads:
            divisors = [d for d in range(1, num_query_heads + 1) if num_query_heads % d == 0]
            raise ValueError(
                f"{name}: expected num_query_heads to be a multiple of num_key_value_heads (each group of query "
                f"heads shares one key/value head), got num_query_heads={num_query_heads} and "
                f"num_key_value_heads={num_key_value_heads}. Fix: num_key_value_heads among {divisors}."
            )
        check_dropout(name, dropout)
        super().__init__(num_heads=num_query_heads, key_dim=head_dim, dropout=dropout, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                         bias_constraint=bias_constraint, **kwargs)
        self.head_dim = head_dim
        self.num_query_heads = num_query_heads
        self.num_key_value_heads = num_key_value_heads
        # the key and value projections have H_kv heads (the query's and the output's have H_q)
        self.key_dense = self._projection((num_key_value_heads, head_dim), "key")
        self.value_dense = self._projection((num_key_value_heads, head_dim), "value")

    def _heads_of_keys(self, projected: torch.Tensor) -> torch.Tensor:
        """(B, H_kv, T_k, d) → (B, H_q, T_k, d): key/value head g for query heads g·r … g·r + r − 1."""
        return projected.repeat_interleave(self.num_query_heads // self.num_key_value_heads, dim=1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for key in ("num_heads", "key_dim", "value_dim", "output_shape"):  # MultiHeadAttention's, not taken here
            config.pop(key)
        return {**config, "head_dim": self.head_dim, "num_query_heads": self.num_query_heads,
                "num_key_value_heads": self.num_key_value_heads}
