"""``image_dataset_from_directory``: a folder of pictures, one subfolder per
class, as batches that ``fit`` takes (Keras 3's function, behind
``brainnet.utils``). The files are listed at once and decoded lazily, one
batch at a time, with Pillow."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # Keras's list
_CHANNELS = {"grayscale": ("L", 1), "rgb": ("RGB", 3), "rgba": ("RGBA", 4)}
_LABEL_MODES = ("int", "categorical", "binary", None)


class _Images(torch.utils.data.Dataset):
    """The files, decoded on demand: (H, W, C) float32 pixels 0–255 and the label."""

    def __init__(self, paths: list[str], labels: np.ndarray | None, label_mode: str | None, classes: int,
                 mode: str, size: tuple[int, int], interpolation: str, crop: bool) -> None:
        self.paths, self.labels, self.label_mode, self.classes = paths, labels, label_mode, classes
        self.mode, self.size, self.interpolation, self.crop = mode, size, interpolation, crop

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Any:
        from PIL import Image

        from .layers.image_preprocessing import resize

        with Image.open(self.paths[i]) as picture:
            pixels = np.asarray(picture.convert(self.mode), dtype=np.float32)  # a GIF: its first frame
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]  # (H, W, 1)
        image = resize(torch.from_numpy(pixels)[None], *self.size, self.interpolation, self.crop)[0]
        if self.label_mode is None:
            return image
        return image, label_tensor(int(self.labels[i]), self.label_mode, self.classes)


def label_tensor(label: int, label_mode: str, classes: int) -> torch.Tensor:
    """One sample's label as Keras's folder readers give it: ``"int"`` int32 ``()``,
    ``"binary"`` float32 ``(1,)``, ``"categorical"`` float32 one-hot ``(classes,)``."""
    if label_mode == "int":
        return torch.tensor(label, dtype=torch.int32)
    if label_mode == "binary":
        return torch.tensor([label], dtype=torch.float32)
    return torch.nn.functional.one_hot(torch.tensor(label), classes).float()


def refuse(caller: str, argument: str, expected: str, value: Any, fix: str) -> None:
    raise ValueError(f"{caller}: expected {argument} {expected}, got {value!r}. Fix: {fix}.")


def files_ending(suffix: str, follow_links: bool) -> Any:
    """The files of a folder (and its subfolders) whose names end in ``suffix``, sorted:
    what ``index_directory`` lists for the text and audio readers."""
    def files(folder: Path) -> list[str]:
        found = []
        for where, _, names in os.walk(folder, followlinks=follow_links):
            found += [os.path.join(where, n) for n in names if n.lower().endswith(suffix)]
        return sorted(found)

    return files


def check_label_args(caller: str, labels: Any, label_mode: Any) -> None:
    """``labels`` and ``label_mode`` as the folder readers take them, else the teaching error."""
    if labels not in ("inferred", None) and not isinstance(labels, (list, tuple)):
        refuse(caller, "labels", "'inferred', None or a list of integer labels", labels, "labels='inferred'")
    if label_mode not in _LABEL_MODES:
        refuse(caller, "label_mode", "'int', 'categorical', 'binary' or None", label_mode, "label_mode='int'")


def resolved_label_mode(caller: str, labels: Any, label_mode: str | None, names: list[str]) -> str | None:
    """The label mode once the classes are known: None without labels; ``"binary"``
    refused unless there are exactly 2 classes."""
    if labels is None or label_mode is None:
        return None
    if label_mode == "binary" and len(names) != 2:
        refuse(caller, "label_mode='binary' to have", "2 classes", names,
               "label_mode='int' (or 'categorical') for more classes")
    return label_mode


def folder_loader(samples: Any, batch_size: int | None, shuffled: bool, seed: int | None, collate: Any,
                  names: list[str], paths: list[str]) -> torch.utils.data.DataLoader:
    """A folder reader's ``DataLoader`` over ``samples``: reshuffled each epoch by a generator
    seeded with ``seed`` when ``shuffled``, ``collate`` for batches (none for ``batch_size=None``),
    and Keras's ``class_names`` and ``file_paths`` attributes."""
    generator = torch.Generator().manual_seed(seed) if shuffled and seed is not None else None
    made = torch.utils.data.DataLoader(samples, batch_size=batch_size, shuffle=shuffled, generator=generator,
                                       collate_fn=collate if batch_size is not None else None)
    made.class_names, made.file_paths = names, paths
    return made


def _refuse(argument: str, expected: str, value: Any, fix: str) -> None:
    refuse("image_dataset_from_directory", argument, expected, value, fix)


def check_split_args(caller: str, validation_split: Any, subset: Any, shuffle: bool, seed: Any) -> None:
    """Keras's rules for ``validation_split``, ``subset`` and ``seed`` (shared by the folder readers)."""
    if validation_split is not None and not 0 < validation_split < 1:
        refuse(caller, "validation_split", "a fraction between 0 and 1", validation_split, "validation_split=0.2")
    if bool(validation_split) != (subset is not None):
        refuse(caller, "subset and validation_split", "together or not at all", (subset, validation_split),
               "validation_split=0.2, subset='both' (or leave both out)")
    if subset not in (None, "training", "validation", "both"):
        refuse(caller, "subset", "'training', 'validation' or 'both'", subset, "subset='both'")
    if validation_split and shuffle and seed is None:
        refuse(caller, "seed", "a number with validation_split and shuffle (as Keras: both subsets are cut from one "
               "shuffled list, which must be the same in both calls)", seed, "seed=1337")


def index_directory(caller: str, root: Path, labels: Any, class_names: Any,
                    files: Callable[[Path], list[str]]) -> tuple[list[str], list[int], list[str]]:
    """(paths, integer labels, class names) of the files under ``root``: with
    ``labels="inferred"`` one subfolder per class, classes in alphabetical order
    (or that of ``class_names``), each class's ``files(folder)`` in sorted order;
    otherwise ``files(root)`` with the given labels (None: all 0)."""
    found = sorted(p.name for p in root.iterdir() if p.is_dir())
    if labels == "inferred":
        if class_names is not None and sorted(class_names) != found:
            refuse(caller, "class_names", f"the names of the subfolders {found}", list(class_names),
                   "class_names=None (alphabetical order), or a list of exactly those names")
        names = list(class_names) if class_names is not None else found
        paths, ids = [], []
        for index, name in enumerate(names):
            listed = files(root / name)
            paths += listed
            ids += [index] * len(listed)
        return paths, ids, names
    if class_names is not None:
        refuse(caller, "class_names=None", "unless labels='inferred'", class_names, "labels='inferred'")
    paths = files(root)
    ids = list(labels) if labels is not None else [0] * len(paths)
    if labels is not None and len(ids) != len(paths):
        refuse(caller, "labels", f"one per file ({len(paths)} found)", f"{len(ids)} labels",
               "give one integer label per file, in sorted path order")
    names = [str(i) for i in range(max(ids) + 1)] if labels is not None and ids else []
    return paths, ids, names


def shuffled_split(caller: str, paths: list[str], ids: list[int], shuffle: bool, seed: int | None,
                   validation_split: float | None) -> tuple[list[str], np.ndarray, int | None, list[slice]]:
    """Keras's order and split: the list shuffled once with ``np.random.RandomState(seed)``
    (a random seed when None), then ``[training, validation]`` slices, the last
    fraction for validation (one slice over all without a split)."""
    order = np.arange(len(paths))
    if shuffle:
        seed = int(np.random.randint(1_000_000)) if seed is None else seed
        np.random.RandomState(seed).shuffle(order)
    paths = [paths[i] for i in order]
    labels = np.asarray(ids, dtype=np.int64)[order]
    if not validation_split:
        return paths, labels, seed, [slice(None)]
    n_val = int(validation_split * len(paths))  # the last fraction, as Keras
    if n_val == 0 or n_val == len(paths):
        refuse(caller, "validation_split", f"leaving files on both sides of {len(paths)}", validation_split,
               "add files or change validation_split")
    return paths, labels, seed, [slice(None, -n_val), slice(-n_val, None)]


def image_dataset_from_directory(
    directory: str | os.PathLike, labels: Any = "inferred", label_mode: str | None = "int",
    class_names: list[str] | None = None, color_mode: str = "rgb", batch_size: int | None = 32,
    image_size: tuple[int, int] = (256, 256), shuffle: bool = True, seed: int | None = None,
    validation_split: float | None = None, subset: str | None = None, interpolation: str = "bilinear",
    crop_to_aspect_ratio: bool = False,
) -> Any:
    """Batches of pictures read from ``directory``, as Keras 3's function.

    ``directory/class_a/*.png``, ``directory/class_b/*.jpg``: class ``i`` is
    the i-th subfolder in alphabetical order (or in the order of
    ``class_names``). Each picture (.bmp, .gif, .jpeg, .jpg, .png) is
    converted to ``color_mode`` and resized to ``image_size`` as
    ``brainnet.layers.Resizing`` does (``crop_to_aspect_ratio`` first cuts
    the largest centred window of the target's shape).

    Returns a ``torch.utils.data.DataLoader`` (``fit``, ``evaluate`` and
    ``predict`` take it, and so does a plain PyTorch loop) with
    ``.class_names`` and ``.file_paths``. Its batches are images
    ``(batch, height, width, channels)`` float32 with values 0–255, as
    Keras's (scale them in the model, e.g. ``Rescaling(1 / 255)``), and
    labels: ``"int"`` int32 ``(batch,)``, ``"categorical"`` float32 one-hot
    ``(batch, classes)``, ``"binary"`` float32 ``(batch, 1)``, None: images
    only. The pictures are decoded one batch at a time.

    Shuffling and splits follow Keras: with ``shuffle`` the file list is
    shuffled once with ``seed`` (``np.random.RandomState``), and
    ``validation_split`` keeps its last fraction for ``subset="validation"``,
    the rest for ``"training"`` (``"both"``: the two, as a list). Call it
    with the same seed for both subsets, or use ``"both"``, so that they do
    not overlap. The training batches are shuffled again every epoch (by a
    generator seeded with ``seed``; Keras shuffles within a buffer of 8
    batches instead); the validation ones keep their order.

    Args:
        directory: the folder holding one subfolder per class.
        labels: ``"inferred"`` (from the subfolders), None (images only),
            or a list of integer labels, one per file in sorted path order.
        label_mode: ``"int"``, ``"categorical"``, ``"binary"`` or None.
        class_names: the subfolders to use, in the order of their labels.
        color_mode: ``"grayscale"`` (1 channel), ``"rgb"`` (3), ``"rgba"`` (4).
        batch_size: pictures per batch (default 32; None: one at a time).
        image_size: ``(height, width)`` every picture is resized to.
        shuffle, seed: see above.
        validation_split: fraction (0, 1) held out; needs ``subset``.
        subset: ``"training"``, ``"validation"`` or ``"both"``.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        crop_to_aspect_ratio: crop instead of distorting (default False).

    Raises:
        ValueError: a missing folder, no pictures, or arguments that cannot
            be right (each with the fix).

    Example:
        >>> train, val = image_dataset_from_directory("flowers", validation_split=0.2,
        ...                                           subset="both", seed=1, image_size=(64, 64))  # doctest: +SKIP
        >>> model.fit(train, validation_data=val, epochs=5)  # doctest: +SKIP
    """
    root = Path(directory)
    if not root.is_dir():
        _refuse("directory", "a folder holding one subfolder per class", str(directory),
                "check the path, e.g. image_dataset_from_directory('data/train')")
    if label_mode not in _LABEL_MODES:
        _refuse("label_mode", "'int', 'categorical', 'binary' or None", label_mode, "label_mode='int'")
    if color_mode not in _CHANNELS:
        _refuse("color_mode", "'grayscale', 'rgb' or 'rgba'", color_mode, "color_mode='rgb'")
    if interpolation not in ("bilinear", "nearest"):
        _refuse("interpolation", "'bilinear' or 'nearest'", interpolation, "interpolation='bilinear'")
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    if not isinstance(image_size, (tuple, list)) or len(image_size) != 2 \
            or not all(isinstance(s, int) and s > 0 for s in image_size):
        _refuse("image_size", "(height, width) in pixels", image_size, "image_size=(128, 128)")
    check_split_args("image_dataset_from_directory", validation_split, subset, shuffle, seed)

    def pictures(folder: Path) -> list[str]:
        return sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in _FORMATS)

    paths, ids, names = index_directory("image_dataset_from_directory", root, labels, class_names, pictures)
    if labels is None or label_mode is None:
        label_mode = None
    if label_mode == "binary" and len(names) != 2:
        _refuse("label_mode='binary' to have", "2 classes", names, "label_mode='int' (or 'categorical') for more classes")
    if not paths:
        _refuse("pictures (.bmp, .gif, .jpeg, .jpg, .png)", f"in {root}", "none",
                "put the pictures in one subfolder per class, e.g. data/cats/1.png")

    paths, label_array, seed, parts = shuffled_split("image_dataset_from_directory", paths, ids, shuffle, seed,
                                                     validation_split)

    def loader(part: slice, shuffled: bool) -> torch.utils.data.DataLoader:
        images = _Images(paths[part], label_array[part], label_mode, len(names), _CHANNELS[color_mode][0],
                         tuple(image_size), interpolation, crop_to_aspect_ratio)
        generator = torch.Generator().manual_seed(seed) if shuffled and seed is not None else None
        made = torch.utils.data.DataLoader(images, batch_size=batch_size, shuffle=shuffled, generator=generator)
        made.class_names, made.file_paths = names, paths[part]
        return made

    if not validation_split:
        return loader(parts[0], shuffle)
    train, val = loader(parts[0], shuffle), loader(parts[1], False)
    return {"training": train, "validation": val, "both": [train, val]}[subset]
