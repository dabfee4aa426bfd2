"""The ``brainnet`` command: train the teaching examples end to end.

    brainnet list
    brainnet run mnist-cnn [--epochs N] [--batch-size N] [--device auto|cpu|cuda]
                           [--data-dir DIR] [--out DIR] [--seed N] [--limit N]
    brainnet predict MODEL IMAGE... [--top K] [--invert auto|yes|no]
    brainnet explain MODEL --image IMAGE [--image IMAGE ...] [--out DIR] [--layer NAME]
                           [--invert auto|yes|no]
    brainnet bench [--workloads W ...] [--device cpu|cuda] [--memory] ...  (see brainnet bench --help)

``run`` trains a recipe (see ``brainnet.recipes``) with a progress bar per
epoch, prints the test accuracy and writes the trained weights, the whole
model (``model.brainnet``), ``history.json``, ``training_curves.png`` and
``report.html`` (one self-contained page: curves, confusion matrix, errors,
saliency, summary) into ``--out`` (default ``brainnet-out/<recipe>``).
``predict`` loads a saved model and prints, for each picture, its K most
probable classes; the picture is prepared as the model's training images
were (``model.preprocessing``, see ``brainnet.preprocessing``). ``explain``
prepares pictures the same way and writes PNGs of what the model looks at
(saliency, SmoothGrad, Grad-CAM, feature maps, attention; see
``brainnet.explain.write_explanations``) into ``--out``, by default
``explain-<model file stem>/`` beside the model file
(``brainnet-out/mnist-cnn/explain-model/``), so two models' pictures never
share a folder. ``bench`` measures training speed
against plain PyTorch loops (``brainnet.benchmarks``). A mistake a user can make
(unknown recipe, bad option, missing data set, unwritable folder, a file
that is not an image) prints one line on stderr and exits non-zero: 2 for
a wrong command line, 1 for a run that cannot proceed.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from pathlib import Path
from typing import Any, Sequence

EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _count(minimum: int) -> type:
    """An argparse ``type`` accepting integers ≥ ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (no usage block)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        _error(f"{message} (see `{self.prog} --help`)")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """Returns the parser of the ``brainnet`` command and its subcommands."""
    parser = _Parser(
        prog="brainnet",
        description="Train the teaching examples of brainnet end to end.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="list the recipes", description="List the recipes.")
    run = commands.add_parser(
        "run",
        help="train a recipe, print its test accuracy, save weights and curves",
        description="Train a recipe, print its test accuracy, write its weights, "
        "history.json, training_curves.png and report.html.",
    )
    run.add_argument("recipe", metavar="RECIPE", help="a name from `brainnet list`")
    run.add_argument("--epochs", type=_count(1), metavar="N", help="passes over the data (default: the recipe's, 10 for the CNNs)")
    run.add_argument("--batch-size", type=_count(1), metavar="N", help="samples per step (default: the recipe's, 64 for the CNNs)")
    run.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto",
        help="auto: CUDA when available, else CPU (default auto)",
    )
    run.add_argument(
        "--data-dir", type=Path, metavar="DIR",
        help="folder holding mnist/, fashion-mnist/ or fortunes/ (default $BRAINNET_DATA_DIR, "
        "the system folder, the cache, else download)",
    )
    run.add_argument("--out", type=Path, metavar="DIR", help="output folder (default brainnet-out/RECIPE)")
    run.add_argument("--seed", type=_count(0), default=0, metavar="N", help="random seed (default 0)")
    run.add_argument(
        "--precision", choices=("auto", "float32", "bfloat16"), default="auto",
        help="bfloat16: the mixed_bfloat16 policy (fast on CUDA and on CPUs with AMX); auto: the recipe's "
        "choice (mnist-fast: bfloat16 on CUDA and AMX CPUs; the others float32) (default auto)",
    )
    run.add_argument(
        "--limit", type=_count(10), metavar="N",
        help="train on the first N training samples (images, or text windows for char-transformer), "
        "test on the first N//5 (default all)",
    )
    predict = commands.add_parser(
        "predict",
        help="classify pictures (PNG, JPEG) with a saved model",
        description="Print the most probable classes of each picture, prepared (size, colours, "
        "background, normalisation) as the model's training images were.",
    )
    predict.add_argument("model", metavar="MODEL", type=Path,
                         help="a file from model.save(), e.g. brainnet-out/mnist-cnn/model.brainnet")
    predict.add_argument("images", metavar="IMAGE", type=Path, nargs="+", help="PNG or JPEG files")
    predict.add_argument("--top", type=_count(1), default=3, metavar="K", help="classes shown per picture (default 3)")
    predict.add_argument(
        "--invert", choices=("auto", "yes", "no"), default="auto",
        help="auto: invert a picture whose background is light when the training images' was dark "
        "(a dark digit on white paper), and the reverse (default auto)",
    )
    commands.add_parser(  # listed here; `brainnet bench` is parsed by brainnet.benchmarks.command
        "bench", add_help=False,
        help="measure training speed: brainnet fit() against plain PyTorch loops (brainnet bench --help)",
    )
    explain = commands.add_parser(
        "explain",
        help="draw what a saved model looks at in pictures (saliency, Grad-CAM, feature maps, attention)",
        description="Prepare each picture as `brainnet predict` does and write PNGs of what the model looks "
        "at: saliency, SmoothGrad, Grad-CAM and feature maps (models with Conv2D), attention weights "
        "(models with attention layers). Prints the files and each picture's top class.",
    )
    explain.add_argument("model", metavar="MODEL", type=Path, help="a file from model.save()")
    explain.add_argument("--image", dest="images", metavar="IMAGE", type=Path, action="append", required=True,
                         help="a PNG or JPEG file; repeat for several")
    explain.add_argument("--out", type=Path, metavar="DIR",
                         help="output folder (default: explain-<MODEL stem> beside MODEL, e.g. "
                         "brainnet-out/mnist-cnn/explain-model for brainnet-out/mnist-cnn/model.brainnet)")
    explain.add_argument("--layer", metavar="NAME",
                         help="the layer for Grad-CAM and feature maps (default: the last Conv2D for Grad-CAM, "
                         "every Conv2D for feature maps)")
    explain.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                         help="as for predict (default auto)")
    return parser


def _error(message: str) -> None:
    """Prints ``brainnet: error: message`` as a single line on stderr."""
    print(f"brainnet: error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def _unknown_recipe(name: str, known: Sequence[str]) -> str:
    """The message for an unknown recipe: the known ones and the closest match."""
    message = f"unknown recipe {name!r}; known recipes: {', '.join(known)}."
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.4)
    if close:
        message += f" Did you mean {close[0]!r}?"
    return message


def _list(recipes: dict) -> int:
    width = max(len(name) for name in recipes)
    for name, recipe in recipes.items():
        print(f"{name:<{width}}  {recipe.description}")
    return 0


def _run(args: argparse.Namespace, recipes: dict) -> int:
    from brainnet.datasets import ChecksumError, DatasetNotFoundError
    from brainnet import mixed_precision
    from brainnet.recipes import RunConfig
    from brainnet.recipes._common import PRECISION_POLICIES
    from brainnet.training import cpu_threads
    from brainnet.training.trainer import resolve_device

    recipe = recipes.get(args.recipe)
    if recipe is None:
        _error(_unknown_recipe(args.recipe, sorted(recipes)))
        return EXIT_USAGE
    try:
        resolve_device(args.device)
    except ValueError as e:
        _error(f"--device {args.device}: {e}")
        return EXIT_USAGE
    try:  # a mistyped setting: said now, not after the data set has loaded
        cpu_threads.checked_setting()
    except ValueError as e:
        _error(str(e))
        return EXIT_USAGE
    if args.data_dir is not None and not args.data_dir.is_dir():
        _error(f"--data-dir {args.data_dir}: expected a folder holding mnist/ or fashion-mnist/, "
               "got no such folder. Fix: --data-dir /path/to/datasets (the folder above mnist/), or "
               "leave it out to use $BRAINNET_DATA_DIR or the cache.")
        return EXIT_USAGE
    out = args.out if args.out is not None else Path("brainnet-out") / recipe.name
    try:  # fail now, not after training, when the outputs cannot be written
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK):
            raise PermissionError(f"cannot write into the output folder {out}")
    except OSError as e:
        _error(f"--out {out}: {e}")
        return EXIT_RUN_FAILED
    config = RunConfig(
        out=out, epochs=args.epochs, batch_size=args.batch_size, device=args.device,
        data_dir=args.data_dir, seed=args.seed, limit=args.limit, precision=args.precision,
    )
    previous = mixed_precision.global_policy()
    if args.precision != "auto":
        mixed_precision.set_global_policy(PRECISION_POLICIES[args.precision])
    try:
        recipe.run(config)
    except (DatasetNotFoundError, ChecksumError) as e:
        _error(str(e))
        return EXIT_RUN_FAILED
    except OSError as e:  # writing the outputs: disk full, permissions
        _error(f"{type(e).__name__}: {e}")
        return EXIT_RUN_FAILED
    finally:
        mixed_precision.set_global_policy(previous)
    return 0


def _predict(args: argparse.Namespace) -> int:
    import numpy as np

    from brainnet.models import load_model
    from brainnet.preprocessing import preprocessing_for

    try:
        model = load_model(args.model, compile=False)
        prep = preprocessing_for(model, str(args.model))
        images = [prep.load(path, args.invert) for path in args.images]
        outputs = model.predict(np.stack([image.array for image in images]), verbose=0)
        probabilities, note = _class_probabilities(outputs, model.class_names, str(args.model))
    except (OSError, ValueError) as e:  # missing or unreadable files, wrong models: one line
        _error(str(e))
        return EXIT_RUN_FAILED
    names = model.class_names or [str(i) for i in range(probabilities.shape[1])]
    width = max(len(name) for name in names)
    if note:
        print(note)
    for path, image, row in zip(args.images, images, probabilities):
        inverted = (f" (inverted: {image.background} background, the training images' is {prep.background})"
                    if image.inverted and args.invert == "auto" else " (inverted)" if image.inverted else "")
        print(f"{path}{inverted}:")
        for k in np.argsort(-row, kind="stable")[: args.top]:
            print(f"  {names[k]:<{width}}  {row[k]:.4f}")
    return 0


def _explain(args: argparse.Namespace) -> int:
    import numpy as np

    from brainnet.explain import write_explanations
    from brainnet.models import load_model
    from brainnet.preprocessing import preprocessing_for

    # Beside the model: every recipe saves model.brainnet, so a folder named after the stem alone would be shared.
    out = args.out if args.out is not None else args.model.parent / f"explain-{args.model.stem}"
    try:
        model = load_model(args.model, compile=False)
        prep = preprocessing_for(model, str(args.model), "brainnet explain")
        images = [prep.load(path, args.invert) for path in args.images]
        x = np.stack([image.array for image in images])
        outputs = model.predict(x, verbose=0)
        probabilities, note = _class_probabilities(outputs, model.class_names, str(args.model), "brainnet explain")
        names = model.class_names or [str(i) for i in range(probabilities.shape[1])]
        top = probabilities.argmax(1)
        titles = [f"{path.name}: {names[k]} ({p[k]:.2f})" for path, k, p in zip(args.images, top, probabilities)]
        files = [f"{n}_{path.stem}" for n, path in enumerate(args.images, 1)]  # feature_maps_1_seven.png
        try:  # checks the model and --layer, then creates the folder and writes
            written = write_explanations(model, x, out, titles=titles, names=files, layer=args.layer)
        except OSError as e:
            raise OSError(f"--out {out}: expected a folder the pictures can be written into, got "
                          f"{e.strerror or e}. Fix: pass --out with a new or writable folder.") from None
    except (OSError, ValueError) as e:  # missing or unreadable files, wrong models, unknown layer: one line
        _error(str(e))
        return EXIT_RUN_FAILED
    if note:
        print(note)
    for path, image, k, row in zip(args.images, images, top, probabilities):
        print(f"{path}{' (inverted)' if image.inverted else ''}: top class {names[k]} ({row[k]:.4f})")
    for path in written:
        print(f"wrote {path}")
    return 0


# What to do instead, per command, with a model that is not a classifier.
_NOT_A_CLASSIFIER = {
    "brainnet predict": "call model.predict(x) in Python for other models.",
    "brainnet explain": "brainnet explain draws maps of the predicted class, for classifiers only; for other "
                        "models call brainnet.explain.feature_maps(model, x) in Python.",
}


def _class_probabilities(outputs: Any, class_names: list[str] | None, source: str,
                         command: str = "brainnet predict") -> tuple[Any, str]:
    """``(probabilities, note)`` from a classifier's outputs ``(N, classes)``:
    the outputs themselves when each row is a distribution, else their
    softmax (the model ends in logits), with a note saying so."""
    import numpy as np

    if not isinstance(outputs, np.ndarray) or outputs.ndim != 2 or outputs.shape[1] < 2:
        shape = [o.shape for o in outputs] if isinstance(outputs, list) else outputs.shape
        raise ValueError(f"{source}: expected a classifier with one output of shape (N, classes), classes "
                         f"≥ 2, got outputs of shape {shape}. Fix: {_NOT_A_CLASSIFIER[command]}")
    if class_names is not None and len(class_names) != outputs.shape[1]:
        raise ValueError(f"{source}: expected one class name per output unit ({outputs.shape[1]}), got "
                         f"{len(class_names)} names. Fix: set model.class_names to {outputs.shape[1]} names "
                         "and save the model again.")
    outputs = outputs.astype(np.float64)
    if np.all(outputs >= 0) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3):
        return outputs, ""
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True), "(the model outputs logits: probabilities are their softmax)"


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``brainnet`` command.

    Args:
        argv: the arguments after the program name; None: ``sys.argv[1:]``.

    Returns:
        The exit status: 0 success, 1 a run that failed (missing data set,
        unwritable output), 2 a wrong command line (unknown recipe, bad
        option), 130 interrupted with Ctrl-C.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # its own parser, with its own options and --help
        from brainnet.benchmarks.command import main as bench_main

        return bench_main(argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # _Parser.error printed the error (or --help the help)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    from brainnet.recipes import RECIPES

    try:
        if args.command == "list":
            return _list(RECIPES)
        if args.command == "predict":
            return _predict(args)
        if args.command == "explain":
            return _explain(args)
        return _run(args, RECIPES)
    except KeyboardInterrupt:
        _error("interrupted.")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
