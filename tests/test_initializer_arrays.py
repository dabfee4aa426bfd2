"""``initializers.Constant`` with an array value, as Keras 3 takes it
(``value · ones(shape)``: the array broadcast to the weight's Keras shape),
the way the PointNet example starts its T-net's bias as a flattened identity
matrix."""

import json

import numpy as np
import pytest
import torch

import brainnet
from brainnet import initializers
from brainnet.layers import Conv1D, Dense
from brainnet.models import Sequential, load_model


def test_an_array_value_is_broadcast_to_the_shape_as_numpy_broadcasts_it():
    eye = np.eye(3).flatten()
    np.testing.assert_array_equal(initializers.Constant(eye)((9,)).numpy(), eye)
    row = np.array([1.0, -2.0, 0.5])
    got = initializers.Constant(row)((4, 3))
    assert got.dtype == torch.get_default_dtype()
    np.testing.assert_array_equal(got.numpy(), np.broadcast_to(row, (4, 3)))
    np.testing.assert_array_equal(initializers.Constant(torch.tensor([[2.0], [3.0]]))((2, 5)).numpy(),
                                  np.broadcast_to([[2.0], [3.0]], (2, 5)))
    assert initializers.Constant(np.float64(0.25)).get_config() == {"value": 0.25}  # a NumPy scalar stays a number


def test_a_dense_bias_starts_as_the_array_and_survives_save_and_load(tmp_path):
    bias = brainnet.initializers.Constant(np.eye(2).flatten())
    model = Sequential([brainnet.Input(shape=(3,)), Dense(4, kernel_initializer="zeros", bias_initializer=bias)])
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.tile(np.eye(2).flatten(), (5, 1)))
    cfg = model.layers[0].get_config()
    assert cfg["bias_initializer"] == {"class_name": "Constant", "config": {"value": [1.0, 0.0, 0.0, 1.0]}}
    again = Dense.from_config(json.loads(json.dumps(cfg)))
    again.build((None, 3))
    np.testing.assert_array_equal(again.bias.detach().numpy(), np.eye(2).flatten())
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert loaded.layers[0].bias_initializer.get_config() == {"value": [1.0, 0.0, 0.0, 1.0]}


def test_an_array_for_a_convolution_kernel_is_laid_out_along_keras_axes():
    # Keras's Conv1D kernel is (kernel_size, in, out); brainnet stores (out, in, kernel_size)
    value = np.arange(2 * 3, dtype="float64").reshape(1, 2, 3)  # broadcast over the window's 4 positions
    conv = Conv1D(3, 4, kernel_initializer=initializers.Constant(value), use_bias=False)
    conv.build((None, 10, 2))
    keras_kernel = conv.kernel.detach().numpy().transpose(2, 1, 0)
    np.testing.assert_array_equal(keras_kernel, np.broadcast_to(value, (4, 2, 3)))


def test_a_bad_array_value_says_expected_got_fix():
    with pytest.raises(ValueError, match=r"Constant: expected a value whose shape broadcasts to the weight's "
                                         r"shape \(4,\), got an array of shape \(9,\)\. Fix: .*np\.eye"):
        initializers.Constant(np.eye(3).flatten())((4,))
    with pytest.raises(ValueError, match=r"Constant: expected value to be a finite number or an array of finite "
                                         r"numbers, got \[1\.0, nan\]\. Fix: Constant\(value=0\.1\)"):
        initializers.Constant([1.0, float("nan")])
    with pytest.raises(ValueError, match=r"expected value to be a finite number or an array .*got 'a'"):
        initializers.Constant("a")
    with pytest.raises(ValueError, match=r"Constant: expected value to be a finite number, got None"):
        initializers.Constant(None)
