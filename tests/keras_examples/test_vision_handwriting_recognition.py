"""keras.io example "Handwriting recognition"
(https://keras.io/examples/vision/handwriting_recognition/; the stored
version, last modified 2023/12/08), ported as a learner would: ``import
brainnet as keras`` and ``from brainnet import layers`` in place of the Keras
imports, TensorFlow calls as torch calls, the rest as written. Its
``keras.backend.ctc_batch_cost`` and ``keras.backend.ctc_decode`` (Keras 2's,
which Keras 3 keeps only as ``keras._legacy.backend``) are brainnet's
``keras.backend`` functions of the same names and meaning.

Replaced, and why:

* the data: no download. The test writes an IAM-like folder of its own:
  ``data/words.txt`` in IAM's format (comment lines, an ``err`` entry the
  example drops) and ``data/words/<a>/<a-b>/<a-b-c>.png`` images of 2 to 5
  MNIST digits side by side (words of several lengths, as IAM's are; one
  file empty, which the example skips), read by the example's code;
* ``tf.image.resize(..., preserve_aspect_ratio=True)`` and ``tf.pad`` are
  ``torch.nn.functional.interpolate`` (bilinear) and ``torch.nn.functional.pad``,
  ``tf.image.flip_left_right`` is ``torch.flip`` of the width axis,
  ``tf.io.read_file``/``decode_png`` is ``keras.utils.load_img``; the
  ``tf.data`` pipelines are the mapped samples as two arrays in a dict (fit
  batches them; validation as ``validation_data=(x, None)``);
* the edit distance (``tf.sparse.from_dense`` and ``tf.edit_distance``) is a
  Levenshtein distance over each row's nonzero entries (what
  ``from_dense`` keeps, the ``-1`` and ``99`` padding included, as in the
  example); the callback's printed distances are read back by the test;
* ``CTCLayer(name="ctc_loss")(labels, x)`` runs as written: the second
  positional argument goes to ``call``'s ``y_pred``, as Keras 3 passes it
  (docs/keras.md, "A layer's call takes its tensors positionally or by
  name").

Shortened for CI: 640 words of 96 × 24 pixels in place of IAM's 96,000 of
128 × 32, batches of 16 in place of 64, both convolutions and LSTMs half as
wide, 16 epochs in place of 10 (the example's 10 are already too few for
it: "at least 50") with Adam's learning rate 3e-3: the model emits only
blanks for the first 8 epochs. ``model.get_layer(name="image").input``
is the model's input, as in Keras 2 (brainnet's ``InputLayer.input``;
Keras 3 gives an empty list there). The tests check the
data pipeline (dropped entries, labels padded with 99, the distortion-free
resize), the endpoint layer's CTC loss against a NumPy forward algorithm
(the padding ends each label, as TensorFlow reads it), that the loss and
the callback's edit distance fall, and that the prediction model reads most
test words and its greedy decoding agrees with NumPy.
"""

from __future__ import annotations

import contextlib
import io
import os
import re

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

batch_size = 16
padding_token = 99
image_width = 96
image_height = 24
num_words = 640


@pytest.fixture(scope="module")
def base_path(mnist_dir, tmp_path_factory):
    """An IAM-like data folder: words.txt and one PNG per word of MNIST digits."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        (x, y), _ = keras.datasets.mnist.load_data()
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("data")
    lines = ["#--- words.txt ---", "# format: a01-000u-00-00 ok 154 408 768 27 51 AT A"]
    for i in range(num_words + 2):
        form, line_id = f"a{i // 100:02d}", f"a{i // 100:02d}-{i % 100:03d}"
        name = f"{line_id}-00-00"
        folder = root / "words" / form / f"{form}-{i % 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        picks = rng.choice(len(x), size=rng.integers(2, 6), replace=False)
        word = "".join(str(d) for d in y[picks])
        if i == 0:  # an empty image file, which get_image_paths_and_labels skips
            (folder / f"{name}.png").write_bytes(b"")
        else:
            keras.utils.save_img(folder / f"{name}.png", np.concatenate(list(x[picks]), axis=1)[:, :, None],
                                 scale=False)
        status = "err" if i == 1 else "ok"  # an errored entry, which the example drops
        lines.append(f"{name} {status} 154 408 768 27 51 CD {word}")
    (root / "words.txt").write_text("\n".join(lines) + "\n")
    return str(root)


def distortion_free_resize(image, img_size):
    w, h = img_size
    scale = min(h / image.shape[0], w / image.shape[1])  # tf.image.resize(..., preserve_aspect_ratio=True)
    size = (max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale)))
    image = torch.nn.functional.interpolate(image.permute(2, 0, 1)[None], size=size, mode="bilinear")[0]
    image = image.permute(1, 2, 0)

    # Check tha amount of padding needed to be done.
    pad_height = h - image.shape[0]
    pad_width = w - image.shape[1]

    # Only necessary if you want to do same amount of padding on both sides.
    if pad_height % 2 != 0:
        height = pad_height // 2
        pad_height_top = height + 1
        pad_height_bottom = height
    else:
        pad_height_top = pad_height_bottom = pad_height // 2

    if pad_width % 2 != 0:
        width = pad_width // 2
        pad_width_left = width + 1
        pad_width_right = width
    else:
        pad_width_left = pad_width_right = pad_width // 2

    image = torch.nn.functional.pad(
        image, (0, 0, pad_width_left, pad_width_right, pad_height_top, pad_height_bottom)
    )

    image = torch.permute(image, (1, 0, 2))
    image = torch.flip(image, dims=[1])  # tf.image.flip_left_right
    return image


@pytest.fixture(scope="module")
def data(base_path):
    """Sections "Dataset splitting" to "Prepare tf.data.Dataset objects"."""
    np.random.seed(42)
    keras.utils.set_random_seed(42)
    words_list = []
    words = open(f"{base_path}/words.txt", "r").readlines()
    for line in words:
        if line[0] == "#":
            continue
        if line.split(" ")[1] != "err":  # We don't need to deal with errored entries.
            words_list.append(line)
    np.random.shuffle(words_list)

    split_idx = int(0.9 * len(words_list))
    train_samples = words_list[:split_idx]
    test_samples = words_list[split_idx:]
    val_split_idx = int(0.5 * len(test_samples))
    validation_samples = test_samples[:val_split_idx]
    test_samples = test_samples[val_split_idx:]
    assert len(words_list) == len(train_samples) + len(validation_samples) + len(test_samples)

    base_image_path = os.path.join(base_path, "words")

    def get_image_paths_and_labels(samples):
        paths = []
        corrected_samples = []
        for i, file_line in enumerate(samples):
            line_split = file_line.strip()
            line_split = line_split.split(" ")
            image_name = line_split[0]
            partI = image_name.split("-")[0]
            partII = image_name.split("-")[1]
            img_path = os.path.join(base_image_path, partI, partI + "-" + partII, image_name + ".png")
            if os.path.getsize(img_path):
                paths.append(img_path)
                corrected_samples.append(file_line.split("\n")[0])
        return paths, corrected_samples

    train_img_paths, train_labels = get_image_paths_and_labels(train_samples)
    validation_img_paths, validation_labels = get_image_paths_and_labels(validation_samples)
    test_img_paths, test_labels = get_image_paths_and_labels(test_samples)

    train_labels_cleaned = []
    characters = set()
    max_len = 0
    for label in train_labels:
        label = label.split(" ")[-1].strip()
        for char in label:
            characters.add(char)
        max_len = max(max_len, len(label))
        train_labels_cleaned.append(label)
    characters = sorted(list(characters))

    def clean_labels(labels):
        cleaned_labels = []
        for label in labels:
            label = label.split(" ")[-1].strip()
            cleaned_labels.append(label)
        return cleaned_labels

    validation_labels_cleaned = clean_labels(validation_labels)
    test_labels_cleaned = clean_labels(test_labels)

    char_to_num = layers.StringLookup(vocabulary=list(characters), mask_token=None)
    num_to_char = layers.StringLookup(vocabulary=char_to_num.get_vocabulary(), mask_token=None, invert=True)

    def preprocess_image(image_path, img_size=(image_width, image_height)):
        image = torch.tensor(keras.utils.img_to_array(keras.utils.load_img(image_path, color_mode="grayscale")))
        image = distortion_free_resize(image, img_size)
        image = image.to(torch.float32) / 255.0
        return image

    def vectorize_label(label):
        label = char_to_num(list(label))
        length = label.shape[0]
        pad_amount = max_len - length
        label = torch.nn.functional.pad(label, (0, pad_amount), value=padding_token)
        return label

    def process_images_labels(image_path, label):
        image = preprocess_image(image_path)
        label = vectorize_label(label)
        return {"image": image, "label": label}

    def prepare_dataset(image_paths, labels):
        samples = [process_images_labels(p, t) for p, t in zip(image_paths, labels)]
        return {key: torch.stack([s[key] for s in samples]).numpy() for key in ("image", "label")}

    return dict(
        words_list=words_list, max_len=max_len, characters=characters, char_to_num=char_to_num,
        num_to_char=num_to_char, paths=(train_img_paths, validation_img_paths, test_img_paths),
        train_ds=prepare_dataset(train_img_paths, train_labels_cleaned),
        validation_ds=prepare_dataset(validation_img_paths, validation_labels_cleaned),
        test_ds=prepare_dataset(test_img_paths, test_labels_cleaned), test_labels=test_labels_cleaned,
    )


class CTCLayer(layers.Layer):
    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = keras.backend.ctc_batch_cost

    def call(self, y_true, y_pred):
        batch_len = y_true.shape[0]
        input_length = y_pred.shape[1]
        label_length = y_true.shape[1]

        input_length = input_length * torch.ones((batch_len, 1), dtype=torch.int64)
        label_length = label_length * torch.ones((batch_len, 1), dtype=torch.int64)
        loss = self.loss_fn(y_true, y_pred, input_length, label_length)
        self.add_loss(loss)

        # At test time, just return the computed predictions.
        return y_pred


def build_model(char_to_num):
    # Inputs to the model
    input_img = keras.Input(shape=(image_width, image_height, 1), name="image")
    labels = keras.layers.Input(name="label", shape=(None,))

    # First conv block (16 filters in place of 32).
    x = keras.layers.Conv2D(16, (3, 3), activation="relu", kernel_initializer="he_normal", padding="same",
                            name="Conv1")(input_img)
    x = keras.layers.MaxPooling2D((2, 2), name="pool1")(x)
    # Second conv block (32 filters in place of 64).
    x = keras.layers.Conv2D(32, (3, 3), activation="relu", kernel_initializer="he_normal", padding="same",
                            name="Conv2")(x)
    x = keras.layers.MaxPooling2D((2, 2), name="pool2")(x)

    # Two max pools with pool size and strides 2: feature maps 4x smaller, 32 filters.
    new_shape = ((image_width // 4), (image_height // 4) * 32)
    x = keras.layers.Reshape(target_shape=new_shape, name="reshape")(x)
    x = keras.layers.Dense(64, activation="relu", name="dense1")(x)
    x = keras.layers.Dropout(0.2)(x)

    # RNNs (64 and 32 units in place of 128 and 64).
    x = keras.layers.Bidirectional(keras.layers.LSTM(64, return_sequences=True, dropout=0.25))(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(32, return_sequences=True, dropout=0.25))(x)

    # +2 is to account for the two special tokens introduced by the CTC loss.
    x = keras.layers.Dense(len(char_to_num.get_vocabulary()) + 2, activation="softmax", name="dense2")(x)

    # Add CTC layer for calculating CTC loss at each step.
    output = CTCLayer(name="ctc_loss")(labels, x)

    # Define the model.
    model = keras.models.Model(inputs=[input_img, labels], outputs=output, name="handwriting_recognizer")
    # Optimizer (learning rate 3e-3 in place of the default, for the port's few epochs).
    opt = keras.optimizers.Adam(learning_rate=3e-3)
    # Compile the model and return.
    model.compile(optimizer=opt)
    return model


def edit_distance(a, b):
    """Levenshtein distance of two sequences (tf.edit_distance, normalize=False)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def numpy_ctc(labels, probabilities, blank):
    """−log p(y | x) by the forward algorithm over ␣ y1 ␣ y2 … ␣, float64."""
    p = probabilities.astype("float64")
    ext = [blank]
    for c in labels:
        ext += [c, blank]
    alpha = np.zeros(len(ext))
    alpha[:2] = p[0, ext[:2]]
    for t in range(1, len(p)):
        previous = alpha.copy()
        for s in range(len(ext)):
            a = previous[s] + (previous[s - 1] if s >= 1 else 0.0)
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                a += previous[s - 2]
            alpha[s] = a * p[t, ext[s]]
    return -np.log(alpha[-1] + alpha[-2])


def test_the_data_pipeline_drops_errored_and_empty_entries_and_pads_labels(data):
    """Sections "Dataset splitting", "Data input pipeline" and "Putting the utilities together"."""
    assert len(data["words_list"]) == num_words + 1  # the "err" line dropped
    assert sum(len(p) for p in data["paths"]) == num_words  # the empty file skipped
    assert data["characters"] == list("0123456789") and data["max_len"] == 5
    train = data["train_ds"]
    assert train["image"].shape[1:] == (image_width, image_height, 1) and train["label"].shape[1:] == (5,)
    for row in train["label"][:50]:
        kept = row[row != padding_token]
        assert 2 <= len(kept) and np.all(row[len(kept):] == padding_token) and np.all((kept >= 1) & (kept <= 10))
    test = data["test_ds"]
    back = ["".join(data["num_to_char"](row[row != padding_token])) for row in test["label"]]
    assert back == data["test_labels"]


def test_the_distortion_free_resize_keeps_the_aspect_and_pads_both_sides():
    """Section "Resizing images without distortion"."""
    image = torch.zeros(28, 56, 1)
    image[:, :28] = 1.0  # left half white
    out = distortion_free_resize(image, (image_width, image_height))
    assert tuple(out.shape) == (image_width, image_height, 1)  # transposed: width first
    # 28 × 56 scales by 24/28 to 24 × 48, padded by 24 columns on each side
    column = out[:, :, 0].sum(dim=1).numpy()
    assert np.all(column[:24] == 0) and np.all(column[72:] == 0) and np.all(column[24:48] > 20)
    assert np.all(column[48:72] < 1e-6)


def test_the_ctc_layer_adds_keras2s_ctc_batch_cost(data):
    """Section "Model": the endpoint layer's loss against NumPy, the 99s ending each label."""
    keras.utils.set_random_seed(1)
    model = build_model(data["char_to_num"])
    batch = {key: value[:6] for key, value in data["validation_ds"].items()}
    prediction_model = keras.models.Model(model.get_layer(name="image").input, model.get_layer(name="dense2").output)
    probs = prediction_model.predict(batch["image"], verbose=0)
    assert probs.shape == (6, image_width // 4, 13)  # [UNK], 10 digits, + 2
    blank = probs.shape[-1] - 1
    want = sum(numpy_ctc([c for c in row if c != padding_token], probs[i] + keras.backend.epsilon(), blank)
               for i, row in enumerate(batch["label"].astype(int)))
    assert model.evaluate(batch, verbose=0, batch_size=6) == pytest.approx(want, rel=1e-4)


@pytest.fixture(scope="module")
def trained(data):
    """Sections "Evaluation metric" and "Training"."""
    validation_images = []
    validation_labels = []
    validation_ds = data["validation_ds"]
    for start in range(0, len(validation_ds["image"]), batch_size):
        validation_images.append(validation_ds["image"][start:start + batch_size])
        validation_labels.append(validation_ds["label"][start:start + batch_size])
    max_len = data["max_len"]

    def calculate_edit_distance(labels, predictions):
        # tf.sparse.from_dense keeps the nonzero entries of each row
        input_len = np.ones(predictions.shape[0]) * predictions.shape[1]
        predictions_decoded = keras.backend.ctc_decode(predictions, input_length=input_len, greedy=True)[0][0][
            :, :max_len
        ]
        edit_distances = [edit_distance(p[p != 0], t[t != 0]) for p, t in zip(predictions_decoded, labels)]
        return np.mean(edit_distances)

    class EditDistanceCallback(keras.callbacks.Callback):
        def __init__(self, pred_model):
            super().__init__()
            self.prediction_model = pred_model

        def on_epoch_end(self, epoch, logs=None):
            edit_distances = []
            for i in range(len(validation_images)):
                labels = validation_labels[i]
                predictions = self.prediction_model.predict(validation_images[i], verbose=0)
                edit_distances.append(calculate_edit_distance(labels, predictions))
            print(f"Mean edit distance for epoch {epoch + 1}: {np.mean(edit_distances):.4f}")

    epochs = 16
    keras.utils.set_random_seed(42)
    model = build_model(data["char_to_num"])
    prediction_model = keras.models.Model(model.get_layer(name="image").input, model.get_layer(name="dense2").output)
    edit_distance_callback = EditDistanceCallback(prediction_model)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        history = model.fit(data["train_ds"], validation_data=(validation_ds, None), epochs=epochs,
                            batch_size=batch_size, validation_batch_size=batch_size,
                            callbacks=[edit_distance_callback], verbose=0)
    distances = [float(d) for d in re.findall(r"Mean edit distance for epoch \d+: ([0-9.]+)", printed.getvalue())]
    return prediction_model, history, distances


def test_training_lowers_the_loss_and_the_edit_distance(trained):
    """Section "Training", with the callback's printed edit distances."""
    _, history, distances = trained
    assert len(distances) == 16
    assert history.history["val_loss"][-1] < 0.5 * history.history["val_loss"][0]
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    # the distances count the -1 and 99 padding too (as the example's do): the words' part falls
    assert distances[-1] < distances[0] - 1.0


def test_the_prediction_model_reads_the_test_words(trained, data):
    """Section "Inference": the example's decode_batch_predictions on the test words."""
    prediction_model, _, _ = trained
    max_len = data["max_len"]

    def decode_batch_predictions(pred):
        input_len = np.ones(pred.shape[0]) * pred.shape[1]
        # Use greedy search. For complex tasks, you can use beam search.
        results = keras.backend.ctc_decode(pred, input_length=input_len, greedy=True)[0][0][:, :max_len]
        # Iterate over the results and get back the text.
        output_text = []
        for res in results:
            res = res[res != -1]
            res = "".join(data["num_to_char"](res))
            output_text.append(res)
        return output_text

    preds = prediction_model.predict(data["test_ds"]["image"], verbose=0)
    pred_texts = decode_batch_predictions(preds)
    blank = preds.shape[-1] - 1
    for row, text in zip(preds.argmax(-1), pred_texts):  # greedy decoding in NumPy
        kept = [c for t, c in enumerate(row) if c != blank and (t == 0 or c != row[t - 1])]
        assert text == "".join(data["num_to_char"](np.array(kept[:max_len], dtype=np.int64)))
    correct = np.mean([p == t for p, t in zip(pred_texts, data["test_labels"])])
    distance = np.mean([edit_distance(p, t) for p, t in zip(pred_texts, data["test_labels"])])
    assert correct > 0.3 and distance < 1.0  # 0.61 and 0.39 here, for 33 words of 2 to 5 digits
