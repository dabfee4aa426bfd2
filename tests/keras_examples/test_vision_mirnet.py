"""keras.io example "Low-light image enhancement using MIRNet"
(https://keras.io/examples/vision/mirnet/), the stored copy is the
tf.keras version, ported as a learner would: ``import brainnet as keras``
and ``from brainnet import layers`` in place of the Keras imports; the
TensorFlow calls on the functional graph's tensors as layers (brainnet runs
no torch function on a symbolic tensor, docs/keras.md): ``tf.reshape(gap,
(-1, 1, 1, channels))`` is ``layers.Reshape((1, 1, channels))``,
``tf.reduce_max`` and ``tf.reduce_mean`` over the channels with
``tf.expand_dims`` are ``layers.Lambda`` layers around ``torch.amax`` and
``torch.mean`` with ``keepdim=True``, ``tf.nn.sigmoid`` is
``keras.activations.sigmoid`` and ``*`` between two layer outputs is
recorded as a ``Multiply``; the loss and metric in torch (``tf.image.psnr``
is ``20·log10(max_val) − 10·log10(mse)`` per image, over its pixels and
channels). The rest is the example's: the random crops of image pairs,
the selective kernel feature fusion, the dual attention unit (its names
kept: ``average_pooling`` holds the channel maximum and ``max_pooling`` the
mean), the down- and up-sampling modules, the multi-scale residual block (its
last fusion takes ``level3_dau_2`` twice and leaves ``level2_dau_2``
unused, as written; each fusion's softmax runs over the channels of one
descriptor, as written, not across the three streams as in the paper),
the recursive residual groups, the Charbonnier loss, the PSNR metric with
``max_val=255`` on images in [0, 1] (as the example has it: 48 dB above
the PSNR in [0, 1] units), ``ReduceLROnPlateau`` on the validation PSNR,
and ``infer``.

Data: the LOL pairs are a download; here 200 pairs written as PNG files
by the test in LOL's folders (``our485/low`` and ``our485/high``):
Fashion-MNIST padded to 32×32, lifted to [0.3, 0.95] and tinted warm (the
well-exposed images) and the same raised to the power 2 (the low-light
ones), as in the Zero-DCE port. Shortened for CI: random crops of 24×24 in
place of 128×128, 160 training and 40 validation pairs in place of 300 and
185 (in ``DataLoader``s of the example's ``load_data``, with its batches of
4 and ``drop_remainder``), ``mirnet_model(num_rrg=1, num_mrb=1,
channels=8)`` in place of ``(3, 2, 64)``, 3 epochs in place of 50 at a
learning rate of 2e-3 in place of 1e-4, and the plots and PIL's
autocontrast comparison left out.

What the tests check: the fusion and attention blocks against NumPy with
their own weights, the resizing modules' and the model's shapes (any size
divisible by 4), the loss and metric against NumPy, and that training
lowers the loss, raises the validation PSNR and brings the enhanced images
(whole, uncropped) ten times closer to the well-exposed ones than the
low-light images were (mean squared error), and that
``infer`` gives the model's output as an 8-bit image.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image

import brainnet as keras
from brainnet import layers

IMAGE_SIZE = 24  # the example: 128
BATCH_SIZE = 4
MAX_TRAIN_IMAGES = 160  # the example: 300


def read_image(image_path):
    image = keras.utils.img_to_array(keras.utils.load_img(image_path, color_mode="rgb"))
    image = image.astype("float32") / 255.0
    return image


def random_crop(low_image, enhanced_image):
    low_image_shape = low_image.shape[:2]
    low_w = int(torch.randint(0, low_image_shape[1] - IMAGE_SIZE + 1, ()))
    low_h = int(torch.randint(0, low_image_shape[0] - IMAGE_SIZE + 1, ()))
    enhanced_w = low_w
    enhanced_h = low_h
    low_image_cropped = low_image[low_h: low_h + IMAGE_SIZE, low_w: low_w + IMAGE_SIZE]
    enhanced_image_cropped = enhanced_image[enhanced_h: enhanced_h + IMAGE_SIZE, enhanced_w: enhanced_w + IMAGE_SIZE]
    return low_image_cropped, enhanced_image_cropped


def load_data(low_light_image_path, enhanced_image_path):
    low_light_image = read_image(low_light_image_path)
    enhanced_image = read_image(enhanced_image_path)
    low_light_image, enhanced_image = random_crop(low_light_image, enhanced_image)
    return low_light_image, enhanced_image


class PairDataset(torch.utils.data.Dataset):
    """tf.data's from_tensor_slices((low, enhanced)).map(load_data): each item read and cropped anew."""

    def __init__(self, low_light_images, enhanced_images):
        self.pairs = list(zip(low_light_images, enhanced_images))

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        return load_data(*self.pairs[i])


def get_dataset(low_light_images, enhanced_images):
    dataset = PairDataset(low_light_images, enhanced_images)
    return torch.utils.data.DataLoader(dataset, batch_size=BATCH_SIZE, drop_last=True)


def selective_kernel_feature_fusion(multi_scale_feature_1, multi_scale_feature_2, multi_scale_feature_3):
    channels = list(multi_scale_feature_1.shape)[-1]
    combined_feature = layers.Add()([multi_scale_feature_1, multi_scale_feature_2, multi_scale_feature_3])
    gap = layers.GlobalAveragePooling2D()(combined_feature)
    channel_wise_statistics = layers.Reshape((1, 1, channels))(gap)
    compact_feature_representation = layers.Conv2D(filters=channels // 8, kernel_size=(1, 1), activation="relu")(
        channel_wise_statistics
    )
    feature_descriptor_1 = layers.Conv2D(channels, kernel_size=(1, 1), activation="softmax")(
        compact_feature_representation
    )
    feature_descriptor_2 = layers.Conv2D(channels, kernel_size=(1, 1), activation="softmax")(
        compact_feature_representation
    )
    feature_descriptor_3 = layers.Conv2D(channels, kernel_size=(1, 1), activation="softmax")(
        compact_feature_representation
    )
    feature_1 = multi_scale_feature_1 * feature_descriptor_1
    feature_2 = multi_scale_feature_2 * feature_descriptor_2
    feature_3 = multi_scale_feature_3 * feature_descriptor_3
    aggregated_feature = layers.Add()([feature_1, feature_2, feature_3])
    return aggregated_feature


def spatial_attention_block(input_tensor):
    average_pooling = layers.Lambda(lambda t: torch.amax(t, dim=-1, keepdim=True))(input_tensor)
    max_pooling = layers.Lambda(lambda t: torch.mean(t, dim=-1, keepdim=True))(input_tensor)
    concatenated = layers.Concatenate(axis=-1)([average_pooling, max_pooling])
    feature_map = layers.Conv2D(1, kernel_size=(1, 1))(concatenated)
    feature_map = keras.activations.sigmoid(feature_map)
    return input_tensor * feature_map


def channel_attention_block(input_tensor):
    channels = list(input_tensor.shape)[-1]
    average_pooling = layers.GlobalAveragePooling2D()(input_tensor)
    feature_descriptor = layers.Reshape((1, 1, channels))(average_pooling)
    feature_activations = layers.Conv2D(filters=channels // 8, kernel_size=(1, 1), activation="relu")(
        feature_descriptor
    )
    feature_activations = layers.Conv2D(filters=channels, kernel_size=(1, 1), activation="sigmoid")(
        feature_activations
    )
    return input_tensor * feature_activations


def dual_attention_unit_block(input_tensor):
    channels = list(input_tensor.shape)[-1]
    feature_map = layers.Conv2D(channels, kernel_size=(3, 3), padding="same", activation="relu")(input_tensor)
    feature_map = layers.Conv2D(channels, kernel_size=(3, 3), padding="same")(feature_map)
    channel_attention = channel_attention_block(feature_map)
    spatial_attention = spatial_attention_block(feature_map)
    concatenation = layers.Concatenate(axis=-1)([channel_attention, spatial_attention])
    concatenation = layers.Conv2D(channels, kernel_size=(1, 1))(concatenation)
    return layers.Add()([input_tensor, concatenation])


def down_sampling_module(input_tensor):
    channels = list(input_tensor.shape)[-1]
    main_branch = layers.Conv2D(channels, kernel_size=(1, 1), activation="relu")(input_tensor)
    main_branch = layers.Conv2D(channels, kernel_size=(3, 3), padding="same", activation="relu")(main_branch)
    main_branch = layers.MaxPooling2D()(main_branch)
    main_branch = layers.Conv2D(channels * 2, kernel_size=(1, 1))(main_branch)
    skip_branch = layers.MaxPooling2D()(input_tensor)
    skip_branch = layers.Conv2D(channels * 2, kernel_size=(1, 1))(skip_branch)
    return layers.Add()([skip_branch, main_branch])


def up_sampling_module(input_tensor):
    channels = list(input_tensor.shape)[-1]
    main_branch = layers.Conv2D(channels, kernel_size=(1, 1), activation="relu")(input_tensor)
    main_branch = layers.Conv2D(channels, kernel_size=(3, 3), padding="same", activation="relu")(main_branch)
    main_branch = layers.UpSampling2D()(main_branch)
    main_branch = layers.Conv2D(channels // 2, kernel_size=(1, 1))(main_branch)
    skip_branch = layers.UpSampling2D()(input_tensor)
    skip_branch = layers.Conv2D(channels // 2, kernel_size=(1, 1))(skip_branch)
    return layers.Add()([skip_branch, main_branch])


def multi_scale_residual_block(input_tensor, channels):
    # features
    level1 = input_tensor
    level2 = down_sampling_module(input_tensor)
    level3 = down_sampling_module(level2)
    # DAU
    level1_dau = dual_attention_unit_block(level1)
    level2_dau = dual_attention_unit_block(level2)
    level3_dau = dual_attention_unit_block(level3)
    # SKFF
    level1_skff = selective_kernel_feature_fusion(
        level1_dau,
        up_sampling_module(level2_dau),
        up_sampling_module(up_sampling_module(level3_dau)),
    )
    level2_skff = selective_kernel_feature_fusion(
        down_sampling_module(level1_dau), level2_dau, up_sampling_module(level3_dau)
    )
    level3_skff = selective_kernel_feature_fusion(
        down_sampling_module(down_sampling_module(level1_dau)),
        down_sampling_module(level2_dau),
        level3_dau,
    )
    # DAU 2
    level1_dau_2 = dual_attention_unit_block(level1_skff)
    up_sampling_module((dual_attention_unit_block(level2_skff)))  # level2_dau_2, which the example leaves unused
    level3_dau_2 = up_sampling_module(up_sampling_module(dual_attention_unit_block(level3_skff)))
    # SKFF 2 (as the example writes it: level3_dau_2 twice)
    skff_ = selective_kernel_feature_fusion(level1_dau_2, level3_dau_2, level3_dau_2)
    conv = layers.Conv2D(channels, kernel_size=(3, 3), padding="same")(skff_)
    return layers.Add()([input_tensor, conv])


def recursive_residual_group(input_tensor, num_mrb, channels):
    conv1 = layers.Conv2D(channels, kernel_size=(3, 3), padding="same")(input_tensor)
    for _ in range(num_mrb):
        conv1 = multi_scale_residual_block(conv1, channels)
    conv2 = layers.Conv2D(channels, kernel_size=(3, 3), padding="same")(conv1)
    return layers.Add()([conv2, input_tensor])


def mirnet_model(num_rrg, num_mrb, channels):
    input_tensor = keras.Input(shape=[None, None, 3])
    x1 = layers.Conv2D(channels, kernel_size=(3, 3), padding="same")(input_tensor)
    for _ in range(num_rrg):
        x1 = recursive_residual_group(x1, num_mrb, channels)
    conv = layers.Conv2D(3, kernel_size=(3, 3), padding="same")(x1)
    output_tensor = layers.Add()([input_tensor, conv])
    return keras.Model(input_tensor, output_tensor)


def charbonnier_loss(y_true, y_pred):
    return torch.mean(torch.sqrt(torch.square(y_true - y_pred) + torch.square(torch.tensor(1e-3))))


def peak_signal_noise_ratio(y_true, y_pred):
    # tf.image.psnr(y_pred, y_true, max_val=255.0): one value per image, over its pixels and channels
    mse = torch.mean(torch.square(y_pred - y_true), dim=(-3, -2, -1))
    return 20 * torch.log10(torch.tensor(255.0)) - 10 * torch.log10(mse)


def infer(model, original_image):
    image = keras.preprocessing.image.img_to_array(original_image)
    image = image.astype("float32") / 255.0
    image = np.expand_dims(image, axis=0)
    output = model.predict(image, verbose=0)
    output_image = output[0] * 255.0
    output_image = output_image.clip(0, 255)
    output_image = output_image.reshape((np.shape(output_image)[0], np.shape(output_image)[1], 3))
    output_image = Image.fromarray(np.uint8(output_image))
    return output_image


# NumPy references


def np_conv1x1(x, conv):
    kernel, bias = conv.get_weights()  # brainnet's (out, in, 1, 1) kernel (Keras's is (1, 1, in, out))
    return x @ kernel[:, :, 0, 0].T.astype("float64") + bias


def np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_sigmoid(z):
    return 1 / (1 + np.exp(-z))


def block_model(block, shapes):
    inputs = [keras.Input(shape=s) for s in shapes]
    model = keras.Model(inputs, block(*inputs))
    convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    return model, convs


def test_the_selective_kernel_feature_fusion_is_numpys():
    """Section "Selective Kernel Feature Fusion": streams reweighted by softmax descriptors of their sum's mean."""
    keras.utils.set_random_seed(0)
    model, convs = block_model(selective_kernel_feature_fusion, [(6, 6, 16)] * 3)
    assert [c.filters for c in convs] == [2, 16, 16, 16]
    rng = np.random.default_rng(0)
    streams = [rng.normal(size=(2, 6, 6, 16)) for _ in range(3)]
    with torch.no_grad():
        got = model([torch.from_numpy(s.astype("float32")) for s in streams]).numpy()
    statistics = sum(streams).mean(axis=(1, 2))[:, None, None, :]  # (B, 1, 1, C)
    compact = np.maximum(np_conv1x1(statistics, convs[0]), 0)
    want = sum(s * np_softmax(np_conv1x1(compact, conv)) for s, conv in zip(streams, convs[1:]))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_the_dual_attention_unit_is_numpys():
    """Section "Dual Attention Unit": channel attention (squeeze and excitation) and spatial attention."""
    keras.utils.set_random_seed(1)
    channel_model, (squeeze, excite) = block_model(channel_attention_block, [(5, 7, 16)])
    spatial_model, (spatial,) = block_model(spatial_attention_block, [(5, 7, 16)])
    x = np.random.default_rng(1).normal(size=(3, 5, 7, 16))
    with torch.no_grad():
        channel = channel_model(torch.from_numpy(x.astype("float32"))).numpy()
        spatial_got = spatial_model(torch.from_numpy(x.astype("float32"))).numpy()
    descriptor = x.mean(axis=(1, 2))[:, None, None, :]
    np.testing.assert_allclose(
        channel, x * np_sigmoid(np_conv1x1(np.maximum(np_conv1x1(descriptor, squeeze), 0), excite)),
        rtol=1e-4, atol=1e-5)
    maps = np.concatenate([x.max(axis=-1, keepdims=True), x.mean(axis=-1, keepdims=True)], axis=-1)
    np.testing.assert_allclose(spatial_got, x * np_sigmoid(np_conv1x1(maps, spatial)), rtol=1e-4, atol=1e-5)

    dau, _ = block_model(dual_attention_unit_block, [(8, 8, 16)])
    assert tuple(dau(torch.zeros(2, 8, 8, 16)).shape) == (2, 8, 8, 16)


def test_the_resizing_modules_and_mirnet_keep_the_shapes():
    """Sections "Multi-Scale Residual Block" and "MIRNet Model"."""
    keras.utils.set_random_seed(2)
    down, _ = block_model(down_sampling_module, [(8, 12, 8)])
    up, _ = block_model(up_sampling_module, [(8, 12, 8)])
    with torch.no_grad():
        assert tuple(down(torch.zeros(2, 8, 12, 8)).shape) == (2, 4, 6, 16)
        assert tuple(up(torch.zeros(2, 8, 12, 8)).shape) == (2, 16, 24, 4)
        model = mirnet_model(num_rrg=1, num_mrb=1, channels=8)
        for shape in ((1, 24, 24, 3), (2, 16, 36, 3)):  # any size the two halvings divide
            assert tuple(model(torch.rand(shape)).shape) == shape


def test_the_charbonnier_loss_and_the_psnr_are_numpys():
    """Section "Training": the loss and the metric."""
    rng = np.random.default_rng(3)
    y_true, y_pred = rng.uniform(size=(4, 6, 6, 3)), rng.uniform(size=(4, 6, 6, 3))
    got = float(charbonnier_loss(torch.from_numpy(y_true), torch.from_numpy(y_pred)))
    assert got == pytest.approx(np.mean(np.sqrt((y_true - y_pred) ** 2 + 1e-6)), rel=1e-6)
    psnr = peak_signal_noise_ratio(torch.from_numpy(y_true), torch.from_numpy(y_pred)).numpy()
    mse = ((y_true - y_pred) ** 2).reshape(4, -1).mean(axis=1)
    np.testing.assert_allclose(psnr, 10 * np.log10(255.0**2 / mse), rtol=1e-6)


@pytest.fixture(scope="module")
def lol_pairs(fashion_dir, tmp_path_factory):
    """Section "Creating a TensorFlow Dataset", on PNG pairs written here in LOL's folders."""
    (x, _), _ = keras.datasets.fashion_mnist.load_data()
    x = np.pad(x[:200].astype("float64") / 255.0, ((0, 0), (2, 2), (2, 2)))  # (200, 32, 32)
    originals = (0.3 + 0.65 * x[..., None]) * np.array([1.0, 0.95, 0.9])  # the well-exposed images
    root = tmp_path_factory.mktemp("lol_dataset")
    for kind, images in (("low", originals**2), ("high", originals)):
        (root / "our485" / kind).mkdir(parents=True)
        for i, image in enumerate(images):
            keras.utils.save_img(root / "our485" / kind / f"{i:03d}.png", np.round(image * 255), scale=False)
    return root


def test_mirnet_trains_toward_the_well_exposed_images(lol_pairs):
    """Sections "Creating a TensorFlow Dataset", "Training" and "Inference"."""
    random.seed(10)
    keras.utils.set_random_seed(0)
    train_low_light_images = sorted(lol_pairs.glob("our485/low/*"))[:MAX_TRAIN_IMAGES]
    train_enhanced_images = sorted(lol_pairs.glob("our485/high/*"))[:MAX_TRAIN_IMAGES]
    val_low_light_images = sorted(lol_pairs.glob("our485/low/*"))[MAX_TRAIN_IMAGES:]
    val_enhanced_images = sorted(lol_pairs.glob("our485/high/*"))[MAX_TRAIN_IMAGES:]
    train_dataset = get_dataset(train_low_light_images, train_enhanced_images)
    val_dataset = get_dataset(val_low_light_images, val_enhanced_images)
    low, high = next(iter(train_dataset))
    assert tuple(low.shape) == tuple(high.shape) == (BATCH_SIZE, IMAGE_SIZE, IMAGE_SIZE, 3)
    np.testing.assert_allclose(low.numpy(), high.numpy() ** 2, atol=3 / 255)  # the same crop of both

    model = mirnet_model(num_rrg=1, num_mrb=1, channels=8)  # the example: (3, 2, 64)
    optimizer = keras.optimizers.Adam(learning_rate=2e-3)  # the example: 1e-4
    model.compile(optimizer=optimizer, loss=charbonnier_loss, metrics=[peak_signal_noise_ratio])
    history = model.fit(
        train_dataset,
        validation_data=val_dataset,
        epochs=3,  # the example: 50
        callbacks=[
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_peak_signal_noise_ratio", factor=0.5, patience=5, verbose=0, min_delta=1e-7,
                mode="max",
            )
        ],
        verbose=0,
    )
    assert {"loss", "val_loss", "peak_signal_noise_ratio", "val_peak_signal_noise_ratio"} <= set(history.history)
    assert history.history["loss"][-1] < history.history["loss"][0]
    val_psnr = history.history["val_peak_signal_noise_ratio"]
    assert val_psnr[-1] > val_psnr[0]
    assert history.history["learning_rate"] == pytest.approx([2e-3] * 3)  # the PSNR never stalled for 5 epochs

    # the whole validation images, uncropped: closer to the well-exposed ones than the low-light ones
    low = np.stack([read_image(p) for p in val_low_light_images])
    high = np.stack([read_image(p) for p in val_enhanced_images])
    enhanced = model.predict(low, verbose=0)
    low_error, enhanced_error = np.mean((low - high) ** 2), np.mean((enhanced - high) ** 2)
    assert enhanced_error < 0.1 * low_error, (enhanced_error, low_error)

    original_image = Image.open(val_low_light_images[0])
    enhanced_image = infer(model, original_image)
    assert enhanced_image.size == original_image.size and enhanced_image.mode == "RGB"
    want = np.uint8(np.clip(enhanced[0] * 255.0, 0, 255))
    assert np.abs(np.asarray(enhanced_image).astype(int) - want.astype(int)).max() <= 1
