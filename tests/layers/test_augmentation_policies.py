"""Keras 3's augmentation policies: Pipeline against applying its layers by
hand (images and the dict form, training and inference); RandAugment against
NumPy versions of its operations (float64, factor (0, 0)) and against NumPy
and the existing layers at a pinned strength, its per-image choices replayed
from a layer with the same seed; identity at inference, seeds, configs with
nested layers, save/load inside a model and errors; both policies training on
MNIST. AugMix's own tests are in test_augmentation_augmix.py."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import brainnet.layers.augmentation_policies
from brainnet.layers import (AugMix, AutoContrast, Dense, Flatten, Input, MixUp, Pipeline, RandAugment,
                             RandomBrightness, RandomFlip, RandomPosterization, RandomRotation, RandomSharpness,
                             RandomTranslation, Rescaling, Resizing, Solarization)
from brainnet.layers.augmentation_policies import RAND_AUGMENT_OPS
from brainnet.models import Model, Sequential, load_model
from test_augmentation_color import np_degenerate
from test_augmentation_filter import _np_equalize
from test_augmentation_warp import _np_shear


def _images(n: int = 6, h: int = 7, w: int = 5, c: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, h, w, c)).astype(np.float64))


def _continuous(n: int, seed: int = 0) -> torch.Tensor:
    """Pixels anywhere in [0, 255), float64: no value sits on a posterization step after a blur
    (integer pixels can give exactly 128 = 1664/13, where float rounding decides the bit)."""
    return torch.from_numpy(np.random.default_rng(seed).random((n, 7, 5, 3)) * 255)


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


# ------------------------------------------------------- NumPy references
def np_blur(img: np.ndarray) -> np.ndarray:
    """RandomSharpness at f = 0: the 3 × 3 smoothing (1s around, 5 in the centre, / 13), zero padding."""
    h, w = img.shape[:2]
    padded = np.pad(img, ((1, 1), (1, 1), (0, 0)))
    total = sum(padded[1 + di:1 + di + h, 1 + dj:1 + dj + w] for di in (-1, 0, 1) for dj in (-1, 0, 1))
    return np.clip((total + 4 * img) / 13.0, 0, 255)


def np_posterize_1bit(img: np.ndarray) -> np.ndarray:
    return np.floor(np.floor(np.clip(img, 0, 255)) / 128) * 128


def np_invert(img: np.ndarray) -> np.ndarray:  # Solarization with no addition and threshold 0
    return 255.0 - np.clip(img, 0, 255)


def np_auto_contrast(img: np.ndarray) -> np.ndarray:
    lo, hi = img.min(axis=(0, 1)), img.max(axis=(0, 1))
    spread = hi - lo
    return np.where(spread > 0, 255.0 * np.clip((img - lo) / np.where(spread > 0, spread, 1), 0, 1), img)


def np_equalize(img: np.ndarray) -> np.ndarray:
    return _np_equalize(img, (0, 255), 256)


def _same(v: np.ndarray) -> np.ndarray:
    return v


# RAND_AUGMENT_OPS at factor (0, 0): shear, translation, rotation, brightness, colour degeneration and
# contrast by nothing, then sharpness 0 (the blur), 1-bit posterization, solarization (inversion),
# AutoContrast and equalization.
NP_OPS_AT_ZERO = [_same] * 6 + [np_blur, np_posterize_1bit, np_invert, np_auto_contrast, np_equalize]


# ------------------------------------------------------------------ RandAugment
def test_rand_augment_operations_are_keras_s():
    assert RAND_AUGMENT_OPS == ("shear", "translation", "rotation", "brightness", "color_degeneration", "contrast",
                                "sharpness", "posterization", "solarization", "auto_contrast", "equalization")
    layer = RandAugment(value_range=(0, 1), factor=(0.1, 0.3), interpolation="nearest", seed=3)
    ops = layer.operations
    assert [type(l).__name__ for l in ops.values()] == [
        "RandomShear", "RandomTranslation", "RandomRotation", "RandomBrightness", "RandomColorDegeneration",
        "RandomContrast", "RandomSharpness", "RandomPosterization", "Solarization", "AutoContrast", "Equalization"]
    assert ops["shear"].x_bounds == ops["shear"].y_bounds == (0.1, 0.3) and ops["shear"].interpolation == "nearest"
    assert (ops["color_degeneration"].low, ops["color_degeneration"].high) == (0.1, 0.3)
    assert ops["color_degeneration"].value_range == ops["equalization"].value_range == (0.0, 1.0)
    assert ops["translation"].height_bounds == ops["translation"].width_bounds == (0.1, 0.3)
    assert (ops["rotation"].low, ops["rotation"].high, ops["rotation"].interpolation) == (0.1, 0.3, "nearest")
    assert (ops["contrast"].lower, ops["contrast"].upper) == (0.1, 0.3)
    assert (ops["posterization"].low, ops["posterization"].high) == (1, 2)  # max(1, ⌊8·0.3⌋) bits at most
    assert ops["solarization"].threshold_bounds == (0.1, 0.3) and ops["brightness"].value_range == (0.0, 1.0)
    seeds = [l.seed for l in ops.values() if hasattr(l, "seed")]
    assert len(set(seeds)) == 9 and 3 not in seeds  # each its own stream, none the policy's own
    assert all(l.seed is None for l in RandAugment().operations.values() if hasattr(l, "seed"))


@pytest.mark.parametrize("seed", range(4))
def test_rand_augment_against_numpy_with_the_draws_replayed(seed):
    x = _continuous(16, seed)
    y = RandAugment(num_ops=2, factor=(0, 0), seed=seed)(x, training=True).numpy()
    choices = RandAugment(num_ops=2, factor=(0, 0), seed=seed).choices(16, x).numpy()  # the same first draws
    for n in range(16):
        want = x[n].numpy()
        for k in choices[:, n]:
            want = NP_OPS_AT_ZERO[k](want)
        np.testing.assert_allclose(y[n], want, rtol=0, atol=1e-9)


def test_rand_augment_draws_every_operation_per_image():
    x = _images(n=64)
    choices = RandAugment(num_ops=3, seed=0).choices(64, x)
    assert choices.shape == (3, 64) and set(choices.flatten().tolist()) == set(range(11))
    assert len({tuple(c) for c in choices.T.tolist()}) > 20  # per image, not one choice for the batch
    assert RandAugment(num_ops=0, seed=0)(x, training=True) is x


N_PINNED, SEED_PINNED = 24, 13  # its 24 draws pick all 11 operations


def test_rand_augment_against_numpy_and_the_layers_at_a_pinned_strength():
    x = _images(n=N_PINNED)
    f = (0.2, 0.2)
    y = RandAugment(num_ops=1, factor=f, seed=SEED_PINNED)(x, training=True)
    choices = RandAugment(num_ops=1, factor=f, seed=SEED_PINNED).choices(N_PINNED, x)[0]
    by_layer = {1: RandomTranslation(f, f), 2: RandomRotation(f), 3: RandomBrightness(f), 6: RandomSharpness(f),
                7: RandomPosterization(1), 8: Solarization(f, f), 9: AutoContrast()}
    for n, k in enumerate(choices.tolist()):
        img = x[n].numpy()
        if k == 0:  # shear by ±(0.2, 0.2), the sign drawn per image: one of the two
            err = min(np.abs(y[n].numpy() - _np_shear(img, s * 0.2, s * 0.2, "reflect")).max() for s in (1, -1))
            assert err < 1e-9
            continue
        if k in by_layer:
            want = by_layer[k](x[n:n + 1], training=True)[0]
        elif k == 4:
            want = torch.from_numpy(np_degenerate(img, 0.2, (0, 255)))
        elif k == 10:
            want = torch.from_numpy(np_equalize(img))
        else:  # contrast × a, a ~ U[0.8, 1.2], clipped: read a back from the image's deviations
            mean = x[n].mean(dim=(0, 1))
            inside = (y[n] > 0) & (y[n] < 255)  # not clipped: y − μ = a·(x − μ) exactly
            a = ((y[n] - mean)[inside] * (x[n] - mean)[inside]).sum() / ((x[n] - mean)[inside] ** 2).sum()
            assert 0.8 <= a <= 1.2
            want = ((x[n] - mean) * a + mean).clamp(0, 255)
        torch.testing.assert_close(y[n], want, rtol=0, atol=1e-9)
    assert set(choices.tolist()) == set(range(11))


def test_rand_augment_identity_at_inference_seeds_and_range():
    x = _images(n=16)
    layer = RandAugment(seed=1)
    assert layer(x, training=False) is x
    layer.eval()
    assert layer(x) is x
    layer.train()
    a, b, c = RandAugment(seed=7), RandAugment(seed=7), RandAugment(seed=8)
    ya = a(x, training=True)
    assert torch.equal(ya, b(x, training=True)) and not torch.equal(ya, c(x, training=True))
    assert not torch.equal(a(x, training=True), ya)  # the next batch gets new draws
    assert sum(not torch.equal(ya[k], x[k]) for k in range(16)) >= 8
    assert ya.min() >= 0 and ya.max() <= 255
    gray = RandAugment(value_range=(0, 1), seed=0)(x[..., :1] / 255, training=True)  # one channel works too
    assert gray.shape == (16, 7, 5, 1) and gray.min() >= 0 and gray.max() <= 1


def test_rand_augment_config_and_save_load(tmp_path):
    layer = RandAugment(value_range=(0, 1), num_ops=3, factor=(0.1, 0.4), interpolation="nearest", seed=5)
    config = layer.get_config()
    assert {k: config[k] for k in ("value_range", "num_ops", "factor", "interpolation", "seed")} == {
        "value_range": [0.0, 1.0], "num_ops": 3, "factor": [0.1, 0.4], "interpolation": "nearest", "seed": 5}
    assert RandAugment.from_config(config).get_config() == config
    assert RandAugment().get_config()["factor"] == 0.5 and RandAugment().get_config()["value_range"] == [0.0, 255.0]
    x = (_images(n=8) / 255).float().numpy()
    model = Sequential([Pipeline([RandAugment((0, 1), seed=1)], input_shape=(7, 5, 3)), RandAugment((0, 1), seed=2),
                        Flatten(), Dense(2)])
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((8, 2), np.float32), epochs=1, verbose=0)
    model.save(tmp_path / "rand_augment.brainnet")
    again = load_model(tmp_path / "rand_augment.brainnet")
    assert [l.get_config() for l in again.layers] == [l.get_config() for l in model.layers]
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_rand_augment_errors():
    with pytest.raises(ValueError, match=r"RandAugment: expected num_ops to be an integer ≥ 0, got 1\.5\. "
                                         r"Fix: RandAugment\(num_ops=2\)"):
        RandAugment(num_ops=1.5)
    with pytest.raises(ValueError, match=r"RandAugment: expected factor within \[0, 1\].*Fix: RandAugment\(factor"):
        RandAugment(factor=1.5)
    with pytest.raises(ValueError, match=r"RandAugment: expected value_range as a pair \(low, high\)"):
        RandAugment(value_range=(1, 0))
    with pytest.raises(ValueError, match=r"RandAugment: expected interpolation to be one of 'bilinear', 'nearest', "
                                         r"got 'cubic'\. Fix: RandAugment\(interpolation='bilinear'\)"):
        RandAugment(interpolation="cubic")
    with pytest.raises(ValueError, match="RandAugment: expected seed to be an integer or None"):
        RandAugment(seed="a")


# ------------------------------------------------------------------ real data
def test_policies_train_on_mnist_digits(mnist_dir):
    from brainnet.datasets import mnist
    from brainnet.utils import set_random_seed

    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=str(mnist_dir))
    x, y = x_train[:2048, :, :, None].astype("float32"), y_train[:2048]
    policy = Pipeline([Rescaling(1 / 255), RandAugment((0, 1), factor=0.1, seed=0),
                       AugMix((0, 1), factor=0.1, seed=1)])
    digits = policy(torch.from_numpy(x[:64]), training=True)
    assert digits.min() >= 0 and digits.max() <= 1
    assert (digits - torch.from_numpy(x[:64]) / 255).abs().mean() > 0.01  # the digits did change
    set_random_seed(0)
    model = Sequential([Pipeline(policy.layers, input_shape=(28, 28, 1)), Flatten(), Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=3, batch_size=64, verbose=0)
    accuracy = model.evaluate(x_test[:1000, :, :, None].astype("float32"), y_test[:1000], verbose=0)[1]
    # Learned from augmented digits, scored on plain ones (the policies are off at inference).
    assert accuracy > 0.55, accuracy  # 0.69 on one CPU (0.78 without the policies)
