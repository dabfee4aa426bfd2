"""``model.load_weights`` of a whole-model archive, as Keras 3 reads the
weights of a ``.keras`` file: the 3D image classification example keeps its
best model with ``ModelCheckpoint("3d_image_classification.keras",
save_best_only=True)`` and loads it back with ``model.load_weights``."""

import numpy as np
import pytest

import brainnet as keras
from brainnet import layers


def _model():
    inputs = keras.Input((6, 6, 4, 1))
    x = layers.Conv3D(2, 3, activation="relu")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.GlobalAveragePooling3D()(x)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))


def test_the_weights_of_a_checkpoint_archive_load_into_the_same_architecture(tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(16, 6, 6, 4, 1)).astype("float32"), rng.integers(0, 2, size=16)
    model = _model()
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["acc"])
    path = tmp_path / "best.keras"
    model.fit(x, y, batch_size=4, epochs=2, validation_data=(x, y), verbose=0,
              callbacks=[keras.callbacks.ModelCheckpoint(str(path), save_best_only=True)])
    saved = keras.models.load_model(path)  # the checkpoint, as load_model reads it
    keras.utils.set_random_seed(1)
    fresh = _model()
    assert np.abs(fresh.predict(x, verbose=0) - saved.predict(x, verbose=0)).max() > 1e-4
    fresh.load_weights(path)
    np.testing.assert_allclose(fresh.predict(x, verbose=0), saved.predict(x, verbose=0), rtol=1e-6, atol=1e-7)
    bn = [layer for layer in fresh.layers if isinstance(layer, layers.BatchNormalization)][0]
    saved_bn = [layer for layer in saved.layers if isinstance(layer, layers.BatchNormalization)][0]
    np.testing.assert_array_equal(bn.moving_mean.numpy(), saved_bn.moving_mean.numpy())  # statistics too


def test_an_archive_of_another_kind_is_refused_by_name(tmp_path):
    model = _model()
    other = tmp_path / "other.zip"
    import zipfile

    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("readme.txt", "hi")
    with pytest.raises(ValueError, match=r"load_weights: .*other\.zip holds unexpected entries"):
        model.load_weights(other)
