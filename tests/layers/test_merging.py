"""Merging layers against NumPy, shapes, and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract

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
    with pytest.raises(ValueError, match=r"Add\): expected inputs whose shapes agree, got \(2, 3\), \(2, 4\).*Fix"):
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


@pytest.mark.parametrize("layer", [Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate])
def test_inputs_with_different_batch_sizes(layer):
    # Add/Multiply broadcast a batch of 1 against 2 (a silent wrong shape); Average raised torch's RuntimeError.
    with pytest.raises(ValueError, match=rf"\({layer.__name__}\): expected the same number of samples in every "
                                         r"input, got shapes \(1, 3\), \(2, 3\)\. Fix: pass the inputs of the same samples"):
        layer()([torch.ones(1, 3), torch.ones(2, 3)])


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
