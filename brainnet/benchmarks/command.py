"""The options of ``brainnet bench`` (also ``python benchmarks/bench.py``)
and its ``main``."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .contestants import CONTESTANTS, PRECISIONS
from .harness import Settings, failed, run, write_json
from .workloads import WORKLOADS

DEFAULTS = {"limit": None, "steps": None, "repeats": 5, "max_epochs": 15}
QUICK = {"limit": 1024, "steps": 4, "repeats": 2, "max_epochs": 2}  # --quick: seconds, not minutes


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (also used by the
    scripts in benchmarks/)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r}. Fix: a whole number such as 5.") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}. Fix: 1 or more.")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brainnet bench",
        description="Training speed of brainnet fit() against an idiomatic PyTorch DataLoader loop and the "
                    "fastest hand-written PyTorch loop, side by side in one process; or, with --memory, the peak "
                    "memory of `brainnet run mnist-cnn` against the hand-written loop.",
    )
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS), metavar="W",
                        help=f"workloads to measure, from {', '.join(WORKLOADS)} (default: all)")
    parser.add_argument("--contestants", nargs="+", choices=list(CONTESTANTS), metavar="C",
                        help="loops to compare (default: brainnet dataloader handwritten, and "
                             "handwritten-graphed on CUDA)")
    parser.add_argument("--repeats", type=positive_int, help="timed repetitions per contestant (default 5)")
    parser.add_argument("--steps", type=positive_int, help="training steps per repetition (default: the workload's)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=positive_int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--limit", type=positive_int, help="use the first N training and N/5 test samples")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="float32 (default), or bfloat16 autocast in every contestant")
    parser.add_argument("--jit-compile", action="store_true", help="compile brainnet's step (jit_compile=True)")
    parser.add_argument("--time-to-accuracy", action="store_true",
                        help="in each contestant's new process, train on until the workload's target test "
                             "accuracy (slow)")
    parser.add_argument("--max-epochs", type=positive_int, help="cap for --time-to-accuracy (default 15)")
    parser.add_argument("--in-process-only", action="store_true",
                        help="skip the new process per contestant (first epoch, time to accuracy, peak memory)")
    parser.add_argument("--memory", action="store_true",
                        help="only measure peak RSS of `brainnet run mnist-cnn --epochs 1` against the "
                             "hand-written loop")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights (default 0)")
    parser.add_argument("--json", metavar="OUT", help="write the results to this JSON file")
    parser.add_argument("--quick", action="store_true",
                        help="a small setting for tests: --limit 1024 --steps 4 --repeats 2 --max-epochs 2 "
                             "unless given")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """The ``Settings`` the options ask for (``--quick`` fills what is not given).

    Raises:
        ValueError: ``handwritten-graphed`` asked for on a device that is not
            CUDA, or ``--time-to-accuracy`` with ``--in-process-only``.
    """
    if args.time_to_accuracy and args.in_process_only:
        raise ValueError(
            "bench: --time-to-accuracy trains each contestant in a new process, expected it without "
            "--in-process-only, got both. Fix: drop --in-process-only (or --time-to-accuracy)."
        )
    fallback = QUICK if args.quick else DEFAULTS
    given = {k: fallback[k] if getattr(args, k) is None else getattr(args, k) for k in DEFAULTS}
    cuda = args.device.startswith("cuda") or (args.device == "auto" and _cuda_available())
    contestants = args.contestants or ["brainnet", "dataloader", "handwritten"] + (
        ["handwritten-graphed"] if cuda else [])
    if "handwritten-graphed" in contestants and not cuda:
        raise ValueError(
            f"bench: handwritten-graphed replays CUDA graphs, expected --device cuda, got --device {args.device}. "
            "Fix: --device cuda, or leave handwritten-graphed out of --contestants."
        )
    return Settings(
        workloads=list(dict.fromkeys(args.workloads)), contestants=list(dict.fromkeys(contestants)),
        repeats=given["repeats"], steps=given["steps"], device=args.device, threads=args.threads,
        limit=given["limit"], precision=args.precision, jit_compile=args.jit_compile,
        time_to_accuracy=args.time_to_accuracy, max_epochs=given["max_epochs"],
        fresh_processes=not args.in_process_only, seed=args.seed,
    )


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``brainnet bench``.

    Args:
        argv: the options (without the program name); None: ``sys.argv[1:]``.

    Returns:
        0 when every contestant ran; 1 when one failed, a child process failed
        or a data set is missing; 2 for a wrong command line.
    """
    from brainnet.datasets import DatasetNotFoundError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse printed the usage error (or the help)
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        settings = settings_from(args)
        if args.memory:
            from .isolated import format_recipe_peak, recipe_peak

            report = {"benchmark": "brainnet bench --memory", "memory": recipe_peak(settings, runs=1)}
            print(format_recipe_peak(report["memory"]), flush=True)
        else:
            report = run(settings, argv)
    except ValueError as err:
        print(f"brainnet bench: error: {err}", file=sys.stderr, flush=True)
        return 2
    except (DatasetNotFoundError, RuntimeError) as err:
        print(f"brainnet bench: {err}", file=sys.stderr, flush=True)
        return 1
    if args.json:
        write_json(report, args.json)
        print(f"wrote {args.json}", flush=True)
    return 1 if failed(report) else 0
