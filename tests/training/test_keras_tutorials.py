"""Gaps found by running Keras 3's keras.io tutorials with only their import
lines (and data loading) changed.

Each test is the smallest program that shows one gap. Those marked
``xfail(strict=True)`` are bugs whose fix belongs in files being refactored
(``training/trainer.py``, ``training/streaming.py``, ``layers/base.py``);
the reason says where. Once fixed, strict xfail turns the pass into a
failure, so the mark must then be removed (as it was for all three: evaluate
on batches before fit, the (N,) columns and the second positional input).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from brainnet.layers import Concatenate, Dense, Input
from brainnet.models import Model, Sequential


def _loader(n: int = 12, features: int = 3, batch_size: int = 4) -> DataLoader:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(n, features)).astype("float32"))
    y = torch.from_numpy(rng.normal(size=(n, 1)).astype("float32"))
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


@pytest.mark.parametrize("source", ["DataLoader", "Dataset", "generator"])
def test_evaluate_on_batches_before_any_fit_gives_the_array_result(source):
    loader = _loader()
    model = Sequential([Input(shape=(3,)), Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    x = torch.cat([b[0] for b in loader]).numpy()
    y = torch.cat([b[1] for b in loader]).numpy()
    expected = model.evaluate(x, y, verbose=0)
    fresh = Sequential([Input(shape=(3,)), Dense(1)])
    fresh.compile("sgd", "mse", metrics=["mae"])
    fresh.set_weights(model.get_weights())
    if source == "DataLoader":
        got = fresh.evaluate(loader, verbose=0)
    elif source == "Dataset":
        got = fresh.evaluate(loader.dataset, batch_size=4, verbose=0)
    else:
        got = fresh.evaluate((batch for batch in loader), steps=len(loader), verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_a_column_of_n_values_feeds_an_input_of_shape_1_as_keras():
    a, b = Input(shape=(1,), name="a"), Input(shape=(1,), name="b")
    model = Model([a, b], Dense(1)(Concatenate()([a, b])))
    model.compile("sgd", "mse")
    rng = np.random.default_rng(1)
    xa, xb = rng.normal(size=5).astype("float32"), rng.normal(size=5).astype("float32")
    expected = model.predict({"a": xa[:, None], "b": xb[:, None]}, verbose=0)
    got = model.predict({"a": xa, "b": xb}, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    y = rng.normal(size=(5, 1)).astype("float32")
    twin = Model.from_config(model.get_config())
    twin.compile("sgd", "mse")
    twin.set_weights(model.get_weights())
    columns = model.fit([xa, xb], y, epochs=2, batch_size=2, shuffle=False, verbose=0)
    two_d = twin.fit([xa[:, None], xb[:, None]], y, epochs=2, batch_size=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(columns.history["loss"], two_d.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(model.evaluate([xa, xb], y, verbose=0), twin.evaluate([xa[:, None], xb[:, None]], y,
                                                                                   verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match=r"expected shape \(None, 1\), got \(5, 2\)"):
        model.predict([np.ones((5, 2)), xb], verbose=0)  # only the size-1 axis is added or dropped


def test_a_second_input_given_apart_instead_of_in_a_list_is_refused_with_the_fix():
    a, b = Input(shape=(2,)), Input(shape=(2,))
    with pytest.raises(TypeError, match=r"Dense.*Fix: .*\(\[a, b\]\)"):
        Dense(2)(a, b)
    with pytest.raises(TypeError, match=r"Dense.*Fix: .*\(\[a, b\]\)"):
        Dense(2)(torch.zeros(3, 2), torch.zeros(3, 2))
