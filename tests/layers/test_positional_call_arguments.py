"""A layer call's further positional arguments go to ``call``'s next
parameters, as Keras 3 passes them (``LogisticEndpoint()(targets, logits)``,
``decoder(x, encoded)``), by hand and in a functional graph; a ``training``
among them is the call's flag. Where ``call`` has no such parameter the call
is refused with the fix (the inputs in one list)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers


class Mix(layers.Layer):
    """y = x + s·c."""

    def call(self, x, context, scale=1.0):
        return x + scale * context


class Scaled(layers.Layer):
    """y = x + c, doubled when training."""

    def call(self, x, context, training=None):
        return (x + context) * (2.0 if training else 1.0)


def _arrays(seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=(4, 3)).astype("float32")


def test_a_second_and_third_positional_argument_go_to_calls_next_parameters():
    x, c = _arrays(0)
    layer = Mix()
    np.testing.assert_allclose(layer(torch.from_numpy(x), torch.from_numpy(c)).numpy(), x + c, rtol=1e-6)
    np.testing.assert_allclose(layer(torch.from_numpy(x), torch.from_numpy(c), 3.0).numpy(), x + 3.0 * c,
                               rtol=1e-6)


def test_in_a_functional_graph_the_positional_tensor_is_an_input_of_the_model():
    x, c = _arrays(1)
    a, b = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([a, b], Mix()(a, b))
    np.testing.assert_allclose(model.predict([x, c], verbose=0), x + c, rtol=1e-6)
    # the same model as with the keyword spelling
    keyword = keras.Model([a, b], Mix()(a, context=b))
    np.testing.assert_allclose(keyword.predict([x, c], verbose=0), model.predict([x, c], verbose=0))


def test_a_training_flag_among_the_positional_arguments_is_the_calls_flag():
    x, c = (torch.from_numpy(v) for v in _arrays(2))
    np.testing.assert_allclose(Scaled()(x, c, True).numpy(), 2 * (x + c).numpy(), rtol=1e-6)
    np.testing.assert_allclose(Scaled()(x, c, False).numpy(), (x + c).numpy(), rtol=1e-6)
    np.testing.assert_allclose(Scaled()(x, c).numpy(), (x + c).numpy(), rtol=1e-6)  # a new layer infers


@pytest.mark.parametrize("call", [
    lambda x, c: layers.Dense(2)(x, c),  # Dense.call takes the inputs only
    lambda x, c: Mix()(x, c, 2.0, c),  # more positional arguments than call has parameters
    lambda x, c: Mix()(x, c, context=c),  # the second given twice
])
def test_a_call_without_room_for_the_positional_arguments_is_refused_with_the_fix(call):
    x, c = (torch.from_numpy(v) for v in _arrays(3))
    with pytest.raises(TypeError, match=r"expected the inputs as one argument \(a list for several\) and training "
                                        r"as True, False or None, got .*Fix: pass several inputs in a list"):
        call(x, c)


def test_a_tensor_where_call_takes_training_is_refused():
    class Plain(layers.Layer):
        def call(self, x, training=None):
            return x

    x, c = (torch.from_numpy(v) for v in _arrays(4))
    with pytest.raises(TypeError, match=r"got a second positional argument of type Tensor\. Fix: "):
        Plain()(x, c)
