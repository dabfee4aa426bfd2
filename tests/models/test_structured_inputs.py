"""A subclassed model (``class M(Model)`` with its own ``call``) called, fit,
evaluated and predicted on a structure of inputs, as Keras 3 takes them: a dict
of arrays, a tuple or list of them, and lists and dicts inside one another; each
reaches ``call`` in the structure it was given, batch by batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import Dense
from brainnet.models import Model
from brainnet.utils import set_random_seed


class TwoBranch(Model):
    """y = a·W_a + b_a + (b·W_b + b_b) · s: three inputs, read by name (or position)."""

    def __init__(self, keyed: bool = True, name: str | None = None) -> None:
        super().__init__(name=name)
        self.keyed = keyed
        self.seen: list[type] = []
        self.dense_a = Dense(1)
        self.dense_b = Dense(1)

    def call(self, inputs):
        if self.keyed:
            a, b, s = inputs["a"], inputs["b"], inputs["scale"]
        else:
            a, b, s = inputs
        if a.shape[0] > 1:  # a batch of data (the build and shape probes run on one sample of zeros)
            self.seen.append(type(inputs))
        return self.dense_a(a) + self.dense_b(b) * s


class Nested(Model):
    """y = x·W + (p_0 + p_1)·V: a dict holding an array and a list of two."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = Dense(2)
        self.pair = Dense(2, use_bias=False)

    def call(self, inputs):
        first, second = inputs["pair"]
        return self.dense(inputs["x"]) + self.pair(first + second)


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return {"a": rng.normal(size=(n, 3)), "b": rng.normal(size=(n, 2)), "scale": rng.random((n, 1))}


def _numpy_two_branch(model, data):
    wa, ba, wb, bb = (w.astype("float64") for w in model.get_weights())
    return data["a"] @ wa + ba + (data["b"] @ wb + bb) * data["scale"]


def test_a_subclassed_model_called_on_a_dict_of_tensors_builds_for_a_dict_of_shapes():
    set_random_seed(0)
    model = TwoBranch()
    data = _data(5)
    out = model({k: torch.from_numpy(v).float() for k, v in data.items()})
    assert model.built and model.input_shape == {"a": (None, 3), "b": (None, 2), "scale": (None, 1)}
    np.testing.assert_allclose(out.detach().numpy(), _numpy_two_branch(model, data), rtol=1e-5, atol=1e-6)
    assert model.compute_output_shape(model.input_shape) == (None, 1)


def test_fit_evaluate_predict_on_a_dict_of_arrays():
    set_random_seed(1)
    data = _data(256)
    y = _numpy_two_branch_target(data)
    model = TwoBranch()
    model.compile(optimizer="sgd", loss="mse")
    start = model.evaluate(data, y, verbose=0)
    history = model.fit(data, y, epochs=3, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < start
    assert model.seen and set(model.seen) == {dict}  # every batch reached call as a dict
    # evaluate's loss is the NumPy mean squared error at the trained weights, predict the NumPy outputs
    expected = _numpy_two_branch(model, data)
    assert model.evaluate(data, y, batch_size=100, verbose=0) == pytest.approx(np.mean((expected - y) ** 2), rel=1e-5)
    np.testing.assert_allclose(model.predict(data, batch_size=100, verbose=0), expected, rtol=1e-5, atol=1e-5)


def _numpy_two_branch_target(data):
    return data["a"] @ np.array([[1.0], [-2.0], [0.5]]) + (data["b"] @ np.array([[3.0], [1.0]])) * data["scale"]


@pytest.mark.parametrize("container", [tuple, list])
def test_fit_and_predict_on_a_tuple_or_list_of_arrays_keep_the_container(container):
    set_random_seed(2)
    data = _data(64)
    x = container([data["a"], data["b"], data["scale"]])
    y = _numpy_two_branch_target(data)
    model = TwoBranch(keyed=False)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert set(model.seen) == {container}
    assert model.input_shape == [(None, 3), (None, 2), (None, 1)]  # shape_of lists the shapes of a tuple too
    np.testing.assert_allclose(model.predict(x, verbose=0), _numpy_two_branch(model, data), rtol=1e-5, atol=1e-5)


def test_fit_on_nested_dicts_and_lists():
    set_random_seed(3)
    rng = np.random.default_rng(3)
    x = {"x": rng.normal(size=(40, 4)), "pair": [rng.normal(size=(40, 3)), rng.normal(size=(40, 3))]}
    y = rng.normal(size=(40, 2))
    model = Nested()
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert model.input_shape == {"x": (None, 4), "pair": [(None, 3), (None, 3)]}
    w, b, v = (a.astype("float64") for a in model.get_weights())
    expected = x["x"] @ w + b + (x["pair"][0] + x["pair"][1]) @ v
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(np.mean((expected - y) ** 2), rel=1e-5)


def test_validation_data_as_a_dict():
    set_random_seed(4)
    data, val = _data(64, 0), _data(32, 1)
    model = TwoBranch()
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(data, _numpy_two_branch_target(data), validation_data=(val, _numpy_two_branch_target(val)),
                        epochs=1, verbose=0)
    expected = np.mean((_numpy_two_branch(model, val) - _numpy_two_branch_target(val)) ** 2)
    assert history.history["val_loss"][0] == pytest.approx(expected, rel=1e-5)


def test_structure_errors():
    data = _data(16)
    model = TwoBranch(name="two_branch")
    model.compile(optimizer="sgd", loss="mse")
    model.fit(data, np.zeros((16, 1)), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"x: model 'two_branch' was built for a dict of inputs \{'a': array, 'b': "
                                         r"array, 'scale': array\}, got one ndarray\. Fix: pass the arrays in a dict "
                                         r"with those keys, model\.fit\(\{'a': \.\.\., 'b': \.\.\., 'scale': \.\.\.\}"):
        model.predict(data["a"], verbose=0)
    with pytest.raises(ValueError, match=r"x: model 'two_branch' was built for inputs structured as \{'a': array, "
                                         r"'b': array, 'scale': array\}, got \{'a': array, 'b': array\}\. Fix: give "
                                         r"the arrays in the structure"):
        model.predict({"a": data["a"], "b": data["b"]}, verbose=0)
    short = dict(data, b=data["b"][:10])
    with pytest.raises(ValueError, match=r"x: expected every array of x to hold the same number of samples, got 16 "
                                         r"in x\['a'\] and 10 in x\['b'\]\. Fix: pass the same samples in each"):
        TwoBranch().predict(short, verbose=0)


def test_a_dict_of_pandas_columns_and_a_plain_list_of_numbers():
    pd = pytest.importorskip("pandas")
    set_random_seed(5)
    data = _data(32)
    frame = {k: pd.DataFrame(v) for k, v in data.items()}
    model = TwoBranch()
    np.testing.assert_allclose(model.predict(frame, verbose=0), model.predict(data, verbose=0), rtol=1e-6)

    class One(Model):
        def __init__(self):
            super().__init__()
            self.dense = Dense(1)

        def call(self, inputs):
            return self.dense(inputs)

    one = One()
    rows = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]  # numbers: one array of 3 samples, as before
    assert one.predict(rows, verbose=0).shape == (3, 1) and one.input_shape == (None, 2)
