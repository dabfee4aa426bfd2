"""MultiHeadAttention's ``_compute_attention`` hook, as Keras 3 has it: a
subclass that overrides it keeps the projections and computes the attention
itself from the projected heads in Keras's layout, with Keras's names for
what it needs (``_key_dim``, ``_dot_product_equation``, ``_masked_softmax``,
``_dropout_layer``, ...). The keras.io example "Train a Vision Transformer on
small datasets" writes Locality Self-Attention this way.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from brainnet.layers import Dense, Flatten, GroupQueryAttention, Input, MultiHeadAttention
from brainnet.models import Model
from brainnet.utils import set_random_seed


def np_softmax(s: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    if keep is not None:
        s = np.where(keep, s, s - 1e9)
    a = np.exp(s - s.max(-1, keepdims=True))
    return a / a.sum(-1, keepdims=True)


def np_attention(layer: MultiHeadAttention, xq: np.ndarray, xv: np.ndarray, scale: float,
                 keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Q_h = x_q W_h^Q + b_h^Q (K, V from x_v), A_h = softmax(Q_h K_hᵀ·scale) with keep's
    False keys masked, y = Σ_h (A_h V_h) W_h^O + b^O; returns y and A (B, H, T, S)."""
    w = {n: p.detach().numpy().astype(np.float64) for n, p in layer.named_parameters()}
    q = np.einsum("btd,dhk->bthk", xq, w["query_dense.kernel"]) + w["query_dense.bias"]
    k = np.einsum("btd,dhk->bthk", xv, w["key_dense.kernel"]) + w["key_dense.bias"]
    v = np.einsum("btd,dhk->bthk", xv, w["value_dense.kernel"]) + w["value_dense.bias"]
    a = np_softmax(np.einsum("bihk,bjhk->bhij", q, k) * scale, None if keep is None else keep[:, None])
    heads = np.einsum("bhij,bjhk->bihk", a, v)
    return np.einsum("bihk,hko->bio", heads, w["output_dense.kernel"]) + w["output_dense.bias"], a


class Temperature(MultiHeadAttention):
    """Keras 3.0's signature (5 arguments): softmax(QKᵀ/τ), τ learned."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tau = torch.nn.Parameter(torch.tensor(2.5))

    def _compute_attention(self, query, key, value, attention_mask=None, training=None):
        scores = torch.einsum(self._dot_product_equation, key, query / self.tau)
        scores = self._masked_softmax(scores, attention_mask)
        out = torch.einsum(self._combine_equation, self._dropout_layer(scores, training=training), value)
        return out, scores


class Recording(MultiHeadAttention):
    """Later Keras 3's signature, deferring to the default: records what it was given."""

    seen: list

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False):
        self.seen = [tuple(query.shape), tuple(key.shape), tuple(value.shape),
                     None if attention_mask is None else attention_mask.clone(), training, return_attention_scores]
        return super()._compute_attention(query, key, value, attention_mask, training, return_attention_scores)


def test_keras_names_of_the_hooks_attributes():
    layer = MultiHeadAttention(num_heads=3, key_dim=8, value_dim=5, dropout=0.25)
    assert (layer._num_heads, layer._key_dim, layer._value_dim, layer._dropout) == (3, 8, 5, 0.25)
    assert layer._inverse_sqrt_key_dim == pytest.approx(1 / math.sqrt(8))
    assert MultiHeadAttention(num_heads=1, key_dim=4)._value_dim == 4  # value_dim defaults to key_dim
    # the equations: key (B, S, H, d), query (B, T, H, d) → (B, H, T, S); weights, value → (B, T, H, d_v)
    key, query = torch.randn(2, 5, 3, 8), torch.randn(2, 4, 3, 8)
    scores = torch.einsum(layer._dot_product_equation, key, query)
    np.testing.assert_allclose(scores.numpy(), np.einsum("bshd,bthd->bhts", key.numpy(), query.numpy()), rtol=1e-5,
                               atol=1e-5)
    value = torch.randn(2, 5, 3, 6)
    heads = torch.einsum(layer._combine_equation, scores, value)
    np.testing.assert_allclose(heads.numpy(), np.einsum("bhts,bshd->bthd", scores.numpy(), value.numpy()),
                               rtol=1e-4, atol=1e-4)


def test_masked_softmax_gives_a_batch_mask_to_every_head_against_numpy():
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    scores = np.random.default_rng(0).normal(size=(3, 2, 4, 5))
    keep = np.random.default_rng(1).uniform(size=(3, 4, 5)) > 0.4
    keep[:, :, 0] = True
    got = layer._masked_softmax(torch.from_numpy(scores), torch.from_numpy(keep.astype(np.int8)))
    np.testing.assert_allclose(got.numpy(), np_softmax(scores, keep[:, None]), rtol=1e-12)
    assert np.all(got.numpy()[~np.broadcast_to(keep[:, None], got.shape)] == 0)
    np.testing.assert_allclose(layer._masked_softmax(torch.from_numpy(scores)).numpy(), np_softmax(scores))


def test_the_dropout_layer_drops_only_in_training():
    drop = MultiHeadAttention(num_heads=1, key_dim=2, dropout=0.5)._dropout_layer
    x = torch.ones(1000)
    assert torch.equal(drop(x, training=False), x) and torch.equal(drop(x), x)
    set_random_seed(0)
    y = drop(x, training=True).numpy()
    assert set(np.unique(y)) == {0.0, 2.0} and 0.4 < np.mean(y == 0) < 0.6  # kept values scaled by 1/(1 − rate)


def test_an_override_with_a_temperature_and_a_mask_against_numpy():
    set_random_seed(3)
    layer = Temperature(num_heads=2, key_dim=4)
    xq = np.random.default_rng(2).normal(size=(2, 5, 6))
    xv = np.random.default_rng(3).normal(size=(2, 7, 6))
    keep = np.random.default_rng(4).uniform(size=(2, 5, 7)) > 0.3
    keep[:, :, 0] = True
    out, scores = layer(torch.tensor(xq, dtype=torch.float32), torch.tensor(xv, dtype=torch.float32),
                        attention_mask=torch.from_numpy(keep), return_attention_scores=True)
    want_out, want_scores = np_attention(layer, xq, xv, 1 / 2.5, keep)
    np.testing.assert_allclose(scores.detach().numpy(), want_scores, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out.detach().numpy(), want_out, rtol=1e-4, atol=1e-5)
    out.sum().backward()
    assert layer.tau.grad is not None and layer.tau.grad.item() != 0  # τ learns
    assert any(w is layer.tau for w in layer.trainable_weights)


def test_the_default_through_super_is_the_layers_own_attention():
    set_random_seed(5)
    plain = MultiHeadAttention(num_heads=2, key_dim=3)
    hooked = Recording(num_heads=2, key_dim=3)
    x = torch.randn(4, 6, 5)
    plain(x, x)
    hooked(x, x)
    hooked.load_state_dict(plain.state_dict())
    for kwargs in ({}, {"use_causal_mask": True}, {"attention_mask": torch.rand(4, 6, 6) > 0.3}):
        want = plain(x, x, **kwargs)
        np.testing.assert_allclose(hooked(x, x, **kwargs).detach().numpy(), want.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
    q_shape, k_shape, v_shape, mask, training, flag = hooked.seen
    assert (q_shape, k_shape, v_shape, training, flag) == ((4, 6, 2, 3), (4, 6, 2, 3), (4, 6, 2, 3), False, False)
    assert mask.dtype == torch.bool and tuple(mask.shape) == (4, 6, 6)
    # the causal mask alone reaches the hook as Keras makes it, (1, T, S)
    hooked(x, x, use_causal_mask=True)
    np.testing.assert_array_equal(hooked.seen[3].numpy(), np.tril(np.ones((1, 6, 6), dtype=bool)))
    # the scores asked for: the flag reaches an override that takes it
    out, scores = hooked(x, x, return_attention_scores=True)
    assert hooked.seen[5] is True and tuple(scores.shape) == (4, 2, 6, 6)
    np.testing.assert_allclose(scores.detach().numpy(), plain(x, x, return_attention_scores=True)[1].detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_grouped_query_attention_with_the_hook_repeats_its_key_heads():
    class HookedGQA(GroupQueryAttention):
        def _compute_attention(self, query, key, value, attention_mask=None, training=None):
            return super()._compute_attention(query, key, value, attention_mask, training)

    set_random_seed(6)
    plain = GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2)
    hooked = HookedGQA(head_dim=4, num_query_heads=4, num_key_value_heads=2)
    x = torch.randn(2, 5, 8)
    plain(x, x)
    hooked(x, x)
    hooked.load_state_dict(plain.state_dict())
    np.testing.assert_allclose(hooked(x, x).detach().numpy(), plain(x, x).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_fit_runs_the_override_in_training_and_predict_outside_it():
    set_random_seed(7)
    inputs = Input(shape=(4, 6))
    layer = Recording(num_heads=2, key_dim=4, dropout=0.1)
    mask = 1 - torch.eye(4)[None].to(torch.int8)  # a constant mask given in the graph, as the LSA example does
    x = Flatten()(layer(inputs, inputs, attention_mask=mask))
    model = Model(inputs, Dense(1)(x))
    model.compile(optimizer="adam", loss="mse")
    data = np.random.default_rng(8).normal(size=(32, 4, 6)).astype("float32")
    target = data.sum(axis=(1, 2))[:, None]
    history = model.fit(data, target, epochs=5, batch_size=8, verbose=0)
    assert layer.seen[4] is True  # training=True reached the hook
    np.testing.assert_array_equal(layer.seen[3].numpy(), (1 - np.eye(4))[None].astype(bool))
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.predict(data[:2], verbose=0)
    assert not layer.seen[4]
