"""keras.io example "Timeseries classification with a Transformer model"
(https://keras.io/examples/timeseries/timeseries_classification_transformer/),
ported as a learner would: ``import brainnet as keras`` and
``from brainnet import layers`` in place of the TensorFlow imports, the rest
as written (the stored copy, as keras.io shows it today, pools with
``GlobalAveragePooling1D(data_format="channels_last")``).

FordA is replaced, as in the "from scratch" port, by the NumPy series set of
``_forda_like.py`` (noisy sines against noisy square waves, z-normalized,
written as FordA's TSV files): 800 training and 400 test series of 176
steps.

The stored example cannot learn, in Keras as here (keras-team/keras-io
issues 1908 and 2395, keras-team/keras 20627): FordA has one feature, and
``LayerNormalization`` over an axis of one value returns its β, so every
encoder block is ``x + β₁ + β₂``; the channels-last pooling then averages
the time steps of the one feature, ``(None, 1)``, and a z-normalized series
averages to 0: every series gets the same prediction. The tests check that
in NumPy rather than train for it. The example's earlier code (and the keras-io
pull request 2006 that restores it) pools with
``data_format="channels_first"``, averaging the one feature and keeping the
176 steps; brainnet refuses channels first with the fix,
``layers.Permute((2, 1))`` before the pooling (``build_model`` takes the
pooling as an argument for that test; by default the example's).

Not run: the training. The stored model cannot learn, as said; the
channels-first model is then an MLP on the raw steps (the encoder adds
constants), which on these series of random phase stayed at chance after 8
epochs (about a minute here), so the port checks the model's
computation instead of training it.

Each test names the section it runs and checks what it computes: the
parameter count of the example's full-size model (head_size 256, 4 heads,
4 blocks) by formula and in its summary, the pooled encoder output of a
smaller one against NumPy (``mean_t(x) + Σβ``, with random γ and β) and its
one prediction for every test series, and the refusal of channels first with
its fix.
"""

from __future__ import annotations

import numpy as np
import pytest

import brainnet as keras
from brainnet import layers

from . import _forda_like as forda_like

n_classes = 2  # len(np.unique(y_train)), checked in the data fixture


def readucr(filename):
    data = np.loadtxt(filename, delimiter="\t")
    y = data[:, 0]
    x = data[:, 1:]
    return x, y.astype(int)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Section "Load the dataset", as written, on the TSV files of ``_forda_like``."""
    folder = tmp_path_factory.mktemp("FordA")
    forda_like.write_tsv(folder)
    x_train, y_train = readucr(str(folder / "FordA_TRAIN.tsv"))
    x_test, y_test = readucr(str(folder / "FordA_TEST.tsv"))

    x_train = x_train.reshape((x_train.shape[0], x_train.shape[1], 1))
    x_test = x_test.reshape((x_test.shape[0], x_test.shape[1], 1))

    assert len(np.unique(y_train)) == n_classes

    np.random.seed(1337)
    idx = np.random.permutation(len(x_train))
    x_train = x_train[idx]
    y_train = y_train[idx]

    y_train[y_train == -1] = 0
    y_test[y_test == -1] = 0
    return x_train, y_train, x_test, y_test


def transformer_encoder(inputs, head_size, num_heads, ff_dim, dropout=0):
    # Attention and Normalization
    x = layers.MultiHeadAttention(
        key_dim=head_size, num_heads=num_heads, dropout=dropout
    )(inputs, inputs)
    x = layers.Dropout(dropout)(x)
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    res = x + inputs

    # Feed Forward Part
    x = layers.Conv1D(filters=ff_dim, kernel_size=1, activation="relu")(res)
    x = layers.Dropout(dropout)(x)
    x = layers.Conv1D(filters=inputs.shape[-1], kernel_size=1)(x)
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    return x + res


def build_model(
    input_shape,
    head_size,
    num_heads,
    ff_dim,
    num_transformer_blocks,
    mlp_units,
    dropout=0,
    mlp_dropout=0,
    pooling=lambda: layers.GlobalAveragePooling1D(data_format="channels_last"),
):
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for _ in range(num_transformer_blocks):
        x = transformer_encoder(x, head_size, num_heads, ff_dim, dropout)

    x = pooling()(x)
    for dim in mlp_units:
        x = layers.Dense(dim, activation="relu")(x)
        x = layers.Dropout(mlp_dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def test_the_full_size_model_has_the_parameters_its_layers_make(data):
    """Section "Train and evaluate": the example's model and ``model.summary()``."""
    x_train = data[0]
    input_shape = x_train.shape[1:]

    model = build_model(
        input_shape,
        head_size=256,
        num_heads=4,
        ff_dim=4,
        num_transformer_blocks=4,
        mlp_units=[128],
        mlp_dropout=0.4,
        dropout=0.25,
    )
    lines = []
    model.summary(print_fn=lines.append)
    features, heads, size, ff = 1, 4, 256, 4
    attention = 3 * (features * heads * size + heads * size) + heads * size * features + features
    block = attention + 2 + (features * ff + ff) + (ff * features + features) + 2  # 2 LayerNorms: γ, β
    head = (features * 128 + 128) + (128 * n_classes + n_classes)  # the pooled (None, 1) into Dense(128)
    assert model.count_params() == 4 * block + head == 29_258
    assert f"Total params: {4 * block + head:,}" in lines
    assert "(None, 1)" in "\n".join(lines)  # the channels-last pooling of one feature


def test_with_one_feature_each_block_adds_its_betas_and_every_series_gets_one_prediction(data):
    """The stored model, in NumPy: LayerNormalization of one value is β, so a block is
    x + β₁ + β₂, the pooling mean_t(x) + Σβ, and a z-normalized series' mean is 0."""
    x_train, _, x_test, _ = data
    keras.utils.set_random_seed(3)
    model = build_model(x_train.shape[1:], head_size=8, num_heads=2, ff_dim=4, num_transformer_blocks=2,
                        mlp_units=[16])
    rng = np.random.default_rng(0)
    betas = 0.0
    for layer in model.layers:
        if isinstance(layer, layers.LayerNormalization):
            gamma, beta = rng.normal(size=(1,)), rng.normal(size=(1,))
            layer.set_weights([gamma.astype("float32"), beta.astype("float32")])
            betas = betas + beta.astype("float32")[0]
    pooling = next(layer for layer in model.layers if isinstance(layer, layers.GlobalAveragePooling1D))
    shifted = x_test[:64] + rng.normal(0, 2, size=(64, 1, 1))  # series of other means, to tell them apart
    pooled = keras.Model(model.inputs, pooling.output).predict(shifted, verbose=0)
    np.testing.assert_allclose(pooled[:, 0], shifted.mean(axis=(1, 2)) + betas, rtol=1e-4, atol=1e-4)
    p = model.predict(x_test, verbose=0)
    np.testing.assert_allclose(p, np.broadcast_to(p[0], p.shape), atol=1e-4)  # one prediction for all


def test_channels_first_is_refused_with_the_permute_that_fixes_it(data):
    """The example's earlier pooling, ``data_format="channels_first"`` (Keras: average the
    one feature, keep the steps): brainnet is channels last and says what to write."""
    with pytest.raises(ValueError, match=r"got 'channels_first'. Fix: .*layers.Permute\(\(2, 1\)\)"):
        build_model(data[0].shape[1:], head_size=8, num_heads=2, ff_dim=4, num_transformer_blocks=1,
                    mlp_units=[16], pooling=lambda: layers.GlobalAveragePooling1D(data_format="channels_first"))
