"""Model conveniences Keras tutorials use: ``model.history``, ``get_layer``,
``metrics_names``, and the one-batch methods ``train_on_batch``,
``test_on_batch``, ``predict_on_batch``."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from brainnet.layers import Dense, Dropout, Input, Layer
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
