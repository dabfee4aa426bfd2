"""A functional model called inside another takes the masks of the tensors it
is called on into its graph, and gives its outputs' masks back (Keras 3),
checked against the same layers called in one graph and against NumPy."""

from __future__ import annotations

import warnings

import numpy as np
import torch

import brainnet as keras
from brainnet import layers

TOKENS = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]])
LENGTHS = [3, 2]


def test_an_inner_model_gets_the_mask_of_the_tensor_it_is_called_on():
    torch.manual_seed(0)
    inner_in = keras.Input((None, 4))
    inner = keras.Model(inner_in, layers.LSTM(3)(inner_in))
    tokens = keras.Input((None,), dtype="int64")
    embedded = layers.Embedding(10, 4, mask_zero=True)(tokens)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "the mask stops here" warning any more
        outer = keras.Model(tokens, inner(embedded))
        got = outer.predict(TOKENS, verbose=0)
    lstm, embedding = inner.layers[-1], outer.layers[1]
    unpadded = np.stack([lstm(embedding(torch.as_tensor(TOKENS[i:i + 1, :n]))).detach().numpy()[0]
                         for i, n in enumerate(LENGTHS)])
    np.testing.assert_allclose(got, unpadded, atol=1e-6)
    unmasked = lstm(embedding.embeddings[torch.as_tensor(TOKENS)]).detach().numpy()
    assert np.abs(got - unmasked).max() > 1e-3  # the padding would have changed the result


def test_an_inner_models_output_mask_reaches_the_layers_after_it():
    torch.manual_seed(0)
    inner_tokens = keras.Input((None,), dtype="int64")
    inner = keras.Model(inner_tokens, layers.Embedding(10, 4, mask_zero=True)(inner_tokens))
    tokens = keras.Input((None,), dtype="int64")
    sequence = inner(tokens)
    assert sequence._keras_mask is not None and tuple(sequence._keras_mask.shape) == (None, None)
    model = keras.Model(tokens, layers.GlobalAveragePooling1D()(sequence))
    table = inner.layers[-1].embeddings.detach().numpy()
    expected = np.stack([table[TOKENS[i, :n]].mean(axis=0) for i, n in enumerate(LENGTHS)])
    np.testing.assert_allclose(model.predict(TOKENS, verbose=0), expected, atol=1e-6)
    by_hand = inner(torch.as_tensor(TOKENS))  # called by hand: the output carries the mask, as in Keras
    np.testing.assert_array_equal(by_hand._keras_mask.numpy(), TOKENS != 0)


def test_a_mask_for_one_of_two_inputs_and_a_model_without_masks():
    torch.manual_seed(0)
    a, b = keras.Input((None, 2)), keras.Input((None, 2))
    inner = keras.Model([a, b], [layers.GlobalAveragePooling1D()(a), layers.GlobalAveragePooling1D()(b)])
    x = torch.arange(12, dtype=torch.float32).reshape(1, 6, 2)
    mask = torch.tensor([[True, True, False, False, False, False]])
    first, second = inner([x, x], mask=[mask, None])
    np.testing.assert_allclose(first.numpy(), x[:, :2].mean(1).numpy())
    np.testing.assert_allclose(second.numpy(), x.mean(1).numpy())
    assert inner.compute_mask([x, x], None) is None  # no mask in, none made inside: none out
    plain_in = keras.Input((3,))
    plain = keras.Model(plain_in, layers.Dense(2)(plain_in))
    assert getattr(plain(torch.ones(4, 3)), "_keras_mask", None) is None


def test_training_a_model_that_nests_a_masked_model_matches_one_graph():
    def build(nested: bool):
        torch.manual_seed(1)
        tokens = keras.Input((None,), dtype="int64")
        embedded = layers.Embedding(10, 4, mask_zero=True)(tokens)
        if nested:
            inner_in = keras.Input((None, 4))
            encoded = keras.Model(inner_in, layers.LSTM(3)(inner_in))(embedded)
        else:
            encoded = layers.LSTM(3)(embedded)
        model = keras.Model(tokens, layers.Dense(2, activation="softmax")(encoded))
        model.compile("sgd", "sparse_categorical_crossentropy")
        return model

    x = np.tile(TOKENS, (8, 1))
    y = np.tile([0, 1], 8)
    losses = [build(nested).fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
              for nested in (True, False)]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)


def test_the_output_masks_are_read_once_and_keep_nothing_alive():
    import copy
    import gc
    import weakref

    tokens = keras.Input((None,), dtype="int64")
    model = keras.Model(tokens, layers.Embedding(10, 4, mask_zero=True)(tokens))
    x = torch.as_tensor(TOKENS)
    out = model(x)
    np.testing.assert_array_equal(out._keras_mask.numpy(), TOKENS != 0)
    assert "_last_masks" not in model.__dict__  # read back by the call's own compute_mask
    np.testing.assert_array_equal(model.compute_mask(x, None).numpy(), TOKENS != 0)  # asked again: computed
    model.predict(TOKENS, verbose=0)
    copy.deepcopy(model)  # what a run may leave behind copies
    probe = torch.as_tensor(TOKENS)
    ref = weakref.ref(probe)
    model._run(probe, None, pre_activation=False)
    del probe
    gc.collect()
    assert ref() is None
