"""EinsumDense against a naive NumPy loop over its docstring equation, in
float64 (atol=1e-12):

    y[O] = f(Σ_{letters not in O} x[I] · W[K] + bias)

one term at a time over every assignment of the letters (``...`` spelt out
as extra letters), with the bias broadcast from the output's end; the kernel
and bias shapes Keras 3's rules give (listed by hand below for each case);
Dense equality with copied weights; config, save/load and errors.
"""

from __future__ import annotations

import itertools
import json
import math
import re

import numpy as np
import pytest
import torch

from brainnet.layers import Dense, EinsumDense, Input, einsum_dense
from brainnet.models import Model, Sequential, load_model
from brainnet.optimizers import Adam

ATOL = 1e-12


def naive_einsum(spec: str, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``spec`` without '...'; every letter assignment adds one product."""
    inp, rest = spec.split(",")
    ker, out = rest.split("->")
    size = {**dict(zip(inp, x.shape)), **dict(zip(ker, w.shape))}
    letters = sorted(size)
    y = np.zeros([size[c] for c in out])
    for values in itertools.product(*(range(size[c]) for c in letters)):
        at = dict(zip(letters, values))
        y[tuple(at[c] for c in out)] += x[tuple(at[c] for c in inp)] * w[tuple(at[c] for c in ker)]
    return y


def spelt_out(equation: str, rank: int) -> str:
    """'...x,xy->...y' for a rank-3 input → 'ABx,xy->ABy' (the ellipsis as capital letters not used)."""
    if "..." not in equation:
        return equation
    inp = equation.split(",")[0].replace("...", "")
    extra = "".join(c for c in "ZYXWVU" if c not in equation)[: rank - len(inp)]
    return equation.replace("...", extra)


def f64(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


CASES = [
    # equation, output_shape, bias_axes, input shape, kernel shape, bias shape, output shape
    ("ab,bc->ac", 4, "c", (3, 5), (5, 4), (4,), (3, 4)),
    ("abc,cd->abd", (None, 4), "d", (2, 3, 5), (5, 4), (4,), (2, 3, 4)),
    ("abc,cd->abd", (3, 4), "b", (2, 3, 5), (5, 4), (3, 1), (2, 3, 4)),           # bias along time
    ("...x,xy->...y", 3, "y", (2, 2, 3, 4), (4, 3), (3,), (2, 2, 3, 3)),
    ("abc,cde->abde", (None, 2, 3), "de", (2, 4, 5), (5, 2, 3), (2, 3), (2, 4, 2, 3)),  # per-head projection
    ("abcd,cde->abe", (None, 6), "e", (2, 3, 2, 4), (2, 4, 6), (6,), (2, 3, 6)),      # heads back to features
    ("ab...,bc->ac...", 3, "c", (2, 4, 2, 3), (4, 3), (3, 1, 1), (2, 3, 2, 3)),       # trailing axes kept
    ("abc,bcd->ad", 2, None, (2, 3, 4), (3, 4, 2), None, (2, 2)),                   # two axes contracted
    ("...b,bc->...c", (5,), "c", (3, 2), (2, 5), (5,), (3, 5)),                     # the ellipsis is the batch
]


@pytest.mark.parametrize("equation, output_shape, bias_axes, shape, kernel, bias, out", CASES)
def test_matches_naive_equation_and_keras_shapes(equation, output_shape, bias_axes, shape, kernel, bias, out):
    x = f64(*shape)
    layer = EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="tanh")
    layer(torch.from_numpy(x))
    assert tuple(layer.kernel.shape) == kernel
    assert (layer.bias is None and bias is None) or tuple(layer.bias.shape) == bias
    w = 0.5 * f64(*kernel, seed=1)
    b = None if bias is None else f64(*bias, seed=2)
    layer.set_weights([w] if b is None else [w, b])
    y = layer(torch.from_numpy(x)).detach().numpy()
    want = naive_einsum(spelt_out(equation, len(shape)), x, w)
    want = np.tanh(want if b is None else want + b)
    assert y.shape == out == layer.compute_output_shape(shape)
    np.testing.assert_allclose(y, want, rtol=0, atol=ATOL)


def test_ab_bc_ac_is_dense_with_the_same_weights():
    x = torch.from_numpy(f64(4, 6))
    einsum, dense = EinsumDense("ab,bc->ac", output_shape=3, bias_axes="c", activation="relu"), Dense(3, "relu")
    einsum(x)
    dense(x)
    einsum.set_weights(dense.get_weights())
    torch.testing.assert_close(einsum(x), dense(x), rtol=0, atol=1e-12)


def test_first_weights_and_symbolic_shapes():
    layer = EinsumDense("abc,cde->abde", output_shape=(None, 4, 8), bias_axes="de")
    inputs = Input(shape=(None, 16))
    outputs = layer(inputs)
    assert outputs.shape == (None, None, 4, 8)
    assert layer.compute_output_shape((None, 7, 16)) == (None, 7, 4, 8)
    limit = math.sqrt(6 / (16 * 4 + 16 * 8))  # glorot_uniform, Keras's fans of (16, 4, 8): 16·4 in, 16·8 out
    assert 0.9 * limit < float(layer.kernel.detach().abs().max()) <= limit
    assert np.array_equal(layer.bias.detach().numpy(), np.zeros((4, 8)))
    y = Model(inputs, outputs).predict(np.ones((2, 5, 16), "float32"), verbose=0)
    assert y.shape == (2, 5, 4, 8)


def test_config_round_trip():
    layer = EinsumDense("...x,xy->...y", 8, activation="relu", bias_axes="y", kernel_initializer="he_normal",
                        kernel_regularizer="l2", bias_constraint="non_neg", name="ed")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["equation"] == "...x,xy->...y" and config["output_shape"] == [8] and config["bias_axes"] == "y"
    assert config["activation"] == "relu" and config["kernel_initializer"] == "he_normal"
    again = EinsumDense.from_config(config)
    assert again.get_config() == config
    assert EinsumDense("ab,bc->ac", 3).get_config()["bias_axes"] is None


def test_trains_saves_and_loads(tmp_path):
    """Two einsum projections (to heads and back) fit a linear map of sequences; saved and loaded exactly."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 5, 6)).astype("float32")
    y = (x @ rng.normal(size=(6, 3))).astype("float32")
    torch.manual_seed(0)
    model = Sequential([EinsumDense("abc,cde->abde", (None, 2, 4), bias_axes="de", input_shape=(5, 6)),
                        EinsumDense("abde,dec->abc", (None, 3), bias_axes="c")])
    model.compile(Adam(0.02), "mse")
    history = model.fit(x, y, epochs=40, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.01 * history.history["loss"][0], history.history["loss"][::10]
    model.save(tmp_path / "m.brainnet")
    np.testing.assert_array_equal(load_model(tmp_path / "m.brainnet").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_per_head_projection_is_a_dense_layer_reshaped():
    """'abc,cde->abde' (multi-head attention's projection to heads) is x·W' + b' with W' = W reshaped to
    (d, heads·d_k), split into (heads, d_k) afterwards."""
    q = torch.from_numpy(f64(2, 4, 5))
    layer = EinsumDense("abc,cde->abde", (None, 2, 3), bias_axes="de")
    layer(q)
    w, b = f64(5, 2, 3, seed=3), f64(2, 3, seed=4)
    layer.set_weights([w, b])
    want = (q.numpy() @ w.reshape(5, 6) + b.reshape(6)).reshape(2, 4, 2, 3)
    np.testing.assert_allclose(layer(q).detach().numpy(), want, rtol=0, atol=ATOL)


# ------------------------------------------------------------------ errors
def test_constructor_errors():
    with pytest.raises(ValueError, match=re.escape(
            "EinsumDense: expected an equation 'I,W->O', '...I,W->...O' or 'I...,W->O...' (I, W, O: letters naming "
            "the axes of the input, the kernel and the output), got 'ab,bc'. Fix: EinsumDense('ab,bc->ac', "
            "output_shape=64) is Dense(64)")):
        EinsumDense("ab,bc", 4)
    with pytest.raises(ValueError, match=re.escape("got 'a...b,bc->a...c'")):
        EinsumDense("a...b,bc->a...c", 4)
    with pytest.raises(ValueError, match=re.escape(
            "EinsumDense: expected output_shape to be a positive int or a tuple of positive ints and Nones, got "
            "(None, 0). Fix: output_shape=64")):
        EinsumDense("abc,cd->abd", (None, 0))
    with pytest.raises(ValueError, match=re.escape(
            "EinsumDense: expected every output letter to be an input or kernel letter and every kernel letter to "
            "be an input or output letter, got 'z' alone in the equation 'ab,bc->az'. Fix: name each kernel axis")):
        EinsumDense("ab,bc->az", 4)
    with pytest.raises(ValueError, match=re.escape("got 'q' alone in the equation 'ab,bcq->ac'")):
        EinsumDense("ab,bcq->ac", 4)
    with pytest.raises(ValueError, match=re.escape(
            "EinsumDense: expected output_shape with 2 entries (the output axes 'bd', without the batch), got "
            "(4,). Fix: one size per such axis, None where the input gives it.")):
        EinsumDense("abc,cd->abd", 4)
    with pytest.raises(ValueError, match=re.escape("expected output_shape with 1 entry (the output axes 'y', "
                                                   "without the batch and the ellipsis), got (None, 4)")):
        EinsumDense("...x,xy->...y", (None, 4))
    with pytest.raises(ValueError, match=re.escape(
            "EinsumDense: expected bias_axes to be letters of the output 'ac', got 'b'. Fix: bias_axes='c' for one "
            "bias per output feature, or None for no bias.")):
        EinsumDense("ab,bc->ac", 4, bias_axes="b")


def test_build_errors():
    with pytest.raises(ValueError, match=re.escape(
            "Layer 'e' (EinsumDense): expected inputs of rank exactly 3 for the equation 'abc,cd->abd', got shape "
            "(2, 5) of rank 2. Fix: one letter per input axis (the batch included), or '...' for the axes")):
        EinsumDense("abc,cd->abd", (None, 4), name="e")(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=re.escape("expected inputs of rank more than 1 for the equation "
                                                   "'...x,xy->...y', got shape (5,) of rank 1")):
        EinsumDense("...x,xy->...y", 4, name="e")(torch.zeros(5))
    with pytest.raises(ValueError, match=re.escape(
            "Layer 'e' (EinsumDense): expected output axis 'b' to have the size of input axis 'b', 3, got 7 in "
            "output_shape. Fix: None (or 3) for that entry of output_shape;")):
        EinsumDense("abc,cd->abd", (7, 4), name="e")(torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match=re.escape(
            "Layer 'e' (EinsumDense): expected known sizes for the kernel 'bd' and the bias, got kernel (5, None), "
            "bias None from inputs of shape (2, 5). Fix: give the sizes in output_shape")):
        EinsumDense("ab,bd->ad", (None,), name="e")(torch.zeros(2, 5))


def test_docstring_example_runs():
    import doctest

    failures, tried = doctest.testmod(einsum_dense)
    assert tried > 0 and failures == 0


def test_summary_shows_the_equation_spelt_out_and_keeps_the_einsum_string():
    """summary(show_equations=True) spells the layer's own einsum out (its summed letters, bias and activation),
    as every layer's summary row shows its equation; ``layer.equation`` stays Keras's einsum string."""
    model = Sequential([Input((8, 16, 3)),
                        EinsumDense("abcd,de->abce", output_shape=(8, 16, 5), bias_axes="e", activation="relu"),
                        EinsumDense("...x,xy->...y", output_shape=4),
                        EinsumDense("abcd,def->abcef", output_shape=(None, None, 2, 3), bias_axes="ef", activation="tanh"),
                        EinsumDense("ab...,bc->ac...", output_shape=5)])
    lines: list[str] = []
    model.summary(show_equations=True, print_fn=lines.append)
    shown = [line.strip() for line in lines if line.startswith("    ")]
    assert shown == ["y[a,b,c,e] = relu(Σ_d x[a,b,c,d]·W[d,e] + b[e])",
                     "y[…,y] = Σ_x x[…,x]·W[x,y]",
                     "y[a,b,c,e,f] = tanh(Σ_d x[a,b,c,d]·W[d,e,f] + b[e,f])",
                     "y[a,c,…] = Σ_b x[a,b,…]·W[b,c]"]
    assert [layer.equation for layer in model.layers] == ["abcd,de->abce", "...x,xy->...y", "abcd,def->abcef",
                                                          "ab...,bc->ac..."]
