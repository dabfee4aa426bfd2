"""keras.io example "Endpoint layer pattern"
(https://keras.io/examples/keras_recipes/endpoint_layer_pattern/), ported as a
learner would: ``import brainnet as keras`` in place of the TensorFlow
imports, ``tf.nn.softmax(logits)`` as ``torch.softmax(logits, dim=-1)``.
One change: the ``self.add_metric(...)`` line is left out (Keras 3 refuses
``Layer.add_metric`` too, its ``NotImplementedError``), and the loss the
layer adds is what the example trains on. The rest runs as written:
``LogisticEndpoint()(logits, targets, sample_weight)`` hands ``targets`` and
``sample_weight`` to ``call``'s next parameters, as Keras 3 does, and in the
section "Usage of loss endpoint layers in subclassed models" the subclassed
model is called on a dict of tensors and fit on a dict of arrays.

Not shortened: the example's 1,000 random samples of 764 features, 2 epochs.
The tests check the loss evaluate returns against a NumPy weighted binary
cross-entropy on logits, the inference model's predictions (a softmax over
one logit is 1, as in Keras), and that the positional and keyword
spellings make the same model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras


class LogisticEndpoint(keras.layers.Layer):
    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    def call(self, logits, targets=None, sample_weight=None):
        if targets is not None:
            # the training-time loss, added to the layer
            loss = self.loss_fn(targets, logits, sample_weight)
            self.add_loss(loss)
        # the inference-time prediction (for predict())
        return torch.softmax(logits, dim=-1)


def _data(seed):
    np.random.seed(seed)
    return {
        "inputs": np.random.random((1000, 764)),
        "targets": np.random.random((1000, 1)),
        "sample_weight": np.random.random((1000, 1)),
    }


def _numpy_loss(data, kernel, bias):
    # mean_i w_i · (max(z_i, 0) − z_i y_i + log(1 + e^(−|z_i|))), z = x·W + b: Keras's weighted BCE on logits
    z = data["inputs"] @ kernel.astype("float64") + bias.astype("float64")
    y, w = data["targets"], data["sample_weight"]
    per_sample = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return float(np.mean(w * per_sample))


def test_the_functional_endpoint_model_trains_on_the_loss_its_layer_adds():
    """Sections "Usage of endpoint layers in the Functional API" and
    "Exporting an inference-only model"."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((764,), name="inputs")
    logits = keras.layers.Dense(1)(inputs)
    targets = keras.Input((1,), name="targets")
    sample_weight = keras.Input((1,), name="sample_weight")
    preds = LogisticEndpoint()(logits, targets, sample_weight)  # as written: call's next parameters, as Keras 3
    model = keras.Model([inputs, targets, sample_weight], preds)

    data = _data(0)
    model.compile(keras.optimizers.Adam(1e-3))
    start = _numpy_loss(data, *model.get_weights())
    history = model.fit(data, epochs=2, verbose=0)
    assert list(history.history) == ["loss"]
    # evaluate's loss is the NumPy weighted cross-entropy at the trained weights, below the starting one
    # (the targets are random: the best is to predict their mean, so the loss falls little)
    trained = model.evaluate(data, batch_size=1000, verbose=0)
    assert trained == pytest.approx(_numpy_loss(data, *model.get_weights()), rel=1e-4)
    assert trained < start and len(history.history["loss"]) == 2
    # the keyword spelling, logits and the rest by name, makes the same model
    by_name = [keras.Input((764,), name="inputs"), keras.Input((1,), name="targets"),
               keras.Input((1,), name="sample_weight")]
    keyword = keras.Model(by_name, LogisticEndpoint()(keras.layers.Dense(1)(by_name[0]), targets=by_name[1],
                                                      sample_weight=by_name[2]))
    keyword.compile(keras.optimizers.Adam(1e-3))
    keyword.set_weights(model.get_weights())
    assert keyword.evaluate(data, batch_size=1000, verbose=0) == pytest.approx(trained, rel=1e-6)

    inputs = keras.Input((764,), name="inputs")
    logits = keras.layers.Dense(1)(inputs)
    preds = LogisticEndpoint()(logits, targets=None, sample_weight=None)
    inference_model = keras.Model(inputs, preds)
    inference_model.set_weights(model.get_weights())
    for mine, trained in zip(inference_model.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(mine, trained)
    preds = inference_model.predict(np.random.random((1000, 764)), verbose=0)
    assert preds.shape == (1000, 1)
    np.testing.assert_array_equal(preds, 1.0)  # softmax over a single logit, as the example computes
    assert inference_model.losses == []  # no targets: no loss added


class LogReg(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.logistic_endpoint = LogisticEndpoint()

    def call(self, inputs):
        # all inputs in the first argument, so that fit(inputs) works
        logits = self.dense(inputs["inputs"])
        preds = self.logistic_endpoint(
            logits,  # the first positionally: brainnet's layers take it as their inputs
            targets=inputs["targets"],
            sample_weight=inputs["sample_weight"],
        )
        return preds


def test_the_subclassed_endpoint_model_computes_its_loss_when_called_on_a_dict():
    """Section "Usage of loss endpoint layers in subclassed models": the model's call."""
    keras.utils.set_random_seed(1)
    model = LogReg()
    data = _data(1)
    with torch.no_grad():
        preds = model({k: torch.from_numpy(v).float() for k, v in data.items()})
    np.testing.assert_array_equal(preds.numpy(), 1.0)
    kernel, bias = model.get_weights()
    assert float(sum(model.losses)) == pytest.approx(_numpy_loss(data, kernel, bias), rel=1e-4)


def test_the_subclassed_endpoint_model_fits_on_a_dict_of_arrays():
    """Section "Usage of loss endpoint layers in subclassed models": model.fit(data)."""
    model = LogReg()
    model.compile(keras.optimizers.Adam(1e-3))
    start = model.evaluate(_data(2), batch_size=1000, verbose=0)
    history = model.fit(_data(2), epochs=2, verbose=0)
    assert history.history["loss"][-1] < start
