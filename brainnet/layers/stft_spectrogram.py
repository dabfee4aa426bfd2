"""STFTSpectrogram (Keras 3): the short-time Fourier transform of a signal
as a 1-D convolution with cosine and sine kernels (trainable, as Keras), and
the windows and checks that MelSpectrogram (``mel_spectrogram.py``) shares."""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import _spatial
from .base import Layer, Shape
from .core import check_positive_int

MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")
SCALINGS = ("density", "spectrum", None)
WINDOWS = ("hann", "hamming", None)
EPSILON = 1e-7  # Keras's backend.epsilon(), the floor of the power and the magnitude


def check_window(layer: str, window: Any, length: int, length_arg: str) -> Any:
    """``"hann"``, ``"hamming"``, None, or a sequence of ``length`` numbers
    (returned as a list of floats, JSON-safe)."""
    if isinstance(window, str) or window is None:
        if window in WINDOWS:
            return window
    elif isinstance(window, (list, tuple, np.ndarray, torch.Tensor)):
        values = np.asarray(window.tolist() if isinstance(window, torch.Tensor) else window)
        if values.ndim == 1 and len(values) == length and np.issubdtype(values.dtype, np.number):
            return [float(v) for v in values]
        raise ValueError(
            f"{layer}: expected window to be one value per sample of a frame, {length} numbers ({length_arg}), "
            f"got shape {values.shape}. Fix: a window of {length} numbers, or window='hann'."
        )
    raise ValueError(
        f"{layer}: expected window to be 'hann', 'hamming', None or a list of numbers, got {window!r}. "
        "Fix: window='hann' (or a list of your own window's values, one per sample of a frame)."
    )


def window_values(window: Any, length: int, periodic: bool, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """w[t] for t = 0 … length − 1: Hann ``0.5 − 0.5·cos(2πt/M)``, Hamming
    ``0.54 − 0.46·cos(2πt/M)`` with M = length − 1 (symmetric) or length
    (periodic), a list's values, or ones for None."""
    if window is None:
        return torch.ones(length, dtype=dtype)
    if window == "hann":
        return torch.hann_window(length, periodic=periodic, dtype=dtype)
    if window == "hamming":
        return torch.hamming_window(length, periodic=periodic, dtype=dtype)
    return torch.tensor(window, dtype=dtype)


def check_floating(layer: Layer, inputs: torch.Tensor) -> None:
    """A spectrogram is of a floating signal: refuse integers (PCM samples) with the cast."""
    if not inputs.is_floating_point():
        raise TypeError(
            f"Layer '{layer.name}' ({type(layer).__name__}): expected a floating signal (float16, float32 or "
            f"float64), got {str(inputs.dtype).replace('torch.', '')}. Fix: cast it, x.float() (NumPy: "
            "x.astype('float32')); 16-bit PCM samples divided by 32768.0 lie in [-1, 1)."
        )


def stft_kernels(frame_length: int, bins: int, window: Any, periodic: bool, scaling: str | None) -> tuple[
        torch.Tensor, torch.Tensor]:
    """The real and imaginary kernels, each (bins, 1, frame_length) in
    conv1d's layout: cos(2π·f·t/N)·w[t]/s and −sin(2π·f·t/N)·w[t]/s with
    N = 2·(bins − 1), in float64."""
    t = torch.arange(frame_length, dtype=torch.float64)
    f = torch.arange(bins, dtype=torch.float64)
    angle = 2 * math.pi * f[:, None] * t[None, :] / (2 * (bins - 1))  # (F, T)
    real, imag = torch.cos(angle), -torch.sin(angle)
    if window is not None:
        w = window_values(window, frame_length, periodic)
        s = {"density": w.square().sum().sqrt(), "spectrum": w.abs().sum(), None: torch.tensor(1.0)}[scaling]
        real, imag = real * w / s, imag * w / s
    return real[:, None, :], imag[:, None, :]  # (F, 1, T)


class STFTSpectrogram(Layer):
    """The short-time Fourier transform of each channel of a signal: the
    signal cut into overlapping frames, each windowed and taken to the
    frequency domain, computed as a 1-D convolution whose kernels start as
    the Fourier basis (trainable, as Keras, so a model can fine-tune them).

    Equation (frame ``n`` starts at sample ``n·frame_step``; ``w`` the
    window, ``s`` its scaling, F = fft_length//2 + 1 bins, N = 2·(F − 1),
    which is fft_length when it is even)::

        Re[n, f] = Σ_t x[n·step + t] · w[t] · cos(2π f t / N) / s
        Im[n, f] = −Σ_t x[n·step + t] · w[t] · sin(2π f t / N) / s
        P = Re² + Im²
        log: ln(max(√max(P, ε), ε));   magnitude: √max(P, ε)
        psd: P, with the bins 1 … F−2 doubled;   angle: atan2(Im, Re)
        real: Re;  imag: Im;  stft: [Re, Im] along the frequencies     (ε = 1e-7)

    ``s`` is √Σw² for ``scaling="density"``, Σ|w| for ``"spectrum"``, 1 for
    None or without a window. With ``fft_length`` > ``frame_length`` each
    frame is zero-padded at its end, so Re and Im are ``numpy.fft.rfft`` of
    the windowed frame with ``n=fft_length``.

    Args:
        mode: ``"log"`` (default), ``"magnitude"``, ``"psd"``, ``"real"``,
            ``"imag"``, ``"angle"`` or ``"stft"``.
        frame_length: samples per frame (default 256).
        frame_step: samples between frame starts, 1 … frame_length (default
            None: frame_length // 2).
        fft_length: FFT size ≥ frame_length (default None: the smallest
            power of two ≥ frame_length; other sizes warn, as Keras).
        window: ``"hann"`` (default), ``"hamming"``, None, or a list of
            frame_length numbers.
        periodic: the window periodic (for spectral analysis) rather than
            symmetric (default False).
        scaling: ``"density"`` (default), ``"spectrum"`` or None.
        padding: ``"valid"`` (default: only whole frames) or ``"same"``
            (zeros around the signal, as Keras's convolutions, so there are
            ⌈time/frame_step⌉ frames).
        expand_dims: give ``(batch, frames, bins, channels)`` (an image per
            signal) instead of ``(batch, frames, channels·bins)``.
        **kwargs: ``name``, ``input_shape``, ``trainable``.

    Input shape: ``(batch, time, channels)``, floating.
    Output shape: ``(batch, frames, channels·F')``, channel by channel, or
    with ``expand_dims`` ``(batch, frames, F', channels)``; F' = F, or 2·F for
    ``"stft"``; frames ⌊(time − frame_length)/frame_step⌋ + 1 (valid) or
    ⌈time/frame_step⌉ (same).

    Weights: ``real_kernel`` (all modes but ``"imag"``) and ``imag_kernel``
    (all but ``"real"``), stored ``(F, 1, frame_length)`` as Conv1D's
    kernel (Keras's ``(frame_length, 1, F)`` through ``keras_order``).

    Raises:
        ValueError: an unknown mode, window, scaling or padding; frame_step
            outside 1 … frame_length; fft_length < frame_length (or < 2);
            a "valid" signal shorter than one frame.
        TypeError: an integer signal.

    Example:
        >>> import torch
        >>> t = torch.arange(1024) / 1024.0
        >>> x = torch.sin(2 * torch.pi * 64 * t).reshape(1, 1024, 1)  # 64 cycles
        >>> layer = STFTSpectrogram(mode="magnitude", frame_length=128, frame_step=64)
        >>> y = layer(x)
        >>> tuple(y.shape), int(y[0].mean(0).argmax())  # 64 cycles per 1024 samples: bin 128·64/1024 = 8
        ((1, 15, 65), 8)
    """

    equation = "P[n, f] = |Σ_t x[n·step + t] · w[t] · e^(−2πi f t / N)|² / s² (then per mode)"
    input_rank = 3
    casts_integer_inputs = False  # integer PCM samples are refused with the scale to use (check_floating)
    rank_hint = "(batch, time, channels)"
    rank_fix = "give signals as (batch, time, channels): one channel is x[..., None]"

    def __init__(
        self,
        mode: str = "log",
        frame_length: int = 256,
        frame_step: int | None = None,
        fft_length: int | None = None,
        window: Any = "hann",
        periodic: bool = False,
        scaling: str | None = "density",
        padding: str = "valid",
        expand_dims: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        name = "STFTSpectrogram"
        if mode not in MODES:
            raise ValueError(f"{name}: expected mode to be one of {', '.join(MODES)}, got {mode!r}. "
                             "Fix: mode='log' (log magnitudes, Keras's default) or mode='magnitude'.")
        self.mode = mode
        self.frame_length = check_positive_int(name, "frame_length", frame_length)
        if frame_step is not None and (isinstance(frame_step, bool) or not isinstance(frame_step, numbers.Integral)
                                       or not 1 <= frame_step <= frame_length):
            raise ValueError(
                f"{name}: expected frame_step to be an integer in 1 … frame_length={frame_length}, got "
                f"{frame_step!r}. Fix: frame_step={max(frame_length // 2, 1)} (half-overlapping frames) or leave "
                "it out."
            )
        self.frame_step = None if frame_step is None else int(frame_step)
        if fft_length is not None and (isinstance(fft_length, bool) or not isinstance(fft_length, numbers.Integral)
                                       or fft_length < max(frame_length, 2)):
            raise ValueError(
                f"{name}: expected fft_length to be an integer ≥ frame_length={frame_length} (and ≥ 2), got "
                f"{fft_length!r}. Fix: fft_length={max(2 ** math.ceil(math.log2(frame_length)), 2)}, the power of "
                "two Keras picks when it is left out."
            )
        if fft_length is not None and fft_length & (fft_length - 1):
            warnings.warn(f"{name}: fft_length={fft_length} is not a power of two, which the FFT prefers "
                          f"(Keras warns alike). Fix: fft_length={2 ** math.ceil(math.log2(fft_length))}.",
                          UserWarning, stacklevel=2)
        self.fft_length = None if fft_length is None else int(fft_length)
        self.window = check_window(name, window, self.frame_length, "frame_length")
        self.periodic = bool(periodic)
        if scaling not in SCALINGS:
            raise ValueError(f"{name}: expected scaling to be 'density', 'spectrum' or None, got {scaling!r}. "
                             "Fix: scaling='density' (the window's energy, Keras's default).")
        self.scaling = scaling
        self.padding = _spatial.check_padding(name, padding)
        self.expand_dims = bool(expand_dims)

    @property
    def step(self) -> int:
        """The frame step in use (frame_length // 2 when frame_step is None)."""
        return self.frame_step or max(self.frame_length // 2, 1)

    @property
    def bins(self) -> int:
        """F, the frequency bins: fft_length // 2 + 1 (fft_length by default
        the smallest power of two ≥ frame_length, at least 2)."""
        fft = self.fft_length or max(2 ** math.ceil(math.log2(self.frame_length)), 2)
        return fft // 2 + 1

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)  # raises if a "valid" signal is shorter than a frame
        real, imag = stft_kernels(self.frame_length, self.bins, self.window, self.periodic, self.scaling)
        if self.mode != "imag":
            self.real_kernel = self.add_weight("real_kernel", real.float())
        if self.mode != "real":
            self.imag_kernel = self.add_weight("imag_kernel", imag.float())

    def keras_order(self, weight: str) -> tuple[int, ...] | None:
        return (2, 1, 0)  # (F, 1, frame_length) → Keras's (frame_length, 1, F)

    def _convolve(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        if self.padding == "same":
            x = _spatial.pad_same(x, (self.frame_length,), (self.step,))
        return F.conv1d(x, kernel.to(x.dtype), stride=self.step)  # (B·C, F, frames)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        check_floating(self, inputs)
        b, _, c = inputs.shape
        x = inputs.movedim(-1, 1).reshape(b * c, 1, -1)  # (B·C, 1, time): each channel alone
        re = self._convolve(x, self.real_kernel) if self.mode != "imag" else None
        im = self._convolve(x, self.imag_kernel) if self.mode != "real" else None
        if self.mode == "real":
            out = re
        elif self.mode == "imag":
            out = im
        elif self.mode == "angle":
            out = torch.atan2(im, re)
        elif self.mode == "stft":
            out = torch.cat([re, im], dim=1)  # (B·C, 2F, frames)
        else:
            power = re.square() + im.square()
            if self.mode == "psd":
                out = power + F.pad(power[:, 1:-1], (0, 0, 1, 1))  # bins 1 … F−2 doubled
            else:
                out = power.clamp_min(EPSILON).sqrt()
                if self.mode == "log":
                    out = out.clamp_min(EPSILON).log()
        out = out.reshape(b, c, out.shape[1], out.shape[2])  # (B, C, F', frames)
        if self.expand_dims:
            return out.permute(0, 3, 2, 1)  # (B, frames, F', C)
        return out.reshape(b, -1, out.shape[3]).transpose(1, 2)  # (B, frames, C·F')

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        batch, time, channels = input_shape
        frames = _spatial.output_length(time, self.frame_length, self.step, self.padding)
        if frames is not None and frames <= 0:
            raise ValueError(
                f"Layer '{self.name}' (STFTSpectrogram): expected signals of at least frame_length="
                f"{self.frame_length} samples with padding='valid', got {time}. Fix: padding='same', a shorter "
                "frame_length, or longer signals."
            )
        bins = self.bins * (2 if self.mode == "stft" else 1)
        if self.expand_dims:
            return (batch, frames, bins, channels)
        return (batch, frames, None if channels is None else channels * bins)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "mode": self.mode,
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
            "fft_length": self.fft_length,
            "window": self.window,
            "periodic": self.periodic,
            "scaling": self.scaling,
            "padding": self.padding,
            "expand_dims": self.expand_dims,
        }
