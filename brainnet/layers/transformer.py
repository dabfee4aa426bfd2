"""Transformer layers: TransformerEncoder and TransformerDecoder (keras_hub's
names, arguments and defaults), with the position layers PositionalEncoding
and PositionEmbedding (in ``positional.py``, re-exported here).

Self-attention has no notion of order, so a position signal is added to the
inputs first: fixed sinusoids (``PositionalEncoding``, "Attention Is All You
Need") or a learned table (``PositionEmbedding``). Each encoder/decoder block
is attention and a feed-forward network, each wrapped as
``LN(x + sublayer(x))`` (post-norm, the default) or ``x + sublayer(LN(x))``
(``normalize_first=True``, pre-norm).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from .. import activations, initializers
from ._dropout import dropout
from ._shapes import check_rank
from .attention import MultiHeadAttention, check_dropout
from .base import Layer, Shape, shape_str
from .core import Dense, check_positive_int
from .normalization import LayerNormalization
from .positional import PositionalEncoding, PositionEmbedding, sinusoidal_table

__all__ = ["PositionalEncoding", "PositionEmbedding", "TransformerEncoder", "TransformerDecoder", "sinusoidal_table",
           "merge_masks"]


# ------------------------------------------------------ the Transformer block
def merge_masks(padding_mask: torch.Tensor | None, attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """keras_hub's rule: a (B, T_k) padding mask masks keys, (B, 1, T_k), and
    is combined with a (B, T_q, T_k) attention mask; True = attend."""
    mask = None if padding_mask is None else padding_mask.to(torch.bool)[:, None, :]
    if attention_mask is not None:
        mask = attention_mask.to(torch.bool) if mask is None else mask & attention_mask.to(torch.bool)
    return mask


def _residual(x: torch.Tensor, sublayer: Callable[[torch.Tensor], torch.Tensor], norm: Layer,
              block: Layer, training: bool | None) -> torch.Tensor:
    """LN(x + drop(f(x))) (post-norm) or x + drop(f(LN(x))) (normalize_first)."""
    y = sublayer(norm(x) if block.normalize_first else x)
    if training and block.dropout > 0:
        y = dropout(y, block.dropout)
    return x + y if block.normalize_first else norm(x + y)


def _init_block(block: Layer, intermediate_dim: int, num_heads: int, dropout: float, activation: Any,
                layer_norm_epsilon: float, kernel_initializer: Any, bias_initializer: Any, normalize_first: bool) -> None:
    """Validate and store the hyperparameters both blocks share."""
    cls = type(block).__name__
    block.kernel_initializer = initializers.layer_initializer(cls, "kernel_initializer", kernel_initializer)
    block.bias_initializer = initializers.layer_initializer(cls, "bias_initializer", bias_initializer)
    block.intermediate_dim = check_positive_int(cls, "intermediate_dim", intermediate_dim)
    block.num_heads = check_positive_int(cls, "num_heads", num_heads)
    block.dropout = check_dropout(cls, dropout)
    block.intermediate_activation = activations.get(activation)  # not `activation`: no final activation
    eps = layer_norm_epsilon
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps <= 0:
        raise ValueError(f"{cls}: expected layer_norm_epsilon > 0, got {eps!r}. Fix: layer_norm_epsilon=1e-5.")
    block.layer_norm_epsilon = float(layer_norm_epsilon)
    block.normalize_first = bool(normalize_first)


def _block_config(block: Layer) -> dict[str, Any]:
    return {"intermediate_dim": block.intermediate_dim, "num_heads": block.num_heads, "dropout": block.dropout,
            "activation": activations.serialize(block.intermediate_activation),
            "layer_norm_epsilon": block.layer_norm_epsilon, **initializers.config_of(block, "kernel", "bias"),
            "normalize_first": block.normalize_first}


def _attention(block: Layer, query: Shape, value: Shape, name: str) -> MultiHeadAttention:
    """A built MultiHeadAttention with key_dim = d // num_heads (keras_hub)."""
    d = query[-1]
    if d < block.num_heads:
        raise ValueError(
            f"Layer '{block.name}' ({type(block).__name__}) splits the {d} input features into "
            f"num_heads={block.num_heads} heads of {d} // {block.num_heads} = 0 features. "
            f"Fix: num_heads ≤ {d} (ideally a divisor of it), or project the input wider first (Dense(64))."
        )
    layer = MultiHeadAttention(block.num_heads, d // block.num_heads, dropout=block.dropout, name=name,
                               **_initializers(block))
    layer.build_from_shape([query, value])
    return layer


def _initializers(block: Layer) -> dict[str, Any]:  # for the attention and feed-forward layers, as keras_hub
    return {"kernel_initializer": block.kernel_initializer, "bias_initializer": block.bias_initializer}


def _build_feedforward(block: Layer, shape: Shape) -> None:
    """The feed-forward network W₂·f(W₁x + b₁) + b₂ and the norms of ``block``."""
    block.feedforward_intermediate_dense = Dense(block.intermediate_dim, activation=block.intermediate_activation,
                                                 name="feedforward_intermediate_dense", **_initializers(block))
    block.feedforward_intermediate_dense.build_from_shape(shape)
    block.feedforward_output_dense = Dense(shape[-1], name="feedforward_output_dense", **_initializers(block))
    block.feedforward_output_dense.build_from_shape(tuple(shape[:-1]) + (block.intermediate_dim,))
    block.feedforward_layer_norm = _norm(block, shape, "feedforward_layer_norm")


def _feedforward(block: Layer, x: torch.Tensor) -> torch.Tensor:
    return block.feedforward_output_dense(block.feedforward_intermediate_dense(x))


def _norm(block: Layer, shape: Shape, name: str) -> LayerNormalization:
    norm = LayerNormalization(epsilon=block.layer_norm_epsilon, name=name)
    norm.build_from_shape(shape)
    return norm


class TransformerEncoder(Layer):
    """One Transformer encoder block, as keras_hub's ``TransformerEncoder``.

    Equations (post-norm, the default; d = the input's features)::

        h = LN(x + MHA(x, x))                     self-attention, key_dim = d // num_heads
        y = LN(h + W₂·f(W₁h + b₁) + b₂)           feed-forward, W₁: d → intermediate_dim

    With ``normalize_first=True`` (pre-norm): ``h = x + MHA(LN(x))``,
    ``y = h + FFN(LN(h))``. Dropout (training only) follows each sublayer.

    Args:
        intermediate_dim: the feed-forward network's hidden size.
        num_heads: attention heads.
        dropout: dropout rate, in attention and after each sublayer (default 0).
        activation: the feed-forward activation ``f`` (default ``"relu"``).
        layer_norm_epsilon: ``ε`` of the layer norms (default 1e-5).
        kernel_initializer, bias_initializer: how the kernels and biases of the attention
            and feed-forward layers start (default ``"glorot_uniform"``, ``"zeros"``).
        normalize_first: pre-norm instead of post-norm (default False).

    Call arguments: ``padding_mask`` ``(batch, T)`` (True = real step; a mask
    from ``Embedding(mask_zero=True)`` is used when not given) and
    ``attention_mask`` ``(batch, T, T)``, True = attend.

    Input shape: ``(batch, time, d)``. Output shape: same.

    Raises:
        ValueError: a hyperparameter out of range, num_heads > d, or an input not of rank 3.

    Example:
        >>> import torch
        >>> TransformerEncoder(intermediate_dim=32, num_heads=2)(torch.randn(2, 5, 16)).shape
        torch.Size([2, 5, 16])
    """

    equation = "h = LN(x + MHA(x, x)),  y = LN(h + W₂·f(W₁h + b₁) + b₂)"
    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = ("give sequences as (N, T, F) (one feature per step: x[..., None] gives (N, T, 1); after "
                "an LSTM, GRU or SimpleRNN, give that layer return_sequences=True)")
    fixed_axes = (-1,)
    supports_masking = True

    def __init__(self, intermediate_dim: int, num_heads: int, dropout: float = 0.0, activation: str | Callable = "relu",
                 layer_norm_epsilon: float = 1e-5, kernel_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", normalize_first: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _init_block(self, intermediate_dim, num_heads, dropout, activation, layer_norm_epsilon, kernel_initializer,
                    bias_initializer, normalize_first)
        if self.normalize_first:
            self.equation = "h = x + MHA(LN(x), LN(x)),  y = h + W₂·f(W₁·LN(h) + b₁) + b₂"

    def build(self, input_shape: Shape) -> None:
        self.self_attention_layer = _attention(self, input_shape, input_shape, "self_attention")
        self.self_attention_layer_norm = _norm(self, input_shape, "self_attention_layer_norm")
        _build_feedforward(self, input_shape)

    def call(self, inputs: torch.Tensor, padding_mask: torch.Tensor | None = None,
             attention_mask: torch.Tensor | None = None, training: bool | None = None,
             mask: torch.Tensor | None = None) -> torch.Tensor:
        keep = merge_masks(mask if padding_mask is None else padding_mask, attention_mask)  # (B, 1|T, T)

        def attend(x: torch.Tensor) -> torch.Tensor:
            return self.self_attention_layer(x, x, attention_mask=keep, training=training)

        x = _residual(inputs, attend, self.self_attention_layer_norm, self, training)
        return _residual(x, lambda h: _feedforward(self, h), self.feedforward_layer_norm, self, training)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **_block_config(self)}


class TransformerDecoder(Layer):
    """One Transformer decoder block, as keras_hub's ``TransformerDecoder``.

    Equations (post-norm, the default)::

        h = LN(x + MHA(x, x, causal))             masked self-attention: step t sees steps ≤ t
        c = LN(h + MHA(h, e))                     cross-attention over the encoder output e
        y = LN(c + W₂·f(W₁c + b₁) + b₂)           feed-forward

    Without ``encoder_sequence`` the cross-attention is left out (a
    decoder-only stack, e.g. a character language model in a Sequential).
    ``normalize_first=True`` gives the pre-norm form, as TransformerEncoder.

    Args: as ``TransformerEncoder``.

    Call arguments: ``layer(decoder_sequence, encoder_sequence=None,
    decoder_padding_mask=None, decoder_attention_mask=None,
    encoder_padding_mask=None, encoder_attention_mask=None,
    use_causal_mask=True, training=None)``; masks are booleans, True = attend.

    Input shape: decoder ``(batch, T, d)``, encoder ``(batch, S, d_e)``.
    Output shape: ``(batch, T, d)``.

    Raises:
        ValueError: as ``TransformerEncoder``; also a call with an encoder
            sequence on a block built without one, or the reverse.

    Example:
        >>> import torch
        >>> TransformerDecoder(intermediate_dim=32, num_heads=2)(torch.randn(2, 5, 16)).shape
        torch.Size([2, 5, 16])
    """

    equation = "h = LN(x + MHA_causal(x, x)),  c = LN(h + MHA(h, e)),  y = LN(c + FFN(c))"
    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = ("give sequences as (N, T, F) (one feature per step: x[..., None] gives (N, T, 1); after "
                "an LSTM, GRU or SimpleRNN, give that layer return_sequences=True)")
    supports_masking = True

    def __init__(self, intermediate_dim: int, num_heads: int, dropout: float = 0.0, activation: str | Callable = "relu",
                 layer_norm_epsilon: float = 1e-5, kernel_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", normalize_first: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _init_block(self, intermediate_dim, num_heads, dropout, activation, layer_norm_epsilon, kernel_initializer,
                    bias_initializer, normalize_first)
        self.cross_attention_layer: MultiHeadAttention | None = None

    def forward(self, decoder_sequence: Any, encoder_sequence: Any = None, *, training: bool | None = None,
                **kwargs: Any) -> Any:
        """``layer(decoder_sequence, encoder_sequence=None, ...)`` as in keras_hub.
        Sequential and graphs call ``layer(x, training)`` / ``layer([x, e], training)``:
        a bool (or None) in the second place is the training flag."""
        if isinstance(decoder_sequence, (list, tuple)):
            inputs = list(decoder_sequence)
            training = encoder_sequence if training is None else training
        elif encoder_sequence is None or isinstance(encoder_sequence, bool):
            inputs = decoder_sequence
            training = encoder_sequence if training is None else training
        else:
            inputs = [decoder_sequence, encoder_sequence]
        return super().forward(inputs, training, **kwargs)

    def check_input_shape(self, shape: Any) -> None:
        if isinstance(shape, list) and len(shape) != 2:
            raise ValueError(
                f"Layer '{self.name}' (TransformerDecoder) expected a decoder sequence and at most one "
                f"encoder sequence, got {len(shape)} inputs. Fix: layer(decoder_sequence, encoder_sequence)."
            )
        decoder, encoder = shape if isinstance(shape, list) else (shape, None)
        for s in (decoder, encoder) if encoder is not None else (decoder,):
            check_rank(self, s)  # the rank, and no empty axis but the batch
        if not self.built:
            return
        built_with, called_with = self.cross_attention_layer is not None, encoder is not None
        if built_with != called_with:
            raise ValueError(
                f"Layer '{self.name}' (TransformerDecoder) was built {'with' if built_with else 'without'} "
                f"cross-attention, got a call {'with' if called_with else 'without'} an encoder_sequence. "
                "Fix: call a block the same way every time; use layer(x, encoder_sequence) for "
                "encoder-decoder models and layer(x) for decoder-only ones (separate layers)."
            )
        built = self.built_input_shape[0] if built_with else self.built_input_shape
        if decoder[-1] != built[-1]:
            raise ValueError(
                f"Layer '{self.name}' (TransformerDecoder) was built for decoder sequences of shape "
                f"{shape_str(built)}, got {shape_str(decoder)}. Fix: give {built[-1]} features, or create a new layer."
            )

    def build(self, input_shape: Shape | list[Shape]) -> None:
        decoder, encoder = input_shape if isinstance(input_shape, list) else (input_shape, None)
        self.self_attention_layer = _attention(self, decoder, decoder, "self_attention")
        self.self_attention_layer_norm = _norm(self, decoder, "self_attention_layer_norm")
        if self.normalize_first:
            self.equation = ("h = x + MHA_causal(LN(x), LN(x)),  y = h + FFN(LN(h))" if encoder is None else
                             "h = x + MHA_causal(LN(x), LN(x)),  c = h + MHA(LN(h), e),  y = c + FFN(LN(c))")
        elif encoder is None:
            self.equation = "h = LN(x + MHA_causal(x, x)),  y = LN(h + FFN(h))"
        if encoder is not None:  # decoder-only blocks have no cross-attention
            self.cross_attention_layer = _attention(self, decoder, encoder, "cross_attention")
            self.cross_attention_layer_norm = _norm(self, decoder, "cross_attention_layer_norm")
        _build_feedforward(self, decoder)

    def call(self, inputs: Any, decoder_padding_mask: torch.Tensor | None = None,
             decoder_attention_mask: torch.Tensor | None = None, encoder_padding_mask: torch.Tensor | None = None,
             encoder_attention_mask: torch.Tensor | None = None, use_causal_mask: bool = True,
             training: bool | None = None, mask: Any = None) -> torch.Tensor:
        decoder, encoder = inputs if isinstance(inputs, list) else (inputs, None)
        dec_mask, enc_mask = mask if isinstance(mask, (list, tuple)) else (mask, None)
        self_keep = merge_masks(dec_mask if decoder_padding_mask is None else decoder_padding_mask,
                                decoder_attention_mask)

        def attend_self(x: torch.Tensor) -> torch.Tensor:
            return self.self_attention_layer(x, x, attention_mask=self_keep, use_causal_mask=use_causal_mask,
                                             training=training)

        x = _residual(decoder, attend_self, self.self_attention_layer_norm, self, training)
        if encoder is not None:
            cross_keep = merge_masks(enc_mask if encoder_padding_mask is None else encoder_padding_mask,
                                     encoder_attention_mask)

            def attend_encoder(h: torch.Tensor) -> torch.Tensor:
                return self.cross_attention_layer(h, encoder, attention_mask=cross_keep, training=training)

            x = _residual(x, attend_encoder, self.cross_attention_layer_norm, self, training)
        return _residual(x, lambda h: _feedforward(self, h), self.feedforward_layer_norm, self, training)

    def compute_output_shape(self, input_shape: Shape | list[Shape]) -> Shape:
        return tuple(input_shape[0] if isinstance(input_shape, list) else input_shape)

    def compute_mask(self, inputs: Any, mask: Any) -> torch.Tensor | None:
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **_block_config(self)}
