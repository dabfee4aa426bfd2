"""keras.io example "Reproducibility in Keras Models"
(https://keras.io/examples/keras_recipes/reproducibility_recipes/), ported
as a learner would: ``import brainnet as keras``, ``from brainnet import
layers, initializers`` in place of the Keras imports;
``tf.config.experimental.enable_op_determinism()`` becomes PyTorch's
``torch.use_deterministic_algorithms(True)`` (a fixture turns it back off
after each test, so that it does not leak into the rest of the suite), and
the ``tf.data`` pipeline (``shuffle`` over the whole set, ``batch(64)``,
``map(prepare_dataset)``) becomes NumPy arrays prepared once (scaled, a
channel axis, ``layers.Resizing(32, 32)`` for ``tf.image.resize``) and
``fit(..., batch_size=64)``, whose ``shuffle=True`` permutes the whole set
each epoch from the seeded generator. ``keras.utils.set_random_seed`` seeds
Python's, NumPy's and PyTorch's generators, as Keras 3's does with the torch
backend.

Shortened for CI: 4,000 MNIST training and 500 test digits in place of
60,000 and 10,000 (the example's 2 epochs and its model are kept). The
example's "restart the kernel, train again, compare with history.json" runs
as a second Python process that trains the same way and writes the JSON.
Each test names the section it runs and checks: seeded initializers repeat
and unseeded ones differ but repeat after the seed is set again; two seeded
trainings give bit-identical weights and History, in one process and across
a restart, and another seed gives other ones; the model beats chance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import initializers, layers

REPO = Path(__file__).resolve().parents[2]

initializers_list = [
    initializers.RandomNormal,
    initializers.RandomUniform,
    initializers.TruncatedNormal,
    initializers.VarianceScaling,
    initializers.GlorotNormal,
    initializers.GlorotUniform,
    initializers.HeNormal,
    initializers.HeUniform,
    initializers.LecunNormal,
    initializers.LecunUniform,
    initializers.Orthogonal,
]


def train_model(train_data, test_data) -> dict:
    model = keras.Sequential(
        [
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Dropout(0.2),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Dropout(0.2),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(64, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ]
    )

    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=False,
    )
    # the tf.data pipeline's batches of 64, shuffled over the whole set: fit's shuffle=True
    history = model.fit(*train_data, batch_size=64, epochs=2, validation_data=test_data, verbose=0)
    model.test_accuracy = model.evaluate(*test_data, verbose=0)[1]
    model.final_history = history.history
    return model


def prepare_dataset(image, label):
    # Cast and normalize the image
    image = image.astype("float32") / 255.0
    # Expand the channel dimension
    image = np.expand_dims(image, axis=-1)
    # Resize the image
    image = layers.Resizing(32, 32)(torch.from_numpy(image)).numpy()
    return image, label


def load_data(mnist_dir):
    (train_images, train_labels), (test_images, test_labels) = keras.datasets.mnist.load_data(path=mnist_dir)
    train_data = prepare_dataset(train_images[:4000], train_labels[:4000])
    test_data = prepare_dataset(test_images[:500], test_labels[:500])
    return train_data, test_data


def seeded_run(seed, train_data, test_data):
    """The example's program from its top: set the seed, enable op determinism, train."""
    keras.utils.set_random_seed(seed)
    torch.use_deterministic_algorithms(True)
    return train_model(train_data, test_data)


@pytest.fixture
def deterministic_mode_restored():
    was = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(was)


@pytest.fixture(scope="module")
def data(mnist_dir):
    """Section "Reproducibility in model training process": the data, prepared once."""
    return load_data(mnist_dir)


@pytest.fixture(scope="module")
def first(data):
    """The first run of the notebook: seed 812 (op determinism turned off again after it)."""
    was = torch.are_deterministic_algorithms_enabled()
    model = seeded_run(812, *data)
    assert torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(was)
    return model


def test_an_initializer_with_a_seed_gives_the_same_values_every_call():
    """Section "Weight initialization in Keras": each initializer called twice with seed=42."""
    keras.utils.set_random_seed(812)
    for initializer in initializers_list:
        results = [float(initializer(seed=42)(shape=(1, 1))) for iteration in range(2)]
        assert results[0] == results[1], initializer.__name__
        # a seed picks the values: another seed gives others (on a larger shape, where Orthogonal's ±1 cannot tie)
        a = initializer(seed=42)(shape=(3, 5))
        b = initializer(seed=43)(shape=(3, 5))
        assert not torch.equal(a, b), initializer.__name__


def test_two_objects_with_one_seed_agree_and_unseeded_ones_repeat_after_set_random_seed():
    """Section "Weight initialization in Keras": GlorotNormal(seed=42) twice, then GlorotNormal() twice."""
    glorot_normal_1 = keras.initializers.GlorotNormal(seed=42)
    glorot_normal_2 = keras.initializers.GlorotNormal(seed=42)
    input_dim, neurons = 3, 5
    result_1 = glorot_normal_1(shape=(input_dim, neurons))
    result_2 = glorot_normal_2(shape=(input_dim, neurons))
    assert np.allclose(result_1, result_2)
    assert np.std(result_1.numpy()) > 0  # Glorot normal: std √(2 / (3 + 5)) = 0.5, truncated

    def unseeded_pair():
        keras.utils.set_random_seed(812)  # "when you run the notebook again"
        result_3 = keras.initializers.GlorotNormal()(shape=(input_dim, neurons))
        result_4 = keras.initializers.GlorotNormal()(shape=(input_dim, neurons))
        return result_3, result_4

    result_3, result_4 = unseeded_pair()
    assert not np.allclose(result_3, result_4)
    again_3, again_4 = unseeded_pair()
    assert torch.equal(again_3, result_3) and torch.equal(again_4, result_4)


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_two_seeded_trainings_are_bit_identical_and_another_seed_differs(data, first, deterministic_mode_restored):
    """Section "Reproducibility in model training process": train_model twice with
    seed 812 (the notebook run twice), once with 813."""
    train_data, test_data = data
    second = seeded_run(812, train_data, test_data)
    assert first.final_history == second.final_history  # every float, exactly
    w1, w2 = _weights(first), _weights(second)
    assert list(w1) == list(w2) and all(torch.equal(w1[k], w2[k]) for k in w1)
    assert first.test_accuracy == second.test_accuracy
    assert first.test_accuracy > 0.3  # chance is 0.1; 2 short epochs of 4,000 digits
    assert sorted(first.final_history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert first.final_history["loss"][1] < first.final_history["loss"][0]

    other = seeded_run(813, train_data, test_data)
    w3 = _weights(other)
    assert all(not torch.equal(w1[k], w3[k]) for k in w1 if w1[k].is_floating_point() and w1[k].numel() > 1)
    assert other.final_history["loss"] != first.final_history["loss"]


def test_a_restarted_kernel_reproduces_the_saved_history(first, mnist_dir, tmp_path):
    """Section "Reproducibility in model training process": history.json written by one
    run, then the same program in a fresh Python process, compared as the example does."""
    history = first.final_history
    # Save the history object into a json file
    with open(tmp_path / "history.json", "w") as fp:
        json.dump(history, fp)

    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(torch.get_num_threads())}
    done = subprocess.run([sys.executable, __file__, str(mnist_dir), str(tmp_path / "restarted.json")], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    with open(tmp_path / "history.json", "r") as fp:
        history_loaded = json.load(fp)
    with open(tmp_path / "restarted.json", "r") as fp:
        history_restarted = json.load(fp)
    # the example's comparison (np.allclose), and exactly, every float
    for key in history.keys():
        for i in range(len(history[key])):
            assert np.allclose(history_restarted[key][i], history_loaded[key][i]), key
    assert history_restarted == history_loaded


if __name__ == "__main__":  # the restarted kernel: the same program in a fresh process
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    train, test = load_data(Path(sys.argv[1]))
    with open(sys.argv[2], "w") as fp:
        json.dump(seeded_run(812, train, test).final_history, fp)
