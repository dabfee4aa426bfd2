"""``layer.build(shape)`` called by hand on brainnet's own layers marks them
built for that shape, as Keras 3 does (brainnet/layers/_shapes.py,
``built_by_hand``): the first call keeps the weights that build made."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet import layers
from brainnet.utils import set_random_seed


@pytest.mark.parametrize("make, shape", [
    (lambda: layers.Conv2D(4, 3), (None, 8, 8, 2)),
    (lambda: layers.Dense(3), (None, 5)),
    (lambda: layers.LSTM(3), (None, 6, 2)),
    (lambda: layers.LayerNormalization(), (None, 7)),
])
def test_a_layer_built_by_hand_keeps_its_weights_at_its_first_call(make, shape):
    set_random_seed(0)
    layer = make()
    layer.build(shape)
    assert layer.built and layer.built_input_shape == shape
    before = [w.detach().clone() for w in layer.parameters()]
    ids = [id(w) for w in layer.parameters()]
    layer(torch.zeros((2,) + shape[1:]))
    assert [id(w) for w in layer.parameters()] == ids
    for old, new in zip(before, layer.parameters()):
        torch.testing.assert_close(new.detach(), old, rtol=0, atol=0)


def test_a_kernel_changed_after_a_build_by_hand_is_the_one_that_computes():
    """The keras.io PixelCNN pattern: build an inner Conv2D, zero part of its kernel, then call it."""

    class HalfKernel(layers.Layer):
        def __init__(self):
            super().__init__()
            self.conv = layers.Conv2D(filters=2, kernel_size=1, use_bias=False)

        def build(self, input_shape):
            self.conv.build(input_shape)
            with torch.no_grad():
                self.conv.kernel[:, 1:] = 0  # (filters, in, 1, 1): only input channel 0 is read

        def call(self, inputs):
            return self.conv(inputs)

    layer = HalfKernel()
    x = np.random.default_rng(0).normal(size=(3, 4, 4, 2)).astype("float32")
    got = layer(x).detach().numpy()
    kernel = layer.conv.get_weights()[0]
    np.testing.assert_array_equal(kernel[:, 1], 0)
    np.testing.assert_allclose(got, np.einsum("bhwi,fi->bhwf", x, kernel[:, :, 0, 0]), rtol=1e-5, atol=1e-6)


def test_a_layer_built_by_hand_checks_its_input_shape():
    layer = layers.Dense(3)
    layer.build((None, 5))
    with pytest.raises(ValueError, match=r"was built for inputs of shape \(None, 5\).*Fix:"):
        layer(torch.zeros(2, 4))
