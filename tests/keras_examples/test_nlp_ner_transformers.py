"""keras.io example "Named Entity Recognition using Transformers"
(https://keras.io/examples/nlp/ner_transformers/; the stored copy is the
tf.keras version), ported as a learner would: ``import brainnet as keras``
and ``from brainnet import layers`` in place of the Keras imports,
``tf.shape`` / ``tf.range`` / ``tf.reshape`` / ``tf.reduce_sum`` as their
torch calls, the rest of the user code as the example writes it: the
``TransformerBlock`` and ``TokenAndPositionEmbedding`` layers, the
subclassed ``NERModel``, the tab-separated export and its record parser,
``StringLookup`` over the training tokens, and the
``CustomNonPaddingTokenLoss`` that leaves padded positions out, but for
what follows.

Replaced, and why:

- CoNLL 2003 (downloaded through Hugging Face's ``datasets`` in the
  example) is a token-tagging set the test makes from Debian fortunes: the
  fortunes of two files rich in names (``people``, ``startrek``) cut into
  sentences after ``.``, ``!`` or ``?`` (about 3,300, every fifth held
  out), their whitespace-separated words the tokens, tagged by rules in IOB
  form as CoNLL is: ``CAP`` for a word whose first letter is a capital,
  ``NUM`` for one with digits and no letters, ``B-`` opening a run of such
  words and ``I-`` continuing it (``"Captain James T. Kirk"`` is ``B-CAP
  I-CAP I-CAP I-CAP``; a comma, or a full stop after more than one letter,
  ends a run), ``O`` otherwise. So ``make_tag_lookup_table`` lists ``CAP``
  and ``NUM`` in place of ``PER``, ``ORG``, ``LOC`` and ``MISC``. The
  example lowercases the tokens before the lookup, as here, so the model
  tells capitals from the word and its place (a sentence's first word,
  "i", names), as it tells entities from the word and its context in
  CoNLL.
- ``CustomNonPaddingTokenLoss`` is Keras 3's: ``from_logits=False,
  reduction=None`` (the stored tf.keras copy passes ``from_logits=True``
  to a softmax output, and ``keras.losses.Reduction.NONE``, which Keras 3
  dropped).
- ``tf.data.TextLineDataset(path)`` is the file's lines;
  ``.map(map_record_to_training_data).map(...)`` maps each line in Python
  (``tf.strings.split`` is ``str.split``, ``tf.strings.lower`` is
  ``str.lower``, ``tf.strings.to_number`` is ``int``);
  ``.padded_batch(batch_size)`` is a ``torch.utils.data.DataLoader`` with a
  ``collate_fn`` that pads each batch to its longest sentence with 0 by
  ``keras.utils.pad_sequences(..., padding="post")``; in
  ``calculate_metrics`` the batch's ``y`` is a torch tensor, read with
  ``np.asarray`` (``np.reshape`` would hand back a tensor).
- ``conlleval.evaluate`` (a downloaded script) is a small chunk-level F1 in
  the test, counted as conlleval counts it: a chunk is a ``B-`` tag and the
  ``I-`` tags of its type after it, right when type and span agree.
- ``sum(conll_data["train"]["tokens"], [])`` is
  ``itertools.chain.from_iterable`` over the records' tokens: ``sum``
  copies the growing list at each sentence (4.6 s of the test's time on
  four fortune files).
- The sample sentence is one of fortune words ("i think spock, kirk, and
  mccoy, would know about oscar wilde") in place of "eu rejects german call
  to boycott british lamb".
- Shortened for CI: about 2,650 training sentences of 10 words in place of
  14,000 of 14, 5 epochs in place of 10; the model's sizes are the
  example's.

Measured here (seeded, on CPU): the training loss falls from 0.50 to 0.07
in 5 epochs; on the held-out sentences 91% of the tokens get their tag
(``O`` everywhere: 80%), chunk F1 0.70 (``CAP`` 0.73); the sample sentence
is tagged right but for "wilde" (``O`` in place of ``I-CAP``). Three other
seeds gave 91 to 94%, F1 0.70 to 0.76, and 9 or 10 of the sample's 10
checked words right.

What the tests check, section by section: the exported records read back
as the example parses them and the tag table ("Load the CoNLL 2003
dataset", "Make the NER label lookup table"); the token ids against the
vocabulary and the padded batches; ``TokenAndPositionEmbedding`` and the
``TransformerBlock`` against NumPy; the masked loss against a NumPy masked
cross-entropy, padding left out ("custom loss function"); that the trained
model's loss falls and it tags held-out tokens far better than ``O``
everywhere ("Compile and fit the model", "Metrics calculation"), and the
sample sentence's tags.
"""

from __future__ import annotations

import itertools
import os
import re
import string
from collections import Counter

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers
from brainnet.datasets import fortunes

FILES = ("people", "startrek")


class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
        super().__init__()
        self.att = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential(
            [
                keras.layers.Dense(ff_dim, activation="relu"),
                keras.layers.Dense(embed_dim),
            ]
        )
        self.layernorm1 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = keras.layers.Dropout(rate)
        self.dropout2 = keras.layers.Dropout(rate)

    def call(self, inputs, training=False):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output, training=training)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output, training=training)
        return self.layernorm2(out1 + ffn_output)


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = keras.layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = keras.layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, inputs):
        maxlen = inputs.shape[-1]  # tf.shape(inputs)[-1]
        positions = torch.arange(0, maxlen, 1, device=inputs.device)  # tf.range(start=0, limit=maxlen, delta=1)
        position_embeddings = self.pos_emb(positions)
        token_embeddings = self.token_emb(inputs)
        return token_embeddings + position_embeddings


class NERModel(keras.Model):
    def __init__(self, num_tags, vocab_size, maxlen=128, embed_dim=32, num_heads=2, ff_dim=32):
        super().__init__()
        self.embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
        self.transformer_block = TransformerBlock(embed_dim, num_heads, ff_dim)
        self.dropout1 = layers.Dropout(0.1)
        self.ff = layers.Dense(ff_dim, activation="relu")
        self.dropout2 = layers.Dropout(0.1)
        self.ff_final = layers.Dense(num_tags, activation="softmax")

    def call(self, inputs, training=False):
        x = self.embedding_layer(inputs)
        x = self.transformer_block(x)
        x = self.dropout1(x, training=training)
        x = self.ff(x)
        x = self.dropout2(x, training=training)
        x = self.ff_final(x)
        return x


class CustomNonPaddingTokenLoss(keras.losses.Loss):
    def __init__(self, name="custom_ner_loss"):
        super().__init__(name=name)

    def call(self, y_true, y_pred):
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=False, reduction=None)
        loss = loss_fn(y_true, y_pred)
        mask = (y_true > 0).to(torch.float32)  # ops.cast((y_true > 0), dtype="float32")
        loss = loss * mask
        return torch.sum(loss) / torch.sum(mask)  # ops.sum(loss) / ops.sum(mask)


def make_tag_lookup_table():
    iob_labels = ["B", "I"]
    ner_labels = ["CAP", "NUM"]  # the example: ["PER", "ORG", "LOC", "MISC"]
    all_labels = [(label1, label2) for label2 in ner_labels for label1 in iob_labels]
    all_labels = ["-".join([a, b]) for a, b in all_labels]
    all_labels = ["[PAD]", "O"] + all_labels
    return dict(zip(range(0, len(all_labels) + 1), all_labels))


# ------------------------------------------------------------------ CoNLL's stand-in
def entity_of(token):
    core = token.strip(string.punctuation)
    if core and any(c.isdigit() for c in core) and not any(c.isalpha() for c in core):
        return "NUM"
    return "CAP" if core[:1].isupper() else None


def tag_line(tokens):
    """CoNLL's ner_tags (O = 0, then B-/I- of each type) of one sentence, by the rules in the docstring."""
    ids = {"O": 0, "B-CAP": 1, "I-CAP": 2, "B-NUM": 3, "I-NUM": 4}
    tags, previous = [], None
    for token in tokens:
        entity = entity_of(token)
        tags.append(ids["O"] if entity is None else ids[("I-" if entity == previous else "B-") + entity])
        ends = token[-1] in ",;:!?" or (token[-1] == "." and len(token.strip(string.punctuation)) > 1)
        previous = None if ends else entity  # punctuation ends a run, but for an initial's full stop ("T.")
    return tags


def conll_records():
    """load_dataset("conll2003")'s stand-in: {"tokens", "ner_tags"} per fortune sentence, every fifth held out."""
    if not all((fortunes.SYSTEM_DIR / name).is_file() for name in FILES):
        pytest.skip(f"Debian's fortunes are not in {fortunes.SYSTEM_DIR}: apt-get install fortunes")
    texts = [" ".join(text.split()) for text in fortunes.load_fortunes(list(FILES))]  # lines joined
    sentences = [s.split() for text in texts for s in re.split(r"(?<=[.!?])\s+", text)]
    records = [{"tokens": tokens, "ner_tags": tag_line(tokens)} for tokens in sentences if tokens]
    return {"train": [r for i, r in enumerate(records) if i % 5 != 4],
            "validation": [r for i, r in enumerate(records) if i % 5 == 4]}


def evaluate(real_tags, predicted_tags):
    """conlleval's overall chunk F1 (and each type's): chunks are B-X followed by I-X tags."""
    def chunks(tags):
        found, start = set(), None
        for i, tag in enumerate(list(tags) + ["O"]):
            if start is not None and not (tag.startswith("I-") and tag[2:] == tags[start][2:]):
                found.add((start, i, tags[start][2:]))
                start = None
            if tag.startswith("B-") or (tag.startswith("I-") and start is None):
                start = i
        return found

    real, predicted = chunks(real_tags), chunks(predicted_tags)
    scores = {}
    for kind in sorted({c[2] for c in real | predicted}) + [None]:
        r = {c for c in real if kind in (None, c[2])}
        p = {c for c in predicted if kind in (None, c[2])}
        precision, recall = len(r & p) / max(len(p), 1), len(r & p) / max(len(r), 1)
        scores[kind or "overall"] = 2 * precision * recall / max(precision + recall, 1e-12)
    return scores


# ------------------------------------------------------------------ the example
@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """Sections "Load the CoNLL 2003 dataset" to "Compile and fit the model", run once."""
    keras.utils.set_random_seed(0)
    conll_data = conll_records()
    data_dir = tmp_path_factory.mktemp("data")

    def export_to_file(export_file_path, data):
        with open(export_file_path, "w") as f:
            for record in data:
                ner_tags = record["ner_tags"]
                tokens = record["tokens"]
                if len(tokens) > 0:
                    f.write(str(len(tokens)) + "\t" + "\t".join(tokens) + "\t" + "\t".join(map(str, ner_tags)) + "\n")

    export_to_file(os.path.join(data_dir, "conll_train.txt"), conll_data["train"])
    export_to_file(os.path.join(data_dir, "conll_val.txt"), conll_data["validation"])

    mapping = make_tag_lookup_table()
    all_tokens = list(itertools.chain.from_iterable(r["tokens"] for r in conll_data["train"]))  # sum(..., [])
    all_tokens_array = np.array(list(map(str.lower, all_tokens)))
    counter = Counter(all_tokens_array)

    num_tags = len(mapping)
    vocab_size = 20000
    # We only take (vocab_size - 2) most commons words from the training data since
    # the `StringLookup` class uses 2 additional tokens - one denoting an unknown
    # token and another one denoting a masking token
    vocabulary = [token for token, count in counter.most_common(vocab_size - 2)]
    # The StringLook class will convert tokens to token IDs
    lookup_layer = keras.layers.StringLookup(vocabulary=vocabulary)

    def text_lines(path):  # tf.data.TextLineDataset(path)
        with open(path) as f:
            return f.read().splitlines()

    train_data = text_lines(os.path.join(data_dir, "conll_train.txt"))
    val_data = text_lines(os.path.join(data_dir, "conll_val.txt"))

    def map_record_to_training_data(record):
        record = record.split("\t")  # tf.strings.split(record, sep="\t")
        length = int(record[0])  # tf.strings.to_number(record[0], out_type=tf.int32)
        tokens = record[1 : length + 1]
        tags = record[length + 1 :]
        tags = np.array([int(t) for t in tags], dtype=np.int64)  # tf.strings.to_number(tags, out_type=tf.int64)
        tags += 1
        return tokens, tags

    def lowercase_and_convert_to_ids(tokens):
        tokens = [t.lower() for t in tokens]  # tf.strings.lower(tokens)
        return lookup_layer(tokens)

    def padded_batch(pairs):  # .padded_batch(batch_size): each batch padded with 0 to its longest sentence
        x, y = zip(*pairs)
        return (torch.from_numpy(keras.utils.pad_sequences(x, padding="post", dtype="int64")),
                torch.from_numpy(keras.utils.pad_sequences(y, padding="post", dtype="int64")))

    # We use `padded_batch` here because each record in the dataset has a different length.
    batch_size = 32
    train_records = [map_record_to_training_data(r) for r in train_data]
    train_dataset = torch.utils.data.DataLoader(
        [(lowercase_and_convert_to_ids(x).numpy(), y) for x, y in train_records],
        batch_size=batch_size, collate_fn=padded_batch)
    val_dataset = torch.utils.data.DataLoader(
        [(lowercase_and_convert_to_ids(x).numpy(), y) for x, y in map(map_record_to_training_data, val_data)],
        batch_size=batch_size, collate_fn=padded_batch)

    ner_model = NERModel(num_tags, vocab_size, embed_dim=32, num_heads=4, ff_dim=64)
    loss = CustomNonPaddingTokenLoss()
    return dict(locals())


def test_the_records_round_trip_through_the_tab_separated_files(example):
    """Sections "Load the CoNLL 2003 dataset" and "Make the NER label lookup table"."""
    ex = example
    mapping = ex["mapping"]
    assert mapping == {0: "[PAD]", 1: "O", 2: "B-CAP", 3: "I-CAP", 4: "B-NUM", 5: "I-NUM"}
    records = ex["conll_data"]["train"]
    assert len(ex["train_data"]) == len(records) > 2000 and len(ex["val_data"]) == len(ex["conll_data"]["validation"])
    for line, record in zip(ex["train_data"][:200], records):
        tokens, tags = ex["map_record_to_training_data"](line)
        assert tokens == record["tokens"] and tags.tolist() == [t + 1 for t in record["ner_tags"]]
    tokens = "Captain James T. Kirk, born 2233 in Iowa, says hello.".split()
    assert [mapping[t + 1] for t in tag_line(tokens)] == [
        "B-CAP", "I-CAP", "I-CAP", "I-CAP", "O", "B-NUM", "O", "B-CAP", "O", "O"]
    counts = Counter(mapping[t + 1] for r in records for t in r["ner_tags"])
    assert set(counts) <= set(mapping.values()) - {"[PAD]"} and counts["O"] > counts["B-CAP"] > counts["B-NUM"] > 0


def test_the_token_ids_and_padded_batches(example):
    """Section "Create 2 new Dataset objects": lowercased ids through the lookup, batches padded with 0."""
    ex = example
    vocabulary, lookup_layer = ex["vocabulary"], ex["lookup_layer"]
    assert lookup_layer.get_vocabulary() == ["[UNK]"] + vocabulary and len(vocabulary) < ex["vocab_size"] - 1
    tokens, _ = ex["map_record_to_training_data"](ex["val_data"][3])
    index = {t: i + 1 for i, t in enumerate(vocabulary)}
    assert ex["lowercase_and_convert_to_ids"](tokens).tolist() == [index.get(t.lower(), 0) for t in tokens]
    x, y = next(iter(ex["train_dataset"]))
    lengths = [len(tags) for _, tags in ex["train_records"][: ex["batch_size"]]]
    assert tuple(x.shape) == tuple(y.shape) == (ex["batch_size"], max(lengths))
    for row_x, row_y, (_, tags), n in zip(x, y, ex["train_records"], lengths):
        assert row_y[:n].tolist() == tags.tolist() and not row_y[n:].any() and not row_x[n:].any()


def test_the_embedding_and_transformer_block_match_numpy(example):
    """The two layers of "Let's start by defining a TransformerBlock layer", inference mode, in float64."""
    embedding = TokenAndPositionEmbedding(maxlen=16, vocab_size=50, embed_dim=8)
    block = TransformerBlock(embed_dim=8, num_heads=2, ff_dim=6)
    ids = torch.randint(0, 50, (3, 5))
    x = embedding(ids)
    tok, pos = embedding.token_emb.embeddings.detach().numpy(), embedding.pos_emb.embeddings.detach().numpy()
    np.testing.assert_allclose(x.detach().numpy(), tok[ids.numpy()] + pos[:5], rtol=1e-6)
    out = block(x, training=False).detach().double().numpy()
    w = {name: p.detach().double().numpy() for name, p in block.named_parameters()}
    xs = x.detach().double().numpy()

    def dense(v, name):  # MultiHeadAttention's projections: (B, T, d) → (B, T, heads, key_dim)
        return np.einsum("btd,dhk->bthk", v, w[f"att.{name}_dense.kernel"]) + w[f"att.{name}_dense.bias"]

    q, k, v = dense(xs, "query"), dense(xs, "key"), dense(xs, "value")
    scores = np.einsum("bqhk,bshk->bhqs", q, k) / np.sqrt(8)  # key_dim = embed_dim = 8
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    a = scores / scores.sum(-1, keepdims=True)  # softmax over the attended positions
    heads = np.einsum("bhqs,bshk->bqhk", a, v)
    attn = np.einsum("bqhk,hkd->bqd", heads, w["att.output_dense.kernel"]) + w["att.output_dense.bias"]

    def layer_norm(v, name):
        mean, var = v.mean(-1, keepdims=True), v.var(-1, keepdims=True)
        return (v - mean) / np.sqrt(var + 1e-6) * w[f"{name}.gamma"] + w[f"{name}.beta"]

    out1 = layer_norm(xs + attn, "layernorm1")
    (k1, b1), (k2, b2) = [(d.kernel.detach().double().numpy(), d.bias.detach().double().numpy())
                          for d in block.ffn.layers]
    ffn = np.maximum(out1 @ k1 + b1, 0) @ k2 + b2
    np.testing.assert_allclose(out, layer_norm(out1 + ffn, "layernorm2"), rtol=1e-4, atol=1e-5)
    assert not torch.equal(block(x, training=True), block(x, training=True))  # dropout in training only


def test_the_loss_leaves_padding_out(example):
    """Section "custom loss function": CustomNonPaddingTokenLoss against a NumPy masked cross-entropy."""
    rng = np.random.default_rng(0)
    y_true = rng.integers(1, 6, size=(4, 9))
    y_true[0, 5:] = y_true[2, 2:] = 0  # padded positions
    logits = rng.normal(size=(4, 9, 6))
    y_pred = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    picked = np.take_along_axis(y_pred, y_true[..., None], axis=-1)[..., 0]
    mask = y_true > 0
    expected = -np.log(picked)[mask].mean()  # the mean over real tokens only
    loss = example["loss"]  # CustomNonPaddingTokenLoss()
    got = loss(torch.from_numpy(y_true), torch.from_numpy(y_pred).float())
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    # what padding predicts does not count; a plain mean over every position would differ
    changed = y_pred.copy()
    changed[~mask] = np.roll(changed[~mask], 1, axis=-1)
    np.testing.assert_allclose(float(loss(torch.from_numpy(y_true), torch.from_numpy(changed).float())),
                               expected, rtol=1e-5)
    assert abs(-np.log(np.take_along_axis(y_pred, y_true[..., None], -1)).mean() - expected) > 1e-3


@pytest.fixture(scope="module")
def trained(example):
    """Section "Compile and fit the model": 5 epochs in place of 10."""
    ex = example
    ner_model, loss = ex["ner_model"], ex["loss"]
    ner_model.compile(optimizer="adam", loss=loss)
    history = ner_model.fit(ex["train_dataset"], epochs=5, verbose=0)
    return ner_model, history


def test_the_model_learns_to_tag_held_out_tokens(example, trained):
    """Sections "Compile and fit the model" and "Metrics calculation" on the held-out lines."""
    ex = example
    ner_model, history = trained
    mapping = ex["mapping"]
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]

    def calculate_metrics(dataset):
        all_true_tag_ids, all_predicted_tag_ids = [], []
        for x, y in dataset:
            output = ner_model.predict(x, verbose=0)
            predictions = np.argmax(output, axis=-1)
            predictions = np.reshape(predictions, [-1])
            true_tag_ids = np.reshape(np.asarray(y), [-1])  # y is a torch tensor: np.reshape would keep it one
            mask = (true_tag_ids > 0) & (predictions > 0)
            true_tag_ids = true_tag_ids[mask]
            predicted_tag_ids = predictions[mask]
            all_true_tag_ids.append(true_tag_ids)
            all_predicted_tag_ids.append(predicted_tag_ids)
        all_true_tag_ids = np.concatenate(all_true_tag_ids)
        all_predicted_tag_ids = np.concatenate(all_predicted_tag_ids)
        predicted_tags = [mapping[tag] for tag in all_predicted_tag_ids]
        real_tags = [mapping[tag] for tag in all_true_tag_ids]
        return evaluate(real_tags, predicted_tags), all_true_tag_ids, all_predicted_tag_ids

    scores, true_ids, predicted_ids = calculate_metrics(ex["val_dataset"])
    n_tokens = sum(len(r["tokens"]) for r in ex["conll_data"]["validation"])
    assert 0.98 * n_tokens < len(true_ids) <= n_tokens  # real tokens only, few predicted as [PAD]
    accuracy, all_o = np.mean(true_ids == predicted_ids), np.mean(true_ids == 1)
    assert accuracy > all_o + 0.06, (accuracy, all_o)  # 0.91 to 0.94 against 0.80 over 4 seeds
    assert scores["overall"] > 0.55 and scores["CAP"] > 0.6, scores  # 0.70 to 0.76 and 0.72 to 0.77 over 4 seeds
    # the loss on the held-out lines is the masked mean computed by hand from predict
    x, y = next(iter(ex["val_dataset"]))
    probabilities = ner_model.predict(x, verbose=0)
    y = y.numpy()
    picked = np.take_along_axis(probabilities, y[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(ner_model.evaluate(x, torch.from_numpy(y), verbose=0), -np.log(picked[y > 0]).mean(),
                               rtol=1e-4)


def test_sample_inference_tags_a_sentence(example, trained):
    """Section "Sample inference using the trained model"."""
    ex = example
    ner_model, _ = trained

    def tokenize_and_convert_to_ids(text):
        tokens = text.split()
        return ex["lowercase_and_convert_to_ids"](tokens)

    text = "i think spock, kirk, and mccoy, would know about oscar wilde"  # the example: "eu rejects german ..."
    sample_input = tokenize_and_convert_to_ids(text)
    sample_input = sample_input.reshape(1, -1)  # tf.reshape(sample_input, shape=[1, -1])
    output = ner_model.predict(sample_input, verbose=0)
    prediction = np.argmax(output, axis=-1)[0]
    prediction = [ex["mapping"][i] for i in prediction]
    assert len(prediction) == len(text.split()) and set(prediction) <= set(ex["mapping"].values()) - {"[PAD]"}
    # the sentence's words seen at least 10 times in training, always of one kind there (a capital or not),
    # are tagged as that kind (here "i", "spock,", "kirk,", "mccoy,", "oscar", "wilde" capitals, "think",
    # "would", "know", "about" not)
    kinds = {}
    for record in ex["conll_data"]["train"]:
        for token, tag in zip(record["tokens"], record["ner_tags"]):
            kinds.setdefault(token.lower(), []).append("CAP" if tag in (1, 2) else "NUM" if tag in (3, 4) else "O")
    right = []
    for token, tag in zip(text.split(), prediction):
        seen = Counter(kinds.get(token, []))
        if sum(seen.values()) >= 10 and len(seen) == 1:
            right.append(("O" if tag == "O" else tag[2:]) == next(iter(seen)))
    assert len(right) == 10 and sum(right) >= 8, list(zip(text.split(), prediction))
    assert prediction[0] == "B-CAP"  # "i"
