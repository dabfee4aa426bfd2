"""keras.io example "Timeseries forecasting for weather prediction"
(https://keras.io/examples/timeseries/timeseries_weather_forecasting/),
ported as a learner would: ``import brainnet as keras`` in place of
``from tensorflow import keras``, the rest as written. The stored copy is
the tf.keras version; as in the Keras 3 version, the windows come from
``keras.utils.timeseries_dataset_from_array`` and the checkpoint is named
``model_checkpoint.weights.h5``. ``dataset.take(n)`` is
``itertools.islice(dataset, n)`` (the builder returns a PyTorch
``DataLoader``, docs/keras.md).

The Jena climate recordings (a zipped CSV downloaded from Google's storage)
are replaced by a synthetic multivariate series the test writes in their
format: a zipped ``jena_climate_2009_2016.csv`` with the "Date Time" column
and the 14 feature columns, a row every 10 minutes. The temperature has a
daily cycle and a slow, mean-reverting weather term; pressure, the vapour
pressures, humidity and air density follow from it and from their own
noise as they do physically, the winds are noise. The zip is put in the
cache folder ``keras.utils.get_file`` reads (``cache_dir=`` added to the
call), so ``get_file`` returns it without a download, and the example's
``ZipFile(...).extractall()`` and ``pd.read_csv`` run as written.
Shortened for CI: 50 days (7,200 rows) in place of 8 years; the 10 epochs,
``past``, ``future``, ``step``, the batch size and the LSTM(32)
are the example's. The plots are left out (the data ``show_plot`` is given
is checked).

Each test names the section it runs and checks what it computes: the
normalization with the training rows' mean and standard deviation, the
windows and targets of the training and validation datasets against a NumPy
loop (each window every 6th row of 720 past rows, its target the temperature
``past + future`` rows after its first row), the model's summary, and
training: the loss falls, the validation loss ends below a constant
prediction's, the weights the checkpoint kept give the best validation loss
of the history, and ``model.predict(x)`` on a validation batch agrees with
calling the model on the batch's float64 windows (the normalized series is
float64; the float32 model takes them as float32, as Keras 3 does).
"""

from __future__ import annotations

import itertools
import os
import zipfile
from zipfile import ZipFile

import numpy as np
import pandas as pd
import pytest

import brainnet as keras

ROWS = 144 * 50  # 50 days of a row every 10 minutes

titles = [
    "Pressure",
    "Temperature",
    "Temperature in Kelvin",
    "Temperature (dew point)",
    "Relative Humidity",
    "Saturation vapor pressure",
    "Vapor pressure",
    "Vapor pressure deficit",
    "Specific humidity",
    "Water vapor concentration",
    "Airtight",
    "Wind speed",
    "Maximum wind speed",
    "Wind direction in degrees",
]

feature_keys = [
    "p (mbar)",
    "T (degC)",
    "Tpot (K)",
    "Tdew (degC)",
    "rh (%)",
    "VPmax (mbar)",
    "VPact (mbar)",
    "VPdef (mbar)",
    "sh (g/kg)",
    "H2OC (mmol/mol)",
    "rho (g/m**3)",
    "wv (m/s)",
    "max. wv (m/s)",
    "wd (deg)",
]

date_time_key = "Date Time"

split_fraction = 0.715
step = 6

past = 720
future = 72
learning_rate = 0.001
batch_size = 256
epochs = 10


def _mean_reverting(rng, n, scale, keep=0.999):
    """An AR(1) series: w_t = keep · w_{t-1} + scale · sqrt(1 - keep²) · ε_t."""
    noise = rng.normal(0, scale * np.sqrt(1 - keep**2), n)
    w = np.zeros(n)
    for t in range(1, n):
        w[t] = keep * w[t - 1] + noise[t]
    return w


def _synthetic_jena(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    T = 8 + 6 * np.sin(2 * np.pi * (t / 144 - 0.375)) + _mean_reverting(rng, rows, 4) + rng.normal(0, 0.3, rows)
    p = 990 + _mean_reverting(rng, rows, 6) - 0.2 * (T - 8)
    Tdew = T - 4 - np.abs(_mean_reverting(rng, rows, 3)) - rng.normal(0, 0.2, rows) ** 2
    VPmax = 6.1078 * np.exp(17.27 * T / (T + 237.3))  # Magnus's formula, mbar
    VPact = 6.1078 * np.exp(17.27 * Tdew / (Tdew + 237.3))
    wv = rng.gamma(2.0, 1.0, rows)
    frame = {
        "p (mbar)": p, "T (degC)": T, "Tpot (K)": T + 273.15 + (1000 - p) * 0.08,
        "Tdew (degC)": Tdew, "rh (%)": 100 * VPact / VPmax, "VPmax (mbar)": VPmax, "VPact (mbar)": VPact,
        "VPdef (mbar)": VPmax - VPact, "sh (g/kg)": 622 * VPact / p, "H2OC (mmol/mol)": 1000 * VPact / p,
        "rho (g/m**3)": 100 * p / (287.05 * (T + 273.15)) * 1000, "wv (m/s)": wv,
        "max. wv (m/s)": wv * rng.uniform(1.2, 2.0, rows), "wd (deg)": rng.uniform(0, 360, rows),
    }
    stamps = pd.date_range("2009-01-01 00:10:00", periods=rows, freq="10min").strftime("%d.%m.%Y %H:%M:%S")
    return pd.DataFrame({date_time_key: stamps, **{k: np.round(v, 2) for k, v in frame.items()}})


def normalize(data, train_split):
    data_mean = data[:train_split].mean(axis=0)
    data_std = data[:train_split].std(axis=0)
    return (data - data_mean) / data_std


@pytest.fixture(scope="module")
def df(tmp_path_factory):
    """Section "Climate Data Time-Series": get_file, the zip and read_csv."""
    home = tmp_path_factory.mktemp("weather")
    cache = home / "cache"
    (cache / "datasets").mkdir(parents=True)
    with zipfile.ZipFile(cache / "datasets" / "jena_climate_2009_2016.csv.zip", "w") as archive:
        archive.writestr("jena_climate_2009_2016.csv", _synthetic_jena(ROWS, seed=7).to_csv(index=False))
    here = os.getcwd()
    os.chdir(home)
    try:
        uri = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/jena_climate_2009_2016.csv.zip"
        zip_path = keras.utils.get_file(origin=uri, fname="jena_climate_2009_2016.csv.zip", cache_dir=cache)
        zip_file = ZipFile(zip_path)
        zip_file.extractall()
        csv_path = "jena_climate_2009_2016.csv"

        df = pd.read_csv(csv_path)
    finally:
        os.chdir(here)
    return df


@pytest.fixture(scope="module")
def prepared(df):
    """Section "Data Preprocessing", "Training dataset" and "Validation dataset", as written."""
    train_split = int(split_fraction * int(df.shape[0]))
    selected_features = [feature_keys[i] for i in [0, 1, 5, 7, 8, 10, 11]]
    features = df[selected_features]
    features.index = df[date_time_key]
    raw = features.values.copy()

    features = normalize(features.values, train_split)
    features = pd.DataFrame(features)

    train_data = features.loc[0 : train_split - 1]
    val_data = features.loc[train_split:]

    start = past + future
    end = start + train_split

    x_train = train_data[[i for i in range(7)]].values
    y_train = features.iloc[start:end][[1]]

    sequence_length = int(past / step)

    dataset_train = keras.utils.timeseries_dataset_from_array(
        x_train,
        y_train,
        sequence_length=sequence_length,
        sampling_rate=step,
        batch_size=batch_size,
    )

    x_end = len(val_data) - past - future

    label_start = train_split + past + future

    x_val = val_data.iloc[:x_end][[i for i in range(7)]].values
    y_val = features.iloc[label_start:][[1]]

    dataset_val = keras.utils.timeseries_dataset_from_array(
        x_val,
        y_val,
        sequence_length=sequence_length,
        sampling_rate=step,
        batch_size=batch_size,
    )
    return dict(train_split=train_split, raw=raw, features=features.values, dataset_train=dataset_train,
                dataset_val=dataset_val, x_end=x_end)


def _windows_and_targets(dataset):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(xs), np.concatenate(ys)


def _naive_windows(features, first_row, last_data_row, first_target_row, n_targets):
    """The windows the example means, by a loop: window i takes every `step`-th of the
    `past` rows from first_row + i; its target is the temperature `past + future` rows after it."""
    xs, ys = [], []
    i = 0
    while first_row + i + (past // step - 1) * step < last_data_row and i < n_targets:
        xs.append(features[first_row + i: first_row + i + past: step])
        ys.append(features[first_target_row + i, 1:2])
        i += 1
    return np.stack(xs), np.stack(ys)


def _build_model(inputs):
    inputs = keras.layers.Input(shape=(inputs.shape[1], inputs.shape[2]))
    lstm_out = keras.layers.LSTM(32)(inputs)
    outputs = keras.layers.Dense(1)(lstm_out)

    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    return model


def test_the_csv_has_jenas_columns_and_the_features_are_normalized_on_the_training_rows(df, prepared):
    """Sections "Climate Data Time-Series" and "Data Preprocessing"."""
    assert list(df.columns) == [date_time_key] + feature_keys and len(df) == ROWS
    assert df[date_time_key][1] == "01.01.2009 00:20:00"  # Jena's format, every 10 minutes
    train_split, raw, features = prepared["train_split"], prepared["raw"], prepared["features"]
    assert train_split == int(0.715 * ROWS)
    mean, std = raw[:train_split].mean(axis=0), raw[:train_split].std(axis=0)  # NumPy's std: ddof=0
    np.testing.assert_allclose(features, (raw - mean) / std, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(features[:train_split].mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(features[:train_split].std(axis=0), 1, rtol=1e-9)


def test_the_windows_and_targets_are_the_ones_the_example_describes(prepared):
    """Sections "Training dataset" and "Validation dataset": every window against a loop in NumPy."""
    features, train_split = prepared["features"], prepared["train_split"]
    for batch in itertools.islice(prepared["dataset_train"], 1):
        inputs, targets = batch
    assert inputs.numpy().shape == (batch_size, 120, 7)
    assert targets.numpy().shape == (batch_size, 1)

    x, y = _windows_and_targets(prepared["dataset_train"])
    want_x, want_y = _naive_windows(features, 0, train_split, past + future, train_split)
    assert len(x) == train_split - (120 - 1) * step  # every window that ends inside the training rows
    np.testing.assert_allclose(x, want_x, rtol=1e-12)
    np.testing.assert_allclose(y, want_y, rtol=1e-12)

    x, y = _windows_and_targets(prepared["dataset_val"])
    x_end = prepared["x_end"]
    want_x, want_y = _naive_windows(features, train_split, train_split + x_end, train_split + past + future,
                                    len(features) - train_split - past - future)
    assert len(x) == x_end - (120 - 1) * step
    np.testing.assert_allclose(x, want_x, rtol=1e-12)
    np.testing.assert_allclose(y, want_y, rtol=1e-12)


def test_the_lstm_model_has_the_examples_shapes_and_parameters(prepared):
    """Section "Training": ``model.summary()``."""
    inputs, _ = next(iter(prepared["dataset_train"]))
    model = _build_model(inputs)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert text.index("(None, 120, 7)") < text.index("(None, 32)") < text.index("(None, 1)")
    lstm = 4 * ((7 + 32) * 32 + 32)  # four gates: input and recurrent kernels, bias
    assert model.count_params() == lstm + 32 + 1 == 5_153
    assert "Total params: 5,153" in lines


def test_training_forecasts_better_than_a_constant_and_the_checkpoint_keeps_the_best_weights(prepared, tmp_path,
                                                                                          monkeypatch):
    """Section "Training" and "Prediction"."""
    monkeypatch.chdir(tmp_path)
    dataset_train, dataset_val = prepared["dataset_train"], prepared["dataset_val"]
    keras.utils.set_random_seed(1337)
    inputs, _ = next(iter(dataset_train))
    model = _build_model(inputs)

    path_checkpoint = "model_checkpoint.weights.h5"
    es_callback = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=5)

    modelckpt_callback = keras.callbacks.ModelCheckpoint(
        monitor="val_loss",
        filepath=path_checkpoint,
        verbose=1,
        save_weights_only=True,
        save_best_only=True,
    )

    history = model.fit(
        dataset_train,
        epochs=epochs,
        validation_data=dataset_val,
        callbacks=[es_callback, modelckpt_callback],
        verbose=0,
    )
    loss, val_loss = history.history["loss"], history.history["val_loss"]
    assert len(loss) == epochs and loss[-1] < loss[0]
    # a constant forecast (the validation targets' own mean) scores their variance; 10 short epochs
    # (180 steps) take the LSTM to about half of it
    _, y_val = _windows_and_targets(dataset_val)
    assert val_loss[-1] < 0.75 * np.var(y_val)

    # the checkpoint holds the weights of the epoch with the least validation loss
    best = _build_model(inputs)
    best.load_weights(path_checkpoint)
    assert best.evaluate(dataset_val, verbose=0) == pytest.approx(min(val_loss), rel=1e-4)

    # "Prediction": the data show_plot is given for 5 validation batches
    for x, y in itertools.islice(dataset_val, 5):
        plot_data = [x[0][:, 1].numpy(), y[0].numpy(), model.predict(x)[0]]
        assert plot_data[0].shape == (120,) and plot_data[1].shape == (1,) and plot_data[2].shape == (1,)
        np.testing.assert_allclose(plot_data[2], model(x[:1]).detach().numpy()[0], rtol=1e-5, atol=1e-6)
