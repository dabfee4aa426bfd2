"""feature_maps and attention_maps: shapes equal to the layers' outputs, the
layers' own values (Conv2D's output, return_attention_scores), softmax rows
summing to 1, and the model computing what it always does (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.explain import attention_maps, feature_maps
from brainnet.layers import (
    Attention,
    Conv2D,
    Dense,
    Flatten,
    GlobalAveragePooling1D,
    Input,
    MaxPooling2D,
    MultiHeadAttention,
    TransformerDecoder,
    TransformerEncoder,
)
from brainnet.models import Model, Sequential
from brainnet.recipes.images import teaching_cnn

ATOL = 1e-10


def test_feature_maps_of_the_teaching_cnn_are_the_conv_outputs() -> None:
    model = teaching_cnn()
    x = np.random.default_rng(0).normal(size=(28, 28, 1)).astype("float32")
    maps = feature_maps(model, x)
    convs = [layer for layer in model.layers if isinstance(layer, Conv2D)]
    assert list(maps) == [layer.name for layer in convs]
    first = convs[0](torch.from_numpy(x[None])).detach().numpy()[0]  # (26, 26, 32)
    assert maps[convs[0].name].shape == first.shape == (26, 26, 32)
    np.testing.assert_allclose(maps[convs[0].name], first, rtol=1e-6, atol=1e-6)
    assert maps[convs[1].name].shape == (11, 11, 64)
    pool = model.layers[1].name
    same = feature_maps(model, x[None], layers=[pool, model.layers[-1].name])  # a batch of one, named layers
    assert same[pool].shape == (13, 13, 32) and same[model.layers[-1].name].shape == (10,)


def test_feature_maps_errors() -> None:
    model = teaching_cnn()
    with pytest.raises(ValueError, match=r"feature_maps: expected one input.*got a batch of 2.*Fix: feature_maps"):
        feature_maps(model, np.zeros((2, 28, 28, 1), "float32"))
    with pytest.raises(ValueError, match=r"expected the name of a layer.*got 'conv9'.*Fix"):
        feature_maps(model, np.zeros((28, 28, 1), "float32"), layers=["conv9"])
    dense = Sequential([Dense(3, input_shape=(4,))])
    with pytest.raises(ValueError, match=r"feature_maps: expected a model with a Conv2D layer.*Fix: name the"):
        feature_maps(dense, np.zeros(4, "float32"))


def sequence_model() -> Model:
    inp = Input((5, 8))
    h = MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(inp, inp)
    h = Attention(scale_by_dk=True, name="dot")([h, inp])
    h = TransformerEncoder(intermediate_dim=16, num_heads=2, name="encoder")(h)
    h = TransformerDecoder(intermediate_dim=16, num_heads=4, name="decoder")(h, inp)
    model = Model(inp, Dense(3, activation="softmax")(GlobalAveragePooling1D()(h)))
    return model.double()


def test_attention_maps_are_the_layers_own_scores_and_rows_sum_to_one() -> None:
    model = sequence_model()
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(3, 5, 8)))
    before = model(x).detach()
    maps = attention_maps(model, x)
    assert set(maps) == {"mha", "dot", "encoder/self_attention", "decoder/self_attention",
                         "decoder/cross_attention"}
    shapes = {name: m.shape for name, m in maps.items()}
    assert shapes["mha"] == (3, 2, 5, 5) and shapes["dot"] == (3, 1, 5, 5)
    assert shapes["encoder/self_attention"] == (3, 2, 5, 5) and shapes["decoder/cross_attention"] == (3, 4, 5, 5)
    for m in maps.values():
        np.testing.assert_allclose(m.sum(-1), 1.0, atol=ATOL)
    causal = maps["decoder/self_attention"]
    assert np.all(np.triu(np.ones((5, 5)), 1)[None, None] * causal == 0)  # step t sees steps ≤ t
    mha = next(layer for layer in model.layers if layer.name == "mha")
    _, own = mha(x, x, return_attention_scores=True)  # the model's first layer sees x itself
    np.testing.assert_allclose(maps["mha"], own.detach().numpy(), atol=ATOL)
    np.testing.assert_allclose(model(x).detach(), before, atol=ATOL)  # the model is unchanged after
    assert "call" not in vars(mha)


def test_attention_maps_of_a_model_without_attention_is_empty() -> None:
    model = Sequential([Conv2D(2, (3, 3), input_shape=(5, 5, 1)), MaxPooling2D((2, 2)), Flatten(), Dense(2)])
    assert attention_maps(model, np.zeros((1, 5, 5, 1), "float32")) == {}
