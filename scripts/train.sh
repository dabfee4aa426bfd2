#!/usr/bin/env bash
# Set up, then train the teaching CNN on MNIST (brainnet run mnist-cnn).
# Extra arguments go to `brainnet run`, e.g. --epochs 2.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/brainnet-env.sh
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's brainnet, even in a shared .venv
exec .venv/bin/brainnet run mnist-cnn "$@"
