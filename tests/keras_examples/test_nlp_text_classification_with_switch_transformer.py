"""keras.io example "Text classification with Switch Transformer"
(https://keras.io/examples/nlp/text_classification_with_switch_transformer/;
the stored copy is the tf.keras version), ported as a learner would:
``import brainnet as keras`` and ``from brainnet import layers`` in place of
the TensorFlow imports, the ``tf.`` calls in their torch spellings
(``tf.math.top_k`` is ``torch.topk``, ``tf.math.cumsum`` ``torch.cumsum``,
``tf.einsum`` ``torch.einsum``, ``tf.unstack`` ``torch.unbind``,
``tf.one_hot(i, depth)`` ``(i[..., None] == torch.arange(depth)).float()``,
which, like TensorFlow's, is all zeros for an index past ``depth``), the
rest as the example has it: the ``Router`` and ``Switch`` that set their
attributes before ``super().__init__()`` (brainnet now takes that, as Keras
does), ``add_loss`` of the load-balancing loss, ``keras.activations.softmax(x,
axis=-1)``.

One change to the example's code: ``Switch.call`` reshapes to the
batch's own number of tokens (``batch_size * num_tokens_per_example``, the
sizes it reads from the input) in place of the global
``num_tokens_per_batch``: brainnet learns a functional graph's shapes from
trial runs on a batch of 2 (TensorFlow traces symbolically), and the fixed
reshape is refused there with an error that says so (tested below). The
experts' capacity stays the example's, ``num_tokens_per_batch //
num_experts``.

Shortened for CI: IMDB is not here, so the two classes are two of Debian's
fortune files (tests/keras_examples/_fortune_classes.py: 1,404 training
and 350 held-out fortunes), 32 tokens per example in place of 200 (a
median fortune has 19 words; the example's dispatch and combine tensors
grow with the square of the tokens in a batch: at 64 tokens one step took
0.5 s on one core), 4 epochs in place of 3 (so few examples).
brainnet's fit validates in batches of 256 (Keras: fit's batch_size;
``validation_batch_size=batch_size`` gives Keras's), in which the experts'
capacity drops most tokens, so the held-out accuracy is measured with
``evaluate(..., batch_size=batch_size)``.
Each test names the section it runs and checks what it computes: the
load-balanced loss, the router's top-1 choice, positions, capacity and
combine tensor against a token-by-token NumPy loop, the Switch's output
(each kept token's expert output, scaled twice by its gate, as the
example's non-binary dispatch tensor does) against NumPy, the aux loss in
``model.losses``, and the classifier far above the majority class.

What the example computes that a reader may not expect, kept as written:
``position_in_expert`` counts from 1 (a cumulative sum), so each expert
keeps ``expert_capacity - 1`` tokens and slot 0 stays empty; and the
"binary" dispatch tensor is the combine tensor itself, so a token reaches
its expert already scaled by its gate.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

from . import _fortune_classes as fortune_classes

vocab_size = 20000  # Only consider the top 20k words
num_tokens_per_example = 32  # the last 32 words of each fortune (the example: 200 words of a review)

embed_dim = 32  # Embedding size for each token.
num_heads = 2  # Number of attention heads
ff_dim = 32  # Hidden layer size in feedforward network.
num_experts = 10  # Number of experts used in the Switch Transformer.
batch_size = 50  # Batch size.
learning_rate = 0.001  # Learning rate.
dropout_rate = 0.25  # Dropout rate.
num_epochs = 4  # Number of epochs (3 in the example, on 25,000 reviews).
num_tokens_per_batch = batch_size * num_tokens_per_example  # Total number of tokens per batch.


@pytest.fixture(scope="module")
def data():
    """Section "Download and prepare dataset", with the fortune files in place of imdb.load_data."""
    (x_train, y_train), (x_val, y_val), _ = fortune_classes.load_data(num_words=vocab_size)
    x_train = keras.utils.pad_sequences(x_train, maxlen=num_tokens_per_example)
    x_val = keras.utils.pad_sequences(x_val, maxlen=num_tokens_per_example)
    return (x_train, y_train), (x_val, y_val)


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = x.shape[-1]
        positions = torch.arange(start=0, end=maxlen, step=1, device=x.device)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions


def create_feedforward_network(ff_dim, name=None):
    return keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(ff_dim)], name=name)


def load_balanced_loss(router_probs, expert_mask):
    # router_probs [tokens_per_batch, num_experts] is the probability assigned for
    # each expert per token. expert_mask [tokens_per_batch, num_experts] contains
    # the expert with the highest router probability in one-hot format.

    num_experts = expert_mask.shape[-1]
    # Get the fraction of tokens routed to each expert.
    # density is a vector of length num experts that sums to 1.
    density = torch.mean(expert_mask, dim=0)
    # Get fraction of probability mass assigned to each expert from the router
    # across all tokens. density_proxy is a vector of length num experts that sums to 1.
    density_proxy = torch.mean(router_probs, dim=0)
    # Want both vectors to have uniform allocation (1/num experts) across all
    # num_expert elements. The two vectors will be pushed towards uniform allocation
    # when the dot product is minimized.
    loss = torch.mean(density_proxy * density) * float(num_experts**2)
    return loss


def one_hot(indices, depth):
    # tf.one_hot: all zeros for an index outside [0, depth) (torch's one_hot refuses it)
    return (indices[..., None] == torch.arange(depth, device=indices.device)).float()


class Router(layers.Layer):
    def __init__(self, num_experts, expert_capacity):
        self.num_experts = num_experts
        self.route = layers.Dense(units=num_experts)
        self.expert_capacity = expert_capacity
        super().__init__()

    def call(self, inputs, training=False):
        # inputs shape: [tokens_per_batch, embed_dim]
        # router_logits shape: [tokens_per_batch, num_experts]
        router_logits = self.route(inputs)

        if training:
            # Add noise for exploration across experts.
            router_logits += torch.empty(router_logits.shape, device=router_logits.device).uniform_(0.9, 1.1)
        # Probabilities for each token of what expert it should be sent to.
        router_probs = keras.activations.softmax(router_logits, axis=-1)
        # Get the top-1 expert for each token. expert_gate is the top-1 probability
        # from the router for each token. expert_index is what expert each token
        # is going to be routed to.
        expert_gate, expert_index = torch.topk(router_probs, k=1)
        # expert_mask shape: [tokens_per_batch, num_experts]
        expert_mask = one_hot(expert_index, depth=self.num_experts)
        # Compute load balancing loss.
        aux_loss = load_balanced_loss(router_probs, expert_mask)
        self.add_loss(aux_loss)
        # Experts have a fixed capacity, ensure we do not exceed it. Construct
        # the batch indices, to each expert, with position in expert make sure that
        # not more that expert capacity examples can be routed to each expert.
        position_in_expert = (torch.cumsum(expert_mask, dim=0) * expert_mask).to(torch.int32)
        # Keep only tokens that fit within expert capacity.
        expert_mask *= torch.less(position_in_expert, self.expert_capacity).float()
        expert_mask_flat = torch.sum(expert_mask, dim=-1)
        # Mask out the experts that have overflowed the expert capacity.
        expert_gate *= expert_mask_flat
        # Combine expert outputs and scaling with router probability.
        # combine_tensor shape: [tokens_per_batch, num_experts, expert_capacity]
        combined_tensor = torch.unsqueeze(
            expert_gate * expert_mask_flat * torch.squeeze(one_hot(expert_index, depth=self.num_experts), 1),
            -1,
        ) * torch.squeeze(one_hot(position_in_expert, depth=self.expert_capacity), 1)
        # Create binary dispatch_tensor [tokens_per_batch, num_experts, expert_capacity]
        # that is 1 if the token gets routed to the corresponding expert.
        dispatch_tensor = combined_tensor.float()

        return dispatch_tensor, combined_tensor


class Switch(layers.Layer):
    def __init__(self, num_experts, embed_dim, num_tokens_per_batch, capacity_factor=1):
        self.num_experts = num_experts
        self.embed_dim = embed_dim
        self.experts = [create_feedforward_network(embed_dim) for _ in range(num_experts)]

        self.expert_capacity = num_tokens_per_batch // self.num_experts
        self.router = Router(self.num_experts, self.expert_capacity)
        super().__init__()

    def tokens(self, batch_size, num_tokens_per_example):
        return batch_size * num_tokens_per_example  # the example: the global num_tokens_per_batch

    def call(self, inputs):
        batch_size = inputs.shape[0]
        num_tokens_per_example = inputs.shape[1]

        # inputs shape: [num_tokens_per_batch, embed_dim]
        inputs = torch.reshape(inputs, [self.tokens(batch_size, num_tokens_per_example), self.embed_dim])
        # dispatch_tensor shape: [expert_capacity, num_experts, tokens_per_batch]
        # combine_tensor shape: [tokens_per_batch, num_experts, expert_capacity]
        dispatch_tensor, combine_tensor = self.router(inputs)
        # expert_inputs shape: [num_experts, expert_capacity, embed_dim]
        expert_inputs = torch.einsum("ab,acd->cdb", inputs, dispatch_tensor)
        expert_inputs = torch.reshape(expert_inputs, [self.num_experts, self.expert_capacity, self.embed_dim])
        # Dispatch to experts
        expert_input_list = torch.unbind(expert_inputs, dim=0)
        expert_output_list = [self.experts[idx](expert_input) for idx, expert_input in enumerate(expert_input_list)]
        # expert_outputs shape: [expert_capacity, num_experts, embed_dim]
        expert_outputs = torch.stack(expert_output_list, dim=1)
        # expert_outputs_combined shape: [tokens_per_batch, embed_dim]
        expert_outputs_combined = torch.einsum("abc,xba->xc", expert_outputs, combine_tensor)
        # output shape: [batch_size, num_tokens_per_example, embed_dim]
        outputs = torch.reshape(expert_outputs_combined, [batch_size, num_tokens_per_example, self.embed_dim])
        return outputs


class ExamplesSwitch(Switch):
    """The example's Switch.call as written: the reshape to the global num_tokens_per_batch."""

    def tokens(self, batch_size, num_tokens_per_example):
        return num_tokens_per_batch


class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ffn, dropout_rate=0.1):
        super().__init__()
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        # The ffn can be either a standard feedforward network or a switch
        # layer with a Mixture of Experts.
        self.ffn = ffn
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(dropout_rate)
        self.dropout2 = layers.Dropout(dropout_rate)

    def call(self, inputs, training):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output, training=training)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output, training=training)
        return self.layernorm2(out1 + ffn_output)


def create_classifier(switch_class=Switch):
    switch = switch_class(num_experts, embed_dim, num_tokens_per_batch)
    transformer_block = TransformerBlock(ff_dim, num_heads, switch)

    inputs = layers.Input(shape=(num_tokens_per_example,))
    embedding_layer = TokenAndPositionEmbedding(num_tokens_per_example, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    x = transformer_block(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(dropout_rate)(x)
    x = layers.Dense(ff_dim, activation="relu")(x)
    x = layers.Dropout(dropout_rate)(x)
    outputs = layers.Dense(2, activation="softmax")(x)

    classifier = keras.Model(inputs=inputs, outputs=outputs)
    return classifier


def run_experiment(classifier, x_train, y_train, x_val, y_val):
    classifier.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = classifier.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=num_epochs,
        validation_data=(x_val, y_val),
        verbose=0,
    )
    return history


# ------------------------------------------------------------------ NumPy references
def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _route_numpy(probs, capacity):
    """Token by token, in order: the top-1 expert, its count so far (from 1, as the example's cumsum), kept while
    below the capacity; the combine tensor holds the token's gate at [token, expert, position]."""
    tokens, experts = probs.shape
    combine = np.zeros((tokens, experts, capacity))
    counts = np.zeros(experts, int)
    choice, kept = probs.argmax(1), np.zeros(tokens, bool)
    for t in range(tokens):
        e = choice[t]
        counts[e] += 1
        if counts[e] < capacity:
            combine[t, e, counts[e]] = probs[t, e]
            kept[t] = True
    return combine, choice, kept


def _dense(layer, x):
    return x @ layer.kernel.detach().numpy().astype("float64") + layer.bias.detach().numpy()


def _ffn(network, x):
    return _dense(network.layers[1], np.maximum(_dense(network.layers[0], x), 0))


def test_the_load_balanced_loss_is_num_experts_times_the_dot_product_of_the_densities():
    """Section "Implement the load-balanced loss": E² · mean_e(density_e · density_proxy_e), 1 when uniform."""
    rng = np.random.default_rng(0)
    probs = _softmax(rng.normal(size=(30, 4)))
    mask = np.eye(4)[probs.argmax(1)]
    got = load_balanced_loss(torch.from_numpy(probs), torch.from_numpy(mask)).item()
    np.testing.assert_allclose(got, 4 * np.dot(mask.mean(0), probs.mean(0)), rtol=1e-12)
    uniform = load_balanced_loss(torch.full((8, 4), 0.25), torch.from_numpy(np.eye(4)[np.arange(8) % 4]).float())
    assert uniform.item() == pytest.approx(1.0)  # the minimum: both densities 1/E
    collapsed = load_balanced_loss(torch.tensor([[1.0, 0, 0, 0]] * 8), torch.tensor([[1.0, 0, 0, 0]] * 8))
    assert collapsed.item() == pytest.approx(4.0)  # every token to one expert: E


def test_the_router_sends_each_token_to_its_top_expert_until_the_capacity_is_reached():
    """Section "Implement the router as a layer", in inference (no noise), against the NumPy loop."""
    keras.utils.set_random_seed(0)
    router = Router(num_experts=4, expert_capacity=6)  # attributes set before super().__init__(), as written
    tokens = torch.randn(40, 8) * 3
    dispatch, combine = (t.detach() for t in router(tokens))
    assert [w is router.route.kernel for w in router.trainable_weights] == [True, False]  # the Dense is tracked
    assert tuple(combine.shape) == (40, 4, 6)
    probs = _softmax(_dense(router.route, tokens.numpy().astype("float64")))
    expected, choice, kept = _route_numpy(probs, 6)
    np.testing.assert_allclose(combine.numpy(), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(dispatch.numpy(), combine.numpy())  # the example's dispatch is not binary
    assert not kept.all() and np.bincount(choice[kept], minlength=4).max() <= 5  # capacity 6 keeps 5 (from 1)
    assert not combine[..., 0].any()  # position 0 is never used
    mask = np.eye(4)[choice]
    np.testing.assert_allclose(router.losses[0].item(), 16 * np.mean(mask.mean(0) * probs.mean(0)), rtol=1e-5)
    _, noisy = router(tokens, training=True)  # training: uniform noise in [0.9, 1.1) on each logit
    assert not torch.allclose(noisy.detach(), combine)


def test_the_switch_gives_each_kept_token_its_experts_output_scaled_twice_by_its_gate():
    """Section "Implement a Switch layer": output_t = g_t · FFN_e(g_t · x_t) for a kept token, 0 for a dropped one."""
    keras.utils.set_random_seed(1)
    switch = Switch(num_experts=3, embed_dim=8, num_tokens_per_batch=2 * 12)  # capacity 8
    x = torch.randn(2, 12, 8) * 3
    out = switch(x).detach().numpy()
    assert out.shape == (2, 12, 8) and switch.router.expert_capacity == 8
    flat = x.reshape(24, 8).numpy().astype("float64")
    probs = _softmax(_dense(switch.router.route, flat))
    _, choice, kept = _route_numpy(probs, 8)
    gate = probs[np.arange(24), choice]
    expected = np.zeros((24, 8))
    for t in np.flatnonzero(kept):
        expected[t] = gate[t] * _ffn(switch.experts[choice[t]], gate[t] * flat[t])
    np.testing.assert_allclose(out.reshape(24, 8), expected, rtol=1e-4, atol=1e-6)
    assert (~kept).any()  # some tokens overflowed their expert and give zeros
    assert len(switch.trainable_weights) == 3 * 4 + 2  # the experts' and the router's, tracked from the list


def test_the_examples_fixed_reshape_is_refused_in_the_graph_with_the_fix():
    """Section "Implement the classifier" with the example's Switch.call as written."""
    with pytest.raises(RuntimeError, match=r"trial run on zeros .* was 2\.\) Fix: in TransformerBlock's call, take "
                                           r"sizes from the input \(x\.shape\[0\], or -1 in a reshape\)"):
        create_classifier(ExamplesSwitch)


def test_the_switch_transformer_classifies_held_out_fortunes(data):
    """Sections "Implement the classifier" and "Train and evaluate the model"."""
    (x_train, y_train), (x_val, y_val) = data
    keras.utils.set_random_seed(0)
    classifier = create_classifier()
    assert classifier.output_shape == (None, 2)
    history = run_experiment(classifier, x_train, y_train, x_val, y_val)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.history["loss"][-1] < history.history["loss"][0]

    probabilities = classifier.predict(x_val, batch_size=batch_size, verbose=0)
    loss, accuracy = classifier.evaluate(x_val, y_val, batch_size=batch_size, verbose=0)
    cross_entropy = -np.mean(np.log(probabilities[np.arange(len(y_val)), y_val]))
    aux = float(sum(v.item() for v in classifier.losses))  # the router's load-balancing loss, last batch
    assert 1.0 <= aux < 0.5 * num_experts  # 1 when balanced, num_experts when every token goes to one expert
    # evaluate's loss is the cross-entropy plus the batches' aux loss (7 equal batches: their mean)
    assert 0.9 < loss - cross_entropy < 0.5 * num_experts
    assert accuracy == pytest.approx(np.mean(probabilities.argmax(1) == y_val))
    majority = max(np.mean(y_val), 1 - np.mean(y_val))  # always answering the larger file
    assert accuracy > majority + 0.1, (accuracy, majority)
