"""Merging layers against NumPy, shapes, and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract

RNG = np.random.default_rng(0)


def tensors(*shapes):
    arrays = [RNG.normal(size=s) for s in shapes]
    return arrays, [torch.from_numpy(a) for a in arrays]


@pytest.mark.parametrize("layer, reference", [
    (Add, lambda xs: xs[0] + xs[1] + xs[2]),
    (Multiply, lambda xs: xs[0] * xs[1] * xs[2]),
    (Average, lambda xs: (xs[0] + xs[1] + xs[2]) / 3),
    (Maximum, lambda xs: np.maximum(np.maximum(xs[0], xs[1]), xs[2])),
    (Minimum, lambda xs: np.minimum(np.minimum(xs[0], xs[1]), xs[2])),
])
def test_elementwise_merges_match_numpy(layer, reference):
    arrays, ts = tensors((2, 3, 4), (2, 3, 4), (2, 3, 4))
    out = layer()(ts)
    np.testing.assert_allclose(out.numpy(), reference(arrays), atol=1e-12)
    assert layer().compute_output_shape([(None, 3, 4)] * 3) == (None, 3, 4)


@pytest.mark.parametrize("layer, reference", [
    (Add, lambda xs: xs[0] + xs[1] + xs[2]),
    (Subtract, lambda xs: xs[0] - xs[1]),
    (Multiply, lambda xs: xs[0] * xs[1] * xs[2]),
    (Average, lambda xs: (xs[0] + xs[1] + xs[2]) / 3),
    (Maximum, lambda xs: np.maximum(np.maximum(xs[0], xs[1]), xs[2])),
    (Minimum, lambda xs: np.minimum(np.minimum(xs[0], xs[1]), xs[2])),
])
def test_elementwise_merges_broadcast_axes_of_size_1_as_keras_3(layer, reference):
    # keras.io's MIL example multiplies each (batch, 1) attention score with its (batch, 64) embedding
    shapes = [(2, 1, 4), (2, 3, 1), (2, 3, 4)][: 2 if layer is Subtract else 3]
    arrays, ts = tensors(*shapes)
    out = layer()(ts)
    assert out.shape == (2, 3, 4)
    np.testing.assert_allclose(out.numpy(), reference(arrays), atol=1e-12)
    assert layer().compute_output_shape([(None,) + s[1:] for s in shapes]) == (None, 3, 4)
    assert layer().compute_output_shape([(None, 1, 4), (None, None, 1)][: len(shapes)]) == (None, None, 4)


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_concatenate_matches_numpy_and_output_shape(axis):
    shapes = [(2, 3, 4), (2, 3, 4)]
    shapes[1] = tuple(5 if i == axis % 3 else d for i, d in enumerate(shapes[1]))
    arrays, ts = tensors(*shapes)
    layer = Concatenate(axis=axis)
    out = layer(ts)
    np.testing.assert_array_equal(out.numpy(), np.concatenate(arrays, axis=axis))
    assert layer.compute_output_shape([(None,) + s[1:] for s in shapes]) == (None,) + tuple(out.shape[1:])


def test_errors():
    _, ts = tensors((2, 3), (2, 4))
    with pytest.raises(ValueError, match=r"Add\): expected inputs whose shapes agree \(an axis of size 1 broadcasts\), "
                                         r"got \(2, 3\), \(2, 4\)\. Fix"):
        Add()(ts)
    with pytest.raises(ValueError, match=r"expected a list of at least two inputs"):
        Add()([ts[0]])
    _, ts = tensors((2, 3, 1), (2, 4, 2))
    with pytest.raises(ValueError, match=r"agree except on axis -1, got \(2, 3, 1\), \(2, 4, 2\)"):
        Concatenate()(ts)


# Found by tests/layers/test_properties.py.
def test_concatenate_axis_must_be_an_integer_axis_of_the_inputs():
    with pytest.raises(ValueError, match=r"Concatenate: expected axis to be an integer, got None\. Fix: Concatenate\(axis=-1\)"):
        Concatenate(axis=None)  # was: int(None) → TypeError without a fix
    a, b = torch.ones(2, 3), torch.ones(2, 4)
    with pytest.raises(ValueError, match=r"\(Concatenate\): expected a non-batch axis of inputs of rank 2 \(1 to 1, "
                                         r"or -1 to -1\), got axis=3\. Fix: Concatenate\(axis=-1\)"):
        Concatenate(axis=3)([a, b])  # was: torch's IndexError "Dimension out of range"
    assert Concatenate(axis=1)([a, b]).shape == (2, 7)


@pytest.mark.parametrize("layer", [Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot])
def test_inputs_with_different_batch_sizes(layer):
    # Add/Multiply broadcast a batch of 1 against 2 (a silent wrong shape); Average raised torch's RuntimeError.
    with pytest.raises(ValueError, match=rf"\({layer.__name__}\): expected the same number of samples in every "
                                         r"input, got shapes \(1, 3\), \(2, 3\)\. Fix: pass the inputs of the same samples"):
        (layer(axes=1) if layer is Dot else layer())([torch.ones(1, 3), torch.ones(2, 3)])


def test_subtract_matches_numpy_and_takes_exactly_two_inputs():
    arrays, ts = tensors((2, 3, 4), (2, 3, 4), (2, 3, 4))
    np.testing.assert_array_equal(Subtract()(ts[:2]).numpy(), arrays[0] - arrays[1])
    assert Subtract().compute_output_shape([(None, 3, 4)] * 2) == (None, 3, 4)
    with pytest.raises(ValueError, match=r"Layer 's' \(Subtract\): expected exactly two inputs, got 3\. Fix: "
                                         r"Subtract\(\)\(\[a, b\]\) computes a − b"):
        Subtract(name="s")(ts)
    with pytest.raises(ValueError, match=r"\(Subtract\): expected a list of at least two inputs"):
        Subtract()([ts[0]])


def test_maximum_and_minimum_gradients_go_to_the_chosen_input():
    a = torch.tensor([[1.0, 5.0]], requires_grad=True)
    b = torch.tensor([[3.0, 2.0]], requires_grad=True)
    Maximum()([a, b]).sum().backward()
    assert a.grad.tolist() == [[0.0, 1.0]] and b.grad.tolist() == [[1.0, 0.0]]


def test_in_a_functional_model_and_after_save_load(tmp_path):
    from brainnet.layers import Dense, Input
    from brainnet.models import Model, load_model

    a, b = Input((3,)), Input((3,))
    ha, hb = Dense(4)(a), Dense(4)(b)
    out = Dense(1)(Concatenate()([Subtract()([ha, hb]), Maximum()([ha, hb]), Minimum()([ha, hb])]))
    model = Model([a, b], out)
    xa, xb = RNG.normal(size=(6, 3)).astype("float32"), RNG.normal(size=(6, 3)).astype("float32")
    wa, ba, wb, bb, wo, bo = model.get_weights()
    h_a, h_b = xa @ wa + ba, xb @ wb + bb
    expected = np.concatenate([h_a - h_b, np.maximum(h_a, h_b), np.minimum(h_a, h_b)], axis=-1) @ wo + bo
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), expected, rtol=1e-5, atol=1e-5)
    model.save(tmp_path / "merge.brainnet")
    np.testing.assert_array_equal(load_model(tmp_path / "merge.brainnet").predict([xa, xb], verbose=0),
                                  model.predict([xa, xb], verbose=0))


# ------------------------------------------------------------------ Dot
def naive_dot(x, y, ax, ay, normalize=False):
    """Dot's docstring equation with explicit loops: out[b, p, q] = Σ_k x[b, p with k at ax] · y[b, q with k at ay]."""
    if normalize:
        x = x / np.maximum(np.sqrt((x * x).sum(axis=ax, keepdims=True)), 1e-7)
        y = y / np.maximum(np.sqrt((y * y).sum(axis=ay, keepdims=True)), 1e-7)
    rest_x = [d for i, d in enumerate(x.shape) if i not in (0, ax)]
    rest_y = [d for i, d in enumerate(y.shape) if i not in (0, ay)]
    out = np.zeros([x.shape[0]] + rest_x + rest_y)
    for b in range(x.shape[0]):
        for p in np.ndindex(*rest_x):
            for q in np.ndindex(*rest_y):
                total = 0.0
                for k in range(x.shape[ax]):
                    ix, iy = list(p), list(q)
                    ix.insert(ax - 1, k)
                    iy.insert(ay - 1, k)
                    total += x[(b, *ix)] * y[(b, *iy)]
                out[(b, *p, *q)] = total
    return out.reshape(-1, 1) if out.ndim == 1 else out


@pytest.mark.parametrize("shape_x, shape_y, axes, ax, ay", [
    ((3, 4), (3, 4), 1, 1, 1),
    ((3, 4), (3, 4), -1, 1, 1),
    ((2, 3, 5), (2, 3, 4), 1, 1, 1),
    ((2, 3, 5), (2, 4, 5), -1, 2, 2),
    ((2, 3, 5), (2, 7, 3), (1, 2), 1, 2),
    ((2, 5, 3), (2, 3, 4), (2, 1), 2, 1),
    ((2, 4), (2, 6, 4), (1, 2), 1, 2),
    ((2, 3, 4), (2, 3), (1, -1), 1, 1),
])
@pytest.mark.parametrize("normalize", [False, True])
def test_dot_matches_the_loops_of_its_equation(shape_x, shape_y, axes, ax, ay, normalize):
    (x, y), ts = tensors(shape_x, shape_y)
    layer = Dot(axes=axes, normalize=normalize)
    out = layer(ts)
    np.testing.assert_allclose(out.numpy(), naive_dot(x, y, ax, ay, normalize), rtol=1e-12, atol=1e-12)
    unknown = [(None,) + s[1:] for s in (shape_x, shape_y)]
    assert layer.compute_output_shape(unknown) == (None,) + tuple(out.shape[1:])
    assert layer.compute_output_shape([shape_x, shape_y]) == tuple(out.shape)


def test_dot_normalize_gives_the_cosine_similarity():
    x = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    y = torch.tensor([[6.0, 8.0], [0.0, 2.0]])
    np.testing.assert_allclose(Dot(axes=1, normalize=True)([x, y]).numpy(), [[1.0], [0.0]], atol=1e-7)
    np.testing.assert_allclose(Dot(axes=1)([x, y]).numpy(), [[50.0], [0.0]])


def test_dot_errors():
    with pytest.raises(ValueError, match=r"Dot: expected axes to be an integer or a pair of integers \(axis of the "
                                         r"first input, axis of the second\), got \(1, 2, 3\)\. Fix: Dot\(axes=1\)"):
        Dot(axes=(1, 2, 3))
    with pytest.raises(ValueError, match=r"Dot: expected normalize to be True or False, got 'yes'\. Fix: "
                                         r"Dot\(axes=1, normalize=True\)"):
        Dot(axes=1, normalize="yes")
    with pytest.raises(ValueError, match=r"Layer 'd' \(Dot\): expected the dot axes to have the same size, got 3 "
                                         r"\(axis 1 of \(2, 3\)\) and 4 \(axis 1 of \(2, 4\)\)\. Fix: choose axes of equal size"):
        Dot(axes=1, name="d")([torch.ones(2, 3), torch.ones(2, 4)])
    with pytest.raises(ValueError, match=r"\(Dot\): expected the dot axes to have the same size, got 5 \(axis 2 "
                                         r"of \(None, 3, 5\)\) and 3 \(axis 2 of \(None, 7, 3\)\)"):
        Dot(axes=2).compute_output_shape([(None, 3, 5), (None, 7, 3)])
    with pytest.raises(ValueError, match=r"\(Dot\): expected a non-batch axis of input 0 of shape \(2, 3\) \(1 to 1, "
                                         r"or -1 to -1\), got axis 0 \(axes=0\)\. Fix: Dot\(axes=-1\)"):
        Dot(axes=0)([torch.ones(2, 3), torch.ones(2, 3)])
    with pytest.raises(ValueError, match=r"expected a non-batch axis of input 1 of shape \(2, 3\) \(1 to 1, or -1 to "
                                         r"-1\), got axis 2 \(axes=\(1, 2\)\)"):
        Dot(axes=(1, 2))([torch.ones(2, 3), torch.ones(2, 3)])
    with pytest.raises(ValueError, match=r"\(Dot\): expected exactly two inputs, got 3\. Fix: Dot\(axes=\.\.\.\)\(\[a, b\]\)"):
        Dot(axes=1)([torch.ones(2, 3)] * 3)
    with pytest.raises(ValueError, match=r"\(Dot\): expected a list of at least two inputs"):
        Dot(axes=1)([torch.ones(2, 3)])


def test_dot_in_a_functional_model_trains_and_saves(tmp_path):
    from brainnet.layers import Dense, Input
    from brainnet.models import Model, load_model

    a, b = Input((3,)), Input((4, 3))
    ha = Dense(5)(a)
    hb = Dense(5)(b)
    scores = Dot(axes=(1, 2), name="scores")([ha, hb])  # (None, 4)
    cosine = Dot(axes=-1, normalize=True)([ha, Dense(5)(a)])  # (None, 1)
    model = Model([a, b], Concatenate()([scores, cosine]))
    assert model.output_shape == (None, 5)
    xa, xb = RNG.normal(size=(6, 3)).astype("float32"), RNG.normal(size=(6, 4, 3)).astype("float32")
    wa, ba, wb, bb, wc, bc = (w.astype("float64") for w in model.get_weights())
    h_a, h_b, h_c = xa @ wa + ba, xb @ wb + bb, xa @ wc + bc
    expected = np.concatenate([naive_dot(h_a, h_b, 1, 2), naive_dot(h_a, h_c, 1, 1, normalize=True)], axis=-1)
    np.testing.assert_allclose(model.predict([xa, xb], verbose=0), expected, rtol=1e-5, atol=1e-5)
    model.compile(optimizer="sgd", loss="mse")
    model.fit([xa, xb], np.zeros((6, 5), "float32"), epochs=1, verbose=0)
    model.save(tmp_path / "dot.brainnet")
    loaded = load_model(tmp_path / "dot.brainnet")
    assert loaded.get_layer("scores").get_config()["axes"] == [1, 2]
    np.testing.assert_array_equal(loaded.predict([xa, xb], verbose=0), model.predict([xa, xb], verbose=0))


def test_keras_functional_shorthands_are_the_layers_called_on_the_list():
    from brainnet import layers

    rng = np.random.default_rng(0)
    a, b = (torch.from_numpy(rng.normal(size=(3, 4))) for _ in range(2))
    na, nb = a.numpy(), b.numpy()
    expected = {
        "add": na + nb, "subtract": na - nb, "multiply": na * nb, "average": (na + nb) / 2,
        "maximum": np.maximum(na, nb), "minimum": np.minimum(na, nb),
        "concatenate": np.concatenate([na, nb], axis=-1), "dot": (na * nb).sum(-1, keepdims=True),
    }
    for name, want in expected.items():
        np.testing.assert_allclose(getattr(layers, name)([a, b]).numpy(), want, rtol=1e-12, err_msg=name)
    x, y = layers.Input((4,)), layers.Input((4,))
    merged = layers.concatenate([x, y], axis=1, name="joined")  # arguments go to the layer
    assert merged.shape == (None, 8) and merged.node.layer.name == "joined"
    assert isinstance(merged.node.layer, layers.Concatenate)
