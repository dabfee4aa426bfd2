"""The CUDA-graph training step's bookkeeping, checked on the CPU with a simulated graph.

A real CUDA graph runs none of the kernels it records while it is captured
(only the Python runs, once), and each replay runs the recorded kernels again
on the same memory, without any Python. ``SimulatedGraph`` behaves the same
with CPU tensors:

* capture runs the step's body, then puts back every tensor the body changed
  (weights, gradients, optimizer state, the metrics' totals) and the random
  generators' states (torch's, seeded layers'), as if no kernel had run;
* replay runs the body again and then puts back what a replay cannot change:
  the host-side values (the metrics' counts) and the Python attributes (it
  fails if a metric's total became another tensor, which a graph could never
  do); its results are copied into the tensors the capture returned, which is
  where a graph's kernels write.

What this checks is the step object's and ``fit``'s part (the static index,
gathering inside the graph, the counts added after each replay, the ragged
last batch, recapture): the same History and weights as the eager loop. The
real graph is checked on a GPU by ``test_fast_path.py::test_cuda_*``.
"""

import contextlib

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from brainnet.layers import Dense, Flatten
from brainnet.metrics import Metric
from brainnet.models import Sequential
from brainnet.optimizers import SGD
from brainnet.schedules import CosineDecay
from brainnet.training import graphs, jit as jit_module, trainer as trainer_module
from brainnet.utils import set_random_seed


class _Replay:
    def __init__(self, step, body, outputs):
        self.step, self.body, self.outputs = step, body, outputs
        self.memory = _memory(step)

    def replay(self):
        step = self.step
        # A real graph's kernels use the memory (and the gradients) of its capture,
        # whatever tensors Python holds now; re-running the body here reads Python's.
        # The two agree only if the step captured again whenever they differ.
        assert _memory(step) == self.memory, "replayed on memory the graph does not hold"
        metrics = step.metrics()
        counts, totals = [m.count for m in metrics], [id(m.total) for m in metrics]
        for p in _params(step):
            p.grad = None  # the captured backward writes the gradients, it does not add to them
        fresh = self.body()
        assert [id(m.total) for m in metrics] == totals, "a replay cannot replace a metric's total"
        for m, c in zip(metrics, counts):
            m.count = c  # host-side: not part of a replay
        for old, new in zip(_flat(self.outputs), _flat(fresh)):
            old.copy_(new)


def _flat(outputs):
    loss, losses, preds, yb, wb = outputs
    return [loss, *losses, *preds, *yb, *wb]


def _params(step):
    return [p for g in step.optimizer.torch_optimizer.param_groups for p in g["params"]]


def _memory(step):
    """What a captured step reads and writes, as addresses (and which weights train)."""
    opt = step.optimizer.torch_optimizer
    tensors = list(step.model_tensors()) + [t for s in opt.state.values() for t in s.values() if torch.is_tensor(t)]
    tensors += [g["lr"] for g in opt.param_groups] + list(step.optimizer.averages or ())
    return [t.data_ptr() for t in tensors] + [p.requires_grad for p in _params(step)]


class SimulatedGraphStep(graphs.CudaGraphStep):
    def _captured(self, body):
        state = _params(self) + [t for s in self.optimizer.torch_optimizer.state.values()
                                 for t in s.values() if torch.is_tensor(t)]
        state += [m.total for m in self.metrics() if torch.is_tensor(m.total)]
        state += list(self.optimizer.averages or ())  # use_ema's moving averages
        state += list(self.model_tensors())  # buffers too: BatchNormalization's statistics, SpectralNormalization's u
        saved = [t.detach().clone() for t in state]
        # Nor does it draw: a registered generator (torch's own, a seeded layer's) moves on
        # at each replay by what one step draws, never at the capture.
        generators = [torch.default_generator, *self.generators()]
        draws = [g.get_state() for g in generators]
        outputs = body()
        with torch.no_grad():
            for t, s in zip(state, saved):
                t.copy_(s)  # capturing runs no kernel
        for g, d in zip(generators, draws):
            g.set_state(d)
        for p in _params(self):
            p.grad = None
        return _Replay(self, body, outputs), outputs


def use_simulated_graphs(monkeypatch):
    """fit's graph step made a ``SimulatedGraphStep`` on the CPU; returns ``use(flag)``,
    which turns the graph step on (``True``) or off (the eager step) for the next fit.
    Seeded layers' generators (on the CPU here) stand for the CUDA ones a graph registers."""
    class _Stream:
        def wait_stream(self, other):
            pass

    monkeypatch.setattr(torch.cuda, "Stream", _Stream)
    monkeypatch.setattr(torch.cuda, "current_stream", _Stream)
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    monkeypatch.setattr(jit_module, "CudaGraphStep", SimulatedGraphStep)

    monkeypatch.setattr(trainer_module.Trainer, "_cuda_generators", lambda self: [
        g for g in (getattr(m, "_generator", None) for m in self.model.modules()) if isinstance(g, torch.Generator)])

    def use(flag):
        monkeypatch.setattr(trainer_module.Trainer, "wants_graphs", property(lambda self: flag))
    return use


@pytest.fixture
def simulated(monkeypatch):
    return use_simulated_graphs(monkeypatch)


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8, 8, 1)).astype("float32"), rng.integers(0, 10, n)


def _fit(metrics, shuffle=True, epochs=4, **steps):
    x, y = _data()
    set_random_seed(0)
    model = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(16, activation="relu"),
                        Dense(10, activation="softmax")])
    model.compile(SGD(CosineDecay(0.05, 30), momentum=0.9), "sparse_categorical_crossentropy", metrics,
                  device="cpu")
    set_random_seed(1)  # the same shuffling in every run
    history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, shuffle=shuffle,
                        validation_data=(x[:50], y[:50]), **steps)
    return model, history


def _same(a, b):
    (ma, ha), (mb, hb) = a, b
    assert ha.history.keys() == hb.history.keys()
    for key in ha.history:
        np.testing.assert_allclose(ha.history[key], hb.history[key], rtol=1e-5, err_msg=key)
    for p, q in zip(ma.parameters(), mb.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shuffle", [True, False])
def test_graph_step_trains_and_counts_like_the_eager_loop(simulated, shuffle):
    simulated(False)
    eager = _fit(["accuracy"], shuffle)
    assert eager[0].trainer.graph_step is None
    simulated(True)
    graphed = _fit(["accuracy"], shuffle)
    step = graphed[0].trainer.graph_step
    # 200 samples = 6 × 32 + 8: 3 warm-up steps, then 3 replays and one ragged step per epoch
    assert (step.captures, step.replays, step.eager_steps) == (1, 4 * 6 - 3, 3 + 4)
    assert step.record_in_graph and step.counts == [32, 0, 32]  # loss, the output's loss (one output: unused), accuracy
    assert graphed[0].trainer.optimizer.iterations == 4 * 7
    _same(graphed, eager)


def test_graph_step_with_steps_per_epoch_going_on_in_the_pass(simulated):
    # 7 batches a pass (the last of 8 samples), epochs of 3: 3, 3, 1 | 3, 3, 1 (the pass ends: Keras warns)
    simulated(False)
    with pytest.warns(UserWarning, match="got an epoch of 1"):
        eager = _fit(["accuracy"], epochs=6, steps_per_epoch=3, validation_steps=1)
    simulated(True)
    with pytest.warns(UserWarning, match="got an epoch of 1"):
        graphed = _fit(["accuracy"], epochs=6, steps_per_epoch=3, validation_steps=1)
    step = graphed[0].trainer.graph_step
    assert (step.captures, step.replays, step.eager_steps) == (1, 12 - 3, 3 + 2)  # the ragged batch runs eagerly
    assert graphed[0].trainer.optimizer.iterations == 14
    _same(graphed, eager)


def test_graph_step_with_a_metric_of_its_own_records_after_each_replay(simulated):
    def wrong(y_true, y_pred):  # a function metric: updated eagerly from the graph's outputs
        return (y_pred.argmax(-1) != y_true).float()

    simulated(False)
    eager = _fit(["accuracy", wrong], epochs=2)
    simulated(True)
    graphed = _fit(["accuracy", wrong], epochs=2)
    step = graphed[0].trainer.graph_step
    assert not step.record_in_graph and step.replays == 2 * 6 - 3
    _same(graphed, eager)


def test_graph_step_with_two_inputs_two_outputs_and_batch_logs(simulated):
    # Each output's loss and metric are summed in the graph; a batch callback
    # reads the running logs after every step, so every count must be current.
    from brainnet.callbacks import Callback
    from brainnet.layers import Concatenate, Input
    from brainnet.models import Model

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(200, 4)).astype("float32"), rng.normal(size=(200, 3)).astype("float32")
    label, target = (a[:, 0] > 0).astype("int64"), a.sum(1, keepdims=True)

    class Seen(Callback):
        def __init__(self):
            super().__init__()
            self.logs = []

        def on_train_batch_end(self, batch, logs=None):
            self.logs.append(dict(logs))

    def run():
        set_random_seed(0)
        in_a, in_b = Input(shape=(4,)), Input(shape=(3,))
        joined = Dense(16, activation="relu")(Concatenate()([in_a, in_b]))
        model = Model([in_a, in_b], [Dense(2, activation="softmax", name="cls")(joined), Dense(1, name="reg")(joined)])
        model.compile(SGD(0.05, momentum=0.9), loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                      loss_weights={"cls": 1.0, "reg": 0.5}, metrics={"cls": ["accuracy"], "reg": ["mae"]},
                      device="cpu")
        seen = Seen()
        set_random_seed(1)
        history = model.fit([a, b], {"cls": label, "reg": target}, batch_size=32, epochs=3, verbose=0,
                            callbacks=[seen])
        return model, history, seen.logs

    simulated(False)
    eager = run()
    simulated(True)
    graphed = run()
    step = graphed[0].trainer.graph_step
    assert step.record_in_graph and step.replays == 3 * 6 - 3
    assert step.counts == [32, 32, 32, 32, 32]  # loss, cls_loss, cls_accuracy, reg_loss, reg_mae
    _same(graphed[:2], eager[:2])
    assert len(graphed[2]) == len(eager[2]) == 3 * 7
    for g, e in zip(graphed[2], eager[2]):
        assert g.keys() == e.keys()
        for key in e:
            assert g[key] == pytest.approx(e[key], rel=1e-5), key


def test_graph_step_captures_again_on_new_arrays_or_a_replaced_total(simulated):
    simulated(True)
    model, _ = _fit(["accuracy"], epochs=1)
    step = model.trainer.graph_step
    assert step.captures == 1
    x, y = _data(64, seed=2)
    xs, ys = [torch.as_tensor(x)], [torch.as_tensor(y)]
    step(xs, ys, torch.arange(32))  # not the arrays the graph reads: capture again
    assert step.captures == 2
    step(xs, ys, torch.arange(32, 64))
    assert step.captures == 2
    metric = model.trainer.heads[0].metrics[0]
    metric.total = metric.total.clone()  # e.g. a restored backup's total
    step(xs, ys, torch.arange(32))
    assert step.captures == 3
    metric.reset_state()  # zeroes the same tensor: the graph stays
    step(xs, ys, torch.arange(32))
    assert step.captures == 3 and metric.count == 32


def test_graph_safe_metrics_are_brainnets_own():
    from brainnet import metrics

    assert graphs.graph_safe_metrics([metrics.Mean(), metrics.SparseCategoricalAccuracy(), metrics.MeanAbsoluteError()])

    class Mine(Metric):
        def values(self, y_true, y_pred):
            return y_pred

    class MyAccuracy(metrics.SparseCategoricalAccuracy):
        pass

    assert not graphs.graph_safe_metrics([metrics.Mean(), Mine("mine")])
    assert not graphs.graph_safe_metrics([MyAccuracy()])
    assert not graphs.graph_safe_metrics([metrics.get(lambda t, p: p)])


def _two_fits(change=None):
    """Two fit calls of one compiled model, with ``change(model)`` between them."""
    x, y = _data()
    set_random_seed(0)
    model = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(16, activation="relu"),
                        Dense(10, activation="softmax")])
    model.compile(SGD(CosineDecay(0.05, 30), momentum=0.9), "sparse_categorical_crossentropy", ["accuracy"],
                  device="cpu")
    set_random_seed(1)
    first = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    batch = (change(model) if change else None) or 32
    second = model.fit(x, y, batch_size=batch, epochs=2, verbose=0)
    return model, (first, second)


def _same_fits(a, b):
    for ha, hb in zip(a[1], b[1]):
        _same((a[0], ha), (b[0], hb))


def test_graph_step_is_kept_across_fit_calls(simulated):
    simulated(False)
    eager = _two_fits()
    simulated(True)
    graphed = _two_fits()
    step = graphed[0].trainer.graph_step
    # 200 = 6 × 32 + 8: the second fit replays the first fit's graph from its first step
    assert (step.captures, step.eager_steps, step.replays) == (1, 3 + 4, 4 * 6 - 3)
    _same_fits(graphed, eager)


def test_graph_step_is_kept_across_an_evaluate_between_fits(simulated):
    def evaluate(model):
        model.evaluate(*_data(64, seed=5), verbose=0)  # in inference mode, on the metrics' own totals

    simulated(False)
    eager = _two_fits(evaluate)
    simulated(True)
    graphed = _two_fits(evaluate)
    step = graphed[0].trainer.graph_step
    assert (step.captures, step.eager_steps) == (1, 3 + 4)
    _same_fits(graphed, eager)


def _freeze(model):
    model.layers[1].trainable = False


def _new_state(model):  # as a restored backup: the same values in new tensors
    opt = model.trainer.optimizer.torch_optimizer
    opt.load_state_dict(opt.state_dict())


def _new_weights(model):  # as model.to(another device) and back
    for p in model.parameters():
        p.data = p.data.clone()


def _new_momentum(model):
    for group in model.trainer.optimizer.torch_optimizer.param_groups:
        group["momentum"] = 0.5


def _new_batch(model):
    return 40  # 200 = 5 × 40


@pytest.mark.parametrize("change", [_freeze, _new_state, _new_weights, _new_momentum, _new_batch])
def test_graph_step_captures_again_when_the_model_changed_between_fits(simulated, change):
    simulated(False)
    eager = _two_fits(change)
    simulated(True)
    graphed = _two_fits(change)
    step = graphed[0].trainer.graph_step
    ragged = 2 + (0 if change is _new_batch else 2)
    assert step.captures == 2 and step.eager_steps == 3 + 3 + ragged  # warm-up steps again, then capture
    _same_fits(graphed, eager)


# ------------------------------------------------- nothing read back inside the graph
# Operators that read a value back to the host (or make a shape from values), which a
# CUDA graph cannot hold: capture fails ("operation not permitted when stream is
# capturing") or bakes in one batch's values.
_HOST_READS = {"_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique2", "unique_dim",
               "unique_consecutive", "repeat_interleave", "_pack_padded_sequence", "equal", "bincount",
               "nonzero_static", "item"}


class _HostReads(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.__name__.split(".")[0]
        if name in _HOST_READS:
            self.seen.append(name)
        return func(*args, **(kwargs or {}))


@pytest.fixture
def probed(simulated, monkeypatch):
    """The simulated graph, its captured body (and replays) run as on CUDA while
    capturing (``capturing()`` true) under a mode that records host reads."""
    from brainnet.layers import _rnn_cells, embedding

    state = {"capturing": False, "reads": []}
    for module in (_rnn_cells, embedding):
        monkeypatch.setattr(module, "capturing", lambda t: state["capturing"])

    class Probed(SimulatedGraphStep):
        def _captured(self, body):
            def watched():
                probe = _HostReads()
                state["capturing"] = True
                try:
                    with probe:
                        return body()
                finally:
                    state["capturing"] = False
                    state["reads"] += probe.seen
            return super()._captured(watched)

    monkeypatch.setattr(jit_module, "CudaGraphStep", Probed)
    return state


def _tokens(n=96, masked=False, seed=0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, 50, (n, 12))
    if masked:  # padded ends of several lengths
        for i, length in enumerate(rng.integers(3, 13, n)):
            tokens[i, length:] = 0
    return tokens, rng.integers(0, 3, n)


def _token_model(masked):
    from brainnet.layers import LSTM, Embedding

    return Sequential([Embedding(50, 8, mask_zero=masked, input_shape=(12,)), LSTM(8),
                       Dense(3, activation="softmax")])


def _image_model():
    from brainnet.layers import BatchNormalization, Conv2D, Dropout, MaxPooling2D, RandomFlip

    return Sequential([RandomFlip("horizontal", seed=0, input_shape=(8, 8, 1)), Conv2D(4, 3, activation="relu"),
                       BatchNormalization(), MaxPooling2D(), Flatten(), Dropout(0.3), Dense(3, activation="softmax")])


def _probe_fit(simulated, build, x, y, graphed):
    simulated(graphed)
    set_random_seed(0)
    model = build()
    model.compile(SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy", ["accuracy"], device="cpu")
    set_random_seed(1)
    return model, model.fit(x, y, batch_size=16, epochs=2, verbose=0)


@pytest.mark.parametrize("masked", [False, True])
def test_graphed_token_model_reads_nothing_back_and_trains_as_eager(simulated, probed, masked):
    # Embedding checks its indices and an RNN drops an all-True mask by reading values;
    # a masked RNN packs sequences by lengths read on the host. While capturing they
    # skip the checks (fit checked the indices) and run the step loop.
    x, y = _tokens(masked=masked)
    eager = _probe_fit(simulated, lambda: _token_model(masked), x, y, False)
    graphed = _probe_fit(simulated, lambda: _token_model(masked), x, y, True)
    assert graphed[0].trainer.graph_step.captures == 1 and probed["reads"] == []
    _same(graphed, eager)


def test_graphed_image_model_with_augmentation_batchnorm_dropout_reads_nothing_back(simulated, probed, monkeypatch):
    # A seeded augmentation layer draws from its own generator, which the graph must
    # register (PyTorch ≥ 2.5 on CUDA; this CPU build lacks the method: a stand-in).
    monkeypatch.setattr(torch.cuda.CUDAGraph, "register_generator_state", lambda self, g: None, raising=False)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(96, 8, 8, 1)).astype("float32"), rng.integers(0, 3, 96)
    model, history = _probe_fit(simulated, _image_model, x, y, True)
    assert model.trainer.graph_step.captures == 1 and probed["reads"] == []
    assert np.isfinite(history.history["loss"]).all()


def test_seeded_augmentation_trains_eagerly_where_a_graph_cannot_register_its_generator(simulated, monkeypatch):
    monkeypatch.delattr(torch.cuda.CUDAGraph, "register_generator_state", raising=False)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(48, 8, 8, 1)).astype("float32"), rng.integers(0, 3, 48)
    model, _ = _probe_fit(simulated, _image_model, x, y, True)
    assert model.trainer.graph_step is None


def test_graphed_transformer_recipe_reads_nothing_back(simulated, probed):
    from brainnet.recipes.sequences import transformer_classifier

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(48, 28, 28)).astype("float32"), rng.integers(0, 10, 48)
    model, history = _probe_fit(simulated, transformer_classifier, x, y, True)
    assert model.trainer.graph_step.captures == 1 and probed["reads"] == []
    assert np.isfinite(history.history["loss"]).all()


def test_a_new_sample_shape_or_batch_size_is_warmed_up_before_capture(simulated):
    # Three full batches of 16 are exactly the warm-up; the next fit at batch 32 must
    # warm up at 32 first (cuDNN would otherwise autotune inside the capture).
    simulated(True)
    x, y = _data(48)
    set_random_seed(0)
    model = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(10, activation="softmax")])
    model.compile(SGD(0.05), "sparse_categorical_crossentropy", ["accuracy"], device="cpu")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    step = model.trainer.graph_step
    assert (step.captures, step.eager_steps) == (0, 3)
    x2, y2 = _data(96, seed=1)
    model.fit(x2, y2, batch_size=32, epochs=1, verbose=0)
    assert (step.captures, step.eager_steps, step.replays) == (0, 6, 0)
    model.fit(x2, y2, batch_size=32, epochs=1, verbose=0)
    assert (step.captures, step.replays) == (1, 3)


@pytest.mark.parametrize("weighted_metrics", [[], ["accuracy"]])
def test_graph_step_gathers_sample_weights_with_the_batch(simulated, weighted_metrics):
    # The weights are an array on the device like the labels: the graph gathers each
    # batch's weights with the same index and weighs the loss inside. A weighted
    # metric's count (Σ w) is data, so with one the metrics are updated after each replay.
    x, y = _data()
    w = np.random.default_rng(7).uniform(0.0, 2.0, len(y)).astype("float32")

    def run():
        set_random_seed(0)
        model = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(16, activation="relu"),
                            Dense(10, activation="softmax")])
        model.compile(SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy", ["accuracy"], device="cpu",
                      weighted_metrics=weighted_metrics)
        set_random_seed(1)
        history = model.fit(x, y, sample_weight=w, batch_size=32, epochs=3, verbose=0,
                            validation_data=(x[:50], y[:50], w[:50]))
        return model, history

    simulated(False)
    eager = run()
    simulated(True)
    graphed = run()
    step = graphed[0].trainer.graph_step
    assert step.captures == 1 and step.replays == 3 * 6 - 3
    assert step.record_in_graph == (not weighted_metrics)
    _same(graphed, eager)
    unweighted = _fit(["accuracy"], epochs=3)  # the weights changed the training
    assert abs(unweighted[1].history["loss"][-1] - graphed[1].history["loss"][-1]) > 1e-3
    # New weights are a new array: captured again, not replayed on the old one.
    graphed[0].fit(x, y, sample_weight=w.copy(), batch_size=32, epochs=1, verbose=0)
    assert step.captures == 2


def test_graph_step_counts_precision_recall_auc_top_k_in_the_graph_without_reads(simulated, probed):
    # Their updates are device work only (the thresholds are put on the device before the
    # capture): the graph adds to the confusion counts in place, and reads nothing back.
    from brainnet import metrics

    def run(graphed):
        simulated(graphed)
        x, y = _data()
        set_random_seed(0)
        model = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(16, activation="relu"),
                            Dense(10, activation="softmax")])
        model.compile(SGD(0.05, momentum=0.9), "categorical_crossentropy",
                      ["top_k_categorical_accuracy",
                       metrics.Precision(class_id=3), metrics.Recall(top_k=2), metrics.AUC(num_thresholds=50)],
                      device="cpu")
        set_random_seed(1)
        history = model.fit(x, np.eye(10, dtype="float32")[y], batch_size=32, epochs=3, verbose=0)
        return model, history

    eager = run(False)
    graphed = run(True)
    step = graphed[0].trainer.graph_step
    assert step.captures == 1 and step.record_in_graph and probed["reads"] == []
    _same(graphed, eager)
    assert graphed[1].history["auc"][-1] > 0.5


def test_graphed_step_applies_weight_constraints_in_the_graph_as_the_eager_step(simulated, probed):
    # The constraint is part of the captured update (in-place writes through the kernel's
    # Keras-ordered view): replays keep it, nothing is read back, results equal the eager loop.
    from brainnet.constraints import MaxNorm, NonNeg
    from brainnet.layers import Conv2D

    def build():
        return Sequential([Conv2D(4, 3, activation="relu", kernel_constraint=MaxNorm(0.3, axis=[0, 1, 2]),
                                  bias_constraint=NonNeg(), input_shape=(8, 8, 1)),
                           Flatten(), Dense(3, activation="softmax", kernel_constraint=MaxNorm(0.5))])

    rng = np.random.default_rng(0)
    x, y = (rng.normal(size=(96, 8, 8, 1)) * 4).astype("float32"), rng.integers(0, 3, 96)
    eager = _probe_fit(simulated, build, x, y, False)
    graphed = _probe_fit(simulated, build, x, y, True)
    step = graphed[0].trainer.graph_step
    assert step.captures == 1 and step.replays > 0 and probed["reads"] == []
    _same(graphed, eager)
    kernel = graphed[0].layers[0].kernel.detach().permute(2, 3, 1, 0)
    assert float(kernel.square().sum(dim=(0, 1, 2)).sqrt().max()) <= 0.3 * (1 + 1e-6)
    assert float(graphed[0].layers[0].bias.min()) >= 0


@pytest.mark.parametrize("clip", [{"clipnorm": 0.05}, {"global_clipnorm": 0.05}, {"clipvalue": 0.002}],
                         ids=lambda c: next(iter(c)))
def test_graphed_step_clips_the_gradients_in_the_graph_as_the_eager_step(simulated, probed, clip):
    # The clipping is device work in the captured update (no value read back): replays
    # clip as the eager steps do; a changed clip value captures the step again.
    x, y = _data(96)

    def fit(graphed, **kwargs):
        simulated(graphed)
        set_random_seed(0)
        model = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(16, activation="relu"),
                            Dense(10, activation="softmax")])
        model.compile(SGD(0.05, momentum=0.9, **kwargs), "sparse_categorical_crossentropy", ["accuracy"],
                      device="cpu")
        set_random_seed(1)
        return model, model.fit(x, y, batch_size=16, epochs=2, verbose=0)

    eager, graphed = fit(False, **clip), fit(True, **clip)
    step = graphed[0].trainer.graph_step
    assert step.captures == 1 and step.replays > 0 and probed["reads"] == []
    _same(graphed, eager)
    unclipped = fit(False)
    assert not all(torch.allclose(p, q, atol=1e-4) for p, q in zip(eager[0].parameters(), unclipped[0].parameters()))

    (key, value), = clip.items()
    for graph, model in ((False, eager[0]), (True, graphed[0])):
        simulated(graph)
        setattr(model.optimizer, key, value * 2)
        set_random_seed(2)
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert graphed[0].trainer.graph_step is step and step.captures == 2 and probed["reads"] == []
    for p, q in zip(graphed[0].parameters(), eager[0].parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_graphed_step_averages_and_overwrites_in_the_graph_as_the_eager_step(simulated, probed, opt):
    # use_ema's averaging and the overwrite every 4 updates are device work in the captured
    # update: the first-step copy and the overwrite follow a device counter, not a host value.
    from brainnet.optimizers import Adam

    x, y = _data(96)

    def fit(graphed):
        simulated(graphed)
        set_random_seed(0)
        model = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(16, activation="relu"),
                            Dense(10, activation="softmax")])
        kwargs = dict(use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=4)
        optimizer = SGD(0.05, momentum=0.9, **kwargs) if opt == "sgd" else Adam(0.01, **kwargs)
        model.compile(optimizer, "sparse_categorical_crossentropy", ["accuracy"], device="cpu")
        set_random_seed(1)
        return model, model.fit(x, y, batch_size=16, epochs=3, verbose=0)

    eager, graphed = fit(False), fit(True)
    step = graphed[0].trainer.graph_step
    assert step.captures == 1 and step.replays > 0 and probed["reads"] == []
    assert graphed[0].optimizer.step_counter is not None  # the device counter's path
    _same(graphed, eager)
    for p, a in zip(graphed[0].parameters(), graphed[0].optimizer.averages):
        assert torch.equal(p, a)  # fit ended with the averages written into the weights


def test_gradient_accumulation_on_the_graph_step_is_refused(simulated):
    simulated(True)
    x, y = _data(32)
    model = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(10, activation="softmax")])
    model.compile(SGD(0.05, gradient_accumulation_steps=2), "sparse_categorical_crossentropy", device="cpu")
    with pytest.raises(ValueError, match=r"fit: expected an optimizer without gradient_accumulation_steps on the "
                                         r"CUDA-graph step \(jit_compile=True on a GPU\), got SGD\("
                                         r"gradient_accumulation_steps=2\).*Fix: compile\(\.\.\., "
                                         r"jit_compile=False\)"):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    simulated(False)  # the fix: the eager step
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert model.optimizer.iterations == 1
