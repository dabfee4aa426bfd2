"""Keras 3's augmentation policies: Pipeline against applying its layers by
hand (images and the dict form, training and inference), configs with
nested layers, save/load inside a model and errors."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import brainnet.layers.augmentation_policies
from brainnet.layers import (Dense, Flatten, Input, MixUp, Pipeline, RandomFlip, RandomRotation, Rescaling,
                             Resizing)
from brainnet.models import Model, Sequential, load_model


def _images(n: int = 6, h: int = 7, w: int = 5, c: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, h, w, c)).astype(np.float64))


def _three(seed: int = 1) -> list:
    return [RandomFlip(seed=seed), RandomRotation(0.2, seed=seed + 1), Rescaling(1 / 255)]


# ------------------------------------------------------------------ Pipeline
def test_pipeline_is_its_layers_applied_in_order():
    x = _images()
    by_hand = x
    for layer in _three():
        by_hand = layer(by_hand, training=True)
    pipeline = Pipeline(_three())
    torch.testing.assert_close(pipeline(x, training=True), by_hand, rtol=0, atol=0)
    assert [type(layer).__name__ for layer in pipeline.layers] == ["RandomFlip", "RandomRotation", "Rescaling"]


def test_pipeline_passes_the_training_flag_on():
    x = _images()
    pipeline = Pipeline(_three())
    torch.testing.assert_close(pipeline(x, training=False), x / 255, rtol=1e-15, atol=0)  # only Rescaling acts
    pipeline.eval()
    torch.testing.assert_close(pipeline(x), x / 255, rtol=1e-15, atol=0)  # training=None follows eval()
    pipeline.train()
    assert not torch.allclose(pipeline(x), x / 255)
    assert torch.equal(Pipeline([])(x), x)  # no layers: the identity


def test_pipeline_takes_a_dict_of_images_and_labels():
    x, y = _images(), torch.eye(6, dtype=torch.float64)
    flip, mix = RandomFlip(seed=3), MixUp(0.5, seed=4)
    by_hand = mix({"images": flip(x, training=True), "labels": y}, training=True)
    out = Pipeline([RandomFlip(seed=3), Pipeline([MixUp(0.5, seed=4)])])(
        {"images": x, "labels": y, "ids": [1, 2]}, training=True)
    assert sorted(out) == ["ids", "images", "labels"] and out["ids"] == [1, 2]
    torch.testing.assert_close(out["images"], by_hand["images"], rtol=0, atol=0)
    torch.testing.assert_close(out["labels"], by_hand["labels"], rtol=0, atol=0)
    assert not torch.equal(out["labels"], y)
    # Labels pass a layer that does not mix them unchanged; inference changes nothing.
    out = Pipeline([RandomRotation(0.3, seed=0)])({"images": x, "labels": y}, training=True)
    assert torch.equal(out["labels"], y) and not torch.equal(out["images"], x)
    out = Pipeline([RandomFlip(seed=0), MixUp(seed=1)])({"images": x, "labels": y}, training=False)
    assert torch.equal(out["images"], x) and torch.equal(out["labels"], y)


def test_pipeline_shapes():
    pipeline = Pipeline([Resizing(4, 3), Flatten()])
    assert pipeline.compute_output_shape((None, 8, 8, 3)) == (None, 36)
    assert tuple(pipeline(torch.ones(2, 8, 8, 3)).shape) == (2, 36)
    inputs = Input((8, 8, 3))
    assert tuple(Pipeline([Resizing(4, 3), Flatten()])(inputs).shape) == (None, 36)


def test_pipeline_config_round_trip_with_nested_layers():
    pipeline = Pipeline([RandomFlip("horizontal", seed=1), Pipeline([RandomRotation(0.1, seed=2), Rescaling(0.5)],
                                                                    name="inner")], name="outer")
    config = pipeline.get_config()
    assert config["name"] == "outer"
    assert [entry["class_name"] for entry in config["layers"]] == ["RandomFlip", "Pipeline"]
    again = Pipeline.from_config(config)
    assert again.get_config() == config
    x = _images()
    torch.testing.assert_close(again(x, training=True), pipeline(x, training=True), rtol=0, atol=0)


def test_pipeline_inside_a_model_saved_and_loaded(tmp_path):
    x = _images(n=8, c=1).float().numpy()
    model = Sequential([Pipeline([RandomFlip(seed=1), Rescaling(1 / 255), Dense(3)], input_shape=(7, 5, 1)),
                        Flatten(), Dense(2)])
    assert model.count_params() == 1 * 3 + 3 + (7 * 5 * 3) * 2 + 2  # built at once, the inner Dense included
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((8, 2), np.float32), epochs=1, verbose=0)
    path = tmp_path / "pipeline.brainnet"
    model.save(path)
    again = load_model(path)
    assert [l.get_config() for l in again.layers] == [l.get_config() for l in model.layers]
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    inputs = Input((7, 5, 1))
    functional = Model(inputs, Dense(2)(Flatten()(Pipeline([RandomFlip(seed=0), Rescaling(1 / 255)])(inputs))))
    functional.save(tmp_path / "functional.brainnet")
    np.testing.assert_array_equal(load_model(tmp_path / "functional.brainnet").predict(x), functional.predict(x))


def test_docstring_examples():
    failures, tried = doctest.testmod(brainnet.layers.augmentation_policies)
    assert tried >= 3 and failures == 0


def test_pipeline_errors():
    with pytest.raises(TypeError, match=r"Pipeline: expected layers to be a list of brainnet layer instances, got "
                                        r"RandomFlip\. Fix: Pipeline\(\[RandomFlip\(\), RandomRotation\(0\.1\)\]\)"):
        Pipeline(RandomFlip())
    with pytest.raises(TypeError, match=r"got a list holding type\. Fix: Pipeline\("):
        Pipeline([RandomFlip(), RandomRotation])
    with pytest.raises(ValueError, match=r"\(Pipeline\): expected the images alone or a dict with 'images' \(and "
                                         r"'labels'\), got a dict with keys \['image'\]\. Fix: "):
        Pipeline([RandomFlip()], name="p")({"image": _images()})
