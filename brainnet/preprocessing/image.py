"""Keras 3's ``keras.preprocessing.image``: ``load_img``, ``img_to_array``,
``array_to_img`` and ``save_img``.

The same functions as ``brainnet.utils``'s (Keras 3 exports each under both
names), so a tutorial that saves what its generator drew with

    >>> import numpy as np
    >>> from brainnet.preprocessing.image import array_to_img
    >>> array_to_img(np.zeros((28, 28, 1))).size
    (28, 28)

runs unchanged. Keras 3's ``smart_resize`` is not here (nor in
``brainnet.utils``): resize with ``brainnet.layers.Resizing(h, w,
crop_to_aspect_ratio=True)``.
"""

from __future__ import annotations

from .._image_files import array_to_img, img_to_array, load_img, save_img

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img"]
