"""Text for language models: ``CharTokenizer`` (characters ↔ integer ids) and
``generate`` (sampling text from a model one character at a time).

A character-level language model reads token ids ``x_1 … x_t`` and gives, at
every step, logits ``z`` over the vocabulary for the next character:
``p(x_{t+1} = v | x_≤t) = softmax(z_t)_v``. ``generate`` feeds each sampled
character back in (autoregression).

    >>> tokenizer = CharTokenizer.from_text("hello world")
    >>> tokenizer.vocabulary
    ['\\ufffd', ' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w']
    >>> tokenizer.encode("hello").tolist()
    [4, 3, 5, 5, 6]
    >>> tokenizer.decode([4, 3, 5, 5, 6])
    'hello'
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from .models import Model

__all__ = ["CharTokenizer", "UNKNOWN", "generate"]

UNKNOWN = "\ufffd"  # id 0: any character not in the vocabulary (the Unicode replacement character)


class CharTokenizer:
    """Maps each character of a fixed vocabulary to an integer id and back.

    Id 0 stands for every character outside the vocabulary (decoded as
    ``UNKNOWN``, "\\ufffd"); the known characters take ids 1, 2, … in sorted
    (code point) order, so the same text always gives the same ids.

    Args:
        characters: the known characters (a string or a sequence of
            one-character strings), each once; sorted here.

    Raises:
        ValueError: an item that is not one character, a repeated character,
            or ``UNKNOWN`` itself among them.

    Example:
        >>> tokenizer = CharTokenizer("ba")
        >>> tokenizer.vocab_size, tokenizer.encode("abc").tolist()
        (3, [1, 2, 0])
    """

    def __init__(self, characters: str | Sequence[str]) -> None:
        chars = list(characters)
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise ValueError(
                f"CharTokenizer: expected single characters, got {bad[0]!r}. "
                "Fix: CharTokenizer.from_text(text) takes each character of a text once."
            )
        if UNKNOWN in chars:
            raise ValueError(
                f"CharTokenizer: expected characters other than {UNKNOWN!r} (id 0 stands for every unknown "
                f"character), got {UNKNOWN!r} among them. Fix: leave it out; unknown characters already map to id 0."
            )
        twice = next((c for c in chars if chars.count(c) > 1), None)
        if twice is not None:
            raise ValueError(
                f"CharTokenizer: expected each character once, got {twice!r} twice. "
                "Fix: CharTokenizer(sorted(set(characters))), or CharTokenizer.from_text(text)."
            )
        self.vocabulary: list[str] = [UNKNOWN] + sorted(chars)
        self._ids = {c: i for i, c in enumerate(self.vocabulary)}
        self._ids.pop(UNKNOWN)

    @classmethod
    def from_text(cls, text: str | Iterable[str]) -> "CharTokenizer":
        """A tokenizer whose vocabulary is every character of ``text`` (a
        string, or several strings), except ``UNKNOWN``."""
        pieces = [text] if isinstance(text, str) else list(text)
        chars = set().union(*map(set, pieces)) if pieces else set()
        chars.discard(UNKNOWN)
        return cls(sorted(chars))

    @property
    def vocab_size(self) -> int:
        """Number of ids, the unknown one included: a model's output units."""
        return len(self.vocabulary)

    def unknown_characters(self, text: str) -> list[str]:
        """The characters of ``text`` outside the vocabulary, each once, in order."""
        return list(dict.fromkeys(c for c in text if c not in self._ids))

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text``'s characters, int64 of shape ``(len(text),)``;
        0 for a character outside the vocabulary."""
        get = self._ids.get
        return np.fromiter((get(c, 0) for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids: Iterable[int] | np.ndarray | torch.Tensor) -> str:
        """The text of a sequence of ids (0 gives ``UNKNOWN``).

        Raises:
            ValueError: an id outside ``[0, vocab_size)``.
        """
        values = np.asarray(ids.cpu() if isinstance(ids, torch.Tensor) else list(ids), dtype=np.int64).reshape(-1)
        if values.size and (values.min() < 0 or values.max() >= self.vocab_size):
            bad = int(values.min() if values.min() < 0 else values.max())
            raise ValueError(
                f"CharTokenizer.decode: expected ids in [0, {self.vocab_size}), got {bad}. "
                "Fix: decode ids made by this tokenizer (a model with vocab_size output units)."
            )
        return "".join(self.vocabulary[i] for i in values)

    def get_config(self) -> dict[str, Any]:
        """``{"characters": "..."}``, JSON-safe; ``from_config`` rebuilds it."""
        return {"characters": "".join(self.vocabulary[1:])}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "CharTokenizer":
        """The tokenizer ``get_config`` describes: ``cls(**config)``."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


def _context_length(model: nn.Module) -> int | None:
    """The longest input a brainnet model was built for, ``input_shape[1]``; None: any."""
    if isinstance(model, Model) and isinstance(model.input_shape, tuple) and len(model.input_shape) == 2:
        return model.input_shape[1]
    return None


def _check_sampling(tokenizer: CharTokenizer, prompt: str, length: int, temperature: float,
                    top_k: int | None) -> None:
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(
            f"generate: expected a non-empty prompt string, got {prompt!r}. "
            "Fix: generate(model, tokenizer, prompt='The ', length=200)."
        )
    unknown = tokenizer.unknown_characters(prompt)
    if unknown:
        raise ValueError(
            f"generate: expected a prompt made of the tokenizer's {tokenizer.vocab_size - 1} characters, "
            f"got {''.join(unknown)!r} outside its vocabulary (the model never learned them). "
            "Fix: remove or replace those characters in the prompt."
        )
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"generate: expected length ≥ 0 (characters to add), got {length!r}. Fix: length=200.")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
        raise ValueError(
            f"generate: expected temperature ≥ 0, got {temperature!r}. "
            "Fix: temperature=1.0 samples the model's distribution, lower is more conservative, 0 is greedy."
        )
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                              or not 1 <= top_k <= tokenizer.vocab_size):
        raise ValueError(
            f"generate: expected top_k None or an integer in [1, {tokenizer.vocab_size}] (the vocabulary "
            f"size), got {top_k!r}. Fix: top_k=None keeps every character, top_k=10 the ten most probable."
        )


@torch.no_grad()
def generate(
    model: nn.Module,
    tokenizer: CharTokenizer,
    prompt: str,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
) -> str:
    """Samples ``length`` characters after ``prompt``, one at a time.

    At each step the model reads the last ``T`` ids (``T``: the sequence
    length the model was built for, ``input_shape[1]``; the whole text for a
    model without one) and the logits ``z`` at the last position give::

        p_v = softmax(z / temperature)_v      over the top_k largest z_v (the others get p_v = 0)

    and the next id is drawn from ``p`` (``temperature=0``: the argmax, greedy
    decoding). Lower temperatures concentrate ``p`` on the likeliest
    characters; ``top_k`` never lets an unlikely one through. A brainnet model
    ending in ``Dense(..., activation="softmax")`` is read before its softmax.

    Args:
        model: maps ``(N, T)`` int64 ids to ``(N, T, vocab_size)`` logits;
            run in inference mode (dropout off) on its weights' device.
        tokenizer: the ``CharTokenizer`` the model was trained with.
        prompt: the start of the text, at least one character, all in the
            tokenizer's vocabulary.
        length: characters to add (≥ 0).
        temperature: divides the logits; ≥ 0, default 1.0 (the model's own
            distribution), 0 greedy.
        top_k: sample among the ``top_k`` most probable characters only;
            None (default): all.
        seed: seed of a private random generator, so the same seed gives the
            same text; None: the global torch generator
            (``brainnet.utils.set_random_seed`` makes it repeatable).

    Returns:
        ``prompt`` followed by the ``length`` sampled characters.

    Raises:
        ValueError: an empty prompt or one with characters outside the
            vocabulary, a negative length or temperature, a ``top_k`` outside
            ``[1, vocab_size]``, or a model whose outputs are not
            ``(N, T, vocab_size)``.

    Example:
        >>> text = generate(model, tokenizer, "The ", 100, temperature=0.8, top_k=10, seed=0)  # doctest: +SKIP
    """
    _check_sampling(tokenizer, prompt, length, temperature, top_k)
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device)
        generator.manual_seed(int(seed))
    window = _context_length(model)
    fused = isinstance(model, Model) and model.output_activation_name == "softmax"
    ids = torch.as_tensor(tokenizer.encode(prompt), device=device)[None]  # (1, t)
    was_training = model.training
    model.eval()
    try:
        for _ in range(length):
            context = ids if window is None else ids[:, -window:]  # (1, ≤ T)
            logits = model(context, pre_activation=True) if fused else model(context)  # (1, t, V)
            if logits.dim() != 3 or logits.shape[-1] != tokenizer.vocab_size:
                raise ValueError(
                    f"generate: expected model outputs of shape (1, {context.shape[1]}, {tokenizer.vocab_size}) "
                    f"(logits over the tokenizer's vocabulary), got {tuple(logits.shape)}. Fix: a model "
                    f"ending in Dense({tokenizer.vocab_size}) applied at every step, trained with this tokenizer."
                )
            z = logits[0, -1].double()  # (V,)
            if temperature == 0:
                next_id = z.argmax()
            else:
                z = z / temperature
                if top_k is not None and top_k < z.numel():
                    top = torch.topk(z, top_k)  # exactly k, ties broken by index
                    z = torch.full_like(z, float("-inf")).scatter(0, top.indices, top.values)
                next_id = torch.multinomial(torch.softmax(z, dim=-1), 1, generator=generator)[0]
            ids = torch.cat([ids, next_id.reshape(1, 1)], dim=1)  # (1, t + 1)
    finally:
        model.train(was_training)
    return tokenizer.decode(ids[0])
