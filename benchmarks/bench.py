"""Training speed of brainnet against PyTorch loops: ``brainnet bench`` from a checkout.

    python benchmarks/bench.py --workloads cnn64 cnn256 lstm transformer --repeats 5
    python benchmarks/bench.py --quick --workloads cnn64
    python benchmarks/bench.py --memory

See ``brainnet.benchmarks`` for what is measured, and BENCHMARKS.md for results.
"""

import sys

from brainnet.benchmarks import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
