"""``brainnet bench`` (``brainnet.benchmarks``): the harness on small slices of
real MNIST, on the CPU, and the claim that its contestants compute the same
math: from brainnet's initial weights, copied into the PyTorch twins, the
three loops give the same loss before and after a training step.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import brainnet
from brainnet.benchmarks import main
from brainnet.benchmarks.contestants import GraphedHandwritten
from brainnet.benchmarks.harness import Settings, make_contestant
from brainnet.benchmarks.isolated import fresh_run
from brainnet.benchmarks.twins import copy_from_brainnet
from brainnet.benchmarks.workloads import WORKLOADS, Data, load_data

CPU = torch.device("cpu")
CONTESTANTS = ("brainnet", "dataloader", "handwritten")


@pytest.fixture(autouse=True)
def _data_dir(mnist_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))


def _first_batches(workload_name: str) -> tuple:
    """The workload, and Data whose training set is one batch and whose test set is the next."""
    workload = WORKLOADS[workload_name]
    data, b = load_data(workload, 256), workload.batch_size
    return workload, Data(data.x_train[:b], data.y_train[:b], data.x_train[b:2 * b], data.y_train[b:2 * b])


def _contestants(workload, data) -> dict:
    brainnet.utils.set_random_seed(0)
    weights = workload.build_brainnet().state_dict()
    out = {}
    for name in CONTESTANTS:
        model = workload.build_brainnet()
        model.load_state_dict(weights)
        out[name] = make_contestant(name, workload, data, CPU, Settings(device="cpu"), model)
    return out


def _test_loss(contestant, workload, data) -> float:
    """Mean cross-entropy on ``data``'s test batch, dropout off."""
    if contestant.name == "brainnet":
        return contestant.model.evaluate(data.x_test, data.y_test, batch_size=len(data.y_test), verbose=0)[0]
    x = torch.from_numpy(data.x_test)
    x = x.permute(0, 3, 1, 2) if workload.images else x  # (N, 1, 28, 28)
    contestant.net.eval()
    with torch.no_grad():
        return F.cross_entropy(contestant.net(x), torch.from_numpy(data.y_test).long()).item()


@pytest.mark.parametrize("workload_name", ["cnn64", "lstm", "transformer"])
def test_contestants_start_from_the_same_function(workload_name: str) -> None:
    workload, data = _first_batches(workload_name)
    contestants = _contestants(workload, data)
    losses = {name: _test_loss(c, workload, data) for name, c in contestants.items()}
    assert 1.5 < losses["brainnet"] < 4.0  # untrained: near ln 10 ≈ 2.3
    for name in ("dataloader", "handwritten"):
        assert losses[name] == pytest.approx(losses["brainnet"], rel=1e-5), name
    parameters = {name: c.parameters() for name, c in contestants.items()}
    assert len(set(parameters.values())) == 1, parameters


@pytest.mark.parametrize("workload_name", ["cnn64", "lstm"])  # the Transformer's dropout draws differ
def test_one_training_step_is_the_same_step(workload_name: str) -> None:
    """Same gradients and same optimizer (SGD with momentum; Adam with Keras's ε)."""
    workload, data = _first_batches(workload_name)
    contestants = _contestants(workload, data)
    before = _test_loss(contestants["brainnet"], workload, data)
    for c in contestants.values():
        c.train(workload.batch_size)  # one step on the whole (one-batch) training set
    after = {name: _test_loss(c, workload, data) for name, c in contestants.items()}
    assert after["brainnet"] != pytest.approx(before, rel=1e-4)  # the step changed the weights
    for name in ("dataloader", "handwritten"):
        assert after[name] == pytest.approx(after["brainnet"], rel=1e-4), name


def test_quick_run_writes_every_contestant_and_ratio(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    status = main(["--quick", "--workloads", "cnn64", "--limit", "512", "--steps", "2", "--device", "cpu",
                   "--in-process-only", "--json", str(out)])
    assert status == 0
    report = json.loads(out.read_text())
    result = report["workloads"]["cnn64"]
    assert result["samples_per_repeat"] == 2 * 64 and result["train_samples"] == 512
    assert report["settings"]["repeats"] == 2
    contestants = result["contestants"]
    assert set(contestants) == set(CONTESTANTS)
    for name, r in contestants.items():
        assert len(r["samples_per_s"]) == 2 and all(v > 0 for v in r["samples_per_s"]), name
        assert r["min"] <= r["median"] <= r["max"]
        assert r["parameters"] == 225_034
    for other in ("dataloader", "handwritten"):
        expected = contestants["brainnet"]["median"] / contestants[other]["median"]
        assert result["ratios"]["throughput"][f"brainnet/{other}"] == pytest.approx(expected)
        per_round = [a / b for a, b in zip(contestants["brainnet"]["samples_per_s"],
                                           contestants[other]["samples_per_s"])]
        assert result["ratios"]["throughput_per_round"][f"brainnet/{other}"] == pytest.approx(per_round)
    assert report["versions"]["torch"] == torch.__version__ and report["machine"]["device"] == "cpu"


def test_fresh_process_reports_first_epoch_accuracy_and_memory() -> None:
    settings = Settings(device="cpu", limit=320, time_to_accuracy=True, max_epochs=2, threads=1)
    result = fresh_run("cnn64", "handwritten", settings, steps=2)
    assert 0 < result["setup_s"] <= result["first_epoch_s"] < 60
    tta = result["time_to_accuracy"]
    assert tta["epochs"] == 2 and not tta["reached"]  # 98 % is out of reach on 320 images
    assert 0.0 <= tta["accuracy"] <= 1.0 and tta["seconds"] > result["first_epoch_s"]
    assert 100 < result["max_rss_mib"] < 8000  # torch alone is a few hundred MiB
    assert result["cuda_max_allocated_mib"] is None


def test_memory_mode_compares_brainnet_run_with_the_hand_written_epoch(tmp_path: Path, capsys) -> None:
    out = tmp_path / "memory.json"
    status = main(["--memory", "--limit", "320", "--device", "cpu", "--threads", "1", "--json", str(out)])
    assert status == 0, capsys.readouterr().err
    result = json.loads(out.read_text())["memory"]
    sides = result["sides"]
    assert set(sides) == {"brainnet run", "handwritten"}
    assert "brainnet.cli run mnist-cnn --epochs 1" in sides["brainnet run"]["command"]
    for entry in sides.values():
        assert 100 < entry["median_mib"] < 8000
    assert result["ratio_brainnet_over_handwritten"] == pytest.approx(
        sides["brainnet run"]["median_mib"] / sides["handwritten"]["median_mib"])
    assert "ratio brainnet run / handwritten" in capsys.readouterr().out


# ------------------------------------------------------------------ errors
def test_too_many_steps_for_the_data_is_refused(capsys) -> None:
    status = main(["--workloads", "cnn64", "--limit", "512", "--steps", "100", "--device", "cpu", "--in-process-only"])
    assert status == 2
    err = capsys.readouterr().err
    assert "bench: workload cnn64 trains 100 steps x batch 64 = 6400 samples per repetition, but the training " \
           "set has 512 (--limit 512). Fix: --steps 8 or a larger --limit." in err


def test_graphed_contestant_needs_cuda(capsys) -> None:
    status = main(["--device", "cpu", "--contestants", "brainnet", "handwritten-graphed"])
    assert status == 2
    assert "bench: handwritten-graphed replays CUDA graphs, expected --device cuda, got --device cpu. " \
           "Fix: --device cuda" in capsys.readouterr().err
    workload, data = _first_batches("cnn64")
    with pytest.raises(ValueError, match=r"handwritten-graphed: expected a CUDA device \(CUDA graphs\), got cpu"):
        GraphedHandwritten(workload, data, CPU, "float32", workload.twin("handwritten"))


def test_time_to_accuracy_needs_the_fresh_processes(capsys) -> None:
    assert main(["--time-to-accuracy", "--in-process-only", "--device", "cpu"]) == 2
    assert "bench: --time-to-accuracy trains each contestant in a new process, expected it without " \
           "--in-process-only, got both. Fix: drop --in-process-only" in capsys.readouterr().err


def test_unknown_workload_is_a_usage_error(capsys) -> None:
    assert main(["--workloads", "cnn65"]) == 2
    assert "invalid choice: 'cnn65'" in capsys.readouterr().err


def test_copy_refuses_a_network_that_is_not_a_twin() -> None:
    brainnet.utils.set_random_seed(0)
    with pytest.raises(TypeError, match=r"copy_from_brainnet: expected a twin .*, got Linear\. Fix: make it with Workload"):
        copy_from_brainnet(WORKLOADS["cnn64"].build_brainnet(), torch.nn.Linear(2, 2))


def test_thin_script_runs_the_same_command() -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: brainnet bench") and "--workloads" in done.stdout


# ------------------------------------------------------- benchmarks/keras_bench.py
def _keras_bench():
    """benchmarks/keras_bench.py as a module (benchmarks/ is not a package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "keras_bench.py"
    spec = importlib.util.spec_from_file_location("keras_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_keras_bench_runs_its_workers_interleaved(tmp_path: Path) -> None:
    """The driver, the worker protocol and the JSON, with brainnet's worker only
    (the Keras environments are not part of the test machine)."""
    out = tmp_path / "keras.json"
    status = _keras_bench().main(["--backends", "--quick", "--limit", "256", "--steps", "2", "--json", str(out)])
    assert status == 0
    result = json.loads(out.read_text())["workloads"]["cnn64"]
    brainnet_result = result["contestants"]["brainnet"]
    assert len(brainnet_result["samples_per_s"]) == 2 and brainnet_result["median"] > 0
    assert brainnet_result["warmup_s"] > 0 and brainnet_result["versions"]["torch"] == torch.__version__
    assert result["samples_per_repeat"] == 128 and brainnet_result["policy"] == "float32"


def test_keras_bench_in_bfloat16_records_it_and_trains_under_the_policy(tmp_path: Path) -> None:
    """--precision bfloat16 reaches brainnet's worker (its model compiled under
    mixed_bfloat16) and the report; the driver's own policy is untouched."""
    from brainnet import mixed_precision

    out = tmp_path / "keras.json"
    status = _keras_bench().main(["--backends", "--quick", "--limit", "256", "--steps", "2", "--json", str(out),
                                  "--precision", "bfloat16"])
    assert status == 0
    report = json.loads(out.read_text())
    assert report["precision"] == "bfloat16" and "bfloat16" in report["command"]
    brainnet_result = report["workloads"]["cnn64"]["contestants"]["brainnet"]
    assert brainnet_result["median"] > 0 and brainnet_result["policy"] == "mixed_bfloat16"
    assert mixed_precision.global_policy().name == "float32"


def test_keras_bench_says_how_to_make_a_missing_environment(tmp_path: Path, capsys) -> None:
    status = _keras_bench().main(["--backends", "jax", "--no-brainnet", "--quick", "--envs", str(tmp_path)])
    assert status == 1
    assert (f"keras_bench: expected an environment for Keras on jax at {tmp_path}/jax/bin/python, found none. "
            f"Fix: bash benchmarks/keras_setup.sh {tmp_path}") in capsys.readouterr().err


def test_fp32_limit_counts_the_seed_cnns_flops() -> None:
    """benchmarks/fp32_limit.py against the count by hand: forward
    2·26·26·32·9·1 + 2·11·11·64·9·32 + 2·1600·128 + 2·128·10, times 3 (forward,
    weight and input gradients) less the first layer's input gradient."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "fp32_limit.py"
    spec = importlib.util.spec_from_file_location("fp32_limit", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    conv1, conv2, dense1, dense2 = 2 * 26 * 26 * 32 * 9, 2 * 11 * 11 * 64 * 9 * 32, 2 * 1600 * 128, 2 * 128 * 10
    total, rows = module.flops_per_training_image()
    assert total == 2 * conv1 + 3 * (conv2 + dense1 + dense2) == 15_396_864
    assert [cost for _, cost in rows] == [2 * conv1, 3 * conv2, 3 * dense1, 3 * dense2]
    rates = module.sgemm_rate(64, 2)
    assert len(rates) == 2 and all(r > 0 for r in rates)


def test_fp32_limit_fit_rounds_in_bfloat16_leave_the_policy_as_it_was() -> None:
    """fp32_limit.py --fit --precision bfloat16: fit() under mixed_bfloat16 in each
    round, a positive fraction of the float32 limit, the global policy float32 after."""
    from brainnet import mixed_precision

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "fp32_limit.py"
    spec = importlib.util.spec_from_file_location("fp32_limit", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    total, _ = module.flops_per_training_image()
    results = module.fit_fractions(total, 64, 1, 128, limit=640, precision="bfloat16")
    assert len(results) == 1 and results[0]["fraction"] > 0 and results[0]["images_per_s"] > 0
    assert mixed_precision.global_policy().name == "float32"


def test_profile_fit_prints_shares_that_add_up() -> None:
    """benchmarks/profile_fit.py: the listed shares are of one total and the
    LSTM's own kernel is among them."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "profile_fit.py"
    done = subprocess.run([sys.executable, str(path), "lstm", "--steps", "2", "--rows", "50"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if " %  " in line]
    shares = [float(line.split("%")[0]) for line in rows]
    assert rows and 0 < sum(shares) <= 100.5
    assert any("lstm" in line.lower() or "rnn" in line.lower() for line in rows)


def test_profile_fit_operator_timer_lists_each_convolution_apart() -> None:
    """benchmarks/profile_fit.py --timer ops: shares of one total, ms per step,
    and each convolution on rows of its own: the second's backward pass, and
    the first's kernel gradient, a matrix product over the 64·26·26 positions
    (``brainnet/layers/_conv_taps.py``)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "profile_fit.py"
    done = subprocess.run([sys.executable, str(path), "cnn64", "--steps", "2", "--rows", "40", "--timer", "ops"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if " %  " in line]
    assert rows and 0 < sum(float(line.split("%")[0]) for line in rows) <= 100.5
    backward = [line for line in rows if "convolution_backward" in line]
    assert len(backward) == 1 and "(64, 64, 11, 11)" in backward[0]
    assert any("aten.mm.default (32, 43264)" in line for line in rows)
    assert all(float(line.split("%  ")[1].split(" ms/step")[0]) > 0 for line in rows)


@pytest.mark.parametrize("workload, first_norm", [
    ("mnist-fast", "(128, 16, 12, 12)"), ("mnist-fast-teaching", "(128, 16, 24, 24)"),
])
def test_profile_fit_takes_the_speed_recipes_network(workload, first_norm) -> None:
    """benchmarks/profile_fit.py mnist-fast: the recipe's network normalizes
    the pooled maps; its earlier order, the full-size ones."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "profile_fit.py"
    done = subprocess.run([sys.executable, str(path), workload, "--steps", "2", "--rows", "60", "--timer", "ops"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    norms = [line for line in done.stdout.splitlines() if "aten.native_batch_norm.default" in line]
    assert len(norms) == 2 and any(first_norm in line for line in norms)


def test_fast_order_runs_each_configuration(mnist_dir) -> None:
    """benchmarks/fast_order.py on a slice: one line per run and a summary per
    configuration, each with its policy's accuracy and time."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "fast_order.py"
    done = subprocess.run([sys.executable, str(path), "--seeds", "0", "--precisions", "float32", "--limit", "2000",
                           "--data-dir", str(mnist_dir.parent)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = [line for line in done.stdout.splitlines() if "accuracy mean" in line]
    assert [line.split()[0] for line in summary] == ["pool-first", "teaching"]
    assert summary[0].endswith("1.000") and all(0.5 < float(line.split("mean ")[1].split()[0]) <= 1 for line in summary)


def test_gpu_check_needs_the_data_dir(tmp_path) -> None:
    """benchmarks/gpu_check.sh stops before any work when BRAINNET_DATA_DIR is not set."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"
    env = {k: v for k, v in os.environ.items() if k != "BRAINNET_DATA_DIR"}
    done = subprocess.run(["bash", str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**env, "OUT": str(tmp_path / "out")})
    assert done.returncode == 2
    assert ("gpu_check: expected BRAINNET_DATA_DIR, the folder that holds mnist/, got it unset. "
            "Fix: BRAINNET_DATA_DIR=../shared/datasets bash benchmarks/gpu_check.sh") in done.stderr


def _speedups(script: str) -> list[float]:
    """Run a benchmarks/ script that compares two implementations in 2 short
    rounds; return the speed-up of each of its rows."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / script
    done = subprocess.run([sys.executable, str(path), "--rounds", "2", "--calls", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if "speed-up" in line]
    return [float(line.split("speed-up ")[1].split(" x")[0]) for line in rows]


def test_dropout_mask_benchmark_reports_both_shapes() -> None:
    """benchmarks/dropout_mask.py runs and prints a speed-up for each shape."""
    speedups = _speedups("dropout_mask.py")
    assert len(speedups) == 2 and all(x > 0 for x in speedups)


def test_optimizer_step_benchmark_reports_every_network() -> None:
    """benchmarks/optimizer_step.py runs and prints a speed-up for each network."""
    speedups = _speedups("optimizer_step.py")
    assert len(speedups) == 3 and all(x > 0 for x in speedups)


def test_conv_passes_benchmark_checks_and_times_both_backward_passes() -> None:
    """benchmarks/conv_passes.py runs (after checking that the shifted products
    agree with oneDNN) and prints a speed-up for each backward pass."""
    speedups = _speedups("conv_passes.py")
    assert len(speedups) == 2 and all(x > 0 for x in speedups)


def test_conv_winograd_benchmark_times_both_block_sizes() -> None:
    """benchmarks/conv_winograd.py runs (after checking both block sizes
    against torch.conv2d) and prints a speed-up for the training pass and for
    the batched products of each."""
    speedups = _speedups("conv_winograd.py")
    assert len(speedups) == 4 and all(x > 0 for x in speedups)



def test_first_block_benchmark_checks_and_times_each_formulation() -> None:
    """benchmarks/first_block.py runs (after checking its three formulations
    against torch.conv2d and max_pool2d) and prints a speed-up for each."""
    speedups = _speedups("first_block.py")
    assert len(speedups) == 3 and all(x > 0 for x in speedups)


@pytest.mark.parametrize("formulation", ["as_operators", "as_chunks", "as_matrix_product", "as_taps"])
def test_first_block_formulations_match_a_naive_numpy_block(formulation) -> None:
    """Each formulation of the benchmark computes p[n,u,v,c] = max over the 2×2
    window of z = b[c] + Σ_{kh,kw} x[n,i+kh,j+kw]·W[c,kh,kw], and the gradients of
    Σ p·g: ∂/∂b[c] = Σ g, ∂/∂W[c,kh,kw] = Σ g · x at each window's (first) maximum
    shifted by (kh, kw); checked here by loops in NumPy on 3 images (one chunk
    and a partial one for chunks of 2)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "first_block.py"
    spec = importlib.util.spec_from_file_location("first_block", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.CHUNK = 2
    x, w, b, grad = module.tensors(3)
    p, gw, gb = module.training_pass(getattr(module, formulation), x, w, b, grad)
    xs, ws, bs, gs = (t.double().numpy() for t in (x[:, 0], w[:, 0], b, grad))
    side, half = module.OUT, module.OUT // 2
    z = np.zeros((3, module.FILTERS, side, side)) + bs[None, :, None, None]
    for kh in range(3):
        for kw in range(3):
            z += ws[None, :, kh, kw, None, None] * xs[:, None, kh:kh + side, kw:kw + side]
    want_p = np.zeros((3, module.FILTERS, half, half))
    want_gw = np.zeros((module.FILTERS, 3, 3))
    for n in range(3):
        for c in range(module.FILTERS):
            for u in range(half):
                for v in range(half):
                    window = z[n, c, 2 * u:2 * u + 2, 2 * v:2 * v + 2]
                    di, dj = np.unravel_index(np.argmax(window), (2, 2))
                    want_p[n, c, u, v] = window[di, dj]
                    i, j = 2 * u + di, 2 * v + dj
                    want_gw[c] += gs[n, c, u, v] * xs[n, i:i + 3, j:j + 3]
    np.testing.assert_allclose(p.numpy(), want_p, rtol=0, atol=1e-5 * np.abs(want_p).max())
    np.testing.assert_allclose(gw[:, 0].numpy(), want_gw, rtol=0, atol=1e-5 * np.abs(want_gw).max())
    np.testing.assert_allclose(gb.numpy(), gs.sum(axis=(0, 2, 3)), rtol=1e-5, atol=1e-5)

@pytest.mark.parametrize("m", [2, 4])
def test_winograd_formulation_matches_a_naive_numpy_convolution(m) -> None:
    """The benchmark's Winograd F(m×m, 3×3) computes y[n,i,j,o] =
    Σ_{kh,kw,c} x[n,i+kh,j+kw,c]·w[o,c,kh,kw], checked here by loops in NumPy."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "conv_winograd.py"
    spec = importlib.util.spec_from_file_location("conv_winograd", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    g = torch.Generator().manual_seed(m)
    x = torch.randn(2, module.SIDE, module.SIDE, module.C_IN, generator=g)
    w = torch.randn(module.C_OUT, module.C_IN, 3, 3, generator=g)
    got = module.Winograd(m)(x, w).numpy()
    xs, ws = x.double().numpy(), w.double().numpy()
    side = module.OUT_SIDE
    want = np.zeros((2, side, side, module.C_OUT))
    for kh in range(3):
        for kw in range(3):
            want += np.einsum("nijc,oc->nijo", xs[:, kh:kh + side, kw:kw + side], ws[:, :, kh, kw])
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max())


def test_rnn_weight_layout_benchmark_moves_every_matrix_of_its_baseline() -> None:
    """benchmarks/rnn_weight_layout.py lays the baseline's six LSTM matrices
    out in Keras's row order (so the two models differ in that alone) and
    prints a speed-up for each batch size, then one for the fused Adam kernel
    on the six strided weights given as views in memory order."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "rnn_weight_layout.py"
    done = subprocess.run([sys.executable, str(path), "--batches", "2", "4", "--rounds", "2", "--calls", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "6 matrices moved to Keras's row order" in done.stdout
    assert "11 weights (6 strided)" in done.stdout
    speedups = [float(line.split("speed-up ")[1].split(" x")[0]) for line in done.stdout.splitlines()
                if "speed-up" in line]
    assert len(speedups) == 3 and all(x > 0 for x in speedups)


@pytest.mark.parametrize("workload, rows", [("lstm", 2), ("cnn64", 1)])
def test_model_step_benchmark_compares_brainnet_with_its_twin(workload, rows) -> None:
    """benchmarks/model_step.py times brainnet's model against the hand-written
    twin (and, for the LSTM, against three nn.LSTM calls)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "model_step.py"
    done = subprocess.run([sys.executable, str(path), workload, "--rounds", "2", "--calls", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    speedups = [float(line.split("speed-up ")[1].split(" x")[0]) for line in done.stdout.splitlines()
                if "speed-up" in line]
    assert len(speedups) == rows and all(x > 0 for x in speedups)


def test_model_step_benchmark_refuses_cuda_without_a_gpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "model_step.py"
    done = subprocess.run([sys.executable, str(path), "--device", "cuda"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "expected a CUDA device" in done.stderr and "Fix:" in done.stderr


def test_fp32_limit_fit_rounds_report_a_fraction_per_round() -> None:
    """benchmarks/fp32_limit.py --fit: one line per round whose fraction is
    that round's fit() rate over its limit, and a median of them."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "fp32_limit.py"
    done = subprocess.run([sys.executable, str(path), "--fit", "--rounds", "2", "--samples", "640", "--limit", "1000",
                           "--size", "128", "--repeats", "2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rounds = [line for line in done.stdout.splitlines() if line.strip().startswith("round ")]
    assert len(rounds) == 2
    for line in rounds:
        limit = float(line.split("limit ")[1].split(" images/s")[0].replace(",", ""))
        rate = float(line.split("fit() ")[1].split(" images/s")[0].replace(",", ""))
        percent = float(line.split("= ")[1].split(" %")[0])
        assert limit > 0 and rate > 0 and percent == pytest.approx(100 * rate / limit, rel=2e-3, abs=0.06)
    assert "median" in done.stdout.splitlines()[-1] and "of the FP32 limit" in done.stdout


def test_fp32_limit_fit_refuses_more_samples_than_images() -> None:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "fp32_limit.py"
    done = subprocess.run([sys.executable, str(path), "--fit", "--rounds", "1", "--samples", "5000", "--limit", "1000",
                           "--size", "64", "--repeats", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "fp32_limit: expected --samples at most 1000 (the training images), got 5000. Fix: --samples 1000." \
        in done.stderr


@pytest.mark.parametrize("script, argument, value, fix", [
    ("optimizer_step.py", "--rounds", "0", "got 0. Fix: 1 or more."),
    ("dropout_mask.py", "--calls", "x", "got 'x'. Fix: a whole number such as 5."),
    ("fp32_limit.py", "--samples", "-3", "got -3. Fix: 1 or more."),
])
def test_benchmark_scripts_refuse_counts_below_one(script, argument, value, fix) -> None:
    """Rounds, calls and sizes are positive integers (a zero would end in a
    median of nothing); brainnet bench takes the same type."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / script
    done = subprocess.run([sys.executable, str(path), argument, value], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"argument {argument}: expected a positive integer, {fix}" in done.stderr


def test_bench_refuses_zero_repeats(capsys) -> None:
    from brainnet.benchmarks.command import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["--repeats", "0"])
    assert "argument --repeats: expected a positive integer, got 0. Fix: 1 or more." in capsys.readouterr().err


def test_small_model_overhead_prints_a_ratio_per_round_and_their_medians() -> None:
    """benchmarks/small_model_overhead.py, one round: a row of per-epoch and
    per-step times with the two ratios, then a median line for each."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "small_model_overhead.py"
    root = str(path.parents[1])
    done = subprocess.run([sys.executable, str(path), "--rounds", "1"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": root})
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    row = lines[1].split()
    assert row[0] == "0" and len(row) == 7 and all(float(v) > 0 for v in row[1:])
    assert float(row[3]) == pytest.approx(float(row[2]) / float(row[1]), abs=0.006)
    medians = [line for line in lines if ": median " in line]
    assert [line.split(":")[0] for line in medians] == ["fit ÷ hand-written loop", "train_on_batch ÷ hand-written step"]
    assert float(medians[0].split("median ")[1].split()[0]) == float(row[3])


def test_cold_start_times_both_scripts_in_fresh_processes() -> None:
    """benchmarks/cold_start.py, one round: a fresh process each for brainnet
    and the hand-written loop, their import and first-epoch times, and
    brainnet's first epoch without importing torch._dynamo (the direct fused
    update), where the hand-written loop's torch.optim step imports it."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "cold_start.py"
    root = str(path.parents[1])
    done = subprocess.run([sys.executable, str(path), "--rounds", "1"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": root})
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split() for line in done.stdout.splitlines()[1:3]]
    assert [r[1] for r in rows] == ["brainnet", "hand-written"]
    assert all(float(r[2]) > 0 and float(r[3]) > 0 for r in rows)
    assert [r[4] for r in rows] == ["False", "True"]
    ratio = done.stdout.split("first epoch, brainnet ÷ hand-written, per round: median ")[1].split()[0]
    assert float(ratio) == pytest.approx(float(rows[0][3]) / float(rows[1][3]), abs=0.002)


def test_busy_machine_prints_both_loads_and_their_ratios() -> None:
    """benchmarks/busy_machine.py, one short round: a line per fit (busy,
    then idle; following the load, fixed, one thread), then a summary per load."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "busy_machine.py"
    root = str(path.parents[1])
    done = subprocess.run([sys.executable, str(path), "--rounds", "1", "--images", "640"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": root})
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    fits = [line for line in lines if " round 0 " in line]
    assert [line.split()[0] for line in fits] == ["busy"] * 3 + ["idle"] * 3
    assert all("images/s, ended on" in line for line in fits)
    assert "one thread" in fits[2] and fits[2].endswith("ended on 1 thread(s)")
    summaries = [line for line in lines if line.startswith(("busy:", "idle:"))]
    assert len(summaries) == 2 and all("following ÷ fixed per round: median" in line for line in summaries)


def test_busy_machine_two_trainings_prints_each_round_and_the_wall_time_ratio() -> None:
    """benchmarks/busy_machine.py --two-trainings, one short round: two
    processes at once per setting, their speeds and the round's wall time."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "busy_machine.py"
    root = str(path.parents[1])
    done = subprocess.run([sys.executable, str(path), "--two-trainings", "--rounds", "1", "--images", "640"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": root})
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("round 0")]
    assert len(rows) == 2 and "following the load" in rows[0] and "fixed threads" in rows[1]
    walls = [float(row.split("both done in ")[1].split()[0]) for row in rows]
    ratio = float(done.stdout.split("per round: median ")[1].split()[0])
    assert ratio == pytest.approx(walls[1] / walls[0], rel=0.1)  # the walls are printed to 0.1 s
