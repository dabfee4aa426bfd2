"""Which fortune file does a fortune come from? Text classification as Keras teaches it.

Keras's text classification tutorial turns raw strings into integers with a
TextVectorization layer (lowercase, strip punctuation, split into words, look
each word up in a vocabulary learned by adapt), followed by an Embedding: each
word index becomes a learned vector, the vectors are averaged over the text
(GlobalAveragePooling1D) and one sigmoid unit gives p(text comes from the
second file). The model starts with the TextVectorization layer, so it fits,
evaluates and predicts on the raw strings themselves (fit applies that layer
once to all the texts and trains the rest on the indices). Here the texts are
Debian's fortunes from two files, `startrek` and `food`; every fourth fortune
is held out for the test.

Run it:

    python examples/text_classifier.py        # a few seconds on 2 cores

The fortunes come from Debian (`apt-get install fortunes`, read from
/usr/share/games/fortunes) or $BRAINNET_DATA_DIR/fortunes/.
"""

import os

import numpy as np

from brainnet.datasets import fortunes
from brainnet.layers import Dense, Dropout, Embedding, GlobalAveragePooling1D, TextVectorization
from brainnet.models import Sequential
from brainnet.optimizers import Adam
from brainnet.utils import set_random_seed

EPOCHS = int(os.environ.get("BRAINNET_EPOCHS", "30"))
FILES = ("startrek", "food")
set_random_seed(0)

texts, labels = [], []
for label, name in enumerate(FILES):
    found = fortunes.load_fortunes([name])
    texts += found
    labels += [label] * len(found)
texts, labels = np.array(texts, dtype=object), np.array(labels)
test = np.arange(len(texts)) % 4 == 3
print(f"{(~test).sum()} training and {test.sum()} test fortunes from {', '.join(FILES)}")

# Strings to integers: the vocabulary learned from the training texts only.
vectorize_layer = TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=100)
vectorize_layer.adapt(texts[~test])
print(f"vocabulary: {vectorize_layer.vocabulary_size()} indices, first {vectorize_layer.get_vocabulary()[:6]}")

# One model from raw strings to the probability.
model = Sequential([
    vectorize_layer,  # (N,) strings -> (N, 100) int64 indices
    Embedding(vectorize_layer.vocabulary_size(), 16, mask_zero=True),  # index 0 is padding
    Dropout(0.2),
    GlobalAveragePooling1D(),
    Dense(1, activation="sigmoid"),
])
model.compile(optimizer=Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
model.fit(texts[~test], labels[~test], epochs=EPOCHS, batch_size=32, verbose=0)
loss, accuracy = model.evaluate(texts[test], labels[test], verbose=0)
majority = max(labels[test].mean(), 1 - labels[test].mean())
print(f"test accuracy: {accuracy:.4f} (always guessing the larger file: {majority:.4f})")

for text in ["Captain, the warp engines cannot take it, she'll blow.", "Bake the bread with butter and cheese."]:
    p = float(model.predict(np.array([text]), verbose=0)[0, 0])
    print(f"{text!r}: {FILES[int(p > 0.5)]} (p(food) = {p:.2f})")
