"""Fortunes: short English texts (quotations, jokes, poems) or Chinese poetry, one per ``fortune``.

Debian's package ``fortunes`` (with ``fortunes-min``) installs about 15,000
English fortunes, 2.6 million characters, in ``/usr/share/games/fortunes/``;
``fortunes-zh`` adds Chinese ones there (``tang300``: 300 Tang poems,
``song100``: 100 Song poems, ``chinese``: quotations and more). Each file holds
texts separated by lines holding only ``%``. Nothing is downloaded: the files
come from the package (``apt-get install fortunes fortunes-zh``) or from a
folder of the same files.

A character-level language model trains on the text, so ``load_data`` returns
plain strings: the training text and the validation text, split by fortune
(every tenth fortune is held out, so no fortune is in both).

    >>> from brainnet.datasets import fortunes
    >>> train_text, validation_text = fortunes.load_data()  # doctest: +SKIP
    >>> len(train_text), len(validation_text)  # doctest: +SKIP
    (2304299, 254807)
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from brainnet.datasets._files import DatasetNotFoundError

__all__ = ["CHINESE", "COLLECTIONS", "DatasetNotFoundError", "ENGLISH", "SEPARATOR", "load_data", "load_fortunes"]

SYSTEM_DIR = Path("/usr/share/games/fortunes")  # module-level so tests can move it
FOLDER = "fortunes"  # the folder under $BRAINNET_DATA_DIR

# Every English file of Debian's fortunes and fortunes-min (fortunes 1:1.99.1),
# except ascii-art (pictures, not text). Read in this order.
ENGLISH = (
    "art", "computers", "cookie", "debian", "definitions", "disclaimer", "drugs",
    "education", "ethnic", "food", "fortunes", "goedel", "humorists", "kids",
    "knghtbrd", "law", "linux", "linuxcookie", "literature", "love", "magic",
    "medicine", "men-women", "miscellaneous", "news", "paradoxum", "people", "perl",
    "pets", "platitudes", "politics", "pratchett", "riddles", "science",
    "songs-poems", "sports", "startrek", "tao", "translate-me", "wisdom", "work", "zippy",
)  # fmt: skip
# Debian's fortunes-zh: Tang poems, Song poems, then the mixed collection.
CHINESE = ("tang300", "song100", "chinese")
COLLECTIONS = {"english": ENGLISH, "chinese": CHINESE}
SEPARATOR = "\n%\n"  # ends every fortune in the text load_data returns, as in the files

_ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # the Chinese files colour titles and authors


def _remove_overstrikes(line: str) -> str:
    """Replays a line's backspaces as a printer would and keeps the letters.

    Old fortunes underline with ``_`` BACKSPACE ``n`` (or ``____`` + four
    backspaces + ``does``) and embolden with ``A`` BACKSPACE ``A``: a character
    written over another replaces it, except an underscore written over one.
    """
    cells: list[str] = []
    column = 0
    for char in line:
        if char == "\b":
            column = max(column - 1, 0)
            continue
        if column < len(cells):
            if char != "_":
                cells[column] = char
        else:
            cells.append(char)
        column += 1
    return "".join(cells)


def _clean(text: str) -> str:
    """Drops terminal control codes: colours, bells and overstrikes."""
    text = _ANSI_COLOUR.sub("", text).replace("\a", "")
    if "\b" in text:
        text = "\n".join(_remove_overstrikes(line) if "\b" in line else line for line in text.split("\n"))
    return text


def _split(text: str) -> list[str]:
    """The fortunes of one file: the texts between lines holding only ``%``,
    without blank lines around them; empty ones are dropped."""
    fortunes, lines = [], []
    for line in text.split("\n") + ["%"]:
        if line.rstrip("\r") == "%":
            fortune = "\n".join(lines).strip("\n")
            if fortune.strip():
                fortunes.append(fortune)
            lines = []
        else:
            lines.append(line)
    return fortunes


def _file_names(collection: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(collection, str):
        if collection not in COLLECTIONS:
            raise ValueError(
                f"fortunes: expected collection 'english', 'chinese' or a list of file names such as "
                f"['tang300'], got {collection!r}. Fix: load_fortunes('english') or load_fortunes(['tang300'])."
            )
        return COLLECTIONS[collection]
    names = tuple(collection)
    if not names or not all(isinstance(n, str) and n and "/" not in n for n in names):
        raise ValueError(
            f"fortunes: expected collection 'english', 'chinese' or a non-empty list of file names "
            f"such as ['tang300'], got {collection!r}. Fix: load_fortunes(['tang300', 'song100'])."
        )
    return names


def _folders(path: str | os.PathLike | None) -> list[tuple[Path | None, str]]:
    """``(folder, why)`` in search order; None where $BRAINNET_DATA_DIR is unset."""
    folders: list[tuple[Path | None, str]] = []
    if path is not None:
        folders.append((Path(path).expanduser(), "path="))
    data_dir = os.environ.get("BRAINNET_DATA_DIR")
    if data_dir:
        folders.append((Path(data_dir).expanduser() / FOLDER, "$BRAINNET_DATA_DIR"))
    else:
        folders.append((None, f"$BRAINNET_DATA_DIR/{FOLDER}/: BRAINNET_DATA_DIR is not set"))
    folders.append((SYSTEM_DIR, "system folder, Debian's fortunes packages"))
    return folders


def load_fortunes(collection: str | Sequence[str] = "english", path: str | os.PathLike | None = None) -> list[str]:
    """Reads every fortune of a collection, in file order, each text once.

    Looks for the collection's files in ``path``, then
    ``$BRAINNET_DATA_DIR/fortunes/``, then ``/usr/share/games/fortunes/``;
    the first folder holding all of them wins. Each file is UTF-8 text whose
    fortunes are separated by lines holding only ``%``. Terminal control codes
    are removed (ANSI colours of the Chinese files, bells, and backspace
    overstrikes: ``_`` BACKSPACE ``n`` becomes ``n``), blank lines around a
    fortune are dropped, and a text met again (the same fortune in two files)
    is kept only the first time.

    Args:
        collection: ``"english"`` (default, the files in ``ENGLISH``: every
            English file of Debian's ``fortunes`` and ``fortunes-min`` except
            ``ascii-art``), ``"chinese"`` (``CHINESE``: ``tang300``,
            ``song100``, ``chinese`` from ``fortunes-zh``), or a list of file
            names such as ``["tang300"]``.
        path: a FOLDER holding the files, searched first. Default None.

    Returns:
        The fortunes as a list of strings, lines joined by ``"\\n"``, no
        trailing newline.

    Raises:
        ValueError: an unknown collection name.
        DatasetNotFoundError: (a ``FileNotFoundError``) no folder holds all the
            files; the message lists the folders searched and the fix
            (``apt-get install fortunes``, or ``BRAINNET_DATA_DIR``).

    Example:
        >>> poems = load_fortunes(["tang300"])  # doctest: +SKIP
        >>> len(poems), poems[0].splitlines()[0]  # doctest: +SKIP
        (313, '《感遇・其一》')
    """
    names = _file_names(collection)
    searched = _folders(path)
    for folder, _ in searched:
        if folder is not None and all((folder / name).is_file() for name in names):
            seen: dict[str, None] = {}  # insertion-ordered set
            for name in names:
                text = (folder / name).read_bytes().decode("utf-8", errors="replace")
                seen.update(dict.fromkeys(_split(_clean(text))))
            return list(seen)
    package = "fortunes" if set(names) <= set(ENGLISH) else (
        "fortunes-zh" if set(names) <= set(CHINESE) else "fortunes fortunes-zh")
    where = "; ".join(
        f"{folder} ({why}): missing {', '.join(n for n in names if not (folder / n).is_file())}"
        if folder is not None else why
        for folder, why in searched
    )
    raise DatasetNotFoundError(
        f"fortunes not found: expected the files {', '.join(names)} (fortunes separated by lines "
        f"holding %) in one folder, got none holding them all. Looked in: {where}. "
        f"Fix: apt-get install {package} (they go to {SYSTEM_DIR}), or set BRAINNET_DATA_DIR=DIR "
        f"with the files in DIR/{FOLDER}/, or load_data(path='/folder/with/the/files'). "
        "Nothing is downloaded."
    )


def load_data(
    collection: str | Sequence[str] = "english",
    path: str | os.PathLike | None = None,
    validation_split: float = 0.1,
) -> tuple[str, str]:
    """The training and validation text of a collection, split by fortune.

    The fortunes of ``load_fortunes(collection, path)`` are dealt out in
    order: fortune ``i`` (from 0) goes to validation when
    ``floor((i + 1) · s) > floor(i · s)`` with ``s = validation_split``, so
    with 0.1 every tenth fortune (9, 19, 29, ...) is held out, spread evenly
    over every file. No randomness: the same files give the same split. Each
    text is its fortunes, each followed by ``SEPARATOR`` (``"\\n%\\n"``, as in
    the files), so a model also learns where a fortune ends.

    Args:
        collection: ``"english"`` (default), ``"chinese"`` or a list of file
            names; see ``load_fortunes``.
        path: a folder holding the files, searched first. Default None.
        validation_split: the fraction of fortunes held out, in (0, 1);
            default 0.1.

    Returns:
        ``(train_text, validation_text)``, two ``str``.

    Raises:
        ValueError: ``validation_split`` outside (0, 1), or a split that
            leaves one side without a fortune; an unknown collection.
        DatasetNotFoundError: the files are nowhere (see ``load_fortunes``).

    Example:
        >>> train_text, validation_text = load_data()  # doctest: +SKIP
        >>> print(validation_text[:60])  # doctest: +SKIP
    """
    s = validation_split
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s < 1:
        raise ValueError(
            f"fortunes.load_data: expected validation_split in (0, 1), got {s!r}. "
            "Fix: validation_split=0.1 holds out every tenth fortune."
        )
    fortunes = load_fortunes(collection, path)
    held_out = [int((i + 1) * s) > int(i * s) for i in range(len(fortunes))]
    validation = [f for f, out in zip(fortunes, held_out) if out]
    train = [f for f, out in zip(fortunes, held_out) if not out]
    if not train or not validation:
        raise ValueError(
            f"fortunes.load_data: validation_split={s} of {len(fortunes)} fortunes leaves "
            f"{len(train)} for training and {len(validation)} for validation, expected at least one each. "
            "Fix: use a collection with more fortunes, or a validation_split nearer 0.5."
        )
    return "".join(f + SEPARATOR for f in train), "".join(f + SEPARATOR for f in validation)
