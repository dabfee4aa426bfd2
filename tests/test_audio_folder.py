"""brainnet.utils.audio_dataset_from_directory on folders of WAV files written
here with Python's wave module (tones of a few pitches, one subfolder per
class, clips of several lengths, a stereo folder), checked against the
samples written and a naive listing; its teaching errors; fit on it."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from brainnet.layers import Conv1D, Dense, GlobalMaxPooling1D
from brainnet.models import Sequential
from brainnet.utils import audio_dataset_from_directory, set_random_seed

RATE = 2000
PITCHES = {"high": 600, "low": 150, "mid": 300}  # folder -> tone (Hz)


def _write(path: Path, samples: np.ndarray, rate: int = RATE, width: int = 2) -> np.ndarray:
    """Writes (time, channels) samples in [-1, 1] as PCM; returns the integers written."""
    samples = samples.reshape(len(samples), -1)
    pcm = np.round(samples * 32767).astype("<i2") if width == 2 else np.round(samples * 127 + 128).astype(np.uint8)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(samples.shape[1])
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(pcm.tobytes())
    return pcm


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """root/<pitch>/<k>.wav, 10 tones each of 0.2 to 0.6 s; returns (root, {path: int16 samples})."""
    root = tmp_path_factory.mktemp("tones")
    rng = np.random.default_rng(0)
    written = {}
    for name, hz in PITCHES.items():
        (root / name).mkdir()
        for k in range(10):
            t = np.arange(int(rng.uniform(0.2, 0.6) * RATE)) / RATE
            x = 0.5 * np.sin(2 * np.pi * hz * t + rng.uniform(0, 6)) + rng.normal(0, 0.02, len(t))
            path = root / name / f"{k:02d}.wav"
            written[str(path)] = _write(path, x)
        (root / name / "notes.txt").write_text("not a .wav file: left out")
    return root, written


def _naive(root: Path):
    names = sorted(d.name for d in root.iterdir() if d.is_dir())
    paths, labels = [], []
    for index, name in enumerate(names):
        found = sorted(str(p) for p in (root / name).iterdir() if p.suffix == ".wav")
        paths += found
        labels += [index] * len(found)
    return paths, labels, names


def test_clips_decode_to_the_samples_written_and_batches_pad_to_their_longest(folders):
    root, written = folders
    data = audio_dataset_from_directory(root, shuffle=False, batch_size=4, verbose=False)
    paths, labels, names = _naive(root)
    assert data.class_names == names == ["high", "low", "mid"] and data.file_paths == paths
    seen, all_labels = 0, []
    for audio, y in data:
        assert audio.dtype == torch.float32 and audio.ndim == 3 and audio.shape[2] == 1
        assert y.dtype == torch.int32
        for clip in audio:
            pcm = written[paths[seen]]
            expected = np.zeros(audio.shape[1], dtype=np.float32)  # zeros after the clip's end
            expected[: len(pcm)] = pcm[:, 0] / np.float32(32768.0)
            np.testing.assert_array_equal(clip[:, 0].numpy(), expected)
            seen += 1
        assert audio.shape[1] == max(len(written[p]) for p in paths[seen - len(audio):seen])
        all_labels += y.tolist()
    assert seen == 30 and all_labels == labels


def test_output_sequence_length_cuts_or_pads_every_clip(folders):
    root, written = folders
    data = audio_dataset_from_directory(root, shuffle=False, batch_size=None, output_sequence_length=700,
                                        label_mode="categorical", verbose=False)
    for path, (clip, y) in zip(data.file_paths, data):
        pcm = written[path][:700, 0] / np.float32(32768.0)
        assert tuple(clip.shape) == (700, 1) and y.shape == (3,) and float(y.sum()) == 1.0
        np.testing.assert_array_equal(clip[: len(pcm), 0].numpy(), pcm)
        assert not clip[len(pcm):].any()


def test_split_shuffle_and_seed_follow_keras(folders, capsys):
    root, _ = folders
    train, val = audio_dataset_from_directory(root, validation_split=0.2, subset="both", seed=3,
                                              output_sequence_length=400)
    out = capsys.readouterr().out
    assert "Found 30 files belonging to 3 classes." in out and "Using 24 files for training." in out
    paths, labels, _ = _naive(root)
    order = np.arange(30)
    np.random.RandomState(3).shuffle(order)  # Keras's one shuffle of the sorted list
    assert train.file_paths == [paths[i] for i in order[:24]] and val.file_paths == [paths[i] for i in order[24:]]
    val_labels = np.concatenate([y.numpy() for _, y in val])
    assert val_labels.tolist() == [labels[i] for i in order[24:]]  # validation keeps its order
    only_val = audio_dataset_from_directory(root, validation_split=0.2, subset="validation", seed=3, verbose=False)
    assert only_val.file_paths == val.file_paths


def test_stereo_files_keep_their_channels(tmp_path):
    (tmp_path / "a").mkdir()
    x = np.stack([np.linspace(-0.5, 0.5, 300), np.linspace(0.25, -0.25, 300)], axis=1)
    pcm = _write(tmp_path / "a" / "s.wav", x)
    (audio,) = audio_dataset_from_directory(tmp_path, label_mode=None, verbose=False)
    assert tuple(audio.shape) == (1, 300, 2)
    np.testing.assert_array_equal(audio[0].numpy(), pcm / np.float32(32768.0))


def test_a_model_learns_the_pitches_from_the_folder(folders):
    root, _ = folders
    set_random_seed(0)
    train, val = audio_dataset_from_directory(root, batch_size=8, seed=1, output_sequence_length=400,
                                              validation_split=0.3, subset="both", verbose=False)
    model = Sequential([Conv1D(8, 15, activation="relu"), GlobalMaxPooling1D(), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, epochs=30, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    _, accuracy = model.evaluate(val, verbose=0)
    assert accuracy >= 0.8  # 9 held-out clips, chance 1/3


def test_audio_folder_errors_teach(folders, tmp_path):
    root, _ = folders
    with pytest.raises(ValueError, match=r"expected ragged False .*Fix: ragged=False"):
        audio_dataset_from_directory(root, ragged=True)
    with pytest.raises(ValueError, match=r"expected sampling_rate None or a positive integer, got 16000.0"):
        audio_dataset_from_directory(root, sampling_rate=16000.0)
    with pytest.raises(ValueError, match=r"expected output_sequence_length None or a positive integer, got 0"):
        audio_dataset_from_directory(root, output_sequence_length=0)
    with pytest.raises(ValueError, match=r"expected label_mode 'int', 'categorical', 'binary' or None"):
        audio_dataset_from_directory(root, label_mode="sparse")
    with pytest.raises(ValueError, match=r"expected labels 'inferred', None or a list"):
        audio_dataset_from_directory(root, labels="folders")
    with pytest.raises(ValueError, match=r"expected label_mode='binary' to have 2 classes"):
        audio_dataset_from_directory(root, label_mode="binary", verbose=False)
    with pytest.raises(ValueError, match=r"expected directory a folder"):
        audio_dataset_from_directory(tmp_path / "missing")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"expected \.wav files in .*got 'none'"):
        audio_dataset_from_directory(tmp_path / "empty", verbose=False)

    data = audio_dataset_from_directory(root, sampling_rate=16000, verbose=False)
    with pytest.raises(ValueError, match=r"expected files sampled at sampling_rate=16000 Hz, got 2000 Hz .*ffmpeg"):
        next(iter(data))

    odd = tmp_path / "odd"
    (odd / "a").mkdir(parents=True)
    _write(odd / "a" / "eight_bit.wav", np.zeros(100), width=1)
    with pytest.raises(ValueError, match=r"expected 16-bit PCM samples .*got 8-bit ones"):
        next(iter(audio_dataset_from_directory(odd, verbose=False)))
    (odd / "a" / "eight_bit.wav").write_bytes(b"not a wav file")
    with pytest.raises(ValueError, match=r"expected a PCM WAV file, got .*pcm_s16le"):
        next(iter(audio_dataset_from_directory(odd, verbose=False)))

    mixed = tmp_path / "mixed"
    (mixed / "a").mkdir(parents=True)
    _write(mixed / "a" / "1.wav", np.zeros(50))
    _write(mixed / "a" / "2.wav", np.zeros((50, 2)))
    with pytest.raises(ValueError, match=r"one number of channels, got \[1, 2\]"):
        next(iter(audio_dataset_from_directory(mixed, shuffle=False, verbose=False)))
