"""keras.io example "Image classification from scratch"
(https://keras.io/examples/vision/image_classification_from_scratch/), its
Keras 3 version, ported as a learner would: ``import brainnet as keras`` and
``from brainnet import layers`` in place of the Keras imports,
``keras.ops.expand_dims`` and ``keras.ops.sigmoid`` written as
``torch.unsqueeze`` and ``torch.sigmoid``, the rest as written.

Replaced, and why:

- Kaggle's Cats vs Dogs (a 786 MB download of JPEG files in
  ``PetImages/Cat`` and ``PetImages/Dog``) is two Fashion-MNIST classes
  written by the test as JPEG files (Pillow writes the JFIF header) in
  ``PetImages/Sandal`` (class 5, label 0) and ``PetImages/Sneaker`` (class
  7, label 1), 150 of each, plus five broken files of the kinds Cats vs
  Dogs holds (an empty file, a PNG and a GIF named ``.jpg``, bytes cut
  from the middle of a JPEG, and a JPEG written without its JFIF segment),
  so that the example's filter has work to do. The filter loop names those
  two folders in place of ``("Cat", "Dog")``.
- ``tf.data``'s ``dataset.map(fn)`` is ``MappedBatches`` (the batches of
  ``image_dataset_from_directory``'s DataLoader with ``fn`` applied as they
  are read); ``.prefetch`` and ``.take(1)`` are left out (a DataLoader
  reads batch by batch; ``next(iter(train_ds))`` is the first batch);
  ``keras.utils.plot_model`` (2 to 4 s for this graph, tested elsewhere)
  and the Matplotlib grids are left out.
- Shortened for CI: 32x32 pictures in place of 180x180 (the files are
  28x28; ``image_dataset_from_directory`` resizes them as it does the
  photos), batches of 32 in place of 128, the small Xception network
  narrower (16 filters at entry in place of 128, blocks of 32, 64 and 96
  in place of 256, 512 and 728, 128 in place of 1,024 in the last
  separable convolution), 8 epochs in place of 25, Adam's learning rate
  1e-3 in place of 3e-4, and batch normalization's momentum 0.9 in place
  of 0.99, for the few steps (with 0.99 the moving statistics are still
  near their start after 60 steps, and validation stays at chance).

What the tests check: the filter deletes exactly the broken files and
reading the folder works only after it (Pillow cannot decode the cut
JPEG); the training and validation subsets have the sizes Keras gives
(the last 20% of the shuffled list for validation), do not overlap and
cover every file; the first batch's shapes, dtype and pixel range; the
augmentation changes the pictures and keeps their shape; training on the
augmented batches reaches a validation accuracy far above chance; the
checkpoint of every epoch is written, and the last one loads into a model
that predicts as the trained one; inference on one file gives the score
that ``predict`` on the validation batches gives for it.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

import brainnet as keras
from brainnet import layers
from tests.keras_examples._mapped_batches import MappedBatches

CLASSES = {"Sandal": 5, "Sneaker": 7}  # folder -> Fashion-MNIST class
PER_CLASS = 150
image_size = (32, 32)  # (180, 180) in the example
batch_size = 32  # 128 in the example
epochs = 8  # 25 in the example


def _broken_files(picture: np.ndarray) -> dict[str, bytes]:
    """The kinds of broken file Cats vs Dogs holds, each named .jpg."""
    def encoded(fmt: str, **options) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, fmt, **options)
        return buffer.getvalue()

    jpeg = encoded("JPEG")
    no_jfif = jpeg[:2] + jpeg[2 + 2 + int.from_bytes(jpeg[4:6], "big"):]  # SOI, then skip the APP0 (JFIF) segment
    assert no_jfif[:2] == b"\xff\xd8" and b"JFIF" not in no_jfif[:10]
    return {"empty.jpg": b"", "png.jpg": encoded("PNG"), "gif.jpg": encoded("GIF"),
            "cut.jpg": jpeg[len(jpeg) // 2:], "no_jfif.jpg": no_jfif}


@pytest.fixture(scope="module")
def pet_images(fashion_dir, tmp_path_factory):
    """The test's PetImages folder: JPEG files per class, and broken ones."""
    (x_train, y_train), _ = keras.datasets.fashion_mnist.load_data()
    root = tmp_path_factory.mktemp("cats_vs_dogs") / "PetImages"
    broken = []
    for folder, label in CLASSES.items():
        (root / folder).mkdir(parents=True)
        for i, index in enumerate(np.flatnonzero(y_train == label)[:PER_CLASS]):
            Image.fromarray(x_train[index]).save(root / folder / f"{i}.jpg", quality=95)
        for name, content in _broken_files(x_train[np.flatnonzero(y_train == label)[PER_CLASS]]).items():
            (root / folder / name).write_bytes(content)
            broken.append(str(root / folder / name))
    return root, sorted(broken)


def _filter_corrupted_images(root) -> int:
    """Section "Filter out corrupted images", as written."""
    num_skipped = 0
    for folder_name in ("Sandal", "Sneaker"):  # ("Cat", "Dog") in the example
        folder_path = os.path.join(root, folder_name)
        for fname in os.listdir(folder_path):
            fpath = os.path.join(folder_path, fname)
            try:
                fobj = open(fpath, "rb")
                is_jfif = b"JFIF" in fobj.peek(10)
            finally:
                fobj.close()

            if not is_jfif:
                num_skipped += 1
                # Delete corrupted image
                os.remove(fpath)

    print(f"Deleted {num_skipped} images.")
    return num_skipped


@pytest.fixture(scope="module")
def datasets(pet_images):
    """Sections "Filter out corrupted images" and "Generate a Dataset"."""
    root, broken = pet_images
    with pytest.raises(Exception):  # before the filter, the cut JPEG cannot be read
        for _ in keras.utils.image_dataset_from_directory(root, image_size=image_size, batch_size=batch_size,
                                                          shuffle=False):
            pass
    files_before = sorted(str(p) for p in root.rglob("*.jpg"))
    num_skipped = _filter_corrupted_images(root)
    files_after = sorted(str(p) for p in root.rglob("*.jpg"))
    train_ds, val_ds = keras.utils.image_dataset_from_directory(
        root,
        validation_split=0.2,
        subset="both",
        seed=1337,
        image_size=image_size,
        batch_size=batch_size,
    )
    return train_ds, val_ds, num_skipped, broken, files_before, files_after


def test_the_filter_deletes_exactly_the_corrupted_files(datasets):
    """Section "Filter out corrupted images": 5 broken files per folder."""
    _, _, num_skipped, broken, files_before, files_after = datasets
    assert num_skipped == len(broken) == 5 * len(CLASSES)
    assert sorted(set(files_before) - set(files_after)) == broken
    assert len(files_after) == PER_CLASS * len(CLASSES)
    for path in files_after:
        with open(path, "rb") as f:
            assert f.read(10)[6:10] == b"JFIF"  # what the filter looked for, where JPEG's APP0 puts it


def test_the_split_sizes_and_class_names_are_those_keras_gives(datasets):
    """Section "Generate a Dataset": validation_split=0.2, subset="both", seed=1337."""
    train_ds, val_ds, _, _, _, files_after = datasets
    total = PER_CLASS * len(CLASSES)
    assert len(val_ds.file_paths) == int(0.2 * total) == 60
    assert len(train_ds.file_paths) == total - 60
    assert not set(train_ds.file_paths) & set(val_ds.file_paths)
    assert sorted(train_ds.file_paths + val_ds.file_paths) == files_after
    assert train_ds.class_names == val_ds.class_names == ["Sandal", "Sneaker"]  # alphabetical: label 1 is "Sneaker"
    # the same seed gives the same split when the subsets are asked for one at a time
    again = keras.utils.image_dataset_from_directory(files_after[0].rsplit("/", 2)[0], validation_split=0.2,
                                                     subset="validation", seed=1337, image_size=image_size)
    assert again.file_paths == val_ds.file_paths


def test_the_first_batch_and_its_augmentation(datasets):
    """Sections "Visualize the data" and "Using image data augmentation"."""
    train_ds = datasets[0]
    images, labels = next(iter(train_ds))  # train_ds.take(1)
    assert images.shape == (batch_size, *image_size, 3) and images.dtype == torch.float32
    assert 0.0 <= float(images.min()) and float(images.max()) <= 255.0 and float(images.max()) > 200.0
    assert labels.shape == (batch_size,) and set(labels.tolist()) <= {0, 1}
    for i in range(9):  # the titles the example shows
        assert int(labels[i]) in (0, 1)

    keras.utils.set_random_seed(0)
    data_augmentation_layers = [
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(0.1),
    ]

    def data_augmentation(images):
        for layer in data_augmentation_layers:
            images = layer(images)
        return images

    augmented_images = data_augmentation(images)
    assert augmented_images.shape == images.shape
    assert not torch.allclose(augmented_images, images)
    assert float(augmented_images.min()) >= -1e-3 and float(augmented_images.max()) <= 255.0 + 1e-3
    shown = np.array(augmented_images[0]).astype("uint8")  # what the example plots
    assert shown.shape == (*image_size, 3) and shown.dtype == np.uint8


def make_model(input_shape, num_classes):
    """Section "Build a model", narrower (see the module docstring)."""
    inputs = keras.Input(shape=input_shape)

    # Entry block
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(16, 3, strides=2, padding="same")(x)  # 128 in the example
    x = layers.BatchNormalization(momentum=0.9)(x)
    x = layers.Activation("relu")(x)

    previous_block_activation = x  # Set aside residual

    for size in [32, 64, 96]:  # [256, 512, 728] in the example
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization(momentum=0.9)(x)

        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization(momentum=0.9)(x)

        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)

        # Project residual
        residual = layers.Conv2D(size, 1, strides=2, padding="same")(
            previous_block_activation
        )
        x = layers.add([x, residual])  # Add back residual
        previous_block_activation = x  # Set aside next residual

    x = layers.SeparableConv2D(128, 3, padding="same")(x)  # 1024 in the example
    x = layers.BatchNormalization(momentum=0.9)(x)
    x = layers.Activation("relu")(x)

    x = layers.GlobalAveragePooling2D()(x)
    if num_classes == 2:
        units = 1
    else:
        units = num_classes

    x = layers.Dropout(0.25)(x)
    # We specify activation=None so as to return logits
    outputs = layers.Dense(units, activation=None)(x)
    return keras.Model(inputs, outputs)


def test_the_small_xception_has_the_examples_structure():
    """Section "Build a model": shapes through the blocks and the separable convolutions' weights."""
    model = make_model(input_shape=image_size + (3,), num_classes=2)
    assert model.output_shape == (None, 1)
    separable = [layer for layer in model.layers if isinstance(layer, layers.SeparableConv2D)]
    assert len(separable) == 7
    adds = [layer for layer in model.layers if type(layer).__name__ == "Add"]
    assert [tuple(layer.output.shape[1:]) for layer in adds] == [(8, 8, 32), (4, 4, 64), (2, 2, 96)]
    # a separable convolution has k·k·C depthwise and C·F pointwise weights and F biases
    assert separable[0].count_params() == 3 * 3 * 16 + 16 * 32 + 32
    assert make_model(input_shape=image_size + (3,), num_classes=5).output_shape == (None, 5)


def test_training_on_augmented_batches_then_inference(datasets, tmp_path, monkeypatch):
    """Sections "Two options to preprocess the data" (option 2), "Train the model"
    and "Run inference on new data"."""
    train_ds, val_ds = datasets[:2]
    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(1337)
    data_augmentation_layers = [
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(0.1),
    ]

    def data_augmentation(images):
        for layer in data_augmentation_layers:
            images = layer(images)
        return images

    # Apply `data_augmentation` to the training images.
    augmented_train_ds = torch.utils.data.DataLoader(
        MappedBatches(train_ds, lambda img, label: (data_augmentation(img), label)), batch_size=None)

    model = make_model(input_shape=image_size + (3,), num_classes=2)
    callbacks = [
        keras.callbacks.ModelCheckpoint("save_at_{epoch}.keras"),
    ]
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),  # 3e-4 in the example
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(name="acc")],
    )
    history = model.fit(
        augmented_train_ds,
        epochs=epochs,
        callbacks=callbacks,
        validation_data=val_ds,
        verbose=0,
    )
    losses = history.history["loss"]
    assert losses[-1] < 0.6 * losses[0], losses
    assert history.history["val_acc"][-1] >= 0.85, history.history["val_acc"]  # chance is 0.5
    assert sorted(os.listdir(tmp_path)) == sorted(f"save_at_{epoch}.keras" for epoch in range(1, epochs + 1))

    val_images = torch.cat([images for images, _ in val_ds])
    val_labels = torch.cat([labels for _, labels in val_ds]).numpy()
    logits = model.predict(val_ds, verbose=0)
    assert logits.shape == (len(val_labels), 1)
    accuracy = float(np.mean((logits[:, 0] > 0.5) == (val_labels == 1)))  # BinaryAccuracy's 0.5 on logits
    assert accuracy == pytest.approx(history.history["val_acc"][-1], abs=1e-6)
    restored = keras.models.load_model(f"save_at_{epochs}.keras")
    np.testing.assert_allclose(restored.predict(val_images, verbose=0), logits, rtol=1e-4, atol=1e-4)

    # Run inference on new data: ten validation files, read one at a time as the example reads its photo
    right = 0
    for path in val_ds.file_paths[:10]:
        img = keras.utils.load_img(path, target_size=image_size)
        img_array = keras.utils.img_to_array(img)
        img_array = torch.unsqueeze(torch.as_tensor(img_array), 0)  # Create batch axis

        predictions = model.predict(img_array, verbose=0)
        score = float(torch.sigmoid(torch.as_tensor(predictions[0][0])))
        print(f"This image is {100 * (1 - score):.2f}% sandal and {100 * score:.2f}% sneaker.")
        assert predictions.shape == (1, 1) and 0.0 < score < 1.0
        right += (score > 0.5) == (path.split(os.sep)[-2] == "Sneaker")
    assert right >= 8
