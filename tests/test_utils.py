"""utils.to_categorical, utils.normalize, utils.pad_sequences and utils.set_random_seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import Dense
from brainnet.utils import normalize, pad_sequences, set_random_seed, to_categorical


# ------------------------------------------------------------ to_categorical
def test_to_categorical_values_and_shape():
    out = to_categorical([0, 2, 1, 2])
    assert out.shape == (4, 3)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]])
    for i, y in enumerate([0, 2, 1, 2]):
        assert out[i, y] == 1 and out[i].sum() == 1


def test_to_categorical_num_classes_and_dtype():
    out = to_categorical(np.array([1, 0]), num_classes=4, dtype="float64")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[0, 1, 0, 0], [1, 0, 0, 0]])


def test_to_categorical_n_1_input_drops_trailing_axis():
    out = to_categorical(np.array([[2], [0], [1]]), 3)
    assert out.shape == (3, 3)
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[[2, 0, 1]])


def test_to_categorical_higher_rank_and_integral_floats():
    y = np.array([[0, 1], [2, 1]])
    out = to_categorical(y, 3)
    assert out.shape == (2, 2, 3)
    for i in range(2):
        for j in range(2):
            assert out[i, j].tolist() == [1.0 if k == y[i, j] else 0.0 for k in range(3)]
    np.testing.assert_array_equal(to_categorical(np.array([0.0, 2.0])), [[1, 0, 0], [0, 0, 1]])


def test_to_categorical_accepts_torch_tensor():
    np.testing.assert_array_equal(to_categorical(torch.tensor([1, 0])), [[0, 1], [1, 0]])


@pytest.mark.parametrize("y", [["cat", "dog"], np.array([0.5, 1.0])])
def test_to_categorical_non_integer_labels(y):
    with pytest.raises(
        ValueError,
        match=r"to_categorical: expected integer class labels, got dtype .*Fix: to_categorical\(y\.astype\(int\)\)\.",
    ):
        to_categorical(y)


def test_to_categorical_negative_label():
    with pytest.raises(ValueError, match=r"to_categorical: expected labels in 0\.\.2, got -1\. Fix:"):
        to_categorical([0, -1, 2], 3)


def test_to_categorical_label_too_large():
    with pytest.raises(
        ValueError,
        match=r"to_categorical: expected labels in 0\.\.2, got 5\. Fix: num_classes=6 or correct the labels\.",
    ):
        to_categorical([0, 5, 1], num_classes=3)


# ----------------------------------------------------------- set_random_seed
def _dense_kernel(seed: int) -> torch.Tensor:
    set_random_seed(seed)
    layer = Dense(8)
    layer(torch.zeros(1, 6))
    return layer.kernel.detach().clone()


def test_same_seed_same_weights():
    assert torch.equal(_dense_kernel(123), _dense_kernel(123))


def test_different_seed_different_weights():
    assert not torch.equal(_dense_kernel(123), _dense_kernel(124))


def test_seed_covers_numpy_and_python():
    import random

    set_random_seed(5)
    a = (np.random.rand(), random.random())
    set_random_seed(5)
    assert (np.random.rand(), random.random()) == a


@pytest.mark.parametrize("seed", [-1, 1.5, "1", True])
def test_set_random_seed_validation(seed):
    with pytest.raises(ValueError, match=r"set_random_seed: expected a non-negative integer, got .*"
                                         r"Fix: set_random_seed\(42\)\."):
        set_random_seed(seed)


# ------------------------------------------------------------ normalize
def naive_normalize(x, axis, order):
    """x / ‖x‖_p along axis, one vector at a time, in float64; a zero vector stays zero."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    out = np.zeros_like(x)
    for index in np.ndindex(*x.shape[:-1]):
        v = [abs(float(e)) for e in x[index]]
        norm = max(v) if order == float("inf") else sum(e ** order for e in v) ** (1.0 / order)
        out[index] = x[index] / norm if norm else 0.0
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("order", [1, 2, 3, float("inf")])
@pytest.mark.parametrize("axis", [-1, 0, 1, -3])
def test_normalize_against_the_equation(axis, order):
    x = np.random.default_rng(0).normal(size=(3, 4, 5))
    x[1, :, 2] = 0.0  # zero vectors along axis 1, and zero entries along the others
    before = x.copy()
    want = naive_normalize(x, axis, order)
    got = normalize(x, axis=axis, order=order)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == x.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    tensor = normalize(torch.from_numpy(x), axis=axis, order=order)
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float64
    np.testing.assert_allclose(tensor.numpy(), want, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(x, before)  # the input is not changed in place


def test_normalize_dtypes_and_kinds_follow_keras():
    ints = np.array([[3, 4], [0, 0]])
    np.testing.assert_array_equal(normalize(ints), [[0.6, 0.8], [0.0, 0.0]])
    assert normalize(ints).dtype == np.float64  # NumPy's true division
    assert normalize(ints.astype(np.float32)).dtype == np.float32
    assert isinstance(normalize([[3, 4]]), np.ndarray)  # a list comes back as an array
    t = normalize(torch.tensor([[3, 4], [0, 0]]))
    assert t.dtype == torch.float32  # integers become torch's default float type
    torch.testing.assert_close(t, torch.tensor([[0.6, 0.8], [0.0, 0.0]]))
    tiny = torch.tensor([1e-9, 0.0], dtype=torch.float64)  # the tensor path divides by max(norm, 1e-7)
    torch.testing.assert_close(normalize(tiny), tiny / 1e-7)
    np.testing.assert_allclose(normalize(tiny.numpy()), [1.0, 0.0])  # the NumPy path by the norm itself


def test_normalize_errors():
    with pytest.raises(ValueError, match=r"normalize: expected order to be a positive integer or float\('inf'\), "
                                         r"got 0\. Fix: normalize\(x, order=2\)"):
        normalize(np.ones(3), order=0)
    with pytest.raises(ValueError, match=r"got 1\.5\. Fix:"):
        normalize(torch.ones(3), order=1.5)
    with pytest.raises(ValueError, match=r"normalize: expected axis to be an integer in \[-2, 1\] for an array of "
                                         r"shape \(2, 3\), got 2\. Fix: normalize\(x, axis=-1\) for the last axis\."):
        normalize(np.ones((2, 3)), axis=2)
    with pytest.raises(ValueError, match=r"got None\. Fix: normalize\(x, axis=-1\)"):
        normalize(torch.ones(2, 3), axis=None)
    with pytest.raises(ValueError, match=r"normalize: expected an array with at least one axis, got the scalar 3\.0\. "
                                         r"Fix: normalize\(np\.atleast_1d\(x\)\)\."):
        normalize(np.float64(3.0))
    with pytest.raises(ValueError, match=r"normalize: expected numbers, got dtype <U1\. Fix: convert the values"):
        normalize(["a", "b"])
    with pytest.raises(ValueError, match=r"expected numbers, got dtype torch\.complex64\. Fix:"):
        normalize(torch.ones(2, dtype=torch.complex64))


# ------------------------------------------------------------ pad_sequences
def naive_pad(sequences, maxlen, padding, truncating, value):
    """One row at a time, by the rule's words: cut from the start (pre) or the end
    (post), then fill the start (pre) or the end (post)."""
    rows = []
    for seq in sequences:
        seq = list(seq)
        while len(seq) > maxlen:
            seq = seq[1:] if truncating == "pre" else seq[:-1]
        fill = [value] * (maxlen - len(seq))
        rows.append(fill + seq if padding == "pre" else seq + fill)
    return np.array(rows, dtype="float64").reshape(len(sequences), maxlen)


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
@pytest.mark.parametrize("maxlen", [None, 0, 1, 3, 7])
def test_pad_sequences_against_the_rule_row_by_row(padding, truncating, maxlen):
    sequences = [[1, 2, 3, 4, 5], [6], [], [7, 8, 9]]
    got = pad_sequences(sequences, maxlen=maxlen, padding=padding, truncating=truncating, value=-1)
    want = naive_pad(sequences, 5 if maxlen is None else maxlen, padding, truncating, -1)
    assert got.dtype == np.int32 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_pad_sequences_keeps_feature_vectors_and_dtype():
    steps = [np.ones((2, 3)), np.full((4, 3), 2.0)]
    out = pad_sequences(steps, dtype="float32", padding="post", value=0.5)
    assert out.shape == (2, 4, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0, :2], 1.0)
    np.testing.assert_array_equal(out[0, 2:], 0.5)
    np.testing.assert_array_equal(out[1], 2.0)
    assert pad_sequences([]).shape == (0, 0)


def test_pad_sequences_errors():
    with pytest.raises(ValueError, match=r"pad_sequences: expected padding to be 'pre' or 'post', got 'left'\. "
                                         r"Fix: pad_sequences\(sequences, padding='post'\)\."):
        pad_sequences([[1]], padding="left")
    with pytest.raises(ValueError, match=r"expected truncating to be 'pre' or 'post', got 'end'"):
        pad_sequences([[1]], truncating="end")
    with pytest.raises(ValueError, match=r"pad_sequences: expected maxlen to be a non-negative integer or None, "
                                         r"got -2\. Fix: pad_sequences\(sequences, maxlen=100\)\."):
        pad_sequences([[1]], maxlen=-2)
    with pytest.raises(ValueError, match=r"pad_sequences: expected a list of sequences, got int 3 at index 0\. Fix: "
                                         r"put each sequence in a list, e\.g\. \[\[1, 2, 3\], \[4, 5\]\] rather than "
                                         r"\[1, 2, 3\]\."):
        pad_sequences([3, 4])
    with pytest.raises(ValueError, match=r"pad_sequences: expected a list of sequences, got str\. Fix: "):
        pad_sequences("hello")
    with pytest.raises(ValueError, match=r"pad_sequences: expected every step to have shape \(3,\), as the first "
                                         r"non-empty sequence's, got \(2,\) in sequence 1\. Fix: give every step"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 2))])


def test_pad_sequences_is_also_keras_preprocessing_sequence():
    # Keras 3 tutorials write keras.preprocessing.sequence.pad_sequences; one function under both names.
    import brainnet
    from brainnet.preprocessing.sequence import pad_sequences as from_sequence

    assert from_sequence is brainnet.preprocessing.sequence.pad_sequences is pad_sequences
    np.testing.assert_array_equal(from_sequence([[1, 2, 3], [4]], maxlen=2, padding="post"), [[2, 3], [4, 0]])
    assert "sequence" in brainnet.preprocessing.__all__


# ------------------------------------------------------------ pack_x_y_sample_weight / unpack_x_y_sample_weight
def test_pack_and_unpack_x_y_sample_weight_round_trip():
    from brainnet.utils import pack_x_y_sample_weight, unpack_x_y_sample_weight

    x, y, w = np.ones((4, 2)), np.zeros((4, 1)), np.arange(4.0)
    inputs = [x, x]
    assert pack_x_y_sample_weight(x) is x  # one input: no tuple, as Keras
    assert pack_x_y_sample_weight([x, x]) == ([x, x],)  # several inputs: wrapped so they are not read as (x, y)
    assert pack_x_y_sample_weight((x, x)) == ((x, x),)
    assert pack_x_y_sample_weight(x, y) == (x, y)
    assert pack_x_y_sample_weight(x, y, w) == (x, y, w)
    assert pack_x_y_sample_weight(x, None, w) == (x, None, w)  # Keras drops w here (docs/keras.md)
    for packed, want in [(x, (x, None, None)), ((x,), (x, None, None)), ((x, y), (x, y, None)),
                         ([x, y], (x, y, None)), ((x, y, w), (x, y, w)), ((inputs,), (inputs, None, None))]:
        got = unpack_x_y_sample_weight(packed)
        assert isinstance(got, tuple) and len(got) == 3
        assert all(a is b for a, b in zip(got, want))
    for args in [(x,), (inputs,), (x, y), (x, y, w)]:
        unpacked = unpack_x_y_sample_weight(pack_x_y_sample_weight(*args))
        assert all(a is b for a, b in zip(unpacked, tuple(args) + (None,) * (3 - len(args))))
    with pytest.raises(ValueError, match=r"expected data as x, \(x,\), \(x, y\) or \(x, y, sample_weight\), got a "
                                         r"tuple of 4 elements\. Fix: make each batch \(x, y\)"):
        unpack_x_y_sample_weight((x, y, w, w))


def test_unpack_x_y_sample_weight_in_a_custom_train_step():
    """Keras 3's guide: a train_step that unpacks its batch, here fed sample weights by fit."""
    from brainnet.models import Sequential
    from brainnet.utils import unpack_x_y_sample_weight

    seen = []

    class Weighted(Sequential):
        def train_step(self, data):
            x, y, sample_weight = unpack_x_y_sample_weight(data)
            seen.append((tuple(x.shape), tuple(y.shape), None if sample_weight is None else sample_weight.tolist()))
            return super().train_step(data)

    set_random_seed(0)
    model = Weighted([Dense(1, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse")
    x, y, w = np.ones((4, 3), "float32"), np.zeros((4, 1), "float32"), np.array([1.0, 2.0, 3.0, 4.0], "float32")
    model.fit(x, y, sample_weight=w, batch_size=4, epochs=1, shuffle=False, verbose=0)
    model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    assert seen == [((4, 3), (4, 1), [1.0, 2.0, 3.0, 4.0]), ((2, 3), (2, 1), None), ((2, 3), (2, 1), None)]


def test_pack_and_unpack_docstring_examples_run():
    import doctest

    import brainnet.utils

    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    for function in (brainnet.utils.pack_x_y_sample_weight, brainnet.utils.unpack_x_y_sample_weight):
        for test in finder.find(function, globs=vars(brainnet.utils)):
            runner.run(test)
    assert runner.tries >= 2 and runner.failures == 0
