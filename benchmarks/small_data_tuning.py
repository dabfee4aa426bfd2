"""How mnist-small-data's augmentation and regularization were chosen: on
held-out validation images, never on the test set.

Each setting trains the teaching CNN on 600 training images (60 per digit,
``small_training_set`` with tuning seeds 100, 101, ..., not the seeds 0-4
the results are reported for), with the recipe's optimizer (SGD 0.01,
momentum 0.9, batch 64), and measures its accuracy on the 10,000 held-out
training images 50,000-59,999 after each checkpoint epoch. Prints one line
per setting and seed, then the mean over seeds per checkpoint.

    OMP_NUM_THREADS=1 python benchmarks/small_data_tuning.py \\
        '{"rotation": 0.025, "translation": 0.07, "zoom": 0.07, "dropout": 0.5, "label_smoothing": 0.1}' \\
        --seeds 100 101 102 --checkpoints 60 100 150 200

A setting is JSON with any of: ``rotation``, ``translation``, ``zoom``
(the augmentation layers' factors; fill: the background), ``dropout``
(before the softmax layer), ``l2`` (``L2`` on every kernel),
``label_smoothing``; ``{}`` is the plain teaching recipe.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from brainnet.datasets import mnist
from brainnet.layers import Conv2D, Dense, Dropout, RandomRotation, RandomTranslation, RandomZoom
from brainnet.losses import SparseCategoricalCrossentropy
from brainnet.models import Sequential
from brainnet.optimizers import SGD
from brainnet.recipes import load_images, teaching_cnn
from brainnet.recipes.challenges import HELD_OUT, PER_CLASS, small_training_set
from brainnet.regularizers import L2
from brainnet.utils import set_random_seed


def build(setting: dict) -> Sequential:
    """The teaching CNN with the setting's augmentation, L2 and dropout."""
    background = {"fill_mode": "constant", "fill_value": -1.0}
    front = []
    if setting.get("rotation"):
        front.append(RandomRotation(setting["rotation"], **background))
    if setting.get("translation"):
        front.append(RandomTranslation(setting["translation"], setting["translation"], **background))
    if setting.get("zoom"):
        front.append(RandomZoom(setting["zoom"], **background))
    layers = teaching_cnn().layers
    if setting.get("l2"):  # the same layers, rebuilt with a penalty on each kernel
        layers = [type(layer).from_config({**layer.get_config(), "kernel_regularizer": L2(setting["l2"])})
                  if isinstance(layer, (Conv2D, Dense)) else layer for layer in layers]
    if setting.get("dropout"):
        layers.insert(len(layers) - 1, Dropout(setting["dropout"]))
    model = Sequential(front + layers)
    model.build_from_shape((None, 28, 28, 1))
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setting", type=json.loads, help="JSON, e.g. '{\"dropout\": 0.5}'")
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 101])
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[30, 60, 90])
    args = parser.parse_args()
    (x, y), _ = load_images(mnist, "mnist")
    x_val, y_val = x[HELD_OUT:], y[HELD_OUT:]  # 10,000 images never drawn into a training set
    scores: dict[int, list[float]] = {epoch: [] for epoch in args.checkpoints}
    for seed in args.seeds:
        train = small_training_set(y, PER_CLASS, seed)
        set_random_seed(seed)
        model = build(args.setting)
        model.compile(optimizer=SGD(learning_rate=0.01, momentum=0.9),
                      loss=SparseCategoricalCrossentropy(label_smoothing=args.setting.get("label_smoothing", 0.0)),
                      metrics=["accuracy"], device="cpu")
        done, start = 0, time.perf_counter()
        for epoch in args.checkpoints:  # constant learning rate: fitting in pieces is one long fit
            model.fit(x[train], y[train], epochs=epoch - done, batch_size=64, verbose=0)
            done = epoch
            scores[epoch].append(model.evaluate(x_val, y_val, verbose=0)[1])
        print(f"seed {seed} ({time.perf_counter() - start:.0f} s): "
              + ", ".join(f"epoch {e}: {s[-1]:.4f}" for e, s in scores.items()), flush=True)
    print(json.dumps(args.setting), "mean validation accuracy:",
          ", ".join(f"epoch {e}: {statistics.mean(s):.4f}" for e, s in scores.items()))


if __name__ == "__main__":
    main()
