"""keras.io example "Timeseries anomaly detection using an Autoencoder"
(https://keras.io/examples/timeseries/timeseries_anomaly_detection/),
ported as a learner would: ``import brainnet as keras`` and
``from brainnet import layers`` in place of the TensorFlow imports, the rest
as written (the stored copy is the tf.keras version; its code is Keras 3's
but for the imports).

The Numenta Anomaly Benchmark's files (downloaded from GitHub) are replaced
by two CSV files the test writes in their format (``timestamp,value``, a
value every 5 minutes for 14 days): ``art_daily_small_noise.csv`` a daily
pattern (low at night, a smooth hump by day) with small noise, and
``art_daily_jumpsup.csv`` the same pattern with an injected anomaly, the
values of one afternoon on day 11 jumped up. The example reads them with
``pd.read_csv`` as written. Shortened for CI: 8 epochs in place of 50 (the
early stop kept); the 288-step windows and the network are the example's.
The plots are left out.

Each test names the section it runs and checks what it computes:
``create_sequences`` against NumPy's ``sliding_window_view`` (and against
``keras.utils.timeseries_dataset_from_array``), the autoencoder's summary,
that training lowers the reconstruction loss, the example's MAE per window
against ``keras.losses.mean_absolute_error`` and its threshold the largest
of them, and the anomalous data indices, the example's loop checked against
a vectorized NumPy version, lying inside the injected jump and covering most
of it, while a fresh normal series gives none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import brainnet as keras
from brainnet import layers

TIME_STEPS = 288
JUMP = slice(11 * 288 + 150, 11 * 288 + 210)  # the injected anomaly: an afternoon of day 11


def _daily_series(seed: int, jump: bool) -> pd.DataFrame:
    """14 days of a value every 5 minutes, NAB's artificial daily pattern."""
    rng = np.random.default_rng(seed)
    t = np.arange(288 * 14)
    day = (t % 288) / 288
    value = 20 + 60 * np.clip(np.sin(2 * np.pi * (day - 0.25)), 0, None) ** 0.5 + rng.normal(0, 2, len(t))
    if jump:
        value[JUMP] += 70
    stamps = pd.date_range("2014-04-01", periods=len(t), freq="5min")
    return pd.DataFrame({"timestamp": stamps, "value": value})


# Generated training sequences for use in the model.
def create_sequences(values, time_steps=TIME_STEPS):
    output = []
    for i in range(len(values) - time_steps + 1):
        output.append(values[i : (i + time_steps)])
    return np.stack(output)


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """Section "Load the data", as written, on files written by the test."""
    folder = tmp_path_factory.mktemp("NAB")
    _daily_series(1, jump=False).to_csv(folder / "art_daily_small_noise.csv", index=False)
    _daily_series(2, jump=True).to_csv(folder / "art_daily_jumpsup.csv", index=False)
    df_small_noise = pd.read_csv(
        folder / "art_daily_small_noise.csv", parse_dates=True, index_col="timestamp"
    )
    df_daily_jumpsup = pd.read_csv(
        folder / "art_daily_jumpsup.csv", parse_dates=True, index_col="timestamp"
    )
    return df_small_noise, df_daily_jumpsup


@pytest.fixture(scope="module")
def prepared(frames):
    """Section "Prepare training data"."""
    df_small_noise, _ = frames
    training_mean = df_small_noise.mean()
    training_std = df_small_noise.std()
    df_training_value = (df_small_noise - training_mean) / training_std
    x_train = create_sequences(df_training_value.values)
    return training_mean, training_std, df_training_value, x_train


def _build_model(x_train):
    model = keras.Sequential(
        [
            layers.Input(shape=(x_train.shape[1], x_train.shape[2])),
            layers.Conv1D(
                filters=32, kernel_size=7, padding="same", strides=2, activation="relu"
            ),
            layers.Dropout(rate=0.2),
            layers.Conv1D(
                filters=16, kernel_size=7, padding="same", strides=2, activation="relu"
            ),
            layers.Conv1DTranspose(
                filters=16, kernel_size=7, padding="same", strides=2, activation="relu"
            ),
            layers.Dropout(rate=0.2),
            layers.Conv1DTranspose(
                filters=32, kernel_size=7, padding="same", strides=2, activation="relu"
            ),
            layers.Conv1DTranspose(filters=1, kernel_size=7, padding="same"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mse")
    return model


@pytest.fixture(scope="module")
def trained(prepared):
    """Section "Train the model" (8 epochs)."""
    x_train = prepared[3]
    keras.utils.set_random_seed(1337)
    model = _build_model(x_train)
    history = model.fit(
        x_train,
        x_train,
        epochs=8,
        batch_size=128,
        validation_split=0.1,
        callbacks=[
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, mode="min")
        ],
        verbose=0,
    )
    return model, history


def _anomalous_data_indices(anomalies, n):
    # data i is an anomaly if samples [(i - timesteps + 1) to (i)] are anomalies
    anomalous_data_indices = []
    for data_idx in range(TIME_STEPS - 1, n - TIME_STEPS + 1):
        if np.all(anomalies[data_idx - TIME_STEPS + 1 : data_idx]):
            anomalous_data_indices.append(data_idx)
    return anomalous_data_indices


def test_the_training_windows_are_every_288_step_slice_of_the_normalized_series(frames, prepared):
    """Sections "Prepare training data" and "Create sequences"."""
    df_small_noise, _ = frames
    training_mean, training_std, df_training_value, x_train = prepared
    assert df_small_noise.shape == (4032, 1) and df_small_noise.index.dtype.kind == "M"  # timestamps
    values = df_small_noise["value"].to_numpy()
    np.testing.assert_allclose(df_training_value["value"], (values - values.mean()) / values.std(ddof=1))
    assert x_train.shape == (4032 - 288 + 1, 288, 1)
    windows = np.lib.stride_tricks.sliding_window_view(df_training_value.values[:, 0], TIME_STEPS)
    np.testing.assert_array_equal(x_train[..., 0], windows)
    # the same windows as keras.utils.timeseries_dataset_from_array cuts
    loader = keras.utils.timeseries_dataset_from_array(
        df_training_value.values, None, sequence_length=TIME_STEPS, batch_size=1000)
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in loader]), x_train)


def test_the_autoencoder_has_the_examples_shapes_and_parameters(prepared):
    """Section "Build a model": ``model.summary()``."""
    model = _build_model(prepared[3])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    shapes = ["(None, 144, 32)", "(None, 72, 16)", "(None, 144, 16)", "(None, 288, 32)", "(None, 288, 1)"]
    positions = [text.index(shape) for shape in shapes]
    assert positions == sorted(positions)
    counts = [7 * 1 * 32 + 32, 7 * 32 * 16 + 16, 7 * 16 * 16 + 16, 7 * 16 * 32 + 32, 7 * 32 * 1 + 1]
    assert model.count_params() == sum(counts) == 9_505
    assert "Total params: 9,505" in lines


def test_training_lowers_the_reconstruction_loss(trained):
    """Section "Train the model"."""
    _, history = trained
    loss, val_loss = history.history["loss"], history.history["val_loss"]
    assert len(loss) == 8  # the early stop's patience of 5 not reached
    assert loss[-1] < 0.5 * loss[0]
    assert val_loss[-1] < val_loss[0]


def test_the_threshold_is_the_largest_training_mae_and_flags_the_injected_jump(frames, prepared, trained):
    """Sections "Detecting anomalies", "Prepare test data" and "Plot anomalies"."""
    df_small_noise, df_daily_jumpsup = frames
    training_mean, training_std, _, x_train = prepared
    model, _ = trained

    # Get train MAE loss.
    x_train_pred = model.predict(x_train)
    train_mae_loss = np.mean(np.abs(x_train_pred - x_train), axis=1)
    # Get reconstruction loss threshold.
    threshold = np.max(train_mae_loss)
    assert train_mae_loss.shape == (len(x_train), 1)
    # the MAE per window is Keras's mean_absolute_error averaged over the window's steps
    mae = keras.losses.mean_absolute_error(x_train, x_train_pred)
    np.testing.assert_allclose(np.asarray(mae).mean(axis=1), train_mae_loss[:, 0], rtol=1e-5)

    df_test_value = (df_daily_jumpsup - training_mean) / training_std
    # Create sequences from test values.
    x_test = create_sequences(df_test_value.values)
    # Get test MAE loss.
    x_test_pred = model.predict(x_test)
    test_mae_loss = np.mean(np.abs(x_test_pred - x_test), axis=1)
    test_mae_loss = test_mae_loss.reshape((-1))
    # Detect all the samples which are anomalies.
    anomalies = test_mae_loss > threshold
    assert anomalies.shape == (len(x_test),) and 0 < np.sum(anomalies) < len(x_test) // 2

    anomalous_data_indices = _anomalous_data_indices(anomalies, len(df_test_value))
    # the loop in NumPy: point i needs the TIME_STEPS - 1 windows starting at i - 287 .. i - 1 all flagged
    runs = np.concatenate([[0], np.cumsum(anomalies)])
    starts = np.arange(TIME_STEPS - 1, len(df_test_value) - TIME_STEPS + 1)
    flagged = runs[starts] - runs[starts - TIME_STEPS + 1] == TIME_STEPS - 1
    assert anomalous_data_indices == list(starts[flagged])

    # the flagged points lie in the injected jump and cover most of it; the loop's slice leaves out the
    # window that starts at i, so the first point after the jump can be flagged too
    jump = set(range(JUMP.start, JUMP.stop))
    assert anomalous_data_indices and set(anomalous_data_indices) <= jump | {JUMP.stop}
    assert len(anomalous_data_indices) > 0.5 * len(jump)
    df_subset = df_daily_jumpsup.iloc[anomalous_data_indices]
    assert (df_subset["value"] > df_small_noise["value"].max()).mean() > 0.9  # the jumped-up values

    # a fresh series without a jump: no window's error passes the threshold
    fresh = (_daily_series(3, jump=False).set_index("timestamp") - training_mean) / training_std
    x_fresh = create_sequences(fresh.values)
    fresh_mae = np.mean(np.abs(model.predict(x_fresh, verbose=0) - x_fresh), axis=1).reshape(-1)
    assert _anomalous_data_indices(fresh_mae > threshold, len(fresh)) == []
