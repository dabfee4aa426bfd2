"""CTC: ``brainnet.losses.CTC`` / ``ctc`` and ``brainnet.utils.ctc_loss`` /
``ctc_decode`` (Keras 3's ``keras.losses.CTC`` and ``keras.ops.ctc_*``),
checked against naive NumPy versions of their equations: the forward
algorithm over the blank-extended labels (and, for a few steps, the sum over
every path), greedy decoding step by step, and the best label sequences
found by enumerating every path.
"""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest
import torch

import brainnet as keras
import brainnet._ctc
from brainnet.utils import ctc_decode, ctc_loss


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _collapse(path, blank):
    """B(π): merge repeated classes, then drop blanks."""
    merged = [c for t, c in enumerate(path) if t == 0 or c != path[t - 1]]
    return tuple(c for c in merged if c != blank)


def numpy_ctc(labels, logits, blank):
    """−log p(y | x) by the forward algorithm (Graves et al. 2006), float64:
    α_t(s) over the extended sequence ␣ y1 ␣ y2 … ␣."""
    p = np.exp(_log_softmax(logits.astype("float64")))
    ext = [blank]
    for c in labels:
        ext += [c, blank]
    steps, n = len(p), len(ext)
    alpha = np.zeros((steps, n))
    alpha[0, 0] = p[0, blank]
    if n > 1:
        alpha[0, 1] = p[0, ext[1]]
    for t in range(1, steps):
        for s in range(n):
            a = alpha[t - 1, s] + (alpha[t - 1, s - 1] if s >= 1 else 0.0)
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                a += alpha[t - 1, s - 2]
            alpha[t, s] = a * p[t, ext[s]]
    total = alpha[-1, -1] + (alpha[-1, -2] if n > 1 else 0.0)
    return -np.log(total)


def numpy_ctc_by_paths(labels, logits, blank):
    """−log Σ_{π : B(π) = y} Π_t p_t(π_t), every path enumerated."""
    p = np.exp(_log_softmax(logits.astype("float64")))
    steps, classes = p.shape
    total = sum(np.prod(p[np.arange(steps), path]) for path in itertools.product(range(classes), repeat=steps)
                if _collapse(path, blank) == tuple(labels))
    return -np.log(total)


def test_the_forward_reference_is_the_sum_over_every_path():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 4))
    for labels, blank in [([1, 2], 0), ([1, 1], 0), ([2, 0, 0], 3), ([], 0)]:
        assert numpy_ctc(labels, logits, blank) == pytest.approx(numpy_ctc_by_paths(labels, logits, blank))


def test_ctc_loss_matches_the_numpy_forward_algorithm_with_lengths_and_blank():
    rng = np.random.default_rng(1)
    batch, steps, classes = 4, 12, 6
    logits = rng.normal(size=(batch, steps, classes)).astype("float32")
    target = np.array([[1, 2, 2, 3], [4, 4, 0, 0], [5, 1, 3, 0], [2, 0, 0, 0]])
    target_length, output_length = np.array([4, 2, 3, 1]), np.array([12, 9, 7, 3])
    got = ctc_loss(target, torch.tensor(logits), target_length, output_length, mask_index=0)
    want = [numpy_ctc(target[i, :target_length[i]], logits[i, :output_length[i]], 0) for i in range(batch)]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)
    # the last class as the blank (tf.compat.v1.nn.ctc_loss's): labels 0..C-2
    labels = np.array([[0, 1, 1, 4], [3, 3, 0, 0], [2, 0, 1, 0], [4, 0, 0, 0]])
    got = ctc_loss(labels, logits, target_length, output_length, mask_index=-1)
    want = [numpy_ctc(labels[i, :target_length[i]], logits[i, :output_length[i]], classes - 1) for i in range(batch)]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)


def test_ctc_loss_takes_log_probabilities_unchanged_and_gives_inf_without_an_alignment():
    logits = torch.randn(1, 4, 3, dtype=torch.float64)
    log_p = torch.log_softmax(logits, -1)
    np.testing.assert_allclose(ctc_loss([[1, 2]], log_p, [2], [4]), ctc_loss([[1, 2]], logits, [2], [4]))
    # "a a" needs a blank between the two a's: 3 steps at least, 2 given
    assert torch.isinf(ctc_loss([[1, 1]], logits, [2], [2])).all()


def test_keras_ctc_reads_zero_padding_and_every_step_and_the_class_reduces():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(3, 8, 5)).astype("float32")
    y_true = np.array([[1, 2, 3], [4, 0, 0], [2, 2, 0]])
    want = np.array([numpy_ctc([c for c in row if c], logits[i], 0) for i, row in enumerate(y_true)])
    np.testing.assert_allclose(keras.losses.ctc(y_true, logits).numpy(), want, rtol=1e-5)
    assert float(keras.losses.CTC()(y_true, logits)) == pytest.approx(want.mean(), rel=1e-5)
    assert float(keras.losses.CTC(reduction="sum")(y_true, logits)) == pytest.approx(want.sum(), rel=1e-5)
    w = np.array([1.0, 0.0, 2.0])
    assert float(keras.losses.CTC()(y_true, logits, sample_weight=w)) == pytest.approx((w * want).mean(), rel=1e-5)
    np.testing.assert_allclose(keras.losses.CTC(reduction=None)(y_true, logits).numpy(), want, rtol=1e-5)


def test_the_ctc_loss_is_found_by_name_and_its_config_round_trips():
    for name in ("ctc", "CTC"):
        assert isinstance(keras.losses.get(name), keras.losses.CTC)
    assert isinstance(keras.losses.get(keras.losses.ctc), keras.losses.CTC)
    loss = keras.losses.CTC(reduction="sum", name="my_ctc")
    assert loss.get_config() == {"name": "my_ctc", "reduction": "sum"}
    again = keras.losses.CTC(**loss.get_config())
    assert (again.name, again.reduction) == ("my_ctc", "sum")


def test_a_model_compiled_with_the_ctc_loss_learns_to_read_its_sequences():
    """Keras 3's way: the model gives logits; compile(loss=keras.losses.CTC())."""
    rng = np.random.default_rng(3)
    keras.utils.set_random_seed(3)
    steps, classes = 8, 4
    # each sample shows its two labels (1..3) as one-hot blocks over steps 1-2 and 5-6
    y = rng.integers(1, classes, size=(256, 2))
    x = np.zeros((256, steps, classes), dtype="float32")
    x[np.arange(256)[:, None], [[1, 2]], y[:, :1]] = 1.0
    x[np.arange(256)[:, None], [[5, 6]], y[:, 1:]] = 1.0
    model = keras.Sequential([keras.Input(shape=(steps, classes)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(classes)])
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=keras.losses.CTC())
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]
    decoded, _ = ctc_decode(model.predict(x, verbose=0), np.full(256, steps))
    assert np.mean(np.all(decoded[0][:, :2] == y, axis=1)) > 0.9


def numpy_greedy(scores, length, blank, merge_repeated=True):
    out, previous = [], None
    for t in range(length):
        c = int(np.argmax(scores[t]))
        if c != blank and not (merge_repeated and c == previous):
            out.append(c)
        previous = c
    return out


def test_greedy_decoding_matches_numpy_step_by_step():
    rng = np.random.default_rng(4)
    batch, steps, classes = 6, 10, 4
    # few classes and peaked scores, so that repeats and blanks occur
    scores = rng.normal(size=(batch, steps, classes)) * 3
    lengths = np.array([10, 7, 1, 0, 10, 4])
    for merge in (True, False):
        for blank in (0, classes - 1):
            decoded, log_p = ctc_decode(scores, lengths, merge_repeated=merge, mask_index=blank)
            assert decoded.shape == (1, batch, steps) and decoded.dtype == np.int32 and log_p.shape == (batch, 1)
            for i in range(batch):
                want = numpy_greedy(scores[i], lengths[i], blank, merge)
                assert decoded[0, i].tolist() == want + [-1] * (steps - len(want))
            np.testing.assert_allclose(log_p[:, 0], [-scores[i, :n].max(-1).sum() for i, n in enumerate(lengths)])
    # tensors in, tensors out
    decoded, _ = ctc_decode(torch.tensor(scores), torch.tensor(lengths))
    assert isinstance(decoded, torch.Tensor) and decoded.dtype == torch.int32


def test_beam_search_finds_the_most_probable_label_sequences_of_an_exhaustive_search():
    rng = np.random.default_rng(5)
    steps, classes = 5, 3
    logits = rng.normal(size=(2, steps, classes)) * 1.5
    decoded, log_p = ctc_decode(logits, [steps, 4], strategy="beam_search", beam_width=200, top_paths=3, mask_index=0)
    assert decoded.shape == (3, 2, steps) and log_p.shape == (2, 3)
    for i, n in enumerate([steps, 4]):
        p = np.exp(_log_softmax(logits[i, :n]))
        totals: dict = {}
        for path in itertools.product(range(classes), repeat=n):
            key = _collapse(path, 0)
            totals[key] = totals.get(key, 0.0) + np.prod(p[np.arange(n), path])
        best = sorted(totals.items(), key=lambda kv: -kv[1])[:3]
        for k, (labels, prob) in enumerate(best):
            assert [c for c in decoded[k, i] if c >= 0] == list(labels)
            assert log_p[i, k] == pytest.approx(np.log(prob))


def _ctc_model_with_accuracy():
    model = keras.Sequential([keras.Input(shape=(6, 4)), keras.layers.Dense(5)])
    model.compile(optimizer="adam", loss="ctc", metrics=["accuracy"])
    model.evaluate(np.zeros((2, 6, 4), dtype="float32"), np.ones((2, 2)), verbose=0)


@pytest.mark.parametrize("call, match", [
    (_ctc_model_with_accuracy, r"metrics=\['accuracy'\] with the ctc loss: expected a metric .*ctc_decode"),
    (lambda: ctc_loss([1, 2], np.zeros((1, 3, 3)), [2], [3]), r"ctc_loss: expected y_true of shape"),
    (lambda: ctc_loss([[1, 2]], np.zeros((3, 3)), [2], [3]), r"ctc_loss: expected y_pred of shape"),
    (lambda: ctc_loss([[1, 2]], np.zeros((2, 3, 3)), [2], [3]), r"ctc_loss: expected as many label rows"),
    (lambda: ctc_loss([[1, 2]], np.zeros((1, 3, 3)), [2], [3], mask_index=3), r"expected mask_index"),
    (lambda: keras.losses.CTC()([[1, 2]], np.zeros((1, 3))), r"ctc: expected y_pred of shape"),
    (lambda: ctc_decode(np.zeros((1, 3, 3)), [3], strategy="beam"), r"expected strategy 'greedy' or"),
    (lambda: ctc_decode(np.zeros((3, 3)), [3]), r"ctc_decode: expected inputs of shape"),
])
def test_ctc_errors_say_what_was_expected_and_the_fix(call, match):
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert "Fix:" in str(info.value)


def test_the_docstring_examples_run():
    failures, tried = doctest.testmod(brainnet._ctc)
    assert tried > 0 and failures == 0


def test_keras2_ctc_batch_cost_reads_probabilities_with_the_last_class_blank_and_padding_that_ends_labels():
    """keras.backend.ctc_batch_cost, as keras.io's older OCR examples call it."""
    rng = np.random.default_rng(6)
    batch, steps, classes = 3, 10, 5
    p = np.exp(_log_softmax(rng.normal(size=(batch, steps, classes)))).astype("float32")
    y_true = np.array([[0, 1, 2, 99], [3, 3, 99, 99], [1, 0, 2, 3]])
    label_length = np.array([[4], [4], [2]])  # row 3: its first 2 labels only
    got = keras.backend.ctc_batch_cost(y_true, p, np.full((batch, 1), steps), label_length)
    assert tuple(got.shape) == (batch, 1)
    labels = [[0, 1, 2], [3, 3], [1, 0]]  # each row up to its first value ≥ C − 1 = 4, or its label_length
    want = [numpy_ctc(labels[i], np.log(p[i].astype("float64") + keras.backend.epsilon()), classes - 1)
            for i in range(batch)]
    np.testing.assert_allclose(got[:, 0].numpy(), want, rtol=1e-5)


def test_keras2_ctc_decode_greedy_and_beam_search_with_the_last_class_blank():
    rng = np.random.default_rng(7)
    batch, steps, classes = 4, 6, 3
    p = np.exp(_log_softmax(rng.normal(size=(batch, steps, classes)) * 2))
    lengths = np.array([6, 6, 3, 5])
    decoded, log_prob = keras.backend.ctc_decode(p, lengths)
    assert isinstance(decoded, list) and len(decoded) == 1 and decoded[0].shape == (batch, steps)
    log_p = np.log(p + keras.backend.epsilon())
    for i in range(batch):
        want = numpy_greedy(p[i], lengths[i], classes - 1)
        assert decoded[0][i].tolist() == want + [-1] * (steps - len(want))
        assert log_prob[i, 0] == pytest.approx(-log_p[i, :lengths[i]].max(-1).sum())
    paths, scores = keras.backend.ctc_decode(p, lengths, greedy=False, beam_width=100, top_paths=2)
    assert len(paths) == 2 and scores.shape == (batch, 2)
    for i in range(batch):
        n = lengths[i]
        totals: dict = {}
        for path in itertools.product(range(classes), repeat=n):
            key = _collapse(path, classes - 1)
            totals[key] = totals.get(key, 0.0) + np.prod(p[i, np.arange(n), path])
        best = sorted(totals.items(), key=lambda kv: -kv[1])[:2]
        for k, (labels, prob) in enumerate(best):
            assert [c for c in paths[k][i] if c >= 0] == list(labels)
            assert scores[i, k] == pytest.approx(np.log(prob), abs=1e-4)


def test_the_keras2_ctc_docstring_examples_run_and_their_errors_teach():
    import brainnet._ctc_legacy
    failures, tried = doctest.testmod(brainnet._ctc_legacy)
    assert tried > 0 and failures == 0
    with pytest.raises(ValueError, match=r"ctc_batch_cost: expected y_true of shape .* Fix: pad the labels"):
        keras.backend.ctc_batch_cost([1, 2], np.zeros((1, 3, 3)), [[3]], [[2]])
    with pytest.raises(ValueError, match=r"ctc_decode: expected y_pred of shape .* Fix: pass the model's"):
        keras.backend.ctc_decode(np.zeros((3, 3)), [3])
    p = np.full((2, 3, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"got label 1 after padding in row 1: \[0, 99, 1\]\. Fix: pad at the end"):
        keras.backend.ctc_batch_cost([[0, 1, 99], [0, 99, 1]], p, [[3], [3]], [[3], [3]])
    with pytest.raises(ValueError, match=r"got 2 labels \[1, 1\] for 2 steps in row 0\. Fix: downsample"):
        keras.backend.ctc_batch_cost([[1, 1]], p[:1, :2], [[2]], [[2]])


def test_half_precision_outputs_are_read_in_float32():
    rng = np.random.default_rng(8)
    logits = torch.tensor(rng.normal(size=(2, 6, 4)), dtype=torch.float32)
    y = [[1, 2], [3, 0]]
    half = ctc_loss(y, logits.half(), [2, 1], [6, 6])
    assert half.dtype == torch.float32
    np.testing.assert_allclose(half.numpy(), ctc_loss(y, logits.half().float(), [2, 1], [6, 6]).numpy())
