"""``predict`` and ``evaluate`` switch every module to inference mode and back
at each call by writing each module's flag directly (``eval_all``,
``put_back``), and leave the model where it is when it is on the CPU already
(``move_to``). These tests check that the shortcut gives what ``eval()`` and
``to()`` gave (and ``train_on_batch`` its ``train()``): inference inside the call, every mode (and whether one was
chosen) put back afterwards, a module's own ``train`` still called, a
TorchScript module still switched."""

from __future__ import annotations

import numpy as np
import torch

from brainnet import layers
from brainnet.layers._training_mode import eval_all
from brainnet.models import Sequential
from brainnet.training.devices import move_to
from brainnet.utils import set_random_seed


class _Recorder(torch.nn.Module):
    """Records the ``training`` flag of each forward pass."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(self.training)
        return x


class _OwnTrain(_Recorder):
    """A torch module with its own ``train``, which counts its calls."""

    def __init__(self):
        super().__init__()
        self.train_calls = []

    def train(self, mode=True):
        self.train_calls.append(mode)
        return super().train(mode)


def _modes(model):
    return [(type(m).__name__, m.training, m.__dict__.get("_mode_chosen")) for m in model.modules()]


def _model(inner):
    set_random_seed(0)
    return Sequential([layers.Input((4,)), layers.Dense(4), layers.TorchModuleWrapper(inner),
                       layers.Dropout(0.5), layers.Dense(2)])


def test_predict_infers_inside_and_puts_every_mode_back():
    recorder = _Recorder()
    model = _model(recorder)
    model.train()  # every module in train() mode, a mode chosen for each layer
    model.layers[0].eval()
    before = _modes(model)
    x = np.ones((3, 4), dtype="float32")
    recorder.seen.clear()  # the graph's trial run when the model was made
    first = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), first)  # dropout off inside predict
    assert recorder.seen == [False, False]
    assert _modes(model) == before


def test_a_new_models_modes_stay_unchosen_after_predict():
    model = _model(_Recorder())
    before = _modes(model)
    assert all(chosen in (None, False) for _, _, chosen in before)
    model.predict(np.ones((2, 4), dtype="float32"), verbose=0)
    assert _modes(model) == before


def test_eval_all_marks_layers_chosen_and_leaves_torch_modules_unmarked():
    recorder = _Recorder().train()
    model = _model(recorder)
    model.train()
    eval_all(model)
    assert not any(m.training for m in model.modules())
    assert all(m._mode_chosen for m in model.modules() if isinstance(m, layers.Layer))
    assert "_mode_chosen" not in recorder.__dict__


def test_a_modules_own_train_is_still_called():
    own = _OwnTrain()
    model = _model(own)
    own.seen.clear()
    model.predict(np.ones((2, 4), dtype="float32"), verbose=0)
    assert False in own.train_calls and own.seen == [False]


def test_a_torchscript_module_infers_in_predict_and_gets_its_mode_back():
    scripted = torch.jit.script(torch.nn.Dropout(0.5))
    scripted.train()
    model = _model(scripted)
    model.train()
    x = np.ones((64, 4), dtype="float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    assert scripted.training  # put back as it was
    model.eval()
    assert not scripted.training


def test_move_to_leaves_a_cpu_model_alone_and_moves_it_elsewhere(monkeypatch):
    model = _model(_Recorder())
    calls = []
    real_to = torch.nn.Module.to
    monkeypatch.setattr(torch.nn.Module, "to", lambda self, *a, **k: calls.append(a) or real_to(self, *a, **k))
    move_to(model, torch.device("cpu"))
    assert calls == []
    move_to(model, torch.device("meta"))
    assert calls == [(torch.device("meta"),)]
    assert all(p.device.type == "meta" for p in model.parameters())


def test_train_on_batch_trains_in_train_mode_and_puts_every_mode_back():
    recorder = _Recorder()
    model = _model(recorder)
    model.compile("sgd", "mse")
    x, y = np.ones((3, 4), dtype="float32"), np.zeros((3, 2), dtype="float32")
    model.train_on_batch(x, y)
    before = _modes(model)
    recorder.seen.clear()
    model.train_on_batch(x, y)
    # the step's one call trains; TorchModuleWrapper's shape probes (the label check) infer before it
    assert recorder.seen[-1] is True and recorder.seen.count(True) == 1
    assert _modes(model) == before


def test_train_on_batch_calls_a_modules_own_train():
    own = _OwnTrain()
    model = _model(own)
    model.compile("sgd", "mse")
    x, y = np.ones((3, 4), dtype="float32"), np.zeros((3, 2), dtype="float32")
    model.train_on_batch(x, y)
    own.seen.clear()
    own.train_calls.clear()
    model.train_on_batch(x, y)
    assert True in own.train_calls and own.seen[-1] is True and own.seen.count(True) == 1
    assert not own.training  # put back: a new model infers


def test_train_on_batch_leaves_a_cpu_model_where_it_is(monkeypatch):
    model = _model(_Recorder())
    model.compile("sgd", "mse")
    x, y = np.ones((3, 4), dtype="float32"), np.zeros((3, 2), dtype="float32")
    calls = []
    real_to = torch.nn.Module.to
    monkeypatch.setattr(torch.nn.Module, "to", lambda self, *a, **k: calls.append(a) or real_to(self, *a, **k))
    before = [p.detach().clone() for p in model.parameters()]
    model.train_on_batch(x, y)
    model.train_on_batch(x, y)
    assert calls == []
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))  # it did train
