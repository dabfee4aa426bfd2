#!/usr/bin/env bash
# The GPU checks of issue 4, prepared as one short script for a lent GPU machine.
#
#   BRAINNET_DATA_DIR=<folder holding mnist/> OUT=<results folder> bash benchmarks/gpu_check.sh
#
# It uses the machine's own Python and PyTorch (with CUDA) and this working tree
# (no install). In order, each with its own time limit so that one slow part
# cannot eat the others' time:
#   1. the CUDA tests: the graphed step against the eager one (History, weights,
#      counts), cuDNN autotuning inside fit, bfloat16;
#   2. the harness on the four workloads, brainnet with jit_compile=True (the
#      step as one CUDA graph) against the hand-written eager and CUDA-graphed
#      loops, 3 repetitions;
#   3. `brainnet run mnist-fast` for seeds 0-4 (the "under 1 s on one GPU" goal;
#      its pooling-first network, 2026-12-05, has not run on a GPU yet);
#   4. a device-time profile of the graphed LSTM and Transformer steps (their
#      shortfall against the hand-written graphed loop is not understood);
#   5. each workload's step with the model alone (no fit around it), graphed:
#      brainnet's network against the hand-written twin (for the LSTM also
#      three nn.LSTM calls against the twin's one 3-layer call).
# The limits add up to 579 s, inside the device tool's 600 s per command.
# Everything it prints also goes to files under $OUT (default ./gpu-check-out).
set -u
OUT=${OUT:-gpu-check-out}
PY=${PYTHON:-python3}
if [ -z "${BRAINNET_DATA_DIR:-}" ]; then
    echo "gpu_check: expected BRAINNET_DATA_DIR, the folder that holds mnist/, got it unset." \
         "Fix: BRAINNET_DATA_DIR=../shared/datasets bash benchmarks/gpu_check.sh" >&2
    exit 2
fi
export BRAINNET_DATA_DIR
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

{
    date -u
    git rev-parse HEAD 2>/dev/null || true
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
} 2>&1 | tee "$OUT/machine.txt"

echo "== 1. CUDA tests"
BRAINNET_DEVICE=cuda timeout 120 "$PY" -m pytest -q -p no:cacheprovider -rs \
    -k "not jit_compile_trains_like_eager_on_cpu" \
    tests/training/test_fast_path.py tests/training/test_graph_step.py tests/test_metrics.py \
    tests/training/test_sample_weight.py tests/test_direct_update.py \
    2>&1 | tee "$OUT/cuda-tests.txt"

echo "== 2. harness, jit_compile (CUDA graph)"
timeout 240 "$PY" -m brainnet bench --workloads cnn64 cnn256 lstm transformer --device cuda \
    --jit-compile --in-process-only --repeats 3 --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.txt"

echo "== 3. mnist-fast, seeds 0-4"
for seed in 0 1 2 3 4; do
    timeout 20 "$PY" -m brainnet run mnist-fast --seed "$seed" --device cuda --out "$OUT/mnist-fast-$seed"
done 2>&1 | tee "$OUT/mnist-fast.txt"

echo "== 4. device-time profiles of the graphed sequence steps"
for workload in lstm transformer; do
    timeout 40 "$PY" benchmarks/profile_fit.py "$workload" --device cuda --jit-compile --steps 50 --rows 15
done 2>&1 | tee "$OUT/profiles.txt"

echo "== 5. the model's step alone (CUDA graphs)"
for workload in cnn64 lstm transformer; do
    timeout 13 "$PY" benchmarks/model_step.py "$workload" --device cuda --rounds 5 --calls 50
done 2>&1 | tee "$OUT/model-step.txt"
