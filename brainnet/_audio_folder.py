"""``audio_dataset_from_directory``: a folder of ``.wav`` files, one subfolder
per class, as batches of (audio, labels) (Keras 3's function, behind
``brainnet.utils``). The files are listed at once and decoded lazily, one
batch at a time, with Python's ``wave`` module; listing, shuffling and
splitting are those of ``image_dataset_from_directory``
(``brainnet._image_folder``)."""

from __future__ import annotations

import numbers
import os
import wave
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._image_folder import (check_label_args, check_split_args, files_ending, folder_loader, index_directory,
                            label_tensor, refuse, resolved_label_mode, shuffled_split)

_CALLER = "audio_dataset_from_directory"


def decode_wav(path: str | os.PathLike, desired_samples: int = -1) -> tuple[torch.Tensor, int]:
    """A 16-bit PCM WAV file as float32 samples in [-1, 1), shape ``(time,
    channels)``, and its sampling rate, as ``tf.audio.decode_wav`` gives them:
    ``x = pcm / 32768``; with ``desired_samples`` ≥ 0 the clip is cut to that
    many samples or padded with zeros at its end."""
    try:
        with wave.open(str(path), "rb") as f:
            width, channels, rate = f.getsampwidth(), f.getnchannels(), f.getframerate()
            raw = f.readframes(f.getnframes())
    except (wave.Error, EOFError) as error:
        raise ValueError(
            f"{_CALLER}: expected a PCM WAV file, got {str(path)!r}, which the wave module cannot read ({error}). "
            "Fix: convert it to 16-bit PCM WAV, e.g. ffmpeg -i in.wav -c:a pcm_s16le out.wav, or move it out of "
            "the folder."
        ) from None
    if width != 2:
        raise ValueError(
            f"{_CALLER}: expected 16-bit PCM samples (as Keras's tf.audio.decode_wav), got {8 * width}-bit ones "
            f"in {str(path)!r}. Fix: convert it, e.g. ffmpeg -i in.wav -c:a pcm_s16le out.wav."
        )
    pcm = np.frombuffer(raw, dtype="<i2").reshape(-1, channels)  # (time, channels)
    audio = torch.from_numpy(pcm.astype(np.float32) / 32768.0)
    if desired_samples >= 0:
        audio = audio[:desired_samples]
        audio = torch.nn.functional.pad(audio, (0, 0, 0, desired_samples - len(audio)))
    return audio, rate


class _Clips(torch.utils.data.Dataset):
    """The files, decoded on demand: each clip ``(time, channels)`` and its label."""

    def __init__(self, paths: list[str], labels: np.ndarray, label_mode: str | None, classes: int,
                 sampling_rate: int | None, output_sequence_length: int | None) -> None:
        self.paths, self.labels, self.label_mode, self.classes = paths, labels, label_mode, classes
        self.sampling_rate, self.length = sampling_rate, output_sequence_length

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Any:
        audio, rate = decode_wav(self.paths[i], -1 if self.length is None else self.length)
        if self.sampling_rate is not None and rate != self.sampling_rate:
            raise ValueError(
                f"{_CALLER}: expected files sampled at sampling_rate={self.sampling_rate} Hz, got {rate} Hz in "
                f"{self.paths[i]!r} (Keras resamples with tensorflow-io; brainnet does not resample). Fix: resample "
                f"the files, e.g. ffmpeg -i in.wav -ar {self.sampling_rate} out.wav, or sampling_rate=None to take "
                "each file at its own rate."
            )
        if self.label_mode is None:
            return audio
        return audio, label_tensor(int(self.labels[i]), self.label_mode, self.classes)


def _pad_batch(clips: list[torch.Tensor]) -> torch.Tensor:
    """Clips of several lengths as one ``(batch, longest, channels)`` tensor, zeros at their ends
    (Keras's ``padded_batch``)."""
    channels = {clip.shape[1] for clip in clips}
    if len(channels) > 1:
        raise ValueError(
            f"{_CALLER}: expected the clips of a batch to have one number of channels, got {sorted(channels)}. "
            "Fix: convert the files to one layout, e.g. mono: ffmpeg -i in.wav -ac 1 out.wav."
        )
    longest = max(len(clip) for clip in clips)
    return torch.stack([torch.nn.functional.pad(clip, (0, 0, 0, longest - len(clip))) for clip in clips])


def _collate(samples: list[Any]) -> Any:
    if isinstance(samples[0], torch.Tensor):
        return _pad_batch(samples)
    clips, labels = zip(*samples)
    return _pad_batch(list(clips)), torch.stack(labels)


def _optional_positive_int(argument: str, value: Any, fix: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0):
        refuse(_CALLER, argument, "None or a positive integer", value, fix)


def audio_dataset_from_directory(
    directory: str | os.PathLike, labels: Any = "inferred", label_mode: str | None = "int",
    class_names: list[str] | None = None, batch_size: int | None = 32, sampling_rate: int | None = None,
    output_sequence_length: int | None = None, ragged: bool = False, shuffle: bool = True,
    seed: int | None = None, validation_split: float | None = None, subset: str | None = None,
    follow_links: bool = False, verbose: bool = True,
) -> Any:
    """Batches of sound clips read from the ``.wav`` files under ``directory``, as Keras 3's function.

    ``directory/class_a/*.wav``, ``directory/class_b/*.wav``: class ``i`` is
    the i-th subfolder in alphabetical order (or in the order of
    ``class_names``); files in deeper folders count for their class.

    Each file (16-bit PCM) is decoded as ``tf.audio.decode_wav`` does:
    ``x[t, c] = pcm[t, c] / 32768``, float32 in [-1, 1), shape ``(time,
    channels)``. With ``output_sequence_length`` every clip is cut to that
    many samples or padded with zeros at its end; without it each batch is
    padded with zeros to its longest clip (Keras's ``padded_batch``).

    Returns a ``torch.utils.data.DataLoader`` with ``.class_names`` and
    ``.file_paths``. Each batch is ``(audio, labels)``: the audio float32
    ``(batch, time, channels)``, the labels ``"int"`` int32 ``(batch,)``,
    ``"categorical"`` float32 one-hot ``(batch, classes)``, ``"binary"``
    float32 ``(batch, 1)``; with ``label_mode=None`` (or ``labels=None``) the
    audio alone. Shuffling and splits follow Keras (and
    ``image_dataset_from_directory``): the sorted file list shuffled once
    with ``np.random.RandomState(seed)``, the last ``validation_split`` of it
    for ``subset="validation"``, the training batches shuffled again each
    epoch.

    Args:
        directory: the folder holding one subfolder per class.
        labels: ``"inferred"`` (from the subfolders), None (audio only), or a
            list of integer labels, one per file in sorted path order.
        label_mode: ``"int"``, ``"categorical"``, ``"binary"`` or None.
        class_names: the subfolders to use, in the order of their labels.
        batch_size: clips per batch (default 32; None: one clip at a time,
            ``(time, channels)``, each at its own length).
        sampling_rate: the rate (Hz) every file must have; brainnet does not
            resample (Keras does, with tensorflow-io): a file at another rate
            is refused when it is read, with the fix. None: any rate.
        output_sequence_length: samples per clip (cut or zero-padded).
        ragged: must stay False: brainnet has no ragged tensors.
        shuffle, seed: see above.
        validation_split: fraction (0, 1) held out; needs ``subset``.
        subset: ``"training"``, ``"validation"`` or ``"both"``.
        follow_links: also read subfolders that are symbolic links.
        verbose: print how many files and classes were found, as Keras.

    Raises:
        ValueError: a missing folder, no ``.wav`` files, ``ragged=True``, a
            file that is not 16-bit PCM or not at ``sampling_rate``, or
            arguments that cannot be right (each with the fix).

    Example:
        >>> train, val = audio_dataset_from_directory("speech", output_sequence_length=16000,
        ...                                           validation_split=0.2, subset="both",
        ...                                           seed=0)  # doctest: +SKIP
        >>> model.fit(train, validation_data=val, epochs=5)  # doctest: +SKIP
    """
    root = Path(directory)
    if not root.is_dir():
        refuse(_CALLER, "directory", "a folder holding one subfolder per class", str(directory),
               "check the path, e.g. audio_dataset_from_directory('mini_speech_commands')")
    check_label_args(_CALLER, labels, label_mode)
    if ragged:
        refuse(_CALLER, "ragged", "False (brainnet has no ragged tensors)", ragged,
               "ragged=False: batches padded to their longest clip, or output_sequence_length=n for one length, "
               "or batch_size=None for each clip at its own length")
    _optional_positive_int("sampling_rate", sampling_rate, "sampling_rate=16000 (the rate of your files) or None")
    _optional_positive_int("output_sequence_length", output_sequence_length,
                           "output_sequence_length=16000 (one second at 16 kHz) or None")
    check_split_args(_CALLER, validation_split, subset, shuffle, seed)
    paths, ids, names = index_directory(_CALLER, root, labels, class_names, files_ending(".wav", follow_links))
    label_mode = resolved_label_mode(_CALLER, labels, label_mode, names)
    if not paths:
        refuse(_CALLER, ".wav files", f"in {root}", "none", "put the clips in one subfolder per class, "
               "e.g. data/yes/1.wav")
    if verbose:
        print(f"Found {len(paths)} files belonging to {len(names)} classes.")
    paths, label_array, seed, parts = shuffled_split(_CALLER, paths, ids, shuffle, seed, validation_split)

    def loader(part: slice, shuffled: bool) -> torch.utils.data.DataLoader:
        clips = _Clips(paths[part], label_array[part], label_mode, len(names), sampling_rate, output_sequence_length)
        return folder_loader(clips, batch_size, shuffled, seed, _collate, names, paths[part])

    if not validation_split:
        return loader(parts[0], shuffle)
    train, val = loader(parts[0], shuffle), loader(parts[1], False)
    if verbose and subset in ("training", "both"):
        print(f"Using {len(train.file_paths)} files for training.")
    if verbose and subset in ("validation", "both"):
        print(f"Using {len(val.file_paths)} files for validation.")
    return {"training": train, "validation": val, "both": [train, val]}[subset]
