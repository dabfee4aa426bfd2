"""Attention, AdditiveAttention and MultiHeadAttention against naive NumPy
versions of their docstring equations (loops over batch, query step i and key
step j), in float64; MultiHeadAttention also against torch.nn.MultiheadAttention
with copied weights.

Masked keys get −1e9 added to their score before the softmax, so their weight
underflows to exactly 0; every compared row keeps at least one key.

Tolerance: atol=1e-10 (float64; the loops sum in another order).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from brainnet.layers import AdditiveAttention, Attention, Embedding, Input, MultiHeadAttention
from brainnet.layers._dropout import keep_mask
from brainnet.models import Model

ATOL = 1e-10


def f64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


def np_softmax(row: np.ndarray) -> np.ndarray:
    e = np.exp(row - row.max())
    return e / e.sum()


def np_attention(q, v, k, score, q_mask=None, v_mask=None, causal=False):
    """y_i = Σ_j softmax_j(score(q_i, k_j) − 1e9·[key j masked or j > i]) v_j, by loops;
    outputs at masked query steps are 0. Returns (y, A)."""
    b_, tq, tk = q.shape[0], q.shape[1], k.shape[1]
    out, weights = np.zeros((b_, tq, v.shape[-1])), np.zeros((b_, tq, tk))
    for b in range(b_):
        for i in range(tq):
            s = np.array([score(q[b, i], k[b, j]) for j in range(tk)])
            for j in range(tk):
                if (v_mask is not None and not v_mask[b, j]) or (causal and j > i):
                    s[j] += -1e9
            weights[b, i] = np_softmax(s)
            for j in range(tk):
                out[b, i] += weights[b, i, j] * v[b, j]
            if q_mask is not None and not q_mask[b, i]:
                out[b, i] = 0.0
    return out, weights


def masks(b_: int, tq: int, tk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A query mask and a value mask; key 0 always real, so no row is fully masked."""
    rng = np.random.default_rng(7)
    q_mask = rng.random((b_, tq)) > 0.3
    v_mask = rng.random((b_, tk)) > 0.4
    v_mask[:, 0] = True
    return torch.from_numpy(q_mask), torch.from_numpy(v_mask)


# ------------------------------------------------------------------ Attention
GRID = [("dot", s, d) for s in (False, True) for d in (False, True)] + [("concat", s, False) for s in (False, True)]


@pytest.mark.parametrize("score_mode,use_scale,scale_by_dk", GRID)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_attention_matches_naive(score_mode, use_scale, scale_by_dk, causal, masked):
    q, v, k = f64(2, 3, 5, seed=1), f64(2, 4, 6, seed=2), f64(2, 4, 5, seed=3)
    layer = Attention(use_scale=use_scale, score_mode=score_mode, scale_by_dk=scale_by_dk)
    layer([q, v, k])
    with torch.no_grad():  # non-default learned scalars, so that using them is checked
        if use_scale:
            layer.scale.fill_(0.7)
        if score_mode == "concat":
            layer.concat_score_weight.fill_(1.3)
    q_mask, v_mask = masks(2, 3, 4) if masked else (None, None)
    out, weights = layer([q, v, k], mask=[q_mask, v_mask] if masked else None,
                         return_attention_scores=True, use_causal_mask=causal)
    s = 0.7 if use_scale else 1.0
    if score_mode == "dot":
        def score(qi, kj):
            return s * float(np.sum(qi * kj)) / (math.sqrt(5) if scale_by_dk else 1.0)
    else:
        def score(qi, kj):
            return 1.3 * float(np.sum(np.tanh(s * (qi + kj))))
    ref_out, ref_w = np_attention(q.numpy(), v.numpy(), k.numpy(), score,
                                  None if q_mask is None else q_mask.numpy(),
                                  None if v_mask is None else v_mask.numpy(), causal)
    np.testing.assert_allclose(out.detach().numpy(), ref_out, rtol=0, atol=ATOL)
    np.testing.assert_allclose(weights.detach().numpy(), ref_w, rtol=0, atol=ATOL)
    np.testing.assert_allclose(weights.sum(-1).detach().numpy(), 1.0, rtol=0, atol=ATOL)
    assert out.shape == layer.compute_output_shape([tuple(q.shape), tuple(v.shape), tuple(k.shape)])


def test_attention_default_is_unscaled_keras_and_scale_by_dk_gives_the_material_form():
    q = torch.tensor([[[1.0, 0.0, 0.0, 0.0]]], dtype=torch.float64)
    k = torch.tensor([[[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]], dtype=torch.float64)
    _, a_keras = Attention()([q, k], return_attention_scores=True)
    _, a_dk = Attention(scale_by_dk=True)([q, k], return_attention_scores=True)
    # scores Q·Kᵀ = [2, 0]; ÷ √d_k = √4 → [1, 0]
    np.testing.assert_allclose(a_keras[0, 0].numpy(), np_softmax(np.array([2.0, 0.0])), rtol=0, atol=ATOL)
    np.testing.assert_allclose(a_dk[0, 0].numpy(), np_softmax(np.array([1.0, 0.0])), rtol=0, atol=ATOL)


def test_attention_key_defaults_to_value():
    q, v = f64(2, 3, 4, seed=1), f64(2, 5, 4, seed=2)
    layer = Attention()
    torch.testing.assert_close(layer([q, v]), layer([q, v, v]), rtol=0, atol=0)
    ref, _ = np_attention(q.numpy(), v.numpy(), v.numpy(), lambda a, b: float(np.sum(a * b)))
    np.testing.assert_allclose(layer([q, v]).numpy(), ref, rtol=0, atol=ATOL)


def test_attention_masks_zero_padded_keys_and_query_steps():
    q, v = f64(1, 3, 4, seed=1), f64(1, 4, 4, seed=2)
    q_mask = torch.tensor([[True, False, True]])
    v_mask = torch.tensor([[True, True, False, False]])
    out, a = Attention()([q, v], mask=[q_mask, v_mask], return_attention_scores=True)
    assert torch.all(a[0, :, 2:] == 0)
    assert torch.all(out[0, 1] == 0) and torch.all(out[0, 0] != 0)
    causal = Attention()([q, v], use_causal_mask=True, return_attention_scores=True)[1]
    assert torch.all(causal[0].triu(1) == 0)


def test_attention_fully_masked_row_is_finite():
    q, v = f64(1, 2, 4, seed=1), f64(1, 3, 4, seed=2)
    out, a = Attention()([q, v], mask=[None, torch.zeros(1, 3, dtype=torch.bool)], return_attention_scores=True)
    assert torch.isfinite(out).all() and torch.isfinite(a).all()
    np.testing.assert_allclose(a.sum(-1).numpy(), 1.0, rtol=0, atol=1e-9)


def test_attention_dropout_only_in_training():
    torch.manual_seed(0)
    q, v = f64(4, 6, 4, seed=1), f64(4, 8, 4, seed=2)
    layer = Attention(dropout=0.5)
    plain = Attention()([q, v], return_attention_scores=True)[1]
    assert torch.equal(layer([q, v], training=False, return_attention_scores=True)[1], plain)
    dropped = layer([q, v], training=True, return_attention_scores=True)[1]
    zero = dropped == 0
    assert 0.3 < zero.double().mean() < 0.7
    np.testing.assert_allclose(dropped[~zero].numpy(), 2 * plain[~zero].numpy(), rtol=1e-12)


def test_attention_feature_size_mismatch_error_of_the_material_program():
    # Attention()([LSTM(64) output, the raw (28, 28) image rows]): query and key of different sizes.
    query, inputs = torch.ones(32, 64), torch.ones(32, 28, 28)
    with pytest.raises(
        ValueError,
        match=r"Layer 'att' \(Attention\) computes scores Q·Kᵀ, which needs query and key with the same "
        r"feature size; got query \(32, 64\) and key \(32, 28, 28\) \(64 ≠ 28\)\. Fix: project one side "
        r"with Dense\(\.\.\.\), e\.g\. query = Dense\(28\)\(query\), or use MultiHeadAttention",
    ):
        Attention(name="att")([query, inputs])
    with pytest.raises(ValueError, match=r"got query \(2, 5, 64\) and key \(2, 7, 28\)"):
        Attention()([torch.ones(2, 5, 64), torch.ones(2, 7, 28)])
    with pytest.raises(ValueError, match=r"\(AdditiveAttention\) computes scores Σ tanh\(q \+ k\)"):
        AdditiveAttention()([torch.ones(2, 5, 64), torch.ones(2, 7, 28)])


def test_attention_shape_errors():
    with pytest.raises(ValueError, match=r"expected query of rank 3 \(batch, time, features\), got \(2, 8\)\. "
                       r"Fix: keep the time axis \(a recurrent layer needs return_sequences=True\)"):
        Attention()([torch.ones(2, 8), torch.ones(2, 5, 8)])
    with pytest.raises(ValueError, match=r"expected inputs \[query, value\] or \[query, value, key\], got one "
                       r"tensor of shape \(2, 5, 8\)\. Fix: attention\(\[query, value\]\)"):
        Attention()(torch.ones(2, 5, 8))
    with pytest.raises(ValueError, match=r"same number of steps, got key \(2, 4, 8\) and value \(2, 5, 8\)"):
        Attention()([torch.ones(2, 3, 8), torch.ones(2, 5, 8), torch.ones(2, 4, 8)])
    with pytest.raises(ValueError, match=r"expected mask=\[query_mask, value_mask\].*got a tensor of shape \(2, 5\)"):
        Attention()([torch.ones(2, 3, 8), torch.ones(2, 5, 8)], mask=torch.ones(2, 5, dtype=torch.bool))


def test_attention_argument_errors():
    with pytest.raises(ValueError, match=r"Attention: expected score_mode 'dot' or 'concat', got 'add'"):
        Attention(score_mode="add")
    with pytest.raises(ValueError, match=r"Attention: expected dropout in \[0, 1\), got 1\.0\. Fix"):
        Attention(dropout=1.0)
    with pytest.raises(ValueError, match=r"scale_by_dk divides dot-product scores by √d_k, got score_mode='concat'"):
        Attention(score_mode="concat", scale_by_dk=True)


def test_attention_config_weights_and_output_shape():
    layer = Attention(use_scale=True, score_mode="concat", dropout=0.1, name="att_cfg")
    layer([torch.ones(2, 3, 4), torch.ones(2, 5, 6), torch.ones(2, 5, 4)])
    assert sorted(n for n, _ in layer.named_parameters()) == ["concat_score_weight", "scale"]
    config = json.loads(json.dumps(layer.get_config()))
    assert Attention.from_config(config).get_config() == config
    assert config["score_mode"] == "concat" and config["scale_by_dk"] is False
    assert layer.compute_output_shape([(None, 3, 4), (None, 5, 6)]) == (None, 3, 6)
    plain = Attention()
    plain([torch.ones(1, 2, 3)] * 2)
    assert list(plain.named_parameters()) == []


def test_attention_in_a_functional_graph_passes_the_query_mask():
    q, v = Input(shape=(3, 4)), Input(shape=(5, 4))
    model = Model([q, v], Attention(scale_by_dk=True)([q, v]))
    xq, xv = np.random.default_rng(0).normal(size=(2, 3, 4)), np.random.default_rng(1).normal(size=(2, 5, 4))
    ref, _ = np_attention(xq, xv, xv, lambda a, b: float(np.sum(a * b)) / 2.0)
    np.testing.assert_allclose(model.predict([xq, xv]), ref, rtol=0, atol=1e-5)  # float32 model
    assert Attention().compute_mask(None, [torch.tensor([[True, False]]), None]).tolist() == [[True, False]]


# ---------------------------------------------------------- AdditiveAttention
@pytest.mark.parametrize("use_scale", [True, False])
@pytest.mark.parametrize("causal", [False, True])
def test_additive_attention_matches_naive(use_scale, causal):
    q, v, k = f64(2, 3, 5, seed=4), f64(2, 4, 3, seed=5), f64(2, 4, 5, seed=6)
    q_mask, v_mask = masks(2, 3, 4)
    layer = AdditiveAttention(use_scale=use_scale)
    out, a = layer([q, v, k], mask=[q_mask, v_mask], use_causal_mask=causal, return_attention_scores=True)
    w = layer.scale.detach().numpy() if use_scale else np.ones(5)
    ref, ref_a = np_attention(q.numpy(), v.numpy(), k.numpy(), lambda qi, kj: float(np.sum(w * np.tanh(qi + kj))),
                              q_mask.numpy(), v_mask.numpy(), causal)
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=0, atol=ATOL)
    np.testing.assert_allclose(a.detach().numpy(), ref_a, rtol=0, atol=ATOL)


def test_additive_attention_scale_vector_and_config():
    layer = AdditiveAttention()
    layer([torch.ones(2, 3, 8), torch.ones(2, 4, 8)])
    assert tuple(layer.scale.shape) == (8,)
    assert float(layer.scale.detach().abs().max()) <= math.sqrt(6 / 16)  # glorot-uniform with fan_in = fan_out = 8
    config = json.loads(json.dumps(layer.get_config()))
    assert "score_mode" not in config and config["use_scale"] is True
    assert AdditiveAttention.from_config(config).get_config() == config
    assert [n for n, _ in AdditiveAttention(use_scale=False).named_parameters()] == []
    with pytest.raises(ValueError, match=r"AdditiveAttention: scores are always Σ_d w_d·tanh\(q_d \+ k_d\), "
                       r"got scale_by_dk=True\. Fix: drop scale_by_dk"):
        AdditiveAttention(scale_by_dk=True)


# -------------------------------------------------------- MultiHeadAttention
def np_mha(layer: MultiHeadAttention, xq, xv, xk, keep=None, drop=None):
    """Per head h: Q_h = x_q W_h^Q + b_h^Q, ...; A_h = softmax(Q_h K_hᵀ/√d_k) (−1e9 where keep is
    False); y = Σ_h ((A_h ⊙ M_h) V_h) W_h^O + b^O with the dropout mask M (all ones if ``drop`` is
    None), by loops over b, h, i, j. Returns (y, A)."""
    w = {n: p.detach().numpy() for n, p in layer.named_parameters()}
    wq, wk, wv, wo = (w[f"{n}_dense.kernel"] for n in ("query", "key", "value", "output"))
    bq, bk, bv, bo = (w[f"{n}_dense.bias"] for n in ("query", "key", "value", "output"))
    b_, tq, tk, h_ = xq.shape[0], xq.shape[1], xk.shape[1], wq.shape[1]
    out, a = np.zeros((b_, tq, wo.shape[-1])), np.zeros((b_, h_, tq, tk))
    for b in range(b_):
        for h in range(h_):
            qh, kh, vh = xq[b] @ wq[:, h] + bq[h], xk[b] @ wk[:, h] + bk[h], xv[b] @ wv[:, h] + bv[h]
            for i in range(tq):
                s = np.array([float(np.sum(qh[i] * kh[j])) / math.sqrt(wq.shape[-1]) for j in range(tk)])
                if keep is not None:
                    s = s + np.where(keep[b, i], 0.0, -1e9)
                a[b, h, i] = np_softmax(s)
                m = np.ones(tk) if drop is None else drop[b, h, i]
                head = sum(a[b, h, i, j] * m[j] * vh[j] for j in range(tk))
                out[b, i] += head @ wo[h]
        out[b] += bo
    return out, a


def randomize_biases(layer) -> None:
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name.endswith("bias"):
                p.copy_(f64(*p.shape, seed=len(name)))


@pytest.mark.parametrize("mask_kind", ["none", "attention", "causal", "both"])
@pytest.mark.parametrize("dims", [(None, None), (3, 7)])
@pytest.mark.parametrize("explicit", [False, True])
def test_mha_matches_naive(mask_kind, dims, explicit):
    value_dim, output_shape = dims
    xq, xv, xk = f64(2, 3, 6, seed=1), f64(2, 4, 5, seed=2), f64(2, 4, 7, seed=3)
    layer = MultiHeadAttention(num_heads=2, key_dim=4, value_dim=value_dim, output_shape=output_shape)
    layer(xq, xv, xk)
    randomize_biases(layer)
    rng = np.random.default_rng(11)
    attention_mask = torch.from_numpy(rng.random((2, 3, 4)) > 0.4)
    attention_mask[:, :, 0] = True
    kwargs = {"attention_mask": attention_mask} if mask_kind in ("attention", "both") else {}
    causal = mask_kind in ("causal", "both")
    keep = np.ones((2, 3, 4), dtype=bool)
    if kwargs:
        keep &= attention_mask.numpy()
    if causal:
        keep &= np.tril(np.ones((3, 4), dtype=bool))  # query i sees keys j ≤ i
    result = layer(xq, xv, key=xk, use_causal_mask=causal, return_attention_scores=explicit, **kwargs)
    out = result[0] if explicit else result
    ref, ref_a = np_mha(layer, xq.numpy(), xv.numpy(), xk.numpy(), keep)
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=0, atol=ATOL)
    assert out.shape == (2, 3, output_shape or 6)
    if explicit:
        np.testing.assert_allclose(result[1].detach().numpy(), ref_a, rtol=0, atol=ATOL)
        assert result[1].shape == (2, 2, 3, 4)


def test_mha_fused_and_explicit_paths_agree_even_on_a_fully_masked_row():
    x = f64(2, 5, 8, seed=4)
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    mask = torch.ones(2, 5, 5, dtype=torch.bool)
    mask[0, 1] = False  # query 1 of sample 0 may attend nothing
    fused = layer(x, x, attention_mask=mask)
    explicit, _ = layer(x, x, attention_mask=mask, return_attention_scores=True)
    assert torch.isfinite(fused).all()
    torch.testing.assert_close(fused, explicit, rtol=0, atol=ATOL)


@pytest.mark.parametrize("causal", [False, True])
def test_mha_equals_torch_multihead_attention_with_copied_weights(causal):
    e_, h_ = 8, 2
    xq, xkv = f64(3, 4, e_, seed=5), f64(3, 6, e_, seed=6)
    layer = MultiHeadAttention(num_heads=h_, key_dim=e_ // h_)
    layer(xq, xkv)
    randomize_biases(layer)
    ref = torch.nn.MultiheadAttention(e_, h_, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for i, dense in enumerate((layer.query_dense, layer.key_dense, layer.value_dense)):
            ref.in_proj_weight[i * e_ : (i + 1) * e_] = dense.kernel.reshape(e_, e_).T
            ref.in_proj_bias[i * e_ : (i + 1) * e_] = dense.bias.reshape(e_)
        ref.out_proj.weight.copy_(layer.output_dense.kernel.reshape(e_, e_).T)
        ref.out_proj.bias.copy_(layer.output_dense.bias)
    keep = torch.ones(4, 6, dtype=torch.bool).tril() if causal else torch.rand(4, 6) > 0.3
    keep[:, 0] = True
    want, want_a = ref(xq, xkv, xkv, attn_mask=~keep, average_attn_weights=False)
    got, got_a = layer(xq, xkv, attention_mask=keep.expand(3, 4, 6), return_attention_scores=True)
    torch.testing.assert_close(got, want, rtol=0, atol=ATOL)
    torch.testing.assert_close(got_a, want_a, rtol=0, atol=ATOL)
    torch.testing.assert_close(layer(xq, xkv, use_causal_mask=True), layer(xq, xkv, attention_mask=torch.ones(
        3, 4, 6, dtype=torch.bool).tril()), rtol=0, atol=ATOL)


def test_mha_call_forms_weights_and_config():
    x, y = f64(2, 5, 6, seed=1), f64(2, 3, 4, seed=2)
    layer = MultiHeadAttention(num_heads=3, key_dim=2, value_dim=5, output_shape=7, name="mha_cfg")
    out = layer(x, y)
    torch.testing.assert_close(layer([x, y]), out, rtol=0, atol=0)  # the form a graph replays
    torch.testing.assert_close(layer(query=x, value=y, key=y), out, rtol=0, atol=0)
    shapes = {n: tuple(p.shape) for n, p in layer.named_parameters()}
    assert shapes == {
        "query_dense.kernel": (6, 3, 2), "query_dense.bias": (3, 2),
        "key_dense.kernel": (4, 3, 2), "key_dense.bias": (3, 2),
        "value_dense.kernel": (4, 3, 5), "value_dense.bias": (3, 5),
        "output_dense.kernel": (3, 5, 7), "output_dense.bias": (7,),
    }
    assert layer.compute_output_shape([(None, 5, 6), (None, 3, 4)]) == (None, 5, 7) == (None,) + tuple(out.shape[1:])
    config = json.loads(json.dumps(layer.get_config()))
    assert MultiHeadAttention.from_config(config).get_config() == config
    assert config["output_shape"] == 7 and config["value_dim"] == 5
    no_bias = MultiHeadAttention(2, 3, use_bias=False)
    no_bias(x, x)
    assert all(n.endswith("kernel") for n, _ in no_bias.named_parameters())


def test_mha_dropout_only_in_training():
    torch.manual_seed(0)
    x = f64(2, 6, 8, seed=3)
    layer = MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5)
    eval_out = layer(x, x, training=False)
    assert not torch.allclose(layer(x, x, training=True), eval_out)
    layer.eval()
    torch.testing.assert_close(layer(x, x), eval_out)


@pytest.mark.parametrize("masked", [False, True])
def test_mha_training_dropout_drops_attention_weights_as_the_naive_version(masked):
    # On the CPU the weights are dropped with brainnet's mask (layers/_dropout.py), drawn
    # from torch's generator: the same seed draws the same mask for the naive version.
    xq, xv = f64(2, 3, 6, seed=1), f64(2, 4, 5, seed=2)
    layer = MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.4)
    layer(xq, xv)
    randomize_biases(layer)
    attention_mask = torch.ones(2, 3, 4, dtype=torch.bool)
    attention_mask[1, :, 2:] = False
    kwargs = {"attention_mask": attention_mask} if masked else {}
    torch.manual_seed(5)
    out = layer(xq, xv, training=True, **kwargs)
    torch.manual_seed(5)
    drop = keep_mask((2, 2, 3, 4), 0.4, torch.float64, torch.device("cpu")).numpy()
    assert set(np.unique(drop)) == {0.0, 1 / 0.6}
    ref, _ = np_mha(layer, xq.numpy(), xv.numpy(), xv.numpy(), attention_mask.numpy() if masked else None, drop)
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=0, atol=ATOL)


def test_mha_errors():
    x = torch.ones(2, 5, 8)
    with pytest.raises(ValueError, match=r"MultiHeadAttention: expected num_heads to be a positive integer, got 0"):
        MultiHeadAttention(0, 4)
    with pytest.raises(ValueError, match=r"MultiHeadAttention: expected key_dim to be a positive integer, got '4'"):
        MultiHeadAttention(2, "4")
    with pytest.raises(ValueError, match=r"MultiHeadAttention: expected dropout in \[0, 1\), got -0\.1"):
        MultiHeadAttention(2, 4, dropout=-0.1)
    with pytest.raises(ValueError, match=r"expected a query and a value, got only a query\. "
                       r"Fix: layer\(query, value\); for self-attention layer\(x, x\)"):
        MultiHeadAttention(2, 4)(x)
    with pytest.raises(ValueError, match=r"expected attention_mask of shape \(batch, T_q, T_k\) = \(2, 5, 5\) "
                       r"\(True = attend\), got \(2, 5\)\. "
                       r"Fix: for a \(batch, T_k\) padding mask m use m\[:, None, :\]"):
        MultiHeadAttention(2, 4)(x, x, attention_mask=torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"expected value of rank 3 \(batch, time, features\), got \(2, 8\)"):
        MultiHeadAttention(2, 4)(x, torch.ones(2, 8))


def test_mha_in_a_functional_graph():
    q, v = Input(shape=(5, 8)), Input(shape=(3, 6))
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    out, scores = layer(q, v, return_attention_scores=True)
    assert out.shape == (None, 5, 8) and scores.shape == (None, 2, 5, 3)
    model = Model([q, v], out)
    xq, xv = torch.randn(4, 5, 8), torch.randn(4, 3, 6)
    np.testing.assert_allclose(model.predict([xq.numpy(), xv.numpy()]), layer(xq, xv).detach().numpy(),
                               rtol=0, atol=1e-6)


def test_mha_uses_embedding_masks_in_a_functional_graph():
    tokens = Input(shape=(5,), dtype="int64")
    x = Embedding(10, 8, mask_zero=True)(tokens)
    model = Model(tokens, MultiHeadAttention(num_heads=2, key_dim=4)(x, x))
    padded = torch.tensor([[3, 1, 4, 0, 0]])
    out = model(padded)
    torch.testing.assert_close(out[:, :3], model(padded[:, :3]), rtol=0, atol=1e-6)  # padded keys are ignored


# Found by tests/layers/test_properties.py: different batch sizes broadcast
# silently or raised torch's RuntimeError; masks of the wrong shape raised
# RuntimeError or IndexError.
@pytest.mark.parametrize("call", [
    lambda q, v: Attention()([q, v]),
    lambda q, v: AdditiveAttention()([q, v]),
    lambda q, v: MultiHeadAttention(num_heads=1, key_dim=2)(q, v),
], ids=["Attention", "AdditiveAttention", "MultiHeadAttention"])
def test_query_and_value_with_different_batch_sizes(call):
    with pytest.raises(ValueError, match=r"expected query, value and key with the same number of samples, got "
                                         r"\(1, 3, 4\), \(2, 3, 4\)\. Fix: pass the query, value and key of the same"):
        call(torch.ones(1, 3, 4), torch.ones(2, 3, 4))


def test_masks_of_the_wrong_shape():
    q, v = torch.ones(2, 3, 4), torch.ones(2, 5, 4)
    good_q, bad_v = torch.ones(2, 3, dtype=torch.bool), torch.ones(2, 4, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"\(Attention\) expected the value mask of shape \(batch, T\) = \(2, 5\) "
                                         r"\(True = a real step\), got \(2, 4\)\. Fix: a mask per input"):
        Attention()([q, v], mask=[good_q, bad_v])
    with pytest.raises(ValueError, match=r"\(MultiHeadAttention\) expected the query mask of shape \(batch, T\) = "
                                         r"\(2, 3\) \(True = a real step\), got \(3,\)\. Fix:"):
        MultiHeadAttention(num_heads=1, key_dim=2)(q, v, mask=[torch.ones(3, dtype=torch.bool), None])
    out = Attention()([q, v], mask=[good_q, torch.ones(2, 5, dtype=torch.bool)])
    assert out.shape == (2, 3, 4)


def test_multi_head_attention_output_shape_as_a_keras_1_tuple():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 6)
    as_tuple = MultiHeadAttention(num_heads=2, key_dim=3, output_shape=(4,))
    as_int = MultiHeadAttention(num_heads=2, key_dim=3, output_shape=4)
    assert as_tuple(x, x).shape == (2, 5, 4) and as_tuple.get_config()["output_shape"] == 4
    as_int(x, x)
    as_int.set_weights(as_tuple.get_weights())
    torch.testing.assert_close(as_int(x, x), as_tuple(x, x), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"MultiHeadAttention: expected output_shape to be one feature size \(an "
                                         r"integer or a 1-tuple\), got \(2, 4\): brainnet's output is \(batch, T_q, "
                                         r"d_out\)\. Fix: MultiHeadAttention\(output_shape=8, \.\.\.\) followed by "
                                         r"Reshape\(\(-1, 2, 4\)\)"):
        MultiHeadAttention(num_heads=2, key_dim=3, output_shape=(2, 4))


def test_a_wrong_mask_in_a_symbolic_call_says_where_the_batch_of_2_comes_from():
    query = Input((10, 16))
    mask = Input((10, 7), dtype="bool")
    with pytest.raises(ValueError, match=r"expected attention_mask of shape \(batch, T_q, T_k\) = \(2, 10, 10\) .*"
                                         r"got \(2, 10, 7\)\. Fix: .* \(Shapes above come from a trial run on zeros "
                                         r"in which every size the model does not know yet, the batch's included, "
                                         r"was 2\.\)$"):
        MultiHeadAttention(num_heads=2, key_dim=8)(query, query, attention_mask=mask)
    with pytest.raises(ValueError) as eager:  # called on real tensors, no such note
        MultiHeadAttention(num_heads=2, key_dim=8)(torch.zeros(2, 10, 16), torch.zeros(2, 10, 16),
                                                   attention_mask=torch.ones(2, 10, 7, dtype=torch.bool))
    assert "trial run" not in str(eager.value)
