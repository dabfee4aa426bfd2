"""Image preprocessing layers of Keras 3: Resizing, CenterCrop, RandomCrop,
RandomBrightness. Images are ``(batch, height, width, channels)``.

Resizing samples with half-pixel centres and no antialiasing, as Keras's
``ops.image.resize`` on its torch backend (``F.interpolate(...,
align_corners=False)``; its "nearest" is torch's "nearest-exact", its
"bicubic" torch's cubic convolution); "lanczos3" and "lanczos5", which that
backend refuses, are computed as Keras's JAX backend does
(``jax.image.resize``: a normalised windowed-sinc weight matrix per axis).
Where an image is smaller than the
crop, CenterCrop and RandomCrop resize instead, as Keras: they take the
largest centred window of the target's aspect ratio and resize it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ._augmentation import _Augmentation, _bounds, _choice, _factor_config, _value_range
from .base import Layer, Shape
from .core import check_positive_int

_MODES = {"bilinear": "bilinear", "nearest": "nearest-exact", "bicubic": "bicubic"}
_LANCZOS = {"lanczos3": 3, "lanczos5": 5}
INTERPOLATIONS = (*_MODES, *_LANCZOS)


def lanczos_weights(size_in: int, size_out: int, radius: int, dtype: torch.dtype,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """``(size_in, size_out)`` weights of Lanczos resampling along one axis, as
    ``jax.image.resize`` (no antialias): output ``i`` samples ``u = (i + ½)·n/m − ½``
    and takes ``L_a(u − p)`` of each input ``p``, the column normalised to sum 1."""
    u = (torch.arange(size_out, dtype=torch.float64, device=device) + 0.5) * size_in / size_out - 0.5
    t = u[None, :] - torch.arange(size_in, dtype=torch.float64, device=device)[:, None]  # (n, m)
    w = torch.where(t.abs() < radius, torch.sinc(t) * torch.sinc(t / radius), torch.zeros_like(t))
    return (w / w.sum(0, keepdim=True)).to(dtype)


def resize(x: torch.Tensor, height: int, width: int, interpolation: str = "bilinear",
           crop_to_aspect_ratio: bool = False) -> torch.Tensor:
    """(B, H, W, C) images resized to (B, height, width, C), Keras's way."""
    pixels = x.dtype == torch.uint8
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())  # uint8 pixels come out as floats
    if crop_to_aspect_ratio:  # the largest centred window with the target's aspect ratio
        h_in, w_in = x.shape[1], x.shape[2]
        crop_h = max(min(h_in, int(w_in * height / width)), 1)
        crop_w = max(min(w_in, int(h_in * width / height)), 1)
        top, left = (h_in - crop_h) // 2, (w_in - crop_w) // 2
        x = x[:, top:top + crop_h, left:left + crop_w]
    if tuple(x.shape[1:3]) == (height, width):
        return x
    if interpolation in _LANCZOS:
        radius = _LANCZOS[interpolation]
        rows = lanczos_weights(x.shape[1], height, radius, x.dtype, x.device)  # (H, height)
        cols = lanczos_weights(x.shape[2], width, radius, x.dtype, x.device)  # (W, width)
        return torch.einsum("bhwc,hi,wj->bijc", x, rows, cols)  # (B, height, width, C)
    img = x.permute(0, 3, 1, 2)  # (B, C, H, W)
    mode = _MODES[interpolation]
    out = F.interpolate(img, size=(height, width), mode=mode, align_corners=False if mode != "nearest-exact" else None)
    if interpolation == "bicubic" and pixels:
        out = out.clamp(0, 255)  # as Keras for uint8 images: the cubic's overshoot stays a pixel value
    return out.permute(0, 2, 3, 1)  # (B, height, width, C)


def _sized(layer: str, height: Any, width: Any) -> tuple[int, int]:
    return check_positive_int(layer, "height", height), check_positive_int(layer, "width", width)


class Resizing(Layer):
    """Resizes images to ``height × width``.

    Equation (bilinear, half-pixel centres, s_y = H/height, s_x = W/width,
    source coordinates clamped at 0, neighbours clamped to the image)::

        u = max((i + ½)·s_y − ½, 0),  v = max((j + ½)·s_x − ½, 0)
        y[i, j] = Σ over the 4 pixels (p, q) around (u, v) of (1 − |u − p|)(1 − |v − q|) · x[p, q]

    ``"nearest"``: ``y[i, j] = x[min(⌊(i + ½)·s_y⌋, H − 1), min(⌊(j + ½)·s_x⌋, W − 1)]``.

    ``"bicubic"`` (PyTorch's cubic convolution, Keras's on its torch backend):
    with u, v unclamped, the 4 × 4 pixels p = ⌊u⌋ − 1 … ⌊u⌋ + 2 (indices
    clamped to the image, so the border repeats)::

        y[i, j] = Σ_p Σ_q W(u − p)·W(v − q)·x[clamp(p), clamp(q)]
        W(t) = (a + 2)|t|³ − (a + 3)|t|² + 1 for |t| ≤ 1,  a|t|³ − 5a|t|² + 8a|t| − 4a for 1 < |t| < 2,
               0 beyond,  a = −0.75

    (uint8 images are clamped to [0, 255] after it, as Keras).
    ``"lanczos3"``, ``"lanczos5"`` (as ``jax.image.resize``, a = 3 or 5),
    separable over all pixels p of the image::

        y[i, j] = Σ_p Σ_q w_p(u)·w_q(v)·x[p, q],  w_p(u) = L(u − p) / Σ_r L(u − r)
        L(t) = sinc(t)·sinc(t/a) for |t| < a, 0 beyond;  sinc(t) = sin(πt)/(πt)

    With ``crop_to_aspect_ratio=True`` the input is first cut to its largest
    centred window with the aspect ratio height : width (no distortion).

    Args:
        height, width: the output size (positive ints).
        interpolation: ``"bilinear"`` (default), ``"nearest"``,
            ``"bicubic"``, ``"lanczos3"`` or ``"lanczos5"``.
        crop_to_aspect_ratio: crop before resizing (default False).

    Input shape: ``(batch, H, W, channels)``. Output shape: ``(batch, height, width, channels)``.

    Example:
        >>> import torch
        >>> Resizing(4, 6)(torch.ones(2, 8, 8, 3)).shape
        torch.Size([2, 4, 6, 3])
    """

    equation = "y[i, j] = bilinear x at ((i + ½)·H/height − ½, (j + ½)·W/width − ½)"
    input_rank = 4
    rank_hint = "(batch, height, width, channels)"

    def __init__(self, height: int, width: int, interpolation: str = "bilinear", crop_to_aspect_ratio: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.height, self.width = _sized("Resizing", height, width)
        self.interpolation = _choice("Resizing", "interpolation", interpolation, INTERPOLATIONS,
                                     "Fix: Resizing(..., interpolation='bilinear').")
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return resize(inputs, self.height, self.width, self.interpolation, self.crop_to_aspect_ratio)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio}


class CenterCrop(Layer):
    """Cuts the central ``height × width`` window out of each image.

    Equation (H ≥ height and W ≥ width; t = ⌊(H − height)/2⌋, l = ⌊(W − width)/2⌋)::

        y[i, j] = x[t + i, l + j]

    A smaller image is resized instead (its largest centred window of the
    target's aspect ratio, bilinear), as Keras.

    Args:
        height, width: the output size (positive ints).

    Input shape: ``(batch, H, W, channels)``. Output shape: ``(batch, height, width, channels)``.

    Example:
        >>> import torch
        >>> CenterCrop(2, 2)(torch.arange(16.0).reshape(1, 4, 4, 1))[0, ..., 0].tolist()
        [[5.0, 6.0], [9.0, 10.0]]
    """

    equation = "y[i, j] = x[⌊(H − height)/2⌋ + i, ⌊(W − width)/2⌋ + j]"
    input_rank = 4
    rank_hint = "(batch, height, width, channels)"

    def __init__(self, height: int, width: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.height, self.width = _sized("CenterCrop", height, width)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        h_in, w_in = inputs.shape[1], inputs.shape[2]
        if h_in < self.height or w_in < self.width:
            return resize(inputs, self.height, self.width, crop_to_aspect_ratio=True)
        top, left = (h_in - self.height) // 2, (w_in - self.width) // 2
        out = inputs[:, top:top + self.height, left:left + self.width]
        return out if out.is_floating_point() else out.to(torch.get_default_dtype())

    compute_output_shape = Resizing.compute_output_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height": self.height, "width": self.width}


class RandomCrop(_Augmentation):
    """Cuts a random ``height × width`` window out of the images in training;
    at inference resizes them as CenterCrop's fallback does (Keras 3).

    Equation (training, H ≥ height and W ≥ width; one window for the whole
    batch, as Keras; t ~ U{0, …, H − height}, l ~ U{0, …, W − width})::

        y[n, i, j] = x[n, t + i, l + j]

    At inference (and in training for images smaller than the window): the
    largest centred window with the aspect ratio height : width, resized
    bilinearly to height × width (an image of that size passes unchanged).

    Args:
        height, width: the output size (positive ints).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, H, W, channels)``. Output shape: ``(batch, height, width, channels)``.

    Example:
        >>> import torch
        >>> RandomCrop(24, 24, seed=0)(torch.ones(2, 32, 32, 3), training=True).shape
        torch.Size([2, 24, 24, 3])
    """

    equation = "y[n, i, j] = x[n, t + i, l + j], t, l uniform (training); centred aspect crop + resize (inference)"

    def __init__(self, height: int, width: int, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.height, self.width = _sized("RandomCrop", height, width)

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        h_in, w_in = inputs.shape[1], inputs.shape[2]
        if not training or h_in < self.height or w_in < self.width:
            return resize(inputs, self.height, self.width, crop_to_aspect_ratio=True)
        return super().call(inputs, training=True)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        u = self._rand((2,), x)  # the window's corner, as tensors: no read-back to the host (CUDA graphs)
        top = (u[0] * (x.shape[1] - self.height + 1)).floor().long()
        left = (u[1] * (x.shape[2] - self.width + 1)).floor().long()
        rows = top + torch.arange(self.height, device=x.device)
        cols = left + torch.arange(self.width, device=x.device)
        return x.index_select(1, rows).index_select(2, cols)

    compute_output_shape = Resizing.compute_output_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height": self.height, "width": self.width}


def brightness_bounds(layer: str, arg: str, factor: Any) -> tuple[float, float]:
    """RandomBrightness's factor: a number f means (−f, f), or a pair; within [−1, 1]."""
    low, high = _bounds(layer, arg, factor)
    if low < -1.0 or high > 1.0:
        raise ValueError(
            f"{layer}: expected {arg} within [-1, 1] (a fraction of the value range), got {factor!r}. "
            f"Fix: {layer}({arg}=0.2) (brightness ± 20% of the range)."
        )
    return low, high


def brighten(x: torch.Tensor, a: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """Each image shifted by a (shape (B,)) times the value range, clipped to it."""
    low, high = value_range
    return (x + a[:, None, None, None] * (high - low)).clamp(low, high)


class RandomBrightness(_Augmentation):
    """Adds a random brightness offset to each image in training, clipped to
    the value range (identity at inference).

    Equation (training), per image n, with a_n ~ U[low, high] and
    value_range (r₀, r₁)::

        y[n, i, j, c] = clip(x[n, i, j, c] + a_n · (r₁ − r₀), r₀, r₁)

    Args:
        factor: a number f means (low, high) = (−f, f); or a pair; within
            [−1, 1] (−1 turns an image black, 1 white).
        value_range: the pixels' range (default (0, 255); (0, 1) after
            ``Rescaling(1/255)``).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Example:
        >>> import torch
        >>> RandomBrightness(0.2)(torch.full((2, 4, 4, 3), 100.0), training=True).shape
        torch.Size([2, 4, 4, 3])
    """

    equation = "y = clip(x + a_n·(r₁ − r₀), r₀, r₁), a_n ~ U[low, high] (training only)"

    def __init__(self, factor: float | tuple[float, float], value_range: tuple[float, float] = (0, 255),
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.low, self.high = brightness_bounds("RandomBrightness", "factor", factor)
        self.value_range = _value_range("RandomBrightness", value_range)
        self.factor = _factor_config(factor)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        return brighten(x, self._uniform(x.shape[0], self.low, self.high, x), self.value_range)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}
