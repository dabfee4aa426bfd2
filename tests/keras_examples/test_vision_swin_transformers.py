"""keras.io example "Image Classification with Swin Transformers"
(https://keras.io/examples/vision/swin_transformers/), ported as a learner
would. The stored copy is the tf.keras version; its TensorFlow calls are
written with torch: ``tf.reshape``/``tf.transpose`` as ``torch.reshape`` and
``permute``, ``tf.roll`` as ``torch.roll``, ``tf.gather`` as indexing,
``tf.image.extract_patches`` as two ``unfold``s, ``x.get_shape().as_list()``
as ``tuple(x.shape)``, ``tf.Variable(..., trainable=False)`` as
``self.add_weight(name, value, trainable=False)`` (what brainnet's
``keras.Variable`` error suggests), ``tf.random.uniform`` as ``torch.rand``
and ``GlobalAveragePooling1D`` from ``layers``. The rest is the example's:
``window_partition`` and ``window_reverse``, ``DropPath``, ``Mlp``,
``WindowAttention`` with its relative position bias, ``SwinTransformer``
with the shifted windows' attention mask, ``PatchExtract``,
``PatchEmbedding``, ``PatchMerging``, one-hot labels and Adam with
``clipvalue``. As in the example, ``DropPath`` drops paths whenever it is
called, in ``predict`` too (its ``call`` takes no ``training``), so the test
seeds torch before comparing two predictions.

Shortened for CI: MNIST's central 24×24 pixels (10 classes; 3,000 training
and 1,000 test images) in place of CIFAR-100 (32×32×3, 100 classes; the
example's text says CIFAR-10 but loads CIFAR-100), cut into 4×4 patches
instead of 2×2, so the Swin blocks see 6×6 tokens (9 windows of 2×2)
instead of 16×16 (64 windows): the window attention's many tiny matrix
products cost 8 ms a sample on one core at 14×14 tokens. embed_dim 32
instead of 64, 4 heads instead of 8, 128 MLP units instead of 256, 2 epochs
instead of 20, and a learning rate of 1e-3 instead of 1e-4 for those few
epochs; the plots are left out. The tests check
window partitioning, the shifted windows' mask, the relative position index,
the window attention and patch merging against NumPy, and the Swin model
well above chance (10%) with weights that reload to the same predictions.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

num_classes = 10  # the example: 100 (CIFAR-100)
input_shape = (24, 24, 1)  # the example: (32, 32, 3); MNIST's central 24×24

patch_size = (4, 4)  # 4-by-4 sized patches (the example: 2-by-2)
drop_rate = 0.01  # Dropout rate
num_heads = 4  # Attention heads (the example: 8)
embed_dim = 32  # Embedded dimensions (the example: 64)
num_mlp = 128  # MLP nodes (the example: 256)
qkv_bias = True  # Convert embedded patches to query, key, and values with a learnable additive value
window_size = 2  # Size of attention window
shift_size = 1  # Size of shifting

num_patch_x = input_shape[0] // patch_size[0]
num_patch_y = input_shape[1] // patch_size[1]

learning_rate = 1e-3  # the example: 1e-4 (over 20 epochs)
clipvalue = 0.5
batch_size = 32
num_epochs = 2  # the example: 20
validation_split = 0.1


def window_partition(x, window_size):
    _, H, W, C = tuple(x.shape)
    patch_num_H = H // window_size
    patch_num_W = W // window_size
    x = torch.reshape(x, shape=(-1, patch_num_H, window_size, patch_num_W, window_size, C))
    x = torch.permute(x, (0, 1, 3, 2, 4, 5))
    windows = torch.reshape(x, shape=(-1, window_size, window_size, C))
    return windows


def window_reverse(windows, window_size, H, W, C):
    patch_num_H = H // window_size
    patch_num_W = W // window_size
    x = torch.reshape(windows, shape=(-1, patch_num_H, patch_num_W, window_size, window_size, C))
    x = torch.permute(x, (0, 1, 3, 2, 4, 5))
    x = torch.reshape(x, shape=(-1, H, W, C))
    return x


class DropPath(layers.Layer):
    def __init__(self, drop_prob=None, **kwargs):
        super(DropPath, self).__init__(**kwargs)
        self.drop_prob = drop_prob

    def call(self, x):
        input_shape = tuple(x.shape)
        batch_num = input_shape[0]
        rank = len(input_shape)
        shape = (batch_num,) + (1,) * (rank - 1)
        random_tensor = (1 - self.drop_prob) + torch.rand(shape, dtype=x.dtype, device=x.device)
        path_mask = torch.floor(random_tensor)
        output = torch.divide(x, 1 - self.drop_prob) * path_mask
        return output


class Mlp(layers.Layer):
    def __init__(self, filter_num, drop=0.0, **kwargs):
        super(Mlp, self).__init__(**kwargs)
        self.net = keras.Sequential(
            [
                layers.Dense(filter_num[0]),
                layers.Activation(keras.activations.gelu),
                layers.Dropout(drop),
                layers.Dense(filter_num[1]),
                layers.Dropout(drop),
            ]
        )

    def call(self, x):
        return self.net(x)


class WindowAttention(layers.Layer):
    def __init__(self, dim, window_size, num_heads, qkv_bias=True, drop_rate=0.0):
        super(WindowAttention, self).__init__()
        self.dim = dim
        self.window_size = window_size
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = layers.Dense(dim * 3, use_bias=qkv_bias)
        self.dropout = layers.Dropout(drop_rate)
        self.proj = layers.Dense(dim)

    def build(self, input_shape):
        num_window_elements = (2 * self.window_size[0] - 1) * (2 * self.window_size[1] - 1)
        self.relative_position_bias_table = self.add_weight(
            shape=(num_window_elements, self.num_heads),
            initializer=keras.initializers.Zeros(),
            trainable=True,
        )
        coords_h = np.arange(self.window_size[0])
        coords_w = np.arange(self.window_size[1])
        coords_matrix = np.meshgrid(coords_h, coords_w, indexing="ij")
        coords = np.stack(coords_matrix)
        coords_flatten = coords.reshape(2, -1)
        relative_coords = coords_flatten[:, :, None] - coords_flatten[:, None, :]
        relative_coords = relative_coords.transpose([1, 2, 0])
        relative_coords[:, :, 0] += self.window_size[0] - 1
        relative_coords[:, :, 1] += self.window_size[1] - 1
        relative_coords[:, :, 0] *= 2 * self.window_size[1] - 1
        relative_position_index = relative_coords.sum(-1)

        self.relative_position_index = self.add_weight(
            "relative_position_index", torch.as_tensor(relative_position_index), trainable=False
        )

    def call(self, x, mask=None):
        _, N, C = tuple(x.shape)
        head_dim = C // self.num_heads
        x_qkv = self.qkv(x)
        x_qkv = torch.reshape(x_qkv, shape=(-1, N, 3, self.num_heads, head_dim))
        x_qkv = torch.permute(x_qkv, (2, 0, 3, 1, 4))
        q, k, v = x_qkv[0], x_qkv[1], x_qkv[2]
        q = q * self.scale
        k = torch.permute(k, (0, 1, 3, 2))
        attn = q @ k

        num_window_elements = self.window_size[0] * self.window_size[1]
        relative_position_index_flat = torch.reshape(self.relative_position_index, shape=(-1,))
        relative_position_bias = self.relative_position_bias_table[relative_position_index_flat]  # tf.gather
        relative_position_bias = torch.reshape(relative_position_bias, shape=(num_window_elements, num_window_elements, -1))
        relative_position_bias = torch.permute(relative_position_bias, (2, 0, 1))
        attn = attn + torch.unsqueeze(relative_position_bias, 0)

        if mask is not None:
            nW = mask.shape[0]
            mask_float = torch.unsqueeze(torch.unsqueeze(mask, 1), 0).to(torch.float32)
            attn = torch.reshape(attn, shape=(-1, nW, self.num_heads, N, N)) + mask_float
            attn = torch.reshape(attn, shape=(-1, self.num_heads, N, N))
            attn = keras.activations.softmax(attn, axis=-1)
        else:
            attn = keras.activations.softmax(attn, axis=-1)
        attn = self.dropout(attn)

        x_qkv = attn @ v
        x_qkv = torch.permute(x_qkv, (0, 2, 1, 3))
        x_qkv = torch.reshape(x_qkv, shape=(-1, N, C))
        x_qkv = self.proj(x_qkv)
        x_qkv = self.dropout(x_qkv)
        return x_qkv


class SwinTransformer(layers.Layer):
    def __init__(
        self,
        dim,
        num_patch,
        num_heads,
        window_size=7,
        shift_size=0,
        num_mlp=1024,
        qkv_bias=True,
        drop_rate=0.0,
    ):
        super(SwinTransformer, self).__init__()

        self.dim = dim  # number of input dimensions
        self.num_patch = num_patch  # number of embedded patches
        self.num_heads = num_heads  # number of attention heads
        self.window_size = window_size  # size of window
        self.shift_size = shift_size  # size of window shift
        self.num_mlp = num_mlp  # number of MLP nodes

        self.norm1 = layers.LayerNormalization(epsilon=1e-5)
        self.attn = WindowAttention(
            dim,
            window_size=(self.window_size, self.window_size),
            num_heads=num_heads,
            qkv_bias=qkv_bias,
            drop_rate=drop_rate,
        )
        self.drop_path = DropPath(drop_rate)
        self.norm2 = layers.LayerNormalization(epsilon=1e-5)
        self.mlp = Mlp([num_mlp, dim], drop=drop_rate)
        if min(self.num_patch) < self.window_size:
            self.shift_size = 0
            self.window_size = min(self.num_patch)

    def build(self, input_shape):
        if self.shift_size > 0:
            H, W = self.num_patch
            h_slices = (
                slice(0, -self.window_size),
                slice(-self.window_size, -self.shift_size),
                slice(-self.shift_size, None),
            )
            w_slices = (
                slice(0, -self.window_size),
                slice(-self.window_size, -self.shift_size),
                slice(-self.shift_size, None),
            )
            mask_array = np.zeros((1, H, W, 1))
            count = 0
            for h in h_slices:
                for w in w_slices:
                    mask_array[:, h, w, :] = count
                    count += 1
            mask_array = torch.as_tensor(mask_array)

            # mask array to windows
            mask_windows = window_partition(mask_array, self.window_size)
            mask_windows = torch.reshape(mask_windows, shape=[-1, self.window_size * self.window_size])
            attn_mask = torch.unsqueeze(mask_windows, 1) - torch.unsqueeze(mask_windows, 2)
            attn_mask = torch.where(attn_mask != 0, -100.0, attn_mask)
            attn_mask = torch.where(attn_mask == 0, 0.0, attn_mask)
            self.attn_mask = self.add_weight("attn_mask", attn_mask, trainable=False)
        else:
            self.attn_mask = None

    def call(self, x):
        H, W = self.num_patch
        B, L, C = tuple(x.shape)
        x_skip = x
        x = self.norm1(x)
        x = torch.reshape(x, shape=(-1, H, W, C))
        if self.shift_size > 0:
            shifted_x = torch.roll(x, shifts=[-self.shift_size, -self.shift_size], dims=[1, 2])
        else:
            shifted_x = x

        x_windows = window_partition(shifted_x, self.window_size)
        x_windows = torch.reshape(x_windows, shape=(-1, self.window_size * self.window_size, C))
        attn_windows = self.attn(x_windows, mask=self.attn_mask)

        attn_windows = torch.reshape(attn_windows, shape=(-1, self.window_size, self.window_size, C))
        shifted_x = window_reverse(attn_windows, self.window_size, H, W, C)
        if self.shift_size > 0:
            x = torch.roll(shifted_x, shifts=[self.shift_size, self.shift_size], dims=[1, 2])
        else:
            x = shifted_x

        x = torch.reshape(x, shape=(-1, H * W, C))
        x = self.drop_path(x)
        x = x_skip + x
        x_skip = x
        x = self.norm2(x)
        x = self.mlp(x)
        x = self.drop_path(x)
        x = x_skip + x
        return x


class PatchExtract(layers.Layer):
    def __init__(self, patch_size):
        super(PatchExtract, self).__init__()
        self.patch_size_x = patch_size[0]
        self.patch_size_y = patch_size[0]

    def call(self, images):
        batch_size = images.shape[0]
        px, py = self.patch_size_x, self.patch_size_y
        patches = images.unfold(1, px, px).unfold(2, py, py).permute(0, 1, 2, 4, 5, 3)  # (B, rows, cols, px, py, C)
        patches = patches.reshape(*patches.shape[:3], -1)  # tf.image.extract_patches: (B, rows, cols, px·py·C)
        patch_dim = patches.shape[-1]
        patch_num = patches.shape[1]
        return torch.reshape(patches, (batch_size, patch_num * patch_num, patch_dim))


class PatchEmbedding(layers.Layer):
    def __init__(self, num_patch, embed_dim):
        super(PatchEmbedding, self).__init__()
        self.num_patch = num_patch
        self.proj = layers.Dense(embed_dim)
        self.pos_embed = layers.Embedding(input_dim=num_patch, output_dim=embed_dim)

    def call(self, patch):
        pos = torch.arange(start=0, end=self.num_patch, step=1, device=patch.device)
        return self.proj(patch) + self.pos_embed(pos)


class PatchMerging(layers.Layer):
    def __init__(self, num_patch, embed_dim):
        super(PatchMerging, self).__init__()
        self.num_patch = num_patch
        self.embed_dim = embed_dim
        self.linear_trans = layers.Dense(2 * embed_dim, use_bias=False)

    def call(self, x):
        H, W = self.num_patch
        _, _, C = tuple(x.shape)
        x = torch.reshape(x, shape=(-1, H, W, C))
        x0 = x[:, 0::2, 0::2, :]
        x1 = x[:, 1::2, 0::2, :]
        x2 = x[:, 0::2, 1::2, :]
        x3 = x[:, 1::2, 1::2, :]
        x = torch.concat((x0, x1, x2, x3), axis=-1)
        x = torch.reshape(x, shape=(-1, (H // 2) * (W // 2), 4 * C))
        return self.linear_trans(x)


def build_model():
    """The example's "Build the model" section, as a function so each test builds its own."""
    input = layers.Input(input_shape)
    x = PatchExtract(patch_size)(input)
    x = PatchEmbedding(num_patch_x * num_patch_y, embed_dim)(x)
    x = SwinTransformer(
        dim=embed_dim,
        num_patch=(num_patch_x, num_patch_y),
        num_heads=num_heads,
        window_size=window_size,
        shift_size=0,
        num_mlp=num_mlp,
        qkv_bias=qkv_bias,
        drop_rate=drop_rate,
    )(x)
    x = SwinTransformer(
        dim=embed_dim,
        num_patch=(num_patch_x, num_patch_y),
        num_heads=num_heads,
        window_size=window_size,
        shift_size=shift_size,
        num_mlp=num_mlp,
        qkv_bias=qkv_bias,
        drop_rate=drop_rate,
    )(x)
    x = PatchMerging((num_patch_x, num_patch_y), embed_dim=embed_dim)(x)
    x = layers.GlobalAveragePooling1D()(x)
    output = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(input, output)


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    """The example's "Prepare the data" on MNIST: pixels in [0, 1], one-hot labels."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=mnist_dir)
    x_train, x_test = x_train[:3000, 2:26, 2:26, None] / 255.0, x_test[:1000, 2:26, 2:26, None] / 255.0
    y_train = keras.utils.to_categorical(y_train[:3000], num_classes)
    y_test = keras.utils.to_categorical(y_test[:1000], num_classes)
    return (x_train.astype("float32"), y_train), (x_test.astype("float32"), y_test)


def naive_window_partition(x, w):
    """NumPy: window n = (b, i, j) row-major holds x[b, i·w:(i+1)·w, j·w:(j+1)·w]."""
    b, h, wd, c = x.shape
    out = []
    for n in range(b):
        for i in range(h // w):
            for j in range(wd // w):
                out.append(x[n, i * w: (i + 1) * w, j * w: (j + 1) * w])
    return np.stack(out)


def test_window_partition_and_reverse_against_numpy():
    """Section "Helper Functions": windows cut row-major per image, and put back."""
    x = np.random.default_rng(0).normal(size=(2, 6, 4, 3)).astype("float32")
    windows = window_partition(torch.from_numpy(x), 2)
    assert tuple(windows.shape) == (2 * 3 * 2, 2, 2, 3)
    np.testing.assert_array_equal(windows.numpy(), naive_window_partition(x, 2))
    np.testing.assert_array_equal(window_reverse(windows, 2, 6, 4, 3).numpy(), x)


def test_the_relative_position_index_and_bias_against_numpy():
    """Section "Window based multi-head self attention": B[i, j] = table[(Δy + w−1)(2w−1) + Δx + w−1]."""
    for w in (2, 3):
        layer = WindowAttention(8, window_size=(w, w), num_heads=2)
        layer(torch.zeros(1, w * w, 8))
        coords = [(i // w, i % w) for i in range(w * w)]
        expected = np.array([[(yi - yj + w - 1) * (2 * w - 1) + (xi - xj + w - 1) for (yj, xj) in coords]
                             for (yi, xi) in coords])
        np.testing.assert_array_equal(layer.relative_position_index.numpy(), expected)
        assert tuple(layer.relative_position_bias_table.shape) == ((2 * w - 1) ** 2, 2)
        assert layer.relative_position_index.requires_grad is False
        # same offset, same table row: the index depends on (Δy, Δx) only, and covers every row of the table
        assert sorted(set(expected.ravel())) == list(range((2 * w - 1) ** 2))


def np_window_attention(layer, x, mask=None):
    """NumPy: A = softmax(q kᵀ/√d_h + B (+ mask of the window)), y = (A v) W_p + b_p, per head."""
    wqkv, bqkv = (p.astype("float64") for p in layer.qkv.get_weights())
    wp, bp = (p.astype("float64") for p in layer.proj.get_weights())
    table = layer.relative_position_bias_table.detach().numpy().astype("float64")
    index = layer.relative_position_index.numpy()
    nwin, n, c = x.shape
    h = layer.num_heads
    d = c // h
    qkv = (x @ wqkv + bqkv).reshape(nwin, n, 3, h, d)
    out = np.zeros((nwin, n, c))
    for b in range(nwin):
        for head in range(h):
            q, k, v = qkv[b, :, 0, head], qkv[b, :, 1, head], qkv[b, :, 2, head]
            s = q @ k.T / np.sqrt(d) + table[index, head]
            if mask is not None:
                s = s + mask[b % mask.shape[0]]
            a = np.exp(s - s.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            out[b, :, head * d: (head + 1) * d] = a @ v
    return out @ wp + bp


def test_window_attention_with_its_bias_and_mask_against_numpy():
    """Section "Window based multi-head self attention", with a trained-looking bias table and a mask."""
    keras.utils.set_random_seed(1)
    layer = WindowAttention(8, window_size=(2, 2), num_heads=2)
    x = np.random.default_rng(2).normal(size=(6, 4, 8)).astype("float32")
    layer(torch.from_numpy(x))
    with torch.no_grad():
        layer.relative_position_bias_table.copy_(torch.randn(9, 2))
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(), np_window_attention(layer, x),
                               rtol=1e-4, atol=1e-5)
    mask = np.where(np.random.default_rng(3).uniform(size=(3, 4, 4)) > 0.5, -100.0, 0.0)
    got = layer(torch.from_numpy(x), mask=torch.from_numpy(mask)).detach().numpy()
    np.testing.assert_allclose(got, np_window_attention(layer, x, mask), rtol=1e-4, atol=1e-5)


def test_the_shifted_windows_mask_separates_pieces_that_the_roll_brought_together():
    """Section "The final Swin Transformer model": −100 between tokens of a rolled window from different regions."""
    block = SwinTransformer(dim=8, num_patch=(6, 6), num_heads=2, window_size=2, shift_size=1, num_mlp=16)
    block(torch.zeros(1, 36, 8))
    mask = block.attn_mask.numpy()
    assert mask.shape == (9, 4, 4) and block.attn_mask.requires_grad is False
    # NumPy: roll the grid of positions by −1 as the block rolls x; two tokens of one window may attend to each
    # other when they were neighbours before the roll (no wrap-around between them in either axis).
    rows, cols = np.meshgrid(np.arange(6), np.arange(6), indexing="ij")
    rolled = np.stack([np.roll(rows, -1, (0, 1)), np.roll(cols, -1, (0, 1))], axis=-1)  # original (row, col)
    windows = naive_window_partition(rolled[None], 2).reshape(9, 4, 2)
    wraps = np.abs(windows[:, :, None, :] - windows[:, None, :, :]) > 1
    expected = np.where(wraps.any(-1), -100.0, 0.0)
    np.testing.assert_array_equal(mask, expected)
    assert (mask == 0).all(axis=(1, 2)).sum() == 4  # the 4 windows away from the seams are whole
    # a block without a shift has no mask
    unshifted = SwinTransformer(dim=8, num_patch=(6, 6), num_heads=2, window_size=2, shift_size=0, num_mlp=16)
    unshifted(torch.zeros(1, 36, 8))
    assert unshifted.attn_mask is None


def test_patch_extract_embedding_and_merging_against_numpy():
    """Section "Extract and Embed patches"."""
    images = np.random.default_rng(4).uniform(size=(2, 8, 8, 1)).astype("float32")
    patches = PatchExtract((2, 2))(torch.from_numpy(images)).numpy()
    assert patches.shape == (2, 16, 4)
    np.testing.assert_array_equal(patches[1, 4 * 2 + 3], images[1, 4:6, 6:8, 0].ravel())
    embedding = PatchEmbedding(16, 5)
    embedded = embedding(torch.from_numpy(patches)).detach().numpy()
    kernel, bias = embedding.proj.get_weights()
    (table,) = embedding.pos_embed.get_weights()
    np.testing.assert_allclose(embedded, patches @ kernel + bias + table[None], rtol=1e-5, atol=1e-6)
    # merging: the 2×2 neighbours (0,0), (1,0), (0,1), (1,1) concatenated, then a linear map without bias
    tokens = np.random.default_rng(5).normal(size=(2, 16, 3)).astype("float32")
    merging = PatchMerging((4, 4), embed_dim=3)
    merged = merging(torch.from_numpy(tokens)).detach().numpy()
    (w,) = merging.linear_trans.get_weights()
    grid = tokens.reshape(2, 4, 4, 3)
    expected = np.stack([np.concatenate([grid[:, 2 * i, 2 * j], grid[:, 2 * i + 1, 2 * j], grid[:, 2 * i, 2 * j + 1],
                                         grid[:, 2 * i + 1, 2 * j + 1]], axis=-1)
                         for i in range(2) for j in range(2)], axis=1) @ w
    assert merged.shape == (2, 4, 6)
    np.testing.assert_allclose(merged, expected, rtol=1e-5, atol=1e-5)


def test_the_swin_model_trains_well_above_chance_and_reloads(mnist, tmp_path):
    """Sections "Build the model", "Train on CIFAR-10" and the final evaluation."""
    (x_train, y_train), (x_test, y_test) = mnist
    keras.utils.set_random_seed(0)
    model = build_model()
    assert tuple(model.output_shape) == (None, num_classes)
    model.compile(
        loss=keras.losses.categorical_crossentropy,
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, clipvalue=clipvalue),
        metrics=[
            keras.metrics.CategoricalAccuracy(name="accuracy"),
            keras.metrics.TopKCategoricalAccuracy(5, name="top-5-accuracy"),
        ],
    )
    history = model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=num_epochs,
        validation_split=validation_split,
        verbose=0,
    )
    losses = history.history["loss"]
    assert len(losses) == num_epochs and losses[-1] < losses[0], losses
    assert history.history["val_loss"][-1] < history.history["val_loss"][0]

    loss, accuracy, top_5_accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.5 and top_5_accuracy >= accuracy, (accuracy, top_5_accuracy)

    # DropPath drops in predict too, as in the example: the same seed gives the same drops
    keras.utils.set_random_seed(1)
    probabilities = model.predict(x_test[:200], verbose=0)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    path = str(tmp_path / "swin.weights.h5")
    model.save_weights(path)
    twin = build_model()
    twin.load_weights(path)
    keras.utils.set_random_seed(1)
    np.testing.assert_allclose(twin.predict(x_test[:200], verbose=0), probabilities, rtol=1e-5, atol=1e-6)
