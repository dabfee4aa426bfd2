"""Model conveniences Keras tutorials use: ``model.history``, ``get_layer``,
``metrics_names``, and the one-batch methods ``train_on_batch``,
``test_on_batch``, ``predict_on_batch``."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from brainnet.layers import Dense, Dropout, Input
from brainnet.models import Model, Sequential
from brainnet.utils import set_random_seed, to_categorical


def blobs(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 4)) + y[:, None]
    return x.astype("float32"), y


def small_model(**compile_args) -> Sequential:
    set_random_seed(0)
    model = Sequential([Dense(5, activation="relu", input_shape=(4,), name="hidden"),
                        Dense(3, activation="softmax", name="out")])
    if compile_args:
        model.compile(**compile_args)
    return model


# --------------------------------------------------------------------- history
def test_model_history_is_the_history_fit_returned():
    model = small_model(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert model.history is None
    first = model.fit(*blobs(), epochs=2, verbose=0)
    assert model.history is first and first.epoch == [0, 1]
    second = model.fit(*blobs(), epochs=1, verbose=0)
    assert model.history is second and model.history.history["loss"] == second.history["loss"]


# ------------------------------------------------------------------- get_layer
def test_get_layer_by_name_and_index():
    model = small_model()
    hidden, out = model.layers
    assert model.get_layer("hidden") is hidden and model.get_layer(name="out") is out
    assert model.get_layer(index=0) is hidden and model.get_layer(index=-1) is out
    assert model.get_layer(index=np.int64(1)) is out


def test_get_layer_in_functional_and_subclassed_models():
    inputs = Input(shape=(4,))
    hidden = Dense(5, name="f_hidden")
    functional = Model(inputs, Dense(2, name="f_out")(hidden(inputs)))
    assert functional.get_layer("f_hidden") is hidden and functional.get_layer(index=-1).name == "f_out"

    class Stack(Model):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([Dense(3, name="s_a"), Dense(3, name="s_b")])
            self.head = Dense(1, name="s_head")

        def call(self, x):
            for block in self.blocks:
                x = block(x)
            return self.head(x)

    stack = Stack()
    assert [stack.get_layer(index=i).name for i in range(3)] == ["s_a", "s_b", "s_head"]
    assert stack.get_layer("s_b") is stack.blocks[1]


def test_get_layer_unknown_name_lists_the_layers():
    model = small_model()
    with pytest.raises(ValueError, match=re.escape(
            "get_layer: expected the name of one of the model's layers ['hidden', 'out'], got 'hiden'. "
            "Fix: model.get_layer('hidden').")):
        model.get_layer("hiden")
    with pytest.raises(ValueError, match=r"got 'conv2d'\. Fix: use one of those names\."):
        model.get_layer("conv2d")


def test_get_layer_index_out_of_range_and_name_or_index_errors():
    model = small_model()
    with pytest.raises(ValueError, match=re.escape(
            "get_layer: expected an index from -2 to 1 (the model has 2 layers: ['hidden', 'out']), got 2. "
            "Fix: model.get_layer(index=-1)")):
        model.get_layer(index=2)
    with pytest.raises(ValueError, match=r"expected an index .* got '0'\."):
        model.get_layer(index="0")
    with pytest.raises(ValueError, match=re.escape(
            "get_layer: expected a layer name or an index, got neither. The model's layers are "
            "['hidden', 'out']. Fix: model.get_layer('hidden') or model.get_layer(index=0).")):
        model.get_layer()
    with pytest.raises(ValueError, match=r"got both \(name='out', index=0\)"):
        model.get_layer("out", index=0)


# --------------------------------------------------------------- metrics_names
def test_metrics_names_follow_evaluate_and_history():
    assert small_model().metrics_names == []
    model = small_model(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy", "mae"])
    assert model.metrics_names == ["loss", "accuracy", "mae"]  # known from compile already
    x, y = blobs()
    y = to_categorical(y, 3)
    history = model.fit(x, y, epochs=1, verbose=0)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert model.metrics_names == list(logs) == list(history.history) == ["loss", "accuracy", "mae"]
    assert len(model.evaluate(x, y, verbose=0)) == len(model.metrics_names)


def test_metrics_names_of_a_two_output_model():
    inputs = Input(shape=(4,))
    h = Dense(4)(inputs)
    model = Model(inputs, [Dense(3, activation="softmax", name="cls")(h), Dense(1, name="reg")(h)])
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"],
                  metrics={"cls": ["accuracy"], "reg": ["mae"]})
    x, y = blobs()
    logs = model.evaluate(x, [y, y.astype("float32")], verbose=0, return_dict=True)
    assert model.metrics_names == list(logs) == ["loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"]


# ------------------------------------------------------------- one batch at a time
def test_train_on_batch_is_one_sgd_step_computed_by_hand():
    """y = xW + b, loss = mean((y − t)²); one SGD step: W ← W − lr·∂loss/∂W, in float64 NumPy."""
    from brainnet.optimizers import SGD

    set_random_seed(0)
    model = Sequential([Dense(3, input_shape=(4,))])
    model.compile(optimizer=SGD(learning_rate=0.1), loss="mse")
    rng = np.random.default_rng(1)
    x, t = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(5, 3)).astype("float32")
    w, b = (a.astype("float64") for a in model.get_weights())
    xd, td = x.astype("float64"), t.astype("float64")
    err = xd @ w + b - td  # (5, 3)
    loss = float((err ** 2).mean())
    grad_w, grad_b = 2 * xd.T @ err / err.size, 2 * err.sum(0) / err.size

    got = model.train_on_batch(x, t)

    assert isinstance(got, float) and got == pytest.approx(loss, rel=1e-6)
    new_w, new_b = model.get_weights()
    np.testing.assert_allclose(new_w, w - 0.1 * grad_w, rtol=0, atol=1e-6)
    np.testing.assert_allclose(new_b, b - 0.1 * grad_b, rtol=0, atol=1e-6)


def test_train_on_batch_equals_torch_sgd_with_momentum_over_steps():
    from brainnet.optimizers import SGD

    set_random_seed(0)
    model = Sequential([Dense(3, input_shape=(4,))])
    model.compile(optimizer=SGD(learning_rate=0.05, momentum=0.9), loss="mse")
    linear = nn.Linear(4, 3).double()
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(model.get_weights()[0].T))
        linear.bias.copy_(torch.from_numpy(model.get_weights()[1]))
    reference = torch.optim.SGD(linear.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(2)
    for _ in range(3):
        x, t = rng.normal(size=(6, 4)).astype("float32"), rng.normal(size=(6, 3)).astype("float32")
        reference.zero_grad()
        want = torch.nn.functional.mse_loss(linear(torch.from_numpy(x).double()), torch.from_numpy(t).double())
        want.backward()
        reference.step()
        assert model.train_on_batch(x, t) == pytest.approx(float(want.detach()), rel=1e-5)
    np.testing.assert_allclose(model.get_weights()[0], linear.weight.detach().numpy().T, atol=1e-5)
    np.testing.assert_allclose(model.get_weights()[1], linear.bias.detach().numpy(), atol=1e-5)


def test_on_batch_return_forms_and_metrics_start_over_at_each_call():
    model = small_model(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, _ = blobs(16)
    xa, xb = x[:8], x[8:]
    right = model.predict(xa).argmax(1)  # labels the model gets all right on batch a
    loss, accuracy = model.train_on_batch(xa, right)
    assert accuracy == 1.0
    wrong = (model.predict(xb).argmax(1) + 1) % 3  # ... and all wrong on batch b
    logs = model.train_on_batch(xb, wrong, return_dict=True)
    assert list(logs) == model.metrics_names == ["loss", "accuracy"]
    assert logs["accuracy"] == 0.0  # not 0.5: batch a's count is gone (Keras 3 resets)
    assert model.test_on_batch(xa, right, return_dict=True) == model.evaluate(xa, right, verbose=0, return_dict=True)
    assert model.test_on_batch(xb, wrong) == model.evaluate(xb, wrong, verbose=0)
    assert model.history is None  # one-batch training is not a fit


def test_test_on_batch_runs_in_inference_mode_and_leaves_the_weights():
    set_random_seed(0)
    model = Sequential([Dense(8, input_shape=(4,)), Dropout(0.5), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, t = blobs(10)[0], np.ones((10, 1), "float32")
    before = model.get_weights()
    first, second = model.test_on_batch(x, t), model.test_on_batch(x, t)
    assert first == second == pytest.approx(model.evaluate(x, t, verbose=0))  # no dropout
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    model.train_on_batch(x, t)
    assert not model.training  # put back as it was, as after fit: model(x) infers (Keras 3)
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_predict_on_batch_is_numpy_and_needs_no_compile():
    model = small_model()
    x = blobs(7)[0]
    out = model.predict_on_batch(x)
    assert isinstance(out, np.ndarray) and out.shape == (7, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, model.predict(x))


def test_on_batch_errors_are_fit_and_evaluate_errors():
    model = small_model()
    with pytest.raises(RuntimeError, match=r"train_on_batch: expected a compiled model.*model\.train_on_batch\(\)"):
        model.train_on_batch(*blobs(4))
    with pytest.raises(RuntimeError, match=r"test_on_batch: expected a compiled model"):
        model.test_on_batch(*blobs(4))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"Model input: expected shape \(None, 4\), got \(4, 3\)"):
        model.train_on_batch(np.ones((4, 3), "float32"), np.zeros(4))
    with pytest.raises(ValueError, match=r"Model input: expected shape \(None, 4\), got \(4,\)"):
        model.predict_on_batch(np.ones(4, "float32"))


def test_train_on_batch_under_torchrun_says_to_use_fit(monkeypatch):
    import brainnet.distributed

    model = small_model(optimizer="sgd", loss="sparse_categorical_crossentropy")
    monkeypatch.setattr(brainnet.distributed, "world_size", lambda: 2)
    with pytest.raises(ValueError, match=re.escape(
            "train_on_batch: expected one process, got 2 under torchrun; each process would step its own "
            "copy of the model on its own batch and the copies would drift apart. Fix: model.fit(x, y, "
            "batch_size=len(x), epochs=1, verbose=0)")):
        model.train_on_batch(*blobs(4))
