"""``brainnet.utils.rgb_to_hsv`` and ``hsv_to_rgb``: Keras 3's ``keras.ops.image.rgb_to_hsv``
and ``hsv_to_rgb`` (TensorFlow's ``tf.image.rgb_to_hsv`` / ``hsv_to_rgb`` before them),
which brainnet keeps in ``utils`` as it has no ``ops`` and the conversions are no single
torch call. The arithmetic is the HSV colour layers' (``layers/augmentation_hsv.py``).
"""

from __future__ import annotations

import torch

from .layers.augmentation_hsv import hsv_to_rgb as _hsv_to_rgb
from .layers.augmentation_hsv import rgb_to_hsv as _rgb_to_hsv


def _checked(name: str, images: torch.Tensor, axes: str) -> torch.Tensor:
    images = torch.as_tensor(images)
    if not images.is_floating_point():
        raise TypeError(
            f"utils.{name}: expected floating-point images with values in [0, 1], got dtype {images.dtype}. "
            f"Fix: utils.{name}(images.float() / 255)."
        )
    if images.ndim < 1 or images.shape[-1] != 3:
        raise ValueError(
            f"utils.{name}: expected images with 3 channels last ({axes}), got shape {tuple(images.shape)}. "
            f"Fix: put the channels last, e.g. images.permute(0, 2, 3, 1) for (batch, 3, height, width)."
        )
    return images


def rgb_to_hsv(images: torch.Tensor) -> torch.Tensor:
    """RGB images to HSV (hue, saturation, value), all in [0, 1], channels last.

    Equation (hexcone model; M = max(R, G, B), m = min(R, G, B), C = M − m)::

        V = M;  S = C / M (0 where M = 0)
        H = ((G − B)/C mod 6)/6 if M = R;  ((B − R)/C + 2)/6 if M = G;  ((R − G)/C + 4)/6 if M = B;  0 if C = 0

    Args:
        images: floats in [0, 1], shape ``(..., 3)`` (one image ``(H, W, 3)`` or a batch).

    Returns:
        A tensor of the same shape: hue in turns [0, 1), saturation, value.

    Raises:
        TypeError: integer images. ValueError: a last axis other than 3.

    Example:
        >>> import torch
        >>> rgb_to_hsv(torch.tensor([[[1.0, 0.5, 0.0]]]))  # orange: 1/12 of a turn
        tensor([[[0.0833, 1.0000, 1.0000]]])
    """
    return _rgb_to_hsv(_checked("rgb_to_hsv", images, "R, G, B"))


def hsv_to_rgb(images: torch.Tensor) -> torch.Tensor:
    """HSV images (hue in turns, saturation, value, all in [0, 1]) back to RGB, channels last.

    Equation, for each channel k = 5, 3, 1 (R, G, B), t = (k + 6H) mod 6::

        channel = V − V·S·clip(min(t, 4 − t), 0, 1)

    Args:
        images: floats, shape ``(..., 3)``.

    Returns:
        RGB images of the same shape; ``hsv_to_rgb(rgb_to_hsv(x))`` is ``x``.

    Raises:
        TypeError: integer images. ValueError: a last axis other than 3.

    Example:
        >>> import torch
        >>> hsv_to_rgb(torch.tensor([[[0.5, 1.0, 1.0]]]))  # half a turn: cyan
        tensor([[[0., 1., 1.]]])
    """
    return _hsv_to_rgb(_checked("hsv_to_rgb", images, "H, S, V"))
