"""``text_dataset_from_directory``: a folder of ``.txt`` files, one subfolder per
class, as batches of (texts, labels) that ``fit`` and ``TextVectorization.adapt``
take (Keras 3's function, behind ``brainnet.utils``). The files are listed at
once and read lazily, one batch at a time; listing, shuffling and splitting are
those of ``image_dataset_from_directory`` (``brainnet._image_folder``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._image_folder import (check_label_args, check_split_args, files_ending, folder_loader, index_directory,
                            label_tensor, refuse, resolved_label_mode, shuffled_split)

_CALLER = "text_dataset_from_directory"


class _Texts(torch.utils.data.Dataset):
    """The files, read on demand: each one's text (str) and its label."""

    def __init__(self, paths: list[str], labels: np.ndarray, label_mode: str | None, classes: int,
                 max_length: int | None) -> None:
        self.paths, self.labels, self.label_mode = paths, labels, label_mode
        self.classes, self.max_length = classes, max_length

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Any:
        with open(self.paths[i], "rb") as f:
            raw = f.read() if self.max_length is None else f.read(self.max_length)
        text = raw.decode("utf-8", errors="replace")  # a character cut by max_length (or not UTF-8): U+FFFD
        if self.label_mode is None:
            return text
        return text, label_tensor(int(self.labels[i]), self.label_mode, self.classes)


def _collate(samples: list[Any]) -> Any:
    """A batch: the texts as a NumPy array of str ``(batch,)``, with the labels stacked."""
    if isinstance(samples[0], str):
        return np.array(samples, dtype=object)
    texts, labels = zip(*samples)
    return np.array(texts, dtype=object), torch.stack(labels)


def text_dataset_from_directory(
    directory: str | os.PathLike, labels: Any = "inferred", label_mode: str | None = "int",
    class_names: list[str] | None = None, batch_size: int | None = 32, max_length: int | None = None,
    shuffle: bool = True, seed: int | None = None, validation_split: float | None = None,
    subset: str | None = None, follow_links: bool = False,
) -> Any:
    """Batches of texts read from the ``.txt`` files under ``directory``, as Keras 3's function.

    ``directory/class_a/*.txt``, ``directory/class_b/*.txt``: class ``i`` is
    the i-th subfolder in alphabetical order (or in the order of
    ``class_names``); files in deeper folders count for their class.

    Returns a ``torch.utils.data.DataLoader`` with ``.class_names`` and
    ``.file_paths``. Each batch is ``(texts, labels)``: the texts a NumPy
    array of str ``(batch,)`` (each file's content, UTF-8, its first
    ``max_length`` bytes when given; Keras gives byte strings), the labels
    ``"int"`` int32 ``(batch,)``, ``"categorical"`` float32 one-hot
    ``(batch, classes)``, ``"binary"`` float32 ``(batch, 1)``; with
    ``label_mode=None`` (or ``labels=None``) the texts alone. A model that
    starts with ``TextVectorization`` fits on it directly, and
    ``TextVectorization.adapt`` learns its vocabulary from
    ``(texts for texts, _ in loader)``.

    Shuffling and splits follow Keras: with ``shuffle`` the sorted file list
    is shuffled once with ``np.random.RandomState(seed)`` and
    ``validation_split`` keeps its last fraction for ``subset="validation"``,
    the rest for ``"training"`` (``"both"``: the two, as a list). The
    training batches are shuffled again every epoch (by a generator seeded
    with ``seed``); the validation ones keep their order.

    Args:
        directory: the folder holding one subfolder per class.
        labels: ``"inferred"`` (from the subfolders), None (texts only), or a
            list of integer labels, one per file in sorted path order.
        label_mode: ``"int"``, ``"categorical"``, ``"binary"`` or None.
        class_names: the subfolders to use, in the order of their labels.
        batch_size: texts per batch (default 32; None: one at a time).
        max_length: keep at most this many bytes of each file (None: all).
        shuffle, seed: see above.
        validation_split: fraction (0, 1) held out; needs ``subset``.
        subset: ``"training"``, ``"validation"`` or ``"both"``.
        follow_links: also read subfolders that are symbolic links.

    Raises:
        ValueError: a missing folder, no ``.txt`` files, or arguments that
            cannot be right (each with the fix).

    Example:
        >>> train, val = text_dataset_from_directory("reviews", validation_split=0.2,
        ...                                          subset="both", seed=1)  # doctest: +SKIP
        >>> vectorize.adapt(texts for texts, _ in train)  # doctest: +SKIP
        >>> model.fit(train, validation_data=val, epochs=5)  # doctest: +SKIP
    """
    root = Path(directory)
    if not root.is_dir():
        refuse(_CALLER, "directory", "a folder holding one subfolder per class", str(directory),
               "check the path, e.g. text_dataset_from_directory('aclImdb/train')")
    check_label_args(_CALLER, labels, label_mode)
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length <= 0):
        refuse(_CALLER, "max_length", "None or a positive number of bytes", max_length, "max_length=None")
    check_split_args(_CALLER, validation_split, subset, shuffle, seed)
    paths, ids, names = index_directory(_CALLER, root, labels, class_names, files_ending(".txt", follow_links))
    label_mode = resolved_label_mode(_CALLER, labels, label_mode, names)
    if not paths:
        refuse(_CALLER, ".txt files", f"in {root}", "none", "put the texts in one subfolder per class, "
               "e.g. data/pos/1.txt")
    paths, label_array, seed, parts = shuffled_split(_CALLER, paths, ids, shuffle, seed, validation_split)

    def loader(part: slice, shuffled: bool) -> torch.utils.data.DataLoader:
        texts = _Texts(paths[part], label_array[part], label_mode, len(names), max_length)
        return folder_loader(texts, batch_size, shuffled, seed, _collate, names, paths[part])

    if not validation_split:
        return loader(parts[0], shuffle)
    train, val = loader(parts[0], shuffle), loader(parts[1], False)
    return {"training": train, "validation": val, "both": [train, val]}[subset]
