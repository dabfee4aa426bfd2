"""float64 tensors into layers whose own weights are float32: as Keras 3
casts a floating input to the layer's compute dtype, the input becomes
float32 (as a float64 NumPy array already did), so a model built in float32
can be called on the float64 windows that ``timeseries_dataset_from_array``
cuts from a float64 series. A float64 layer keeps float64 inputs, and a layer
without floating weights of its own passes them on as they are."""

from __future__ import annotations

import numpy as np
import torch

from brainnet.layers import LSTM, Dense, Flatten, Input, Softmax
from brainnet.models import Model

RNG = np.random.default_rng(0)


def test_dense_built_in_float32_takes_a_float64_tensor_as_float32():
    """y = x·W + b, x narrowed to float32: the naive NumPy product."""
    layer = Dense(2)
    layer(np.zeros((1, 3), "float32"))
    x = RNG.normal(size=(4, 3))
    y = layer(torch.from_numpy(x))
    assert y.dtype == torch.float32 and layer.kernel.dtype == torch.float32
    w, b = (p.astype(np.float64) for p in layer.get_weights())
    naive = np.array([[sum(x[n, k] * w[k, j] for k in range(3)) + b[j] for j in range(2)] for n in range(4)])
    np.testing.assert_allclose(y.detach().numpy(), naive, rtol=1e-5, atol=1e-6)


def test_a_float32_lstm_model_called_on_float64_windows_gives_the_float32_result():
    inputs = Input((5, 4))
    model = Model(inputs, Dense(1)(LSTM(3)(inputs)))
    x = RNG.normal(size=(2, 5, 4))
    y = model(torch.from_numpy(x))
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, model(torch.from_numpy(x.astype("float32"))), rtol=0, atol=0)
    np.testing.assert_allclose(y.detach().numpy(), model.predict(x, verbose=0), rtol=1e-6)


def test_float64_layers_and_layers_without_weights_keep_float64():
    layer = Dense(2)
    layer(np.zeros((1, 3), "float32"))
    layer.double()
    assert layer(torch.ones(2, 3, dtype=torch.float64)).dtype == torch.float64
    assert Dense(2)(torch.ones(2, 3, dtype=torch.float64)).dtype == torch.float64  # built by it: float64 weights
    assert Flatten()(torch.ones(2, 3, 1, dtype=torch.float64)).dtype == torch.float64
    assert Softmax()(torch.ones(2, 3, dtype=torch.float64)).dtype == torch.float64
