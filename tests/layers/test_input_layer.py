"""``InputLayer``: Keras's layer form of ``Input``, first in a ``Sequential``
written the tf.keras way (the keras.io conditional GAN's discriminator and
generator)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import brainnet
import brainnet.layers.input_layer as input_layer_module
from brainnet.layers import Conv2D, Dense, Flatten, Input, InputLayer
from brainnet.models import Sequential, load_model
from brainnet.utils import set_random_seed


def test_its_output_is_an_input_of_that_shape_and_dtype():
    layer = InputLayer((28, 28, 11))
    assert layer.output.shape == (None, 28, 28, 11) and layer.output.dtype == torch.float32
    assert layer.batch_shape == (None, 28, 28, 11) and layer.dtype == "float32"
    assert InputLayer(shape=(7, 7), dtype="int32", name="codes").output.dtype == torch.int32
    assert InputLayer(batch_shape=(16, 5)).output.shape == (16, 5)
    assert InputLayer((5,), batch_size=4).output.shape == (4, 5)
    assert InputLayer(batch_input_shape=(None, 3)).output.shape == (None, 3)
    with pytest.warns(UserWarning, match="input_shape` is deprecated"):
        assert InputLayer(input_shape=(3,)).output.shape == (None, 3)
    named = InputLayer((3,), name="pixels")
    assert named.name == "pixels" and named.output.name == "pixels"
    tensor = Input(shape=(4,))
    assert InputLayer(input_tensor=tensor).output is tensor
    # y = x: called by hand it passes its input through.
    x = torch.randn(2, 3)
    assert torch.equal(InputLayer((3,))(x), x)


def test_config_round_trips_with_keras_keys():
    layer = InputLayer((3,), name="x", optional=True)
    config = layer.get_config()
    assert config == {"batch_shape": [None, 3], "dtype": "float32", "sparse": False, "ragged": False,
                      "name": "x", "optional": True}
    again = InputLayer.from_config(config)
    assert again.get_config() == config and again.output.shape == (None, 3)


def test_sequential_takes_it_as_its_input_and_leaves_it_out_of_layers(tmp_path):
    set_random_seed(0)
    with_layer = Sequential([InputLayer((6, 6, 2)), Conv2D(3, 3), Flatten(), Dense(1)])
    set_random_seed(0)
    with_input = Sequential([Input(shape=(6, 6, 2)), Conv2D(3, 3), Flatten(), Dense(1)])
    assert [type(layer).__name__ for layer in with_layer.layers] == ["Conv2D", "Flatten", "Dense"]
    assert with_layer.input_shape == (None, 6, 6, 2) and with_layer.output_shape == (None, 1)
    assert with_layer.count_params() == with_input.count_params() == 2 * 9 * 3 + 3 + 48 + 1
    x = np.random.default_rng(0).random((4, 6, 6, 2)).astype("float32")
    np.testing.assert_allclose(with_layer.predict(x, verbose=0), with_input.predict(x, verbose=0), rtol=1e-6)
    path = tmp_path / "m.keras"
    with_layer.save(path)
    np.testing.assert_allclose(load_model(path).predict(x, verbose=0), with_layer.predict(x, verbose=0), rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match=r"InputLayer: expected sparse=None or False, got sparse=True: brainnet's "
                                         r"tensors are dense\. Fix: leave sparse out"):
        InputLayer((3,), sparse=True)
    with pytest.raises(ValueError, match=r"expected ragged=None or False, got ragged=True.*Fix: leave ragged out"):
        InputLayer((3,), ragged=True)
    with pytest.raises(TypeError, match=r"InputLayer: expected shape, batch_size, dtype, .*got \['units'\]\. "
                                        r"Fix: InputLayer\(shape=\(28, 28, 1\)\)"):
        InputLayer((3,), units=4)
    with pytest.raises(ValueError, match=r"InputLayer: expected input_tensor to be an Input\(\.\.\.\), got Tensor\. "
                                         r"Fix: InputLayer\(input_tensor=Input\(shape=\(28, 28, 1\)\)\)"):
        InputLayer(input_tensor=torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"expected input_tensor to be an Input\(\.\.\.\), got the output of "
                                         r"layer 'dense"):
        InputLayer(input_tensor=Dense(2)(Input(shape=(3,))))
    with pytest.raises(ValueError, match=r"InputLayer: expected shape to agree with input_tensor's \(\(4,\)\), "
                                         r"got shape=\(5,\)\. Fix: leave shape out when you give input_tensor\."):
        InputLayer((5,), input_tensor=Input(shape=(4,)))
    with pytest.raises(ValueError, match=r"expected dtype to agree with input_tensor's \('float32'\), got "
                                         r"dtype='int32'"):
        InputLayer(dtype="int32", input_tensor=Input(shape=(4,)))
    with pytest.raises(ValueError, match=r"Input: expected the shape of one sample, got neither shape nor batch_shape"):
        InputLayer()
    with pytest.raises(TypeError, match=r"Sequential.add: expected a layer, or an Input\(\.\.\.\) as the very first "
                                        r"entry, .* after other layers"):
        Sequential([Dense(2, input_shape=(3,)), InputLayer((2,))])


def test_docstring_example_runs():
    failures, tried = doctest.testmod(input_layer_module)
    assert failures == 0 and tried >= 2


def test_an_input_layers_input_is_its_tensor_so_a_model_can_start_from_it():
    """keras.io's OCR examples: Model(model.get_layer("image").input, model.get_layer("dense2").output)."""
    image = Input(shape=(4,), name="image")
    model = brainnet.Model(image, Dense(3, name="dense2")(Dense(5)(image)))
    layer = model.get_layer(name="image")
    assert layer.input is layer.output is image
    head = brainnet.Model(layer.input, model.get_layer(name="dense2").output)
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    np.testing.assert_allclose(head.predict(x, verbose=0), model.predict(x, verbose=0))
