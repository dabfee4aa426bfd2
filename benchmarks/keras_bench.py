"""Keras 3 on TensorFlow, JAX and PyTorch against brainnet ``fit()``: the same
workloads, side by side, in one sitting.

    bash benchmarks/keras_setup.sh                      # once: the three environments
    python benchmarks/keras_bench.py --workloads cnn64 --repeats 5 --json keras.json
    python benchmarks/keras_bench.py --quick            # a few seconds per backend
    python benchmarks/keras_bench.py --precision bfloat16   # every contestant under mixed_bfloat16

Run it with the Python that has brainnet (it loads the data sets through
``brainnet.datasets`` and runs brainnet's contestant). Each backend runs in
a worker process started from its own environment (``ENVS/<backend>/bin/python
keras_bench.py --worker``, ``KERAS_BACKEND=<backend>``), brainnet in one more
worker from this Python. All workers stay alive for the whole workload:
each builds and compiles its model, trains one untimed pass (its warm-up,
with any tracing or XLA compilation, reported as ``warmup_s``), then waits.
The driver then asks them in turn for one timed pass each round, the order
alternating between rounds (A B C D, D C B A, ...), so drift in the
machine's speed hits them all alike; only one worker computes at a time.

A pass is ``model.fit(x, y, batch_size=B, epochs=1, verbose=0)`` on the first
``steps × B`` training samples, in every framework. Models (Keras layers
written out in ``_keras_model``): the seed CNN with SGD(0.01, momentum 0.9),
the 3 × LSTM(64) stack and the 2-block Transformer encoder with
Adam(0.001), softmax outputs and sparse categorical cross-entropy, as in
``brainnet.benchmarks.workloads``. Every framework keeps its defaults
(Keras's ``jit_compile="auto"``, its thread pools over all cores).
``--precision bfloat16`` sets the policy ``mixed_bfloat16`` in every worker
before its model is built (``keras.mixed_precision.set_global_policy`` and
brainnet's own): bfloat16 computation, float32 weights, in all of them.

The report has the same table and JSON layout as ``brainnet bench``, with
contestants ``keras-tensorflow``, ``keras-jax``, ``keras-torch`` and
``brainnet``, and the ratios brainnet / each.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_ENVS = Path.home() / ".cache" / "brainnet-keras-bench"
PROTOCOL = "@@ "  # the workers' answers start with this; anything else they print is ignored
QUICK = {"limit": 1024, "steps": 4, "repeats": 2}


# ------------------------------------------------------------------ worker
def _sinusoids(length: int, dim: int) -> np.ndarray:
    """PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(t / 10000^(2i/d))."""
    t = np.arange(length, dtype=np.float64)[:, None]  # (T, 1)
    two_i = (np.arange(dim) // 2 * 2).astype(np.float64)  # (d,)
    angles = t / 10000.0 ** (two_i / dim)  # (T, d)
    return np.where(np.arange(dim) % 2 == 0, np.sin(angles), np.cos(angles)).astype(np.float32)


def _keras_model(network: str, precision: str = "float32") -> Any:
    """The workload's network and optimizer in Keras 3, compiled, under the
    policy ``mixed_bfloat16`` when ``precision`` is ``"bfloat16"``."""
    import keras
    from keras import layers

    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")

    if network == "cnn":
        model = keras.Sequential([
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax"),
        ])
        optimizer = keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
    elif network == "lstm":
        model = keras.Sequential([
            keras.Input((28, 28)),
            layers.LSTM(64, return_sequences=True), layers.LSTM(64, return_sequences=True), layers.LSTM(64),
            layers.Dense(10, activation="softmax"),
        ])
        optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    else:
        table = _sinusoids(28, 64)

        class AddPositions(layers.Layer):
            def call(self, x: Any) -> Any:
                return x + keras.ops.convert_to_tensor(table)

        inputs = keras.Input((28, 28))
        h = AddPositions()(layers.Dense(64)(inputs))
        for _ in range(2):  # post-norm encoder blocks, as brainnet's TransformerEncoder
            attended = layers.MultiHeadAttention(num_heads=4, key_dim=16, dropout=0.1)(h, h)
            h = layers.LayerNormalization(epsilon=1e-5)(h + layers.Dropout(0.1)(attended))
            fed = layers.Dense(64)(layers.Dense(128, activation="relu")(h))
            h = layers.LayerNormalization(epsilon=1e-5)(h + layers.Dropout(0.1)(fed))
        outputs = layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling1D()(h))
        model = keras.Model(inputs, outputs)
        optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _versions(backend: str) -> dict[str, str]:
    if backend == "brainnet":
        import brainnet
        import torch

        return {"brainnet": brainnet.__version__, "torch": torch.__version__}
    import importlib

    import keras

    return {"keras": keras.__version__, backend: importlib.import_module(backend).__version__,
            "python": platform.python_version()}


def _say(kind: str, payload: Any) -> None:
    print(PROTOCOL + kind + " " + json.dumps(payload), flush=True)


def worker(args: argparse.Namespace) -> int:
    """A worker: builds the model, warms up, then trains one pass per "rep" line on stdin."""
    data = np.load(args.data)
    samples = args.steps * args.batch_size
    x, y = data["x_train"][:samples], data["y_train"][:samples]
    start = time.perf_counter()
    if args.backend == "brainnet":
        import brainnet
        import torch

        from brainnet.benchmarks.contestants import BrainnetFit
        from brainnet.benchmarks.workloads import WORKLOADS, Data

        workload = WORKLOADS[args.workload]
        brainnet.utils.set_random_seed(0)
        contestant = BrainnetFit(workload, Data(x, y, x[:1], y[:1]), torch.device("cpu"), args.precision,
                                 workload.build_brainnet())

        def one_pass() -> None:
            contestant.train(samples)

        jit, policy = False, contestant.model.trainer.policy.name
    else:
        model = _keras_model(args.network, args.precision)

        def one_pass() -> None:
            model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)

        jit, policy = getattr(model, "jit_compile", None), model.layers[0].dtype_policy.name
    one_pass()
    _say("ready", {"warmup_s": time.perf_counter() - start, "jit_compile": jit, "policy": policy,
                   "versions": _versions(args.backend)})
    for line in sys.stdin:
        if line.strip() != "rep":
            break
        start = time.perf_counter()
        one_pass()
        _say("rep", time.perf_counter() - start)
    return 0


# ------------------------------------------------------------------ driver
class Worker:
    """One worker process and its pipes."""

    def __init__(self, name: str, python: str, backend: str, workload: Any, data: Path, steps: int,
                 precision: str = "float32") -> None:
        self.name = name
        self.log = tempfile.TemporaryFile()
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
        command = [python, str(Path(__file__).resolve()), "--worker", "--backend", backend,
                   "--workload", workload.name, "--network", workload.network,
                   "--batch-size", str(workload.batch_size), "--steps", str(steps), "--data", str(data),
                   "--precision", precision]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.log, text=True, env=env)

    def read(self, kind: str) -> Any:
        for line in self.process.stdout:
            if line.startswith(PROTOCOL + kind + " "):
                return json.loads(line[len(PROTOCOL) + len(kind) + 1:])
        self.log.seek(0)
        tail = "\n".join(self.log.read().decode("utf-8", errors="replace").strip().splitlines()[-15:])
        raise RuntimeError(f"keras_bench: worker {self.name} ended before answering {kind!r}; its last lines:\n{tail}")

    def rep(self) -> float:
        self.process.stdin.write("rep\n")
        self.process.stdin.flush()
        return float(self.read("rep"))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=120)
        self.log.close()


def _python_of(envs: Path, backend: str) -> str:
    python = envs / backend / "bin" / "python"
    if not python.is_file():
        raise ValueError(
            f"keras_bench: expected an environment for Keras on {backend} at {python}, found none. "
            f"Fix: bash benchmarks/keras_setup.sh {envs}"
        )
    return str(python)


def measure(workload: Any, args: argparse.Namespace, data_file: Path) -> dict[str, Any]:
    """All backends on one workload, interleaved; the workload's part of the report."""
    from brainnet.benchmarks.harness import ratios

    steps = args.steps or workload.steps
    samples = steps * workload.batch_size
    if samples > args.train_samples:
        raise ValueError(
            f"keras_bench: workload {workload.name} trains {steps} steps x batch {workload.batch_size} = {samples} "
            f"samples per pass, but the training set has {args.train_samples}. Fix: fewer --steps or a larger --limit."
        )
    names = ([("brainnet", sys.executable, "brainnet")] if args.brainnet else []) + [
        (f"keras-{b}", _python_of(args.envs, b), b) for b in args.backends]
    workers: list[Worker] = []
    results: dict[str, dict[str, Any]] = {}
    try:
        for name, python, backend in names:  # one at a time, so warm-ups do not overlap
            workers.append(Worker(name, python, backend, workload, data_file, steps, args.precision))
            results[name] = workers[-1].read("ready")
        rates: dict[str, list[float]] = {w.name: [] for w in workers}
        for round_ in range(args.repeats):
            for w in workers if round_ % 2 == 0 else workers[::-1]:
                rates[w.name].append(samples / w.rep())
    finally:
        for w in workers:
            w.close()
    for name, values in rates.items():
        results[name].update(samples_per_s=values, median=statistics.median(values), min=min(values),
                             max=max(values))
    return {"description": workload.description, "batch_size": workload.batch_size, "steps_per_repeat": steps,
            "samples_per_repeat": samples, "repeats": args.repeats, "train_samples": args.train_samples,
            "target_accuracy": workload.target_accuracy, "contestants": results, "ratios": ratios(results)}


def driver(args: argparse.Namespace, argv: list[str]) -> int:
    from brainnet.benchmarks.harness import environment, format_workload, load_average, write_json
    from brainnet.benchmarks.workloads import WORKLOADS, load_data

    import torch

    report: dict[str, Any] = {"benchmark": "keras_bench", "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                              "precision": args.precision,
                              "command": " ".join(["python benchmarks/keras_bench.py", *argv]),
                              **environment(torch.device("cpu")), "load_average": {"start": load_average()},
                              "workloads": {}}
    with tempfile.TemporaryDirectory(prefix="keras-bench-") as tmp:
        for name in args.workloads:
            workload = WORKLOADS[name]
            data = load_data(workload, args.limit)
            data_file = Path(tmp) / f"{name}.npz"
            np.savez(data_file, x_train=data.x_train, y_train=data.y_train)
            args.train_samples = len(data.y_train)
            result = measure(workload, args, data_file)
            report["workloads"][name] = result
            print(format_workload(name, result), flush=True)
    report["load_average"]["end"] = load_average()
    report["versions"] = {name: c.get("versions") for w in report["workloads"].values()
                          for name, c in w["contestants"].items()}
    if args.json:
        write_json(report, args.json)
        print(f"wrote {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="keras_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["cnn64"], help="from brainnet bench's (default cnn64)")
    parser.add_argument("--backends", nargs="*", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--no-brainnet", dest="brainnet", action="store_false", help="leave brainnet fit() out")
    parser.add_argument("--envs", type=Path, default=DEFAULT_ENVS, help=f"the environments (default {DEFAULT_ENVS})")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--steps", type=int, help="steps per pass (default: the workload's)")
    parser.add_argument("--limit", type=int, help="training samples loaded (default: all)")
    parser.add_argument("--json", metavar="OUT")
    parser.add_argument("--quick", action="store_true", help="--limit 1024 --steps 4 --repeats 2 unless given")
    parser.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                        help="float32 (default), or the mixed_bfloat16 policy in every contestant")
    worker_args = parser.add_argument_group("worker (internal)")
    worker_args.add_argument("--worker", action="store_true")
    worker_args.add_argument("--backend", default="tensorflow")
    worker_args.add_argument("--workload", default="cnn64")
    worker_args.add_argument("--network", default="cnn")
    worker_args.add_argument("--batch-size", type=int, default=64)
    worker_args.add_argument("--data")
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    for key, value in QUICK.items():
        if getattr(args, key) is None:
            setattr(args, key, value if args.quick else {"limit": None, "steps": None, "repeats": 5}[key])
    try:
        return driver(args, argv)
    except (ValueError, RuntimeError) as err:
        print(err, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
