"""keras.io example "Masked image modeling with Autoencoders"
(https://keras.io/examples/vision/masked_image_modeling/), the stored copy
is the tf.keras version, ported as a learner would: ``import brainnet as
keras`` and ``from brainnet import layers`` in place of the Keras imports,
the TensorFlow calls in their torch spellings (``tf.image.extract_patches``
is two ``unfold``s, ``tf.gather(x, i, axis=1, batch_dims=1)`` is
``torch.take_along_dim``, ``tf.repeat`` is ``torch.repeat_interleave``,
``tf.argsort`` of ``tf.random.uniform`` is ``torch.argsort`` of
``torch.rand``, ``tf.Variable(..., trainable=True)`` is ``add_weight``,
``tf.GradientTape`` is ``backward``; ``patch_layer(images=...)`` and
``patch_encoder(patches=...)`` name the input by ``call``'s first argument,
as Keras 3 allows), TensorFlow Addons' ``AdamW`` as
``keras.optimizers.AdamW``, the rest as the example has it: the
augmentation models, the ``Patches`` layer with ``reconstruct_from_patch``,
the ``PatchEncoder`` with its trainable mask token and random masking, the
ViT encoder and the light decoder, the ``MaskedAutoencoder`` whose
``train_step`` and ``test_step`` call Keras 2's ``self.compiled_loss`` and
``self.compiled_metrics`` (Keras 3's deprecated shims, which warn), the
``WarmUpCosine`` schedule, the ``TrainMonitor`` callback and the linear
probe on the frozen encoder.

Data: MNIST digits repeated into three channels in place of CIFAR-10.
Shortened for CI: 28×28 inputs resized to 32 and randomly cropped to 28
(the example: 32 resized to 52, cropped to 48), 7×7 patches (16 patches, 12
of them masked, in place of 64 patches of 6×6), an encoder of 2 layers of
width 32 with 2 heads (the example: 3 layers, 128, 4 heads), a decoder of
width 16 with 2 heads (64, 4), 2,048 training, 512 validation and 512 test
images in batches of 64 (40,000, 10,000 and 10,000 in batches of 256), 4
pretraining epochs in place of 100 and 8 linear-probing epochs in place of
50; the plots (``show_patched_image``, the schedule's curve) left out;
the monitor shows every 2 epochs in place of 5 and keeps its images in
place of plotting them; the probing data sets' ``tf.data`` maps are
``DataLoader``s mapped batch by batch.

At this length the reconstructions are close to the mean digit (the test
loss falls from about 0.25 to 0.066, where each pixel's mean over the
training digits scores 0.065), and the linear probe is weak (about 0.18 on
10 classes): the example's probe normalizes with a ``BatchNormalization``
that is not trainable, which Keras runs in inference mode with its first
statistics (mean 0, variance 1), so the probe sees the features as they
are. The test checks that, and that the same features standardized (what
the MAE paper's normalization does) give a NumPy softmax regression far
above chance (about 0.46).

What the tests check: patching and un-patching against NumPy, that the
mask hides the stated fraction of patches (disjoint mask and unmask
indices covering every patch, each image its own draw), the patch
encoder's embeddings against NumPy, the encoder's and decoder's shapes,
the schedule against its formula, that the loss is the mean squared error
of the masked patches of the augmented images (``calculate_loss`` and
``test_step``, whose logs are Keras 3's) and that a training step reaches
the mask token, that pretraining lowers the reconstruction loss, and that
the linear probe learns on the frozen encoder above chance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

from ._mapped_batches import MappedBatches

# DATA
BATCH_SIZE = 64  # the example: 256
INPUT_SHAPE = (28, 28, 3)  # the example: (32, 32, 3)
NUM_CLASSES = 10

# OPTIMIZER
LEARNING_RATE = 5e-3
WEIGHT_DECAY = 1e-4

# PRETRAINING
EPOCHS = 4  # the example: 100

# AUGMENTATION
IMAGE_SIZE = 28  # the example: 48
PATCH_SIZE = 7  # the example: 6
NUM_PATCHES = (IMAGE_SIZE // PATCH_SIZE) ** 2
MASK_PROPORTION = 0.75

# ENCODER and DECODER
LAYER_NORM_EPS = 1e-6
ENC_PROJECTION_DIM = 32  # the example: 128
DEC_PROJECTION_DIM = 16  # the example: 64
ENC_NUM_HEADS = 2  # the example: 4
ENC_LAYERS = 2  # the example: 3
DEC_NUM_HEADS = 2  # the example: 4
DEC_LAYERS = 1
ENC_TRANSFORMER_UNITS = [ENC_PROJECTION_DIM * 2, ENC_PROJECTION_DIM]
DEC_TRANSFORMER_UNITS = [DEC_PROJECTION_DIM * 2, DEC_PROJECTION_DIM]


def get_train_augmentation_model():
    model = keras.Sequential(
        [
            layers.Rescaling(1 / 255.0),
            layers.Resizing(INPUT_SHAPE[0] + 4, INPUT_SHAPE[0] + 4),  # the example: + 20
            layers.RandomCrop(IMAGE_SIZE, IMAGE_SIZE),
            layers.RandomFlip("horizontal"),
        ],
        name="train_data_augmentation",
    )
    return model


def get_test_augmentation_model():
    model = keras.Sequential(
        [layers.Rescaling(1 / 255.0), layers.Resizing(IMAGE_SIZE, IMAGE_SIZE)],
        name="test_data_augmentation",
    )
    return model


class Patches(layers.Layer):
    def __init__(self, patch_size=PATCH_SIZE, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size

        # Assuming the image has three channels each patch would be
        # of size (patch_size, patch_size, 3).
        self.resize = layers.Reshape((-1, patch_size * patch_size * 3))

    def call(self, images):
        # tf.image.extract_patches with sizes and strides of one patch, "VALID": (B, nh, nw, p·p·C)
        p = self.patch_size
        patches = images.unfold(1, p, p).unfold(2, p, p).permute(0, 1, 2, 4, 5, 3)  # (B, nh, nw, p, p, C)
        patches = patches.reshape(patches.shape[:3] + (-1,))

        # Reshape the patches to (batch, num_patches, patch_area) and return it.
        patches = self.resize(patches)
        return patches

    def reconstruct_from_patch(self, patch):
        # This utility function takes patches from a *single* image and
        # reconstructs it back into the image.
        num_patches = patch.shape[0]
        n = int(np.sqrt(num_patches))
        patch = torch.reshape(torch.as_tensor(patch), (num_patches, self.patch_size, self.patch_size, 3))
        rows = torch.split(patch, num_patches // n, dim=0)  # tf.split(x, n): n pieces
        rows = [torch.concat(torch.unbind(x), dim=1) for x in rows]
        reconstructed = torch.concat(rows, dim=0)
        return reconstructed


class PatchEncoder(layers.Layer):
    def __init__(
        self,
        patch_size=PATCH_SIZE,
        projection_dim=ENC_PROJECTION_DIM,
        mask_proportion=MASK_PROPORTION,
        downstream=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.patch_size = patch_size
        self.projection_dim = projection_dim
        self.mask_proportion = mask_proportion
        self.downstream = downstream

        # This is a trainable mask token initialized randomly from a normal
        # distribution.
        self.mask_token = self.add_weight(name="mask_token", value=torch.randn(1, patch_size * patch_size * 3),
                                          trainable=True)

    def build(self, input_shape):
        (_, self.num_patches, self.patch_area) = input_shape

        # Create the projection layer for the patches.
        self.projection = layers.Dense(units=self.projection_dim)

        # Create the positional embedding layer.
        self.position_embedding = layers.Embedding(input_dim=self.num_patches, output_dim=self.projection_dim)

        # Number of patches that will be masked.
        self.num_mask = int(self.mask_proportion * self.num_patches)

    def call(self, patches):
        # Get the positional embeddings.
        batch_size = patches.shape[0]
        positions = torch.arange(start=0, end=self.num_patches, step=1, device=patches.device)
        pos_embeddings = self.position_embedding(positions[None, ...])
        pos_embeddings = torch.tile(pos_embeddings, [batch_size, 1, 1])  # (B, num_patches, projection_dim)

        # Embed the patches.
        patch_embeddings = self.projection(patches) + pos_embeddings  # (B, num_patches, projection_dim)

        if self.downstream:
            return patch_embeddings
        else:
            mask_indices, unmask_indices = self.get_random_indices(batch_size)
            # The encoder input is the unmasked patch embeddings. Here we gather
            # all the patches that should be unmasked.
            unmasked_embeddings = torch.take_along_dim(
                patch_embeddings, unmask_indices[..., None], dim=1
            )  # (B, unmask_numbers, projection_dim)

            # Get the unmasked and masked position embeddings. We will need them
            # for the decoder.
            unmasked_positions = torch.take_along_dim(
                pos_embeddings, unmask_indices[..., None], dim=1
            )  # (B, unmask_numbers, projection_dim)
            masked_positions = torch.take_along_dim(
                pos_embeddings, mask_indices[..., None], dim=1
            )  # (B, mask_numbers, projection_dim)

            # Repeat the mask token number of mask times.
            # Mask tokens replace the masks of the image.
            mask_tokens = torch.repeat_interleave(self.mask_token, repeats=self.num_mask, dim=0)
            mask_tokens = torch.repeat_interleave(mask_tokens[None, ...], repeats=batch_size, dim=0)

            # Get the masked embeddings for the tokens.
            masked_embeddings = self.projection(mask_tokens) + masked_positions
            return (
                unmasked_embeddings,  # Input to the encoder.
                masked_embeddings,  # First part of input to the decoder.
                unmasked_positions,  # Added to the encoder outputs.
                mask_indices,  # The indices that were masked.
                unmask_indices,  # The indices that were unmaksed.
            )

    def get_random_indices(self, batch_size):
        # Create random indices from a uniform distribution and then split
        # it into mask and unmask indices.
        rand_indices = torch.argsort(torch.rand(size=(batch_size, self.num_patches)), dim=-1)
        mask_indices = rand_indices[:, : self.num_mask]
        unmask_indices = rand_indices[:, self.num_mask:]
        return mask_indices, unmask_indices

    def generate_masked_image(self, patches, unmask_indices):
        # Choose a random patch and it corresponding unmask index.
        idx = np.random.choice(patches.shape[0])
        patch = patches[idx]
        unmask_index = unmask_indices[idx]

        # Build a numpy array of same shape as patch.
        new_patch = np.zeros_like(patch)

        # Iterate of the new_patch and plug the unmasked patches.
        for i in range(unmask_index.shape[0]):
            new_patch[unmask_index[i]] = patch[unmask_index[i]]
        return new_patch, idx


def mlp(x, dropout_rate, hidden_units):
    for units in hidden_units:
        x = layers.Dense(units, activation=keras.activations.gelu)(x)
        x = layers.Dropout(dropout_rate)(x)
    return x


def create_encoder(num_heads=ENC_NUM_HEADS, num_layers=ENC_LAYERS):
    inputs = layers.Input((None, ENC_PROJECTION_DIM))
    x = inputs

    for _ in range(num_layers):
        x1 = layers.LayerNormalization(epsilon=LAYER_NORM_EPS)(x)
        attention_output = layers.MultiHeadAttention(num_heads=num_heads, key_dim=ENC_PROJECTION_DIM, dropout=0.1)(
            x1, x1
        )
        x2 = layers.Add()([attention_output, x])
        x3 = layers.LayerNormalization(epsilon=LAYER_NORM_EPS)(x2)
        x3 = mlp(x3, hidden_units=ENC_TRANSFORMER_UNITS, dropout_rate=0.1)
        x = layers.Add()([x3, x2])

    outputs = layers.LayerNormalization(epsilon=LAYER_NORM_EPS)(x)
    return keras.Model(inputs, outputs, name="mae_encoder")


def create_decoder(num_layers=DEC_LAYERS, num_heads=DEC_NUM_HEADS, image_size=IMAGE_SIZE):
    inputs = layers.Input((NUM_PATCHES, ENC_PROJECTION_DIM))
    x = layers.Dense(DEC_PROJECTION_DIM)(inputs)

    for _ in range(num_layers):
        x1 = layers.LayerNormalization(epsilon=LAYER_NORM_EPS)(x)
        attention_output = layers.MultiHeadAttention(num_heads=num_heads, key_dim=DEC_PROJECTION_DIM, dropout=0.1)(
            x1, x1
        )
        x2 = layers.Add()([attention_output, x])
        x3 = layers.LayerNormalization(epsilon=LAYER_NORM_EPS)(x2)
        x3 = mlp(x3, hidden_units=DEC_TRANSFORMER_UNITS, dropout_rate=0.1)
        x = layers.Add()([x3, x2])

    x = layers.LayerNormalization(epsilon=LAYER_NORM_EPS)(x)
    x = layers.Flatten()(x)
    pre_final = layers.Dense(units=image_size * image_size * 3, activation="sigmoid")(x)
    outputs = layers.Reshape((image_size, image_size, 3))(pre_final)

    return keras.Model(inputs, outputs, name="mae_decoder")


class MaskedAutoencoder(keras.Model):
    def __init__(
        self,
        train_augmentation_model,
        test_augmentation_model,
        patch_layer,
        patch_encoder,
        encoder,
        decoder,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.train_augmentation_model = train_augmentation_model
        self.test_augmentation_model = test_augmentation_model
        self.patch_layer = patch_layer
        self.patch_encoder = patch_encoder
        self.encoder = encoder
        self.decoder = decoder

    def calculate_loss(self, images, test=False):
        # Augment the input images.
        if test:
            augmented_images = self.test_augmentation_model(images)
        else:
            augmented_images = self.train_augmentation_model(images)

        # Patch the augmented images.
        patches = self.patch_layer(augmented_images)

        # Encode the patches.
        (
            unmasked_embeddings,
            masked_embeddings,
            unmasked_positions,
            mask_indices,
            unmask_indices,
        ) = self.patch_encoder(patches)

        # Pass the unmaksed patche to the encoder.
        encoder_outputs = self.encoder(unmasked_embeddings)

        # Create the decoder inputs.
        encoder_outputs = encoder_outputs + unmasked_positions
        decoder_inputs = torch.concat([encoder_outputs, masked_embeddings], dim=1)

        # Decode the inputs.
        decoder_outputs = self.decoder(decoder_inputs)
        decoder_patches = self.patch_layer(decoder_outputs)

        loss_patch = torch.take_along_dim(patches, mask_indices[..., None], dim=1)
        loss_output = torch.take_along_dim(decoder_patches, mask_indices[..., None], dim=1)

        # Compute the total loss.
        total_loss = self.compiled_loss(loss_patch, loss_output)

        return total_loss, loss_patch, loss_output

    def train_step(self, images):
        self.zero_grad()  # the tape: gradients start from zero
        total_loss, loss_patch, loss_output = self.calculate_loss(images)
        total_loss.backward()

        # Apply gradients.
        train_vars = [
            self.train_augmentation_model.trainable_variables,
            self.patch_layer.trainable_variables,
            self.patch_encoder.trainable_variables,
            self.encoder.trainable_variables,
            self.decoder.trainable_variables,
        ]
        grads = [[v.grad for v in var] for var in train_vars]
        tv_list = []
        for (grad, var) in zip(grads, train_vars):
            for g, v in zip(grad, var):
                tv_list.append((g, v))
        self.optimizer.apply_gradients(tv_list)

        # Report progress.
        self.compiled_metrics.update_state(loss_patch, loss_output)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, images):
        total_loss, loss_patch, loss_output = self.calculate_loss(images, test=True)

        # Update the trackers.
        self.compiled_metrics.update_state(loss_patch, loss_output)
        return {m.name: m.result() for m in self.metrics}


class TrainMonitor(keras.callbacks.Callback):
    """The example's monitor; it keeps (epoch, original, masked, reconstructed) in place of plotting them."""

    def __init__(self, test_images, epoch_interval=None):
        self.test_images = test_images
        self.epoch_interval = epoch_interval
        self.shown = []

    def on_epoch_end(self, epoch, logs=None):
        if self.epoch_interval and epoch % self.epoch_interval == 0:
            test_augmented_images = self.model.test_augmentation_model(self.test_images)
            test_patches = self.model.patch_layer(test_augmented_images)
            (
                test_unmasked_embeddings,
                test_masked_embeddings,
                test_unmasked_positions,
                test_mask_indices,
                test_unmask_indices,
            ) = self.model.patch_encoder(test_patches)
            test_encoder_outputs = self.model.encoder(test_unmasked_embeddings)
            test_encoder_outputs = test_encoder_outputs + test_unmasked_positions
            test_decoder_inputs = torch.concat([test_encoder_outputs, test_masked_embeddings], dim=1)
            test_decoder_outputs = self.model.decoder(test_decoder_inputs)

            # Show a maksed patch image.
            test_masked_patch, idx = self.model.patch_encoder.generate_masked_image(
                test_patches.detach().numpy(), test_unmask_indices.numpy()
            )
            original_image = test_augmented_images[idx]
            masked_image = self.model.patch_layer.reconstruct_from_patch(test_masked_patch)
            reconstructed_image = test_decoder_outputs[idx]
            self.shown.append((epoch, original_image.numpy(), masked_image.numpy(),
                               reconstructed_image.detach().numpy()))


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

        cos_annealed_lr = torch.cos(
            self.pi
            * (torch.as_tensor(step, dtype=torch.float32) - self.warmup_steps)
            / float(self.total_steps - self.warmup_steps)
        )
        learning_rate = 0.5 * self.learning_rate_base * (1 + cos_annealed_lr)

        if self.warmup_steps > 0:
            if self.learning_rate_base < self.warmup_learning_rate:
                raise ValueError("Learning_rate_base must be larger or equal to warmup_learning_rate.")
            slope = (self.learning_rate_base - self.warmup_learning_rate) / self.warmup_steps
            warmup_rate = slope * torch.as_tensor(step, dtype=torch.float32) + self.warmup_learning_rate
            learning_rate = torch.where(torch.as_tensor(step < self.warmup_steps), warmup_rate, learning_rate)
        return torch.where(torch.as_tensor(step > self.total_steps), 0.0, learning_rate)


def make_mae_model():
    return MaskedAutoencoder(
        train_augmentation_model=get_train_augmentation_model(),
        test_augmentation_model=get_test_augmentation_model(),
        patch_layer=Patches(),
        patch_encoder=PatchEncoder(),
        encoder=create_encoder(),
        decoder=create_decoder(),
    )


# NumPy references


def np_patches(images, p):
    """(B, H, W, C) cut into (B, (H//p)·(W//p), p·p·C): patches row by row, each (row, col, channel) inside."""
    b, h, w, c = images.shape
    blocks = images[:, : h // p * p, : w // p * p].reshape(b, h // p, p, w // p, p, c)
    return blocks.transpose(0, 1, 3, 2, 4, 5).reshape(b, (h // p) * (w // p), p * p * c)


def np_warmup_cosine(step, base, total, warmup_lr, warmup):
    if step > total:
        return 0.0
    if step < warmup:
        return warmup_lr + (base - warmup_lr) * step / warmup
    return 0.5 * base * (1 + np.cos(np.pi * (step - warmup) / (total - warmup)))


def np_standardized_probe_accuracy(features, labels, test_features, test_labels, steps=300, rate=0.5):
    """Softmax regression by full-batch gradient descent on features standardized with the training ones."""
    mean, std = features.mean(0), features.std(0) + 1e-6
    a, b = (features - mean) / std, (test_features - mean) / std
    a, b = np.hstack([a, np.ones((len(a), 1))]), np.hstack([b, np.ones((len(b), 1))])
    weights, onehot = np.zeros((a.shape[1], NUM_CLASSES)), np.eye(NUM_CLASSES)[labels]
    for _ in range(steps):
        z = a @ weights
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        weights -= rate * a.T @ (p - onehot) / len(a)
    return np.mean((b @ weights).argmax(axis=1) == test_labels)


def np_layer_norm(x, eps):
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps)


@pytest.fixture(scope="module")
def mnist_rgb(mnist_dir):
    """Section "Load and prepare the CIFAR-10 dataset", on MNIST digits in three channels (uint8)."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=mnist_dir)
    x_train, x_test = np.repeat(x_train[:2560, ..., None], 3, axis=-1), np.repeat(x_test[:512, ..., None], 3, axis=-1)
    y_train, y_test = y_train[:2560], y_test[:512]
    (x_train, y_train), (x_val, y_val) = (x_train[:2048], y_train[:2048]), (x_train[2048:], y_train[2048:])
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


def test_patches_and_their_reconstruction_are_numpys(mnist_rgb):
    """Section "A layer for extracting patches from images": patches, then reconstruct_from_patch."""
    (x_train, _), _, _ = mnist_rgb
    keras.utils.set_random_seed(0)
    augmented_images = get_train_augmentation_model()(x_train[:8])
    assert tuple(augmented_images.shape) == (8, IMAGE_SIZE, IMAGE_SIZE, 3)
    assert 0 <= float(augmented_images.min()) and float(augmented_images.max()) <= 1
    patch_layer = Patches()
    patches = patch_layer(images=augmented_images)
    assert tuple(patches.shape) == (8, NUM_PATCHES, PATCH_SIZE * PATCH_SIZE * 3)
    np.testing.assert_array_equal(patches.numpy(), np_patches(augmented_images.numpy(), PATCH_SIZE))
    for idx in (0, 5):  # stitched back, each image is itself
        image = patch_layer.reconstruct_from_patch(patches[idx])
        np.testing.assert_array_equal(image.numpy(), augmented_images[idx].numpy())
    # the example's own sizes: 48×48 colour images in 6×6 patches, 64 of 108 values
    colour = np.random.default_rng(1).uniform(size=(2, 48, 48, 3)).astype("float32")
    big = Patches(6)(torch.from_numpy(colour))
    np.testing.assert_array_equal(big.numpy(), np_patches(colour, 6))
    np.testing.assert_array_equal(Patches(6).reconstruct_from_patch(big[1]).numpy(), colour[1])


def test_the_patch_encoder_masks_the_stated_fraction_of_patches():
    """Section "Patch encoding with masking": 75 % of the patches masked, each image its own draw."""
    keras.utils.set_random_seed(1)
    patch_encoder = PatchEncoder()
    patches = torch.from_numpy(np.random.default_rng(2).uniform(size=(32, NUM_PATCHES, 147)).astype("float32"))
    (unmasked_embeddings, masked_embeddings, unmasked_positions, mask_indices,
     unmask_indices) = patch_encoder(patches=patches)
    num_mask = int(MASK_PROPORTION * NUM_PATCHES)
    assert patch_encoder.num_mask == num_mask == 12
    assert tuple(mask_indices.shape) == (32, num_mask) and tuple(unmask_indices.shape) == (32, NUM_PATCHES - num_mask)
    assert tuple(unmasked_embeddings.shape) == tuple(unmasked_positions.shape) == (32, 4, ENC_PROJECTION_DIM)
    assert tuple(masked_embeddings.shape) == (32, 12, ENC_PROJECTION_DIM)
    for m, u in zip(mask_indices.numpy(), unmask_indices.numpy()):  # disjoint, and every patch is one or the other
        assert sorted(np.concatenate([m, u])) == list(range(NUM_PATCHES))
    assert len({tuple(sorted(m)) for m in mask_indices.numpy()}) > 20  # each image draws its own mask
    # over many draws each patch is masked 75 % of the time
    counts = np.bincount(patch_encoder.get_random_indices(4000)[0].numpy().ravel(), minlength=NUM_PATCHES)
    np.testing.assert_allclose(counts / 4000, MASK_PROPORTION, atol=0.04)

    # the embeddings against NumPy: x·W + b + E[position]; the masked ones embed the mask token
    kernel, bias = (w.astype("float64") for w in patch_encoder.projection.get_weights())
    table = patch_encoder.position_embedding.get_weights()[0].astype("float64")
    token = patch_encoder.mask_token.detach().double().numpy()
    x = patches.double().numpy()
    b = np.arange(32)[:, None]
    u, m = unmask_indices.numpy(), mask_indices.numpy()
    np.testing.assert_allclose(unmasked_embeddings.detach().numpy(), x[b, u] @ kernel + bias + table[u], atol=1e-5)
    np.testing.assert_allclose(unmasked_positions.detach().numpy(), table[u], atol=1e-6)
    np.testing.assert_allclose(masked_embeddings.detach().numpy(), token @ kernel + bias + table[m], atol=1e-5)
    # generate_masked_image keeps the unmasked patches and zeroes the rest
    new_patch, idx = patch_encoder.generate_masked_image(patches.numpy(), u)
    np.testing.assert_array_equal(new_patch[u[idx]], patches.numpy()[idx, u[idx]])
    assert not new_patch[m[idx]].any()

    patch_encoder.downstream = True  # linear probing: every patch embedded, none masked
    np.testing.assert_allclose(patch_encoder(patches).detach().numpy(), x @ kernel + bias + table, atol=1e-5)


def test_the_encoder_and_decoder_shapes_and_the_warmup_cosine_schedule():
    """Sections "MAE encoder", "MAE decoder" and "Learning rate scheduler"."""
    keras.utils.set_random_seed(2)
    encoder, decoder = create_encoder(), create_decoder()
    with torch.no_grad():
        for length in (4, NUM_PATCHES):  # the unmasked patches in pretraining, all of them when probing
            out = encoder(torch.randn(3, length, ENC_PROJECTION_DIM), training=False)
            assert tuple(out.shape) == (3, length, ENC_PROJECTION_DIM)
            np.testing.assert_allclose(out.numpy(), np_layer_norm(out.double().numpy(), LAYER_NORM_EPS), atol=1e-4)
        images = decoder(torch.randn(3, NUM_PATCHES, ENC_PROJECTION_DIM), training=False)
    assert tuple(images.shape) == (3, IMAGE_SIZE, IMAGE_SIZE, 3)
    assert 0 < float(images.min()) and float(images.max()) < 1  # sigmoid

    scheduled_lrs = WarmUpCosine(learning_rate_base=LEARNING_RATE, total_steps=100, warmup_learning_rate=0.0,
                                 warmup_steps=15)
    for step in (0, 7, 15, 40, 99, 100, 101):
        want = np_warmup_cosine(step, LEARNING_RATE, 100, 0.0, 15)
        assert float(scheduled_lrs(step)) == pytest.approx(want, rel=1e-5, abs=1e-9)


def test_the_loss_is_the_mean_squared_error_of_the_masked_patches(mnist_rgb):
    """Section "MAE trainer": calculate_loss, test_step and train_step; the step reaches the mask token."""
    (x_train, _), _, _ = mnist_rgb
    keras.utils.set_random_seed(3)
    mae_model = make_mae_model()
    mae_model.compile(optimizer=keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=WEIGHT_DECAY),
                      loss=keras.losses.MeanSquaredError(), metrics=["mae"])
    images = torch.from_numpy(x_train[:BATCH_SIZE])
    with pytest.warns(UserWarning, match="deprecated"):
        with torch.no_grad():
            mae_model.calculate_loss(images, test=True)  # builds the layers (their initializers draw too)
            torch.manual_seed(5)  # the masks of this draw
            total_loss, loss_patch, loss_output = mae_model.calculate_loss(images, test=True)
    assert tuple(loss_patch.shape) == tuple(loss_output.shape) == (BATCH_SIZE, 12, 147)
    # the targets are the masked patches of the test-augmented images
    patches = np_patches(x_train[:BATCH_SIZE] / 255.0, PATCH_SIZE)
    torch.manual_seed(5)
    mask_indices = mae_model.patch_encoder.get_random_indices(BATCH_SIZE)[0].numpy()
    np.testing.assert_allclose(loss_patch.numpy(), patches[np.arange(BATCH_SIZE)[:, None], mask_indices], atol=1e-6)
    mse = np.mean((loss_patch.numpy() - loss_output.numpy()) ** 2)
    assert float(total_loss) == pytest.approx(mse, rel=1e-5)
    # test_step on the same draw: Keras 3's self.metrics are the loss tracker (which compiled_loss feeds, as
    # Keras 2's did) and the compiled metrics, whose result is a dict (fit's logs flatten it to "mae")
    mae_model.reset_metrics()
    torch.manual_seed(5)
    with pytest.warns(UserWarning, match="deprecated"):
        logs = mae_model.test_step(images)
    assert sorted(logs) == ["compile_metrics", "loss"] and list(logs["compile_metrics"]) == ["mae"]
    assert float(logs["loss"]) == pytest.approx(mse, rel=1e-5)
    mae = np.mean(np.abs(loss_patch.numpy() - loss_output.numpy()))
    assert float(logs["compile_metrics"]["mae"]) == pytest.approx(mae, rel=1e-5)

    token = mae_model.patch_encoder.mask_token.detach().clone()
    with pytest.warns(UserWarning, match="deprecated"):
        logs = mae_model.train_step(images)
    assert sorted(logs) == ["compile_metrics", "loss"]
    assert not torch.equal(token, mae_model.patch_encoder.mask_token.detach())


def test_pretraining_lowers_the_reconstruction_loss_and_the_linear_probe_beats_chance(mnist_rgb):
    """Sections "Model initialization", "Training callbacks", "Model compilation and training" and
    "Evaluation with linear probing"."""
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = mnist_rgb
    keras.utils.set_random_seed(42)
    mae_model = make_mae_model()
    test_images = x_test[:BATCH_SIZE]  # "a batch of test inputs to measure model's progress"

    total_steps = int((len(x_train) / BATCH_SIZE) * EPOCHS)
    warmup_epoch_percentage = 0.15
    warmup_steps = int(total_steps * warmup_epoch_percentage)
    scheduled_lrs = WarmUpCosine(learning_rate_base=LEARNING_RATE, total_steps=total_steps,
                                 warmup_learning_rate=0.0, warmup_steps=warmup_steps)
    monitor = TrainMonitor(test_images, epoch_interval=2)  # the example: 5
    optimizer = keras.optimizers.AdamW(learning_rate=scheduled_lrs, weight_decay=WEIGHT_DECAY)
    mae_model.compile(optimizer=optimizer, loss=keras.losses.MeanSquaredError(), metrics=["mae"])
    with pytest.warns(UserWarning, match="deprecated"):
        untrained_loss, _ = mae_model.evaluate(x_test, batch_size=BATCH_SIZE, verbose=0)
        history = mae_model.fit(x_train, batch_size=BATCH_SIZE, epochs=EPOCHS, validation_data=x_val,
                                callbacks=[monitor], verbose=0)
        loss, mae = mae_model.evaluate(x_test, batch_size=BATCH_SIZE, verbose=0)
    assert sorted(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    train_loss = history.history["loss"]
    assert train_loss[-1] < train_loss[0] and history.history["val_loss"][-1] < history.history["val_loss"][0]
    assert loss < 0.7 * untrained_loss
    assert mae_model.optimizer.iterations == total_steps
    assert [shown[0] for shown in monitor.shown] == [0, 2]
    epoch, original, masked, reconstructed = monitor.shown[-1]
    assert original.shape == masked.shape == reconstructed.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    assert np.mean(masked == 0) >= MASK_PROPORTION  # 12 of the 16 patches blanked

    # linear probing: the frozen patch layers and encoder, a trained softmax layer on their mean
    train_augmentation_model = mae_model.train_augmentation_model
    test_augmentation_model = mae_model.test_augmentation_model
    patch_layer = mae_model.patch_layer
    patch_encoder = mae_model.patch_encoder
    patch_encoder.downstream = True
    encoder = mae_model.encoder
    downstream_model = keras.Sequential(
        [
            layers.Input((IMAGE_SIZE, IMAGE_SIZE, 3)),
            patch_layer,
            patch_encoder,
            encoder,
            layers.BatchNormalization(),
            layers.GlobalAveragePooling1D(),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="linear_probe_model",
    )
    for layer in downstream_model.layers[:-1]:
        layer.trainable = False
    assert [w.shape for w in downstream_model.trainable_weights] == [(ENC_PROJECTION_DIM, 10), (10,)]
    frozen = [w.detach().clone() for w in encoder.weights]

    def prepare_data(images, labels, is_train=True):
        if is_train:
            augmentation_model = train_augmentation_model
        else:
            augmentation_model = test_augmentation_model

        # tf.data's from_tensor_slices, shuffle, batch and map(lambda x, y: (augmentation_model(x), y))
        dataset = torch.utils.data.TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
        dataset = torch.utils.data.DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=is_train)
        dataset = MappedBatches(dataset, lambda x, y: (augmentation_model(x, training=is_train), y))
        return torch.utils.data.DataLoader(dataset, batch_size=None)

    train_ds = prepare_data(x_train, y_train)
    val_ds = prepare_data(x_val, y_val, is_train=False)
    test_ds = prepare_data(x_test, y_test, is_train=False)

    linear_probe_epochs = 8  # the example: 50
    linear_prob_lr = 0.1
    warm_epoch_percentage = 0.1
    steps = int((len(x_train) // BATCH_SIZE) * linear_probe_epochs)
    warmup_steps = int(steps * warm_epoch_percentage)
    scheduled_lrs = WarmUpCosine(learning_rate_base=linear_prob_lr, total_steps=steps, warmup_learning_rate=0.0,
                                 warmup_steps=warmup_steps)
    optimizer = keras.optimizers.SGD(learning_rate=scheduled_lrs, momentum=0.9)
    downstream_model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = downstream_model.fit(train_ds, validation_data=val_ds, epochs=linear_probe_epochs, verbose=0)
    loss, accuracy = downstream_model.evaluate(test_ds, verbose=0)

    # only the softmax layer trained: the encoder is as pretrained, and the non-trainable batch
    # normalization ran in inference mode with its first statistics (mean 0, variance 1), as in Keras
    for before, after in zip(frozen, encoder.weights):
        assert torch.equal(before, after.detach())
    batch_norm = downstream_model.layers[3]
    np.testing.assert_array_equal(batch_norm.moving_mean.detach().numpy(), 0.0)
    np.testing.assert_array_equal(batch_norm.moving_variance.detach().numpy(), 1.0)
    # the probe learns: below the uniform guess's loss, above chance (0.1) by more than 3 standard errors
    assert history.history["loss"][-1] < min(np.log(10), history.history["loss"][0])
    assert accuracy > 0.1 + 3 * np.sqrt(0.1 * 0.9 / len(x_test))
    # that identity normalization leaves the probe weak this early; the encoder's features do carry the
    # digit: standardized (what the paper's batch normalization does), a NumPy softmax regression on them
    # is far above chance
    features = keras.Sequential(downstream_model.layers[:-3]).predict(x_train / 255.0, verbose=0).mean(axis=1)
    test_features = keras.Sequential(downstream_model.layers[:-3]).predict(x_test / 255.0, verbose=0).mean(axis=1)
    assert np_standardized_probe_accuracy(features, y_train, test_features, y_test) > 0.3

