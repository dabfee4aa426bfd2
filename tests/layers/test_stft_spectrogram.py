"""STFTSpectrogram (Keras 3): every mode against numpy.fft.rfft over frames
cut by hand (windows written out, both paddings, the channels' layout), the
peak bin of a sine, shapes, weights in Keras's layout, config, save/load in
a model, training its kernels on a tiny synthetic audio task, the errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from brainnet.layers import Dense, GlobalAveragePooling1D, Input, STFTSpectrogram
from brainnet.models import Sequential, load_model

EPS = 1e-7


def numpy_window(window, length, periodic):
    t = np.arange(length)
    m = length if periodic else length - 1
    if window is None:
        return np.ones(length)
    if isinstance(window, list):
        return np.asarray(window, dtype=np.float64)
    a = {"hann": 0.5, "hamming": 0.54}[window]
    return a - (1 - a) * np.cos(2 * np.pi * t / m) if length > 1 else np.ones(1)


def numpy_stft(x, mode, frame_length, frame_step, fft_length, window, periodic, scaling, padding, expand_dims):
    """x (B, L, C) float64 → the layer's output by the docstring's equation."""
    b, length, c = x.shape
    if padding == "same":
        frames = math.ceil(length / frame_step)
        total = max((frames - 1) * frame_step + frame_length - length, 0)
        x = np.pad(x, ((0, 0), (total // 2, total - total // 2), (0, 0)))
    else:
        frames = (length - frame_length) // frame_step + 1
    w = numpy_window(window, frame_length, periodic)
    s = 1.0 if window is None else {"density": np.sqrt((w ** 2).sum()), "spectrum": np.abs(w).sum(), None: 1.0}[scaling]
    bins = fft_length // 2 + 1
    spectrum = np.zeros((b, c, bins, frames), dtype=complex)
    for n in range(frames):
        frame = x[:, n * frame_step:n * frame_step + frame_length, :] * w[None, :, None] / s  # (B, k, C)
        spectrum[:, :, :, n] = np.fft.rfft(frame, n=fft_length, axis=1).transpose(0, 2, 1)  # (B, C, F)
    re, im = spectrum.real, spectrum.imag
    power = re ** 2 + im ** 2
    if mode == "real":
        out = re
    elif mode == "imag":
        out = im
    elif mode == "angle":
        out = np.arctan2(im, re)
    elif mode == "stft":
        out = np.concatenate([re, im], axis=2)
    elif mode == "psd":
        out = power.copy()
        out[:, :, 1:-1] *= 2
    else:
        out = np.sqrt(np.maximum(power, EPS))
        if mode == "log":
            out = np.log(np.maximum(out, EPS))
    if expand_dims:
        return out.transpose(0, 3, 2, 1)  # (B, frames, F', C)
    return out.reshape(b, -1, frames).transpose(0, 2, 1)  # (B, frames, C·F'), channel by channel


CONFIGS = [
    dict(frame_length=16, frame_step=None, fft_length=None, window="hann", periodic=False, scaling="density",
         padding="valid", expand_dims=False),
    dict(frame_length=12, frame_step=5, fft_length=32, window="hamming", periodic=True, scaling="spectrum",
         padding="same", expand_dims=False),
    dict(frame_length=10, frame_step=10, fft_length=16, window=None, periodic=False, scaling="density",
         padding="same", expand_dims=True),
    dict(frame_length=8, frame_step=3, fft_length=8, window=[0.1, 0.5, 1.0, 2.0, 2.0, 1.0, 0.5, 0.1], periodic=False,
         scaling=None, padding="valid", expand_dims=True),
]


@pytest.mark.parametrize("mode", ["log", "magnitude", "psd", "real", "imag", "angle", "stft"])
@pytest.mark.parametrize("config", range(len(CONFIGS)))
def test_every_mode_against_numpy_rfft_over_frames(mode, config):
    args = CONFIGS[config]
    x = np.random.default_rng(config).normal(size=(2, 61, 3))
    layer = STFTSpectrogram(mode=mode, **args)
    y = layer(torch.from_numpy(x)).detach().numpy()  # float64, with kernels made in float32 (Keras's floatx)
    step = args["frame_step"] or args["frame_length"] // 2
    fft = args["fft_length"] or 2 ** math.ceil(math.log2(args["frame_length"]))
    want = numpy_stft(x, mode, args["frame_length"], step, fft, args["window"], args["periodic"], args["scaling"],
                      args["padding"], args["expand_dims"])
    assert y.shape == want.shape == layer.compute_output_shape((2, 61, 3))
    if mode == "angle":  # compared on the circle (±π are one angle), where the bin is not near zero
        magnitude = numpy_stft(x, "magnitude", args["frame_length"], step, fft, args["window"], args["periodic"],
                               args["scaling"], args["padding"], args["expand_dims"])
        y, want = np.angle(np.exp(1j * (y - want)))[magnitude > 1e-3], 0 * y[magnitude > 1e-3]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)  # the float32 kernels' rounding


@pytest.mark.parametrize("cycles", [3, 8, 20])
def test_a_sine_peaks_at_its_bin_in_every_frame(cycles):
    t = np.arange(1024)
    x = np.sin(2 * np.pi * cycles * t / 64 + 0.3)[None, :, None]  # `cycles` periods per 64 samples
    layer = STFTSpectrogram(mode="magnitude", frame_length=64, frame_step=32, window="hann", periodic=True)
    y = layer(torch.from_numpy(x)).detach().numpy()[0]  # (frames, 33)
    assert y.shape == (31, 33)
    assert (y.argmax(axis=1) == cycles).all()
    # the periodic Hann window spreads a bin-centred tone over its two neighbours only, at half height
    np.testing.assert_allclose(y[:, cycles - 1] / y[:, cycles], 0.5, rtol=1e-5)
    np.testing.assert_allclose(y[:, cycles + 2], np.sqrt(EPS), rtol=1e-3)  # nothing there: the floor √ε


def test_weights_in_keras_layout_trainable_and_per_mode():
    layer = STFTSpectrogram(mode="log", frame_length=6, fft_length=8)
    layer.build_from_shape((None, 20, 1))
    assert [n for n, _ in layer.named_parameters()] == ["real_kernel", "imag_kernel"]
    assert tuple(layer.real_kernel.shape) == (5, 1, 6) and layer.real_kernel.requires_grad
    keras = layer.real_kernel.permute(layer.keras_order("real_kernel")).detach().numpy()  # (frame_length, 1, F)
    w = numpy_window("hann", 6, False)
    t, f = np.arange(6)[:, None], np.arange(5)[None, :]
    np.testing.assert_allclose(keras[:, 0], np.cos(2 * np.pi * t * f / 8) * w[:, None] / np.sqrt((w ** 2).sum()),
                               rtol=1e-6, atol=1e-7)
    real = STFTSpectrogram(mode="real")
    real.build_from_shape((None, 300, 1))
    imag = STFTSpectrogram(mode="imag", trainable=False)
    imag.build_from_shape((None, 300, 1))
    assert [n for n, _ in real.named_parameters()] == ["real_kernel"]
    assert [n for n, _ in imag.named_parameters()] == ["imag_kernel"] and imag.trainable_weights == []


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("expand_dims", [False, True])
@pytest.mark.parametrize("mode", ["log", "stft"])
def test_output_shapes_symbolic_and_real(padding, expand_dims, mode):
    layer = STFTSpectrogram(mode=mode, frame_length=20, frame_step=7, padding=padding, expand_dims=expand_dims)
    out = layer(Input((100, 2)))
    y = layer(torch.zeros(3, 100, 2))
    assert tuple(out.shape) == (None,) + tuple(y.shape[1:])
    assert layer.compute_output_shape((3, 100, 2)) == tuple(y.shape)
    frames = 12 if padding == "valid" else 15
    bins = 17 * (2 if mode == "stft" else 1)
    assert tuple(y.shape) == ((3, frames, bins, 2) if expand_dims else (3, frames, 2 * bins))


def test_config_round_trip_and_saved_in_a_model(tmp_path):
    layer = STFTSpectrogram(mode="psd", frame_length=12, frame_step=4, fft_length=16, window=[1.0] * 12,
                            periodic=True, scaling="spectrum", padding="same", expand_dims=True)
    config = layer.get_config()
    assert {k: config[k] for k in ("mode", "frame_length", "frame_step", "fft_length", "window", "periodic",
                                   "scaling", "padding", "expand_dims")} == dict(
        mode="psd", frame_length=12, frame_step=4, fft_length=16, window=[1.0] * 12, periodic=True,
        scaling="spectrum", padding="same", expand_dims=True)
    assert STFTSpectrogram.from_config(config).get_config() == config
    assert STFTSpectrogram().get_config()["frame_step"] is None  # as given, as Keras

    model = Sequential([Input((64, 1)), STFTSpectrogram(frame_length=16, frame_step=8), Dense(2)])
    with torch.no_grad():
        model.layers[0].real_kernel.mul_(1.5)  # a fine-tuned kernel travels with the model
    x = np.random.default_rng(0).normal(size=(4, 64, 1)).astype("float32")
    model.save(tmp_path / "stft.brainnet")
    loaded = load_model(tmp_path / "stft.brainnet")
    assert isinstance(loaded.layers[0], STFTSpectrogram)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_fit_tells_a_low_tone_from_a_high_tone_and_trains_the_kernels():
    rng = np.random.default_rng(0)
    n, length = 256, 256
    labels = rng.integers(0, 2, n)
    cycles = np.where(labels == 0, rng.uniform(2, 5, n), rng.uniform(9, 13, n))  # per 64 samples
    phase = rng.uniform(0, 2 * np.pi, n)
    t = np.arange(length)
    x = np.sin(2 * np.pi * cycles[:, None] * t / 64 + phase[:, None]) + 0.3 * rng.normal(size=(n, length))
    x = x[..., None].astype("float32")
    torch.manual_seed(0)
    model = Sequential([Input((length, 1)), STFTSpectrogram(mode="log", frame_length=64, frame_step=32),
                        GlobalAveragePooling1D(), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.layers[0].real_kernel.detach().clone()
    model.fit(x[:192], labels[:192], epochs=30, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x[192:], labels[192:], verbose=0)
    assert accuracy > 0.9  # 1.0 measured
    assert not torch.equal(model.layers[0].real_kernel, before)  # trainable, as Keras


def test_errors_of_stft_spectrogram():
    cases = [
        (dict(mode="spectrum"), r"STFTSpectrogram: expected mode to be one of log, magnitude, psd, real, imag, "
                                r"angle, stft, got 'spectrum'\. Fix: mode='log'"),
        (dict(frame_length=0), r"STFTSpectrogram: expected frame_length to be a positive integer, got 0\. Fix:"),
        (dict(frame_length=16, frame_step=17), r"STFTSpectrogram: expected frame_step to be an integer in 1 … "
                                               r"frame_length=16, got 17\. Fix: frame_step=8"),
        (dict(frame_length=16, fft_length=8), r"STFTSpectrogram: expected fft_length to be an integer ≥ "
                                              r"frame_length=16 \(and ≥ 2\), got 8\. Fix: fft_length=16"),
        (dict(window="blackman"), r"STFTSpectrogram: expected window to be 'hann', 'hamming', None or a list of "
                                  r"numbers, got 'blackman'\. Fix: window='hann'"),
        (dict(frame_length=4, window=[1, 2, 3]), r"STFTSpectrogram: expected window to be one value per sample of "
                                                 r"a frame, 4 numbers \(frame_length\), got shape \(3,\)\. Fix: a "
                                                 r"window of 4 numbers"),
        (dict(scaling="energy"), r"STFTSpectrogram: expected scaling to be 'density', 'spectrum' or None, got "
                                 r"'energy'\. Fix: scaling='density'"),
        (dict(padding="causal"), r"STFTSpectrogram: expected padding 'valid' or 'same', got 'causal'\. Fix:"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            STFTSpectrogram(**args)
    with pytest.warns(UserWarning, match=r"STFTSpectrogram: fft_length=300 is not a power of two, which the FFT "
                                         r"prefers \(Keras warns alike\)\. Fix: fft_length=512\."):
        STFTSpectrogram(frame_length=256, fft_length=300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        STFTSpectrogram(frame_length=256, fft_length=512)  # a power of two: no warning
    with pytest.raises(ValueError, match=r"Layer 'stft_short' \(STFTSpectrogram\): expected signals of at least "
                                         r"frame_length=256 samples with padding='valid', got 100\. Fix: "
                                         r"padding='same'"):
        STFTSpectrogram(name="stft_short")(torch.zeros(2, 100, 1))
    with pytest.raises(TypeError, match=r"Layer 'stft_int' \(STFTSpectrogram\): expected a floating signal "
                                        r"\(float16, float32 or float64\), got int16\. Fix: cast it, x\.float\(\)"):
        STFTSpectrogram(name="stft_int")(torch.zeros(2, 300, 1, dtype=torch.int16))
    with pytest.raises(ValueError, match=r"expected input of rank 3 \(batch, time, channels\)"):
        STFTSpectrogram()(torch.zeros(2, 300))


def test_docstring_example_runs():
    import doctest

    import brainnet.layers.stft_spectrogram as module

    failures, tried = doctest.testmod(module)
    assert tried >= 3 and failures == 0
