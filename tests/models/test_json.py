"""model.to_json / model_from_json / model_from_config: the architecture
without weights, round trips, custom layers and the errors of load_model."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from brainnet.layers import Concatenate, Dense, Dropout, Input, Layer, LSTM
from brainnet.models import Model, Sequential, model_from_config, model_from_json
from brainnet.saving import register_serializable
from brainnet.utils import set_random_seed

RNG = np.random.default_rng(0)


def sequential() -> Sequential:
    set_random_seed(0)
    return Sequential([Dense(8, activation="relu", input_shape=(4,)), Dropout(0.1), Dense(3, activation="softmax")])


def functional() -> Model:
    set_random_seed(0)
    a, b = Input((5, 3), name="seq"), Input((2,), name="extra")
    h = Concatenate()([LSTM(4)(a), b])
    return Model([a, b], [Dense(2, activation="softmax", name="cls")(h), Dense(1, name="reg")(h)])


def test_sequential_round_trip_has_the_architecture_and_fresh_weights(tmp_path):
    model = sequential()
    text = model.to_json()
    assert isinstance(text, str) and '"kernel"' not in text and '"bias"' not in text  # no weights in it
    first_kernel = model.layers[0].kernel.detach().numpy().ravel()
    assert f"{first_kernel[0]:.6f}"[:8] not in text  # nor their values
    spec = json.loads(text)
    assert spec["class_name"] == "Sequential" and spec["build_input_shape"] == [None, 4]
    rebuilt = model_from_json(text)
    assert type(rebuilt) is Sequential and rebuilt is not model
    assert rebuilt.get_config() == model.get_config() and json.loads(rebuilt.to_json()) == spec
    assert rebuilt.input_shape == (None, 4) and rebuilt.trainer is None  # built; never compiled, so not compiled
    x = RNG.normal(size=(6, 4)).astype("float32")
    assert not np.allclose(rebuilt.predict(x), model.predict(x))  # new weights
    model.save_weights(tmp_path / "w.safetensors")  # the Keras recipe: JSON + weights file
    rebuilt.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(rebuilt.predict(x), model.predict(x))


def test_functional_round_trip_with_two_inputs_and_outputs():
    model = functional()
    rebuilt = model_from_json(model.to_json(indent=2, sort_keys=True))
    assert type(rebuilt).__name__ == "Functional" and rebuilt.output_names == ["cls", "reg"]
    assert [t.name for t in rebuilt.inputs] == ["seq", "extra"]
    assert rebuilt.get_config() == model.get_config()
    rebuilt.set_weights(model.get_weights())
    xs = [RNG.normal(size=(3, 5, 3)).astype("float32"), RNG.normal(size=(3, 2)).astype("float32")]
    for got, want in zip(rebuilt.predict(xs), model.predict(xs)):
        np.testing.assert_array_equal(got, want)


def test_compile_settings_come_back_as_keras_3_restores_them():
    model = functional()
    model.compile(optimizer="adam", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5}, metrics={"cls": ["accuracy"]})
    rebuilt = model_from_json(model.to_json())
    assert type(rebuilt.optimizer).__name__ == "Adam"
    assert rebuilt.metrics_names == model.metrics_names
    assert [h.weight for h in rebuilt.trainer.heads] == [1.0, 0.5]
    assert model_from_config(json.loads(model.to_json()), compile=False).trainer is None


def test_a_lambda_loss_leaves_the_json_without_compile_settings_with_a_warning():
    model = sequential()
    model.compile("sgd", loss=lambda t, p: (p - t).square().mean())
    with pytest.warns(UserWarning, match=r"model\.to_json: the JSON holds no compile settings: the loss is a lambda"):
        text = model.to_json()
    assert json.loads(text)["compile_config"] is None and model_from_json(text).trainer is None


@register_serializable(package="tests_json")
class Shift(Layer):
    """y = x + offset."""

    def __init__(self, offset: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.offset = offset

    def call(self, inputs):
        return inputs + self.offset

    def get_config(self):
        return {**super().get_config(), "offset": self.offset}


def test_registered_custom_layer_round_trips_and_an_unregistered_one_needs_custom_objects():
    model = Sequential([Dense(2, input_shape=(3,)), Shift(2.5)])
    rebuilt = model_from_json(model.to_json())
    assert isinstance(rebuilt.layers[1], Shift) and rebuilt.layers[1].offset == 2.5

    class Twice(Layer):
        def call(self, inputs):
            return 2 * inputs

    text = Sequential([Dense(2, input_shape=(3,)), Twice()]).to_json()
    with pytest.raises(ValueError, match=r"model_from_json: unknown layer class or function 'Twice'.*Fix: decorate the "
                                         r"class with @brainnet\.saving\.register_serializable\(\) and import it before "
                                         r"loading, or pass custom_objects=\{'Twice': \.\.\.\} to load_model \(or "
                                         r"model_from_json, Model\.from_config\)\."):
        model_from_json(text)
    assert isinstance(model_from_json(text, custom_objects={"Twice": Twice}).layers[1], Twice)


def test_a_subclassed_model_with_get_config_round_trips():
    @register_serializable(package="tests_json")
    class Tower(Model):
        def __init__(self, units: int = 4, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.hidden = Dense(units, activation="relu")
            self.out = Dense(1)

        def call(self, inputs):
            return self.out(self.hidden(inputs))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    model = Tower(6)
    model.build((None, 3))
    rebuilt = model_from_json(model.to_json())
    assert type(rebuilt) is Tower and rebuilt.units == 6 and rebuilt.built
    rebuilt.set_weights(model.get_weights())
    x = torch.ones(2, 3)
    assert torch.equal(rebuilt(x), model(x))


def test_errors_for_what_is_not_to_json_text():
    with pytest.raises(ValueError, match=r"model_from_json: expected the JSON text of model\.to_json\(\), got text "
                                         r"that is not JSON \(.*it starts 'model\.json'\)\. Fix: pass the whole string"):
        model_from_json("model.json")
    with pytest.raises(TypeError, match=r"model_from_json: expected the string model\.to_json\(\) returned, got "
                                        r"dict\. Fix: model_from_config\(config\)\."):
        model_from_json(json.loads(sequential().to_json()))
    with pytest.raises(ValueError, match=r"model_from_json: expected a JSON object from model\.to_json\(\), got a "
                                         r"JSON list\. Fix: pass the string"):
        model_from_json("[1, 2]")
    with pytest.raises(TypeError, match=r"model_from_config: expected a dictionary .* got list\. Fix: a list: the "
                                        r"layers of a Sequential\?"):
        model_from_config([])
    with pytest.raises(ValueError, match=r"model_from_json: unknown layer class or function 'os\.system'"):
        model_from_json(json.dumps({"class_name": "os.system", "config": {}}))
    spec = json.loads(sequential().to_json())
    spec["class_names"] = "cat"
    with pytest.raises(ValueError, match=r"model_from_json: the JSON was altered or damaged: class_names: expected a "
                                         r"list of strings"):
        model_from_json(json.dumps(spec))


def test_to_json_of_an_unbuilt_model_rebuilds_unbuilt():
    model = Sequential([Dense(3), Dense(1)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rebuilt = model_from_json(model.to_json())
    assert not rebuilt.built and json.loads(model.to_json())["build_input_shape"] is None
    assert rebuilt.predict(np.ones((2, 5), "float32")).shape == (2, 1)
