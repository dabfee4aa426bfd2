"""The processes a trainer's loop runs on (``DataParallel``): the batches'
shares, the gradients' all-reduce, the epoch's sums and the agreed stops.
What it guarantees is written in ``brainnet.distributed``'s docstring; the
helpers it calls (who am I, joining the group) live there.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from . import distributed
from .layers.normalization import BatchNormalization

_TORCH_BATCH_NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)


class DataParallel:
    """The processes a trainer's loop runs on; inert (every method trivial)
    in a single process.

    The trainer calls it at fixed points: ``start`` when fit or evaluate
    begins, ``shard`` for each batch, ``reduce_gradients`` between backward
    and the update, ``end_epoch`` before reading an epoch's logs, and
    ``stop_requested`` / ``agree_stop`` where the loop may stop.
    """

    def __init__(self) -> None:
        self.world, self.rank = 1, 0
        self.device = torch.device("cpu")
        self.weight = 1.0  # this process's share of the current global batch
        self._control: Any = None
        self._params: list[torch.Tensor] = []
        self._by_dtype: list[tuple[torch.dtype, list[int]]] = []  # the weights' indices, per dtype
        self._flags: dict[tuple, torch.Tensor] = {}  # (gradients present, dtype) -> flags on the device
        self._pending: tuple[Any, torch.Tensor] | None = None  # the stop flags' all-reduce under way (CUDA)
        self._fold = True  # on the CPU the stop flags ride on the gradients' all-reduce
        self._requests = [0.0, 0.0]  # this process's (stop_training, Ctrl-C), to send with the next gradients
        self._agreed: list[float] | None = None  # the sums of everyone's, from the last gradients' all-reduce

    def start(self, trainer: Any, batch_size: int | None, broadcast: bool = True) -> None:
        """Join the processes (if torchrun started several), check the global
        ``batch_size`` and (``broadcast``) give every process rank 0's weights.

        Raises:
            ValueError: a batch size the processes do not divide, or a
                process group whose backend cannot reach the model's device.
        """
        self.world = distributed.world_size()
        if self.world == 1:
            self.rank = 0
            return
        if batch_size is not None:
            distributed.check_batch_size(batch_size, self.world)
        self.device = trainer.device
        if not dist.is_initialized():
            distributed.init_process_group(self.device)
        elif dist.get_backend() == "nccl" and self.device.type != "cuda":
            raise ValueError(
                f"fit: the process group uses nccl, which reduces CUDA tensors only, got a model on "
                f"{self.device}. Fix: model.compile(..., device='cuda'), or let brainnet start the "
                "group (gloo on the CPU)."
            )
        self.rank = dist.get_rank()
        self._control = distributed._control_group()
        self._pending, self._fold, self._requests, self._agreed = None, self.device.type == "cpu", [0.0, 0.0], None
        self._flags = {}
        if trainer.optimizer is not None and trainer.optimizer.built:
            self._params = [p for g in trainer.optimizer.torch_optimizer.param_groups for p in g["params"]]
            dtypes = sorted({p.dtype for p in self._params}, key=str)
            self._by_dtype = [(d, [i for i, p in enumerate(self._params) if p.dtype == d]) for d in dtypes]
        if broadcast:
            self._broadcast(list(trainer.model.state_dict().values()))

    # ------------------------------------------------------------ batches
    def shard(self, start: int, stop: int) -> slice:
        """This process's part of the global batch ``[start, stop)``; sets
        ``weight`` to its share of it."""
        if self.world == 1:
            return slice(start, stop)
        lo, hi = distributed.split(stop - start, self.world, self.rank)
        self.weight = (hi - lo) / (stop - start)
        return slice(start + lo, start + hi)

    def shard_arrays(self, *groups: list[torch.Tensor]) -> tuple[list, ...]:
        """This process's contiguous part of evaluation arrays (each group a
        list of arrays with the same samples: inputs, labels, sample weights)."""
        if self.world == 1:
            return groups
        part = slice(*distributed.split(groups[0][0].shape[0], self.world, self.rank))
        return tuple([t[part] for t in group] for group in groups)

    def gather_ints(self, values: list[int]) -> list[tuple[int, ...]]:
        """Every process's ``values``, by rank (on the gloo group: no wait for the GPU)."""
        here = torch.tensor(values, dtype=torch.int64)
        every = [torch.zeros_like(here) for _ in range(self.world)]
        dist.all_gather(every, here, group=self._control)
        return [tuple(t.tolist()) for t in every]

    def same_order(self, order: torch.Tensor) -> torch.Tensor:
        """Rank 0's permutation of the samples, in every process."""
        if self.world > 1:
            dist.broadcast(order, 0)
        return order

    def reduce_gradients(self) -> None:
        """Replace each process's gradient by Σ_r weight_r · gradient_r (the
        gradient of the global batch's mean loss), in one all-reduce per
        dtype; a weight that no process gave a gradient keeps none."""
        if self.world == 1:
            return
        grads = [p.grad for p in self._params]
        present = tuple(g is not None for g in grads)
        for group, (dtype, index) in enumerate(self._by_dtype):
            key = (present, dtype)
            if key not in self._flags:  # made once per pattern, so no copy to the device per step
                self._flags[key] = torch.tensor([present[i] for i in index], dtype=dtype, device=self.device)
            requests = [torch.tensor(self._requests, dtype=dtype)] if self._fold and group == 0 else []
            # The gradients, then who had one, then (CPU) the stop requests.
            flat = torch.cat([grads[i].reshape(-1) if present[i] else self._params[i].new_zeros(self._params[i].numel())
                              for i in index] + [self._flags[key]] + requests)
            extra = len(index) + 2 * len(requests)
            if self.weight != 1.0:
                flat[:-extra].mul_(self.weight)
            dist.all_reduce(flat)
            if requests:
                self._agreed = flat[-2:].tolist()
            # Read the flags only where this process lacks a gradient (rare: an
            # empty part, an unused weight), since reading waits for the device.
            anyone = (flat[-extra:len(flat) - extra + len(index)].tolist() if not all(present[i] for i in index)
                      else [1.0] * len(index))
            offset = 0
            for i, had in zip(index, anyone):
                p = self._params[i]
                part = flat[offset:offset + p.numel()].view(p.shape)
                offset += p.numel()
                if grads[i] is not None:
                    grads[i].copy_(part)
                elif had:
                    p.grad = torch.empty_like(p).copy_(part)  # in the weight's layout (channels-last kernels)

    def idle_step(self, trainer: Any) -> torch.Tensor:
        """The step of a process whose part of a (last, small) global batch is
        empty: no forward pass, a zero gradient in the all-reduce, the same
        update as the others. Returns a zero loss (nothing was computed)."""
        self.weight = 0.0
        trainer.optimizer.zero_grad()
        self.reduce_gradients()
        trainer.optimizer.step()
        return torch.zeros((), device=self.device)

    # ------------------------------------------------------------ epochs
    def end_epoch(self, trainer: Any) -> None:
        """Add the epoch's loss and metric sums over processes (every process
        then holds the totals) and average BatchNormalization's moving
        statistics."""
        if self.world == 1:
            return
        self.sum_metrics(trainer)
        stats = [t for m in trainer.model.modules() for t in _moving_statistics(m)]
        if stats:
            flat = torch.cat([t.detach().reshape(-1) for t in stats])
            dist.all_reduce(flat)
            flat /= self.world
            offset = 0
            with torch.no_grad():
                for t in stats:
                    t.copy_(flat[offset:offset + t.numel()].view(t.shape))
                    offset += t.numel()

    def sum_metrics(self, trainer: Any, onto_rank0: bool = False) -> None:
        """Add the running sums (total, count) of the loss and metrics over
        processes; every process gets them, or (``onto_rank0``) rank 0 gets
        them and the others start from zero (a mid-epoch backup)."""
        if self.world == 1:
            return
        trackers = trainer.trackers()
        # A total is one number, or (Precision, Recall, AUC) a tensor of confusion counts.
        parts = [torch.as_tensor(v, dtype=torch.float64, device=self.device).reshape(-1)
                 for m in trackers for v in (m.total, m.count)]
        sums = torch.cat(parts)
        dist.all_reduce(sums)
        pieces = sums.split([p.numel() for p in parts])
        values = sums.tolist()
        at = 0
        for i, m in enumerate(trackers):
            size = parts[2 * i].numel()
            if onto_rank0 and self.rank != 0:
                m.reset_state()
            elif size == 1:
                m.total, m.count = values[at], values[at + 1]
            else:
                m.total, m.count = pieces[2 * i].reshape(m.total.shape).clone(), values[at + size]
            at += size + 1

    def same_start(self, trainer: Any, start: dict[str, int], order: torch.Tensor | None) -> tuple[dict, Any]:
        """Check that every process begins at the same epoch and batch (a
        restored backup must be the same everywhere) and, mid-epoch, use
        rank 0's permutation and keep the restored sums on rank 0 only.

        Raises:
            ValueError: the processes would start at different places.
        """
        if self.world == 1:
            return start, order
        places = self.gather_ints([start["epoch"], start["step"]])
        if len(set(places)) > 1:
            where = ", ".join(f"rank {r}: epoch {e + 1} batch {s}" for r, (e, s) in enumerate(places))
            raise ValueError(
                f"fit: expected every process to start at the same epoch and batch, got {where} "
                "(a BackupAndRestore backup that only some processes can read?). Fix: put backup_dir "
                "on a file system every machine shares, or delete the backup everywhere."
            )
        if order is not None and (start["step"] > 0 or start.get("pass_start", 0) > 0):
            order = self.same_order(order)
        if start["step"] > 0:
            if self.rank != 0:
                for m in trainer.trackers():
                    m.reset_state()
        return start, order

    # ------------------------------------------------------------ stopping
    def stop_requested(self, trainer: Any, ctrl_c: Any) -> bool:
        """After each batch: whether to stop now. One process: its own
        ``stop_training`` or Ctrl-C. Several: what they agreed about the
        previous batch's requests, agreed while this batch ran (on the CPU
        they travel with this batch's gradients; on CUDA in an all-reduce of
        their own on the gloo group, so nothing waits for the GPU); this
        batch's requests go on to be agreed during the next."""
        if self.world == 1:
            return trainer.stop_training or ctrl_c.pressed
        if self._fold:
            agreed = self._agreed is not None and self._adopt(self._agreed, trainer, ctrl_c)
            self._agreed = None
            self._requests = [float(trainer.stop_training), float(ctrl_c.pressed)]
            return agreed
        agreed = self._finish_pending(trainer, ctrl_c)
        flags = torch.tensor([trainer.stop_training, ctrl_c.pressed], dtype=torch.int32)
        work = dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=self._control, async_op=True)
        self._pending = (work, flags)
        return agreed

    def agree_stop(self, trainer: Any, ctrl_c: Any) -> None:
        """Where an epoch may end: every process adopts any process's stop
        request or Ctrl-C (so they all stop, or none)."""
        if self.world == 1:
            return
        self._finish_pending(trainer, ctrl_c)
        self._requests, self._agreed = [0.0, 0.0], None  # what is asked now is in the flags below
        flags = torch.tensor([trainer.stop_training, ctrl_c.pressed], dtype=torch.int32)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=self._control)
        self._adopt(flags.tolist(), trainer, ctrl_c)

    def _finish_pending(self, trainer: Any, ctrl_c: Any) -> bool:
        if self._pending is None:
            return False
        work, flags = self._pending
        self._pending = None
        work.wait()
        return self._adopt(flags.tolist(), trainer, ctrl_c)

    @staticmethod
    def _adopt(flags: list, trainer: Any, ctrl_c: Any) -> bool:
        """Take on any process's stop request and Ctrl-C; whether there was one."""
        stop, pressed = (bool(v) for v in flags)
        if stop:
            trainer.stop_training = True
        if pressed:
            ctrl_c.pressed = True
        return stop or pressed

    # ------------------------------------------------------------ weights
    def _broadcast(self, tensors: list[torch.Tensor]) -> None:
        """Rank 0's values of ``tensors`` in every process (one broadcast per dtype)."""
        for dtype in sorted({t.dtype for t in tensors}, key=str):
            same = [t for t in tensors if t.dtype == dtype]
            flat = torch.cat([t.detach().reshape(-1) for t in same])
            dist.broadcast(flat, 0)
            offset = 0
            with torch.no_grad():
                for t in same:
                    t.copy_(flat[offset:offset + t.numel()].view(t.shape))
                    offset += t.numel()


def _moving_statistics(module: torch.nn.Module) -> list[torch.Tensor]:
    """The moving mean and variance of a batch normalization layer."""
    if isinstance(module, BatchNormalization):
        return [module.moving_mean, module.moving_variance]
    if isinstance(module, _TORCH_BATCH_NORMS) and module.running_mean is not None:
        return [module.running_mean, module.running_var]
    return []
