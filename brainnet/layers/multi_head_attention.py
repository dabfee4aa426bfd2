"""MultiHeadAttention, the Transformer's attention (as Keras's), and its
per-head projections.

Each head projects the query, key and value, attends, and the heads' outputs
are projected back together::

    head_h = softmax(Q_h K_hᵀ/√d_k)·V_h,   y = Σ_h head_h W_h^O + b^O
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from .. import initializers, regularizers
from . import _attention_override
from ._attention_inputs import _keep, _split_mask, check_dropout, check_query_value_key, mask_bias, masked_softmax
from ._dropout import dropout, fast_mask
from .base import Layer, Shape, shape_str
from .core import check_positive_int, take_weight_arguments, weight_arguments_config


class _HeadsDense(Layer):
    """y = x·W + b contracting the last ``in_axes`` axes of x into the shape
    ``units``: MultiHeadAttention's per-head projections (Keras's EinsumDense),
    with MultiHeadAttention's initializers, regularizers and constraints. The
    kernel is stored in Keras's shape ``in_shape + units``, so its fans are
    Keras's: ``(d, H, d_k)`` has fan_in H·d and fan_out d_k·d."""

    min_rank = 2

    def __init__(self, in_axes: int, units: tuple[int, ...], use_bias: bool, weight_args: dict[str, Any],
                 activity_regularizer: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.in_axes, self.units, self.use_bias = in_axes, tuple(units), use_bias
        self.fixed_axes = tuple(range(-in_axes, 0))
        take_weight_arguments(self, weight_args, ("kernel", "bias"))
        self.activity_regularizer = activity_regularizer

    def build(self, input_shape: Shape) -> None:
        in_shape = tuple(input_shape[-self.in_axes:])
        self.kernel = self.add_weight("kernel", self.initial_value("kernel", in_shape + self.units))
        self.bias = self.add_weight("bias", self.initial_value("bias", self.units)) if self.use_bias else None

    def initial_value(self, kind: str, keras_shape: tuple[int, ...]) -> torch.Tensor:
        # Stored in Keras's shape; an initializer's error names the layer the user made.
        return initializers.initial_value("MultiHeadAttention", getattr(self, f"{kind}_initializer"), keras_shape)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        lead = inputs.shape[: inputs.dim() - self.in_axes]
        kernel = self.kernel.reshape(math.prod(self.kernel.shape[: self.in_axes]), -1)
        y = inputs.reshape(*lead, -1) @ kernel  # (..., prod(units))
        if self.bias is not None:
            y = y + self.bias.reshape(-1)
        return y.reshape(*lead, *self.units)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape[: len(input_shape) - self.in_axes]) + self.units


class MultiHeadAttention(Layer):
    """Multi-head attention, as Keras's ``MultiHeadAttention`` (the Transformer's).

    Equations, for each head h = 1..H::

        Q_h = X_q W_h^Q + b_h^Q,   K_h = X_k W_h^K + b_h^K,   V_h = X_v W_h^V + b_h^V
        A_h = softmax(Q_h K_hᵀ / √d_k),   head_h = A_h V_h
        y = Σ_h head_h W_h^O + b^O

    Weights (Keras's layout): ``query_dense.kernel`` ``(d_q, H, d_k)``,
    ``key_dense.kernel`` ``(d_k_in, H, d_k)``, ``value_dense.kernel``
    ``(d_v_in, H, d_v)``, ``output_dense.kernel`` ``(H, d_v, d_out)``, each
    with a bias, of shape ``(H, d_k)``, ``(H, d_k)``, ``(H, d_v)``, ``(d_out,)``.
    Without ``return_attention_scores`` the heads run through
    ``torch.nn.functional.scaled_dot_product_attention`` (fused kernels).

    Args:
        num_heads: H. key_dim: d_k, the size of each query/key head.
        value_dim: d_v, the size of each value head (default d_k).
        dropout: fraction of attention weights dropped in training (default 0).
        use_bias: add the biases (default True).
        output_shape: d_out (default: the query's feature size); an integer or,
            as Keras 3 also takes it, a 1-tuple ``(d_out,)``.
        kernel_initializer: how each of the four kernels starts (default
            ``"glorot_uniform"``; ``brainnet.initializers``). The fans are
            Keras's for the kernel's shape: ``(d, H, d_k)`` has fan_in ``H·d``
            and fan_out ``d_k·d``, ``(H, d_v, d_out)`` has ``d_v·H`` and
            ``d_out·H``. A seeded initializer gives kernels of the same shape
            the same values, as in Keras.
        bias_initializer: how each of the four biases starts (default ``"zeros"``).
        kernel_regularizer: penalty on each of the four kernels, e.g. ``"l2"``:
            adds ``R(W^Q) + R(W^K) + R(W^V) + R(W^O)`` to the loss (default None).
        bias_regularizer: adds ``R(b^Q) + R(b^K) + R(b^V) + R(b^O)``.
        activity_regularizer: penalty on the output of each of the four
            projections, as Keras 3 (which gives it to its dense sublayers):
            adds ``R(Q) + R(K) + R(V) + R(y)``, with ``Q, K, V`` the projected
            ``(batch, T, H, d)`` tensors and ``y`` the layer's output. The
            penalties are in ``model.losses`` (see ``brainnet.regularizers``).
        kernel_constraint: projects each of the four kernels after each
            optimizer update, e.g. ``brainnet.constraints.MaxNorm(2)`` (norms
            over axis 0 of the shapes above; default None).
        bias_constraint: the same for the four biases.

    Call arguments: ``layer(query, value, key=None, attention_mask=None,
    return_attention_scores=False, training=None, use_causal_mask=False)``;
    ``attention_mask`` is ``(batch, T_q, T_k)`` booleans, True = attend. Masks
    from ``Embedding(mask_zero=True)`` in a functional graph also apply.

    Attention of one's own, as in Keras 3: a subclass that overrides
    ``_compute_attention(query, key, value, attention_mask=None,
    training=None)`` gets the projected heads ``(batch, T, H, d)`` and returns
    the heads' outputs ``(batch, T_q, H, d_v)`` and weights ``(batch, H, T_q,
    T_k)``; Keras's ``_key_dim``, ``_dot_product_equation``,
    ``_combine_equation``, ``_masked_softmax`` and ``_dropout_layer`` are
    there for it (``layers/_attention_override.py``).

    Input shape: query ``(batch, T_q, d_q)``, value ``(batch, T_k, d_v_in)``, key ``(batch, T_k, d_k_in)``.
    Output shape: ``(batch, T_q, d_out)``; with the scores also ``(batch, H, T_q, T_k)``.

    Raises:
        ValueError: a hyperparameter out of range, an unknown initializer,
            regularizer or constraint, a missing value, inputs not
            of rank 3, or an attention_mask of the wrong shape.

    Example:
        >>> import torch
        >>> x = torch.ones(2, 5, 16)
        >>> MultiHeadAttention(num_heads=4, key_dim=8)(x, x).shape
        torch.Size([2, 5, 16])
    """

    equation = "head_h = softmax(Q_h K_hᵀ/√d_k)·V_h,  y = Σ_h head_h W_h^O + b^O"
    supports_masking = True

    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None, dropout: float = 0.0,
                 use_bias: bool = True, output_shape: int | tuple[int] | None = None,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        name = "MultiHeadAttention"
        self.num_heads = check_positive_int(name, "num_heads", num_heads)
        self.key_dim = check_positive_int(name, "key_dim", key_dim)
        self.value_dim = None if value_dim is None else check_positive_int(name, "value_dim", value_dim)
        self.dropout = check_dropout(name, dropout)
        self.use_bias = bool(use_bias)
        if isinstance(output_shape, (tuple, list)) and len(output_shape) == 1:
            output_shape = output_shape[0]  # Keras 3 also takes the feature size as a 1-tuple
        elif isinstance(output_shape, (tuple, list)):
            raise ValueError(
                f"{name}: expected output_shape to be one feature size (an integer or a 1-tuple), got "
                f"{tuple(output_shape)!r}: brainnet's output is (batch, T_q, d_out). Fix: "
                f"MultiHeadAttention(output_shape={math.prod(output_shape)}, ...) followed by "
                f"Reshape((-1, {', '.join(str(d) for d in output_shape)})) if you need more axes."
            )
        self._output_shape = None if output_shape is None else check_positive_int(name, "output_shape", output_shape)
        take_weight_arguments(self, locals(), ("kernel", "bias"))
        self._weight_kinds = ()  # the arguments are for the four projections; this layer has no weights of its own
        # Not self.activity_regularizer: that would also penalise the layer's own
        # outputs (the scores too); Keras 3 puts it on the four projections only.
        self.projection_activity_regularizer = regularizers.get(activity_regularizer, argument="activity_regularizer")
        d_v = self.value_dim or self.key_dim
        self.query_dense = self._projection((self.num_heads, self.key_dim), "query")
        self.key_dense = self._projection((self.num_heads, self.key_dim), "key")
        self.value_dense = self._projection((self.num_heads, d_v), "value")

    def _projection(self, units: tuple[int, ...], name: str, in_axes: int = 1) -> _HeadsDense:
        weight_args = {f"{w}_{kind}": getattr(self, f"{w}_{kind}") for w in ("kernel", "bias")
                       for kind in ("initializer", "regularizer", "constraint")}
        return _HeadsDense(in_axes, units, self.use_bias, weight_args, self.projection_activity_regularizer, name=name)

    def forward(self, query: Any, value: Any = None, key: Any = None, *, training: bool | None = None,
                **kwargs: Any) -> Any:
        """``layer(query, value, key=None, ...)`` as in Keras. A graph replays
        it as ``layer([query, value, key], training)``, which is accepted too."""
        if isinstance(query, (list, tuple)):
            inputs = list(query)
            training = value if training is None else training
        elif value is None:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expected a query and a value, got only a query. "
                "Fix: layer(query, value); for self-attention layer(x, x)."
            )
        else:
            inputs = [query, value] if key is None else [query, value, key]
        return super().forward(inputs, training, **kwargs)

    def check_input_shape(self, shape: Any) -> None:
        check_query_value_key(self, shape, "layer(query, value)")
        if not self.built:
            return
        roles = [("query", shape[0], self.query_dense), ("value", shape[1], self.value_dense),
                 ("key", shape[2] if len(shape) > 2 else shape[1], self.key_dense)]
        for role, got, projection in roles:  # before the projections, whose own error names them, not this layer
            want = projection.built_input_shape[-1]
            if None not in (want, got[-1]) and want != got[-1]:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) expected {role} with {want} features (its size "
                    f"when the layer was built), got {role} of shape {shape_str(got)}. Fix: give {role} {want} "
                    "features, as at the first call, or create a new layer for these inputs."
                )

    def build(self, input_shape: list[Shape]) -> None:
        query, value = input_shape[0], input_shape[1]
        key = input_shape[2] if len(input_shape) > 2 else value
        self.query_dense.build_from_shape(query)
        self.key_dense.build_from_shape(key)
        self.value_dense.build_from_shape(value)
        d_out = self._output_shape or query[-1]
        self.output_dense = self._projection((d_out,), "attention_output", in_axes=2)
        self.output_dense.build_from_shape((*query[:-1], self.num_heads, self.value_dim or self.key_dim))  # the heads

    def call(self, inputs: list[torch.Tensor], mask: Any = None, training: bool | None = None,
             attention_mask: torch.Tensor | None = None, return_attention_scores: bool = False,
             use_causal_mask: bool = False) -> Any:
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        t_q, t_k = query.shape[1], key.shape[1]
        attention_mask = self._attention_mask(attention_mask, mask, inputs)
        if type(self)._compute_attention is not MultiHeadAttention._compute_attention:  # Keras 3's hook, overridden
            keep = _keep(attention_mask, use_causal_mask, t_q, t_k, query.device)
            return _attention_override.call_overridden(self, inputs, keep, training, return_attention_scores)
        q = self.query_dense(query).transpose(1, 2)  # (B, H, T_q, d_k)
        k = self.key_dense(key).transpose(1, 2)  # (B, H, T_k, d_k)
        v = self.value_dense(value).transpose(1, 2)  # (B, H, T_k, d_v)
        k, v = self._heads_of_keys(k), self._heads_of_keys(v)  # GroupQueryAttention shares them among heads
        p, scale = (self.dropout if training else 0.0), 1.0 / math.sqrt(self.key_dim)
        # Fused attention, unless the weights are asked for or must be dropped out
        # with brainnet's faster CPU mask (fused attention draws it with bernoulli_).
        fused = not return_attention_scores and not (p and fast_mask(q.device, q.dtype, p))
        if fused and attention_mask is None:  # no mask or only the causal one: fastest
            heads = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=use_causal_mask, scale=scale)
            return self.output_dense(heads.transpose(1, 2))  # (B, T_q, d_out)
        keep = _keep(attention_mask, use_causal_mask, t_q, t_k, q.device)
        keep = keep[:, None] if keep is not None and keep.dim() == 3 else keep  # (B, 1, T_q, T_k): all heads
        if fused:
            bias = mask_bias(keep, q.dtype)  # additive: a fully masked row stays finite, as on the explicit path
            heads = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=p, scale=scale)
            return self.output_dense(heads.transpose(1, 2))
        weights = masked_softmax((q @ k.transpose(-1, -2)) * scale, keep)  # (B, H, T_q, T_k)
        heads = dropout(weights, p) @ v  # (B, H, T_q, d_v)
        out = self.output_dense(heads.transpose(1, 2))
        return (out, weights) if return_attention_scores else out

    # Keras 3's names for a subclass that overrides _compute_attention (the
    # heads in Keras's layout; brainnet's own path does not go through them).
    _dot_product_equation = _attention_override.DOT_PRODUCT_EQUATION
    _combine_equation = _attention_override.COMBINE_EQUATION

    @property
    def _key_dim(self) -> int:
        return self.key_dim

    @property
    def _value_dim(self) -> int:
        return self.value_dim or self.key_dim

    @property
    def _num_heads(self) -> int:
        return self.num_heads

    @property
    def _dropout(self) -> float:
        return self.dropout

    @property
    def _inverse_sqrt_key_dim(self) -> float:
        return 1.0 / math.sqrt(self.key_dim)

    @property
    def _dropout_layer(self) -> _attention_override.AttentionDropout:
        return _attention_override.AttentionDropout(self.dropout)

    def _masked_softmax(self, attention_scores: torch.Tensor,
                        attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """softmax over the keys of ``(B, H, T, S)`` scores, a ``(B, T, S)`` mask's False keys at −10⁹ first."""
        return _attention_override.keras_masked_softmax(attention_scores, attention_mask)

    def _compute_attention(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                           attention_mask: torch.Tensor | None = None, training: bool | None = None,
                           return_attention_scores: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Keras 3's hook: heads ``(B, T, H, d_v)`` and weights ``(B, H, T, S)``
        from the projected query ``(B, T, H, d_k)``, key and value ``(B, S, H, d)``.
        Override it for attention of one's own (``super()._compute_attention``
        is the equation above, computed explicitly)."""
        return _attention_override.compute_attention(self, query, key, value, attention_mask, training,
                                                     return_attention_scores)

    def _heads_of_keys(self, projected: torch.Tensor) -> torch.Tensor:
        """The key or value heads (B, H, T_k, d) each query head reads: here its own."""
        return projected

    def _attention_mask(self, attention_mask: torch.Tensor | None, mask: Any,
                        inputs: list[torch.Tensor]) -> torch.Tensor | None:
        """Check ``attention_mask`` and combine it with the query/key masks a graph passes."""
        batch, t_q, t_k = inputs[0].shape[0], inputs[0].shape[1], inputs[-1].shape[1]
        if attention_mask is not None:
            shape = tuple(attention_mask.shape)
            ok = len(shape) == 3 and all(g in (1, w) for g, w in zip(shape, (batch, t_q, t_k)))
            if not ok:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) expected attention_mask of shape "
                    f"(batch, T_q, T_k) = {shape_str((batch, t_q, t_k))} (True = attend), got "
                    f"{shape_str(shape)}. Fix: for a (batch, T_k) padding mask m use m[:, None, :]."
                )
            attention_mask = attention_mask.to(torch.bool)
        q_mask, kv_mask = _split_mask(self, mask, inputs)  # graph masks, e.g. from Embedding(mask_zero=True)
        extra = ([] if q_mask is None else [q_mask[:, :, None]]) + ([] if kv_mask is None else [kv_mask[:, None, :]])
        for m in extra:  # (B, T_q, 1), (B, 1, T_k)
            attention_mask = m if attention_mask is None else attention_mask & m
        return attention_mask

    def compute_output_shape(self, input_shape: list[Shape]) -> Shape:
        query = input_shape[0]
        return tuple(query[:-1]) + (self._output_shape or query[-1],)

    def compute_mask(self, inputs: Any, mask: Any) -> torch.Tensor | None:
        return mask[0] if isinstance(mask, (list, tuple)) else None

    def get_config(self) -> dict[str, Any]:
        activity = self.projection_activity_regularizer
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self._output_shape, **weight_arguments_config(self, ("kernel", "bias")),
                **({} if activity is None else {"activity_regularizer": regularizers.serialize(activity)})}
