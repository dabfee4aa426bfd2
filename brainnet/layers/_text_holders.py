"""Layers of your own that hold a text layer take strings, as in Keras 3.

Keras 3 hands strings to any layer; brainnet's own layers that compute on
numbers refuse them with the fix (turn the texts into indices first). A layer
class of yours that holds a text layer (a ``StringLookup``, a
``TextVectorization``, a ``Sequential`` that starts with one) takes them as
they are: its ``call`` hands them to that layer, as keras.io's
memory-efficient embeddings recipe does (``QREmbedding`` looks its strings up
with a ``StringLookup`` inside, then embeds the indices). Such a layer in a
functional graph is tried once on strings its text layer knows (a token of
its vocabulary), since zeros are no strings.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def holds_text_layer(layer: Any) -> bool:
    """Whether ``layer`` is of a class of yours (not brainnet's) and holds a
    layer that takes strings (``takes_text()``) among the layers inside it."""
    from .base import Layer

    if type(layer).__module__.startswith("brainnet."):
        return False
    return any(m is not layer and isinstance(m, Layer) and m.takes_text() for m in layer.modules())


def accepts_text(layer: Any) -> bool:
    """Whether ``layer(strings)`` hands the strings to ``call``: a text layer
    (``takes_text()``), or a layer of yours that holds one."""
    return layer.takes_text() or holds_text_layer(layer)


def probe_strings(layer: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Strings of ``shape`` for a trial run of ``layer`` on a string Input: the
    last vocabulary token of the first ``StringLookup`` or ``TextVectorization``
    inside it (a token it knows, so a lookup with ``num_oov_indices=0`` takes
    it), or ``"a"`` when none has a vocabulary yet."""
    from .lookup import StringLookup
    from .text_vectorization import TextVectorization

    token = "a"
    for m in layer.modules():
        if isinstance(m, (StringLookup, TextVectorization)):
            if m.vocab.tokens:  # learned or given (else the layer's own error comes)
                token = m.vocab.tokens[-1]
                break
    return np.full(shape, token, dtype=object)
