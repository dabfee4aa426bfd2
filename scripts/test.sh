#!/usr/bin/env bash
# Set up, then run the whole test suite. Exit code: pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/brainnet-env.sh
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's brainnet, even in a shared .venv
exec .venv/bin/python -m pytest -q "$@"
