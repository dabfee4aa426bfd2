"""Image augmentation layers: random flips, rotations, shifts, zooms,
contrast changes and erasing, applied during training only.

Each layer is the identity at inference (``model.predict``, ``evaluate``,
``training=False``) and, during training, draws its own random parameters
for every image of the batch and transforms the whole batch in one call on
the batch's device. ``seed=`` makes the sequence of draws repeatable (a
layer with a seed owns a ``torch.Generator``; without one it uses torch's
global random state). Images are ``(batch, height, width, channels)``.

The geometric layers (RandomRotation, RandomTranslation, RandomZoom) build
one affine map per image and resample with ``torch.nn.functional.affine_grid``
and ``grid_sample``. Pixels that come from outside the image are filled as
Keras's ``fill_mode`` says (input ``abcd``):

* ``"reflect"`` (default): ``(d c b a | a b c d | d c b a)``, reflected about
  the edge of the last pixel (grid_sample's "reflection" padding);
* ``"mirror"``: ``(d c b | a b c d | c b a)``, reflected about the centre of
  the last pixel (the same padding, with ``align_corners=True``);
* ``"nearest"``: ``(a a a a | a b c d | d d d d)`` (grid_sample's "border");
* ``"constant"``: ``fill_value`` (grid_sample's "zeros", plus
  ``fill_value · (1 − coverage)`` when it is not 0, which is the same as
  interpolating with out-of-image pixels equal to ``fill_value``).

Keras's ``"wrap"`` has no grid_sample counterpart and is refused.
``interpolation`` is ``"bilinear"`` (default) or ``"nearest"``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ._random import check_seed, generator_for
from .base import Layer

_PADDING = {"reflect": "reflection", "mirror": "reflection", "nearest": "border", "constant": "zeros"}


def _bounds(layer: str, arg: str, factor: Any, symmetric: bool = True) -> tuple[float, float]:
    """Keras's factor: a number f means (−f, f) (or (f, f) when not
    ``symmetric``), a pair (low, high) is taken as given."""
    if isinstance(factor, numbers.Real) and not isinstance(factor, bool):
        low, high = (-float(factor), float(factor)) if symmetric else (float(factor), float(factor))
    elif isinstance(factor, (tuple, list)) and len(factor) == 2 and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in factor
    ):
        low, high = float(factor[0]), float(factor[1])
    else:
        raise ValueError(
            f"{layer}: expected {arg} to be a number or a pair (low, high), got {factor!r}. "
            f"Fix: {layer}({arg}=0.1) or {layer}({arg}=(-0.1, 0.2))."
        )
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(
            f"{layer}: expected {arg} with low ≤ high, got {factor!r}. Fix: {layer}({arg}=(-0.1, 0.2))."
        )
    return low, high


def _choice(layer: str, arg: str, value: Any, allowed: Sequence[str], fix: str) -> str:
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ValueError(
            f"{layer}: expected {arg} to be one of {', '.join(repr(a) for a in allowed)}, got {value!r}. {fix}"
        )
    return value.lower()


class _Augmentation(Layer):
    """Identity at inference; ``augment(x)`` on each training batch."""

    input_rank = 4
    rank_hint = "(batch, height, width, channels)"

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = check_seed(type(self).__name__, seed)
        self._generator: torch.Generator | None = None

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if not training:
            return inputs
        if not inputs.is_floating_point():
            raise TypeError(
                f"Layer '{self.name}' ({type(self).__name__}): expected floating-point images, got "
                f"{inputs.dtype}. Fix: x = x.astype('float32') (fit does this for you)."
            )
        return self.augment(inputs)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _rand(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """U[0, 1) of ``shape`` on ``like``'s device, from the layer's generator."""
        return torch.rand(shape, generator=generator_for(self, like), device=like.device, dtype=like.dtype)

    def _uniform(self, n: int, low: float, high: float, like: torch.Tensor) -> torch.Tensor:
        return low + (high - low) * self._rand((n,), like)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


class _Affine(_Augmentation):
    """Shared by the geometric layers: per-image affine maps, one grid_sample."""

    def __init__(
        self, fill_mode: str = "reflect", interpolation: str = "bilinear", seed: int | None = None,
        fill_value: float = 0.0, **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        name = type(self).__name__
        if isinstance(fill_mode, str) and fill_mode.lower() == "wrap":
            raise ValueError(
                f"{name}: expected fill_mode 'reflect', 'mirror', 'nearest' or 'constant', got 'wrap' "
                "(Keras's wrap-around has no torch grid_sample counterpart). "
                f"Fix: {name}(..., fill_mode='reflect')."
            )
        self.fill_mode = _choice(name, "fill_mode", fill_mode, list(_PADDING),
                                 f"Fix: {name}(..., fill_mode='reflect').")
        self.interpolation = _choice(name, "interpolation", interpolation, ["bilinear", "nearest"],
                                     f"Fix: {name}(..., interpolation='bilinear').")
        if isinstance(fill_value, bool) or not isinstance(fill_value, numbers.Real):
            raise ValueError(f"{name}: expected fill_value to be a number, got {fill_value!r}. Fix: fill_value=0.0.")
        self.fill_value = float(fill_value)

    def matrices(self, n: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
        """(n, 2, 3) maps from output to input pixel offsets from the image centre:
        ``[dx_in, dy_in]ᵀ = A · [dx_out, dy_out]ᵀ + t`` (pixels, x to the right, y down)."""
        raise NotImplementedError

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        n, height, width, _ = x.shape
        pixel = self.matrices(n, height, width, x)  # (B, 2, 3), in pixels
        align = self.fill_mode == "mirror"
        # Pixels → grid_sample's normalised coordinates: x_n = 2·dx / sx.
        sx, sy = (max(width - 1, 1), max(height - 1, 1)) if align else (width, height)
        scale = x.new_tensor([[1.0 / sx], [1.0 / sy]]) * 2.0  # (2, 1)
        unscale = x.new_tensor([sx, sy]) / 2.0  # (2,)
        theta = torch.cat([pixel[:, :, :2] * scale * unscale, pixel[:, :, 2:] * scale], dim=2)
        img = x.permute(0, 3, 1, 2)  # (B, C, H, W)
        grid = F.affine_grid(theta, list(img.shape), align_corners=align)  # (B, H, W, 2)
        out = F.grid_sample(img, grid, mode=self.interpolation, padding_mode=_PADDING[self.fill_mode],
                            align_corners=align)
        if self.fill_mode == "constant" and self.fill_value != 0.0:
            inside = F.grid_sample(torch.ones_like(img[:, :1]), grid, mode=self.interpolation,
                                   padding_mode="zeros", align_corners=align)
            out = out + self.fill_value * (1.0 - inside)
        return out.permute(0, 2, 3, 1)  # (B, H, W, C)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


def _factor_config(factor: Any) -> Any:
    return list(factor) if isinstance(factor, (tuple, list)) else factor


class RandomFlip(_Augmentation):
    """Flips each image left-right and/or up-down, each with probability ½.

    Equation (training; identity at inference), per image n::

        horizontal: y[n, i, j] = x[n, i, W − 1 − j]  with probability ½
        vertical:   y[n, i, j] = x[n, H − 1 − i, j]  with probability ½

    (independent draws for the two flips in ``"horizontal_and_vertical"``).

    Args:
        mode: ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"``
            (default, as Keras).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Example:
        >>> import torch
        >>> RandomFlip("horizontal", seed=0)(torch.ones(2, 4, 4, 3), training=True).shape
        torch.Size([2, 4, 4, 3])
    """

    equation = "y[n, i, j] = x[n, i, W−1−j] and/or x[n, H−1−i, j], each with probability ½ (training only)"

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.mode = _choice("RandomFlip", "mode", mode, ["horizontal", "vertical", "horizontal_and_vertical"],
                            "Fix: RandomFlip('horizontal') for natural images.")

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if self.mode != "vertical":
            flip = self._rand((n,), x) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(2), x)
        if self.mode != "horizontal":
            flip = self._rand((n,), x) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(1), x)
        return x

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


class RandomRotation(_Affine):
    """Rotates each image about its centre by a random angle.

    Equation (training; identity at inference), per image, with
    θ = 2π·u, u ~ U[low, high] (Keras: the factor is a fraction of a full
    turn; θ > 0 turns the image counter-clockwise as displayed, y down) and
    (c_x, c_y) = ((W − 1)/2, (H − 1)/2)::

        y[i, j] = x(c_y + sin θ·(j − c_x) + cos θ·(i − c_y),
                    c_x + cos θ·(j − c_x) − sin θ·(i − c_y))

    sampled with ``interpolation`` and filled outside as ``fill_mode`` says.

    Args:
        factor: u's range: a number f means (−f, f), or a pair (low, high);
            ``0.1`` rotates by up to ±36°.
        fill_mode: ``"reflect"`` (default), ``"mirror"``, ``"nearest"`` or
            ``"constant"`` (see the module's docstring; ``"wrap"`` is refused).
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: integer for repeatable draws, or None.
        fill_value: value outside the image for ``"constant"`` (default 0).

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Example:
        >>> import torch
        >>> RandomRotation(0.1)(torch.ones(2, 8, 8, 1), training=True).shape
        torch.Size([2, 8, 8, 1])
    """

    equation = "y(p) = x(c + R(θ)(p − c)), θ = 2π·u, u ~ U[low, high] (training only)"

    def __init__(
        self, factor: float | tuple[float, float], fill_mode: str = "reflect", interpolation: str = "bilinear",
        seed: int | None = None, fill_value: float = 0.0, **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.low, self.high = _bounds("RandomRotation", "factor", factor)
        self.factor = _factor_config(factor)

    def matrices(self, n: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
        angle = 2.0 * math.pi * self._uniform(n, self.low, self.high, like)
        cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
        return torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


class RandomTranslation(_Affine):
    """Shifts each image by a random fraction of its height and width.

    Equation (training; identity at inference), per image, with
    d_y = H·u, u ~ U[height low, high] and d_x = W·v, v ~ U[width low, high]
    (positive: down and right)::

        y[i, j] = x(i − d_y, j − d_x)

    Args:
        height_factor: u's range, a number f means (−f, f), or a pair; in [−1, 1].
        width_factor: v's range, likewise.
        fill_mode, interpolation, seed, fill_value: as RandomRotation.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Example:
        >>> import torch
        >>> RandomTranslation(0.1, 0.1)(torch.ones(2, 8, 8, 1), training=True).shape
        torch.Size([2, 8, 8, 1])
    """

    equation = "y[i, j] = x(i − H·u, j − W·v), u, v ~ U[low, high] (training only)"

    def __init__(
        self, height_factor: float | tuple[float, float], width_factor: float | tuple[float, float],
        fill_mode: str = "reflect", interpolation: str = "bilinear", seed: int | None = None,
        fill_value: float = 0.0, **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_bounds = _bounds("RandomTranslation", "height_factor", height_factor)
        self.width_bounds = _bounds("RandomTranslation", "width_factor", width_factor)
        for arg, (low, high) in (("height_factor", self.height_bounds), ("width_factor", self.width_bounds)):
            if low < -1 or high > 1:
                raise ValueError(
                    f"RandomTranslation: expected {arg} within [-1, 1] (a fraction of the image), got "
                    f"({low}, {high}). Fix: RandomTranslation({arg}=0.1, ...)."
                )
        self.height_factor, self.width_factor = _factor_config(height_factor), _factor_config(width_factor)

    def matrices(self, n: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
        dy = height * self._uniform(n, *self.height_bounds, like)
        dx = width * self._uniform(n, *self.width_bounds, like)
        one, zero = torch.ones_like(dx), torch.zeros_like(dx)
        return torch.stack([torch.stack([one, zero, -dx], 1), torch.stack([zero, one, -dy], 1)], 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomZoom(_Affine):
    """Zooms each image in or out about its centre by a random amount.

    Equation (training; identity at inference), per image, with
    z_y = 1 + u, u ~ U[height low, high], and z_x = 1 + v (v from
    ``width_factor``, or z_x = z_y when it is None, keeping the aspect)::

        y[i, j] = x(c_y + z_y·(i − c_y), c_x + z_x·(j − c_x))

    z > 1 zooms out (the image shrinks), z < 1 zooms in (Keras's sign).

    Args:
        height_factor: u's range, a number f means (−f, f), or a pair; > −1.
        width_factor: v's range, or None (default: the same zoom as the height).
        fill_mode, interpolation, seed, fill_value: as RandomRotation.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Example:
        >>> import torch
        >>> RandomZoom(0.2)(torch.ones(2, 8, 8, 1), training=True).shape
        torch.Size([2, 8, 8, 1])
    """

    equation = "y(p) = x(c + diag(1 + v, 1 + u)(p − c)), u, v ~ U[low, high] (training only)"

    def __init__(
        self, height_factor: float | tuple[float, float], width_factor: float | tuple[float, float] | None = None,
        fill_mode: str = "reflect", interpolation: str = "bilinear", seed: int | None = None,
        fill_value: float = 0.0, **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_bounds = _bounds("RandomZoom", "height_factor", height_factor)
        self.width_bounds = None if width_factor is None else _bounds("RandomZoom", "width_factor", width_factor)
        for arg, bounds in (("height_factor", self.height_bounds), ("width_factor", self.width_bounds)):
            if bounds is not None and bounds[0] <= -1:
                raise ValueError(
                    f"RandomZoom: expected {arg} > -1 (the zoom is 1 + factor), got {bounds}. "
                    f"Fix: RandomZoom({arg}=(-0.2, 0.2))."
                )
        self.height_factor = _factor_config(height_factor)
        self.width_factor = None if width_factor is None else _factor_config(width_factor)

    def matrices(self, n: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
        zy = 1.0 + self._uniform(n, *self.height_bounds, like)
        zx = zy if self.width_bounds is None else 1.0 + self._uniform(n, *self.width_bounds, like)
        zero = torch.zeros_like(zy)
        return torch.stack([torch.stack([zx, zero, zero], 1), torch.stack([zero, zy, zero], 1)], 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomContrast(_Augmentation):
    """Scales each image's deviations from its per-channel mean by a random factor.

    Equation (training; identity at inference), per image n and channel c,
    with one factor a_n ~ U[1 − lower, 1 + upper] per image::

        y[n, i, j, c] = (x[n, i, j, c] − μ[n, c]) · a_n + μ[n, c],   μ[n, c] = mean_{i,j} x[n, i, j, c]

    (no clipping of the result, as Keras 3.3; later Keras versions clip to a
    ``value_range``).

    Args:
        factor: a number f means (lower, upper) = (f, f); or a pair
            (lower, upper), lower in [0, 1], upper ≥ 0.
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Example:
        >>> import torch
        >>> RandomContrast(0.2)(torch.ones(2, 4, 4, 3), training=True).shape
        torch.Size([2, 4, 4, 3])
    """

    equation = "y = (x − μ[n, c])·a_n + μ[n, c], a_n ~ U[1 − lower, 1 + upper] (training only)"

    def __init__(self, factor: float | tuple[float, float], seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        if isinstance(factor, (tuple, list)) and len(factor) == 2:
            lower, upper = _bounds("RandomContrast", "factor", factor[0], symmetric=False)[0], float(factor[1])
        else:
            lower, upper = _bounds("RandomContrast", "factor", factor, symmetric=False)
        if not 0.0 <= lower <= 1.0 or not upper >= 0.0:
            raise ValueError(
                f"RandomContrast: expected factor with lower in [0, 1] and upper ≥ 0, got {factor!r}. "
                "Fix: RandomContrast(0.2) (contrast × U[0.8, 1.2])."
            )
        self.lower, self.upper = lower, upper
        self.factor = _factor_config(factor)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        a = self._uniform(x.shape[0], 1.0 - self.lower, 1.0 + self.upper, x)[:, None, None, None]  # (B, 1, 1, 1)
        mean = x.mean(dim=(1, 2), keepdim=True)  # (B, 1, 1, C)
        return (x - mean) * a + mean

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


class RandomErasing(_Augmentation):
    """Erases one random rectangle of each image, with probability ``p``
    (torchvision's RandomErasing, Zhong et al. 2017).

    Equation (training; identity at inference), per image n, with
    probability p: a rectangle R_n of h × w pixels with area fraction
    s ~ U(scale) of H·W and aspect h/w = r, log r ~ U(log ratio),
    h = round(√(s·H·W·r)), w = round(√(s·H·W/r)), placed uniformly::

        y[n, i, j, c] = v_c  if (i, j) ∈ R_n,  else x[n, i, j, c]

    Like torchvision, up to 10 draws of (s, r) are tried per image and the
    first rectangle that fits (h < H and w < W) is used; if none fits the
    image is left unchanged. (Keras 3.8's RandomErasing has different
    arguments: ``factor``, ``scale``, ``fill_value``, ``value_range``.)

    Args:
        p: probability that an image is erased (default 0.5).
        scale: range of the erased area, as a fraction of the image
            (default (0.02, 0.33)).
        ratio: range of the aspect ratio h/w (default (0.3, 3.3)).
        value: the fill: a number (default 0), one number per channel, or
            ``"random"`` (standard normal noise per erased value).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Example:
        >>> import torch
        >>> RandomErasing(p=1.0)(torch.ones(2, 8, 8, 3), training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    equation = "y[n, i, j, c] = v_c if (i, j) ∈ R_n else x[n, i, j, c], with probability p (training only)"
    attempts = 10  # as torchvision

    def __init__(
        self, p: float = 0.5, scale: tuple[float, float] = (0.02, 0.33), ratio: tuple[float, float] = (0.3, 3.3),
        value: float | Sequence[float] | str = 0.0, seed: int | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomErasing: expected p in [0, 1], got {p!r}. Fix: RandomErasing(p=0.5).")
        self.p = float(p)
        self.scale = _bounds("RandomErasing", "scale", list(scale) if isinstance(scale, tuple) else scale)
        self.ratio = _bounds("RandomErasing", "ratio", list(ratio) if isinstance(ratio, tuple) else ratio)
        if not isinstance(scale, (tuple, list)) or not 0.0 <= self.scale[0] <= 1.0 or self.scale[1] > 1.0:
            raise ValueError(
                f"RandomErasing: expected scale as a pair (low, high) within [0, 1], got {scale!r}. "
                "Fix: RandomErasing(scale=(0.02, 0.33))."
            )
        if not isinstance(ratio, (tuple, list)) or self.ratio[0] <= 0.0:
            raise ValueError(
                f"RandomErasing: expected ratio as a pair (low, high) of positive numbers, got {ratio!r}. "
                "Fix: RandomErasing(ratio=(0.3, 3.3))."
            )
        if isinstance(value, str):
            if value != "random":
                raise ValueError(
                    f"RandomErasing: expected value to be a number, a list of numbers or 'random', got "
                    f"{value!r}. Fix: RandomErasing(value=0) or RandomErasing(value='random')."
                )
            self.value: float | list[float] | str = value
        elif isinstance(value, (list, tuple)):
            self.value = [float(v) for v in value]
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            self.value = float(value)
        else:
            raise ValueError(
                f"RandomErasing: expected value to be a number, a list of numbers or 'random', got {value!r}. "
                "Fix: RandomErasing(value=0)."
            )

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        n, height, width, channels = x.shape
        area = height * width
        s = self.scale[0] + (self.scale[1] - self.scale[0]) * self._rand((n, self.attempts), x)
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        r = torch.exp(log_lo + (log_hi - log_lo) * self._rand((n, self.attempts), x))
        h = torch.round(torch.sqrt(s * area * r))  # (B, attempts)
        w = torch.round(torch.sqrt(s * area / r))
        fits = (h < height) & (w < width)
        first = fits.to(torch.int8).argmax(dim=1, keepdim=True)  # the first attempt that fits
        h, w = h.gather(1, first).squeeze(1), w.gather(1, first).squeeze(1)  # (B,)
        erase = fits.any(dim=1) & (self._rand((n,), x) < self.p)
        top = torch.floor(self._rand((n,), x) * (height - h + 1))
        left = torch.floor(self._rand((n,), x) * (width - w + 1))
        rows = torch.arange(height, device=x.device, dtype=x.dtype)
        cols = torch.arange(width, device=x.device, dtype=x.dtype)
        in_rows = (rows >= top[:, None]) & (rows < (top + h)[:, None])  # (B, H)
        in_cols = (cols >= left[:, None]) & (cols < (left + w)[:, None])  # (B, W)
        mask = in_rows[:, :, None] & in_cols[:, None, :] & erase[:, None, None]  # (B, H, W)
        if self.value == "random":
            fill = torch.randn(x.shape, generator=generator_for(self, x), device=x.device, dtype=x.dtype)
        else:
            fill = x.new_tensor(self.value)
            if fill.dim() == 1 and fill.numel() != channels:
                raise ValueError(
                    f"Layer '{self.name}' (RandomErasing): expected one value per channel ({channels}), got "
                    f"{fill.numel()} values. Fix: value=[...] with {channels} numbers, or one number."
                )
        return torch.where(mask[..., None], fill, x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "p": self.p, "scale": list(self.scale), "ratio": list(self.ratio),
                "value": self.value}
