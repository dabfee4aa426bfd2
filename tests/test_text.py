"""brainnet.text: CharTokenizer (ids, unknown characters, config as JSON) and
generate (greedy, top-k, temperature, seeds, context cropping, errors).

Sampling is checked on tiny models whose distributions are known exactly: a
model whose logits ignore the input (``Constant``) and a bigram table
(``Bigram``, the logits depend on the last character only). Every test uses a
fixed seed, so the statistics are deterministic; the tolerances are about
four standard deviations of the sampled frequencies.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from brainnet.layers import Dense, Embedding, Input, PositionEmbedding, TransformerDecoder
from brainnet.models import Model
from brainnet.text import UNKNOWN, CharTokenizer, generate

TOKENIZER = CharTokenizer("abcd")  # ids: 0 unknown, a 1, b 2, c 3, d 4
LOGITS = torch.tensor([-2.0, 1.0, 0.5, 0.0, -1.0], dtype=torch.float64)


class Constant(nn.Module):
    """Logits ``z`` at every position, whatever the input."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = nn.Parameter(logits.clone())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(*ids.shape, -1)  # (N, T, V)


class Bigram(nn.Module):
    """Logits ``W[x_t]``: the next character depends on the current one only."""

    def __init__(self, vocab: int, seed: int = 0) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(seed)))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table[ids]  # (N, T, V)


def _sampled_ids(text: str, prompt: str) -> np.ndarray:
    return TOKENIZER.encode(text[len(prompt):])


def _frequencies(ids: np.ndarray, vocab: int) -> np.ndarray:
    return np.bincount(ids, minlength=vocab) / len(ids)


# ------------------------------------------------------------------ tokenizer
def test_the_vocabulary_is_sorted_after_the_unknown_id():
    tokenizer = CharTokenizer.from_text("hello world")
    assert tokenizer.vocabulary == [UNKNOWN, " ", "d", "e", "h", "l", "o", "r", "w"]
    assert tokenizer.vocab_size == 9
    assert CharTokenizer.from_text(["ba", "ca"]).vocabulary == [UNKNOWN, "a", "b", "c"]


def test_encode_then_decode_gives_the_text_back():
    tokenizer = CharTokenizer.from_text("Les poèmes 唐诗\n\t%")
    ids = tokenizer.encode("poèmes 唐诗\n")
    assert ids.dtype == np.int64 and ids.shape == (10,)
    assert tokenizer.decode(ids) == "poèmes 唐诗\n"
    assert tokenizer.decode(torch.as_tensor(ids)) == "poèmes 唐诗\n"


def test_unknown_characters_get_id_0_and_decode_as_the_replacement_character():
    assert TOKENIZER.encode("abz").tolist() == [1, 2, 0]
    assert TOKENIZER.decode([1, 0, 4]) == f"a{UNKNOWN}d"
    assert TOKENIZER.unknown_characters("azbyz") == ["z", "y"]


def test_the_config_travels_as_json():
    tokenizer = CharTokenizer.from_text("fortune\n%\n")
    text = json.dumps(tokenizer.get_config())
    again = CharTokenizer.from_config(json.loads(text))
    assert again.vocabulary == tokenizer.vocabulary
    assert again.encode("tune%").tolist() == tokenizer.encode("tune%").tolist()


@pytest.mark.parametrize(
    "characters, message",
    [
        (["ab", "c"], r"CharTokenizer: expected single characters, got 'ab'\. Fix: CharTokenizer\.from_text\(text\)"),
        ("abca", r"CharTokenizer: expected each character once, got 'a' twice\. Fix: CharTokenizer\(sorted\(set"),
        ("a\ufffd", r"expected characters other than '\ufffd' \(id 0 stands for every unknown character\), "
                    r"got '\ufffd' among them\. Fix: leave it out"),
    ],
)
def test_bad_vocabularies_are_refused(characters, message):
    with pytest.raises(ValueError, match=message):
        CharTokenizer(characters)


def test_decoding_an_id_outside_the_vocabulary_is_refused():
    with pytest.raises(ValueError, match=r"expected ids in \[0, 5\), got 7\. Fix: decode ids made by this tokenizer"):
        TOKENIZER.decode([1, 7])


# ------------------------------------------------------------------ generate
def test_generate_returns_the_prompt_and_length_new_characters():
    text = generate(Bigram(5), TOKENIZER, "ab", 30, seed=0)
    assert len(text) == 32 and text.startswith("ab")
    assert generate(Bigram(5), TOKENIZER, "ab", 0) == "ab"


def test_temperature_0_is_greedy_decoding():
    model = Bigram(5)
    text = generate(model, TOKENIZER, "a", 20, temperature=0)
    ids = TOKENIZER.encode(text)
    for current, following in zip(ids[:-1], ids[1:]):
        assert following == int(model.table[current].argmax())


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_k_1_equals_greedy(temperature, seed):
    model = Bigram(5, seed=seed)
    greedy = generate(model, TOKENIZER, "c", 40, temperature=0)
    assert generate(model, TOKENIZER, "c", 40, temperature=temperature, top_k=1, seed=seed) == greedy


@pytest.mark.parametrize("k", [2, 3])
def test_with_top_k_every_sample_is_among_the_k_most_probable(k):
    model = Bigram(5, seed=3)
    ids = TOKENIZER.encode(generate(model, TOKENIZER, "a", 500, temperature=2.0, top_k=k, seed=0))
    allowed = torch.topk(model.table, k, dim=1).indices  # (V, k)
    assert all(int(nxt) in allowed[int(cur)].tolist() for cur, nxt in zip(ids[:-1], ids[1:]))
    # and they are not all the most probable one: the k candidates are all used
    used = {int(nxt) for cur, nxt in zip(ids[:-1], ids[1:]) if int(cur) == int(ids[0])}
    assert len(used) == k


def test_the_same_seed_gives_the_same_text_and_another_seed_another():
    model = Bigram(5)
    first = generate(model, TOKENIZER, "a", 100, seed=7)
    assert generate(model, TOKENIZER, "a", 100, seed=7) == first
    assert generate(model, TOKENIZER, "a", 100, seed=8) != first


def test_without_a_seed_the_global_generator_decides():
    model = Bigram(5)
    torch.manual_seed(3)
    first = generate(model, TOKENIZER, "a", 100)
    torch.manual_seed(3)
    assert generate(model, TOKENIZER, "a", 100) == first


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_samples_follow_softmax_of_logits_over_temperature(temperature):
    n = 4000
    ids = _sampled_ids(generate(Constant(LOGITS), TOKENIZER, "a", n, temperature=temperature, seed=0), "a")
    expected = torch.softmax(LOGITS / temperature, dim=0).numpy()
    np.testing.assert_allclose(_frequencies(ids, 5), expected, atol=0.03)  # 4σ ≤ 4·√(0.25/4000) = 0.032


def test_lower_temperature_concentrates_the_samples():
    share_of_most_probable = []
    for temperature in (3.0, 1.0, 0.5, 0.2):
        ids = _sampled_ids(generate(Constant(LOGITS), TOKENIZER, "a", 2000, temperature=temperature, seed=0), "a")
        share_of_most_probable.append(float(np.mean(ids == 1)))
    assert share_of_most_probable == sorted(share_of_most_probable)
    assert share_of_most_probable[0] < 0.35 and share_of_most_probable[-1] > 0.9  # softmax: 0.29, 0.92


def _tiny_transformer(sequence_length: int) -> Model:
    torch.manual_seed(0)
    ids = Input(shape=(sequence_length,), dtype="int64")
    x = TransformerDecoder(16, 2, dropout=0.5)(Embedding(TOKENIZER.vocab_size, 8)(ids))
    return Model(inputs=ids, outputs=Dense(TOKENIZER.vocab_size)(x))


def test_the_context_is_cropped_to_the_model_sequence_length():
    ids = Input(shape=(8,), dtype="int64")
    x = Embedding(TOKENIZER.vocab_size, 8)(ids)
    x = PositionEmbedding(8)(x)  # refuses more than 8 steps
    model = Model(inputs=ids, outputs=Dense(TOKENIZER.vocab_size)(x))
    with pytest.raises(ValueError, match="at most sequence_length=8 steps"):
        model(torch.zeros(1, 9, dtype=torch.long))
    text = generate(model, TOKENIZER, "abcdabcdab", 30, seed=0)  # a 10-character prompt, then 30 more
    assert len(text) == 40


def test_a_softmax_model_is_sampled_from_its_logits_not_softmax_twice():
    ids = Input(shape=(4,), dtype="int64")
    head = Dense(TOKENIZER.vocab_size, activation="softmax")
    model = Model(inputs=ids, outputs=head(Embedding(TOKENIZER.vocab_size, 3)(ids)))
    with torch.no_grad():  # probabilities softmax(LOGITS) whatever the input
        head.kernel.zero_()
        head.bias.copy_(LOGITS.float())
    ids_sampled = _sampled_ids(generate(model, TOKENIZER, "a", 4000, seed=0), "a")
    expected = torch.softmax(LOGITS, dim=0).numpy()  # softmax twice would give about 0.2 each
    np.testing.assert_allclose(_frequencies(ids_sampled, 5), expected, atol=0.03)


def test_generate_leaves_the_model_in_its_training_mode():
    model = _tiny_transformer(8)
    model.train()
    generate(model, TOKENIZER, "ab", 5, seed=0)
    assert model.training
    model.eval()
    generate(model, TOKENIZER, "ab", 5, seed=0)
    assert not model.training


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": -0.5}, r"generate: expected temperature ≥ 0, got -0\.5\. Fix: temperature=1\.0"),
        ({"top_k": 0}, r"expected top_k None or an integer in \[1, 5\] \(the vocabulary size\), got 0\. "
                       r"Fix: top_k=None"),
        ({"top_k": 6}, r"expected top_k None or an integer in \[1, 5\] .*got 6\. Fix:"),
        ({"prompt": ""}, r"generate: expected a non-empty prompt string, got ''\. Fix: generate\(model, tokenizer"),
        ({"prompt": "abz!"}, r"expected a prompt made of the tokenizer's 4 characters, got 'z!' outside its "
                             r"vocabulary .*Fix: remove or replace"),
        ({"length": -1}, r"generate: expected length ≥ 0 \(characters to add\), got -1\. Fix: length=200"),
    ],
)
def test_bad_sampling_arguments_are_refused(kwargs, message):
    arguments = {"prompt": "ab", "length": 5, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(Bigram(5), TOKENIZER, **arguments)


def test_a_model_whose_outputs_do_not_match_the_vocabulary_is_refused():
    with pytest.raises(ValueError, match=r"expected model outputs of shape \(1, 2, 5\) \(logits over the "
                                         r"tokenizer's vocabulary\), got \(1, 2, 7\)\. "
                                         r"Fix: a model ending in Dense\(5\)"):
        generate(Bigram(7), TOKENIZER, "ab", 5)
