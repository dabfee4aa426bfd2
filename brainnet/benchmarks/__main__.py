"""``python -m brainnet.benchmarks``: the same as ``brainnet bench``."""

from . import main

if __name__ == "__main__":
    raise SystemExit(main())
