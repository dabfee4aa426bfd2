"""The seed CNN's two 2x2 max-poolings, forward and backward, in three
formulations: PyTorch's ``max_pool2d`` on channels-last tensors (brainnet's
layout), on channels-first tensors, and as a reshape and ``amax``; float32
and bfloat16, batch 64, the mean of 200 timings after 10 warm-up runs.

    python benchmarks/pool_layouts.py
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

SHAPES = ((64, 32, 26, 26), (64, 64, 11, 11))  # (batch, channels, height, width) after each convolution


def mean_ms(step, x: torch.Tensor, n: int = 200) -> float:
    for _ in range(10):
        step(x)
    start = time.perf_counter()
    for _ in range(n):
        step(x)
    return (time.perf_counter() - start) / n * 1e3


def max_pool(x: torch.Tensor) -> None:
    y = F.max_pool2d(x, 2)
    y.backward(torch.ones_like(y))
    x.grad = None


def reshape_amax(x: torch.Tensor) -> None:
    _, _, h, w = x.shape
    h, w = h // 2 * 2, w // 2 * 2
    y = x[:, :, :h, :w].unflatten(3, (w // 2, 2)).unflatten(2, (h // 2, 2)).amax(dim=(3, 5))
    y.backward(torch.ones_like(y))
    x.grad = None


def main() -> None:
    torch.manual_seed(0)
    print(f"{torch.get_num_threads()} threads; ms per forward and backward pass")
    for dtype in (torch.float32, torch.bfloat16):
        for shape in SHAPES:
            for layout in ("channels-last", "channels-first"):
                x = torch.randn(*shape, dtype=dtype)
                if layout == "channels-last":
                    x = x.contiguous(memory_format=torch.channels_last)
                x.requires_grad_(True)
                print(f"{str(dtype):15s} {str(shape):18s} {layout:15s} max_pool2d {mean_ms(max_pool, x):7.3f}  "
                      f"reshape+amax {mean_ms(reshape_amax, x):7.3f}")


if __name__ == "__main__":
    main()
