"""keras.io example "Speaker Recognition"
(https://keras.io/examples/audio/speaker_recognition_using_cnn/), the stored
tf.keras version, ported as a learner would: ``import brainnet as keras``
in place of ``from tensorflow import keras``, the user code otherwise as the
example writes it: the sorting of the speaker and noise folders into
``audio/`` and ``noise/`` with ``shutil.move``, the noise files cut into
one-second slices (a file at another sampling rate ignored with the
example's message), the paths shuffled with ``RandomState(SHUFFLE_SEED)``
and the last ``VALID_SPLIT`` held out, ``add_noise`` (noise scaled by the
ratio of the peaks, times ``SCALE``), ``audio_to_fft`` (the magnitudes of
the first half of the FFT), the residual ``Conv1D`` network, ``fit`` with
``EarlyStopping(patience=10, restore_best_weights=True)`` and
``ModelCheckpoint(..., monitor="val_accuracy", save_best_only=True)``,
``evaluate`` and the demonstration's predictions on noisy validation clips.

Replaced: the Kaggle speaker set (speeches of five leaders and the
``other`` and ``_background_noise_`` folders) is not here, so the test
writes its layout, with 16-bit WAV files written with Python's ``wave``
module: five synthetic speakers (folders named as Kaggle's), each a
harmonic voice of its own fundamental (95 to 235 Hz, ±15 % per clip, so
neighbours overlap, with vibrato) and formants, spoken in three to five syllables of random length
over a little noise; and background noises of several seconds (a mains
hum, low-passed noise, and a babble of random harmonic voices), one of
them at another sampling rate. The example's ``ffmpeg`` resampling (a
shell command) is left out: that file is ignored by ``load_noise_sample``
with the example's message, as it would be without ffmpeg. TensorFlow's
calls are written with torch: ``tf.audio.decode_wav(data, 1, n)`` is
``decode_wav`` below (the ``wave`` module, samples / 32768 as float32,
zero-padded or cut to ``n``, shape ``(n, 1)``); ``tf.split(x, k)`` (``k``
equal parts) is ``torch.tensor_split(x, k)`` (torch's ``split`` takes a
part's size, not a count); ``tf.random.uniform(..., dtype=tf.int32)`` is
``torch.randint``, ``tf.gather`` indexing, ``tf.repeat(tf.expand_dims(p,
1), n, 1)`` is ``p[:, None].repeat(1, n, 1)``; ``tf.signal.fft`` of a
``tf.complex`` is ``torch.fft.fft`` of a ``torch.complex``. The
``tf.data`` pipeline is a ``Dataset`` of decoded clips, ``shuffle(...).
batch(n)`` a shuffling ``DataLoader`` and each ``map`` a ``MappedBatches``
over it (``prefetch`` left out); the checkpoint is named ``model.keras``
(brainnet writes no HDF5); ``display(Audio(...))`` is left out.

Shortened for CI: SAMPLING_RATE = 4,000 Hz in place of 16,000 (one-second
clips, so 2,000 FFT features in place of 8,000), 60 clips per speaker in
place of 1,500, the residual blocks' filters and the Dense layers 4 times
narrower, batches of 32 in place of 128 and 6 epochs in place of 100. The
file takes about 9 s on one core; when written, validation accuracy went
0.63, 0.83, 0.80, 0.97, 1.0, 0.93 over the epochs (the example reports
about 0.98), and over seeds 1-5 the restored model's validation accuracy
was 0.97 to 1.0 (the test asserts 0.7 and runs the example's
SHUFFLE_SEED, 43).

Each test names the section it runs and checks what it computes: the
folders sorted and the noise slices (count, shape, the ignored file, the
slices equal to the file's samples); the decoded clips against the
samples written; ``add_noise`` and ``audio_to_fft`` against NumPy
(``np.fft.fft``, the peak ratio); the shuffled split; the training loss
falling and validation accuracy well above chance (0.2); the checkpoint
holding the best validation accuracy; and the demonstration's
predictions on noisy clips.
"""

from __future__ import annotations

import os
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

import brainnet as keras
from tests.keras_examples._mapped_batches import MappedBatches

SPEAKERS = {"Benjamin_Netanyau": (95, 500, 1500), "Jens_Stoltenberg": (120, 650, 1100),
            "Julia_Gillard": (150, 400, 1800), "Magaret_Tarcher": (190, 800, 1300),
            "Nelson_Mandela": (235, 550, 1600)}  # fundamental and two formants (Hz)
CLIPS_PER_SPEAKER = 60

# The example's settings (SAMPLING_RATE and BATCH_SIZE, EPOCHS shortened for CI)
AUDIO_SUBFOLDER = "audio"
NOISE_SUBFOLDER = "noise"
VALID_SPLIT = 0.1
SHUFFLE_SEED = 43
SAMPLING_RATE = 4000
SCALE = 0.5
BATCH_SIZE = 32
EPOCHS = 6


def _write_wav(path, samples: np.ndarray, rate: int = SAMPLING_RATE) -> np.ndarray:
    pcm = np.round(np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(pcm.tobytes())
    return pcm


def _voice(f0: float, formants, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A harmonic voice: harmonics of f0 (with vibrato) weighted by two formant peaks, in syllables."""
    t = np.arange(int(seconds * SAMPLING_RATE)) / SAMPLING_RATE
    f = f0 * (1 + 0.02 * np.sin(2 * np.pi * rng.uniform(3, 6) * t))
    phase = 2 * np.pi * np.cumsum(f) / SAMPLING_RATE
    x = np.zeros_like(t)
    for k in range(1, int(0.45 * SAMPLING_RATE / f0) + 1):
        gain = sum(np.exp(-0.5 * ((k * f0 - fm) / 120) ** 2) for fm in formants) + 0.05
        x += gain * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    edges = np.sort(rng.uniform(0, seconds, size=2 * rng.integers(3, 6)))
    envelope = np.zeros_like(t)
    for start, stop in edges.reshape(-1, 2):
        inside = (t >= start) & (t < stop)
        envelope[inside] = np.hanning(inside.sum())
    x = x * envelope
    return x / max(np.abs(x).max(), 1e-9) * rng.uniform(0.3, 0.9) + rng.normal(0, 0.005, len(t))


@pytest.fixture(scope="module")
def download(tmp_path_factory):
    """The Kaggle folder as downloaded: one folder per speaker, "other" and
    "_background_noise_"; returns (DATASET_ROOT, {path: int16 samples})."""
    root = tmp_path_factory.mktemp("Downloads") / "16000_pcm_speeches"
    rng = np.random.default_rng(0)
    written = {}
    for name, (f0, *formants) in SPEAKERS.items():
        (root / name).mkdir(parents=True)
        for i in range(CLIPS_PER_SPEAKER):
            path = root / name / f"{i}.wav"
            written[path.name, name] = _write_wav(path, _voice(f0 * rng.uniform(0.85, 1.15), formants, 1.0, rng))
    (root / "other").mkdir()
    (root / "_background_noise_").mkdir()
    t = np.arange(int(3.5 * SAMPLING_RATE)) / SAMPLING_RATE
    hum = 0.3 * sum(np.sin(2 * np.pi * 50 * k * t) / k for k in (1, 2, 3))
    rumble = np.convolve(rng.normal(0, 1, len(t)), np.ones(8) / 8, mode="same")
    babble = sum(_voice(rng.uniform(90, 250), rng.uniform(400, 1800, 2), 3.5, rng) for _ in range(4)) / 4
    written["hum.wav", "noise"] = _write_wav(root / "_background_noise_" / "hum.wav", hum)
    written["rumble.wav", "noise"] = _write_wav(root / "_background_noise_" / "rumble.wav", rumble / 2)
    written["babble.wav", "noise"] = _write_wav(root / "other" / "babble.wav", babble)
    _write_wav(root / "other" / "at_8000_hz.wav", rng.normal(0, 0.1, 8000 * 3), rate=8000)
    (root / "_background_noise_" / "README.md").write_text("not a sound")
    return str(root), written


def decode_wav(contents_path, desired_channels=1, desired_samples=-1):
    """tf.audio.decode_wav(tf.io.read_file(path), desired_channels, desired_samples) with
    the wave module: float32 samples / 32768 of shape (samples, channels), the rate."""
    with wave.open(str(contents_path), "rb") as f:
        rate, channels = f.getframerate(), f.getnchannels()
        pcm = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2").reshape(-1, channels)
    audio = torch.from_numpy(pcm[:, :desired_channels].astype(np.float32) / 32768.0)
    if desired_samples >= 0:
        audio = torch.nn.functional.pad(audio[:desired_samples], (0, 0, 0, max(desired_samples - len(audio), 0)))
    return audio, rate


@pytest.fixture(scope="module")
def prepared(download):
    """Sections "Data preparation" and "Noise preparation", as written (no ffmpeg)."""
    DATASET_ROOT = download[0]
    DATASET_AUDIO_PATH = os.path.join(DATASET_ROOT, AUDIO_SUBFOLDER)
    DATASET_NOISE_PATH = os.path.join(DATASET_ROOT, NOISE_SUBFOLDER)

    if os.path.exists(DATASET_AUDIO_PATH) is False:
        os.makedirs(DATASET_AUDIO_PATH)
    if os.path.exists(DATASET_NOISE_PATH) is False:
        os.makedirs(DATASET_NOISE_PATH)

    for folder in os.listdir(DATASET_ROOT):
        if os.path.isdir(os.path.join(DATASET_ROOT, folder)):
            if folder in [AUDIO_SUBFOLDER, NOISE_SUBFOLDER]:
                continue
            elif folder in ["other", "_background_noise_"]:
                shutil.move(os.path.join(DATASET_ROOT, folder), os.path.join(DATASET_NOISE_PATH, folder))
            else:
                shutil.move(os.path.join(DATASET_ROOT, folder), os.path.join(DATASET_AUDIO_PATH, folder))

    noise_paths = []
    for subdir in os.listdir(DATASET_NOISE_PATH):
        subdir_path = Path(DATASET_NOISE_PATH) / subdir
        if os.path.isdir(subdir_path):
            noise_paths += [
                os.path.join(subdir_path, filepath) for filepath in os.listdir(subdir_path)
                if filepath.endswith(".wav")
            ]
    messages = []

    def load_noise_sample(path):
        sample, sampling_rate = decode_wav(path, desired_channels=1)
        if sampling_rate == SAMPLING_RATE:
            # Number of slices of SAMPLING_RATE samples that can be generated from the noise sample
            slices = int(sample.shape[0] / SAMPLING_RATE)
            sample = list(torch.tensor_split(sample[: slices * SAMPLING_RATE], slices))
            return sample
        else:
            messages.append("Sampling rate for {} is incorrect. Ignoring it".format(path))
            return None

    noises = []
    for path in sorted(noise_paths):  # os.listdir's order is the file system's; sorted for a repeatable run
        sample = load_noise_sample(path)
        if sample:
            noises.extend(sample)
    noises = torch.stack(noises)
    return {"root": DATASET_ROOT, "audio": DATASET_AUDIO_PATH, "noise": DATASET_NOISE_PATH,
            "noise_paths": noise_paths, "noises": noises, "messages": messages}


def add_noise(audio, noises=None, scale=0.5):
    if noises is not None:
        # A random index per clip into the noise slices
        tf_rnd = torch.randint(0, noises.shape[0], (audio.shape[0],))
        noise = noises[tf_rnd]

        # Get the amplitude proportion between the audio and the noise
        prop = audio.amax(dim=1) / noise.amax(dim=1)
        prop = prop[:, None].repeat(1, audio.shape[1], 1)

        # Adding the rescaled noise to audio
        audio = audio + noise * prop * scale

    return audio


def audio_to_fft(audio):
    # torch.fft.fft, like tf.signal.fft, works on the innermost dimension,
    # so squeeze the channel and expand it again after the FFT
    audio = audio.squeeze(-1)
    fft = torch.fft.fft(torch.complex(real=audio, imag=torch.zeros_like(audio)).to(torch.complex64))
    fft = fft[..., None]

    # Return the absolute value of the first half of the FFT
    # which represents the positive frequencies
    return torch.abs(fft[:, : (audio.shape[1] // 2), :])


class paths_and_labels_to_dataset(torch.utils.data.Dataset):
    """Constructs a dataset of audios and labels (tf.data's map of path_to_audio, zipped)."""

    def __init__(self, audio_paths, labels):
        self.audio_paths, self.labels = audio_paths, labels

    def __len__(self):
        return len(self.audio_paths)

    def __getitem__(self, i):
        return path_to_audio(self.audio_paths[i]), self.labels[i]


def path_to_audio(path):
    """Reads and decodes an audio file."""
    audio, _ = decode_wav(path, 1, SAMPLING_RATE)
    return audio


def test_the_folders_are_sorted_and_the_noise_cut_into_one_second_slices(download, prepared):
    """Sections "Data preparation" and "Noise preparation"."""
    assert sorted(os.listdir(prepared["root"])) == [AUDIO_SUBFOLDER, NOISE_SUBFOLDER]
    assert sorted(os.listdir(prepared["audio"])) == sorted(SPEAKERS)
    assert sorted(os.listdir(prepared["noise"])) == ["_background_noise_", "other"]
    assert len(prepared["noise_paths"]) == 4  # README.md is not a .wav
    assert prepared["messages"] == ["Sampling rate for {} is incorrect. Ignoring it".format(
        os.path.join(prepared["noise"], "other", "at_8000_hz.wav"))]
    noises = prepared["noises"]
    assert tuple(noises.shape) == (3 * 3, SAMPLING_RATE, 1)  # three 3.5-s files give 3 slices each
    order = ["hum.wav", "rumble.wav", "babble.wav"]  # sorted paths: _background_noise_/ before other/
    expected = np.concatenate([download[1][name, "noise"][: 3 * SAMPLING_RATE] for name in order]) / 32768.0
    np.testing.assert_array_equal(noises.numpy().reshape(-1), expected.astype(np.float32))


def _split(prepared):
    """Section "Dataset generation": paths and labels, shuffled and split as written."""
    DATASET_AUDIO_PATH = prepared["audio"]
    class_names = sorted(os.listdir(DATASET_AUDIO_PATH))  # sorted: os.listdir's order is the file system's
    audio_paths = []
    labels = []
    for label, name in enumerate(class_names):
        dir_path = Path(DATASET_AUDIO_PATH) / name
        speaker_sample_paths = [
            os.path.join(dir_path, filepath) for filepath in sorted(os.listdir(dir_path))
            if filepath.endswith(".wav")
        ]
        audio_paths += speaker_sample_paths
        labels += [label] * len(speaker_sample_paths)

    rng = np.random.RandomState(SHUFFLE_SEED)
    rng.shuffle(audio_paths)
    rng = np.random.RandomState(SHUFFLE_SEED)
    rng.shuffle(labels)

    num_val_samples = int(VALID_SPLIT * len(audio_paths))
    train_audio_paths = audio_paths[:-num_val_samples]
    train_labels = labels[:-num_val_samples]
    valid_audio_paths = audio_paths[-num_val_samples:]
    valid_labels = labels[-num_val_samples:]
    return class_names, (train_audio_paths, train_labels), (valid_audio_paths, valid_labels)


def test_the_split_keeps_paths_with_their_labels_and_the_clips_decode_to_the_samples(download, prepared):
    """Section "Dataset generation": the shuffled split and ``path_to_audio``."""
    class_names, (train_paths, train_labels), (valid_paths, valid_labels) = _split(prepared)
    assert len(train_paths) == 270 and len(valid_paths) == 30 and not set(train_paths) & set(valid_paths)
    for path, label in zip(train_paths + valid_paths, train_labels + valid_labels):
        assert Path(path).parent.name == class_names[label]  # both lists shuffled by the same seed
    audio = path_to_audio(valid_paths[0])
    assert tuple(audio.shape) == (SAMPLING_RATE, 1) and audio.dtype == torch.float32
    written = download[1][Path(valid_paths[0]).name, Path(valid_paths[0]).parent.name]
    np.testing.assert_array_equal(audio[:, 0].numpy(), written / np.float32(32768.0))


def test_add_noise_and_audio_to_fft_match_numpy(prepared):
    """Section "Dataset generation": ``add_noise`` and ``audio_to_fft`` on a batch of clips."""
    _, (train_paths, _), _ = _split(prepared)
    audio = torch.stack([path_to_audio(p) for p in train_paths[:8]])  # (8, SAMPLING_RATE, 1)
    noises = prepared["noises"]
    torch.manual_seed(5)
    noisy = add_noise(audio, noises, scale=SCALE)
    torch.manual_seed(5)
    index = torch.randint(0, noises.shape[0], (8,)).numpy()  # the draws add_noise made
    a, n = audio.numpy().astype(np.float64), noises.numpy()[index].astype(np.float64)
    expected = a + n * (a.max(axis=1, keepdims=True) / n.max(axis=1, keepdims=True)) * SCALE
    np.testing.assert_allclose(noisy.numpy(), expected, rtol=1e-5, atol=1e-6)

    fft = audio_to_fft(noisy)
    assert tuple(fft.shape) == (8, SAMPLING_RATE // 2, 1) and fft.dtype == torch.float32
    reference = np.abs(np.fft.fft(noisy.numpy()[..., 0].astype(np.float64), axis=-1))[:, : SAMPLING_RATE // 2]
    np.testing.assert_allclose(fft.numpy()[..., 0], reference, rtol=1e-4, atol=1e-3)


def residual_block(x, filters, conv_num=3, activation="relu"):
    # Shortcut
    s = keras.layers.Conv1D(filters, 1, padding="same")(x)
    for i in range(conv_num - 1):
        x = keras.layers.Conv1D(filters, 3, padding="same")(x)
        x = keras.layers.Activation(activation)(x)
    x = keras.layers.Conv1D(filters, 3, padding="same")(x)
    x = keras.layers.Add()([x, s])
    x = keras.layers.Activation(activation)(x)
    return keras.layers.MaxPool1D(pool_size=2, strides=2)(x)


def build_model(input_shape, num_classes):
    inputs = keras.layers.Input(shape=input_shape, name="input")

    x = residual_block(inputs, 4, 2)  # the example's filters 16, 32, 64, 128, 128, quartered
    x = residual_block(x, 8, 2)
    x = residual_block(x, 16, 3)
    x = residual_block(x, 32, 3)
    x = residual_block(x, 32, 3)

    x = keras.layers.AveragePooling1D(pool_size=3, strides=3)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    x = keras.layers.Dense(32, activation="relu")(x)

    outputs = keras.layers.Dense(num_classes, activation="softmax", name="output")(x)

    return keras.models.Model(inputs=inputs, outputs=outputs)


def test_the_residual_network_learns_the_speakers_from_noisy_ffts(prepared, tmp_path, monkeypatch):
    """Sections "Model Definition", "Training", "Evaluation" and "Demonstration"."""
    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(SHUFFLE_SEED)
    noises = prepared["noises"]
    class_names, (train_audio_paths, train_labels), (valid_audio_paths, valid_labels) = _split(prepared)

    # tf.data: shuffle(...).batch(n) as a shuffling DataLoader, each map as MappedBatches over it
    train_ds = torch.utils.data.DataLoader(paths_and_labels_to_dataset(train_audio_paths, train_labels),
                                           batch_size=BATCH_SIZE, shuffle=True)
    valid_ds = torch.utils.data.DataLoader(paths_and_labels_to_dataset(valid_audio_paths, valid_labels),
                                           batch_size=32, shuffle=True)
    train_ds = MappedBatches(train_ds, lambda x, y: (add_noise(x, noises, scale=SCALE), y))
    train_ds = torch.utils.data.DataLoader(MappedBatches(train_ds, lambda x, y: (audio_to_fft(x), y)),
                                           batch_size=None)
    valid_ds = torch.utils.data.DataLoader(MappedBatches(valid_ds, lambda x, y: (audio_to_fft(x), y)),
                                           batch_size=None)

    model = build_model((SAMPLING_RATE // 2, 1), len(class_names))
    assert tuple(model.output_shape) == (None, 5)
    model.compile(optimizer="Adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    model_save_filename = "model.keras"  # the example's "model.h5": brainnet writes no HDF5
    earlystopping_cb = keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)
    mdlcheckpoint_cb = keras.callbacks.ModelCheckpoint(
        model_save_filename, monitor="val_accuracy", save_best_only=True
    )
    history = model.fit(train_ds, epochs=EPOCHS, validation_data=valid_ds,
                        callbacks=[earlystopping_cb, mdlcheckpoint_cb], verbose=0)
    loss = history.history["loss"]
    assert loss[-1] < 0.5 * loss[0], loss

    # Evaluation: restore_best_weights gives back the epoch of least validation loss
    val_loss, val_accuracy = model.evaluate(valid_ds, verbose=0)
    best = int(np.argmin(history.history["val_loss"]))
    assert val_loss == pytest.approx(history.history["val_loss"][best], rel=1e-4)
    assert val_accuracy >= 0.7, val_accuracy  # chance is 0.2
    # the checkpoint kept the epoch of best validation accuracy
    _, checkpoint_accuracy = keras.models.load_model(model_save_filename).evaluate(valid_ds, verbose=0)
    assert checkpoint_accuracy == pytest.approx(max(history.history["val_accuracy"]))

    # Demonstration: predictions on noisy validation clips
    SAMPLES_TO_DISPLAY = 10
    test_ds = torch.utils.data.DataLoader(paths_and_labels_to_dataset(valid_audio_paths, valid_labels),
                                          batch_size=BATCH_SIZE, shuffle=True)
    test_ds = MappedBatches(test_ds, lambda x, y: (add_noise(x, noises, scale=SCALE), y))
    for audios, labels in test_ds:
        ffts = audio_to_fft(audios)
        y_pred = model.predict(ffts, verbose=0)
        assert np.mean(np.argmax(y_pred, axis=-1) == labels.numpy()) >= 0.6  # noisy clips, chance 0.2
        # the example draws from range(BATCH_SIZE); its one validation batch here holds 30 clips
        rnd = np.random.randint(0, len(labels), SAMPLES_TO_DISPLAY)
        audios = audios.numpy()[rnd, :, :]
        labels = labels.numpy()[rnd]
        y_pred = np.argmax(y_pred, axis=-1)[rnd]
        assert audios.shape == (SAMPLES_TO_DISPLAY, SAMPLING_RATE, 1) and y_pred.shape == labels.shape
        break
