"""Transformer layers: PositionalEncoding against its formula, PositionEmbedding
against its table, TransformerEncoder/TransformerDecoder against
torch.nn.TransformerEncoderLayer/TransformerDecoderLayer with copied weights
(batch_first, relu, dropout 0, post-norm and pre-norm), the decoder's
causality, and small models that train through Sequential compile/fit.

Tolerance: atol=1e-10 in float64.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from brainnet import initializers
from brainnet.layers import (
    Dense,
    Embedding,
    Flatten,
    Input,
    PositionalEncoding,
    PositionEmbedding,
    TransformerDecoder,
    TransformerEncoder,
)
from brainnet.models import Model, Sequential
from brainnet.optimizers import Adam

ATOL = 1e-10


def f64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


# --------------------------------------------------------- PositionalEncoding
@pytest.mark.parametrize("d", [6, 7])
def test_positional_encoding_table_matches_the_formula(d):
    layer = PositionalEncoding(max_length=50)
    x = f64(2, 40, d, seed=1)
    y = layer(x) - x  # the added table, (2, 40, d)
    for pos in (0, 1, 5, 17, 39):
        for i in range(d // 2 + d % 2):
            angle = pos / 10000 ** (2 * i / d)
            assert math.isclose(y[1, pos, 2 * i].item(), math.sin(angle), abs_tol=ATOL)
            if 2 * i + 1 < d:
                assert math.isclose(y[0, pos, 2 * i + 1].item(), math.cos(angle), abs_tol=ATOL)


def test_positional_encoding_has_no_weights_and_checks_length():
    layer = PositionalEncoding(max_length=8, name="pe_len")
    out = layer(torch.zeros(2, 8, 4))
    assert out.dtype == torch.float32 and out.shape == (2, 8, 4)
    assert layer.count_params() == 0 and layer.weights == [] and layer.state_dict() == {}
    assert layer.compute_output_shape((None, 8, 4)) == (None, 8, 4)
    with pytest.raises(ValueError, match=r"Layer 'pe_len' \(PositionalEncoding\) expected sequences of at most "
                       r"max_length=8 steps, got 9 \(input \(2, 9, 4\)\)\. Fix: PositionalEncoding\(max_length=9\)"):
        layer(torch.zeros(2, 9, 4))
    with pytest.raises(ValueError, match=r"expected input of rank 3 \(batch, time, features\), got shape \(2, 8\)"):
        PositionalEncoding()(torch.zeros(2, 8))
    with pytest.raises(ValueError, match=r"PositionalEncoding: expected max_length to be a positive integer, got 0"):
        PositionalEncoding(max_length=0)
    config = json.loads(json.dumps(layer.get_config()))
    assert config["max_length"] == 8 and PositionalEncoding.from_config(config).get_config() == config


# ---------------------------------------------------------- PositionEmbedding
def test_position_embedding_returns_the_table_broadcast():
    layer = PositionEmbedding(sequence_length=10, name="pos_emb")
    x = f64(3, 6, 4, seed=2)
    p = layer(x)
    assert [(n, tuple(w.shape)) for n, w in layer.named_parameters()] == [("embeddings", (10, 4))]
    table = layer.embeddings.detach()
    assert p.shape == x.shape
    for b in range(3):
        torch.testing.assert_close(p[b], table[:6], rtol=0, atol=0)  # returned, not added to x
    torch.testing.assert_close(layer(x[:, :2], start_index=4)[1], table[4:6], rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"Layer 'pos_emb' \(PositionEmbedding\) expected start_index \+ steps ≤ "
                       r"sequence_length=10, got 6 \+ 6"):
        layer(x, start_index=6)
    with pytest.raises(ValueError, match=r"expected sequences of at most sequence_length=10 steps, got 11"):
        layer(f64(1, 11, 4))
    config = json.loads(json.dumps(layer.get_config()))
    assert PositionEmbedding.from_config(config).get_config() == config
    assert layer.compute_output_shape((None, 6, 4)) == (None, 6, 4)


# ----------------------------------------------------------- copying weights
def copy_mha(ours, ref: torch.nn.MultiheadAttention) -> None:
    e_ = ref.embed_dim
    with torch.no_grad():
        for i, dense in enumerate((ours.query_dense, ours.key_dense, ours.value_dense)):
            ref.in_proj_weight[i * e_ : (i + 1) * e_] = dense.kernel.reshape(e_, e_).T
            ref.in_proj_bias[i * e_ : (i + 1) * e_] = dense.bias.reshape(e_)
        ref.out_proj.weight.copy_(ours.output_dense.kernel.reshape(e_, e_).T)
        ref.out_proj.bias.copy_(ours.output_dense.bias)


def copy_block(ours, ref, cross: bool) -> None:
    """Our block's weights into torch's (norm1/2/3 in the order of the sublayers)."""
    copy_mha(ours.self_attention_layer, ref.self_attn)
    norms = [ours.self_attention_layer_norm]
    if cross:
        copy_mha(ours.cross_attention_layer, ref.multihead_attn)
        norms.append(ours.cross_attention_layer_norm)
    norms.append(ours.feedforward_layer_norm)
    with torch.no_grad():
        for dense, linear in ((ours.feedforward_intermediate_dense, ref.linear1),
                              (ours.feedforward_output_dense, ref.linear2)):
            linear.weight.copy_(dense.kernel.T)
            linear.bias.copy_(dense.bias)
        for i, norm in enumerate(norms, start=1):
            getattr(ref, f"norm{i}").weight.copy_(norm.gamma)
            getattr(ref, f"norm{i}").bias.copy_(norm.beta)


def randomize(layer) -> None:
    """Non-trivial biases, γ and β, so that every parameter is exercised."""
    with torch.no_grad():
        for i, p in enumerate(layer.parameters()):
            if p.dim() <= 2 and "kernel" not in str(p.shape):
                p.add_(0.1 * f64(*p.shape, seed=100 + i))


# -------------------------------------------------------- TransformerEncoder
@pytest.mark.parametrize("normalize_first", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_encoder_equals_torch_encoder_layer(normalize_first, padded):
    x = f64(3, 5, 8, seed=3)
    layer = TransformerEncoder(intermediate_dim=16, num_heads=2, normalize_first=normalize_first)
    layer(x)
    randomize(layer)
    ref = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, activation="relu",
                                           layer_norm_eps=1e-5, batch_first=True, norm_first=normalize_first,
                                           dtype=torch.float64)
    copy_block(layer, ref, cross=False)
    real = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] * 4 + [False]])
    got = layer(x, padding_mask=real) if padded else layer(x)
    want = ref(x, src_key_padding_mask=~real) if padded else ref(x)
    torch.testing.assert_close(got, want, rtol=0, atol=ATOL)
    if padded:  # a (B, T) padding mask is the (B, T, T) attention mask that hides padded keys
        torch.testing.assert_close(layer(x, attention_mask=real[:, None, :].expand(3, 5, 5)), got, rtol=0, atol=0)
        torch.testing.assert_close(layer(x, mask=real), got, rtol=0, atol=0)  # the mask Sequential passes


def test_encoder_config_shapes_and_errors():
    layer = TransformerEncoder(32, 4, dropout=0.1, activation="gelu", name="enc_cfg")
    out = layer(torch.randn(2, 6, 16))
    assert out.shape == (2, 6, 16) and layer.compute_output_shape((None, 6, 16)) == (None, 6, 16)
    assert tuple(layer.self_attention_layer.query_dense.kernel.shape) == (16, 4, 4)  # key_dim = 16 // 4
    config = json.loads(json.dumps(layer.get_config()))
    assert config == {"name": "enc_cfg", "trainable": True, "intermediate_dim": 32, "num_heads": 4,
                      "dropout": 0.1, "activation": "gelu", "layer_norm_epsilon": 1e-5,
                      "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros", "normalize_first": False}
    assert TransformerEncoder.from_config(config).get_config() == config
    assert layer.activation is None and layer.activation_name is None  # relu is inside, not a final activation
    with pytest.raises(ValueError, match=r"Layer 'enc_heads' \(TransformerEncoder\) splits the 4 input features into "
                       r"num_heads=8 heads of 4 // 8 = 0 features\. Fix: num_heads ≤ 4"):
        TransformerEncoder(16, 8, name="enc_heads")(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"TransformerEncoder: expected intermediate_dim to be a positive integer"):
        TransformerEncoder(0, 2)
    with pytest.raises(ValueError, match=r"TransformerEncoder: expected layer_norm_epsilon > 0, got -1"):
        TransformerEncoder(8, 2, layer_norm_epsilon=-1)
    with pytest.raises(ValueError, match=r"expected input of rank 3 \(batch, time, features\), got shape \(2, 16\)"):
        TransformerEncoder(8, 2)(torch.randn(2, 16))


@pytest.mark.parametrize("block", ["encoder", "decoder"])
def test_initializers_reach_the_attention_and_feed_forward_layers(block):
    x, e = f64(2, 4, 8, seed=5), f64(2, 3, 8, seed=6)
    inits = dict(kernel_initializer=initializers.Constant(0.05), bias_initializer=initializers.Constant(0.1))
    layer = TransformerEncoder(16, 2, **inits) if block == "encoder" else TransformerDecoder(16, 2, **inits)
    got = layer(x) if block == "encoder" else layer(x, e, use_causal_mask=False)
    for name, p in layer.named_parameters():
        want = 0.05 if name.endswith("kernel") else 0.1 if name.endswith("bias") else None
        want = (1.0 if name.endswith("gamma") else 0.0) if want is None else want  # the norms keep theirs
        torch.testing.assert_close(p.detach(), torch.full_like(p, want), rtol=0, atol=1e-8)  # drawn in float32
    ref = (torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, dtype=torch.float64)
           if block == "encoder" else
           torch.nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True, dtype=torch.float64))
    copy_block(layer, ref, cross=block == "decoder")
    torch.testing.assert_close(got, ref(x) if block == "encoder" else ref(x, e), rtol=0, atol=ATOL)
    config = json.loads(json.dumps(layer.get_config()))
    assert config["kernel_initializer"] == {"class_name": "Constant", "config": {"value": 0.05}}
    assert type(layer).from_config(config).get_config() == config
    seeded = TransformerEncoder(16, 2, kernel_initializer=initializers.GlorotUniform(seed=3))
    seeded(torch.zeros(1, 4, 8))
    np.testing.assert_array_equal(seeded.feedforward_intermediate_dense.kernel.detach().numpy(),
                                  initializers.GlorotUniform(seed=3)((8, 16)).numpy())
    with pytest.raises(ValueError, match=r"TransformerEncoder: expected kernel_initializer among .* got "
                                         r"'he_normall'\. Fix: kernel_initializer='he_normal'\."):
        TransformerEncoder(16, 2, kernel_initializer="he_normall")


def test_encoder_dropout_only_in_training():
    torch.manual_seed(0)
    x = f64(2, 5, 8, seed=4)
    layer = TransformerEncoder(16, 2, dropout=0.5)
    eval_out = layer(x, training=False)
    assert not torch.allclose(layer(x, training=True), eval_out)
    torch.testing.assert_close(layer(x, training=False), eval_out, rtol=0, atol=0)


# -------------------------------------------------------- TransformerDecoder
@pytest.mark.parametrize("normalize_first", [False, True])
def test_decoder_equals_torch_decoder_layer(normalize_first):
    x, memory = f64(2, 5, 8, seed=5), f64(2, 7, 8, seed=6)
    layer = TransformerDecoder(intermediate_dim=16, num_heads=2, normalize_first=normalize_first)
    layer(x, memory)
    randomize(layer)
    ref = torch.nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, activation="relu",
                                           layer_norm_eps=1e-5, batch_first=True, norm_first=normalize_first,
                                           dtype=torch.float64)
    copy_block(layer, ref, cross=True)
    future = ~torch.ones(5, 5, dtype=torch.bool).tril()  # torch: True = may not attend
    enc_real = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    want = ref(x, memory, tgt_mask=future, memory_key_padding_mask=~enc_real)
    torch.testing.assert_close(layer(x, memory, encoder_padding_mask=enc_real), want, rtol=0, atol=ATOL)
    torch.testing.assert_close(layer(x, encoder_sequence=memory, encoder_padding_mask=enc_real, use_causal_mask=False),
                               ref(x, memory, memory_key_padding_mask=~enc_real), rtol=0, atol=ATOL)


@pytest.mark.parametrize("with_encoder", [False, True])
def test_decoder_output_at_t_ignores_later_steps(with_encoder):
    layer = TransformerDecoder(16, 2)
    memory = f64(2, 4, 8, seed=7) if with_encoder else None
    x = f64(2, 6, 8, seed=8)
    base = layer(x, memory)
    for t in range(5):
        changed = x.clone()
        changed[:, t + 1 :] = f64(2, 5 - t, 8, seed=20 + t)
        out = layer(changed, memory)
        torch.testing.assert_close(out[:, : t + 1], base[:, : t + 1], rtol=0, atol=ATOL)
        assert not torch.allclose(out[:, t + 1 :], base[:, t + 1 :])
    changed = x.clone()
    changed[:, -1] += 1.0
    seen = layer(changed, memory, use_causal_mask=False)  # without the mask the future leaks back
    assert not torch.allclose(seen[:, 0], layer(x, memory, use_causal_mask=False)[:, 0])


def test_decoder_call_forms_and_errors():
    x, memory = torch.randn(2, 5, 8), torch.randn(2, 3, 6)
    decoder_only = TransformerDecoder(16, 2, name="dec_only")
    out = decoder_only(x)
    assert out.shape == (2, 5, 8) and decoder_only.cross_attention_layer is None
    torch.testing.assert_close(decoder_only(x, False), out)  # how Sequential passes the training flag
    with pytest.raises(ValueError, match=r"Layer 'dec_only' \(TransformerDecoder\) was built without cross-attention, "
                       r"got a call with an encoder_sequence\. Fix: call a block the same way every time"):
        decoder_only(x, memory)
    cross = TransformerDecoder(16, 2, name="dec_cross")
    assert cross(x, memory).shape == (2, 5, 8)
    torch.testing.assert_close(cross([x, memory]), cross(x, memory))  # the form a graph replays
    assert tuple(cross.cross_attention_layer.key_dense.kernel.shape) == (6, 2, 4)
    with pytest.raises(ValueError, match=r"was built with cross-attention, got a call without an encoder_sequence"):
        cross(x)
    with pytest.raises(ValueError, match=r"was built for decoder sequences of shape \(None, 5, 8\), got \(2, 5, 4\)"):
        cross(torch.randn(2, 5, 4), memory)
    assert cross.compute_output_shape([(None, 5, 8), (None, 3, 6)]) == (None, 5, 8)
    config = json.loads(json.dumps(cross.get_config()))
    assert TransformerDecoder.from_config(config).get_config() == config


def test_encoder_decoder_in_a_functional_graph():
    source, target = Input(shape=(7, 8)), Input(shape=(5, 8))
    encoded = TransformerEncoder(16, 2)(source)
    decoded = TransformerDecoder(16, 2)(target, encoded)
    assert decoded.shape == (None, 5, 8)
    model = Model([source, target], decoded)
    s, t = torch.randn(3, 7, 8), torch.randn(3, 5, 8)
    assert model.predict([s.numpy(), t.numpy()]).shape == (3, 5, 8)


def test_encoder_ignores_padding_from_an_embedding_mask_in_sequential():
    model = Sequential([Embedding(10, 8, mask_zero=True), TransformerEncoder(16, 2)])
    padded = torch.tensor([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2]])
    out = model(padded)
    alone = model(padded[:1, :3])  # the first sequence without its padding
    torch.testing.assert_close(out[:1, :3], alone, rtol=0, atol=1e-6)


def test_transformer_model_weights_save_and_load(tmp_path):
    def make() -> Sequential:
        return Sequential([Dense(8, input_shape=(6, 3)), PositionalEncoding(), PositionEmbedding(6),
                           TransformerEncoder(16, 2), TransformerDecoder(16, 2, normalize_first=True)])

    model, again = make(), make()
    model.save_weights(str(tmp_path / "model.weights.safetensors"))
    again.load_weights(str(tmp_path / "model.weights.safetensors"))
    x = torch.randn(2, 6, 3)
    torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)
    assert not any("encoding" in k for k in model.state_dict())  # the fixed table is not saved


# ------------------------------------------------------------------ training
def test_sequential_transformer_encoder_classifier_learns():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8, 4)).astype("float32")
    y = (x[:, :, 0].sum(axis=1) > 0).astype("int64")  # does the sequence sum positive in feature 0?
    model = Sequential([Dense(16, input_shape=(8, 4)), TransformerEncoder(32, 2), Flatten(),
                        Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=5, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.6 * losses[0]
    assert history.history["accuracy"][-1] > 0.8


def test_sequential_decoder_only_character_model_learns():
    torch.manual_seed(0)
    vocab, steps = 5, 12
    starts = np.random.default_rng(1).integers(0, vocab, size=256)
    tokens = (starts[:, None] + np.arange(steps + 1)) % vocab  # "abcdeabcde..." from a random start
    x = np.eye(vocab, dtype="float32")[tokens[:, :-1]]  # (N, T, V) one-hot
    y = tokens[:, 1:]  # the next character at every step
    model = Sequential([Dense(16, input_shape=(steps, vocab)), PositionalEncoding(), TransformerDecoder(32, 2),
                        Dense(vocab, activation="softmax")])
    model.compile(optimizer=Adam(learning_rate=3e-3), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=32, epochs=6, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.3 * losses[0]
    predicted = model.predict(x[:4]).argmax(-1)
    assert (predicted == y[:4]).mean() > 0.9


# ------------------------------------------------------------------ equations
@pytest.mark.parametrize(
    "layer, equation",
    [
        (TransformerEncoder(16, 2), "h = LN(x + MHA(x, x)),  y = LN(h + W₂·f(W₁h + b₁) + b₂)"),
        (TransformerEncoder(16, 2, normalize_first=True), "h = x + MHA(LN(x), LN(x)),  y = h + W₂·f(W₁·LN(h) + b₁) + b₂"),
        (TransformerDecoder(16, 2), "h = LN(x + MHA_causal(x, x)),  y = LN(h + FFN(h))"),
        (TransformerDecoder(16, 2, normalize_first=True), "h = x + MHA_causal(LN(x), LN(x)),  y = h + FFN(LN(h))"),
    ],
)
def test_the_stated_equation_follows_normalize_first(layer, equation):
    layer(torch.zeros(1, 3, 8))  # a decoder states its equation once built (with or without cross-attention)
    assert layer.equation == equation


def test_a_pre_norm_decoder_with_an_encoder_states_the_cross_attention():
    layer = TransformerDecoder(16, 2, normalize_first=True)
    layer(torch.zeros(1, 3, 8), torch.zeros(1, 4, 8))
    assert layer.equation == "h = x + MHA_causal(LN(x), LN(x)),  c = h + MHA(LN(h), e),  y = c + FFN(LN(c))"
