"""keras.io example "Train a Vision Transformer on small datasets"
(https://keras.io/examples/vision/vit_small_ds/), its Keras 3 version,
ported as a learner would: ``import brainnet as keras``,
``from brainnet import layers``, ``keras.ops`` calls in their torch spellings
(``ops.concatenate`` is ``torch.concatenate``, ``ops.einsum`` ``torch.einsum``,
``ops.eye`` ``torch.eye``, ``ops.cos`` and ``ops.where`` ``torch.cos`` and
``torch.where``), and its TensorFlow calls too: ``tf.image.crop_to_bounding_box``
then ``pad_to_bounding_box`` is a slice then ``torch.nn.functional.pad``,
``tf.image.extract_patches`` two ``unfold``s (the ``(B, rows, cols, p·p·C)``
grid it returns), ``tf.Variable(τ₀, trainable=True)`` a
``torch.nn.Parameter``. The rest is the example's: the augmentation
``Sequential``, ``ShiftedPatchTokenization`` (with its ``vanilla`` switch),
``PatchEncoder``, ``MultiHeadAttentionLSA`` (a subclass of
``layers.MultiHeadAttention`` that overrides Keras 3's ``_compute_attention``
hook with a learnable temperature τ in place of √d_k), the diagonal
``attention_mask``, the ``WarmUpCosine`` schedule and ``run_experiment`` on
the vanilla ViT and on the SPT + LSA one (the augmentation ``Sequential`` made
by a function and given to ``create_vit_classifier``, so that each test
adapts its own). As in the example, the schedule is
built in ``run_experiment`` but AdamW is given the constant ``LEARNING_RATE``.

Shortened for CI: MNIST (28×28×1, 10 classes; 3,000 training and 1,000 test
images) in place of CIFAR-100 (32×32×3, 100 classes), resized to 24×24
instead of 72×72 with the example's 6×6 patches (16 patches instead of 144);
2 Transformer blocks instead of 8, PROJECTION_DIM 32 instead of 64, an MLP
head of 128 and 64 units instead of 2,048 and 1,024, batch size 64 instead of
256, 3 epochs instead of 50; the plots of the patches are left out (their
shapes and contents are checked). The tests check the shifted images and
tokens against NumPy, that the diagonal mask keeps every token from attending
to itself and that LSA's weights are NumPy's softmax(QKᵀ/τ) over the other
tokens, the schedule against NumPy, both ViTs well above chance (10%) with a
trained τ, and reloaded weights giving the same predictions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import brainnet as keras
from brainnet import layers

SEED = 42

NUM_CLASSES = 10  # the example: 100 (CIFAR-100)
INPUT_SHAPE = (28, 28, 1)  # the example: (32, 32, 3)

# DATA
BATCH_SIZE = 64  # the example: 256

# AUGMENTATION
IMAGE_SIZE = 24  # the example: 72
PATCH_SIZE = 6
NUM_PATCHES = (IMAGE_SIZE // PATCH_SIZE) ** 2

# OPTIMIZER
LEARNING_RATE = 0.001
WEIGHT_DECAY = 0.0001

# TRAINING
EPOCHS = 3  # the example: 50

# ARCHITECTURE
LAYER_NORM_EPS = 1e-6
TRANSFORMER_LAYERS = 2  # the example: 8
PROJECTION_DIM = 32  # the example: 64
NUM_HEADS = 4
TRANSFORMER_UNITS = [
    PROJECTION_DIM * 2,
    PROJECTION_DIM,
]
MLP_HEAD_UNITS = [128, 64]  # the example: [2048, 1024]


def make_data_augmentation():
    return keras.Sequential(
        [
            layers.Normalization(),
            layers.Resizing(IMAGE_SIZE, IMAGE_SIZE),
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(factor=0.02),
            layers.RandomZoom(height_factor=0.2, width_factor=0.2),
        ],
        name="data_augmentation",
    )


class ShiftedPatchTokenization(layers.Layer):
    def __init__(
        self,
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        num_patches=NUM_PATCHES,
        projection_dim=PROJECTION_DIM,
        vanilla=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vanilla = vanilla  # Flag to swtich to vanilla patch extractor
        self.image_size = image_size
        self.patch_size = patch_size
        self.half_patch = patch_size // 2
        self.flatten_patches = layers.Reshape((num_patches, -1))
        self.projection = layers.Dense(units=projection_dim)
        self.layer_norm = layers.LayerNormalization(epsilon=LAYER_NORM_EPS)

    def crop_shift_pad(self, images, mode):
        # Build the diagonally shifted images
        if mode == "left-up":
            crop_height = self.half_patch
            crop_width = self.half_patch
            shift_height = 0
            shift_width = 0
        elif mode == "left-down":
            crop_height = 0
            crop_width = self.half_patch
            shift_height = self.half_patch
            shift_width = 0
        elif mode == "right-up":
            crop_height = self.half_patch
            crop_width = 0
            shift_height = 0
            shift_width = self.half_patch
        else:
            crop_height = 0
            crop_width = 0
            shift_height = self.half_patch
            shift_width = self.half_patch

        # Crop the shifted images and pad them
        target = self.image_size - self.half_patch
        crop = images[:, crop_height : crop_height + target, crop_width : crop_width + target, :]  # crop_to_bounding_box
        shift_pad = F.pad(  # pad_to_bounding_box: (channels, width, height) pads, last axis first
            crop,
            (0, 0, shift_width, self.image_size - target - shift_width, shift_height, self.image_size - target - shift_height),
        )
        return shift_pad

    def call(self, images):
        if not self.vanilla:
            # Concat the shifted images with the original image
            images = torch.concatenate(
                [
                    images,
                    self.crop_shift_pad(images, mode="left-up"),
                    self.crop_shift_pad(images, mode="left-down"),
                    self.crop_shift_pad(images, mode="right-up"),
                    self.crop_shift_pad(images, mode="right-down"),
                ],
                axis=-1,
            )
        # Patchify the images and flatten it (tf.image.extract_patches: (B, rows, cols, p·p·C))
        p = self.patch_size
        patches = images.unfold(1, p, p).unfold(2, p, p).permute(0, 1, 2, 4, 5, 3)  # (B, rows, cols, p, p, C)
        patches = patches.reshape(*patches.shape[:3], -1)  # (B, rows, cols, p·p·C)
        flat_patches = self.flatten_patches(patches)
        if not self.vanilla:
            # Layer normalize the flat patches and linearly project it
            tokens = self.layer_norm(flat_patches)
            tokens = self.projection(tokens)
        else:
            # Linearly project the flat patches
            tokens = self.projection(flat_patches)
        return (tokens, patches)


class PatchEncoder(layers.Layer):
    def __init__(self, num_patches=NUM_PATCHES, projection_dim=PROJECTION_DIM, **kwargs):
        super().__init__(**kwargs)
        self.num_patches = num_patches
        self.position_embedding = layers.Embedding(input_dim=num_patches, output_dim=projection_dim)
        self.positions = torch.arange(start=0, end=self.num_patches, step=1)

    def call(self, encoded_patches):
        # self.positions is made on the CPU; on a GPU the indices go to the patches' device
        encoded_positions = self.position_embedding(self.positions.to(encoded_patches.device))
        encoded_patches = encoded_patches + encoded_positions
        return encoded_patches


class MultiHeadAttentionLSA(layers.MultiHeadAttention):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # The trainable temperature term. The initial value is
        # the square root of the key dimension.
        self.tau = torch.nn.Parameter(torch.tensor(math.sqrt(float(self._key_dim))))

    def _compute_attention(self, query, key, value, attention_mask=None, training=None):
        query = torch.multiply(query, 1.0 / self.tau)
        attention_scores = torch.einsum(self._dot_product_equation, key, query)
        attention_scores = self._masked_softmax(attention_scores, attention_mask)
        attention_scores_dropout = self._dropout_layer(attention_scores, training=training)
        attention_output = torch.einsum(self._combine_equation, attention_scores_dropout, value)
        return attention_output, attention_scores


def mlp(x, hidden_units, dropout_rate):
    for units in hidden_units:
        x = layers.Dense(units, activation="gelu")(x)
        x = layers.Dropout(dropout_rate)(x)
    return x


# Build the diagonal attention mask
diag_attn_mask = 1 - torch.eye(NUM_PATCHES)
diag_attn_mask = torch.stack([diag_attn_mask]).to(torch.int8)  # ops.cast([diag_attn_mask], dtype="int8")


def create_vit_classifier(data_augmentation, vanilla=False):
    inputs = layers.Input(shape=INPUT_SHAPE)
    # Augment data.
    augmented = data_augmentation(inputs)
    # Create patches.
    (tokens, _) = ShiftedPatchTokenization(vanilla=vanilla)(augmented)
    # Encode patches.
    encoded_patches = PatchEncoder()(tokens)

    # Create multiple layers of the Transformer block.
    for _ in range(TRANSFORMER_LAYERS):
        # Layer normalization 1.
        x1 = layers.LayerNormalization(epsilon=1e-6)(encoded_patches)
        # Create a multi-head attention layer.
        if not vanilla:
            attention_output = MultiHeadAttentionLSA(num_heads=NUM_HEADS, key_dim=PROJECTION_DIM, dropout=0.1)(
                x1, x1, attention_mask=diag_attn_mask
            )
        else:
            attention_output = layers.MultiHeadAttention(num_heads=NUM_HEADS, key_dim=PROJECTION_DIM, dropout=0.1)(
                x1, x1
            )
        # Skip connection 1.
        x2 = layers.Add()([attention_output, encoded_patches])
        # Layer normalization 2.
        x3 = layers.LayerNormalization(epsilon=1e-6)(x2)
        # MLP.
        x3 = mlp(x3, hidden_units=TRANSFORMER_UNITS, dropout_rate=0.1)
        # Skip connection 2.
        encoded_patches = layers.Add()([x3, x2])

    # Create a [batch_size, projection_dim] tensor.
    representation = layers.LayerNormalization(epsilon=1e-6)(encoded_patches)
    representation = layers.Flatten()(representation)
    representation = layers.Dropout(0.5)(representation)
    # Add MLP.
    features = mlp(representation, hidden_units=MLP_HEAD_UNITS, dropout_rate=0.5)
    # Classify outputs.
    logits = layers.Dense(NUM_CLASSES)(features)
    # Create the Keras model.
    model = keras.Model(inputs=inputs, outputs=logits)
    return model


class WarmUpCosine(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, learning_rate_base, total_steps, warmup_learning_rate, warmup_steps):
        super().__init__()

        self.learning_rate_base = learning_rate_base
        self.total_steps = total_steps
        self.warmup_learning_rate = warmup_learning_rate
        self.warmup_steps = warmup_steps
        self.pi = torch.tensor(np.pi)

    def __call__(self, step):
        if self.total_steps < self.warmup_steps:
            raise ValueError("Total_steps must be larger or equal to warmup_steps.")

        step = torch.as_tensor(step, dtype=torch.float32)  # ops.cast(step, dtype="float32")
        cos_annealed_lr = torch.cos(self.pi * (step - self.warmup_steps) / float(self.total_steps - self.warmup_steps))
        learning_rate = 0.5 * self.learning_rate_base * (1 + cos_annealed_lr)

        if self.warmup_steps > 0:
            if self.learning_rate_base < self.warmup_learning_rate:
                raise ValueError("Learning_rate_base must be larger or equal to warmup_learning_rate.")
            slope = (self.learning_rate_base - self.warmup_learning_rate) / self.warmup_steps
            warmup_rate = slope * step + self.warmup_learning_rate
            learning_rate = torch.where(step < self.warmup_steps, warmup_rate, learning_rate)
        return torch.where(step > self.total_steps, 0.0, learning_rate)


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    """The example's "Prepare the data" on MNIST: (N, 28, 28, 1) uint8 images, (N, 1) labels as Keras's CIFAR."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=mnist_dir)
    x_train, x_test = x_train[:3000, :, :, None], x_test[:1000, :, :, None]
    return (x_train, y_train[:3000, None]), (x_test, y_test[:1000, None])


def naive_shift(image, dy, dx):
    """NumPy: out[i, j] = image[i + dy, j + dx] where that pixel exists, else 0."""
    h, w, _ = image.shape
    out = np.zeros_like(image)
    for i in range(h):
        for j in range(w):
            if 0 <= i + dy < h and 0 <= j + dx < w:
                out[i, j] = image[i + dy, j + dx]
    return out


def naive_grid(images, p):
    """NumPy: (B, H, W, C) cut into a (B, H//p, W//p, p·p·C) grid, each patch (row, col, channel) flat."""
    b, h, w, c = images.shape
    blocks = images.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return blocks.reshape(b, h // p, w // p, p * p * c)


def naive_layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(x.var(-1, keepdims=True) + eps) * gamma + beta


def test_shifted_patch_tokenization_is_numpys_shifts_patches_and_tokens(mnist):
    """Sections "Implement Shifted Patch Tokenization" and "Visualize the patches"."""
    (x_train, _), _ = mnist
    resized_image = layers.Resizing(IMAGE_SIZE, IMAGE_SIZE)(torch.as_tensor(x_train[:2], dtype=torch.float32))
    images = (resized_image / 255.0).numpy().astype("float64")
    half = PATCH_SIZE // 2

    # Vanilla patch maker: the image cut into a grid of 6×6 patches, each projected
    (token, patch) = ShiftedPatchTokenization(vanilla=True)(resized_image / 255.0)
    assert tuple(patch.shape) == (2, 4, 4, PATCH_SIZE * PATCH_SIZE * 1) and tuple(token.shape) == (2, 16, PROJECTION_DIM)
    np.testing.assert_allclose(patch.numpy(), naive_grid(images, PATCH_SIZE), atol=1e-6)

    # Shifted Patch Tokenization: the original and the four diagonal shifts side by side in the channels
    spt = ShiftedPatchTokenization(vanilla=False)
    (token, patch) = spt(resized_image / 255.0)
    assert tuple(patch.shape) == (2, 4, 4, PATCH_SIZE * PATCH_SIZE * 5 * 1)
    # "left-up" moves the content up and left: out[i, j] = image[i + 3, j + 3]; "right-down" the other way
    shifts = {"ORIGINAL": (0, 0), "LEFT-UP": (half, half), "LEFT-DOWN": (-half, half),
              "RIGHT-UP": (half, -half), "RIGHT-DOWN": (-half, -half)}
    stacked = np.stack([np.concatenate([naive_shift(im, dy, dx) for dy, dx in shifts.values()], axis=-1)
                        for im in images])  # (2, 24, 24, 5)
    expected_grid = naive_grid(stacked, PATCH_SIZE)
    np.testing.assert_allclose(patch.numpy(), expected_grid, atol=1e-6)
    for index, name in enumerate(shifts):  # the display: channel group `index` of each patch is that shift's block
        n = patch.shape[1]
        for row in range(n):
            for col in range(n):
                image = torch.reshape(patch[0][row][col], (PATCH_SIZE, PATCH_SIZE, 5 * 1))
                dy, dx = shifts[name]
                block = naive_shift(images[0], dy, dx)[6 * row: 6 * row + 6, 6 * col: 6 * col + 6]
                np.testing.assert_allclose(image[..., index: index + 1].numpy(), block, atol=1e-6)
    # tokens = LayerNorm(flat patch)·W + b
    gamma, beta = spt.layer_norm.get_weights()
    kernel, bias = spt.projection.get_weights()
    flat = expected_grid.reshape(2, NUM_PATCHES, -1)
    expected_tokens = naive_layer_norm(flat, gamma, beta, LAYER_NORM_EPS) @ kernel + bias
    np.testing.assert_allclose(token.detach().numpy(), expected_tokens, rtol=1e-4, atol=1e-4)


def test_the_patch_encoder_adds_the_position_embedding():
    """Section "Implement the patch encoding layer": y_i = x_i + E[i]."""
    encoder = PatchEncoder(num_patches=5, projection_dim=4)
    x = np.random.default_rng(1).normal(size=(2, 5, 4)).astype("float32")
    got = encoder(torch.from_numpy(x)).detach().numpy()
    table = encoder.position_embedding.get_weights()[0]
    np.testing.assert_allclose(got, x + table[None], rtol=1e-6, atol=1e-6)


def test_locality_self_attention_masks_the_diagonal_with_a_learnable_temperature():
    """Section "Implement Locality Self Attention": A = softmax(QKᵀ/τ) with the diagonal masked, τ trained."""
    keras.utils.set_random_seed(SEED)
    lsa = MultiHeadAttentionLSA(num_heads=2, key_dim=8)
    x = np.random.default_rng(2).normal(size=(3, NUM_PATCHES, 12)).astype("float32")
    out, scores = lsa(torch.from_numpy(x), torch.from_numpy(x), attention_mask=diag_attn_mask,
                      return_attention_scores=True)
    assert tuple(out.shape) == (3, NUM_PATCHES, 12) and tuple(scores.shape) == (3, 2, NUM_PATCHES, NUM_PATCHES)
    assert lsa.tau.item() == pytest.approx(math.sqrt(8))
    # no token attends to itself: the diagonal weights are 0, every row still sums to 1
    weights = scores.detach().numpy()
    assert np.all(np.diagonal(weights, axis1=-2, axis2=-1) == 0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)

    # NumPy: the heads of Q = xW_q + b_q, K = xW_k + b_k, V; scores QKᵀ/τ; softmax over the other tokens
    (wq, bq), (wk, bk), (wv, bv) = (lsa.query_dense.get_weights(), lsa.key_dense.get_weights(),
                                    lsa.value_dense.get_weights())
    wo, bo = lsa.output_dense.get_weights()
    x64 = x.astype("float64")
    q = np.einsum("btd,dhk->bhtk", x64, wq) + bq[None, :, None]  # (B, H, T, d_k)
    k = np.einsum("btd,dhk->bhtk", x64, wk) + bk[None, :, None]
    v = np.einsum("btd,dhk->bhtk", x64, wv) + bv[None, :, None]
    logits = q @ k.transpose(0, 1, 3, 2) / math.sqrt(8)
    logits[..., np.arange(NUM_PATCHES), np.arange(NUM_PATCHES)] = -np.inf
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(weights, expected, rtol=1e-4, atol=1e-6)
    expected_out = np.einsum("bhtv,hvo->bto", expected @ v, wo) + bo
    np.testing.assert_allclose(out.detach().numpy(), expected_out, rtol=1e-4, atol=1e-5)

    # τ is a trainable weight of the layer, and the loss's gradient reaches it
    assert any(w is lsa.tau for w in lsa.trainable_weights)
    out.sum().backward()
    assert lsa.tau.grad is not None and lsa.tau.grad.item() != 0.0
    # without the mask, the diagonal gets weight again
    _, unmasked = lsa(torch.from_numpy(x), torch.from_numpy(x), return_attention_scores=True)
    assert np.all(np.diagonal(unmasked.detach().numpy(), axis1=-2, axis2=-1) > 0)


def test_the_warmup_cosine_schedule_is_numpys():
    """Section "Compile, train, and evaluate the mode": WarmUpCosine against NumPy at every step."""
    schedule = WarmUpCosine(learning_rate_base=LEARNING_RATE, total_steps=100, warmup_learning_rate=0.0,
                            warmup_steps=10)
    steps = np.arange(0, 111)
    warmup = LEARNING_RATE / 10 * steps
    cosine = 0.5 * LEARNING_RATE * (1 + np.cos(np.pi * (steps - 10) / 90))
    expected = np.where(steps > 100, 0.0, np.where(steps < 10, warmup, cosine))
    got = np.array([float(schedule(int(s))) for s in steps])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9)
    assert got[10] == pytest.approx(LEARNING_RATE) and got[100] == pytest.approx(0.0, abs=1e-9)
    # brainnet's optimizers take it as a learning rate, as Keras's do: update t is taken at schedule(t)
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=WEIGHT_DECAY)
    weight = torch.nn.Parameter(torch.ones(3))
    for step in range(12):
        assert float(optimizer.learning_rate) == pytest.approx(expected[step], abs=1e-9)
        optimizer.apply([torch.ones(3)], [weight])
    with pytest.raises(ValueError, match="Total_steps must be larger"):
        WarmUpCosine(LEARNING_RATE, total_steps=5, warmup_learning_rate=0.0, warmup_steps=10)(0)


def test_the_vanilla_and_the_spt_lsa_vits_train_well_above_chance(mnist, tmp_path):
    """Sections "Build the ViT" and "Compile, train, and evaluate the mode", on both ViTs."""
    (x_train, y_train), (x_test, y_test) = mnist
    keras.utils.set_random_seed(SEED)
    data_augmentation = make_data_augmentation()
    # Compute the mean and the variance of the training data for normalization.
    data_augmentation.layers[0].adapt(x_train)

    def run_experiment(model):
        total_steps = int((len(x_train) / BATCH_SIZE) * EPOCHS)
        warmup_epoch_percentage = 0.10
        warmup_steps = int(total_steps * warmup_epoch_percentage)
        scheduled_lrs = WarmUpCosine(
            learning_rate_base=LEARNING_RATE,
            total_steps=total_steps,
            warmup_learning_rate=0.0,
            warmup_steps=warmup_steps,
        )
        # built and, as in the example, not given to AdamW: its peak is LEARNING_RATE after the warm-up
        assert float(scheduled_lrs(warmup_steps)) == pytest.approx(LEARNING_RATE)

        optimizer = keras.optimizers.AdamW(learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY)

        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[
                keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                keras.metrics.SparseTopKCategoricalAccuracy(5, name="top-5-accuracy"),
            ],
        )

        history = model.fit(
            x=x_train,
            y=y_train,
            batch_size=BATCH_SIZE,
            epochs=EPOCHS,
            validation_split=0.1,
            verbose=0,
        )
        _, accuracy, top_5_accuracy = model.evaluate(x_test, y_test, batch_size=BATCH_SIZE, verbose=0)
        return history, accuracy, top_5_accuracy

    results = {}
    for vanilla in (True, False):
        model = create_vit_classifier(data_augmentation, vanilla=vanilla)
        assert tuple(model.output_shape) == (None, NUM_CLASSES)
        history, accuracy, top_5_accuracy = run_experiment(model)
        losses = history.history["loss"]
        assert len(losses) == EPOCHS and losses[-1] < losses[0], losses
        logits = model.predict(x_test, verbose=0)
        np.testing.assert_allclose(accuracy, np.mean(logits.argmax(-1) == y_test[:, 0]), atol=1e-6)
        assert top_5_accuracy >= accuracy
        results[vanilla] = (model, accuracy, logits)
    assert results[True][1] > 0.4 and results[False][1] > 0.4, (results[True][1], results[False][1])

    # the SPT + LSA ViT: two LSA layers whose τ training moved away from √d_k
    vit_sl, _, logits = results[False]
    lsa_layers = [layer for layer in vit_sl.layers if isinstance(layer, MultiHeadAttentionLSA)]
    assert len(lsa_layers) == TRANSFORMER_LAYERS
    assert all(abs(layer.tau.item() - math.sqrt(PROJECTION_DIM)) > 1e-4 for layer in lsa_layers)
    # its weights, τ included, saved and loaded into the same code's fresh model give the same predictions
    path = str(tmp_path / "vit_sl.weights.h5")
    vit_sl.save_weights(path)
    twin = create_vit_classifier(make_data_augmentation(), vanilla=False)
    twin.load_weights(path)
    twin_taus = [layer.tau.item() for layer in twin.layers if isinstance(layer, MultiHeadAttentionLSA)]
    assert twin_taus == [layer.tau.item() for layer in lsa_layers]
    np.testing.assert_allclose(twin.predict(x_test[:50], verbose=0), logits[:50], rtol=1e-5, atol=1e-5)
