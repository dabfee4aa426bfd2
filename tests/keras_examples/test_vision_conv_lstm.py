"""keras.io example "Next-Frame Video Prediction with Convolutional LSTMs"
(https://keras.io/examples/vision/conv_lstm/), ported as a learner would:
``import brainnet as keras``, ``from brainnet import layers``, the rest as
the example has it: the 90/10 split by shuffled indices, ``/ 255``,
``create_shifted_frames`` (inputs frames 0..n-2, targets frames 1..n-1), an
``Input`` of any number of frames, three ``ConvLSTM2D`` (5×5, 3×3, 1×1,
``return_sequences=True``, ReLU) with ``BatchNormalization`` between them,
a sigmoid ``Conv3D``, ``binary_crossentropy`` with ``Adam``,
``EarlyStopping`` and ``ReduceLROnPlateau`` on ``val_loss``, and the frame
prediction loop that feeds each predicted frame back in. The stored copy of
the example is the TensorFlow 2 version; it has no TensorFlow call besides
the imports. Its GIFs are written with Pillow (``imageio`` is not
installed here), its plots are left out.

Shortened for CI: the Moving MNIST download is not here, so the videos are
made from real MNIST digits (``moving_digits`` below, as Moving MNIST is
made): each video has two test-set digits, halved to 14×14 by 2×2 means,
on a black 32×32 canvas (Moving MNIST: 28×28 digits on 64×64); each digit
starts at a random place with a random velocity of 1 to 2 pixels per frame
on each axis and bounces off the edges (the velocity on an axis flips when
the next step would leave the canvas); two digits that overlap combine by
their maximum. 10 frames per video instead of 20, 250 videos instead of
1,000, 8 filters instead of 64, 2 epochs instead of 20, batch size 5 as
the example; the prediction loop extends 5 frames by 5 instead of 10 by 10.
Two epochs lower the held-out loss from log 2 to about 0.25 but do not yet
learn the motion (a fixed mean frame scores 0.14, and the predicted frames
are a blur): the test checks the fall, not the quality of the video.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import brainnet as keras
from brainnet import layers

canvas = 32  # Moving MNIST: 64
num_frames = 10  # Moving MNIST: 20
filters = 8  # the example: 64


def moving_digits(digits, num_videos, rng, num_frames=num_frames, canvas=canvas, per_video=2):
    """Videos (num_videos, num_frames, canvas, canvas) uint8 of `per_video` digits each, bouncing around."""
    half = digits.reshape(len(digits), 14, 2, 14, 2).mean((2, 4)).astype("uint8")  # 28×28 -> 14×14
    size = half.shape[1]
    videos = np.zeros((num_videos, num_frames, canvas, canvas), dtype="uint8")
    for v in range(num_videos):
        for digit in half[rng.choice(len(half), per_video, replace=False)]:
            position = rng.integers(0, canvas - size + 1, size=2)
            velocity = rng.choice([-2, -1, 1, 2], size=2)
            for t in range(num_frames):
                r, c = position
                frame = videos[v, t]
                frame[r:r + size, c:c + size] = np.maximum(frame[r:r + size, c:c + size], digit)
                # bounce: flip the velocity on an axis where the next step would leave the canvas
                step = position + velocity
                velocity = np.where((step < 0) | (step > canvas - size), -velocity, velocity)
                position = position + velocity
    return videos


def create_shifted_frames(data):
    x = data[:, 0 : data.shape[1] - 1, :, :]
    y = data[:, 1 : data.shape[1], :, :]
    return x, y


def create_model(frame_shape):
    # any number of frames
    inp = layers.Input(shape=(None, *frame_shape))
    x = layers.ConvLSTM2D(filters=filters, kernel_size=(5, 5), padding="same", return_sequences=True,
                          activation="relu")(inp)
    x = layers.BatchNormalization()(x)
    x = layers.ConvLSTM2D(filters=filters, kernel_size=(3, 3), padding="same", return_sequences=True,
                          activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.ConvLSTM2D(filters=filters, kernel_size=(1, 1), padding="same", return_sequences=True,
                          activation="relu")(x)
    x = layers.Conv3D(filters=1, kernel_size=(3, 3, 3), activation="sigmoid", padding="same")(x)
    model = keras.models.Model(inp, x)
    model.compile(loss=keras.losses.binary_crossentropy, optimizer=keras.optimizers.Adam())
    return model


@pytest.fixture(scope="module")
def dataset(mnist_dir):
    """Section "Dataset Construction", with moving_digits in place of the download."""
    _, (test_digits, _) = keras.datasets.mnist.load_data(path=mnist_dir)
    dataset = moving_digits(test_digits[:2000], 250, np.random.default_rng(0))
    # Add a channel dimension since the images are grayscale.
    dataset = np.expand_dims(dataset, axis=-1)
    np.random.seed(0)
    indexes = np.arange(dataset.shape[0])
    np.random.shuffle(indexes)
    train_index = indexes[: int(0.9 * dataset.shape[0])]
    val_index = indexes[int(0.9 * dataset.shape[0]):]
    train_dataset = dataset[train_index]
    val_dataset = dataset[val_index]
    # Normalize the data to the 0-1 range.
    train_dataset = train_dataset / 255
    val_dataset = val_dataset / 255
    return train_dataset, val_dataset


def test_the_digits_move_by_their_velocity_and_bounce():
    """moving_digits: a lone digit's frame t+1 is frame t shifted by the velocity, and flips at the edges."""
    digit = np.zeros((1, 28, 28), dtype="uint8")
    digit[0, 4:24, 10:18] = 200  # a bar, 10×4 once halved
    videos = moving_digits(digit, 3, np.random.default_rng(1), num_frames=30, per_video=1)
    assert videos.shape == (3, 30, canvas, canvas) and videos.dtype == np.uint8
    for video in videos:
        assert all(frame.max() == 200 and (frame > 0).sum() == 10 * 4 for frame in video)  # always whole
        rows = [np.nonzero(frame.any(1))[0][0] - 2 for frame in video]  # the digit's top row (the bar's, less 2)
        cols = [np.nonzero(frame.any(0))[0][0] - 5 for frame in video]  # its left column
        steps = np.diff(rows), np.diff(cols)
        for step in steps:
            assert set(np.abs(step)) <= {1, 2} and len(set(np.abs(step))) == 1  # one speed per axis
        # the sign of a step changes only next to an edge
        for top, step in ((rows, steps[0]), (cols, steps[1])):
            flips = np.nonzero(np.sign(step[1:]) != np.sign(step[:-1]))[0] + 1
            assert all(min(top[f], canvas - 14 - top[f]) < 2 for f in flips)
        assert 0 <= min(rows) and max(rows) <= canvas - 14 and 0 <= min(cols) and max(cols) <= canvas - 14
    # the first frame is the halved digit, 2×2 means of the original
    first = videos[0, 0]
    r, c = np.nonzero(first)[0][0], np.nonzero(first)[1][0]
    halved = digit[0].reshape(14, 2, 14, 2).mean((1, 3))
    np.testing.assert_array_equal(first[r - 2:r + 12, c - 5:c + 9], halved)


def test_the_shifted_frames_and_their_shapes(dataset):
    """The example's "Inspect the dataset" shapes, and y at t is x at t + 1."""
    train_dataset, val_dataset = dataset
    x_train, y_train = create_shifted_frames(train_dataset)
    x_val, y_val = create_shifted_frames(val_dataset)
    assert x_train.shape == y_train.shape == (225, num_frames - 1, canvas, canvas, 1)
    assert x_val.shape == y_val.shape == (25, num_frames - 1, canvas, canvas, 1)
    np.testing.assert_array_equal(x_train[:, 1:], y_train[:, :-1])
    assert 0 <= train_dataset.min() and train_dataset.max() <= 1 and train_dataset.max() > 0.9


def test_the_model_predicts_a_movie_of_any_length():
    """Section "Model Construction": (batch, frames, height, width, 1) in, the same shape out, in (0, 1)."""
    keras.utils.set_random_seed(0)
    model = create_model((canvas, canvas, 1))
    assert model.output_shape == (None, None, canvas, canvas, 1)
    for frames in (3, 7):
        out = model.predict(np.random.default_rng(0).uniform(size=(2, frames, canvas, canvas, 1)), verbose=0)
        assert out.shape == (2, frames, canvas, canvas, 1) and ((0 < out) & (out < 1)).all()


def test_training_lowers_the_held_out_loss_and_predicts_frames(dataset):
    """Sections "Model Training", "Frame Prediction Visualizations" and "Predicted Videos"."""
    keras.utils.set_random_seed(0)
    train_dataset, val_dataset = dataset
    x_train, y_train = create_shifted_frames(train_dataset)
    x_val, y_val = create_shifted_frames(val_dataset)
    model = create_model(x_train.shape[2:])
    untrained = model.evaluate(x_val, y_val, verbose=0)
    example = val_dataset[0]
    untrained_next = model.predict(example[None, :5], verbose=0)[0, -1]
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10)
    reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=5)
    epochs = 2  # the example: 20
    batch_size = 5
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_data=(x_val, y_val),
                        callbacks=[early_stopping, reduce_lr], verbose=0)
    val_loss = history.history["val_loss"]
    assert val_loss[-1] < val_loss[0] < untrained, (untrained, val_loss)
    # against NumPy's binary cross-entropy of the predictions
    p = np.clip(model.predict(x_val, verbose=0).astype("float64"), 1e-7, 1 - 1e-7)
    bce = -np.mean(y_val * np.log(p) + (1 - y_val) * np.log(1 - p))
    np.testing.assert_allclose(val_loss[-1], bce, rtol=1e-4)
    assert val_loss[-1] < 0.6 * untrained  # from log 2 (0.69) to about 0.25

    # Frame Prediction Visualizations: extend 5 true frames by 5 predicted ones
    frames = example[:5, ...]
    original_frames = example[5:, ...]
    for _ in range(5):
        new_prediction = model.predict(np.expand_dims(frames, axis=0), verbose=0)
        new_prediction = np.squeeze(new_prediction, axis=0)
        predicted_frame = np.expand_dims(new_prediction[-1, ...], axis=0)
        frames = np.concatenate((frames, predicted_frame), axis=0)
    assert frames.shape == (10, canvas, canvas, 1) and original_frames.shape == (5, canvas, canvas, 1)
    np.testing.assert_array_equal(frames[:5], example[:5])
    # the first predicted frame is nearer the true one than the untrained model's (about 0.25 against 0.5
    # per pixel; after 2 epochs it is still a blur: the example trains 20)
    assert np.abs(frames[5] - example[5]).mean() < 0.7 * np.abs(untrained_next - example[5]).mean()

    # Predicted Videos: one GIF each of the truth and the prediction
    predicted_videos = []
    for frame_set in [original_frames, frames[5:]]:
        current_frames = np.squeeze(frame_set)
        current_frames = current_frames[..., np.newaxis] * np.ones(3)
        current_frames = (current_frames * 255).astype(np.uint8)
        images = [Image.fromarray(f) for f in current_frames]
        with io.BytesIO() as gif:
            images[0].save(gif, "GIF", save_all=True, append_images=images[1:], duration=200)
            predicted_videos.append(gif.getvalue())
    for video in predicted_videos:
        gif = Image.open(io.BytesIO(video))
        assert gif.format == "GIF" and gif.n_frames == 5 and gif.size == (canvas, canvas)
