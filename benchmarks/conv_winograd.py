"""The seed CNN's second convolution in Winograd's minimal filtering, against oneDNN.

    python benchmarks/conv_winograd.py [--rounds 7] [--calls 20] [--compile]

The FP32-limit goal of issue 4 counts a convolution's multiply-adds as the
direct formula does. Winograd's algorithm F(m×m, 3×3) computes an m×m block
of outputs from an (m+2)×(m+2) block of inputs with (m+2)² products per
channel pair instead of 9·m²: the input block d, the kernel g and the
products pass through fixed matrices,

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A

and the ⊙ summed over input channels is one matrix product per position of
the (m+2)×(m+2) block (Lavin and Gray, "Fast Algorithms for Convolutional
Neural Networks", 2016; the matrices below are theirs for m = 2 and m = 4).
For the 11×11 outputs of the second convolution (padded to 12×12) that is
1.9 × (m = 2) and 3.4 × (m = 4) fewer multiply-adds than the direct formula.

This writes the algorithm with PyTorch operators: the input blocks are
gathered by strided slices, each transform is one matrix product with the
Kronecker product of the two 1-D matrices, and the products of the
positions are one batched product (``torch.bmm``); autograd derives the
backward pass, whose two batched products have the forward's size. It
checks the result against ``torch.conv2d`` and then times a training pass
(forward, input gradient, weight gradient) of each against oneDNN's, in
rounds that alternate the order, and the batched products alone (the part
the algorithm shrinks). A speed-up below 1 means slower than oneDNN.
``--compile`` adds each formulation passed through ``torch.compile``
(TorchInductor writes the transforms as fused C++ loops; the time it takes
to compile is printed apart).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from brainnet.benchmarks.command import positive_int
from brainnet.benchmarks.rounds import alternating, per_call, speedup_text, speedups

N, SIDE, C_IN, C_OUT = 64, 13, 32, 64
OUT_SIDE = SIDE - 2


def matrices(m: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bᵀ, G and Aᵀ of F(m, 3) for m = 2 or 4."""
    if m == 2:
        bt = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
        g = [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]]
        at = [[1, 1, 1, 0], [0, 1, -1, -1]]
    else:
        bt = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
              [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
        g = [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
             [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]
        at = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]
    return tuple(torch.tensor(a, dtype=torch.float32) for a in (bt, g, at))


class Winograd:
    """A valid 3×3 convolution of (N, H, W, C_in) inputs by F(m×m, 3×3)."""

    def __init__(self, m: int):
        bt, g, at = matrices(m)
        self.m, self.a = m, m + 2
        self.tiles = -(-OUT_SIDE // m)  # blocks per side
        self.bb, self.gg, self.aa = torch.kron(bt, bt), torch.kron(g, g), torch.kron(at, at)

    def input_blocks(self, x: torch.Tensor) -> torch.Tensor:
        """(a², N·t·t, C_in): Bᵀ d B of every block, position first."""
        m, a, t = self.m, self.a, self.tiles
        padded = F.pad(x, (0, 0, 0, t * m + 2 - SIDE, 0, t * m + 2 - SIDE))
        rows = torch.stack([padded[:, i:i + t * m:m] for i in range(a)])
        blocks = torch.stack([rows[:, :, :, j:j + t * m:m] for j in range(a)], 1)  # (a, a, N, t, t, C)
        return (self.bb @ blocks.reshape(a * a, -1)).view(a * a, -1, x.shape[-1])

    def kernel(self, w: torch.Tensor) -> torch.Tensor:
        """(a², C_in, C_out): G g Gᵀ of every channel pair."""
        return (self.gg @ w.permute(2, 3, 1, 0).reshape(9, -1)).view(self.a * self.a, w.shape[1], w.shape[0])

    def outputs(self, products: torch.Tensor) -> torch.Tensor:
        m, t = self.m, self.tiles
        y = (self.aa @ products.reshape(self.a * self.a, -1)).view(m, m, -1, t, t, products.shape[-1])
        y = y.permute(2, 3, 0, 4, 1, 5).reshape(-1, t * m, t * m, products.shape[-1])
        return y[:, :OUT_SIDE, :OUT_SIDE]

    def __call__(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.outputs(torch.bmm(self.input_blocks(x), self.kernel(w)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=positive_int, default=7)
    parser.add_argument("--calls", type=positive_int, default=20)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of each formulation")
    args = parser.parse_args(argv)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(N, SIDE, SIDE, C_IN, generator=gen)  # channels-last memory, as brainnet keeps it
    w = torch.randn(C_OUT, C_IN, 3, 3, generator=gen)
    grad = torch.randn(N, OUT_SIDE, OUT_SIDE, C_OUT, generator=gen)
    nchw = x.permute(0, 3, 1, 2).requires_grad_()  # the same memory, seen as NCHW channels-last
    w_cl = w.contiguous(memory_format=torch.channels_last).requires_grad_()
    reference = torch.conv2d(nchw, w_cl).permute(0, 2, 3, 1)

    def onednn() -> None:
        torch.conv2d(nchw, w_cl).backward(grad.permute(0, 3, 1, 2))

    measures = {"oneDNN": lambda: per_call(onednn, args.calls)}
    for m in (2, 4):
        algo = Winograd(m)
        xw, ww = x.clone().requires_grad_(), w.clone().requires_grad_()
        error = ((algo(xw, ww) - reference).abs().max() / reference.abs().max()).item()
        if error > 1e-4:
            print(f"conv_winograd: F({m}x{m}, 3x3) disagrees with torch.conv2d: relative error {error:.1e}",
                  file=sys.stderr)
            return 1
        blocks, kern = algo.input_blocks(x), algo.kernel(w)
        out_grad = torch.randn(blocks.shape[0], blocks.shape[1], C_OUT, generator=gen)

        def training_pass(algo=algo, xw=xw, ww=ww) -> None:
            algo(xw, ww).backward(grad)

        def products(blocks=blocks, kern=kern, out_grad=out_grad) -> None:
            torch.bmm(blocks, kern)
            torch.bmm(out_grad, kern.transpose(1, 2))
            torch.bmm(blocks.transpose(1, 2), out_grad)

        measures[f"F({m}x{m}, 3x3)"] = lambda f=training_pass: per_call(f, args.calls)
        if args.compile:
            compiled = torch.compile(algo)

            def compiled_pass(compiled=compiled, xw=xw, ww=ww) -> None:
                compiled(xw, ww).backward(grad)

            start = time.perf_counter()
            compiled_pass()
            print(f"torch.compile of F({m}x{m}, 3x3): first call {time.perf_counter() - start:.1f} s")
            measures[f"F({m}x{m}, 3x3) compiled"] = lambda f=compiled_pass: per_call(f, args.calls)
        measures[f"F({m}x{m}, 3x3) products only"] = lambda f=products: per_call(f, args.calls)
    for fn in measures.values():
        fn()  # warm-up
    times = alternating(measures, args.rounds)
    base = times["oneDNN"]
    print(f"conv 32->64, 3x3, 13x13, batch {N}, channels-last, CPU, {torch.get_num_threads()} threads, "
          f"{args.rounds} rounds of {args.calls} training passes (forward, input and weight gradients); "
          f"oneDNN {statistics.median(base) * 1e3:.3f} ms")
    for name, t in times.items():
        if name != "oneDNN":
            print(f"  {name}: {statistics.median(t) * 1e3:.3f} ms; against oneDNN {speedup_text(speedups(base, t))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
