"""keras.io example "Automatic Speech Recognition using CTC"
(https://keras.io/examples/audio/ctc_asr/; the stored copy is the tf.keras
version, last modified 2021/09/26: a DeepSpeech2-like model of two Conv2D
layers and bidirectional GRUs trained with Keras 2's
``keras.backend.ctc_batch_cost``), ported as a learner would: ``import
brainnet as keras`` and ``from brainnet import layers`` in place of the
TensorFlow imports, TensorFlow calls as torch calls, the rest as written.

Replaced, and why:

* the data: no download. In place of LJSpeech the test writes a tiny
  LJSpeech-1.1 folder of its own (``_tone_speech.py``): ``wavs/LJ001-NNNN.wav`` (16-bit PCM mono,
  written with Python's ``wave`` module) and a ``metadata.csv`` of the same
  three ``|``-separated columns. Each clip "says" one or two short words of
  the letters ``a e i n o r s t`` and the space: every character is a tone
  burst of its own pitch (400 to 3,100 Hz) lasting 60 to 100 ms, with random
  gaps, silence before and after, a small pitch jitter and background noise,
  at 8,000 Hz in place of 22,050 Hz. The transcription ends with a full stop
  and starts with a capital; the normalized transcription, which the example
  reads, has no punctuation (LJSpeech's keeps some, which the example's
  vocabulary maps to the out-of-vocabulary token ``""``);
* ``tf.io.read_file``/``tf.audio.decode_wav`` is ``wave`` and
  ``np.frombuffer(...) / 32768`` (decode_wav's floats in [-1, 1));
  ``tf.signal.stft`` (a periodic Hann window, frames without padding, each
  padded at the end to ``fft_length``) is ``Tensor.unfold`` and
  ``torch.fft.rfft``, ``tf.math.reduce_std`` is ``std(unbiased=False)``;
  ``tf.strings.unicode_split`` is ``list(label)``;
* ``tf.data``'s ``map(encode_single_sample).padded_batch(batch_size)`` is the
  mapped samples in a ``DataLoader`` whose ``collate_fn`` pads them with zeros
  (``pad_sequence``), as ``padded_batch`` does; as in the example the padded
  labels' zeros (the ``""`` token) are labels to ``ctc_batch_cost``, since
  ``CTCLoss`` gives every row the padded length;
* ``jiwer.wer`` is ``wer`` below: the word edit distance (substitutions,
  deletions and insertions) summed over the pairs over the number of
  reference words, jiwer's corpus WER;
* ``tf.strings.reduce_join(num_to_char(x))`` is ``"".join(num_to_char(x))``
  (``-1``, the decoded rows' padding, maps to the ``""`` token as in Keras);
* the callback reads ``self.model`` in place of the module's global
  ``model``, and keeps each epoch's WER in a list beside printing it.

Shortened for CI: 240 clips in place of 13,100, split 80/20 in place of
90/10 (so that the WER is judged on 48 clips), ``rnn_layers=2`` and
``rnn_units=32`` in place of 5 and 512, 4 filters per convolution in place of
32, 15 epochs at Adam's learning rate 5e-3 in place of 1 epoch (the example
trains ~50 for its result) at 1e-4. Measured with seeds 0, 1 and 2 (16
epochs, one thread): the validation WER stays at 1.0 for the first 5 to 7
epochs (the blank-only phase of CTC), then falls to 0.17, 0.01 and 0.00
after the 13th and to 0.00 after the 15th; the test asks for under 0.25. The tests check the WAV files and the
metadata, the spectrogram against NumPy, the WER against hand-counted edit
distances, ``CTCLoss`` against a NumPy forward algorithm (padding zeros as
labels), greedy decoding against NumPy, that training lowers the CTC loss
and that the held-out clips' WER is far below the chance WER of random
phrases, and that the saved model gives the same predictions.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import brainnet as keras
from brainnet import layers

from ._tone_speech import phrase, read_wav, sample_rate, tones, write_ljspeech

num_clips = 240


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    """An LJSpeech-1.1 folder the test writes (see _tone_speech): wavs/*.wav and metadata.csv."""
    data_path = tmp_path_factory.mktemp("LJSpeech-1.1")
    write_ljspeech(data_path, num_clips)
    return str(data_path)


# Section "Preprocessing", as written
characters = [x for x in "abcdefghijklmnopqrstuvwxyz'?! "]
char_to_num = keras.layers.StringLookup(vocabulary=characters, oov_token="")
num_to_char = keras.layers.StringLookup(vocabulary=char_to_num.get_vocabulary(), oov_token="", invert=True)

frame_length = 256
frame_step = 160
fft_length = 384


def make_encode_single_sample(wavs_path):
    def encode_single_sample(wav_file, label):
        # 1-2. Read and decode the wav file
        audio = torch.from_numpy(read_wav(wavs_path + wav_file + ".wav"))
        audio = audio.squeeze(-1)
        # 3. Change type to float
        audio = audio.float()
        # 4. Get the spectrogram: tf.signal.stft's frames, periodic Hann window, FFT of fft_length
        frames = audio.unfold(0, frame_length, frame_step)  # (frames, frame_length)
        spectrogram = torch.fft.rfft(frames * torch.hann_window(frame_length), n=fft_length)
        # 5. We only need the magnitude, which can be derived by applying abs
        spectrogram = torch.abs(spectrogram)
        spectrogram = torch.pow(spectrogram, 0.5)
        # 6. normalisation
        means = torch.mean(spectrogram, 1, keepdim=True)
        stddevs = torch.std(spectrogram, 1, keepdim=True, unbiased=False)
        spectrogram = (spectrogram - means) / (stddevs + 1e-10)
        # 7-9. Lower case, split, map the characters in label to numbers
        label = char_to_num(list(label.lower()))
        return spectrogram, label

    return encode_single_sample


def padded_batch(samples):
    """tf.data's padded_batch: each batch's spectrograms and labels padded with zeros to its longest."""
    spectrograms = torch.nn.utils.rnn.pad_sequence([s for s, _ in samples], batch_first=True)
    labels = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(y) for _, y in samples], batch_first=True)
    return spectrograms, labels


@pytest.fixture(scope="module")
def datasets(data_path):
    """Sections "Load the LJSpeech Dataset" to "Creating Dataset objects"."""
    keras.utils.set_random_seed(0)
    wavs_path = data_path + "/wavs/"
    metadata_path = data_path + "/metadata.csv"
    metadata_df = pd.read_csv(metadata_path, sep="|", header=None, quoting=3)
    metadata_df.columns = ["file_name", "transcription", "normalized_transcription"]
    metadata_df = metadata_df[["file_name", "normalized_transcription"]]
    metadata_df = metadata_df.sample(frac=1).reset_index(drop=True)
    split = int(len(metadata_df) * 0.80)
    df_train = metadata_df[:split]
    df_val = metadata_df[split:]
    encode_single_sample = make_encode_single_sample(wavs_path)
    batch_size = 32
    train_samples = [encode_single_sample(f, t) for f, t in zip(df_train["file_name"],
                                                                 df_train["normalized_transcription"])]
    val_samples = [encode_single_sample(f, t) for f, t in zip(df_val["file_name"],
                                                               df_val["normalized_transcription"])]
    train_dataset = torch.utils.data.DataLoader(train_samples, batch_size=batch_size, collate_fn=padded_batch)
    validation_dataset = torch.utils.data.DataLoader(val_samples, batch_size=batch_size, collate_fn=padded_batch)
    return {"wavs_path": wavs_path, "df_train": df_train, "df_val": df_val, "train": train_dataset,
            "validation": validation_dataset}


# Section "Model"
def CTCLoss(y_true, y_pred):
    # Compute the training-time loss value
    batch_len = y_true.shape[0]
    input_length = y_pred.shape[1]
    label_length = y_true.shape[1]

    input_length = input_length * torch.ones((batch_len, 1), dtype=torch.int64)
    label_length = label_length * torch.ones((batch_len, 1), dtype=torch.int64)

    loss = keras.backend.ctc_batch_cost(y_true, y_pred, input_length, label_length)
    return loss


def build_model(input_dim, output_dim, rnn_layers=5, rnn_units=128):
    """Model similar to DeepSpeech2 (4 filters per convolution in place of 32, Adam at 5e-3 in place of 1e-4)."""
    # Model's input
    input_spectrogram = layers.Input((None, input_dim), name="input")
    # Expand the dimension to use 2D CNN.
    x = layers.Reshape((-1, input_dim, 1), name="expand_dim")(input_spectrogram)
    # Convolution layer 1
    x = layers.Conv2D(filters=4, kernel_size=[11, 41], strides=[2, 2], padding="same", use_bias=False,
                      name="conv_1")(x)
    x = layers.BatchNormalization(name="conv_1_bn")(x)
    x = layers.ReLU(name="conv_1_relu")(x)
    # Convolution layer 2
    x = layers.Conv2D(filters=4, kernel_size=[11, 21], strides=[1, 2], padding="same", use_bias=False,
                      name="conv_2")(x)
    x = layers.BatchNormalization(name="conv_2_bn")(x)
    x = layers.ReLU(name="conv_2_relu")(x)
    # Reshape the resulted volume to feed the RNNs layers
    x = layers.Reshape((-1, x.shape[-2] * x.shape[-1]))(x)
    # RNN layers
    for i in range(1, rnn_layers + 1):
        recurrent = layers.GRU(
            units=rnn_units,
            activation="tanh",
            recurrent_activation="sigmoid",
            use_bias=True,
            return_sequences=True,
            reset_after=True,
            name=f"gru_{i}",
        )
        x = layers.Bidirectional(recurrent, name=f"bidirectional_{i}", merge_mode="concat")(x)
        if i < rnn_layers:
            x = layers.Dropout(rate=0.5)(x)
    # Dense layer
    x = layers.Dense(units=rnn_units * 2, name="dense_1")(x)
    x = layers.ReLU(name="dense_1_relu")(x)
    x = layers.Dropout(rate=0.5)(x)
    # Classification layer
    output = layers.Dense(units=output_dim + 1, activation="softmax")(x)
    # Model
    model = keras.Model(input_spectrogram, output, name="DeepSpeech_2")
    # Optimizer
    opt = keras.optimizers.Adam(learning_rate=5e-3)
    # Compile the model and return
    model.compile(optimizer=opt, loss=CTCLoss)
    return model


# Section "Training and Evaluating"
def decode_batch_predictions(pred):
    input_len = np.ones(pred.shape[0]) * pred.shape[1]
    # Use greedy search. For complex tasks, you can use beam search
    results = keras.backend.ctc_decode(pred, input_length=input_len, greedy=True)[0][0]
    # Iterate over the results and get back the text
    output_text = []
    for result in results:
        result = "".join(num_to_char(result))
        output_text.append(result)
    return output_text


def _edit_distance(reference, hypothesis):
    """Levenshtein distance between two word lists (substitutions, deletions, insertions)."""
    row = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        previous, row[0] = row[0], i
        for j, hyp_word in enumerate(hypothesis, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref_word != hyp_word))
    return row[-1]


def wer(targets, predictions):
    """jiwer.wer for lists: word edits summed over the pairs / reference words summed."""
    pairs = [(t.split(), p.split()) for t, p in zip(targets, predictions)]
    return sum(_edit_distance(t, p) for t, p in pairs) / sum(len(t) for t, _ in pairs)


class CallbackEval(keras.callbacks.Callback):
    """Displays a batch of outputs after every epoch."""

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset
        self.wer_scores = []

    def on_epoch_end(self, epoch: int, logs=None):
        predictions = []
        targets = []
        for batch in self.dataset:
            X, y = batch
            batch_predictions = self.model.predict(X, verbose=0)
            batch_predictions = decode_batch_predictions(batch_predictions)
            predictions.extend(batch_predictions)
            for label in y:
                label = "".join(num_to_char(label))
                targets.append(label)
        wer_score = wer(targets, predictions)
        self.wer_scores.append(wer_score)
        print("-" * 100)
        print(f"Word Error Rate: {wer_score:.4f}")
        print("-" * 100)
        for i in np.random.randint(0, len(predictions), 2):
            print(f"Target    : {targets[i]}")
            print(f"Prediction: {predictions[i]}")
            print("-" * 100)


@pytest.fixture(scope="module")
def trained(datasets):
    """Sections "Model" and "Training and Evaluating", shortened (see the module docstring)."""
    keras.utils.set_random_seed(0)
    model = build_model(input_dim=fft_length // 2 + 1, output_dim=char_to_num.vocabulary_size(), rnn_layers=2,
                        rnn_units=32)
    epochs = 15
    validation_callback = CallbackEval(datasets["validation"])
    history = model.fit(datasets["train"], validation_data=datasets["validation"], epochs=epochs,
                        callbacks=[validation_callback], verbose=0)
    return model, history, validation_callback


def _np_ctc_loss(labels, probs, blank):
    """−log Σ over the alignments of labels with the steps (CTC forward algorithm) of Π_t q_t, with
    q_t = (p_t + 1e-7) renormalised over the classes (TensorFlow takes log(p + ε) as logits)."""
    log_p = np.log(probs + 1e-7)
    log_p -= np.logaddexp.reduce(log_p, axis=-1, keepdims=True)
    extended = [blank]
    for label in labels:
        extended += [label, blank]
    alpha = np.full(len(extended), -np.inf)
    alpha[:2] = log_p[0, extended[:2]]
    for t in range(1, len(log_p)):
        previous = alpha.copy()
        for s, label in enumerate(extended):
            terms = [previous[s]] + ([previous[s - 1]] if s >= 1 else [])
            if s >= 2 and label != blank and label != extended[s - 2]:
                terms.append(previous[s - 2])
            alpha[s] = np.logaddexp.reduce(terms) + log_p[t, label]
    return -np.logaddexp(alpha[-1], alpha[-2])


def test_the_written_ljspeech_folder_reads_back_as_the_example_reads_it(data_path, datasets):
    """Section "Load the LJSpeech Dataset": metadata columns, the 80/20 split, 16-bit mono WAVs."""
    df_train, df_val = datasets["df_train"], datasets["df_val"]
    assert list(df_train.columns) == ["file_name", "normalized_transcription"]
    assert len(df_train) == 192 and len(df_val) == 48
    assert not set(df_train["file_name"]) & set(df_val["file_name"])
    with wave.open(str(Path(data_path) / "wavs" / (df_train["file_name"][0] + ".wav")), "rb") as f:
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate()) == (1, 2, sample_rate)
    audio = read_wav(datasets["wavs_path"] + df_train["file_name"][0] + ".wav")
    assert audio.shape[1] == 1 and audio.dtype == np.float32 and np.abs(audio).max() < 1.0
    assert set("".join(df_train["normalized_transcription"]).lower()) <= set(tones)


def test_encode_single_sample_matches_a_numpy_stft(datasets):
    """Section "Preprocessing": |STFT|^0.5 (periodic Hann, fft_length 384), normalised per frame, and the
    label's character ids, against NumPy."""
    file_name = datasets["df_val"]["file_name"].iloc[0]
    text = datasets["df_val"]["normalized_transcription"].iloc[0]
    spectrogram, label = make_encode_single_sample(datasets["wavs_path"])(file_name, text)
    audio = read_wav(datasets["wavs_path"] + file_name + ".wav")[:, 0].astype(np.float64)
    n = np.arange(frame_length)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / frame_length)  # periodic Hann, tf.signal.hann_window's default
    starts = range(0, len(audio) - frame_length + 1, frame_step)
    frames = np.stack([audio[s:s + frame_length] for s in starts])
    magnitude = np.abs(np.fft.rfft(frames * window, n=fft_length)) ** 0.5
    expected = (magnitude - magnitude.mean(1, keepdims=True)) / (magnitude.std(1, keepdims=True) + 1e-10)
    assert spectrogram.shape == (1 + (len(audio) - frame_length) // frame_step, fft_length // 2 + 1)
    np.testing.assert_allclose(spectrogram.numpy(), expected, atol=2e-4)
    assert [characters.index(c) + 1 for c in text.lower()] == label.tolist()
    assert "".join(num_to_char(label)) == text.lower()


def test_padded_batch_pads_spectrograms_and_labels_with_zeros(datasets):
    """Section "Creating Dataset objects": padded_batch's zeros, each batch to its own longest clip."""
    spectrograms, labels = next(iter(datasets["train"]))
    texts = datasets["df_train"]["normalized_transcription"][:32].str.lower().tolist()
    assert spectrograms.shape[0] == labels.shape[0] == 32 and spectrograms.shape[2] == 193
    assert labels.shape[1] == max(len(t) for t in texts)
    assert ["".join(num_to_char(row)) for row in labels] == texts
    shortest = int(np.argmin([len(t) for t in texts]))
    assert (labels[shortest, len(texts[shortest]):] == 0).all()
    frames_used = (spectrograms.abs().sum(-1) > 0).sum(1)
    assert frames_used.max() == spectrograms.shape[1] and frames_used.min() < spectrograms.shape[1]


def test_wer_counts_word_edits_over_reference_words():
    """The WER the example takes from jiwer, against edit distances counted by hand."""
    assert wer(["ten rat"], ["ten rat"]) == 0.0
    assert wer(["ten rat"], ["ten at"]) == 0.5  # one substitution in two words
    assert wer(["one"], ["one no tin"]) == 2.0  # two insertions over one word
    assert wer(["rest is ten", "no ant"], ["rest ten", "on ant at"]) == pytest.approx(3 / 5)  # del; sub + ins


def test_ctc_loss_counts_the_padding_zeros_as_labels():
    """CTCLoss: Keras 2's ctc_batch_cost (blank = the last class) over the whole padded label row, against a
    NumPy forward algorithm."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 12, 32))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    y_true = np.array([[20, 5, 14, 0, 0], [18, 1, 20, 30, 15]])  # "ten" + two padding zeros; "rat o"
    loss = CTCLoss(torch.tensor(y_true), torch.tensor(probs))
    expected = [_np_ctc_loss(list(row), p, blank=31) for row, p in zip(y_true, probs)]
    assert loss.shape == (2, 1)
    np.testing.assert_allclose(loss[:, 0].numpy(), expected, rtol=1e-6)
    without_padding = _np_ctc_loss([20, 5, 14], probs[0], blank=31)
    assert abs(expected[0] - without_padding) > 0.1


def test_greedy_decoding_matches_numpy_and_drops_the_padding_tokens():
    """decode_batch_predictions: best class per step, repeats merged, blanks (31) dropped, the "" token and
    -1 padding read as nothing."""
    steps = [20, 20, 31, 5, 0, 14, 14, 31, 31, 14, 30, 1]  # t t ␣ e "" n n ␣ ␣ n space a
    pred = np.full((1, len(steps), 32), 0.01)
    pred[0, np.arange(len(steps)), steps] = 0.9
    best = pred[0].argmax(-1)
    merged = [int(c) for i, c in enumerate(best) if i == 0 or c != best[i - 1]]
    expected = "".join(characters[c - 1] for c in merged if c not in (0, 31))
    assert decode_batch_predictions(pred) == [expected] == ["tenn a"]


def test_training_lowers_the_ctc_loss_and_the_word_error_rate(trained):
    """Section "Training and Evaluating": fit with the CallbackEval on the validation clips."""
    _, history, callback = trained
    loss = history.history["loss"]
    assert loss[-1] < loss[0] / 4
    assert history.history["val_loss"][-1] < history.history["val_loss"][0] / 4
    assert len(callback.wer_scores) == 15
    assert callback.wer_scores[-1] < callback.wer_scores[0]


def test_held_out_clips_are_read_far_better_than_chance(trained, datasets):
    """Section "Inference": the WER on the validation clips, against random phrases of the same words."""
    model = trained[0]
    predictions = []
    targets = []
    for batch in datasets["validation"]:
        X, y = batch
        batch_predictions = model.predict(X, verbose=0)
        batch_predictions = decode_batch_predictions(batch_predictions)
        predictions.extend(batch_predictions)
        for label in y:
            label = "".join(num_to_char(label))
            targets.append(label)
    wer_score = wer(targets, predictions)
    rng = np.random.default_rng(2)
    chance = np.mean([wer(targets, [phrase(rng) for _ in targets]) for _ in range(20)])
    assert chance > 0.9
    assert wer_score < 0.25, (wer_score, list(zip(targets, predictions)))
    assert wer_score == trained[2].wer_scores[-1]  # the callback's last epoch measured the same


def test_the_saved_model_gives_the_same_predictions(trained, datasets, tmp_path):
    """model.save and load_model (CTCLoss given as a custom object) predict the same."""
    model = trained[0]
    X, _ = next(iter(datasets["validation"]))
    model.save(tmp_path / "deepspeech_2.keras")
    restored = keras.models.load_model(tmp_path / "deepspeech_2.keras", custom_objects={"CTCLoss": CTCLoss})
    np.testing.assert_allclose(restored.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6)
    assert decode_batch_predictions(restored.predict(X, verbose=0)) == decode_batch_predictions(
        model.predict(X, verbose=0))
