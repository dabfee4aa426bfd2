"""InputSpec and a layer's input_spec, checked at every call with Keras 3's rules
(keras/src/layers/input_spec.py, assert_input_compatibility) and brainnet's
teaching errors."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import brainnet
import brainnet._registry
import brainnet.layers.input_spec
from brainnet.layers import Add, Dense, Input, InputSpec, Layer
from brainnet.layers.input_spec import check_input_spec
from brainnet.models import Model, Sequential


class Checked(Layer):
    """Doubles its input; takes what ``spec`` allows."""

    def __init__(self, spec=None, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = spec

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            return inputs[0] + inputs[1]
        return 2 * inputs


def checked(**spec):
    return Checked(InputSpec(**spec), name="chk")


def test_inputs_the_spec_allows_pass_and_the_layer_computes():
    x = torch.arange(24.0).reshape(2, 4, 3)
    for spec in ({"ndim": 3}, {"min_ndim": 2}, {"max_ndim": 3}, {"dtype": "float32"}, {"dtype": torch.float32},
                 {"axes": {-1: 3, 1: 4}}, {"shape": (None, 4, 3)}, {"shape": (2, None, 3)}, {}):
        torch.testing.assert_close(checked(**spec)(x), 2 * x)
    # NumPy input: checked after brainnet turns it into a float32 tensor, as every layer takes it.
    np.testing.assert_allclose(checked(dtype="float32", ndim=2)(np.ones((2, 3))).numpy(), 2 * np.ones((2, 3)))
    # None in the spec is any size; a None axis value checks nothing.
    assert checked(axes={1: None})(torch.ones(5, 7)).shape == (5, 7)


def test_allow_last_axis_squeeze_takes_one_rank_more_or_less_as_keras():
    spec = {"shape": (None, 4, 1), "allow_last_axis_squeeze": True}
    assert checked(**spec)(torch.ones(2, 4, 1)).shape == (2, 4, 1)
    assert checked(**spec)(torch.ones(2, 4)).shape == (2, 4)  # spec's last 1 dropped
    assert checked(shape=(None, 4), allow_last_axis_squeeze=True)(torch.ones(2, 4, 1)).shape == (2, 4, 1)
    with pytest.raises(ValueError, match=r"expected shape \(None, 4, 1\) \(None: any size\), got shape \(2, 5\)"):
        checked(**spec)(torch.ones(2, 5))


def test_each_kind_of_spec_refuses_with_what_was_expected_and_the_fix():
    x = torch.ones(2, 4, 3)
    cases = [
        ({"ndim": 2}, r"Layer 'chk' \(Checked\) input 0: expected rank ndim=2, got shape \(2, 4, 3\) of rank 3\. "
                      r"Fix: reshape the input \(x\[\.\.\., None\] adds a last axis of 1\) or put a Reshape/Flatten "
                      r"layer before 'chk'\."),
        ({"max_ndim": 2}, r"input 0: expected rank at most max_ndim=2, got shape \(2, 4, 3\) of rank 3\. Fix: "
                          r"reshape the input to fewer axes \(x\.reshape\(len\(x\), -1\) keeps the batch axis\)"),
        ({"min_ndim": 4}, r"input 0: expected rank at least min_ndim=4, got shape \(2, 4, 3\) of rank 3\. Fix: "),
        ({"dtype": "int64"}, r"input 0: expected dtype int64, got float32\. Fix: cast the input, x\.to\(torch\.int64\) "
                             r"\(NumPy: x\.astype\('int64'\)\)\."),
        ({"axes": {-1: 8}}, r"input 0: expected size 8 on axis -1, got shape \(2, 4, 3\) of rank 3 \(3 there\)\. "
                            r"Fix: give inputs with 8 on axis -1, or make a new layer for inputs of this size\."),
        ({"axes": {5: 8}}, r"input 0: expected an axis 5 of size 8, got shape \(2, 4, 3\) of rank 3, which has no "
                           r"axis 5\. Fix: reshape"),
        ({"shape": (None, 4, 2)}, r"input 0: expected shape \(None, 4, 2\) \(None: any size\), got shape \(2, 4, 3\) "
                                  r"of rank 3\. Fix: give inputs of shape \(None, 4, 2\)\."),
        ({"ndim": 2, "name": "pixels"}, r"Layer 'chk' \(Checked\) input 0 'pixels': expected rank ndim=2"),
    ]
    for spec, message in cases:
        with pytest.raises(ValueError, match=message):
            checked(**spec)(x)
    with pytest.raises(ValueError, match=r"input 0: expected a tensor, got float\. Fix: call the layer on a tensor "
                                         r"\(torch\.as_tensor\(x\)\)"):
        checked(ndim=1)(3.0)
    assert not checked(ndim=2).built  # refused before it builds


def test_a_list_of_specs_checks_each_input_and_their_number():
    layer = Checked([InputSpec(ndim=2), InputSpec(axes={-1: 3})], name="pair")
    a = torch.ones(2, 3)
    torch.testing.assert_close(layer([a, a]), 2 * a)
    with pytest.raises(ValueError, match=r"Layer 'pair' \(Checked\) input 1: expected size 3 on axis -1"):
        layer([a, torch.ones(2, 5)])
    with pytest.raises(ValueError, match=r"Layer 'pair' \(Checked\) expected 2 input\(s\), as its input_spec says, "
                                         r"got 1\. Fix: call it on a list of 2 tensors, layer\(\[a, b, \.\.\.\]\)\."):
        layer(a)
    unchecked = Checked([None, InputSpec(ndim=2)], name="second_only")
    assert unchecked([torch.ones(5, 2, 3), a]).shape == (5, 2, 3)  # None: that input is not checked
    # optional: a None input passes the check (Keras 3's rule).
    check_input_spec(Checked([InputSpec(ndim=2), InputSpec(ndim=2, optional=True)]), [a, None])
    with pytest.raises(ValueError, match=r"input 1: expected a tensor, got NoneType"):
        check_input_spec(Checked([InputSpec(ndim=2), InputSpec(ndim=2)]), [a, None])


class OptionalBias(Layer):
    """y = x + b when b is given, y = x when b is None (an optional input, Keras 3's InputSpec(optional=True))."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = [InputSpec(ndim=2), InputSpec(ndim=2, optional=True)]

    def build(self, input_shape):
        self.built_with = input_shape

    def call(self, inputs):
        x, b = inputs
        return x if b is None else x + b


def test_an_optional_input_may_be_none_and_reaches_call_as_none():
    rng = np.random.default_rng(0)
    x, b = rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=(4, 3)).astype("float32")
    layer = OptionalBias(name="opt")
    np.testing.assert_allclose(layer([torch.as_tensor(x), None]).numpy(), x)  # NumPy reference: y = x
    assert layer.built_with == [(4, 3), None] and layer.built_input_shape == [(None, 3), None]  # build sees None
    np.testing.assert_allclose(layer([torch.as_tensor(x), torch.as_tensor(b)]).numpy(), x + b, rtol=1e-6)
    np.testing.assert_allclose(OptionalBias()([x, None]).numpy(), x)  # NumPy inputs, made tensors
    inputs = Input(shape=(3,))  # in a functional model the None is recorded and given to call again
    model = Model(inputs, Dense(2)(OptionalBias()([inputs, None])))
    kernel, bias = model.layers[-1].get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), x @ kernel + bias, rtol=1e-5, atol=1e-6)


def test_a_none_input_anywhere_else_is_refused_with_the_fix():
    a = torch.ones(2, 3)
    with pytest.raises(ValueError, match=r"Layer 'pair' \(Checked\) input 1: expected a tensor, got None \(only an "
                                         r"input whose InputSpec says optional=True may be None\)\. Fix: pass a tensor "
                                         r"there; .* make entry 1 of its input_spec list InputSpec\(optional=True\)"):
        Checked([InputSpec(ndim=2), InputSpec(ndim=2)], name="pair")([a, None])
    with pytest.raises(ValueError, match=r"Layer 'opt' \(OptionalBias\) input 0: expected a tensor, got None"):
        OptionalBias(name="opt")([None, a])
    with pytest.raises(ValueError, match=r"Layer 'add' \(Add\) input 1: expected a tensor, got None"):
        Add(name="add")([a, None])  # no input_spec: brainnet's layers take no None
    with pytest.raises(ValueError, match=r"Layer 'sym' \(Checked\) input 0: expected a tensor, got None"):
        Checked(None, name="sym")([None, Input(shape=(3,))])
    with pytest.raises(ValueError, match=r"Layer 'chk' \(Checked\): expected a tensor, or a list of tensors, got "
                                         r"None\. Fix: call it on a tensor, layer\(x\); an input that may be missing "
                                         r"goes in a list, layer\(\[x, None\]\)"):
        checked(ndim=2, optional=True)(None)


def test_symbolic_inputs_are_checked_when_the_graph_is_built():
    with pytest.raises(ValueError, match=r"Layer 'chk' \(Checked\) input 0: expected size 3 on axis -1, got shape "
                                         r"\(None, 5\) of rank 2 \(5 there\)"):
        checked(axes={-1: 3})(Input(shape=(5,)))
    with pytest.raises(ValueError, match=r"expected dtype int64, got float32"):
        checked(dtype="int64")(Input(shape=(5,)))
    inputs = Input(shape=(3,))
    model = Model(inputs, Dense(2)(checked(axes={-1: 3}, dtype="float32")(inputs)))
    assert model.predict(np.ones((4, 3), dtype="float32"), verbose=0).shape == (4, 2)
    seq = Sequential([Input(shape=(3,)), checked(shape=(None, 3)), Dense(1)])
    assert seq.predict(np.ones((4, 3), dtype="float32"), verbose=0).shape == (4, 1)


def test_constructor_follows_keras_and_its_errors_say_the_fix():
    spec = InputSpec(dtype=torch.int64, shape=(None, 4), axes={"-1": 4}, name="ids")
    assert (spec.dtype, spec.shape, spec.ndim, spec.axes) == ("int64", (None, 4), 2, {-1: 4})  # shape sets ndim
    assert InputSpec(ndim=3, shape=None).ndim == 3 and InputSpec(dtype=np.float64).dtype == "float64"
    assert InputSpec(dtype="string").dtype == "string" and InputSpec(dtype="bfloat16").dtype == "bfloat16"
    assert repr(spec) == "InputSpec(dtype=int64, shape=(None, 4), ndim=2, axes={-1: 4})"
    again = InputSpec.from_config(spec.get_config())
    assert again.get_config() == spec.get_config() and again.name == "ids"
    with pytest.raises(TypeError, match=r"InputSpec: expected axes to be a dict of integer axis → size, got "
                                        r"\{'last': 4\}\. Fix: InputSpec\(axes=\{-1: 8\}\)"):
        InputSpec(axes={"last": 4})
    with pytest.raises(ValueError, match=r"InputSpec: expected the axes in axes to be below the rank 2, got axis 3\. "
                                         r"Fix: count axes from 0 \(the batch axis\) to 1"):
        InputSpec(ndim=2, axes={3: 1})
    with pytest.raises(TypeError, match=r"InputSpec: expected dtype to be a dtype or its name, got 'relu'\. Fix: "
                                        r"InputSpec\(dtype='float32'\)"):
        InputSpec(dtype="relu")


def test_brainnet_layers_have_no_spec_and_keep_their_own_checks():
    layer = Dense(2)
    assert layer.input_spec is None
    with pytest.raises(ValueError, match=r"expected input of rank at least 2"):
        layer(torch.ones(3))
    assert "InputSpec" not in brainnet._registry._builtins("layer")  # not a layer a file could name


def test_the_docstring_example_runs():
    failures, tried = doctest.testmod(brainnet.layers.input_spec)
    assert tried > 0 and failures == 0


def test_input_spec_is_also_at_the_top_level_as_keras_input_spec():
    assert brainnet.InputSpec is InputSpec and "InputSpec" in brainnet.__all__
