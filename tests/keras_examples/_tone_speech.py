"""A tiny 'speech' set for the keras.io speech-recognition ports (audio/ctc_asr,
audio/transformer_asr), in place of LJSpeech: an LJSpeech-1.1 folder of
``wavs/LJ001-NNNN.wav`` (16-bit PCM mono, written with Python's ``wave``)
and a ``metadata.csv`` of LJSpeech's three ``|``-separated columns. Each clip
"says" one or two short words of the letters ``a e i n o r s t``: every
character (the space too) is a tone burst of its own pitch lasting 60 to
100 ms, with random gaps, silence before and after, a 1 % pitch jitter and
background noise, at 8,000 Hz."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

sample_rate = 8000
tones = dict(zip("aeinorst ", [400, 700, 1000, 1300, 1600, 1900, 2200, 2500, 3100]))  # Hz per character
words = ["one", "ten", "net", "tin", "son", "rat", "sit", "ant", "ear", "art", "no", "to", "at", "is", "rest",
         "tone"]


def say(text: str, rng: np.random.Generator) -> np.ndarray:
    """A clip in [-1, 1]: each character a tone burst of its pitch (10 ms fade in and out), random gaps, noise."""
    parts = [np.zeros(int(rng.integers(160, 480)))]
    for char in text:
        t = np.arange(int(rng.integers(480, 800))) / sample_rate
        envelope = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)
        pitch = tones[char] * (1 + rng.normal(0, 0.01))
        parts.append(0.5 * envelope * np.sin(2 * np.pi * pitch * t + rng.uniform(0, 2 * np.pi)))
        parts.append(np.zeros(int(rng.integers(0, 160))))
    parts.append(np.zeros(int(rng.integers(160, 480))))
    audio = np.concatenate(parts)
    return audio + 0.01 * rng.normal(size=audio.shape)


def phrase(rng: np.random.Generator) -> str:
    """One or two of the words, joined by a space."""
    return " ".join(rng.choice(words, size=int(rng.integers(1, 3))))


def write_ljspeech(data_path: Path, num_clips: int, seed: int = 0) -> None:
    """wavs/LJ001-0001.wav ... and metadata.csv (id|Transcription.|Normalized transcription) under data_path.
    The normalized column has no punctuation (LJSpeech's keeps some)."""
    rng = np.random.default_rng(seed)
    (data_path / "wavs").mkdir(parents=True)
    rows = []
    for i in range(num_clips):
        text = phrase(rng)
        name = f"LJ001-{i + 1:04d}"
        pcm = np.clip(np.round(say(text, rng) * 32768), -32768, 32767).astype("<i2")
        with wave.open(str(data_path / "wavs" / f"{name}.wav"), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(sample_rate)
            f.writeframes(pcm.tobytes())
        spoken = text[0].upper() + text[1:]
        rows.append(f"{name}|{spoken}.|{spoken}")
    (data_path / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def read_wav(path: str) -> np.ndarray:
    """tf.audio.decode_wav: 16-bit PCM as float32 in [-1, 1), shape (samples, channels)."""
    with wave.open(path, "rb") as f:
        pcm = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
        return (pcm.reshape(-1, f.getnchannels()) / 32768.0).astype("float32")
