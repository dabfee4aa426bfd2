"""keras.io example "Text generation with a miniature GPT"
(https://keras.io/examples/generative/text_generation_with_miniature_gpt/),
ported as a learner would: ``import brainnet as keras``,
``from brainnet import layers``, ``keras.ops`` / ``tf.strings`` calls in
their torch and Python spellings (docs/keras.md), the rest as the example has
it: the causal attention mask, ``TransformerBlock`` (``MultiHeadAttention``
with ``attention_mask``), ``TokenAndPositionEmbedding``, a ``Model`` with
outputs ``[logits, x]`` compiled with ``loss=[loss_fn, None]``,
``TextVectorization`` with the example's standardization, and the
``TextGenerator`` callback that samples from the top-k logits.

Shortened for CI: the text is fortunes (Debian's ``wisdom``, ``literature``
and ``fortunes`` files, one fortune per text) in place of the IMDB download,
fed as NumPy arrays in place of the ``tf.data`` pipeline; the model is
narrower (vocabulary 2,000 instead of 20,000, sequences of 40 tokens instead
of 80, width 64 instead of 256: the example's 20,000-way output over 80
positions takes minutes per epoch on one core), and it trains 2 epochs
instead of 25.
"""

from __future__ import annotations

import re
import string

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers
from brainnet.datasets import fortunes
from brainnet.layers import TextVectorization

vocab_size = 2000  # the example: 20,000
maxlen = 40  # the example: 80
embed_dim = 64  # the example: 256
num_heads = 2
feed_forward_dim = 64  # the example: 256
batch_size = 128


def causal_attention_mask(batch_size, n_dest, n_src, dtype):
    """True (keep) where destination i may see source j: the lower triangle, counted from the lower right."""
    i = torch.arange(n_dest)[:, None]
    j = torch.arange(n_src)
    m = i >= j - n_src + n_dest
    mask = m.to(dtype)
    mask = torch.reshape(mask, (1, n_dest, n_src))
    return torch.tile(mask, (batch_size, 1, 1))  # (B, n_dest, n_src)


class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
        super().__init__()
        self.att = layers.MultiHeadAttention(num_heads, embed_dim)
        self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs):
        batch_size, seq_len = tuple(inputs.shape)[:2]
        causal_mask = causal_attention_mask(batch_size, seq_len, seq_len, torch.bool)
        attention_output = self.att(inputs, inputs, attention_mask=causal_mask)
        attention_output = self.dropout1(attention_output)
        out1 = self.layernorm1(inputs + attention_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output)
        return self.layernorm2(out1 + ffn_output)


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = tuple(x.shape)[-1]
        positions = torch.arange(0, maxlen, 1, device=x.device)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions


def create_model():
    inputs = layers.Input(shape=(maxlen,), dtype="int32")
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    transformer_block = TransformerBlock(embed_dim, num_heads, feed_forward_dim)
    x = transformer_block(x)
    outputs = layers.Dense(vocab_size)(x)
    model = keras.Model(inputs=inputs, outputs=[outputs, x])
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile("adam", loss=[loss_fn, None])  # the block's output is returned, not trained on
    return model


def custom_standardization(input_string):
    """Lower-cases, drops HTML line breaks, and puts a space before each punctuation mark."""
    lowercased = input_string.lower()
    stripped_html = re.sub("<br />", " ", lowercased)
    return re.sub(f"([{string.punctuation}])", r" \1", stripped_html)


class TextGenerator(keras.callbacks.Callback):
    """Prints text sampled from the model after every `print_every` epochs."""

    def __init__(self, max_tokens, start_tokens, index_to_word, top_k=10, print_every=1):
        self.max_tokens = max_tokens
        self.start_tokens = start_tokens
        self.index_to_word = index_to_word
        self.print_every = print_every
        self.k = top_k

    def sample_from(self, logits):
        logits, indices = torch.topk(torch.as_tensor(logits), k=self.k, sorted=True)
        indices = np.asarray(indices).astype("int32")
        preds = keras.activations.softmax(torch.unsqueeze(logits, 0))[0]
        preds = np.asarray(preds).astype("float32")
        return np.random.choice(indices, p=preds)

    def detokenize(self, number):
        return self.index_to_word[number]

    def on_epoch_end(self, epoch, logs=None):
        start_tokens = [_ for _ in self.start_tokens]
        if (epoch + 1) % self.print_every != 0:
            return
        num_tokens_generated = 0
        tokens_generated = []
        while num_tokens_generated <= self.max_tokens:
            pad_len = maxlen - len(start_tokens)
            sample_index = len(start_tokens) - 1
            if pad_len < 0:
                x = start_tokens[:maxlen]
                sample_index = maxlen - 1
            elif pad_len > 0:
                x = start_tokens + [0] * pad_len
            else:
                x = start_tokens
            x = np.array([x])
            y, _ = self.model.predict(x, verbose=0)
            sample_token = self.sample_from(y[0][sample_index])
            tokens_generated.append(sample_token)
            start_tokens.append(sample_token)
            num_tokens_generated = len(tokens_generated)
        txt = " ".join([self.detokenize(_) for _ in self.start_tokens + tokens_generated])
        print(f"generated text:\n{txt}\n")


def test_the_causal_mask_is_numpys_lower_triangle():
    """Section "Implement a Transformer block as a layer": causal_attention_mask."""
    mask = causal_attention_mask(3, 5, 5, torch.bool)
    assert mask.shape == (3, 5, 5) and mask.dtype == torch.bool
    for b in range(3):
        np.testing.assert_array_equal(mask[b].numpy(), np.tril(np.ones((5, 5), dtype=bool)))
    # fewer destinations than sources: the last n_dest rows of the square mask
    wide = causal_attention_mask(2, 3, 5, torch.float32)
    expected = np.array([[i >= j - 5 + 3 for j in range(5)] for i in range(3)], dtype="float32")
    np.testing.assert_array_equal(wide[1].numpy(), expected)
    np.testing.assert_array_equal(expected, np.tril(np.ones((5, 5), "float32"))[2:])


def test_the_token_and_position_embedding_is_a_sum_of_two_lookups():
    """Section "Implement an embedding layer"."""
    layer = TokenAndPositionEmbedding(maxlen=6, vocab_size=11, embed_dim=4)
    tokens = np.random.default_rng(0).integers(0, 11, size=(2, 6))
    got = layer(tokens).detach().numpy()
    token_table = layer.token_emb.get_weights()[0]
    position_table = layer.pos_emb.get_weights()[0]
    expected = token_table[tokens] + position_table[np.arange(6)][None]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # a shorter sequence takes the first positions
    np.testing.assert_allclose(layer(tokens[:, :3]).detach().numpy(), expected[:, :3], rtol=1e-6)


def test_position_t_depends_on_no_token_after_t():
    """The causal mask at work: changing tokens after t leaves outputs at 0..t as they were."""
    keras.utils.set_random_seed(0)
    model = create_model()
    logits, hidden = model.predict(np.random.default_rng(1).integers(0, vocab_size, size=(1, maxlen)), verbose=0)
    assert logits.shape == (1, maxlen, vocab_size) and hidden.shape == (1, maxlen, embed_dim)
    rng = np.random.default_rng(2)
    tokens = rng.integers(0, vocab_size, size=(4, maxlen))
    base_logits, base_hidden = model.predict(tokens, verbose=0)
    for t in (0, 7, maxlen - 2):
        changed = tokens.copy()
        changed[:, t + 1:] = rng.integers(0, vocab_size, size=(4, maxlen - t - 1))
        new_logits, new_hidden = model.predict(changed, verbose=0)
        np.testing.assert_allclose(new_hidden[:, : t + 1], base_hidden[:, : t + 1], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(new_logits[:, : t + 1], base_logits[:, : t + 1], rtol=1e-5, atol=1e-5)
        assert not np.allclose(new_hidden[:, t + 1:], base_hidden[:, t + 1:], atol=1e-3)  # the future did change
    # a token changed at t does reach every later position
    changed = tokens.copy()
    changed[:, 5] = (changed[:, 5] + 1) % vocab_size
    new_hidden = model.predict(changed, verbose=0)[1]
    np.testing.assert_allclose(new_hidden[:, :5], base_hidden[:, :5], rtol=1e-5, atol=1e-5)
    assert all(not np.allclose(new_hidden[:, s], base_hidden[:, s], atol=1e-4) for s in range(5, maxlen))


def test_the_sampler_draws_from_the_softmax_of_the_top_k_logits():
    """Section "Implement a Keras callback for generating text": sample_from."""
    logits = np.array([0.1, 2.0, -1.0, 1.5, 0.3, 3.0, -2.0], dtype="float32")
    generator = TextGenerator(5, [1], ["", "[UNK]"], top_k=3)
    top = np.argsort(-logits)[:3]  # indices 5, 1, 3
    expected = np.exp(logits[top] - logits[top].max())
    expected /= expected.sum()
    np.random.seed(0)
    draws = np.array([generator.sample_from(logits) for _ in range(6000)])
    assert set(draws.tolist()) == set(top.tolist())
    frequencies = np.array([np.mean(draws == i) for i in top])
    np.testing.assert_array_less(np.abs(frequencies - expected), 4 * np.sqrt(expected * (1 - expected) / 6000))


@pytest.fixture(scope="module")
def texts():
    if not all((fortunes.SYSTEM_DIR / name).is_file() for name in fortunes.ENGLISH):
        pytest.skip(f"Debian's fortunes are not in {fortunes.SYSTEM_DIR}: apt-get install fortunes")
    return np.array(fortunes.load_fortunes("english"))


def test_the_vectorized_texts_shift_by_one_token(texts):
    """Section "Prepare the data for word-level language modelling"."""
    vectorize_layer = TextVectorization(
        standardize=custom_standardization,
        max_tokens=vocab_size - 1,
        output_mode="int",
        output_sequence_length=maxlen + 1,
    )
    vectorize_layer.adapt(texts)
    vocab = vectorize_layer.get_vocabulary()
    assert vocab[:2] == ["", "[UNK]"] and len(vocab) == vocab_size - 1
    assert custom_standardization("Don't,<br />STOP!") == "don 't , stop !"
    tokenized = np.asarray(vectorize_layer(texts[:5]))
    assert tokenized.shape == (5, maxlen + 1)
    x, y = tokenized[:, :-1], tokenized[:, 1:]
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # the target at i is the input at i + 1
    words = custom_standardization(texts[0]).split()
    index = {w: i for i, w in enumerate(vocab)}
    expected = [index.get(w, 1) for w in words][: maxlen + 1]
    np.testing.assert_array_equal(tokenized[0, : len(expected)], expected)


def test_the_model_learns_and_the_callback_generates_text(texts, capsys):
    """Sections "Implement the miniature GPT model" and "Train the model" (fit with the TextGenerator callback)."""
    keras.utils.set_random_seed(0)
    vectorize_layer = TextVectorization(
        standardize=custom_standardization,
        max_tokens=vocab_size - 1,
        output_mode="int",
        output_sequence_length=maxlen + 1,
    )
    vectorize_layer.adapt(texts)
    vocab = vectorize_layer.get_vocabulary()

    def prepare_lm_inputs_labels(text):
        tokenized_sentences = np.asarray(vectorize_layer(text))
        x = tokenized_sentences[:, :-1]
        y = tokenized_sentences[:, 1:]
        return x, y

    rng = np.random.default_rng(0)
    order = rng.permutation(len(texts))
    held_out, train = texts[order[:300]], texts[order[300:2300]]
    x, y = prepare_lm_inputs_labels(train)
    x_held, y_held = prepare_lm_inputs_labels(held_out)

    word_to_index = {}
    for index, word in enumerate(vocab):
        word_to_index[word] = index
    start_prompt = "a wise man is"
    start_tokens = [word_to_index.get(_, 1) for _ in start_prompt.split()]
    num_tokens_generated = 12  # the example: 40
    text_gen_callback = TextGenerator(num_tokens_generated, start_tokens, vocab)

    def word_losses(model):
        """Cross-entropy per held-out target (NumPy, from the logits), and the mask of real words."""
        logits = model.predict(x_held, verbose=0)[0].astype("float64")
        log_probs = logits - logits.max(-1, keepdims=True)
        log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
        return -np.take_along_axis(log_probs, y_held[..., None], -1)[..., 0], y_held != 0

    model = create_model()
    untrained = model.evaluate(x_held, y_held, verbose=0)
    untrained_losses, words = word_losses(model)
    history = model.fit(x, y, batch_size=batch_size, verbose=2, epochs=2, callbacks=[text_gen_callback])
    trained = model.evaluate(x_held, y_held, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]
    assert trained < untrained - 1.0 and trained < np.log(len(vocab)), (untrained, trained)
    losses, _ = word_losses(model)
    np.testing.assert_allclose(losses.mean(), trained, rtol=1e-4)  # evaluate's loss is the mean over all positions
    # not only the padding got easier: the real next words did too
    assert losses[words].mean() < untrained_losses[words].mean() - 1.0, (untrained_losses[words].mean(),
                                                                           losses[words].mean())

    printed = capsys.readouterr().out
    generations = re.findall(r"generated text:\n(.*)\n", printed)
    assert len(generations) == 2  # one per epoch
    for generated in generations:
        words = generated.split(" ")
        assert " ".join(words[:4]) == start_prompt
        assert len(words) == len(start_tokens) + num_tokens_generated + 1  # the loop's `<=`
        assert set(words) <= set(vocab)
