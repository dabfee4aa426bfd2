"""How a raw picture becomes a model's input, recorded with the model.

A model trained on MNIST expects 28 x 28 grayscale images, white digits on
a black background, each pixel ``x`` in 0..255 mapped to
``x' = (x − 127.5) / 127.5``. ``ImagePreprocessing`` writes that down;
``model.preprocessing = ImagePreprocessing(...)`` makes ``model.save``
store it in the file (``config.json``, key ``"preprocessing"``) and
``load_model`` give it back, so ``brainnet predict model.brainnet digit.png``
treats a photo exactly like the training data:

    >>> prep = ImagePreprocessing(size=(28, 28), background="dark")
    >>> x = prep.load("digit.png")  # doctest: +SKIP
    >>> x.array.shape, x.background, x.inverted  # doctest: +SKIP
    ((28, 28, 1), 'light', True)

Loading an image (``load``), step by step:

1. read it with Pillow (PNG, JPEG, and the other formats Pillow knows),
   turned upright by its EXIF orientation (phone photos);
2. transparent pixels are laid on white; converted to grayscale (``"L"``,
   ``0.299 R + 0.587 G + 0.114 B``) or RGB (``color_mode``);
3. the background is the median of the border pixels; when it is light and
   the training images had a dark background (or the other way round), the
   picture is inverted (``x → 255 − x``): a dark digit on white paper
   becomes MNIST's white digit on black (``invert="auto"``, the default);
4. padded with its background colour to the model's aspect ratio (so a
   digit is not stretched), then resized to ``size`` (bilinear);
5. normalised, ``x' = (x − mean) / std``, as float32 of shape
   ``(height, width, channels)`` or, with ``channel_axis=False`` (models
   that read the image row by row), ``(height, width)``.

As in Keras 3, ``brainnet.preprocessing`` also gives the data-set builders
that Keras exports under both ``keras.utils`` and ``keras.preprocessing``
(``image_dataset_from_directory``, ``text_dataset_from_directory``,
``timeseries_dataset_from_array``): the same functions as ``brainnet.utils``'s,
so tutorials that spell either name run; and, as Keras 3's
``keras.preprocessing.sequence``, ``brainnet.preprocessing.sequence.pad_sequences``
(``brainnet.utils.pad_sequences``, one function); and, as Keras 3's
``keras.preprocessing.image``, ``brainnet.preprocessing.image``'s
``load_img``, ``img_to_array``, ``array_to_img`` and ``save_img`` (those of
``brainnet.utils``).

Nothing here runs code from a file: ``from_config`` accepts only the plain
values listed in ``ImagePreprocessing``, each checked. Pillow is imported
on first use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .._image_folder import image_dataset_from_directory
from .._text_folder import text_dataset_from_directory
from .._timeseries import timeseries_dataset_from_array
from . import image, sequence

COLOR_MODES = {"grayscale": ("L", 1), "rgb": ("RGB", 3)}  # Pillow mode, channels
BACKGROUNDS = ("dark", "light", None)
INVERT_CHOICES = ("auto", "yes", "no")


class LoadedImage(NamedTuple):
    """An image ready for the model: ``array`` (float32, normalised), the
    picture's ``background`` as found on its border (``"dark"`` or
    ``"light"``) and whether it was ``inverted``."""

    array: np.ndarray
    background: str
    inverted: bool


@dataclass(frozen=True)
class ImagePreprocessing:
    """The preprocessing a model's training images went through.

    Args:
        size: ``(height, width)`` of the model's input images.
        color_mode: ``"grayscale"`` (one channel) or ``"rgb"`` (three).
        background: ``"dark"`` when the training images show light objects
            on a dark background (MNIST, Fashion-MNIST), ``"light"`` for the
            reverse, None when it varies (never invert).
        mean: subtracted from each pixel value (0..255); default 127.5.
        std: then divided by; default 127.5, so pixels land in [−1, 1].
        channel_axis: images are ``(H, W, C)`` (True, default) or
            ``(H, W)`` rows of pixels (False; grayscale only).

    Raises:
        ValueError: a value outside the ones above (the message gives the fix).
        TypeError: a value of the wrong type.

    Example:
        >>> ImagePreprocessing(size=(28, 28), background="dark").get_config()["size"]
        [28, 28]
    """

    size: tuple[int, int]
    color_mode: str = "grayscale"
    background: str | None = None
    mean: float = 127.5
    std: float = 127.5
    channel_axis: bool = True

    def __post_init__(self) -> None:
        what = "ImagePreprocessing"
        size = self.size
        if (not isinstance(size, (tuple, list)) or len(size) != 2
                or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)):
            raise ValueError(f"{what}: expected size=(height, width) of two positive integers, got {size!r}. "
                             "Fix: size=(28, 28).")
        object.__setattr__(self, "size", (int(size[0]), int(size[1])))
        if self.color_mode not in COLOR_MODES:
            raise ValueError(f"{what}: expected color_mode 'grayscale' or 'rgb', got {self.color_mode!r}. "
                             "Fix: color_mode='grayscale'.")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"{what}: expected background 'dark', 'light' or None, got {self.background!r}. "
                             "Fix: background='dark' for light objects on black, as in MNIST.")
        for name in ("mean", "std"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise TypeError(f"{what}: expected {name} to be a finite number, got {value!r}. "
                                f"Fix: {name}=127.5.")
            object.__setattr__(self, name, float(value))
        if self.std == 0:
            raise ValueError(f"{what}: expected std ≠ 0 (pixels are divided by it), got 0. Fix: std=127.5.")
        if not isinstance(self.channel_axis, bool):
            raise TypeError(f"{what}: expected channel_axis True or False, got {self.channel_axis!r}. "
                            "Fix: channel_axis=True for (H, W, C) images.")
        if not self.channel_axis and self.color_mode != "grayscale":
            raise ValueError(f"{what}: channel_axis=False drops the channel axis, which only a grayscale "
                             f"image can lose; got color_mode={self.color_mode!r}. Fix: channel_axis=True.")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one loaded image: ``(H, W, C)`` or ``(H, W)``."""
        height, width = self.size
        channels = COLOR_MODES[self.color_mode][1]
        return (height, width, channels) if self.channel_axis else (height, width)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments as JSON values (``size`` as a list)."""
        config = asdict(self)
        config["size"] = list(self.size)
        return config

    @classmethod
    def from_config(cls, config: Any) -> "ImagePreprocessing":
        """Rebuild from ``get_config()``; unknown or missing keys are errors.

        Raises:
            ValueError: not a dict of the known keys, or a bad value.
            TypeError: a value of the wrong type.
        """
        known = {f.name for f in fields(cls)}
        if not isinstance(config, dict) or not set(config) <= known or "size" not in config:
            got = sorted(config) if isinstance(config, dict) else type(config).__name__
            raise ValueError(f"ImagePreprocessing: expected a dict with keys among {sorted(known)} "
                             f"(size required), got {got}. Fix: save the model again with "
                             "model.preprocessing = ImagePreprocessing(size=(28, 28), ...).")
        size = config["size"]
        return cls(**{**config, "size": tuple(size) if isinstance(size, list) else size})

    def load(self, path: str | Path, invert: str = "auto") -> LoadedImage:
        """Read the image at ``path`` and preprocess it as described above.

        Args:
            path: a PNG, JPEG or other image file Pillow can read.
            invert: ``"auto"`` (invert when the picture's background is the
                opposite of the training images'), ``"yes"`` or ``"no"``.

        Returns:
            ``LoadedImage(array, background, inverted)``, ``array`` of
            ``input_shape``.

        Raises:
            FileNotFoundError: no file at ``path``.
            ValueError: the file is not an image, or ``invert`` is unknown.
        """
        from PIL import Image, ImageOps, UnidentifiedImageError
        from PIL.Image import DecompressionBombError

        if invert not in INVERT_CHOICES:
            raise ValueError(f"load: expected invert 'auto', 'yes' or 'no', got {invert!r}. Fix: invert='auto'.")
        path = Path(path)
        if not path.is_file():
            got = "a folder" if path.is_dir() else "no such file"
            raise FileNotFoundError(f"image {path}: expected an image file (PNG, JPEG, ...), got {got}. "
                                    "Fix: check the path (and the current folder).")
        try:
            with Image.open(path) as opened:
                image = ImageOps.exif_transpose(opened)
                image.load()
        except (UnidentifiedImageError, DecompressionBombError, OSError, SyntaxError, ValueError) as err:
            raise ValueError(f"image {path}: expected a PNG or JPEG image, got a file Pillow cannot read as "
                             f"an image ({type(err).__name__}: {err}). Fix: pass an image file, or convert "
                             "it to PNG first.") from None
        mode, _ = COLOR_MODES[self.color_mode]
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            white = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, image.convert("RGBA"))
        image = image.convert(mode)
        pixels = np.asarray(image, dtype=np.float32)  # (h, w) or (h, w, 3), 0..255
        light = _border_median(pixels) > 127.5
        inverted = invert == "yes" or (
            invert == "auto" and self.background is not None and light != (self.background == "light")
        )
        image = _pad_to_aspect(image, self.size, tuple(int(v) for v in np.median(_border(pixels), axis=0).ravel()))
        image = image.resize((self.size[1], self.size[0]), Image.Resampling.BILINEAR)
        x = np.asarray(image, dtype=np.float32)  # (H, W) or (H, W, 3)
        if inverted:
            x = 255.0 - x
        x = (x - self.mean) / self.std
        if self.channel_axis and x.ndim == 2:
            x = x[..., None]  # (H, W, 1)
        return LoadedImage(x.astype(np.float32), "light" if light else "dark", inverted)


def _border(pixels: np.ndarray) -> np.ndarray:
    """The pixels along the four edges, one row per pixel: ``(n, channels)``."""
    p = pixels if pixels.ndim == 3 else pixels[..., None]
    return np.concatenate([p[0], p[-1], p[:, 0], p[:, -1]])


def _border_median(pixels: np.ndarray) -> float:
    """The median brightness of the edges: the picture's background."""
    return float(np.median(_border(pixels).mean(axis=1)))


def _pad_to_aspect(image: Any, size: tuple[int, int], fill: tuple[int, ...]) -> Any:
    """Pads ``image`` with ``fill`` around it to the aspect ratio of ``size`` (H, W)."""
    from PIL import Image

    width, height = image.size
    target = size[1] / size[0]  # width / height
    new_w, new_h = max(width, round(height * target)), max(height, round(width / target))
    if (new_w, new_h) == (width, height):
        return image
    canvas = Image.new(image.mode, (new_w, new_h), fill[0] if len(fill) == 1 else fill)
    canvas.paste(image, ((new_w - width) // 2, (new_h - height) // 2))
    return canvas


# What to do instead, per command, when the model does not take pictures.
_NOT_PICTURES = {
    "brainnet predict": "brainnet predict reads pictures for image models only; for this model call "
                        "model.predict(x) in Python with inputs shaped like its training data.",
    "brainnet explain": "brainnet explain draws what image models look at in pictures, for image models only; "
                        "for this model call brainnet.explain in Python with inputs shaped like its training data "
                        "(attention_maps(model, x) for attention layers, saliency(model, x) for a classifier).",
}


def image_input_shape(model: Any, command: str = "brainnet predict") -> tuple[int, ...]:
    """The shape of one image a model takes, ``(H, W, C)`` or ``(H, W)``.

    Args:
        model: a built model.
        command: ``"brainnet predict"`` or ``"brainnet explain"``, the
            command that needs pictures (its name starts the messages).

    Raises:
        ValueError: the model takes several inputs, integer tokens, or
            inputs that are not images or rows of pixels.
    """
    shape = model.input_shape
    name = getattr(model, "name", "model")
    fix = _NOT_PICTURES[command]
    if isinstance(shape, list):
        raise ValueError(f"{command}: expected a model with one image input, got model '{name}' with "
                         f"{len(shape)} inputs {[tuple(s) for s in shape]}. Fix: {fix}")
    if shape is None:
        raise ValueError(f"Model '{name}': expected a built model whose input is an image, got one with no "
                         "input shape yet. Fix: save the model after training it.")
    dtype = model.input_dtypes(1)[0]
    if dtype is not None or len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] not in (1, 3)):
        what = "integer token ids as input" if dtype is not None else f"input shape {tuple(shape)}"
        raise ValueError(f"{command}: expected a model whose input is an image (None, height, width, 1 or 3) "
                         f"or rows of pixels (None, height, width), got model '{name}' with {what}. Fix: {fix}")
    return tuple(shape[1:])


def preprocessing_for(model: Any, source: str = "the model", command: str = "brainnet predict") -> ImagePreprocessing:
    """The ``ImagePreprocessing`` a model recorded, checked against its input.

    Args:
        model: a built model, e.g. from ``load_model``.
        source: what to call the model in messages (its file name).
        command: the command that reads the pictures, ``"brainnet predict"``
            or ``"brainnet explain"`` (for the messages).

    Raises:
        ValueError: the model's input is not an image; it records no
            preprocessing (the message says how to add it); or the recorded
            size does not fit its input.
    """
    shape = image_input_shape(model, command)
    prep = model.preprocessing
    if prep is None:
        example = "ImagePreprocessing(size=({}, {}){}{}, background='dark')".format(
            shape[0], shape[1], ", color_mode='rgb'" if shape[-1:] == (3,) and len(shape) == 3 else "",
            ", channel_axis=False" if len(shape) == 2 else "",
        )
        raise ValueError(
            f"{source}: expected a model that records how its training images were prepared (size, "
            "colours, background, normalisation), got one without (saved before model.preprocessing "
            "was set, or by model.save_weights). Fix: in Python, model = brainnet.models.load_model(path); "
            f"model.preprocessing = brainnet.preprocessing.{example} with your training data's values "
            "(mean=127.5, std=127.5 for (x − 127.5) / 127.5); model.class_names = [...]; model.save(path); "
            "or train with `brainnet run`, which records it."
        )
    if prep.input_shape != shape:
        raise ValueError(
            f"{source}: expected recorded preprocessing that fits the model's input {shape}, got "
            f"images of {prep.input_shape} (size={prep.size}, color_mode={prep.color_mode!r}, "
            f"channel_axis={prep.channel_axis}). Fix: set model.preprocessing to match the model's input "
            "and save it again."
        )
    return prep


__all__ = ["ImagePreprocessing", "LoadedImage", "image", "image_dataset_from_directory", "image_input_shape",
           "preprocessing_for", "sequence", "text_dataset_from_directory", "timeseries_dataset_from_array"]
