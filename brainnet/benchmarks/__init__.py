"""``brainnet bench``: how fast brainnet trains the seed networks, measured
side by side with the PyTorch loops a user would otherwise write.

    brainnet bench --workloads cnn64 cnn256 lstm transformer --repeats 5 --json bench.json
    brainnet bench --quick --workloads cnn64            # a few seconds
    brainnet bench --memory                             # peak RSS: brainnet run vs hand-written
    python benchmarks/bench.py ...                      # the same, from a checkout

Modules: ``workloads`` (networks, data, optimizers), ``twins`` (the same
networks in plain PyTorch, with brainnet's initial weights copied in),
``contestants`` (the training loops), ``harness`` (the measurements, the
table and the JSON), ``isolated`` (what needs a new process: the first
epoch, time to accuracy, peak memory) and
``command`` (the options). BENCHMARKS.md at the repository's root records
results and how they were taken.
"""

from .command import build_parser, main
from .workloads import WORKLOADS

__all__ = ["main", "build_parser", "WORKLOADS"]
