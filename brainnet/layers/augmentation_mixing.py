"""Keras 3's mixing augmentation layers, MixUp and CutMix: each image of a
batch is blended with (or gets a patch of) another image of the same batch,
and, given labels, the labels are mixed in the same proportion.

As in Keras, they take either the images alone or a dict
``{"images": x, "labels": y}`` (one-hot or soft labels, ``(batch,
classes)``) and give back the same kind; use the dict form where batches are
made, e.g. ``out = MixUp(seed=0)({"images": x, "labels": y}, training=True)``
(called without ``training=``, a layer infers, as Keras 3's ``Dropout``;
Keras 3's augmentation layers mix there). Like the other augmentation layers
(``_augmentation.py``) they are the identity at inference and repeatable
with ``seed=``; images are ``(batch, height, width, channels)``.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
import torch

from ._augmentation import _Augmentation, _factor_config, _unit_range
from ._random import generator_for

_BETA_TRIES = 64  # Jöhnk's method accepts at least half the tries for α ≤ 1: all 64 fail with p ≤ 2⁻⁶⁴


def _beta(layer: _Augmentation, n: int, alpha: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """n draws of Beta(α, α) (α ≤ 1) from the layer's generator, by Jöhnk's
    method: X = U^(1/α), Y = V^(1/α), the first pair with X + Y ≤ 1 gives
    X / (X + Y) (in logs, so tiny α stays exact)."""
    log_x = torch.log(layer._rand((n, _BETA_TRIES), like)) / alpha  # (n, tries)
    log_y = torch.log(layer._rand((n, _BETA_TRIES), like)) / alpha
    accepted = torch.logaddexp(log_x, log_y) <= 0.0
    first = accepted.to(torch.int8).argmax(dim=1, keepdim=True)  # the first accepted try (or try 0)
    return torch.sigmoid(log_x - log_y).gather(1, first).squeeze(1)  # X / (X + Y), (n,)


def _images_only(layer: _Augmentation, x: torch.Tensor) -> torch.Tensor:
    """Mix images given without their labels (as inside a model, where the
    labels go to the loss and never reach a layer), saying once that the
    labels stay unmixed: each mixed image then keeps its own label, which is
    label noise rather than MixUp or CutMix (Keras 3 does the same, silently)."""
    if not getattr(layer, "_warned_unmixed", False):
        layer._warned_unmixed = True
        name = type(layer).__name__
        warnings.warn(
            f"Layer '{layer.name}' ({name}): got images without labels in training, so the images are mixed but "
            f"their labels are not (a layer inside a model never sees the labels). Fix: mix where batches are "
            f"made, e.g. in a PyDataset's __getitem__: out = {name}()({{'images': x, 'labels': y_one_hot}}, "
            f"training=True), then return out['images'], out['labels'].",
            UserWarning, stacklevel=3,
        )
    return layer.mix(x)[0]


def _mixing_forward(layer: _Augmentation, inputs: Any, training: bool | None, kwargs: dict) -> Any:
    """A dict of images and labels: mix both; anything else: the layer's usual call on the images."""
    name = type(layer).__name__
    if isinstance(inputs, (tuple, list)):  # a Keras-style (x, y) batch: the layer would see a list, not images
        raise TypeError(
            f"Layer '{layer.name}' ({name}): expected the images alone or a dict {{'images': x, 'labels': y}}, got "
            f"a {type(inputs).__name__} of {len(inputs)}. Fix: {name}()({{'images': x, 'labels': y_one_hot}}, "
            "training=True), then read out['images'] and out['labels']."
        )
    if not isinstance(inputs, dict):
        return _Augmentation.forward(layer, inputs, training=training, **kwargs)
    if "images" not in inputs:
        raise ValueError(
            f"Layer '{layer.name}' ({name}): expected the images alone or a dict with 'images' (and 'labels'), got "
            f"a dict with keys {sorted(inputs)}. Fix: {name}(...)({{'images': x, 'labels': y}})."
        )
    images = inputs["images"]
    out = dict(inputs)
    if not (layer.training if training is None else training):
        return out
    images = torch.as_tensor(images) if isinstance(images, np.ndarray) else images
    layer.check_input_shape(tuple(images.shape))
    if not images.is_floating_point():
        images = images.to(torch.get_default_dtype())
    mixed, weight, order = layer.mix(images)
    out["images"] = mixed
    if "labels" in inputs:
        labels = inputs["labels"]
        labels = torch.as_tensor(labels, device=images.device) if isinstance(labels, np.ndarray) else labels
        if labels.dim() != 2 or labels.shape[0] != images.shape[0] or not labels.is_floating_point():
            raise ValueError(
                f"Layer '{layer.name}' ({name}): expected one-hot or soft labels of shape (batch, classes) = "
                f"({images.shape[0]}, classes) as floats, got {labels.dtype} of shape {tuple(labels.shape)}. "
                "Fix: labels = brainnet.utils.to_categorical(y, num_classes) for class indices."
            )
        w = weight.to(labels.dtype)[:, None]  # (B, 1)
        out["labels"] = w * labels + (1.0 - w) * labels[order]
    return out


class MixUp(_Augmentation):
    """Blends each image with another image of the batch (Keras 3; Zhang et
    al. 2018), and the labels alike.

    Equation (training; identity at inference), with one λ ~ Beta(α, α) and
    one random permutation π of the batch::

        x'[n] = λ·x[n] + (1 − λ)·x[π(n)],   y'[n] = λ·y[n] + (1 − λ)·y[π(n)]

    Args:
        alpha: the Beta distribution's α, in (0, 1] (default 0.2): small α
            keeps λ near 0 or 1, α = 1 draws λ uniformly.
        seed: integer for repeatable draws, or None.

    Input: images ``(batch, height, width, channels)``, or a dict
    ``{"images": ..., "labels": (batch, classes)}``. Output: the same kind.

    Raises:
        ValueError: alpha outside (0, 1]; at call, labels that are not floats of shape (batch, classes).

    Example:
        >>> import torch
        >>> x, y = torch.rand(4, 8, 8, 3), torch.eye(4)
        >>> out = MixUp(seed=0)({"images": x, "labels": y}, training=True)
        >>> out["images"].shape, bool(torch.allclose(out["labels"].sum(1), torch.ones(4)))
        (torch.Size([4, 8, 8, 3]), True)
    """

    equation = "x' = λ·x + (1 − λ)·x[π], y' = λ·y + (1 − λ)·y[π], λ ~ Beta(α, α) (training only)"

    def __init__(self, alpha: float = 0.2, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 < alpha <= 1.0:
            raise ValueError(
                f"MixUp: expected alpha in (0, 1] (the Beta(α, α) of the mixing weight), got {alpha!r}. "
                "Fix: MixUp(alpha=0.2)."
            )
        self.alpha = float(alpha)

    def forward(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        return _mixing_forward(self, inputs, training, kwargs)

    def mix(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The mixed images, each image's weight λ (B,) and the permutation π (B,)."""
        n = x.shape[0]
        order = torch.randperm(n, generator=generator_for(self, x), device=x.device)
        lam = _beta(self, 1, self.alpha, x).expand(n)  # one λ for the batch, as Keras
        return lam[:, None, None, None] * x + (1.0 - lam[:, None, None, None]) * x[order], lam, order

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        return _images_only(self, x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


class CutMix(_Augmentation):
    """Pastes a rectangle of another image of the batch into each image
    (Keras 3; Yun et al. 2019), and mixes the labels by its area.

    Equation (training; identity at inference), with α ~ U[low, high] + 10⁻⁶
    for the batch, a random permutation π and, per image n, λ_n ~ Beta(α, α),
    r_n = √(1 − λ_n), a patch of w_n = r_n·W by h_n = r_n·H at
    x₀ = u·(W − w_n), y₀ = v·(H − h_n) (u, v ~ U[0, 1))::

        x'[n, i, j] = x[π(n), i, j]  if x₀ ≤ j < x₀ + w_n and y₀ ≤ i < y₀ + h_n,  else x[n, i, j]
        y'[n] = λ_n·y[n] + (1 − λ_n)·y[π(n)]        (1 − λ_n = w_n·h_n / (W·H))

    Args:
        factor: the range of α: a number f means (0, f), or a pair (low,
            high); within [0, 1] (default 1.0).
        seed: integer for repeatable draws, or None.

    Input: images ``(batch, height, width, channels)``, or a dict
    ``{"images": ..., "labels": (batch, classes)}``. Output: the same kind.

    Raises:
        ValueError: factor outside [0, 1]; at call, labels that are not floats of shape (batch, classes).

    Example:
        >>> import torch
        >>> batch = {"images": torch.rand(4, 8, 8, 3), "labels": torch.eye(4)}
        >>> out = CutMix(seed=0)(batch, training=True)
        >>> out["images"].shape, out["labels"].shape
        (torch.Size([4, 8, 8, 3]), torch.Size([4, 4]))
    """

    equation = "x' = x[π] inside a patch of area (1 − λ_n)·H·W, else x; y' = λ_n·y + (1 − λ_n)·y[π] (training only)"

    def __init__(self, factor: float | tuple[float, float] = 1.0, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.low, self.high = _unit_range("CutMix", "factor", factor)
        self.factor = _factor_config(factor)

    def forward(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        return _mixing_forward(self, inputs, training, kwargs)

    def mix(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The mixed images, each image's weight λ (B,) and the permutation π (B,)."""
        n, height, width, _ = x.shape
        alpha = self._uniform(1, self.low, self.high, x) + 1e-6
        lam = _beta(self, n, alpha, x)  # (B,)
        ratio = torch.sqrt(1.0 - lam)
        w, h = ratio * width, ratio * height
        x0, y0 = self._rand((n,), x) * (width - w), self._rand((n,), x) * (height - h)
        order = torch.randperm(n, generator=generator_for(self, x), device=x.device)
        cols = torch.arange(width, device=x.device, dtype=x.dtype)
        rows = torch.arange(height, device=x.device, dtype=x.dtype)
        in_cols = (cols >= x0[:, None]) & (cols < (x0 + w)[:, None])  # (B, W)
        in_rows = (rows >= y0[:, None]) & (rows < (y0 + h)[:, None])  # (B, H)
        patch = in_rows[:, :, None, None] & in_cols[:, None, :, None]  # (B, H, W, 1)
        return torch.where(patch, x[order], x), 1.0 - w * h / (width * height), order

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        return _images_only(self, x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}
