"""Keras 3's ``keras.preprocessing.sequence``: ``pad_sequences``.

The same function as ``brainnet.utils.pad_sequences`` (Keras 3 exports one
function under both names), so tutorials that write

    >>> from brainnet.preprocessing.sequence import pad_sequences
    >>> pad_sequences([[1, 2, 3], [4]], maxlen=3, padding="post")
    array([[1, 2, 3],
           [4, 0, 0]], dtype=int32)

run unchanged. Keras 3 keeps nothing else here (its ``TimeseriesGenerator``
and the ``keras.preprocessing.text`` tokenizer were Keras 2's and are gone;
``brainnet.layers.TextVectorization`` is the tokenizer).
"""

from __future__ import annotations

from .._sequences import pad_sequences

__all__ = ["pad_sequences"]
