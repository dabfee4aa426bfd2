"""Augmentation policies of Keras 3: ``Pipeline``, which applies a list of
preprocessing layers in order, and the policies that compose brainnet's
augmentation layers at random, ``RandAugment`` and ``AugMix``.

The policies are the identity at inference and draw per image in training,
repeatably with ``seed=`` (see ``_augmentation.py``). They do not re-implement
any operation: each one is an existing layer (RandomShear, RandomTranslation,
RandomRotation, RandomBrightness, RandomColorDegeneration, RandomContrast,
RandomSharpness, RandomPosterization, Solarization, AutoContrast,
Equalization) that the policy owns, seeded from the policy's seed. Images are ``(batch, height, width, channels)``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ._augmentation import _Augmentation, _choice, _factor_config, _unit_range, _value_range
from ._random import generator_for
from .augmentation import RandomRotation, RandomTranslation
from .augmentation_color import AutoContrast, RandomColorDegeneration, RandomPosterization, Solarization
from .augmentation_filter import Equalization
from .augmentation_intensity import RandomContrast, RandomSharpness
from .augmentation_mixing import CutMix, MixUp
from .augmentation_warp import RandomShear
from .base import Layer, Shape
from .image_preprocessing import RandomBrightness

__all__ = ["Pipeline", "RandAugment", "AugMix", "RAND_AUGMENT_OPS", "AUGMIX_OPS", "AUGMIX_ALL_OPS"]

# Keras's operations in Keras's order.
RAND_AUGMENT_OPS = ("shear", "translation", "rotation", "brightness", "color_degeneration", "contrast", "sharpness",
                    "posterization", "solarization", "auto_contrast", "equalization")
# AugMix's, likewise: without all_ops, those that do not overlap ImageNet-C's corruptions.
AUGMIX_OPS = ("shear", "translation", "rotation", "posterization", "solarization", "auto_contrast", "equalization")
AUGMIX_ALL_OPS = AUGMIX_OPS + ("brightness", "color_degeneration", "contrast", "sharpness")
_GAMMA_TRIES = 16  # Marsaglia–Tsang accepts over 95% of tries for a shape ≥ 1: all 16 fail with p < 10⁻²⁰


class Pipeline(Layer):
    """Applies a list of layers in order, as one layer (Keras 3): typically
    an image augmentation pipeline.

    Equation, for layers f₁, …, f_k (each with the same ``training`` flag)::

        y = f_k(… f₂(f₁(x)))

    Unlike a ``Sequential`` model it is a plain layer. Like Keras's, it takes
    the images alone or a dict ``{"images": x, "labels": y, …}``: a layer
    that mixes labels (MixUp, CutMix, a nested Pipeline) gets the whole
    dict, any other layer the images, and the other entries pass through.

    Args:
        layers: the brainnet layer instances to apply, first first (an empty
            list gives the identity).
        **kwargs: ``name``, ``input_shape``, ``trainable``.

    Input shape: the first layer's. Output shape: the last layer's.

    Raises:
        TypeError: ``layers`` is not a list of brainnet layer instances.
        ValueError: at call, a dict without ``"images"``.

    Example:
        >>> import torch
        >>> from brainnet.layers import RandomFlip, RandomRotation
        >>> augment = Pipeline([RandomFlip(seed=0), RandomRotation(0.1, seed=1)])
        >>> augment(torch.ones(2, 8, 8, 3), training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    _augments_when_left_out = True  # as Keras's Pipeline: its layers augment when called alone

    equation = "y = f_k(… f₂(f₁(x))), each layer with the pipeline's training flag"

    def __init__(self, layers: Sequence[Layer], **kwargs: Any) -> None:
        if not isinstance(layers, (list, tuple)) or not all(isinstance(layer, Layer) for layer in layers):
            got = type(layers).__name__ if not isinstance(layers, (list, tuple)) else "a list holding " + ", ".join(
                sorted({type(layer).__name__ for layer in layers if not isinstance(layer, Layer)}))
            raise TypeError(
                f"Pipeline: expected layers to be a list of brainnet layer instances, got {got}. "
                "Fix: Pipeline([RandomFlip(), RandomRotation(0.1)])."
            )
        super().__init__(**kwargs)
        self._pipeline = nn.ModuleList(layers)

    @property
    def layers(self) -> list[Layer]:
        """The layers, in the order they are applied."""
        return list(self._pipeline)

    def build(self, input_shape: Shape) -> None:
        for layer in self._pipeline:
            layer.build_from_shape(input_shape)
            input_shape = layer.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        for layer in self._pipeline:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    def forward(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        if not isinstance(inputs, dict):
            return super().forward(inputs, training=training, **kwargs)
        if "images" not in inputs:
            raise ValueError(
                f"Layer '{self.name}' (Pipeline): expected the images alone or a dict with 'images' (and "
                f"'labels'), got a dict with keys {sorted(inputs)}. Fix: {self.name}({{'images': x, 'labels': y}})."
            )
        training = self.training if training is None else training
        out = dict(inputs)
        for layer in self._pipeline:
            if isinstance(layer, (Pipeline, MixUp, CutMix)):
                out = layer(out, training=training)
            else:
                out["images"] = layer(out["images"], training=training)
        return out

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        for layer in self._pipeline:
            inputs = layer(inputs, training=training)
        return inputs

    def get_config(self) -> dict[str, Any]:
        from .. import _registry

        return {**super().get_config(), "layers": [_registry.serialize(layer, "layer") for layer in self._pipeline]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Pipeline":
        from .. import _registry

        config = dict(config)
        return cls([_registry.deserialize(layer, "layer", Layer) for layer in config.pop("layers")], **config)


def _count(layer: str, arg: str, value: Any, minimum: int, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(
            f"{layer}: expected {arg} to be an integer ≥ {minimum}, got {value!r}. Fix: {layer}({arg}={default})."
        )
    return int(value)


def _operation(op: str, factor: tuple[float, float], value_range: tuple[float, float], interpolation: str,
               seed: int | None, name: str) -> Layer:
    """One of the policies' operations: the brainnet layer Keras's policy uses, at the policy's strength."""
    kw: dict[str, Any] = {"seed": seed, "name": name}
    if op == "shear":
        return RandomShear(factor, factor, interpolation=interpolation, **kw)
    if op == "translation":
        return RandomTranslation(factor, factor, interpolation=interpolation, **kw)
    if op == "rotation":
        return RandomRotation(factor, interpolation=interpolation, **kw)
    if op == "brightness":
        return RandomBrightness(factor, value_range=value_range, **kw)
    if op == "color_degeneration":
        return RandomColorDegeneration(factor, value_range=value_range, **kw)
    if op == "contrast":
        return RandomContrast(factor, value_range=value_range, **kw)
    if op == "sharpness":
        return RandomSharpness(factor, value_range=value_range, **kw)
    if op == "posterization":
        return RandomPosterization(max(1, int(8 * factor[1])), value_range=value_range, **kw)
    if op == "solarization":
        return Solarization(factor, factor, value_range=value_range, **kw)
    if op == "equalization":
        return Equalization(value_range=value_range, name=name)
    assert op == "auto_contrast", op
    return AutoContrast(value_range=value_range, name=name)


def _operations(policy: Any, ops: Sequence[str]) -> nn.ModuleDict:
    """The policy's operations, each seeded from the policy's seed (its own stream: a
    SeedSequence of (seed, k)), or all unseeded."""
    def seed(k: int) -> int | None:
        return None if policy.seed is None else int(
            np.random.SeedSequence([policy.seed & (2**64 - 1), k]).generate_state(1)[0])

    factor = (policy.low, policy.high)
    return nn.ModuleDict({op: _operation(op, factor, policy.value_range, policy.interpolation, seed(k),
                                         f"{policy.name}_{op}") for k, op in enumerate(ops)})


def _apply(op: str, layer: Layer, x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    if op in ("auto_contrast", "equalization"):  # preprocessing layers, not random ones: no augment
        return layer.call(x)
    return layer.augment(x)


def _apply_chosen(ops: nn.ModuleDict, choice: torch.Tensor, x: torch.Tensor,
                  value_range: tuple[float, float]) -> torch.Tensor:
    """Image n gets operation choice[n] (an index past the last operation: none)."""
    for k, (op, layer) in enumerate(ops.items()):
        x = torch.where((choice == k)[:, None, None, None], _apply(op, layer, x, value_range), x)
    return x


def _log_gamma(layer: _Augmentation, shape: tuple[int, ...], alpha: float, like: torch.Tensor) -> torch.Tensor:
    """log G for draws G ~ Gamma(α, 1) of ``shape`` from the layer's generator (torch's
    sampler takes none): Marsaglia and Tsang's method for the shape a = max(α, α + 1 if α < 1),
    z ~ N(0, 1), v = (1 + z/√(9d))³ with d = a − ⅓, accepted when v > 0 and
    log u < z²/2 + d − d·v + d·log v, G_a = d·v; for α < 1, G_α = G_{α+1}·U^(1/α), in logs so
    that tiny α stays finite."""
    a = alpha + 1.0 if alpha < 1.0 else alpha
    d = a - 1.0 / 3.0
    z = torch.randn((*shape, _GAMMA_TRIES), generator=generator_for(layer, like), device=like.device,
                    dtype=like.dtype)
    u = layer._rand((*shape, _GAMMA_TRIES), like)
    v = (1.0 + z / math.sqrt(9.0 * d)) ** 3
    log_v = torch.log(v.clamp_min(torch.finfo(like.dtype).tiny))
    accepted = (v > 0) & (torch.log(u) < 0.5 * z * z + d - d * v + d * log_v)
    first = accepted.to(torch.int8).argmax(dim=-1, keepdim=True)  # the first accepted try
    log_g = (math.log(d) + log_v).gather(-1, first).squeeze(-1)
    if alpha < 1.0:
        log_g = log_g + torch.log(layer._rand(shape, like)) / alpha
    return log_g


def _policy_args(policy: Any, value_range: Any, factor: Any, interpolation: Any) -> None:
    name = type(policy).__name__
    policy.value_range = _value_range(name, value_range)
    policy.low, policy.high = _unit_range(name, "factor", factor)
    policy.factor = _factor_config(factor)
    policy.interpolation = _choice(name, "interpolation", interpolation, ["bilinear", "nearest"],
                                   f"Fix: {name}(interpolation='bilinear').")


class RandAugment(_Augmentation):
    """Applies ``num_ops`` operations drawn at random to each image (Keras 3;
    Cubuk et al. 2020).

    Equation (training; identity at inference), per image n, with the
    operations O₁, …, O_K of ``RAND_AUGMENT_OPS`` at strength ``factor``::

        x⁰ = x[n],   xˢ = O_{k_s}(xˢ⁻¹),  k_s uniform in {1, …, K},  s = 1, …, num_ops,   y[n] = x^num_ops

    Each operation is the brainnet layer Keras's RandAugment uses, with its
    own per-image draws, for factor range (f₀, f₁):
    ``RandomShear((f₀, f₁), (f₀, f₁))`` (x and y, one random sign),
    ``RandomTranslation((f₀, f₁), (f₀, f₁))``, ``RandomRotation((f₀, f₁))``
    (fractions of the image and of a full turn), ``RandomBrightness((f₀, f₁))``,
    ``RandomColorDegeneration((f₀, f₁))``, ``RandomContrast((f₀, f₁))``
    (contrast × U[1 − f₀, 1 + f₁], clipped to the range),
    ``RandomSharpness((f₀, f₁))``, ``RandomPosterization(max(1, ⌊8·f₁⌋))``,
    ``Solarization((f₀, f₁), (f₀, f₁))``, ``AutoContrast`` and
    ``Equalization``.

    Args:
        value_range: the pixels' range (default (0, 255); (0, 1) after
            ``Rescaling(1/255)``).
        num_ops: operations applied to each image, one after another (default 2).
        factor: the strength: a number f means (0, f), or a pair (f₀, f₁);
            within [0, 1] (default 0.5).
        interpolation: ``"bilinear"`` (default) or ``"nearest"``, for the
            shear, translation and rotation.
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Raises:
        ValueError: num_ops not an integer ≥ 0, factor outside [0, 1], a bad
            value_range or interpolation.

    Example:
        >>> import torch
        >>> augment = RandAugment(value_range=(0, 1), seed=0)
        >>> augment(torch.rand(4, 8, 8, 3), training=True).shape
        torch.Size([4, 8, 8, 3])
    """

    equation = "y = O_{k_num_ops}(… O_{k_1}(x)), each k_s uniform over the operations, per image (training only)"

    def __init__(self, value_range: tuple[float, float] = (0, 255), num_ops: int = 2,
                 factor: float | tuple[float, float] = 0.5, interpolation: str = "bilinear", seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.num_ops = _count("RandAugment", "num_ops", num_ops, 0, 2)
        _policy_args(self, value_range, factor, interpolation)
        self.operations = _operations(self, RAND_AUGMENT_OPS)

    def choices(self, n: int, like: torch.Tensor) -> torch.Tensor:
        """The operation of each step for each image, ``(num_ops, n)`` indices
        into ``RAND_AUGMENT_OPS``: the layer's first draws of a batch."""
        return torch.randint(len(self.operations), (self.num_ops, n), generator=generator_for(self, like),
                             device=like.device)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        for choice in self.choices(x.shape[0], x):  # (B,) per step
            x = _apply_chosen(self.operations, choice, x, self.value_range)
        return x

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value_range": list(self.value_range), "num_ops": self.num_ops,
                "factor": self.factor, "interpolation": self.interpolation}


class AugMix(_Augmentation):
    """Mixes each image with chains of random operations of itself (Keras 3;
    Hendrycks et al. 2020).

    Equation (training; identity at inference), per image n, with the
    operations O₁, …, O_K (``AUGMIX_ALL_OPS``, or ``AUGMIX_OPS`` without
    ``all_ops``) at strength ``factor`` and O₀ = "none"::

        x_c = O_{k_c,D}(… O_{k_c,1}(x[n])),   k_c,d uniform in {0, …, K},   c = 1, …, num_chains, D = chain_depth
        w_n ~ Dirichlet(α, …, α),   m_n ~ Beta(α, α)
        y[n] = clip(m_n·x[n] + (1 − m_n)·Σ_c w_n,c·x_c, r₀, r₁)

    The operations are those of RandAugment (see there), each with its own
    per-image draws. w and m come from Gamma draws of the layer's own
    generator (Marsaglia and Tsang), W = G/ΣG and m = G₁/(G₁ + G₂).

    Args:
        value_range: the pixels' range (default (0, 255)).
        num_chains: chains mixed (default 3).
        chain_depth: operations drawn per chain, each of them possibly
            "none" (default 3).
        factor: the strength: a number f means (0, f), or a pair; within [0, 1]
            (default 0.3).
        alpha: the concentration α of the Dirichlet and Beta draws, > 0 (default 1.0).
        all_ops: also draw brightness, colour degeneration, contrast and
            sharpness (default True).
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Raises:
        ValueError: num_chains or chain_depth not an integer ≥ 1, alpha not
            > 0, all_ops not a bool, factor outside [0, 1], a bad value_range
            or interpolation.

    Example:
        >>> import torch
        >>> augmix = AugMix(value_range=(0, 1), seed=0)
        >>> augmix(torch.rand(4, 8, 8, 3), training=True).shape
        torch.Size([4, 8, 8, 3])
    """

    equation = "y = clip(m·x + (1 − m)·Σ_c w_c·chain_c(x)), w ~ Dir(α), m ~ Beta(α, α), per image (training)"

    def __init__(self, value_range: tuple[float, float] = (0, 255), num_chains: int = 3, chain_depth: int = 3,
                 factor: float | tuple[float, float] = 0.3, alpha: float = 1.0, all_ops: bool = True,
                 interpolation: str = "bilinear", seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.num_chains = _count("AugMix", "num_chains", num_chains, 1, 3)
        self.chain_depth = _count("AugMix", "chain_depth", chain_depth, 1, 3)
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 < alpha < math.inf:
            raise ValueError(
                f"AugMix: expected alpha > 0 (the Dirichlet's and Beta's concentration), got {alpha!r}. "
                "Fix: AugMix(alpha=1.0)."
            )
        if not isinstance(all_ops, bool):
            raise ValueError(
                f"AugMix: expected all_ops to be True or False, got {all_ops!r}. Fix: AugMix(all_ops=True)."
            )
        self.alpha, self.all_ops = float(alpha), all_ops
        _policy_args(self, value_range, factor, interpolation)
        self.operations = _operations(self, AUGMIX_ALL_OPS if all_ops else AUGMIX_OPS)

    def draws(self, n: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The layer's first draws of a batch: the operation of each chain and
        step for each image, ``(num_chains, chain_depth, n)`` indices into the
        operations (their number: none); the chains' weights w ``(n,
        num_chains)``; the image's weight m ``(n,)``."""
        choices = torch.randint(len(self.operations) + 1, (self.num_chains, self.chain_depth, n),
                                generator=generator_for(self, like), device=like.device)
        weights = torch.softmax(_log_gamma(self, (n, self.num_chains), self.alpha, like), dim=1)  # G/ΣG
        pair = _log_gamma(self, (n, 2), self.alpha, like)
        return choices, weights, torch.sigmoid(pair[:, 0] - pair[:, 1])  # G₁/(G₁ + G₂)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        choices, weights, m = self.draws(x.shape[0], x)
        mixed = torch.zeros_like(x)
        for c, chain in enumerate(choices):  # (chain_depth, B)
            y = x
            for choice in chain:
                y = _apply_chosen(self.operations, choice, y, self.value_range)
            mixed = mixed + weights[:, c, None, None, None] * y
        m = m[:, None, None, None]  # (B, 1, 1, 1)
        return (m * x + (1.0 - m) * mixed).clamp(*self.value_range)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value_range": list(self.value_range), "num_chains": self.num_chains,
                "chain_depth": self.chain_depth, "factor": self.factor, "alpha": self.alpha, "all_ops": self.all_ops,
                "interpolation": self.interpolation}
