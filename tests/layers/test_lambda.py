"""Lambda: y = f(x) against NumPy, in Sequential and functional models, the
output shape found by running f (unknown sizes stay unknown) or given, the
training flag, save/load of a registered function and the refusal of a
lambda or an unregistered function at save time, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet
from brainnet.layers import Dense, Input, Lambda
from brainnet.models import Model, Sequential, load_model
from brainnet.saving import register_serializable
from brainnet.utils import set_random_seed


@register_serializable(package="test_lambda")
def scaled_square(x):
    return 0.5 * x * x


@register_serializable(package="test_lambda")
def difference(xs):
    return xs[0] - xs[1]


def not_registered(x):
    return x + 1


def _x(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def test_output_is_the_function_of_the_input():
    x = _x((4, 6))
    y = Lambda(lambda t: torch.tanh(t[:, :3]) * 2)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y, np.tanh(x[:, :3]) * 2, rtol=1e-12, atol=1e-12)


def test_in_sequential_it_trains_and_predicts_f_of_the_previous_layer():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, :1] ** 2).astype("float32")
    set_random_seed(0)
    model = Sequential([Dense(3, input_shape=(4,)), Lambda(scaled_square), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    w1, b1, w2, b2 = model.get_weights()
    expected = (0.5 * (x @ w1 + b1) ** 2) @ w2 + b2  # Dense → ½h² → Dense, in NumPy
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    assert model.output_shape == (None, 1)


def test_in_a_functional_model_with_two_inputs():
    a, b = Input((3,)), Input((3,))
    out = Lambda(lambda ts: ts[0] - ts[1])([a, b])
    assert out.shape == (None, 3)
    model = Model([a, b], out)
    xa, xb = _x((5, 3)).astype("float32"), _x((5, 3), seed=1).astype("float32")
    np.testing.assert_array_equal(model.predict([xa, xb], verbose=0), xa - xb)


def test_output_shape_found_by_running_f_keeps_unknown_sizes_unknown():
    seq = Input((None, 4))
    assert Lambda(lambda t: t.mean(1))(seq).shape == (None, 4)  # time reduced
    assert Lambda(lambda t: t[:, :, :2])(seq).shape == (None, None, 2)  # time still unknown
    assert Lambda(lambda t: t.reshape(t.shape[0], -1))(Input((3, 4))).shape == (None, 12)
    layer = Lambda(lambda t: t[:, :2])
    assert layer.compute_output_shape((7, 5)) == (7, 2)  # a known batch size stays
    assert layer.compute_output_shape((None, 5)) == (None, 2)
    assert Lambda(lambda ts: [ts[0], ts[1][:, :1]]).compute_output_shape([(None, 3), (None, 2)]) == [
        (None, 3), (None, 1)]


def test_given_output_shape_is_used_and_checked():
    layer = Lambda(lambda t: t[:, :2], output_shape=(2,))
    assert layer.compute_output_shape((None, 5)) == (None, 2)
    assert layer(torch.ones(3, 5)).shape == (3, 2)
    wrong = Lambda(lambda t: t[:, :3], output_shape=(2,), name="cut")
    with pytest.raises(ValueError, match=r"Layer 'cut' \(Lambda\): expected outputs of shape \(None, 2\) \(its "
                                         r"output_shape\), got \(3, 3\)\. Fix: give output_shape the shape of one "
                                         r"output sample, or leave it out\."):
        wrong(torch.ones(3, 5))


def test_a_function_with_a_training_parameter_gets_the_flag():
    seen = []

    def noisy(x, training=None):
        seen.append(training)
        return x + 1.0 if training else x

    layer = Lambda(noisy)
    x = torch.zeros(2, 3)
    assert torch.equal(layer(x, training=True), x + 1.0)
    assert torch.equal(layer(x, training=False), x)
    assert seen == [True, False]
    model = Sequential([Lambda(noisy, input_shape=(3,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    seen.clear()
    model.fit(np.zeros((4, 3), "float32"), np.zeros((4, 1), "float32"), epochs=1, batch_size=4, verbose=0)
    assert seen.count(True) == 1  # the one training step (shape probes run with training=False)
    seen.clear()
    model.predict(np.zeros((4, 3), "float32"), verbose=0)
    assert seen == [False]


def test_a_registered_function_saves_and_loads_with_identical_predictions(tmp_path):
    set_random_seed(0)
    a, b = Input((4,)), Input((4,))
    h = Lambda(difference, name="diff")([Dense(4)(a), Dense(4)(b)])
    model = Model([a, b], Dense(2)(Lambda(scaled_square, output_shape=(4,))(h)))
    model.compile(optimizer="adam", loss="mse")
    xa, xb = _x((8, 4)).astype("float32"), _x((8, 4), seed=2).astype("float32")
    model.fit([xa, xb], _x((8, 2), seed=3).astype("float32"), epochs=1, verbose=0)
    model.save(tmp_path / "lambda.brainnet")
    loaded = load_model(tmp_path / "lambda.brainnet")
    lambdas = [l for l in loaded.layers if isinstance(l, Lambda)]
    assert [l.function for l in lambdas] == [difference, scaled_square]
    assert lambdas[1].output_shape == (4,)
    np.testing.assert_array_equal(loaded.predict([xa, xb], verbose=0), model.predict([xa, xb], verbose=0))
    config = lambdas[0].get_config()
    assert config["function"] == "test_lambda>difference"
    assert Lambda.from_config(config).get_config() == config


def test_custom_objects_can_supply_the_function_when_loading(tmp_path):
    model = Sequential([Lambda(scaled_square, input_shape=(3,)), Dense(1)])
    model.save(tmp_path / "m.brainnet")
    with brainnet._registry.custom_objects({"test_lambda>scaled_square": not_registered}):
        swapped = load_model(tmp_path / "m.brainnet")
    assert swapped.layers[0].function is not_registered  # custom_objects come first, as for classes


@pytest.mark.parametrize("function, what", [
    (lambda x: x * 2, "a lambda"),
    (not_registered, "the unregistered function 'not_registered'"),
])
def test_save_refuses_a_lambda_or_an_unregistered_function(tmp_path, function, what):
    model = Sequential([Lambda(function, input_shape=(3,), name="f"), Dense(1)])
    path = tmp_path / "m.brainnet"
    with pytest.raises(ValueError, match=rf"save: expected Lambda 'f' to wrap a function registered by name \(files "
                                         rf"never store code\), got {what}\. Fix: def my_function\(x\): \.\.\. "
                                         r"decorated with @brainnet\.saving\.register_serializable\(\), then "
                                         r"Lambda\(my_function\); or write a Layer subclass\."):
        model.save(path)
    assert not path.exists()


def test_errors():
    with pytest.raises(TypeError, match=r"Lambda: expected a function of torch tensors, got int 3\. "
                                        r"Fix: Lambda\(lambda x: x \* 2\), or Lambda\(my_function\)\."):
        Lambda(3)
    for bad in ((0,), "10", (2.5,), 10, (True,)):
        with pytest.raises(ValueError, match=r"Lambda: expected output_shape to be the shape of one output sample "
                                             r"\(a tuple of sizes, None for any\), or None, got .*\. Fix: "
                                             r"Lambda\(f, output_shape=\(10,\)\)"):
            Lambda(lambda x: x, output_shape=bad)


def test_a_config_naming_a_python_callable_is_refused_and_nothing_runs():
    with pytest.raises(ValueError, match=r"unknown function class or function 'os\.system': it is not one of "
                                         r"brainnet's, not registered, and not in custom_objects \(files never "
                                         r"import code by name\)\. Fix: decorate"):
        Lambda.from_config({"name": "l", "trainable": True, "function": "os.system", "output_shape": None})
