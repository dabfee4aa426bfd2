"""Keras 3's image file helpers: ``load_img``, ``img_to_array``, ``array_to_img``, ``save_img``.

A picture on disk becomes a PIL image (``load_img``), then an ``(H, W, C)``
float32 array (``img_to_array``) that a model predicts on once a batch axis
is added; the way back is ``array_to_img`` and ``save_img``. Pillow does the
decoding, encoding and resampling; it is imported on first use, so a plain
``import brainnet`` does not load it.

``data_format`` follows Keras: ``None`` means ``brainnet.config.image_data_format()``
(``"channels_last"``, brainnet's only layout), and ``"channels_first"`` is
accepted here as in Keras, the array being ``(C, H, W)``: these functions
sit at the edge, where a transpose is all it takes.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._atomic import atomic_write

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")  # Keras's names
COLOR_MODES = ("grayscale", "rgb", "rgba")
_DATA_FORMATS = ("channels_first", "channels_last")


def _data_format(caller: str, data_format: str | None) -> str:
    if data_format is None:
        from .config import image_data_format

        return image_data_format()
    if data_format not in _DATA_FORMATS:
        raise ValueError(f"{caller}: expected data_format 'channels_last', 'channels_first' or None, got "
                         f"{data_format!r}. Fix: leave data_format out for (height, width, channels) arrays.")
    return data_format


def _dtype(dtype: Any) -> Any:
    if dtype is not None:
        return dtype
    from .config import floatx

    return floatx()


def load_img(path: str | os.PathLike | bytes | io.BytesIO, color_mode: str = "rgb",
             target_size: tuple[int, int] | None = None, interpolation: str = "nearest",
             keep_aspect_ratio: bool = False) -> Any:
    """Read an image file into a PIL image, converted to ``color_mode`` and resized to ``target_size``.

    With ``keep_aspect_ratio=True`` the largest centred crop with the target's
    aspect ratio is resized, so nothing is stretched: for an image ``W × H``
    and a target ``w × h``, the crop is ``cw = min(W, ⌊H·w/h⌋)`` wide and
    ``ch = min(H, ⌊W·h/w⌋)`` high, starting at ``(⌊(W − cw)/2⌋, ⌊(H − ch)/2⌋)``.

    Args:
        path: the image file (any format Pillow reads: PNG, JPEG, BMP, GIF, ...),
            as a path or an ``io.BytesIO`` of its bytes.
        color_mode: ``"rgb"`` (default), ``"rgba"`` or ``"grayscale"`` (8-bit,
            unless the file is already 16- or 32-bit grayscale).
        target_size: ``(height, width)``, or None (default) for the file's size.
        interpolation: resampling when the size changes: ``"nearest"``
            (default), ``"bilinear"``, ``"bicubic"``, ``"hamming"``, ``"box"``
            or ``"lanczos"``.
        keep_aspect_ratio: crop to the target's aspect ratio before resizing
            (default False: the image is stretched to ``target_size``).

    Returns:
        A ``PIL.Image.Image``.

    Raises:
        FileNotFoundError: no file at ``path``.
        TypeError: ``path`` is neither a path nor an ``io.BytesIO``.
        PIL.UnidentifiedImageError: a file Pillow cannot read as an image
            (an ``OSError``, as in Keras).
        ValueError: an unknown ``color_mode`` or ``interpolation``, or a
            ``target_size`` that is not two positive integers.

    Example:
        >>> from brainnet.utils import load_img, img_to_array
        >>> image = load_img("digit.png", color_mode="grayscale", target_size=(28, 28))  # doctest: +SKIP
        >>> model.predict(img_to_array(image)[None] / 255.0)  # doctest: +SKIP
    """
    from PIL import Image, UnidentifiedImageError

    if color_mode not in COLOR_MODES:
        raise ValueError(f"load_img: expected color_mode one of {list(COLOR_MODES)}, got {color_mode!r}. "
                         "Fix: color_mode='rgb' for colour pictures, 'grayscale' for one channel.")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"load_img: expected interpolation one of {list(INTERPOLATIONS)}, got {interpolation!r}. "
                         "Fix: interpolation='bilinear' (smooth) or 'nearest' (the default).")
    if target_size is not None and not (
            isinstance(target_size, (tuple, list)) and len(target_size) == 2
            and all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in target_size)):
        raise ValueError(f"load_img: expected target_size to be (height, width), two positive integers, or None, "
                         f"got {target_size!r}. Fix: target_size=(28, 28).")
    if isinstance(path, io.BytesIO):
        data = path
    elif isinstance(path, (str, bytes, os.PathLike)):
        file = Path(os.fsdecode(path)).expanduser()
        if not file.is_file():
            got = "a folder" if file.is_dir() else "no such file"
            raise FileNotFoundError(f"load_img: expected an image file at {str(file)!r}, got {got} "
                                    f"(relative paths start from {os.getcwd()}). Fix: pass the path of a "
                                    "PNG or JPEG file, e.g. load_img('pictures/cat.png').")
        data = io.BytesIO(file.read_bytes())
    else:
        raise TypeError(f"load_img: expected a path (str or pathlib.Path) or an io.BytesIO, got "
                        f"{type(path).__name__}. Fix: load_img('picture.png'), or "
                        "load_img(io.BytesIO(image_bytes)).")
    try:
        img = Image.open(data)
        img.load()
    except UnidentifiedImageError as e:
        raise UnidentifiedImageError(
            f"load_img: expected an image file Pillow can read (PNG, JPEG, BMP, GIF, ...), got {path!r}, which is "
            "not one. Fix: check that the file is a picture, e.g. open it in an image viewer.") from e
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):  # 16- and 32-bit grayscale keep their depth
            img = img.convert("L")
    elif img.mode != color_mode.upper():
        img = img.convert(color_mode.upper())
    if target_size is None:
        return img
    size = (int(target_size[1]), int(target_size[0]))  # PIL's (width, height)
    if img.size == size:
        return img
    resample = getattr(Image.Resampling, interpolation.upper())
    if not keep_aspect_ratio:
        return img.resize(size, resample)
    width, height = img.size
    crop_width = min(width, height * size[0] // size[1])
    crop_height = min(height, width * size[1] // size[0])
    left, top = (width - crop_width) // 2, (height - crop_height) // 2
    return img.resize(size, resample, box=(left, top, left + crop_width, top + crop_height))


def img_to_array(img: Any, data_format: str | None = None, dtype: Any = None) -> np.ndarray:
    """The pixels of a PIL image as a NumPy array ``(height, width, channels)``.

    ``x[i, j, c]`` is channel ``c`` of the pixel in row ``i``, column ``j``,
    with the image's values (0-255 for 8-bit images: divide by 255 for a
    model trained on [0, 1]); a grayscale image gives one channel.

    Args:
        img: a PIL image (or anything ``np.asarray`` makes 2-D or 3-D).
        data_format: ``None`` (default, ``"channels_last"``),
            ``"channels_last"`` or ``"channels_first"`` (``(channels, height, width)``).
        dtype: the array's dtype; None (default) is ``brainnet.config.floatx()``, float32.

    Returns:
        A 3-D NumPy array.

    Raises:
        ValueError: an unknown ``data_format``, or an image that is not 2-D or 3-D.

    Example:
        >>> from PIL import Image
        >>> img_to_array(Image.new("L", (4, 2), 7)).shape
        (2, 4, 1)
    """
    data_format = _data_format("img_to_array", data_format)
    x = np.asarray(img, dtype=_dtype(dtype))
    if x.ndim == 2:
        x = x[:, :, None]  # (H, W, 1)
    elif x.ndim != 3:
        raise ValueError(f"img_to_array: expected an image, an array of shape (height, width) or (height, width, "
                         f"channels), got shape {x.shape}. Fix: pass one picture, e.g. load_img(path).")
    return x.transpose(2, 0, 1) if data_format == "channels_first" else x  # (C, H, W)


def array_to_img(x: Any, data_format: str | None = None, scale: bool = True, dtype: Any = None) -> Any:
    """A 3-D array ``(height, width, channels)`` as a PIL image.

    With ``scale=True`` the values are stretched to 0-255 first,
    ``x' = 255 · (x − min x) / (max x − min x)`` (a constant image becomes
    0), then cast to 8 bits by truncation. One channel gives a grayscale
    image (mode ``"L"``, or 32-bit ``"I"`` when a value exceeds 255), three
    ``"RGB"``, four ``"RGBA"``.

    Args:
        x: the array (anything ``np.asarray`` takes).
        data_format: ``None`` (default, ``"channels_last"``),
            ``"channels_last"`` or ``"channels_first"``.
        scale: stretch the values to 0-255 (default True); False keeps them.
        dtype: the dtype ``x`` is read in before scaling; None is float32.

    Returns:
        A ``PIL.Image.Image``.

    Raises:
        ValueError: an unknown ``data_format``, an array that is not 3-D, or
            a channel count other than 1, 3 or 4.

    Example:
        >>> array_to_img(np.zeros((2, 4, 3))).size  # PIL's (width, height)
        (4, 2)
    """
    from PIL import Image

    data_format = _data_format("array_to_img", data_format)
    x = np.array(x, dtype=_dtype(dtype))
    if x.ndim != 3:
        fix = ("x[0] for the first picture of a batch" if x.ndim == 4 else
               "x[..., None] for a grayscale picture" if x.ndim == 2 else "x.reshape(height, width, channels)")
        raise ValueError(f"array_to_img: expected one picture, an array of shape (height, width, channels), got "
                         f"shape {x.shape}. Fix: {fix}.")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)  # (H, W, C)
    if x.shape[2] not in (1, 3, 4):
        raise ValueError(f"array_to_img: expected 1 (grayscale), 3 (RGB) or 4 (RGBA) channels, got {x.shape[2]} "
                         f"in shape {x.shape}. Fix: data_format='channels_first' if the channels come first, or "
                         "keep 3 channels, e.g. x[..., :3].")
    if scale:
        x = x - np.min(x)
        peak = np.max(x)
        if peak != 0:
            x = x / peak
        x = x * 255
    if x.shape[2] == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    return Image.fromarray(x.astype("uint8"), "RGB" if x.shape[2] == 3 else "RGBA")


def save_img(path: str | os.PathLike | IO[bytes], x: Any, data_format: str | None = None,
             file_format: str | None = None, scale: bool = True, **kwargs: Any) -> None:
    """Write an array ``(height, width, channels)`` to an image file, through ``array_to_img``.

    A file named by a path is written atomically (a temporary file renamed
    over it), so an interrupted save never leaves half a picture.

    Args:
        path: the file to write, or an open binary file object (then
            ``file_format`` is needed).
        x: the array; see ``array_to_img``.
        data_format: ``None`` (default, ``"channels_last"``),
            ``"channels_last"`` or ``"channels_first"``.
        file_format: ``"png"``, ``"jpeg"`` (or ``"jpg"``), ...; None (default)
            takes it from the file name's extension.
        scale: stretch the values to 0-255 first (default True).
        **kwargs: passed to ``PIL.Image.Image.save``, e.g. ``quality=95`` for JPEG.

    Raises:
        ValueError: no ``file_format`` and an extension Pillow does not know,
            a ``file_format`` Pillow does not write, and the errors of
            ``array_to_img``.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "gradient.png")
        >>> save_img(path, np.arange(12.0).reshape(3, 4, 1))
        >>> load_img(path, color_mode="grayscale").size
        (4, 3)
    """
    from PIL import Image

    img = array_to_img(x, data_format=_data_format("save_img", data_format), scale=scale)
    if file_format is not None:
        file_format = "jpeg" if isinstance(file_format, str) and file_format.lower() == "jpg" else file_format
        Image.init()  # every format plugin registered, so Image.SAVE lists all Pillow writes
        if not isinstance(file_format, str) or file_format.upper() not in Image.SAVE:
            raise ValueError(f"save_img: expected file_format to be one Pillow writes ('png', 'jpeg', 'bmp', 'gif', "
                             f"'tiff', 'webp', ...), got {file_format!r}. Fix: file_format='png', or leave it out to "
                             "take the format from the file name's extension.")
    elif isinstance(path, (str, bytes, os.PathLike)):
        extension = Path(os.fsdecode(path)).suffix.lower()
        file_format = Image.registered_extensions().get(extension)
        if file_format is None:
            raise ValueError(f"save_img: expected a file name ending in an image extension (.png, .jpg, ...), got "
                             f"{os.fsdecode(path)!r}. Fix: save_img('picture.png', x), or file_format='png'.")
    if img.mode == "RGBA" and file_format is not None and file_format.lower() == "jpeg":
        warnings.warn("save_img: JPEG has no alpha channel, so the RGBA picture is saved as RGB.", stacklevel=2)
        img = img.convert("RGB")
    if isinstance(path, (str, bytes, os.PathLike)):
        atomic_write(Path(os.fsdecode(path)).expanduser(), lambda tmp: img.save(tmp, format=file_format, **kwargs))
    else:
        img.save(path, format=file_format, **kwargs)
