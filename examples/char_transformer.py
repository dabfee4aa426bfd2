"""A character-level Transformer language model that writes fortunes.

A language model reads text one character at a time and, at every step t,
gives a probability to each possible next character: p(x_{t+1} | x_1 … x_t).
This program trains a small GPT-style decoder on Debian's English fortunes:
characters become vectors (Embedding) plus a learned position vector, two
decoder blocks let each position attend to the positions before it (causal
self-attention, A = softmax(QKᵀ/√d_k) with the future masked), and a Dense
layer gives logits over the characters at every position. The loss is the
cross-entropy of the true next character, averaged over every position:
nats per character (divide by ln 2 for bits). Then it writes new text by
sampling one character at a time and feeding it back in. It is not a printed
program of the material, so there is nothing to mark as changed.

Run it:

    python examples/char_transformer.py                                     # 2 epochs, about 5 minutes on 2 cores
    BRAINNET_EPOCHS=1 BRAINNET_LIMIT=3000 python examples/char_transformer.py   # a quick try

The fortunes come from Debian (`apt-get install fortunes`, read from
/usr/share/games/fortunes) or $BRAINNET_DATA_DIR/fortunes/.
`brainnet run char-transformer` runs the same recipe and saves the weights,
the vocabulary and plots.
"""

import math
import os

from brainnet.models import Model
from brainnet.layers import Input, Embedding, PositionEmbedding, Add, TransformerDecoder, LayerNormalization, Dense
from brainnet.losses import SparseCategoricalCrossentropy
from brainnet.optimizers import Adam
from brainnet.optimizers.schedules import CosineDecay
from brainnet.datasets import fortunes
from brainnet.text import CharTokenizer, generate
from brainnet.utils import set_random_seed

# BRAINNET_EPOCHS (default 2) and BRAINNET_LIMIT (default: all the text) let a test run this quickly.
EPOCHS = int(os.environ.get("BRAINNET_EPOCHS", "2"))
LIMIT = int(os.environ["BRAINNET_LIMIT"]) if os.environ.get("BRAINNET_LIMIT") else None
sequence_length, d_model = 64, 128  # characters of context, features per position

set_random_seed(0)  # one seed for the weights, the shuffling and the sampling

# Every tenth fortune is held out for validation, so no fortune is in both texts.
train_text, validation_text = fortunes.load_data()
tokenizer = CharTokenizer.from_text([train_text, validation_text])  # id 0: unknown, then the characters, sorted
print(f"{len(train_text):,} training and {len(validation_text):,} validation characters, "
      f"{tokenizer.vocab_size} ids")


def windows(text, limit):
    """Non-overlapping windows x of T characters and the next characters y (x shifted by one)."""
    ids = tokenizer.encode(text)
    n = (len(ids) - 1) // sequence_length
    n = n if limit is None else min(n, limit)
    x = ids[: n * sequence_length].reshape(n, sequence_length)  # (n, T)
    y = ids[1 : n * sequence_length + 1].reshape(n, sequence_length)  # (n, T): y[i, t] = x[i, t + 1]
    return x, y


# With BRAINNET_LIMIT=N: the first N training windows and the first N // 5 validation windows.
x_train, y_train = windows(train_text, LIMIT)
x_val, y_val = windows(validation_text, None if LIMIT is None else max(LIMIT // 5, 1))

ids = Input(shape=(sequence_length,), dtype="int64")
x = Embedding(tokenizer.vocab_size, d_model)(ids)  # each character id -> a learned vector
x = Add()([x, PositionEmbedding(sequence_length)(x)])  # + a learned vector for each position
for _ in range(2):  # two decoder blocks: causal self-attention, then a feed-forward network, each pre-normed
    x = TransformerDecoder(intermediate_dim=512, num_heads=4, normalize_first=True)(x)
x = LayerNormalization()(x)
logits = Dense(tokenizer.vocab_size)(x)  # (N, T, vocab): a score for every next character, at every position
model = Model(inputs=ids, outputs=logits)
model.summary(show_equations=True)

# The learning rate falls from 0.002 to 0 along a cosine over all the steps: large steps first, small at the end.
steps = EPOCHS * -(-len(x_train) // 16)  # batches of 16 windows, the last one possibly smaller
optimizer = Adam(learning_rate=CosineDecay(0.002, decay_steps=steps))
# The targets are class ids of shape (N, T), one per position; the outputs are logits, so from_logits=True.
model.compile(optimizer=optimizer, loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
model.fit(x_train, y_train, epochs=EPOCHS, batch_size=16, validation_data=(x_val, y_val))
loss, accuracy = model.evaluate(x_val, y_val)
print(f"validation loss: {loss:.4f}")
print(f"validation bits per character: {loss / math.log(2):.4f}\nvalidation accuracy: {accuracy:.4f}")

# Sample 400 characters after "The ": temperature 0.8 sharpens the distribution, top_k=10 keeps the 10 likeliest.
text = generate(model, tokenizer, "The ", length=400, temperature=0.8, top_k=10, seed=0)
print(f"generated text:\n{text}")
