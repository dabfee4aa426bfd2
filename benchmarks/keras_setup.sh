#!/usr/bin/env bash
# Creates the three virtual environments that benchmarks/keras_bench.py runs
# in: Keras 3 with TensorFlow, Keras 3 with JAX, Keras 3 with PyTorch, all
# CPU builds. Then, with --run, measures the seed CNN at batch 64 in each.
#
#   bash benchmarks/keras_setup.sh                  # into ~/.cache/brainnet-keras-bench
#   bash benchmarks/keras_setup.sh DIR              # into DIR
#   bash benchmarks/keras_setup.sh DIR --run        # and run the quick measurement
#
# Environment: PYTHON (the interpreter the environments are made from,
# default python3), TORCH_SPEC (default torch==2.13.0, brainnet's torch),
# TORCH_PIP_ARGS (extra pip arguments for that install, e.g. an index of
# CPU-only wheels on a machine where the default torch wheel is a CUDA one).
# Re-running it is cheap: existing environments are kept and only upgraded
# to what is asked for.
set -euo pipefail

ROOT="${1:-$HOME/.cache/brainnet-keras-bench}"
RUN="${2:-}"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

mkdir -p "$ROOT"

venv() {  # venv NAME: creates $ROOT/NAME once, prints its python
    local dir="$ROOT/$1"
    if [ ! -x "$dir/bin/python" ]; then
        "$PYTHON" -m venv "$dir"
    fi
    echo "$dir/bin/python"
}

# TensorFlow: the CPU-only package when the index has it for this Python.
tf_python="$(venv tensorflow)"
if ! "$tf_python" -m pip install "keras>=3" tensorflow-cpu; then
    echo "tensorflow-cpu is not installable here; installing tensorflow" >&2
    "$tf_python" -m pip install "keras>=3" tensorflow
fi

jax_python="$(venv jax)"
"$jax_python" -m pip install "keras>=3" "jax[cpu]"

# PyTorch first, alone, so that Keras's dependencies cannot pull another build.
torch_python="$(venv torch)"
# shellcheck disable=SC2086  # TORCH_PIP_ARGS is a list of words
"$torch_python" -m pip install "$TORCH_SPEC" ${TORCH_PIP_ARGS:-}
"$torch_python" -m pip install "keras>=3"

for backend in tensorflow jax torch; do
    "$ROOT/$backend/bin/python" - "$backend" <<'EOF'
import importlib, os, sys
backend = sys.argv[1]
os.environ["KERAS_BACKEND"] = backend
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import keras
engine = importlib.import_module(backend)
print(f"{backend}: keras {keras.__version__}, {backend} {engine.__version__}, python {sys.version.split()[0]}")
EOF
done

if [ "$RUN" = "--run" ]; then
    python3 "$HERE/keras_bench.py" --envs "$ROOT" --workloads cnn64 --quick
fi
