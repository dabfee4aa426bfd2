"""TextVectorization: raw text to token indices or bags of words, as Keras 3."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch

from .. import _registry
from .base import Layer, Shape
from ._vocabulary import OOV_TOKEN, Vocabulary, check_lookup_args
from .lookup import as_strings, string_batches, text_call

STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT = ("whitespace", "character")
# Keras's punctuation: ASCII !"#$%&()*+,-./:;<=>?@[\]^_`{|}~ and the apostrophe.
PUNCTUATION = re.compile(r"[!\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~']")
WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")  # TensorFlow's tf.strings.split: ASCII whitespace only


def standardize_text(text: str, standardize: Any) -> str:
    """One string through ``standardize`` (a name, None, or a function str → str)."""
    if standardize in ("lower", "lower_and_strip_punctuation"):
        text = text.lower()
    if standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = PUNCTUATION.sub("", text)
    if callable(standardize):
        text = standardize(text)
    return text


def split_text(text: str, split: Any) -> list[str]:
    """One standardized string as tokens (``split`` a name, None, or a function str → list of str)."""
    if split == "whitespace":
        return [t for t in WHITESPACE.split(text) if t]
    if split == "character":
        return list(text)
    if callable(split):
        return list(split(text))
    return [text]


def ngrams_of(tokens: list[str], widths: tuple[int, ...] | None) -> list[str]:
    """All n-grams of each width in ``widths``, widths in order, joined by a space."""
    if widths is None:
        return tokens
    return [" ".join(tokens[i:i + n]) for n in widths for i in range(len(tokens) - n + 1)]


def _check_choice(layer: str, arg: str, value: Any, names: tuple[str, ...], example: str) -> Any:
    if value is None or callable(value) or value in names:
        return value
    raise ValueError(
        f"{layer}: expected {arg} among {', '.join(repr(n) for n in names)}, None or a function, got {value!r}. "
        f"Fix: {arg}={example}."
    )


def _check_ngrams(layer: str, ngrams: Any) -> tuple[int, ...] | None:
    def positive(n: Any) -> bool:
        return isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0

    if ngrams is None:
        return None
    if positive(ngrams):
        return tuple(range(1, int(ngrams) + 1))
    if isinstance(ngrams, (tuple, list)) and ngrams and all(positive(n) for n in ngrams):
        return tuple(int(n) for n in ngrams)
    raise ValueError(
        f"{layer}: expected ngrams None, a positive integer (n-grams up to it) or a tuple of them (those widths), "
        f"got {ngrams!r}. Fix: ngrams=2 gives words and word pairs; ngrams=(2,) word pairs only."
    )


def _function_name(layer: str, arg: str, function: Any) -> Any:
    """A standardize/split function in a config: its registered name (files store no code)."""
    if not callable(function):
        return function
    name = _registry.registered_name(function)
    if name is None:
        raise ValueError(
            f"save: expected {layer}'s {arg} function to be registered by name (files never store code), got "
            f"the unregistered {getattr(function, '__name__', type(function).__name__)!r}. Fix: decorate it with "
            "@brainnet.saving.register_serializable() and import it before load_model."
        )
    return {"function": name}


class TextVectorization(Layer):
    """Turns raw strings into token indices (or bag-of-words vectors), as Keras 3.

    Rule, for each input string ``s``::

        tokens = ngrams(split(standardize(s)))
        int:        y[t] = index(tokens[t])           t < T, then 0 (padding) up to T
        multi_hot:  y[i] = 1 if some token has index i, else 0
        count:      y[i] = #{t : index(tokens[t]) = i}
        tf_idf:     y[i] = count[i] · idf[i],   idf[i] = ln(1 + D / (1 + d_i))

    where ``standardize`` (default) lowercases and deletes ASCII punctuation
    (``!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'``), ``split`` (default) splits on
    runs of ASCII whitespace, ``ngrams=n`` adds every run of 2..n consecutive
    tokens joined by a space, ``D`` is the number of adapted documents and
    ``d_i`` those holding token ``i``. ``T`` is ``output_sequence_length``, or
    the longest token list of the batch when None.

    Indices (``get_vocabulary()`` lists them in order)::

        int:   0 = "" (padding), 1 = "[UNK]" (any unknown token), 2, 3, ... the vocabulary
        other:                   0 = "[UNK]",                     1, 2, ... the vocabulary

    ``adapt(texts)`` counts the tokens of every text and ranks them, most
    frequent first, ties broken by reverse token order (Keras's rule), keeping
    ``max_tokens`` indices in all (padding and OOV included). The OOV index's
    idf is the mean of the others (Keras).

    Args:
        max_tokens: most indices, special ones included; None: every token.
        standardize: ``"lower_and_strip_punctuation"`` (default), ``"lower"``,
            ``"strip_punctuation"``, None, or a function of one str to a str
            (Keras's callables take a tf string tensor; here a Python str).
        split: ``"whitespace"`` (default), ``"character"``, None (the whole
            string is one token), or a function of one str to a list of str.
        ngrams: None, n (widths 1..n) or a tuple of widths.
        output_mode: ``"int"`` (default), ``"multi_hot"``, ``"count"``, ``"tf_idf"``.
        output_sequence_length: int mode only: pad with 0 or cut to this length.
        pad_to_max_tokens: other modes: vectors ``max_tokens`` wide.
        vocabulary: tokens (a list, or a file path with one token a line),
            with or without the special ones first; None: ``adapt`` learns it.
        idf_weights: with a vocabulary and ``output_mode="tf_idf"``.

    Input shape: strings ``(batch,)`` or ``(batch, 1)``, a list or a NumPy
    array (one str: one sample).
    Output shape: int mode ``(batch, T)`` int64; other modes
    ``(batch, depth)`` float32 (``depth``: ``vocabulary_size()``, or
    ``max_tokens`` with ``pad_to_max_tokens``).

    A model that starts with the layer (``Sequential([layer, Embedding(...),
    ...])``, or ``layer(Input(shape=(1,), dtype="string"))``) fits, evaluates
    and predicts on raw strings: the layer is applied once to the whole
    array, the rest trains on its output. The vocabulary (and idf weights)
    are in ``get_config()``, so a saved model holding the layer loads with
    the same mapping.

    Raises:
        ValueError: a bad argument, a bad vocabulary, a call before the
            vocabulary is known; TypeError: numbers instead of strings.

    Example:
        >>> layer = TextVectorization(output_sequence_length=4)
        >>> layer.adapt(["foo bar", "bar baz", "baz bada boom"])
        >>> layer.get_vocabulary()
        ['', '[UNK]', 'baz', 'bar', 'foo', 'boom', 'bada']
        >>> layer(["foo qux bar", "qux baz"]).tolist()
        [[4, 1, 3, 0], [1, 2, 0, 0]]
    """

    equation = "y[t] = index(ngrams(split(standardize(s)))[t]), 0-padded"
    min_rank = 0
    casts_integer_inputs = False  # texts in; integer inputs stay as they are

    def __init__(self, max_tokens: int | None = None, standardize: Any = "lower_and_strip_punctuation",
                 split: Any = "whitespace", ngrams: int | tuple[int, ...] | None = None, output_mode: str = "int",
                 output_sequence_length: int | None = None, pad_to_max_tokens: bool = False, vocabulary: Any = None,
                 idf_weights: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        layer = f"TextVectorization '{self.name}'"
        reserved = 2 if output_mode == "int" else 1
        self.output_mode = check_lookup_args(layer, output_mode, max_tokens, pad_to_max_tokens, reserved)
        self.standardize = _check_choice(layer, "standardize", _function_of(standardize), STANDARDIZE,
                                         "'lower_and_strip_punctuation'")
        self.split = _check_choice(layer, "split", _function_of(split), SPLIT, "'whitespace'")
        self.ngrams = list(ngrams) if isinstance(ngrams, tuple) else ngrams
        self._widths = _check_ngrams(layer, ngrams)
        if output_sequence_length is not None:
            if self.output_mode != "int":
                raise ValueError(
                    f"{layer}: expected output_sequence_length only with output_mode='int' (a sequence of "
                    f"indices), got output_sequence_length={output_sequence_length!r} with "
                    f"output_mode={self.output_mode!r}, whose vectors are vocabulary-wide. Fix: drop "
                    "output_sequence_length, or output_mode='int'."
                )
            if isinstance(output_sequence_length, bool) or not isinstance(output_sequence_length, (int, np.integer)) \
                    or output_sequence_length <= 0:
                raise ValueError(
                    f"{layer}: expected output_sequence_length None or a positive integer, got "
                    f"{output_sequence_length!r}. Fix: output_sequence_length=500 pads or cuts every text to "
                    "500 tokens."
                )
        self.max_tokens, self.pad_to_max_tokens = max_tokens, bool(pad_to_max_tokens)
        self.output_sequence_length = None if output_sequence_length is None else int(output_sequence_length)
        self.vocab = Vocabulary(layer, self.output_mode, "", OOV_TOKEN, 1, max_tokens, self.pad_to_max_tokens)
        self.register_buffer("_device", torch.zeros(0), persistent=False)  # where outputs go (follows .to())
        if vocabulary is not None:
            self.vocab.set(vocabulary, idf_weights)
        elif idf_weights is not None:
            self.vocab.set([], idf_weights)  # refused with the right message

    # ---------------------------------------------------------------- text
    def _tokens(self, inputs: Any) -> tuple[list[list[str]], bool]:
        """Each sample's tokens, and whether the input was one string."""
        layer = f"TextVectorization '{self.name}'"
        array = as_strings(layer, inputs)
        single = array.ndim == 0
        rows = array.reshape(1, 1) if single else (array.reshape(-1, 1) if array.ndim == 1 else array)
        if self.split is not None and (rows.ndim != 2 or rows.shape[1] != 1):
            raise ValueError(
                f"{layer}: expected texts of shape (batch,) or (batch, 1), one string per sample, got shape "
                f"{array.shape}. Fix: texts.reshape(-1) (one text per sample), or join each sample's strings."
            )
        rows = rows.reshape(len(rows), -1)
        tokens = []
        for row in rows.tolist():
            words = [w for s in row for w in split_text(standardize_text(s, self.standardize), self.split)]
            tokens.append(ngrams_of(words, self._widths))
        return tokens, single

    def adapt(self, data: Any) -> None:
        """Learn the vocabulary (and, for TF-IDF, the idf weights) from texts:
        a list or array of strings, one document each (``fortunes.load_fortunes()``
        gives such a list), or an iterable of such batches, as Keras adapts on a
        dataset of texts (a DataLoader of texts; for one of (texts, labels):
        ``adapt(texts for texts, labels in loader)``). Batches give the
        vocabulary of their concatenation."""
        layer = f"TextVectorization '{self.name}'"
        self.vocab.adapt(tokens for batch in string_batches(layer, data) for tokens in self._tokens(batch)[0])

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        """The tokens in index order (padding "" and "[UNK]" first by default)."""
        return self.vocab.get(include_special_tokens)

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Replace the vocabulary (and idf weights); see ``vocabulary``."""
        self.vocab.set(vocabulary, idf_weights)

    def vocabulary_size(self) -> int:
        """Number of indices, the padding and OOV ones included."""
        return self.vocab.size()

    # ---------------------------------------------------------------- call
    def takes_text(self) -> bool:
        return True

    def forward(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> torch.Tensor:
        done = text_call(self, inputs, kwargs)
        if done is not None:
            return done
        tokens, single = self._tokens(inputs)
        if self.output_mode != "int":
            out = self.vocab.bags(tokens)
            return (out[0] if single else out).to(self._device.device)
        ids = [self.vocab.lookup(t) for t in tokens]
        length = self.output_sequence_length or max((len(i) for i in ids), default=0)
        out = np.zeros((len(ids), length), dtype=np.int64)  # (N, T), 0 = padding
        for n, row in enumerate(ids):
            row = row[:length]
            out[n, :len(row)] = row
        result = torch.from_numpy(out)
        return (result[0] if single else result).to(self._device.device)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        batch = tuple(input_shape[:1])
        if self.output_mode == "int":
            return batch + (self.output_sequence_length,)
        return batch + (self.vocab.depth(),)

    def get_config(self) -> dict[str, Any]:
        """The arguments, the learned vocabulary (and idf weights) included, so a
        loaded model maps texts as this one does."""
        layer = f"TextVectorization '{self.name}'"
        vocabulary = self.vocab.get() if self.vocab.tokens is not None else None
        idf = None if self.vocab.idf is None else [float(w) for w in self.vocab.idf]
        return {**super().get_config(), "max_tokens": self.max_tokens,
                "standardize": _function_name(layer, "standardize", self.standardize),
                "split": _function_name(layer, "split", self.split), "ngrams": self.ngrams,
                "output_mode": self.output_mode, "output_sequence_length": self.output_sequence_length,
                "pad_to_max_tokens": self.pad_to_max_tokens, "vocabulary": vocabulary, "idf_weights": idf}


def _function_of(value: Any) -> Any:
    """A config's ``{"function": name}`` back to the registered function."""
    if isinstance(value, dict) and set(value) == {"function"}:
        return _registry.lookup(value["function"], "function")
    return value
