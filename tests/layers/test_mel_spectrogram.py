"""MelSpectrogram (Keras 3): against NumPy (reflect padding, frames cut by
hand, numpy.fft.rfft, the HTK filterbank written out triangle by triangle,
the decibels), the loudest band of a tone, unbatched signals, shapes,
config, save/load in a model, a tiny synthetic audio classifier, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import Dense, Flatten, Input, MelSpectrogram, Rescaling
from brainnet.layers.mel_spectrogram import mel_filterbank
from brainnet.models import Sequential, load_model


def numpy_filterbank(mels, bins, rate, low, high):
    """HTK triangles by hand: mel(f) = 2595·log10(1 + f/700); band m rises
    from edge m to edge m+1 and falls to edge m+2 (edges even in mels)."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    edges = np.linspace(mel(low), mel(high), mels + 2)
    bank = np.zeros((bins, mels))
    for k in range(1, bins):  # the DC bin stays zero
        m_k = mel(k * (rate / 2) / (bins - 1))
        for m in range(mels):
            left, centre, right = edges[m], edges[m + 1], edges[m + 2]
            if left < m_k <= centre:
                bank[k, m] = (m_k - left) / (centre - left)
            elif centre < m_k < right:
                bank[k, m] = (right - m_k) / (right - centre)
    return bank


def numpy_mel(x, fft_length, stride, length, window, rate, mels, low, high, to_db, top_db, mag_exp, min_power, ref):
    """x (B, samples) float64 → (B, mels, frames) by the docstring's equation."""
    pad = fft_length // 2
    x = np.pad(x, ((0, 0), (pad, pad)), mode="reflect")
    t = np.arange(length)
    w = {"hann": 0.5 - 0.5 * np.cos(2 * np.pi * t / length), "hamming": 0.54 - 0.46 * np.cos(2 * np.pi * t / length),
         None: np.ones(length)}[window] if not isinstance(window, list) else np.asarray(window)
    left = (fft_length - length) // 2
    w = np.pad(w, (left, fft_length - length - left))  # centred in the FFT
    frames = (x.shape[1] - fft_length) // stride + 1
    spec = np.stack([np.fft.rfft(x[:, n * stride:n * stride + fft_length] * w) for n in range(frames)], 1)
    s = (np.abs(spec) ** mag_exp) @ numpy_filterbank(mels, fft_length // 2 + 1, rate, low, high)  # (B, frames, mels)
    if to_db:
        s = 10 * np.log10(np.maximum(s, min_power)) - 10 * np.log10(max(abs(ref), min_power))
        s = np.maximum(s, s.max(axis=(1, 2), keepdims=True) - top_db)  # each signal's loudest value
    return s.transpose(0, 2, 1)


CONFIGS = [
    dict(fft_length=64, sequence_stride=16, sequence_length=None, window="hann", sampling_rate=8000, num_mel_bins=10,
         min_freq=20.0, max_freq=None, power_to_db=True, top_db=80.0, mag_exp=2.0, min_power=1e-10, ref_power=1.0),
    dict(fft_length=64, sequence_stride=20, sequence_length=40, window="hamming", sampling_rate=16000,
         num_mel_bins=12, min_freq=300.0, max_freq=6000.0, power_to_db=True, top_db=20.0, mag_exp=1.0,
         min_power=1e-6, ref_power=-2.0),
    dict(fft_length=32, sequence_stride=8, sequence_length=30, window=None, sampling_rate=4000, num_mel_bins=6,
         min_freq=0.0, max_freq=2000, power_to_db=False, top_db=80.0, mag_exp=2.0, min_power=1e-10, ref_power=1.0),
    dict(fft_length=32, sequence_stride=32, sequence_length=8, window=[0.2, 0.5, 1, 1, 1, 1, 0.5, 0.2],
         sampling_rate=22050, num_mel_bins=4, min_freq=100.0, max_freq=None, power_to_db=True, top_db=5.0,
         mag_exp=1.5, min_power=1e-10, ref_power=0.5),
]


@pytest.mark.parametrize("config", range(len(CONFIGS)))
def test_against_numpy_frames_rfft_and_a_filterbank_by_hand(config):
    args = CONFIGS[config]
    x = np.random.default_rng(config).normal(size=(3, 300))
    layer = MelSpectrogram(**args)
    y = layer(torch.from_numpy(x)).numpy()
    max_freq = args["max_freq"] or args["sampling_rate"] // 2
    want = numpy_mel(x, args["fft_length"], args["sequence_stride"], args["sequence_length"] or args["fft_length"],
                     args["window"], args["sampling_rate"], args["num_mel_bins"], args["min_freq"], max_freq,
                     args["power_to_db"], args["top_db"], args["mag_exp"], args["min_power"], args["ref_power"])
    assert y.shape == want.shape == layer.compute_output_shape((3, 300))
    np.testing.assert_allclose(y, want, rtol=1e-9, atol=1e-9)
    if args["power_to_db"] and config == 1:
        assert (y == y.max(axis=(1, 2), keepdims=True) - args["top_db"]).any()  # the top_db floor was reached


@pytest.mark.parametrize("mels, bins, rate, low, high", [(10, 33, 8000, 20.0, 4000), (40, 257, 16000, 0.0, 8000),
                                                         (8, 129, 22050, 300.0, 5000.0)])
def test_filterbank_is_htks_triangles(mels, bins, rate, low, high):
    bank = mel_filterbank(mels, bins, rate, low, high).numpy()
    np.testing.assert_allclose(bank, numpy_filterbank(mels, bins, rate, low, high), rtol=1e-12, atol=1e-12)
    assert (bank[0] == 0).all() and (bank <= 1 + 1e-12).all() and (bank >= 0).all()


@pytest.mark.parametrize("tone", [440.0, 1000.0, 2500.0])
def test_the_loudest_band_is_the_tones(tone):
    rate, fft = 8000, 512
    t = np.arange(rate) / rate
    x = np.sin(2 * np.pi * tone * t)[None]
    layer = MelSpectrogram(fft_length=fft, sequence_stride=256, sampling_rate=rate, num_mel_bins=40)
    y = layer(torch.from_numpy(x)).numpy()[0]  # (40, frames)
    band = y.mean(axis=1).argmax()
    edges_hz = 700 * (np.exp(np.linspace(1127 * np.log1p(20 / 700), 1127 * np.log1p(4000 / 700), 42) / 1127) - 1)
    assert edges_hz[band] < tone < edges_hz[band + 2]  # inside the loudest band's triangle
    assert y.max() - y.mean(axis=1).min() > 40  # far above the quiet bands, in dB


def test_one_signal_unbatched_and_each_signal_its_own_top_db():
    rng = np.random.default_rng(1)
    x = np.stack([rng.normal(size=500), 1e-4 * rng.normal(size=500)])  # a loud and a quiet signal
    layer = MelSpectrogram(fft_length=64, sequence_stride=32, sampling_rate=8000, num_mel_bins=8, top_db=30.0)
    batch = layer(torch.from_numpy(x)).numpy()
    for i in range(2):
        alone = layer(torch.from_numpy(x[i])).numpy()
        assert alone.shape == (8, 16) == layer.compute_output_shape((500,))
        np.testing.assert_allclose(batch[i], alone, rtol=1e-12, atol=1e-12)  # its batch does not change it
    assert batch[1].max() < batch[0].max() - 60  # the quiet signal kept its own range


@pytest.mark.parametrize("fft, stride, samples", [(64, 16, 300), (63, 16, 300), (64, 128, 127), (16, 5, 9)])
def test_output_shape_symbolic_and_real(fft, stride, samples):
    layer = MelSpectrogram(fft_length=fft, sequence_stride=stride, num_mel_bins=5)
    y = layer(torch.zeros(2, samples))
    assert tuple(y.shape) == layer.compute_output_shape((2, samples))
    assert tuple(layer(Input((samples,))).shape) == (None,) + tuple(y.shape[1:])


def test_config_round_trip_and_saved_in_a_model(tmp_path):
    layer = MelSpectrogram(fft_length=128, sequence_stride=64, window="hamming", sampling_rate=8000, num_mel_bins=16)
    config = layer.get_config()
    assert config["sequence_length"] == 128 and config["max_freq"] == 4000  # resolved, as Keras
    assert {k: config[k] for k in ("fft_length", "sequence_stride", "window", "sampling_rate", "num_mel_bins",
                                   "min_freq", "power_to_db", "top_db", "mag_exp", "min_power", "ref_power")} == dict(
        fft_length=128, sequence_stride=64, window="hamming", sampling_rate=8000, num_mel_bins=16, min_freq=20.0,
        power_to_db=True, top_db=80.0, mag_exp=2.0, min_power=1e-10, ref_power=1.0)
    assert MelSpectrogram.from_config(config).get_config() == config

    model = Sequential([Input((1000,)), MelSpectrogram(fft_length=128, sequence_stride=64, sampling_rate=8000,
                                                       num_mel_bins=16), Flatten(), Dense(3)])
    x = np.random.default_rng(2).normal(size=(4, 1000)).astype("float32")
    model.save(tmp_path / "mel.brainnet")
    loaded = load_model(tmp_path / "mel.brainnet")
    assert isinstance(loaded.layers[0], MelSpectrogram) and loaded.layers[0].weights == []
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_fit_tells_three_tones_apart():
    rng = np.random.default_rng(0)
    rate, n, samples = 8000, 240, 2048
    labels = rng.integers(0, 3, n)
    tones = np.array([300.0, 900.0, 2200.0])[labels] * rng.uniform(0.95, 1.05, n)
    t = np.arange(samples) / rate
    x = np.sin(2 * np.pi * tones[:, None] * t + rng.uniform(0, 2 * np.pi, (n, 1)))
    x = (rng.uniform(0.1, 1.0, (n, 1)) * x + 0.05 * rng.normal(size=(n, samples))).astype("float32")
    torch.manual_seed(0)
    model = Sequential([Input((samples,)),
                        MelSpectrogram(fft_length=256, sequence_stride=128, sampling_rate=rate, num_mel_bins=20),
                        Rescaling(1 / 80.0, offset=1.0), Flatten(), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:180], labels[:180], epochs=20, batch_size=30, verbose=0)
    _, accuracy = model.evaluate(x[180:], labels[180:], verbose=0)
    assert accuracy > 0.9  # 1.0 measured


def test_errors_of_mel_spectrogram():
    cases = [
        (dict(fft_length=0), r"MelSpectrogram: expected fft_length to be a positive integer, got 0\. Fix:"),
        (dict(sequence_stride=1.5), r"MelSpectrogram: expected sequence_stride to be a positive integer, got 1\.5"),
        (dict(fft_length=256, sequence_length=300), r"MelSpectrogram: expected sequence_length ≤ fft_length=256, "
                                                    r"got 300\. Fix: fft_length=512 or sequence_length=None"),
        (dict(window="kaiser"), r"MelSpectrogram: expected window to be 'hann', 'hamming', None or a list of "
                                r"numbers, got 'kaiser'\. Fix: window='hann'"),
        (dict(fft_length=8, window=[1.0] * 4), r"MelSpectrogram: expected window to be one value per sample of a "
                                               r"frame, 8 numbers \(sequence_length\), got shape \(4,\)\. Fix:"),
        (dict(sampling_rate=0), r"MelSpectrogram: expected sampling_rate to be a positive number of samples per "
                                r"second, got 0\. Fix: sampling_rate=16000"),
        (dict(num_mel_bins=0), r"MelSpectrogram: expected num_mel_bins to be a positive integer, got 0"),
        (dict(min_freq=5000.0, sampling_rate=8000), r"MelSpectrogram: expected 0 ≤ min_freq < max_freq \(Hz\), "
                                                    r"got min_freq=5000\.0, max_freq=4000\. Fix: min_freq=20\.0, "
                                                    r"max_freq=None \(half the sampling rate, 4000 Hz\)\."),
        (dict(top_db=-1.0), r"MelSpectrogram: expected top_db to be a number ≥ 0, got -1\.0\. Fix: top_db=80\.0"),
        (dict(mag_exp=0), r"MelSpectrogram: expected mag_exp to be a number > 0, got 0\. Fix: mag_exp=2\.0"),
        (dict(min_power=0.0), r"MelSpectrogram: expected min_power to be a number > 0, got 0\.0\. Fix: "
                              r"min_power=1e-10"),
        (dict(ref_power="1"), r"MelSpectrogram: expected ref_power to be a number \(the power at 0 dB\), got '1'\. "
                              r"Fix: ref_power=1\.0\."),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            MelSpectrogram(**args)
    with pytest.raises(ValueError, match=r"Layer 'mel_short' \(MelSpectrogram\): expected signals of more than "
                                         r"fft_length // 2 = 1024 samples \(each end is reflected by that much\), "
                                         r"got 1000\. Fix: a smaller fft_length"):
        MelSpectrogram(name="mel_short")(torch.zeros(2, 1000))
    with pytest.raises(TypeError, match=r"Layer 'mel_int' \(MelSpectrogram\): expected a floating signal "
                                        r"\(float16, float32 or float64\), got int16\. Fix: cast it, x\.float\(\) "
                                        r"\(NumPy: x\.astype\('float32'\)\); 16-bit PCM samples divided by 32768\.0"):
        MelSpectrogram(name="mel_int")(torch.zeros(2, 4000, dtype=torch.int16))
    mono = (r"\(MelSpectrogram\) expected mono signals of shape \(batch, samples\) or \(samples,\), got shape "
            r"\({}, 4000, 1\) of rank 3\. Fix: drop a channel axis of 1 with x\[\.\.\., 0\] \(Reshape\(\(samples,\)\) "
            r"in a model\); for signals with channels, \(batch, samples, channels\), use STFTSpectrogram\.")
    with pytest.raises(ValueError, match=mono.format(2)):  # eager
        MelSpectrogram()(torch.zeros(2, 4000, 1))
    with pytest.raises(ValueError, match=mono.format("None")):  # a functional model, when it is built
        MelSpectrogram()(Input((4000, 1)))
    with pytest.raises(ValueError, match=r"expected input of rank at least 1 \(batch, samples\), got shape \(\) of "
                                         r"rank 0\. Fix: give signals as \(batch, samples\)"):
        MelSpectrogram()(torch.zeros(()))


def test_docstring_example_runs():
    import doctest

    import brainnet.layers.mel_spectrogram as module

    failures, tried = doctest.testmod(module)
    assert tried >= 5 and failures == 0
