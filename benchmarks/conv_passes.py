"""The seed CNN's second convolution, pass by pass, against a formulation as shifted matrix products.

    python benchmarks/conv_passes.py [--rounds 9] [--calls 20]

The second convolution (32 → 64 channels, 3×3, 13×13 inputs at batch 64,
channels-last) holds 87 % of the seed CNN's FLOPs. This times its three
passes as PyTorch runs them in training (oneDNN on the CPU): forward, the
gradient of the input and the gradient of the weights, and reports each
pass's GFLOP/s next to the machine's sgemm rate measured in the same round.

It also times a formulation of the two backward passes written with plain
matrix products, tried as a way past oneDNN's kernels: with the inputs
flattened to rows ``p = (n·13 + y)·13 + x`` and the output gradient padded to
13×13 with zeros, tap ``(kh, kw)`` of the kernel is one product of row
blocks shifted by ``s = 13·kh + kw``:
``∂W[:, :, kh, kw] = Gᵀ[:, :L'] · X[s : s + L']`` and
``∂X[s : s + L'] += G[:L'] · W[:, :, kh, kw]``, nine products each, with no
copy of the inputs (the padding adds 40 % more multiply-adds: 169 rows per
image for 121 outputs). Both formulations are checked to agree before
timing. The speed-up is oneDNN's time over the shifted products' (below 1:
the products are slower); median and range over rounds that alternate
which goes first.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch

from brainnet.benchmarks.command import positive_int
from brainnet.benchmarks.rounds import alternating, per_call, speedup_text, speedups

N, SIDE, C_IN, C_OUT, K = 64, 13, 32, 64, 3
OUT_SIDE = SIDE - K + 1
ROWS = N * SIDE * SIDE
SPAN = ROWS - (K - 1) * SIDE - (K - 1)  # rows whose every shifted partner is inside the batch
SHIFTS = [kh * SIDE + kw for kh in range(K) for kw in range(K)]
FLOPS = 2 * N * OUT_SIDE * OUT_SIDE * C_OUT * C_IN * K * K  # one pass


def tensors() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, C_IN, SIDE, SIDE, generator=g).contiguous(memory_format=torch.channels_last)
    w = torch.randn(C_OUT, C_IN, K, K, generator=g).contiguous(memory_format=torch.channels_last)
    grad = torch.randn(N, C_OUT, OUT_SIDE, OUT_SIDE, generator=g).contiguous(memory_format=torch.channels_last)
    return x, w, grad


def onednn_passes(x: torch.Tensor, w: torch.Tensor, grad: torch.Tensor) -> dict:
    def backward(mask: list[bool]) -> tuple:
        return torch.ops.aten.convolution_backward(grad, x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, mask)

    return {"forward": lambda: torch.conv2d(x, w),
            "input gradient": lambda: backward([True, False, False])[0],
            "weight gradient": lambda: backward([False, True, False])[1]}


def shifted_passes(x: torch.Tensor, w: torch.Tensor, grad: torch.Tensor) -> dict:
    rows = x.permute(0, 2, 3, 1).reshape(ROWS, C_IN)  # channels-last memory: a view
    taps = w.permute(2, 3, 0, 1)  # (kh, kw, out, in)

    def padded_grad() -> torch.Tensor:
        padded = torch.zeros(N, SIDE, SIDE, C_OUT)
        padded[:, :OUT_SIDE, :OUT_SIDE] = grad.permute(0, 2, 3, 1)
        return padded.view(ROWS, C_OUT)

    def weight_gradient() -> torch.Tensor:
        g = padded_grad()[:SPAN].t()
        out = torch.empty(K, K, C_OUT, C_IN)
        for i, s in enumerate(SHIFTS):
            torch.mm(g, rows[s:s + SPAN], out=out[i // K, i % K])
        return out.permute(2, 3, 0, 1)

    def input_gradient() -> torch.Tensor:
        g = padded_grad()[:SPAN]
        out = torch.zeros(ROWS, C_IN)
        for i, s in enumerate(SHIFTS):
            out[s:s + SPAN].addmm_(g, taps[i // K, i % K])
        return out.view(N, SIDE, SIDE, C_IN).permute(0, 3, 1, 2)

    return {"input gradient": input_gradient, "weight gradient": weight_gradient}



def sgemm_gflops(size: int = 1024, calls: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    return 2 * size**3 / per_call(lambda: a @ b, calls) / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=positive_int, default=9)
    parser.add_argument("--calls", type=positive_int, default=20)
    args = parser.parse_args(argv)
    x, w, grad = tensors()
    mine, theirs = shifted_passes(x, w, grad), onednn_passes(x, w, grad)
    for name in mine:
        a, b = theirs[name](), mine[name]()
        error = ((a - b).abs().max() / a.abs().max()).item()
        if error > 1e-5:
            print(f"conv_passes: the shifted products disagree with oneDNN on the {name}: relative error {error:.1e}",
                  file=sys.stderr)
            return 1
    for fn in [*theirs.values(), *mine.values()]:
        per_call(fn, 2)  # warm-up
    measures = {"sgemm": sgemm_gflops}
    measures.update({f"oneDNN {k}": lambda f=f: per_call(f, args.calls) for k, f in theirs.items()})
    measures.update({f"shifted {k}": lambda f=f: per_call(f, args.calls) for k, f in mine.items()})
    times = alternating(measures, args.rounds)
    rates = times["sgemm"]
    print(f"conv 32->64, 3x3, 13x13, batch {N}, channels-last, CPU, {torch.get_num_threads()} threads, "
          f"{args.rounds} rounds of {args.calls} calls; {FLOPS / 1e6:.0f} MFLOP per pass; "
          f"sgemm {statistics.median(rates):.0f} GFLOP/s (rounds {min(rates):.0f}-{max(rates):.0f})")
    for name in theirs:
        t = statistics.median(times[f"oneDNN {name}"])
        print(f"  oneDNN {name}: {t * 1e3:.3f} ms, {FLOPS / t / 1e9:.0f} GFLOP/s")
    for name in mine:
        onednn, shifted = times[f"oneDNN {name}"], times[f"shifted {name}"]
        print(f"  {name}: oneDNN {statistics.median(onednn) * 1e3:.3f} ms, shifted products "
              f"{statistics.median(shifted) * 1e3:.3f} ms; {speedup_text(speedups(onednn, shifted))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
