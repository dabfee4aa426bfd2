"""Attention layers: Attention (dot-product), AdditiveAttention (Bahdanau) and
MultiHeadAttention (the Transformer's).

All three weigh the values by how well each key matches each query::

    A = softmax(scores(Q, K))   over the keys,   y = A·V

and differ only in ``scores``. Masks are booleans, True = "a real step, attend
to it". A masked key gets −1e9 added to its score before the softmax (as in
Keras), so its weight is 0 and a row whose keys are all masked stays finite.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from .. import regularizers
from ._dropout import dropout, fast_mask
from .base import Layer, Shape, glorot_uniform, shape_str
from .core import check_positive_int


# ----------------------------------------------------------- shared pieces
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


# ---------------------------------------------------- MultiHeadAttention
class _HeadsDense(Layer):
    """y = x·W + b contracting the last ``in_axes`` axes of x into the shape
    ``units``: MultiHeadAttention's per-head projections (Keras's EinsumDense),
    with MultiHeadAttention's regularizers."""

    min_rank = 2

    def __init__(self, in_axes: int, units: tuple[int, ...], use_bias: bool = True, kernel_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.in_axes, self.units, self.use_bias = in_axes, tuple(units), use_bias
        self.fixed_axes = tuple(range(-in_axes, 0))
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.activity_regularizer = activity_regularizer

    def weight_regularizers(self) -> dict[str, Any]:
        return {"kernel": self.kernel_regularizer, "bias": self.bias_regularizer}

    def build(self, input_shape: Shape) -> None:
        in_shape = tuple(input_shape[-self.in_axes:])
        fan_in, fan_out = math.prod(in_shape), math.prod(self.units)
        self.kernel = self.add_weight("kernel", glorot_uniform(in_shape + self.units, fan_in, fan_out))
        self.bias = self.add_weight("bias", torch.zeros(self.units)) if self.use_bias else None

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
    with a bias. Without ``return_attention_scores`` the heads run through
    ``torch.nn.functional.scaled_dot_product_attention`` (fused kernels).

    Args:
        num_heads: H. key_dim: d_k, the size of each query/key head.
        value_dim: d_v, the size of each value head (default d_k).
        dropout: fraction of attention weights dropped in training (default 0).
        use_bias: add the biases (default True).
        output_shape: d_out (default: the query's feature size); an integer or,
            as Keras 3 also takes it, a 1-tuple ``(d_out,)``.
        kernel_regularizer: penalty on each of the four kernels, e.g. ``"l2"``:
            adds ``R(W^Q) + R(W^K) + R(W^V) + R(W^O)`` to the loss (default None).
        bias_regularizer: adds ``R(b^Q) + R(b^K) + R(b^V) + R(b^O)``.
        activity_regularizer: penalty on the output of each of the four
            projections, as Keras 3 (which gives it to its dense sublayers):
            adds ``R(Q) + R(K) + R(V) + R(y)``, with ``Q, K, V`` the projected
            ``(batch, T, H, d)`` tensors and ``y`` the layer's output. The
            penalties are in ``model.losses`` (see ``brainnet.regularizers``).

    Call arguments: ``layer(query, value, key=None, attention_mask=None,
    return_attention_scores=False, training=None, use_causal_mask=False)``;
    ``attention_mask`` is ``(batch, T_q, T_k)`` booleans, True = attend. Masks
    from ``Embedding(mask_zero=True)`` in a functional graph also apply.

    Input shape: query ``(batch, T_q, d_q)``, value ``(batch, T_k, d_v_in)``, key ``(batch, T_k, d_k_in)``.
    Output shape: ``(batch, T_q, d_out)``; with the scores also ``(batch, H, T_q, T_k)``.

    Raises:
        ValueError: a hyperparameter out of range, a missing value, inputs not
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
                 use_bias: bool = True, output_shape: int | tuple[int] | None = None, kernel_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None, **kwargs: Any) -> None:
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
        self.kernel_regularizer = regularizers.get(kernel_regularizer, argument="kernel_regularizer")
        self.bias_regularizer = regularizers.get(bias_regularizer, argument="bias_regularizer")
        # Not self.activity_regularizer: that would also penalise the layer's own
        # outputs (the scores too); Keras 3 puts it on the four projections only.
        self.projection_activity_regularizer = regularizers.get(activity_regularizer, argument="activity_regularizer")
        d_v = self.value_dim or self.key_dim
        self.query_dense = self._projection((self.num_heads, self.key_dim), "query")
        self.key_dense = self._projection((self.num_heads, self.key_dim), "key")
        self.value_dense = self._projection((self.num_heads, d_v), "value")

    def _projection(self, units: tuple[int, ...], name: str, in_axes: int = 1) -> _HeadsDense:
        return _HeadsDense(in_axes, units, self.use_bias, self.kernel_regularizer, self.bias_regularizer,
                           self.projection_activity_regularizer, name=name)

    def forward(self, query: Any, value: Any = None, key: Any = None, *, training: bool | None = None,
                **kwargs: Any) -> Any:
        """``layer(query, value, key=None, ...)`` as in Keras. A graph replays
        it as ``layer([query, value, key], training)``, which is accepted too."""
        if isinstance(query, (list, tuple)):
            inputs = list(query)
            training = value if training is None else training
        elif value is None:
            raise ValueError(
                f"Layer '{self.name}' (MultiHeadAttention) expected a query and a value, got only a query. "
                "Fix: layer(query, value); for self-attention layer(x, x)."
            )
        else:
            inputs = [query, value] if key is None else [query, value, key]
        return super().forward(inputs, training, **kwargs)

    def check_input_shape(self, shape: Any) -> None:
        check_query_value_key(self, shape, "layer(query, value)")

    def build(self, input_shape: list[Shape]) -> None:
        query, value = input_shape[0], input_shape[1]
        key = input_shape[2] if len(input_shape) > 2 else value
        self.query_dense.build_from_shape(query)
        self.key_dense.build_from_shape(key)
        self.value_dense.build_from_shape(value)
        d_out = self._output_shape or query[-1]
        self.output_dense = self._projection((d_out,), "attention_output", in_axes=2)
        self.output_dense.build_from_shape(self.value_dense.compute_output_shape(query))

    def call(self, inputs: list[torch.Tensor], mask: Any = None, training: bool | None = None,
             attention_mask: torch.Tensor | None = None, return_attention_scores: bool = False,
             use_causal_mask: bool = False) -> Any:
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        t_q, t_k = query.shape[1], key.shape[1]
        attention_mask = self._attention_mask(attention_mask, mask, inputs)
        q = self.query_dense(query).transpose(1, 2)  # (B, H, T_q, d_k)
        k = self.key_dense(key).transpose(1, 2)  # (B, H, T_k, d_k)
        v = self.value_dense(value).transpose(1, 2)  # (B, H, T_k, d_v)
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

    def _attention_mask(self, attention_mask: torch.Tensor | None, mask: Any,
                        inputs: list[torch.Tensor]) -> torch.Tensor | None:
        """Check ``attention_mask`` and combine it with the query/key masks a graph passes."""
        batch, t_q, t_k = inputs[0].shape[0], inputs[0].shape[1], inputs[-1].shape[1]
        if attention_mask is not None:
            shape = tuple(attention_mask.shape)
            ok = len(shape) == 3 and all(g in (1, w) for g, w in zip(shape, (batch, t_q, t_k)))
            if not ok:
                raise ValueError(
                    f"Layer '{self.name}' (MultiHeadAttention) expected attention_mask of shape "
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
                "output_shape": self._output_shape, **regularizers.config_of(self, "kernel", "bias"),
                **({} if activity is None else {"activity_regularizer": regularizers.serialize(activity)})}
