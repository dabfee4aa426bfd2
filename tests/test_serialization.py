"""Keras 3's serialization utilities (brainnet._serialization): custom_object_scope,
get_custom_objects, get_registered_object/name, serialize_keras_object and
deserialize_keras_object over brainnet's one registry."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest
import torch

import brainnet._serialization
from brainnet import (activations, constraints, initializers, losses, metrics, optimizers, regularizers, saving,
                      schedules, utils)
from brainnet.layers import Dense, Layer
from brainnet.models import Sequential, model_from_json
from brainnet.saving import (CustomObjectScope, custom_object_scope, deserialize_keras_object, get_custom_objects,
                             get_registered_name, get_registered_object, serialize_keras_object)


class Twice(Layer):  # deliberately not registered: found through a scope or custom_objects only
    def call(self, inputs):
        return 2 * inputs


@saving.register_serializable(package="hz_tests")
class Halve(Layer):
    def call(self, inputs):
        return inputs / 2


@saving.register_serializable(package="hz_tests")
def doubled_error(y_true, y_pred):
    return ((y_true - y_pred) ** 2).mean(-1) * 2


def through_json(spec):
    return json.loads(json.dumps(spec))


def test_utils_exports_the_same_functions_as_saving():
    for name in ("register_keras_serializable", "custom_object_scope", "CustomObjectScope", "get_custom_objects",
                 "get_registered_object", "get_registered_name", "serialize_keras_object", "deserialize_keras_object"):
        assert getattr(utils, name) is getattr(saving, name), name
        assert name in utils.__all__ and name in saving.__all__
    assert custom_object_scope is CustomObjectScope


def test_a_layer_known_only_to_a_scope_loads_only_inside_it(tmp_path):
    model = Sequential([Dense(2, input_shape=(3,)), Twice(name="twice")])
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    path = tmp_path / "m.brainnet"
    model.save(path)
    text = model.to_json()
    unknown = (r"unknown layer class or function 'Twice': it is not one of brainnet's, not registered, and not in "
               r"custom_objects.*Fix: decorate the class with @brainnet\.saving\.register_serializable\(\)")
    with pytest.raises(ValueError, match=unknown):
        saving.load_model(path)
    with custom_object_scope({"Twice": Twice}):
        loaded = saving.load_model(path)
        rebuilt = model_from_json(text)
        spec = deserialize_keras_object(through_json(serialize_keras_object(model)))
    assert isinstance(loaded.layers[1], Twice) and isinstance(rebuilt.layers[1], Twice)
    assert isinstance(spec.layers[1], Twice)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match=unknown):  # gone once the block is left
        model_from_json(text)
    with pytest.raises(ValueError, match=unknown):
        deserialize_keras_object(serialize_keras_object(Twice()))
    assert isinstance(deserialize_keras_object(serialize_keras_object(Twice()), custom_objects={"Twice": Twice}), Twice)


def test_nested_scopes_add_to_the_outer_one_and_the_inner_wins_a_shared_name():
    class Other(Twice):
        pass

    spec = {"class_name": "Twice", "config": {"name": "t"}}
    with CustomObjectScope({"Twice": Twice}) as outer:
        assert outer.custom_objects == {"Twice": Twice}
        with custom_object_scope({"Other": Other}):
            assert get_registered_object("Twice") is Twice and get_registered_object("Other") is Other
        with custom_object_scope({"Twice": Other}):
            assert type(deserialize_keras_object(spec)) is Other
        assert type(deserialize_keras_object(spec)) is Twice
    assert get_registered_object("Twice") is None


def test_registered_names_objects_and_the_live_registry():
    assert get_registered_name(Halve) == "hz_tests>Halve"
    assert get_registered_name(doubled_error) == "hz_tests>doubled_error"
    assert get_registered_name(Twice) == "Twice"  # not registered: its __name__, as Keras
    assert get_custom_objects()["hz_tests>Halve"] is Halve
    assert get_registered_object("hz_tests>Halve") is Halve
    assert utils.register_keras_serializable is saving.register_serializable
    # Keras's order: the scope, the registry, then custom_objects, then module_objects.
    assert get_registered_object("X", custom_objects={"X": len}, module_objects={"X": abs}) is len
    assert get_registered_object("X", module_objects={"X": abs}) is abs
    assert get_registered_object("hz_tests>Halve", custom_objects={"hz_tests>Halve": Twice}) is Halve
    with custom_object_scope({"hz_tests>Halve": Twice}):
        assert get_registered_object("hz_tests>Halve") is Twice
    assert get_registered_object("Dense") is None  # brainnet's own are not "registered", as in Keras
    # An entry written into the live registry by hand is what loading then finds.
    get_custom_objects()["hz_tests>ByHand"] = Twice
    try:
        layer = deserialize_keras_object({"class_name": "hz_tests>ByHand", "config": {"name": "h"}})
        assert type(layer) is Twice
    finally:
        del get_custom_objects()["hz_tests>ByHand"]


def same_config(a, b):
    return json.dumps(serialize_keras_object(a), sort_keys=True) == json.dumps(serialize_keras_object(b), sort_keys=True)


@pytest.mark.parametrize("make, module", [
    (lambda: Dense(3, activation="relu", kernel_regularizer=regularizers.L2(0.1), name="d"), "brainnet.layers"),
    (lambda: Halve(name="h"), "brainnet.layers"),
    (lambda: Sequential([Dense(2, input_shape=(3,), name="a"), Halve(name="h")], name="s"), "brainnet.models"),
    (lambda: optimizers.SGD(learning_rate=0.1, momentum=0.9, clipnorm=1.0), "brainnet.optimizers"),
    (lambda: schedules.CosineDecay(0.1, 100, alpha=0.1), "brainnet.optimizers.schedules"),
    (lambda: losses.SparseCategoricalCrossentropy(from_logits=True), "brainnet.losses"),
    (lambda: losses.Huber(delta=2.0), "brainnet.losses"),
    (lambda: metrics.AUC(num_thresholds=50, curve="PR"), "brainnet.metrics"),
    (lambda: metrics.MeanSquaredError(name="m"), "brainnet.metrics"),
    (lambda: initializers.VarianceScaling(2.0, mode="fan_out", seed=3), "brainnet.initializers"),
    (lambda: regularizers.L1L2(0.1, 0.2), "brainnet.regularizers"),
    (lambda: constraints.MinMaxNorm(0.5, 2.0, axis=1), "brainnet.constraints"),
])
def test_each_kind_of_object_round_trips_through_json(make, module):
    obj = make()
    spec = serialize_keras_object(obj)
    assert spec["module"] == module and spec["class_name"] == get_registered_name(type(obj))
    back = deserialize_keras_object(through_json(spec))
    assert type(back) is type(obj) and back is not obj
    assert same_config(back, obj)


def test_round_tripped_objects_compute_the_same():
    rate = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    adam = deserialize_keras_object(through_json(serialize_keras_object(optimizers.Adam(learning_rate=rate))))
    assert isinstance(adam.schedule, schedules.ExponentialDecay)
    assert float(adam.schedule(20)) == pytest.approx(0.1 * 0.5 ** 2)
    y, p = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[0.2, 0.9], [0.6, 0.1]])
    huber = deserialize_keras_object(through_json(serialize_keras_object(losses.Huber(delta=0.3))))
    assert float(huber(y, p)) == pytest.approx(float(losses.Huber(delta=0.3)(y, p)))
    w = torch.full((3, 2), 5.0)
    norm = deserialize_keras_object(through_json(serialize_keras_object(constraints.MaxNorm(2.0))))
    np.testing.assert_allclose(torch.linalg.norm(norm(w), dim=0).numpy(), [2.0, 2.0], rtol=1e-5)


def test_functions_by_name_and_plain_values():
    assert serialize_keras_object(activations.relu) == {"module": "brainnet.activations", "function": "relu"}
    assert deserialize_keras_object({"module": "brainnet.activations", "function": "relu"}) is activations.relu
    assert deserialize_keras_object({"function": "mean_squared_error"}) is losses.mean_squared_error
    assert serialize_keras_object(doubled_error) == {"function": "hz_tests>doubled_error"}
    assert deserialize_keras_object(through_json(serialize_keras_object(doubled_error))) is doubled_error
    # A function that compile wrapped in a Loss or a metric is saved as the function.
    wrapped = losses.get(doubled_error)
    assert deserialize_keras_object(serialize_keras_object(wrapped)) is doubled_error
    assert deserialize_keras_object(serialize_keras_object(metrics.get(doubled_error))) is doubled_error
    plain = [None, 1, 2.5, "relu", True, (1, 2), {"a": [np.float32(0.5)]}]
    assert serialize_keras_object(plain) == [None, 1, 2.5, "relu", True, (1, 2), {"a": [0.5]}]
    assert deserialize_keras_object(through_json(serialize_keras_object(plain))) == [None, 1, 2.5, "relu", True,
                                                                                     [1, 2], {"a": [0.5]}]
    assert deserialize_keras_object("hz_tests>doubled_error") is doubled_error  # a registered name, as Keras


def test_a_spec_without_module_uses_the_one_family_that_knows_the_name():
    layer = deserialize_keras_object({"class_name": "Dense", "config": {"units": 4, "name": "d"}})
    assert type(layer) is Dense and layer.units == 4
    assert type(deserialize_keras_object({"class_name": "Adam", "config": {"learning_rate": 0.5}})) is optimizers.Adam
    halve = deserialize_keras_object({"class_name": "hz_tests>Halve", "config": {"name": "h"}})
    assert type(halve) is Halve
    metric = deserialize_keras_object({"module": "brainnet.metrics", "class_name": "MeanSquaredError", "config": {}})
    assert type(metric) is metrics.MeanSquaredError


def test_errors_say_what_was_expected_and_the_fix():
    with pytest.raises(ValueError, match=r"expected a 'module' with 'MeanSquaredError', which names a class in several "
                                         r"families \(loss, metric\), got none\. Fix: add \"module\": "
                                         r"'brainnet\.losses' or 'brainnet\.metrics' to the spec\."):
        deserialize_keras_object({"class_name": "MeanSquaredError", "config": {}})
    with pytest.raises(ValueError, match=r"expected 'module' to be one of \['brainnet\.models', .*got 'os' \(files "
                                         r"never import code by name\)\. Fix: use the spec serialize_keras_object"):
        deserialize_keras_object({"module": "os", "class_name": "system", "config": {}})
    with pytest.raises(ValueError, match=r"expected a function's 'module' to be one of \['brainnet\.activations', "
                                         r".*got 'os'\. Fix: use the spec serialize_keras_object wrote"):
        deserialize_keras_object({"module": "os", "function": "system"})
    with pytest.raises(ValueError, match=r"unknown function class or function 'os\.system'.*Fix: decorate"):
        deserialize_keras_object({"function": "os.system"})
    with pytest.raises(ValueError, match=r"serialize_keras_object: expected a function a file can name, got "
                                         r"<function .*<lambda>.*Fix: define it with def and decorate it"):
        serialize_keras_object(lambda x: x)
    with pytest.raises(TypeError, match=r"serialize_keras_object: expected a brainnet layer, .* got Tensor\. Fix: "
                                        r"pass an instance .*x\.tolist\(\)"):
        serialize_keras_object(torch.zeros(2))
    with pytest.raises(TypeError, match=r"got the class Dense\. Fix: pass an instance"):
        serialize_keras_object(Dense)
    with pytest.raises(TypeError, match=r"get_registered_name: expected a class or a function, got an instance of "
                                        r"Dense\. Fix: get_registered_name\(type\(obj\)\)\."):
        get_registered_name(Dense(2))
    with pytest.raises(TypeError, match=r"custom_object_scope: expected a dict of name → class or function, got "
                                        r"\[.*\]\. Fix: custom_object_scope\(\{'MyLayer': MyLayer"):
        custom_object_scope([Twice])
    with pytest.raises(TypeError, match=r"deserialize_keras_object: expected a dict of name → class or function, got "
                                        r"\{'Twice': 3\}\. Fix: deserialize_keras_object\(\{'MyLayer'"):
        deserialize_keras_object({"class_name": "Twice", "config": {}}, custom_objects={"Twice": 3})
    with pytest.raises(TypeError, match=r"deserialize_keras_object: expected what serialize_keras_object returns "
                                        r"\(a dict, list or plain value\), got Dense\. Fix: "):
        deserialize_keras_object(Dense(2))
    with pytest.raises(ValueError, match=r"'Twice' names .*expected a subclass of Optimizer"):
        deserialize_keras_object({"module": "brainnet.optimizers", "class_name": "Twice", "config": {}},
                                 custom_objects={"Twice": Twice})



def test_the_docstring_examples_run():
    failures, tried = doctest.testmod(brainnet._serialization)
    assert tried > 0 and failures == 0
