"""Text recipe: a character-level Transformer language model on Debian's fortunes.

``char-transformer`` reads the English fortunes (``brainnet.datasets.fortunes``,
every tenth fortune held out for validation), cuts the text into windows of
``SEQUENCE_LENGTH`` characters and trains a GPT-style decoder to predict,
at every position, the next character. It reports the validation loss in nats
per character (and bits: nats / ln 2) next to the unigram entropy of the
validation text (what a model that ignores context can reach at best),
and ends by sampling text from a fixed prompt.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

import brainnet
from brainnet import Input, Model
from brainnet._atomic import atomic_write
from brainnet.datasets import fortunes
from brainnet.layers import Add, Dense, Embedding, LayerNormalization, PositionEmbedding, TransformerDecoder
from brainnet.losses import SparseCategoricalCrossentropy
from brainnet.optimizers import Adam
from brainnet.optimizers.schedules import CosineDecay
from brainnet.text import CharTokenizer, generate
from brainnet.utils import set_random_seed

from ._common import EpochTimer, Recipe, RunConfig, _data_dir_env, write_outputs

# The defaults, chosen so that `brainnet run char-transformer` takes about five
# minutes on 2 CPU cores (see README) and still learns words and layout.
SEQUENCE_LENGTH = 64  # characters of context; every position is a prediction
D_MODEL, NUM_HEADS, INTERMEDIATE_DIM, NUM_BLOCKS = 128, 4, 512, 2
EPOCHS, BATCH_SIZE, LEARNING_RATE = 2, 16, 2e-3
PROMPT, SAMPLE_LENGTH, TEMPERATURE, TOP_K = "The ", 400, 0.8, 10
VOCABULARY_FILE = "vocabulary.json"


def char_transformer(
    vocab_size: int, sequence_length: int = SEQUENCE_LENGTH, d_model: int = D_MODEL,
    num_heads: int = NUM_HEADS, intermediate_dim: int = INTERMEDIATE_DIM, num_blocks: int = NUM_BLOCKS,
) -> Model:
    """A decoder-only (GPT-style) Transformer over characters.

    Equations, for ids ``x_1 … x_T``::

        h⁰_t = E[x_t] + P[t]                          token and learned position embeddings
        hˡ   = TransformerDecoder(hˡ⁻¹)               ×num_blocks; pre-norm, causal: step t sees steps ≤ t
        z_t  = W · LN(hᴸ_t) + b                       logits over the vocabulary

    and ``p(x_{t+1} | x_≤t) = softmax(z_t)``. The logits are the output (no
    softmax layer): train with ``SparseCategoricalCrossentropy(from_logits=True)``
    on next-character targets of shape ``(N, T)``.

    Args:
        vocab_size: ids in the vocabulary (``CharTokenizer.vocab_size``).
        sequence_length: ``T``, the longest context (default 64).
        d_model: the width of every position's vector (default 128).
        num_heads: attention heads per block (default 4, 32 features each).
        intermediate_dim: the feed-forward network's hidden size (default 512).
        num_blocks: decoder blocks (default 2).

    Returns:
        A functional ``Model`` from ``(N, T)`` int64 ids to ``(N, T, vocab_size)``
        logits; 0.43 million weights for 112 characters.

    Example:
        >>> model = char_transformer(vocab_size=50, sequence_length=16, num_blocks=1)
        >>> model.compute_output_shape((None, 16))
        (None, 16, 50)
    """
    ids = Input(shape=(sequence_length,), dtype="int64")
    x = Embedding(vocab_size, d_model)(ids)  # (N, T, d)
    x = Add()([x, PositionEmbedding(sequence_length)(x)])  # + P[t]
    for _ in range(num_blocks):
        x = TransformerDecoder(intermediate_dim, num_heads, normalize_first=True)(x)
    x = LayerNormalization()(x)  # pre-norm blocks leave the last residual sum unnormalised
    logits = Dense(vocab_size)(x)  # (N, T, V)
    return Model(inputs=ids, outputs=logits)


def windows(ids: np.ndarray, sequence_length: int, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cuts a text's ids into non-overlapping windows and their next-character targets.

    Window ``n`` is ``x[n] = ids[nT : nT + T]`` and ``y[n] = ids[nT + 1 : nT + T + 1]``
    (the same characters shifted by one), so each character of the text is a
    target exactly once; the last ``< T + 1`` characters are dropped.

    Args:
        ids: a text's ids, shape ``(L,)``.
        sequence_length: ``T``.
        limit: keep the first ``limit`` windows; None: all.

    Returns:
        ``(x, y)``, int64 arrays of shape ``(n, T)``.

    Raises:
        ValueError: the text is too short for one window.
    """
    n = (len(ids) - 1) // sequence_length
    if limit is not None:
        n = min(n, limit)
    if n < 1:
        raise ValueError(
            f"windows: expected a text of at least {sequence_length + 1} characters (one window of "
            f"sequence_length={sequence_length} and its next character), got {len(ids)}. "
            "Fix: use more text, or a shorter sequence_length."
        )
    x = ids[: n * sequence_length].reshape(n, sequence_length)
    y = ids[1 : n * sequence_length + 1].reshape(n, sequence_length)
    return x.astype(np.int64), y.astype(np.int64)


def unigram_entropy(text: str) -> float:
    """``H = −Σ_c p(c) ln p(c)`` in nats, with ``p`` the character frequencies
    of ``text`` itself: the lowest loss a model ignoring context can get on it."""
    counts = np.array(list(Counter(text).values()), dtype=np.float64)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def run_char_transformer(config: RunConfig) -> dict[str, Any]:
    """Trains the character Transformer on the English fortunes and samples from it.

    Data: ``fortunes.load_data()`` (``config.data_dir`` as
    ``$BRAINNET_DATA_DIR``, else ``/usr/share/games/fortunes``), one tokenizer
    for the characters of both texts, windows of 64 characters. With
    ``config.limit`` = N: the first N training windows (N · 64 characters)
    and the first max(N // 5, 1) validation windows. Model:
    ``char_transformer`` (2 pre-norm blocks, d_model 128, 4 heads). Training:
    Adam with a learning rate falling from 2e-3 to 0 over the run
    (``CosineDecay``), batch 16, 2 epochs by default, loss
    ``SparseCategoricalCrossentropy(from_logits=True)`` and per-character
    accuracy. Prints the validation loss in nats and bits per character, the
    unigram entropy of the validation text, the training time and 400
    characters sampled from ``"The "`` (temperature 0.8, top-k 10, seed
    ``config.seed``). Writes, as every recipe does (``write_outputs``),
    ``model.weights.safetensors``, ``model.brainnet``, ``history.json``,
    ``training_curves.png``, ``report.html`` (curves, the sampled text, the
    attention of one validation window, the summary), and
    ``vocabulary.json`` (the tokenizer's config).

    Args:
        config: the run's options.

    Returns:
        The summary written to ``history.json``.

    Raises:
        DatasetNotFoundError: the fortunes are not installed.
    """
    set_random_seed(config.seed)
    with _data_dir_env(config.data_dir):
        train_text, validation_text = fortunes.load_data()
    tokenizer = CharTokenizer.from_text([train_text, validation_text])
    x_train, y_train = windows(tokenizer.encode(train_text), SEQUENCE_LENGTH, config.limit)
    val_limit = None if config.limit is None else max(config.limit // 5, 1)
    x_val, y_val = windows(tokenizer.encode(validation_text), SEQUENCE_LENGTH, val_limit)
    entropy = unigram_entropy(validation_text[1 : x_val.size + 1])  # of the characters predicted: y_val

    epochs, batch_size = config.epochs or EPOCHS, config.batch_size or BATCH_SIZE
    model = char_transformer(tokenizer.vocab_size)
    steps = epochs * -(-x_train.shape[0] // batch_size)
    optimizer = Adam(learning_rate=CosineDecay(LEARNING_RATE, decay_steps=steps))  # 2e-3 falling to 0 at the end
    model.compile(optimizer=optimizer, loss=SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], device=config.device)
    timer = EpochTimer()
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size,
                        validation_data=(x_val, y_val), callbacks=[timer])
    loss, accuracy = model.evaluate(x_val, y_val, verbose=0)
    sample = generate(model, tokenizer, PROMPT, SAMPLE_LENGTH, TEMPERATURE, TOP_K, seed=config.seed)
    print(f"validation loss: {loss:.4f} nats per character ({loss / math.log(2):.4f} bits)")
    print(f"unigram entropy of the validation text: {entropy:.4f} nats per character "
          f"({entropy / math.log(2):.4f} bits)")
    print(f"validation accuracy: {accuracy:.4f} (next character)")
    print(f"training time: {sum(timer.seconds):.1f} s, {len(timer.seconds)} epoch(s) of {x_train.size:,} "
          "training characters, each epoch's validation included")
    print(f"sample (temperature {TEMPERATURE}, top-k {TOP_K}):\n{sample}\n")

    summary = {
        "recipe": "char-transformer",
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "epochs": len(timer.seconds),
        "seconds_per_epoch": timer.seconds,
        "validation_loss": float(loss),
        "validation_bits_per_character": float(loss / math.log(2)),
        "validation_accuracy": float(accuracy),
        "unigram_entropy": entropy,
        "sample": sample,
        "sampling": {"prompt": PROMPT, "length": SAMPLE_LENGTH, "temperature": TEMPERATURE, "top_k": TOP_K},
        "seed": config.seed,
        "batch_size": batch_size,
        "limit": config.limit,
        "sequence_length": SEQUENCE_LENGTH,
        "train_windows": int(x_train.shape[0]),
        "validation_windows": int(x_val.shape[0]),
        "vocab_size": tokenizer.vocab_size,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "device": str(model.trainer.device),
        "brainnet_version": brainnet.__version__,
        "torch_version": torch.__version__,
    }
    out = Path(config.out)
    paths = write_outputs(model, summary, out, x_test=x_val[:1])  # the report: attention of one window
    vocabulary = json.dumps(tokenizer.get_config(), ensure_ascii=False) + "\n"
    atomic_write(out / VOCABULARY_FILE, lambda tmp: Path(tmp).write_text(vocabulary, encoding="utf-8"))
    for path in [*paths, out / VOCABULARY_FILE]:
        print(f"wrote {path}")
    return summary


TEXT_RECIPES = (
    Recipe(
        "char-transformer",
        "a character-level Transformer language model on Debian's English fortunes; samples text",
        run_char_transformer,
    ),
)
