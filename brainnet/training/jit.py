"""``compile(jit_compile=True)``: the training step compiled, or captured as a CUDA graph.

On CUDA, with an optimizer that has a fused CUDA update (SGD, Adam, AdamW),
fit on arrays captures the whole step (batch gathering, forward, loss,
backward, update, metrics' running sums) as one CUDA graph and replays it
(``graphs.CudaGraphStep``; ``begin_graph_step`` makes or reuses it at the
start of each fit). Elsewhere (CPU, another optimizer, a DataLoader, under
torchrun) the forward pass and loss run under ``torch.compile``
(``step_forward``), made once per trainer. ``jit_compile="auto"`` and
``False`` run eagerly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ..layers._layer_metrics import layer_metrics
from .graphs import CudaGraphStep

if TYPE_CHECKING:
    from .trainer import Trainer


def check_jit_compile(value: Any) -> bool | str:
    if value is True or value is False or value == "auto":
        return value
    raise ValueError(
        f"compile: expected jit_compile to be True, False or 'auto', got {value!r}. "
        "Fix: model.compile(..., jit_compile=True) to compile the training step with torch.compile."
    )


def step_forward(trainer: Trainer) -> Any:
    """``Trainer._forward_loss``, compiled when ``jit_compile=True`` (made once)."""
    if not trainer.compiled:
        return trainer._forward_loss
    if trainer._compiled_forward is None:
        import torch._dynamo

        # One compiled graph per model and batch shape; a program (or a test
        # suite) that compiles many models needs more than the default 8.
        if getattr(torch._dynamo.config, "recompile_limit", 64) < 64:
            torch._dynamo.config.recompile_limit = 64
        mode = "reduce-overhead" if trainer.device.type == "cuda" else None
        trainer._compiled_forward = torch.compile(trainer._forward_loss, mode=mode, dynamic=False)
    if trainer.device.type == "cuda":
        torch.compiler.cudagraph_mark_step_begin()  # the last step's outputs are read
    return trainer._compiled_forward


def begin_graph_step(trainer: Trainer) -> None:
    """At the start of fit on arrays: ``trainer.graph_step``, the step as a
    CUDA graph when it can be one (``Trainer.wants_graphs``, an optimizer
    built graph-safe, one process, seeded layers' generators registrable, no
    metric kept by a layer, whose updates run in Python), else None."""
    if trainer.wants_graphs and trainer.optimizer.gradient_accumulation_steps:
        name = type(trainer.optimizer).__name__
        raise ValueError(
            f"fit: expected an optimizer without gradient_accumulation_steps on the CUDA-graph step "
            f"(jit_compile=True on a GPU), got {name}(gradient_accumulation_steps="
            f"{trainer.optimizer.gradient_accumulation_steps}): a captured step runs the same kernels every "
            "batch, and skipping the update on N − 1 batches out of N would need a branch on the device. "
            "Fix: compile(..., jit_compile=False) to accumulate on the eager step, or a batch_size N times "
            "larger without accumulation."
        )
    if trainer.wants_graphs and trainer.optimizer.graph_safe and trainer.parallel.world == 1 \
            and graphable_rng(trainer) and not layer_metrics(trainer.model):  # a layer's metric updates in Python
        if trainer.graph_step is None:  # kept across fit calls: replayed while nothing it holds changed
            trainer.graph_step = CudaGraphStep(trainer._forward_loss, trainer.optimizer, trainer.autocast,
                                               trainer._record, trainer.trackers, trainer._model_tensors,
                                               trainer._cuda_generators, trainer._weighted_metrics)
        trainer.graph_step.begin()
    else:
        trainer.graph_step = None


def model_tensors(trainer: Trainer) -> list[torch.Tensor]:
    """The model's weights and buffers (a graph is captured again when one is replaced)."""
    return [*trainer.model.parameters(), *trainer.model.buffers()]


def cuda_generators(trainer: Trainer) -> list[torch.Generator]:
    """The CUDA generators of seeded layers (augmentation with ``seed=``)."""
    found = (getattr(m, "_generator", None) for m in trainer.model.modules())
    return [g for g in found if isinstance(g, torch.Generator) and g.device.type == "cuda"]


def graphable_rng(trainer: Trainer) -> bool:
    """A graph must register a seeded layer's own generator, which PyTorch
    allows since 2.5 (``CUDAGraph.register_generator_state``); before, such
    a model trains eagerly."""
    seeded = any(getattr(m, "seed", None) is not None and hasattr(m, "_generator") for m in trainer.model.modules())
    return not seeded or hasattr(torch.cuda.CUDAGraph, "register_generator_state")
