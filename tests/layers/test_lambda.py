"""Lambda: y = f(x) against NumPy, in Sequential and functional models, the
output shape found by running f (unknown sizes stay unknown) or given, the
training flag, save/load of a registered function and the refusal of a
lambda or an unregistered function at save time, Keras's ``arguments`` (passed
at each call, saved) and ``mask`` (a function, the previous mask passed on, or
a fixed tensor) reaching the LSTM after it, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet
from brainnet.layers import LSTM, Dense, Embedding, Input, Lambda
from brainnet.models import Model, Sequential, load_model
from brainnet.saving import register_serializable
from brainnet.utils import set_random_seed


@register_serializable(package="test_lambda")
def scaled_square(x):
    return 0.5 * x * x


@register_serializable(package="test_lambda")
def difference(xs):
    return xs[0] - xs[1]


@register_serializable(package="test_lambda")
def scale_by(x, factor, shift=0.0):
    return x * factor + shift


@register_serializable(package="test_lambda")
def nonzero_steps(x, previous_mask):
    return (x != 0).any(dim=-1)  # (B, T): a step is real when some feature is not 0


@register_serializable(package="test_lambda")
def keep_previous(x, previous_mask):
    return previous_mask


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


# ------------------------------------------------------------------ Keras's arguments and mask
def _padded(lengths, steps=5, features=2, seed=4) -> np.ndarray:
    """Sequences of the given lengths, padded with zeros after them."""
    x = np.random.default_rng(seed).normal(size=(len(lengths), steps, features)).astype("float32")
    for n, length in enumerate(lengths):
        x[n, length:] = 0.0
    return x


def _last_outputs(lstm, x, lengths) -> np.ndarray:
    """The LSTM run on each sequence cut to its length, no mask: what a masked run must give."""
    with torch.no_grad():
        return np.concatenate([lstm(torch.from_numpy(x[n:n + 1, :length])).numpy()
                               for n, length in enumerate(lengths)])


def test_arguments_are_passed_to_the_function_at_each_call():
    x = _x((3, 4))
    layer = Lambda(scale_by, arguments={"factor": 3.0, "shift": -1.0})
    for _ in range(2):
        np.testing.assert_allclose(layer(torch.from_numpy(x)).numpy(), 3.0 * x - 1.0, rtol=1e-12)
    assert layer.compute_output_shape((None, 4)) == (None, 4)
    assert Lambda(lambda t, **kw: t * kw["k"], arguments={"k": 2})(torch.ones(1, 2)).tolist() == [[2.0, 2.0]]


@pytest.mark.parametrize("api", ["sequential", "functional"])
def test_a_mask_function_makes_the_lstm_after_it_skip_padding(api):
    lengths = [5, 3, 1]
    x = _padded(lengths)
    set_random_seed(0)
    if api == "sequential":
        model = Sequential([Lambda(scale_by, arguments={"factor": 1.0}, mask=nonzero_steps, input_shape=(5, 2)),
                            LSTM(4)])
    else:
        inputs = Input((5, 2))
        model = Model(inputs, LSTM(4)(Lambda(scale_by, arguments={"factor": 1.0}, mask=nonzero_steps)(inputs)))
    lstm = [layer for layer in model.layers if isinstance(layer, LSTM)][0]
    got = model.predict(x, verbose=0)
    np.testing.assert_allclose(got, _last_outputs(lstm, x, lengths), rtol=1e-5, atol=1e-6)
    unmasked = Sequential([Lambda(scale_by, arguments={"factor": 1.0}), lstm])
    assert not np.allclose(unmasked.predict(x, verbose=0)[1:], got[1:], atol=1e-3)  # the mask is what did it


def test_a_fixed_mask_tensor_is_the_output_mask_whatever_the_input():
    lengths = [2, 2, 2]
    x = _padded([5, 5, 5])
    steps = np.array([[True, True, False, False, False]] * 3)
    layer = Lambda(scale_by, arguments={"factor": 1.0}, mask=steps)
    assert layer.compute_mask(torch.from_numpy(x), None).tolist() == steps.tolist()
    set_random_seed(0)
    model = Sequential([layer, LSTM(3)])
    np.testing.assert_allclose(model.predict(x, verbose=0), _last_outputs(model.layers[1], x, lengths),
                               rtol=1e-5, atol=1e-6)


def test_the_previous_mask_passes_on_and_a_function_with_a_mask_parameter_gets_it():
    tokens = np.array([[3, 5, 2, 0, 0], [7, 0, 0, 0, 0], [1, 2, 3, 4, 5]])
    lengths = [3, 1, 5]
    set_random_seed(1)
    embed, lstm = Embedding(8, 2, mask_zero=True), LSTM(4)
    model = Sequential([embed, Lambda(scale_by, arguments={"factor": 2.0}, mask=keep_previous), lstm])
    doubled = (2.0 * embed(torch.from_numpy(tokens))).detach().numpy()
    np.testing.assert_allclose(model.predict(tokens, verbose=0), _last_outputs(lstm, doubled, lengths),
                               rtol=1e-5, atol=1e-6)

    def masked_mean(x, mask=None):  # the shape probe runs it without a mask
        if mask is None:
            return x.mean(1)
        return (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)

    mean = Sequential([embed, Lambda(masked_mean)])
    vectors = embed(torch.from_numpy(tokens)).detach().numpy()
    want = np.stack([vectors[n, :length].mean(0) for n, length in enumerate(lengths)])
    np.testing.assert_allclose(mean.predict(tokens, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_arguments_and_mask_are_saved_and_loaded(tmp_path):
    lengths = [4, 2]
    x = _padded(lengths, seed=6)
    set_random_seed(0)
    inputs = Input((5, 2))
    h = Lambda(scale_by, arguments={"factor": 0.5, "shift": 0.0}, mask=nonzero_steps, name="scaled")(inputs)
    model = Model(inputs, Dense(1)(LSTM(3)(h)))
    before = model.predict(x, verbose=0)
    model.save(tmp_path / "m.brainnet")
    loaded = load_model(tmp_path / "m.brainnet")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), before, rtol=1e-6)
    config = [layer for layer in loaded.layers if isinstance(layer, Lambda)][0].get_config()
    assert config["arguments"] == {"factor": 0.5, "shift": 0.0} and config["mask"] == "test_lambda>nonzero_steps"
    assert Lambda.from_config(config).get_config() == config
    fixed = Lambda(scaled_square, mask=[[True, False]]).get_config()
    assert fixed["mask"] == [[True, False]] and fixed["arguments"] == {}
    again = Lambda.from_config(fixed)
    assert again.get_config() == fixed and again.compute_mask(torch.zeros(1, 2, 1), None).dtype == torch.bool


def test_arguments_and_mask_errors():
    with pytest.raises(TypeError, match=r"Lambda: expected arguments to be a dict of keyword arguments for the "
                                        r"function, got \[2\.0\]\. Fix: Lambda\(f, arguments=\{'factor': 2\.0\}\) "
                                        r"calls f\(x, factor=2\.0\)\."):
        Lambda(scale_by, arguments=[2.0])
    with pytest.raises(ValueError, match=r"Lambda: expected arguments that the function takes \(x, factor, shift\), "
                                         r"got \['scale'\]\. Fix: name them as the function's parameters"):
        Lambda(scale_by, arguments={"scale": 2.0})
    with pytest.raises(TypeError, match=r"Lambda: expected mask to be None, a function mask\(inputs, previous_mask\) "
                                        r"or a tensor of booleans, got str 'steps'\. Fix: mask=lambda x, previous: "):
        Lambda(scale_by, mask="steps")


def test_save_refuses_an_unregistered_mask_function_and_arguments_that_are_not_json(tmp_path):
    model = Sequential([Lambda(scaled_square, mask=lambda x, m: None, input_shape=(3,), name="f"), Dense(1)])
    with pytest.raises(ValueError, match=r"save: expected Lambda 'f' to wrap a mask function registered by name "
                                         r"\(files never store code\), got a lambda\. Fix: def my_mask\(x, "
                                         r"previous_mask\): \.\.\. decorated with @brainnet\.saving\."
                                         r"register_serializable\(\), then Lambda\(f, mask=my_mask\)"):
        model.save(tmp_path / "m.brainnet")
    tensor_argument = Sequential([Lambda(scale_by, arguments={"factor": torch.ones(3)}, input_shape=(3,), name="t")])
    with pytest.raises(ValueError, match=r"save: expected Lambda 't' to have arguments of JSON values \(numbers, "
                                         r"strings, booleans, None, lists and dicts of them\), got \{'factor': "
                                         r"'Tensor'\}\. Fix: pass plain values, e\.g\. a tensor as t\.tolist\(\)"):
        tensor_argument.save(tmp_path / "t.brainnet")
    assert not (tmp_path / "m.brainnet").exists() and not (tmp_path / "t.brainnet").exists()


def test_a_lambda_that_captures_a_tensor_with_a_graph_is_refused_with_the_fix():
    """The CCT example's ``t + position_embeddings``, the table from an Embedding called on positions."""
    position_embeddings = Embedding(5, 3)(torch.arange(5))
    with pytest.raises(ValueError, match=r"'position_embeddings' \(5, 3\) computed with autograd.*"
                                         r"position_embeddings = position_embeddings.detach\(\)"):
        Lambda(lambda t: t + position_embeddings)
    # the fix: a constant, added as Keras adds it (trains twice without a freed graph)
    position_embeddings = position_embeddings.detach()
    inputs = Input((5, 3))
    model = Model(inputs, Dense(3)(Lambda(lambda t: t + position_embeddings)(inputs)))
    model.compile("sgd", "mse")
    x = np.zeros((4, 5, 3), "float32")
    history = model.fit(x, x, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
