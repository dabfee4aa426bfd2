"""``pad_sequences``: sequences of different lengths as one array, Keras's rule.

Keras 3 names it twice, ``keras.utils.pad_sequences`` and
``keras.preprocessing.sequence.pad_sequences``; so does brainnet
(``brainnet.utils`` and ``brainnet.preprocessing.sequence``), one function.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_PAD_CHOICES = ("pre", "post")


def pad_sequences(sequences: Any, maxlen: int | None = None, dtype: str = "int32", padding: str = "pre",
                  truncating: str = "pre", value: float = 0.0) -> np.ndarray:
    """Sequences of different lengths as one array, padded or cut to ``maxlen``, as Keras's.

    Row ``i`` is sequence ``i``: longer than ``maxlen``, its first
    (``truncating="pre"``) or last (``"post"``) entries are dropped; shorter,
    ``value`` fills the start (``padding="pre"``) or the end (``"post"``).
    Entries may be numbers or arrays of one shape (e.g. one feature vector per
    step), which the result keeps after the time axis.

    Args:
        sequences: a list of sequences (lists or arrays), e.g. token ids.
        maxlen: the length of every row (default: the longest sequence's).
        dtype: of the result (default int32, as Keras).
        padding, truncating: ``"pre"`` (default) or ``"post"``.
        value: the padding value (default 0, which ``Embedding(mask_zero=True)`` masks).

    Returns:
        Array ``(len(sequences), maxlen) + step_shape``.

    Raises:
        ValueError: padding or truncating not "pre"/"post", a negative maxlen,
            sequences that are not a list of sequences, or steps of different shapes.

    Example:
        >>> pad_sequences([[1, 2, 3], [4]], maxlen=2)
        array([[2, 3],
               [0, 4]], dtype=int32)
    """
    for arg, choice in (("padding", padding), ("truncating", truncating)):
        if choice not in _PAD_CHOICES:
            raise ValueError(f"pad_sequences: expected {arg} to be 'pre' or 'post', got {choice!r}. "
                             f"Fix: pad_sequences(sequences, {arg}='post').")
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0):
        raise ValueError(f"pad_sequences: expected maxlen to be a non-negative integer or None, got {maxlen!r}. "
                         "Fix: pad_sequences(sequences, maxlen=100).")
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences: expected a list of sequences, got {type(sequences).__name__}. "
                         "Fix: pad_sequences([[1, 2, 3], [4, 5]]).")
    rows = []
    for i, seq in enumerate(sequences):
        if isinstance(seq, (str, bytes)) or not hasattr(seq, "__len__"):
            raise ValueError(f"pad_sequences: expected a list of sequences, got {type(seq).__name__} {seq!r} at "
                             f"index {i}. Fix: put each sequence in a list, e.g. [[1, 2, 3], [4, 5]] rather than "
                             "[1, 2, 3].")
        rows.append(np.asarray(seq))
    step_shape = next((r.shape[1:] for r in rows if len(r)), ())
    for i, r in enumerate(rows):
        if len(r) and r.shape[1:] != step_shape:
            raise ValueError(f"pad_sequences: expected every step to have shape {step_shape}, as the first "
                             f"non-empty sequence's, got {r.shape[1:]} in sequence {i}. Fix: give every step the "
                             "same number of features.")
    length = max((len(r) for r in rows), default=0) if maxlen is None else int(maxlen)
    out = np.full((len(rows), length) + tuple(step_shape), value, dtype=dtype)
    for i, r in enumerate(rows):
        if not len(r) or not length:
            continue
        kept = r[-length:] if truncating == "pre" else r[:length]
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, length - len(kept):] = kept
    return out


__all__ = ["pad_sequences"]
