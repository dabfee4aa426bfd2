"""GroupQueryAttention against a naive NumPy grouped-query attention (query head
u reads key/value head ⌊u / r⌋, as Keras repeats them), on the fused and the
explicit path, with attention and causal masks, a separate key, and returned
scores; one key/value head per query head is MultiHeadAttention with the same
weights; shapes and Keras's weight layout, config, save/load, training, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from brainnet.layers import Dense, GlobalAveragePooling1D, GroupQueryAttention, Input, MultiHeadAttention
from brainnet.models import Model, load_model

ATOL = 1e-10


def f64(*shape, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


def weights(layer):
    return {n: p.detach().numpy() for n, p in layer.named_parameters()}


def np_gqa(w, xq, xv, xk=None, keep=None):
    """Q_u = x_q W_u^Q + b_u^Q; K_g, V_g alike with H_kv heads; query head u reads
    group g = u // r; A_u = softmax(Q_u K_gᵀ/√d) (a masked pair −1e9 first);
    y = Σ_u (A_u V_g) W_u^O + b^O. Returns y and the A_u, (B, H_q, T_q, T_k)."""
    xk = xv if xk is None else xk
    q = np.einsum("btd,dhk->bthk", xq, w["query_dense.kernel"]) + w["query_dense.bias"]  # (B, T_q, H_q, d)
    k = np.einsum("btd,dhk->bthk", xk, w["key_dense.kernel"]) + w["key_dense.bias"]  # (B, T_k, H_kv, d)
    v = np.einsum("btd,dhk->bthk", xv, w["value_dense.kernel"]) + w["value_dense.bias"]
    h_q, h_kv, d = q.shape[2], k.shape[2], q.shape[3]
    r = h_q // h_kv
    scores = np.zeros((q.shape[0], h_q, q.shape[1], k.shape[1]))
    heads = np.zeros_like(q)
    for u in range(h_q):
        g = u // r
        s = np.einsum("bik,bjk->bij", q[:, :, u], k[:, :, g]) / math.sqrt(d)
        if keep is not None:
            s = s + np.where(keep, 0.0, -1e9)
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        scores[:, u] = a
        heads[:, :, u] = np.einsum("bij,bjk->bik", a, v[:, :, g])
    y = np.einsum("bihk,hko->bio", heads, w["output_dense.kernel"]) + w["output_dense.bias"]
    return y, scores


def built(layer, xq, xv, xk=None):
    layer(xq, xv) if xk is None else layer(xq, xv, xk)
    with torch.no_grad():  # random biases, so that they are checked too
        for n, p in layer.named_parameters():
            if n.endswith("bias"):
                p.copy_(f64(*p.shape, seed=len(n)) * 0.3)
    return layer


@pytest.mark.parametrize("h_q, h_kv", [(4, 2), (6, 3), (4, 1), (3, 3)])
@pytest.mark.parametrize("scores", [False, True])  # fused path, or the explicit one that returns the weights
def test_matches_naive_grouped_query_attention(h_q, h_kv, scores):
    xq, xv, xk = f64(2, 5, 7, seed=1), f64(2, 6, 9, seed=2), f64(2, 6, 4, seed=3)
    layer = built(GroupQueryAttention(head_dim=3, num_query_heads=h_q, num_key_value_heads=h_kv), xq, xv, xk)
    w = weights(layer)
    assert w["key_dense.kernel"].shape == (4, h_kv, 3) and w["value_dense.kernel"].shape == (9, h_kv, 3)
    assert w["query_dense.kernel"].shape == (7, h_q, 3) and w["output_dense.kernel"].shape == (h_q, 3, 7)
    want, want_scores = np_gqa(w, xq.numpy(), xv.numpy(), xk.numpy())
    out = layer(xq, xv, xk, return_attention_scores=scores)
    if scores:
        out, got_scores = out
        assert got_scores.shape == (2, h_q, 5, 6)
        np.testing.assert_allclose(got_scores.detach().numpy(), want_scores, rtol=0, atol=ATOL)
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=0, atol=ATOL)
    assert layer.compute_output_shape([(None, 5, 7), (None, 6, 9), (None, 6, 4)]) == (None, 5, 7)


@pytest.mark.parametrize("scores", [False, True])
def test_attention_mask_and_causal_mask_against_numpy(scores):
    x = f64(3, 5, 8, seed=4)
    layer = built(GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2), x, x)
    keep = np.random.default_rng(5).random((3, 5, 5)) > 0.3
    keep[:, :, 0] = True  # every query attends to at least one key
    causal = np.tril(np.ones((5, 5), dtype=bool))
    w = weights(layer)
    for kwargs, mask in [({"attention_mask": torch.from_numpy(keep)}, keep),
                         ({"use_causal_mask": True}, causal[None]),
                         ({"attention_mask": torch.from_numpy(keep), "use_causal_mask": True}, keep & causal)]:
        out = layer(x, x, return_attention_scores=scores, **kwargs)
        want, want_scores = np_gqa(w, x.numpy(), x.numpy(), keep=mask)
        if scores:
            out, got = out
            np.testing.assert_allclose(got.detach().numpy(), want_scores, rtol=0, atol=ATOL)
        np.testing.assert_allclose(out.detach().numpy(), want, rtol=0, atol=ATOL)


def test_as_many_key_value_heads_as_query_heads_is_multi_head_attention():
    xq, xv = f64(2, 4, 6, seed=6), f64(2, 5, 6, seed=7)
    gqa = built(GroupQueryAttention(head_dim=3, num_query_heads=2, num_key_value_heads=2), xq, xv)
    mha = MultiHeadAttention(num_heads=2, key_dim=3)
    mha(xq, xv)
    mha.set_weights(gqa.get_weights())
    torch.testing.assert_close(gqa(xq, xv, use_causal_mask=True), mha(xq, xv, use_causal_mask=True), rtol=0, atol=0)


def test_dropout_only_in_training():
    x = f64(2, 6, 8, seed=8)
    layer = GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=1, dropout=0.5)
    _, scores = layer(x, x, return_attention_scores=True, training=False)
    torch.testing.assert_close(scores.sum(-1), torch.ones(2, 4, 6, dtype=torch.float64))
    torch.manual_seed(0)
    assert not torch.allclose(layer(x, x, training=True), layer(x, x, training=False))


def test_config_save_load_and_training(tmp_path):
    layer = GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2, dropout=0.1,
                                use_bias=False, kernel_regularizer="l2", name="gqa")
    config = layer.get_config()
    assert {k: config[k] for k in ("head_dim", "num_query_heads", "num_key_value_heads", "dropout", "use_bias")} == {
        "head_dim": 4, "num_query_heads": 4, "num_key_value_heads": 2, "dropout": 0.1, "use_bias": False}
    assert "num_heads" not in config and "key_dim" not in config
    again = GroupQueryAttention.from_config(config)
    assert again.get_config() == config

    inputs = Input((6, 8))
    attended = GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2)(inputs, inputs)
    outputs = Dense(2, activation="softmax")(GlobalAveragePooling1D()(attended))
    model = Model(inputs, outputs)
    assert attended.shape == (None, 6, 8)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6, 8)).astype("float32")
    y = (x[:, :, 0].mean(1) > 0).astype("int64")
    model.compile("adam", "sparse_categorical_crossentropy", device="cpu")
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "gqa.brainnet")
    loaded = load_model(tmp_path / "gqa.brainnet")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert any(isinstance(layer, GroupQueryAttention) for layer in loaded.layers)


def test_errors_of_group_query_attention():
    with pytest.raises(ValueError, match=r"GroupQueryAttention: expected num_query_heads to be a multiple of "
                                         r"num_key_value_heads \(each group of query heads shares one key/value "
                                         r"head\), got num_query_heads=6 and num_key_value_heads=4\. Fix: "
                                         r"num_key_value_heads among \[1, 2, 3, 6\]\."):
        GroupQueryAttention(head_dim=8, num_query_heads=6, num_key_value_heads=4)
    with pytest.raises(ValueError, match=r"GroupQueryAttention: expected num_key_value_heads"):
        GroupQueryAttention(head_dim=8, num_query_heads=6, num_key_value_heads=0)
    with pytest.raises(ValueError, match=r"GroupQueryAttention: expected head_dim"):
        GroupQueryAttention(head_dim=2.5, num_query_heads=6, num_key_value_heads=3)
    with pytest.raises(ValueError, match=r"GroupQueryAttention: expected dropout in \[0, 1\), got 1\.0\. Fix: "):
        GroupQueryAttention(head_dim=8, num_query_heads=2, num_key_value_heads=1, dropout=1.0)
    layer = GroupQueryAttention(head_dim=4, num_query_heads=2, num_key_value_heads=1)
    x = torch.zeros(2, 5, 8)
    with pytest.raises(ValueError, match=r"Layer 'group_query_attention\w*' \(GroupQueryAttention\) expected a "
                                         r"query and a value, got only a query\. Fix: layer\(query, value\)"):
        layer(x)
    with pytest.raises(ValueError, match=r"Layer 'group_query_attention\w*' \(GroupQueryAttention\) expected "
                                         r"attention_mask of shape \(batch, T_q, T_k\) = \(2, 5, 5\)"):
        layer(x, x, attention_mask=torch.ones(2, 5, dtype=torch.bool))
    # once built, other feature sizes: this layer's error, not its inner 'key'/'query' projection's
    for inputs, role in (((x, torch.zeros(2, 7, 4)), "value"), ((torch.zeros(2, 5, 3), x), "query"),
                         ((x, x, torch.zeros(2, 5, 6)), "key")):
        got = tuple(inputs[{"query": 0, "value": 1, "key": 2}[role]].shape)
        with pytest.raises(ValueError, match=rf"Layer 'group_query_attention\w*' \(GroupQueryAttention\) expected "
                                             rf"{role} with 8 features \(its size when the layer was built\), got "
                                             rf"{role} of shape \({', '.join(map(str, got))}\)\. Fix: give {role} 8 "
                                             r"features, as at the first call, or create a new layer"):
            layer(*inputs)
    mha = MultiHeadAttention(num_heads=2, key_dim=4)
    mha(x, torch.zeros(2, 7, 6))  # value and key of 6 features
    with pytest.raises(ValueError, match=r"\(MultiHeadAttention\) expected value with 6 features \(its size when "
                                         r"the layer was built\), got value of shape \(2, 7, 8\)\. Fix: "):
        mha(x, torch.zeros(2, 7, 8))
    assert mha(x, torch.zeros(2, 3, 6)).shape == (2, 5, 8)  # other lengths are fine
    with pytest.raises(TypeError, match=r"got flash_attention=True\. Fix: check 'flash_attention' against "
                                        r"help\(brainnet\.layers\.GroupQueryAttention\)"):
        GroupQueryAttention(head_dim=4, num_query_heads=2, num_key_value_heads=1, flash_attention=True)


def test_docstring_example_runs():
    import doctest

    import brainnet.layers.group_query_attention as module

    failures, tried = doctest.testmod(module)
    assert tried >= 3 and failures == 0
