"""MelSpectrogram (Keras 3): raw audio to a mel-scale (HTK) power
spectrogram in decibels, the usual input of speech and sound classifiers."""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch
import torch.nn.functional as F

from .base import Layer, Shape, shape_str
from .core import check_positive_int
from .stft_spectrogram import check_floating, check_window, window_values


def hertz_to_mel(hertz: torch.Tensor) -> torch.Tensor:
    """HTK's mel scale: m = 1127 · ln(1 + f / 700) (≈ 2595 · log10(1 + f / 700))."""
    return 1127.0 * torch.log1p(hertz / 700.0)


def mel_filterbank(num_mel_bins: int, num_spectrogram_bins: int, sampling_rate: float, min_freq: float,
                   max_freq: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The (num_spectrogram_bins, num_mel_bins) matrix of HTK triangles, as
    Keras's ``linear_to_mel_weight_matrix``: the bins' frequencies spread
    evenly over [0, sampling_rate/2], the band edges evenly in mels over
    [mel(min_freq), mel(max_freq)], each triangle peaking at 1 in the mel
    domain, the DC bin's row zero."""
    freqs = torch.linspace(0.0, sampling_rate / 2.0, num_spectrogram_bins, dtype=torch.float64)[1:]  # no DC bin
    mel = hertz_to_mel(freqs)[:, None]  # (bins − 1, 1)
    edges = torch.linspace(float(hertz_to_mel(torch.tensor(float(min_freq), dtype=torch.float64))),
                           float(hertz_to_mel(torch.tensor(float(max_freq), dtype=torch.float64))),
                           num_mel_bins + 2, dtype=torch.float64)
    lower, center, upper = edges[:-2][None], edges[1:-1][None], edges[2:][None]  # each (1, mels)
    rising = (mel - lower) / (center - lower)
    falling = (upper - mel) / (upper - center)
    weights = torch.minimum(rising, falling).clamp_min(0.0)  # (bins − 1, mels)
    return F.pad(weights, (0, 0, 1, 0)).to(dtype)  # (bins, mels), row 0 (DC) zero


class MelSpectrogram(Layer):
    """Turns raw audio into a mel spectrogram: the power of each short frame's
    frequencies, pooled into bands evenly spaced on the mel scale (how pitch
    is heard), in decibels. No weights.

    Equation (each signal reflected by fft_length//2 samples at both ends,
    frame n starting at n·sequence_stride; w the periodic window of
    sequence_length samples centred in fft_length; M the HTK filterbank,
    mel(f) = 1127 · ln(1 + f/700))::

        X[n, k] = Σ_t x[n·stride + t] · w[t] · e^(−2πi k t / fft_length)
        S[n, m] = Σ_k |X[n, k]|^mag_exp · M[k, m]
        dB = 10·log10(max(S, min_power)) − 10·log10(max(|ref_power|, min_power))
        y = max(dB, max(dB) − top_db)     (the max over the signal; with power_to_db)
        output: y transposed, (mels, frames)

    Args:
        fft_length: samples per FFT (default 2048).
        sequence_stride: samples between frames (default 512).
        sequence_length: window length ≤ fft_length (default None:
            fft_length).
        window: ``"hann"`` (default), ``"hamming"`` (both periodic, as
            Keras's stft), None, or a list of sequence_length numbers.
        sampling_rate: samples per second (default 16000).
        num_mel_bins: mel bands (default 128).
        min_freq: lowest band edge in Hz (default 20.0).
        max_freq: highest band edge in Hz (default None: sampling_rate // 2).
        power_to_db: give decibels (default True) or the mel power.
        top_db: dynamic range kept below each signal's loudest value
            (default 80.0).
        mag_exp: exponent of the magnitude (default 2.0: power).
        min_power: floor of the power and of ref_power (default 1e-10).
        ref_power: power at 0 dB (default 1.0).
        **kwargs: ``name``, ``input_shape``, ``trainable``.

    Input shape: ``(batch, samples)``, or ``(samples,)`` for one signal;
    floating. Output shape: ``(batch, num_mel_bins, frames)`` (or
    ``(num_mel_bins, frames)``), frames = (samples + 2·(fft_length//2) −
    fft_length) // sequence_stride + 1 (samples // stride + 1 for an even
    fft_length).

    Raises:
        ValueError: a size that is not a positive integer; sequence_length >
            fft_length; a window other than those; min_freq ≥ max_freq;
            top_db, mag_exp, min_power out of range; a signal of at most
            fft_length//2 samples (too short to reflect); a signal of rank
            above 2 (a channel axis).
        TypeError: an integer signal.

    Example:
        >>> import torch
        >>> t = torch.arange(8000) / 8000.0
        >>> x = torch.sin(2 * torch.pi * 1000.0 * t)[None]  # 1 s of 1 kHz at 8 kHz
        >>> layer = MelSpectrogram(fft_length=256, sequence_stride=128, sampling_rate=8000, num_mel_bins=32)
        >>> y = layer(x)
        >>> tuple(y.shape)
        (1, 32, 63)
        >>> band = int(y[0].mean(1).argmax())  # the loudest band
        >>> bank = mel_filterbank(32, 129, 8000, 20.0, 4000)  # (bins, mels); bin k is k·8000/256 Hz
        >>> float(bank[:, band].argmax()) * 8000 / 256  # its triangle peaks at the tone
        1000.0
    """

    equation = "S[n, m] = Σ_k |STFT(x)[n, k]|^mag_exp · M_mel[k, m]; y = 10·log10(S/ref) ≥ max − top_db"
    min_rank = 1
    casts_integer_inputs = False  # integer PCM samples are refused with the scale to use (check_floating)
    rank_hint = "(batch, samples)"
    rank_fix = "give signals as (batch, samples): one signal of shape (samples,) or x[None]"

    def __init__(
        self,
        fft_length: int = 2048,
        sequence_stride: int = 512,
        sequence_length: int | None = None,
        window: Any = "hann",
        sampling_rate: int = 16000,
        num_mel_bins: int = 128,
        min_freq: float = 20.0,
        max_freq: float | None = None,
        power_to_db: bool = True,
        top_db: float = 80.0,
        mag_exp: float = 2.0,
        min_power: float = 1e-10,
        ref_power: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        name = "MelSpectrogram"
        self.fft_length = check_positive_int(name, "fft_length", fft_length)
        self.sequence_stride = check_positive_int(name, "sequence_stride", sequence_stride)
        self.sequence_length = check_positive_int(name, "sequence_length", sequence_length or fft_length)
        if self.sequence_length > self.fft_length:
            raise ValueError(
                f"{name}: expected sequence_length ≤ fft_length={self.fft_length}, got {self.sequence_length}. "
                f"Fix: fft_length={2 ** math.ceil(math.log2(self.sequence_length))} or sequence_length=None "
                "(the whole FFT)."
            )
        self.window = check_window(name, window, self.sequence_length, "sequence_length")
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, numbers.Real) or sampling_rate <= 0:
            raise ValueError(f"{name}: expected sampling_rate to be a positive number of samples per second, got "
                             f"{sampling_rate!r}. Fix: sampling_rate=16000 (the rate the audio was recorded at).")
        self.sampling_rate = sampling_rate
        self.num_mel_bins = check_positive_int(name, "num_mel_bins", num_mel_bins)
        self.max_freq = max_freq or int(sampling_rate / 2)
        self.min_freq = min_freq
        numbers_ok = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in (min_freq, self.max_freq))
        if not numbers_ok or not 0 <= min_freq < self.max_freq:
            raise ValueError(
                f"{name}: expected 0 ≤ min_freq < max_freq (Hz), got min_freq={min_freq!r}, "
                f"max_freq={self.max_freq!r}. Fix: min_freq=20.0, max_freq=None (half the sampling rate, "
                f"{int(sampling_rate / 2)} Hz)."
            )
        self.power_to_db = bool(power_to_db)
        for arg, value, low in (("top_db", top_db, "≥ 0"), ("mag_exp", mag_exp, "> 0"),
                                ("min_power", min_power, "> 0")):
            if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                    or value < 0 or (low == "> 0" and value == 0)):
                default = {"top_db": 80.0, "mag_exp": 2.0, "min_power": 1e-10}[arg]
                raise ValueError(f"{name}: expected {arg} to be a number {low}, got {value!r}. "
                                 f"Fix: {arg}={default} (Keras's default).")
        self.top_db, self.mag_exp, self.min_power = top_db, mag_exp, min_power
        if isinstance(ref_power, bool) or not isinstance(ref_power, numbers.Real):
            raise ValueError(f"{name}: expected ref_power to be a number (the power at 0 dB), got {ref_power!r}. "
                             "Fix: ref_power=1.0.")
        self.ref_power = ref_power

    def _check_mono(self, shape: Shape) -> None:
        """At most (batch, samples): a channel axis (Keras audio tutorials' (batch, samples, 1)) is refused with
        the fix (the base class checks the least rank, 1)."""
        if len(shape) > 2:
            raise ValueError(
                f"Layer '{self.name}' (MelSpectrogram) expected mono signals of shape (batch, samples) or (samples,), "
                f"got shape {shape_str(tuple(shape))} of rank {len(shape)}. Fix: drop a channel axis of 1 with "
                "x[..., 0] (Reshape((samples,)) in a model); for signals with channels, (batch, samples, channels), "
                "use STFTSpectrogram."
            )

    def build(self, input_shape: Shape) -> None:
        # Made once, as buffers that follow the layer's device and dtype but are not weights (nor saved):
        # nothing is copied from the host inside a training step (a CUDA graph could not hold it).
        bins = self.fft_length // 2 + 1
        bank = mel_filterbank(self.num_mel_bins, bins, self.sampling_rate, self.min_freq, self.max_freq)
        self.register_buffer("filterbank", bank, persistent=False)  # (bins, mels)
        self.register_buffer("window_taps", window_values(self.window, self.sequence_length, True), persistent=False)

    def _to_db(self, power: torch.Tensor) -> torch.Tensor:
        db = 10.0 * torch.log10(power.clamp_min(self.min_power))
        db = db - 10.0 * math.log10(max(abs(self.ref_power), self.min_power))
        loudest = db.amax(dim=(-2, -1), keepdim=True)  # each signal's own (Keras: the whole batch's)
        return torch.maximum(db, loudest - self.top_db)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        self._check_mono(inputs.shape)
        check_floating(self, inputs)
        samples = inputs.shape[-1]
        if samples <= self.fft_length // 2:
            raise ValueError(
                f"Layer '{self.name}' (MelSpectrogram): expected signals of more than fft_length // 2 = "
                f"{self.fft_length // 2} samples (each end is reflected by that much), got {samples}. Fix: a "
                "smaller fft_length, or longer signals (pad them with zeros)."
            )
        x = inputs if inputs.ndim == 2 else inputs[None]  # (B, samples)
        dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32  # torch.stft's dtypes
        spec = torch.stft(x.to(dtype), n_fft=self.fft_length, hop_length=self.sequence_stride,
                          win_length=self.sequence_length, window=self.window_taps.to(dtype), center=True,
                          pad_mode="reflect", return_complex=True)  # (B, bins, frames)
        power = spec.abs().pow(self.mag_exp).transpose(1, 2)  # (B, frames, bins)
        mel = power @ self.filterbank.to(dtype)  # (B, frames, mels)
        if self.power_to_db:
            mel = self._to_db(mel)
        out = mel.transpose(1, 2).to(inputs.dtype)  # (B, mels, frames)
        return out if inputs.ndim == 2 else out[0]

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._check_mono(input_shape)
        samples = input_shape[-1]
        pad = self.fft_length // 2
        frames = None if samples is None else (samples + 2 * pad - self.fft_length) // self.sequence_stride + 1
        return (*input_shape[:-1], self.num_mel_bins, frames)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "fft_length": self.fft_length,
            "sequence_stride": self.sequence_stride,
            "sequence_length": self.sequence_length,
            "window": self.window,
            "sampling_rate": self.sampling_rate,
            "num_mel_bins": self.num_mel_bins,
            "min_freq": self.min_freq,
            "max_freq": self.max_freq,
            "power_to_db": self.power_to_db,
            "top_db": self.top_db,
            "mag_exp": self.mag_exp,
            "min_power": self.min_power,
            "ref_power": self.ref_power,
        }
