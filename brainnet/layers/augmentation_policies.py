"""Augmentation policies of Keras 3: ``Pipeline``, which applies a list of
preprocessing layers in order, and the policies that compose brainnet's
augmentation layers at random, ``RandAugment`` and ``AugMix``.

The policies are the identity at inference and draw per image in training,
repeatably with ``seed=`` (see ``_augmentation.py``). They do not re-implement
any operation: each one is an existing layer (RandomTranslation,
RandomRotation, RandomBrightness, RandomContrast, RandomSharpness,
RandomPosterization, Solarization, AutoContrast) that the policy owns, seeded
from the policy's seed. Images are ``(batch, height, width, channels)``.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from .augmentation_mixing import CutMix, MixUp
from .base import Layer, Shape

__all__ = ["Pipeline"]


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
