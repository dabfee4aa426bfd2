"""The training step as one CUDA graph: forward, loss, backward and update.

On a GPU a small network's step is a few hundred microseconds of kernels and
about as much Python and launch overhead. Capturing the whole step once and
replaying it removes the overhead: each full batch is copied into the graph's
input buffers and the graph is replayed (one launch). Used by ``fit`` when the
model is compiled with ``jit_compile=True`` on a CUDA device and the optimizer
has a fused CUDA update (SGD, Adam, AdamW); the learning rate then lives in a
device tensor that the graph reads, so schedules and callbacks that change it
work as before.

What is exact and what is not:

* The first ``WARMUP`` steps run eagerly (on a side stream, as CUDA graph
  capture requires: lazy state such as momentum buffers is created there).
* A batch of another shape (the last, smaller batch of an epoch) runs eagerly
  on the same weights and optimizer state.
* Metrics are updated eagerly after each replay from the graph's outputs.
* The arithmetic is the eager step's; results match it to float rounding
  (kernels may be chosen differently), not bit for bit.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import torch

WARMUP = 3  # eager steps before capture


class CudaGraphStep:
    """Runs training steps, capturing the step as a CUDA graph after ``WARMUP``.

    Args:
        forward_loss: ``(xs, ys) -> (loss, per-output losses, predictions)``.
        optimizer: a brainnet optimizer built with ``graph_safe=True``.
        autocast: ``cache_enabled -> context manager`` for the forward pass.
    """

    def __init__(self, forward_loss: Callable, optimizer: Any, autocast: Callable[[bool], Any]) -> None:
        self.forward_loss = forward_loss
        self.optimizer = optimizer
        self.autocast = autocast
        self.graph: torch.cuda.CUDAGraph | None = None
        self.shapes: list[tuple[int, ...]] | None = None  # of the full batch (the first seen)
        self.static: list[torch.Tensor] = []
        self.outputs: Any = None
        self.eager_steps = 0
        self.replays = 0

    def __call__(self, xs: list[torch.Tensor], ys: list[torch.Tensor]) -> Any:
        shapes = [tuple(t.shape) for t in xs + ys]
        if self.shapes is None:
            self.shapes = shapes
        if shapes != self.shapes:  # the ragged last batch
            return self._eager(xs, ys, side_stream=False)
        if self.graph is None:
            if self.eager_steps < WARMUP:
                return self._eager(xs, ys, side_stream=True)
            self._capture(xs, ys)
        for buffer, t in zip(self.static, xs + ys):
            buffer.copy_(t)
        self.optimizer.set_step_rate()
        self.graph.replay()
        self.optimizer.iterations += 1
        self.replays += 1
        return self.outputs

    def _eager(self, xs: list[torch.Tensor], ys: list[torch.Tensor], side_stream: bool) -> Any:
        self.eager_steps += 1
        stream = torch.cuda.Stream() if side_stream else None
        if stream is not None:
            stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
            self.optimizer.zero_grad()
            with self.autocast(True):
                loss, losses, preds = self.forward_loss(xs, ys)
            loss.backward()
            self.optimizer.step()
        if stream is not None:
            torch.cuda.current_stream().wait_stream(stream)
        return loss.detach(), [l.detach() for l in losses], [p.detach() for p in preds]

    def _capture(self, xs: list[torch.Tensor], ys: list[torch.Tensor]) -> None:
        self.static = [t.clone() for t in xs + ys]
        sx, sy = self.static[:len(xs)], self.static[len(xs):]
        torch.cuda.synchronize()
        self.optimizer.zero_grad()  # the graph's backward allocates the gradients it writes
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            with self.autocast(False):  # autocast's cast cache must be off while capturing
                loss, losses, preds = self.forward_loss(sx, sy)
            loss.backward()
            self.optimizer.apply_update()
        self.graph = graph
        self.outputs = (loss.detach(), [l.detach() for l in losses], [p.detach() for p in preds])

