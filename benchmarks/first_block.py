"""The seed CNN's first block, convolution then max-pooling, against three formulations meant to read less memory.

    python benchmarks/first_block.py [--rounds 9] [--calls 20]

The first convolution (1 → 32 channels, 3×3, on 28×28 images at batch 64)
holds 5 % of the seed CNN's FLOPs, but its output, 64 × 26 × 26 × 32 values
(5.5 MB in float32), is written by the convolution, read by the 2×2
max-pooling, and in the backward pass filled with zeros, scattered into and
read again: that block is bound by memory, not by arithmetic. brainnet pools
the pre-activation before the ReLU (``brainnet/models/_fusion.py``), so the
block is::

    z[n, i, j, c] = b[c] + Σ_{kh, kw} x[n, i + kh, j + kw] · W[c, kh, kw]
    p[n, u, v, c] = max_{0 ≤ di, dj < 2} z[n, 2u + di, 2v + dj, c]

and the training step needs ``p``, ∂L/∂W and ∂L/∂b (the images need no
gradient). This times that training pass (forward, then backward from a
fixed ∂L/∂p) as PyTorch's operators compute it (``torch.conv2d`` and
``max_pool2d`` on channels-last tensors, oneDNN's kernels on the CPU; what
brainnet ran until 2026-12-06) against:

* ``chunks of 16``: the same two operators on 16 images at a time, in one
  ``torch.autograd.Function`` whose backward pass goes chunk by chunk too,
  so that each chunk's map (1.4 MB) can stay in the core's cache between the
  convolution and the pooling;
* ``matrix product``: the 9 shifted pixels of every output position
  (``unfold``, 64 × 676 × 9 values) times the (9, 32) kernel, one ``addmm``
  whose (N·26·26, 32) result is already the channels-last map; autograd
  derives ∂L/∂W as one more product;
* ``taps and a row of ones``: the same product with the pixels gathered tap
  by tap (``torch.stack`` of the nine shifted 26×26 windows and a plane of
  ones, a (10, N·26·26) matrix whose rows are contiguous, far cheaper than
  ``unfold``'s copy) and the bias as the kernel's tenth column, so that the
  backward pass computes ∂L/∂W and ∂L/∂b in one product, reading the
  map's gradient once, as oneDNN's convolution backward does. This one is
  brainnet's own code (``brainnet/layers/_conv_taps.py``), which its
  ``Conv2D`` runs in training for such a layer since it was measured here.

Each is checked against PyTorch's operators before timing (the pooled map
and both gradients). Rounds alternate the order; printed: milliseconds per
training pass (median over rounds) and each formulation's speed-up over
PyTorch's operators, round by round (below 1: slower).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Callable

import torch
import torch.nn.functional as F

from brainnet import _malloc
from brainnet.layers import _conv_taps
from brainnet.benchmarks.command import positive_int
from brainnet.benchmarks.rounds import alternating, per_call, speedup_text, speedups
from brainnet.layers._spatial import in_memory_format

N, SIDE, FILTERS, K, CHUNK = 64, 28, 32, 3, 16
OUT = SIDE - K + 1  # 26


def tensors(n: int = N) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images as brainnet's Conv2D sees them ((N, 28, 28, 1) moved to (N, 1, 28, 28)),
    the kernel in its channels-last memory, the bias, and a fixed ∂L/∂p."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, SIDE, SIDE, 1, generator=g).movedim(-1, 1)
    w = in_memory_format(torch.randn(FILTERS, 1, K, K, generator=g), torch.channels_last)
    b = torch.randn(FILTERS, generator=g)
    grad = torch.randn(n, OUT // 2, OUT // 2, FILTERS, generator=g).movedim(-1, 1)
    return x, w, b, grad


def as_operators(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(F.conv2d(x, w, b), 2)


class Chunked(torch.autograd.Function):
    """Convolution and pooling on ``chunk`` images at a time, forward and backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, chunk: int) -> torch.Tensor:
        pooled, where = [], []
        for xc in x.split(chunk):
            p, i = torch.ops.aten.max_pool2d_with_indices(F.conv2d(xc, w, b), [2, 2], [2, 2])
            pooled.append(p)
            where.append(i)
        ctx.chunk = chunk
        ctx.save_for_backward(x, w, *where)
        return torch.cat(pooled).contiguous(memory_format=torch.channels_last)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple:
        x, w, *where = ctx.saved_tensors
        grad_w, grad_b = torch.zeros_like(w), torch.zeros(w.shape[0])
        for xc, gc, i in zip(x.split(ctx.chunk), grad.split(ctx.chunk), where):
            shape = torch.empty(xc.shape[0], w.shape[0], OUT, OUT).contiguous(memory_format=torch.channels_last)
            gz = torch.ops.aten.max_pool2d_with_indices_backward(gc, shape, [2, 2], [2, 2], [0, 0], [1, 1], False, i)
            _, gw, gb = torch.ops.aten.convolution_backward(gz, xc, w, [w.shape[0]], [1, 1], [0, 0], [1, 1], False,
                                                            [0, 0], 1, [False, True, True])
            grad_w += gw
            grad_b += gb
        return None, grad_w, grad_b, None


def as_chunks(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return Chunked.apply(x, w, b, CHUNK)


def as_matrix_product(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    patches = x.reshape(n, SIDE, SIDE).unfold(1, K, 1).unfold(2, K, 1).reshape(n * OUT * OUT, K * K)
    z = torch.addmm(b, patches, w.reshape(w.shape[0], K * K).t())  # (N·26·26, 32): channels-last rows
    return F.max_pool2d(z.view(n, OUT, OUT, -1).movedim(-1, 1), 2)


def as_taps(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    z = _conv_taps.convolve(x.movedim(1, -1), w, b)  # (N, 26, 26, 32)
    return F.max_pool2d(z.movedim(-1, 1), 2)


FORMULATIONS: dict[str, Callable] = {"chunks of 16": as_chunks, "matrix product": as_matrix_product,
                                     "taps and a row of ones": as_taps}


def training_pass(block: Callable, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor,
                  grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pooled map, ∂L/∂W and ∂L/∂b of one forward and backward pass."""
    w, b = w.detach().requires_grad_(), b.detach().requires_grad_()
    p = block(x, w, b)
    gw, gb = torch.autograd.grad(p, (w, b), grad)
    return p.detach(), gw, gb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=positive_int, default=9)
    parser.add_argument("--calls", type=positive_int, default=20)
    args = parser.parse_args(argv)
    _malloc.keep_freed_memory()  # as fit() does: freed maps reused, not handed back to the kernel
    x, w, b, grad = tensors()
    reference = training_pass(as_operators, x, w, b, grad)
    for name, block in FORMULATIONS.items():
        for what, a, c in zip(("pooled map", "weight gradient", "bias gradient"),
                              reference, training_pass(block, x, w, b, grad)):
            error = ((a - c).abs().max() / a.abs().max()).item()
            if error > 1e-5:
                print(f"first_block: {name} disagrees with torch.conv2d and max_pool2d on the {what}: "
                      f"relative error {error:.1e}", file=sys.stderr)
                return 1
    blocks = {"operators": as_operators, **FORMULATIONS}
    measures = {name: (lambda block=block: per_call(lambda: training_pass(block, x, w, b, grad), args.calls))
                for name, block in blocks.items()}
    for measure in measures.values():
        measure()  # warm-up
    times = alternating(measures, args.rounds)
    print(f"conv 1->32, 3x3, 28x28, then 2x2 max-pooling, batch {N}, channels-last, CPU, "
          f"{torch.get_num_threads()} threads, {args.rounds} rounds of {args.calls} training passes")
    print(f"  torch.conv2d, max_pool2d: {statistics.median(times['operators']) * 1e3:.3f} ms "
          f"(rounds {min(times['operators']) * 1e3:.3f}-{max(times['operators']) * 1e3:.3f})")
    for name in FORMULATIONS:
        print(f"  {name}: {statistics.median(times[name]) * 1e3:.3f} ms; "
              f"{speedup_text(speedups(times['operators'], times[name]))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
