"""The training loops the benchmark puts side by side, one class each.

* ``BrainnetFit`` ("brainnet"): ``model.compile(...)`` then ``model.fit(x, y,
  epochs=1, batch_size=B, verbose=0)`` per epoch. ``x`` and ``y`` are the
  training arrays as tensors on the device, made once before the timing as
  the hand-written loops' are (``fit`` takes them as they are), so that each
  timed epoch is the epoch of a longer ``fit``: a ``fit`` of NumPy arrays
  checks and copies them once per call (a check on the CPU, and a
  copy of 188 MB to a GPU), which a ``fit(epochs=10)`` pays once, not per
  epoch. On CUDA with ``jit_compile=True`` the epochs after the first replay
  the graph captured in the first (it outlives its ``fit``).
* ``DataLoaderLoop`` ("dataloader"): the loop of the PyTorch tutorials.
  ``TensorDataset`` + ``DataLoader(shuffle=True)`` (one worker, the
  default), the idiomatic twin on (N, C, H, W) tensors,
  ``nn.CrossEntropyLoss``, and ``loss.item()`` / ``.sum().item()`` per batch
  for the epoch's loss and accuracy.
* ``Handwritten`` ("handwritten"): the fastest honest loop of the same math.
  The data on the device once, one ``randperm`` per epoch, batches by
  ``index_select``, the hand-tuned twin (channels-last CNN),
  ``F.cross_entropy`` (log-softmax + NLL in one call), loss and accuracy
  summed on the device and read once per epoch, the optimizer's fused
  update (``fused=True``: on CUDA and, since it is faster there too, on the
  CPU); on CUDA ``cudnn.benchmark``.
* ``GraphedHandwritten`` ("handwritten-graphed", CUDA only): the same, the
  whole step (forward, backward, optimizer, sums) captured once as a CUDA
  graph and replayed; a last partial batch runs eagerly. Capturing takes 3
  eager warm-up steps on the first batch (PyTorch's recipe), which train the
  network like any step: 3 steps more than the others in its first epoch.

Every loop computes the training loss and accuracy of the epoch (as ``fit``
does) and, under ``precision="bfloat16"``, runs the forward pass and the
loss under ``torch.autocast`` in bfloat16 (brainnet: the
``"mixed_bfloat16"`` policy).

``train(samples)`` runs one epoch over the first ``samples`` training
samples (all of them: None) and returns its mean training loss, a Python
float (reading it waits for the device). ``evaluate(x, y)`` returns the
accuracy on arrays.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .workloads import Data, Workload

EVAL_BATCH = 1000  # the PyTorch loops' evaluation batch (brainnet uses its own default)
PRECISIONS = ("float32", "bfloat16")


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bfloat16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Contestant:
    """One way of training one workload. Subclasses set ``name``."""

    name = ""

    def __init__(self, workload: Workload, data: Data, device: torch.device, precision: str) -> None:
        self.workload, self.data, self.device, self.precision = workload, data, device, precision

    def train(self, samples: int | None = None) -> float:
        raise NotImplementedError

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> float:
        raise NotImplementedError

    def test_accuracy(self) -> float:
        """Accuracy on the workload's test set."""
        return self.evaluate(self.data.x_test, self.data.y_test)

    def parameters(self) -> int:
        """Trainable weights of the network."""
        raise NotImplementedError


class BrainnetFit(Contestant):
    """``fit()`` on a compiled brainnet model (see the module docstring)."""

    name = "brainnet"

    def __init__(self, workload: Workload, data: Data, device: torch.device, precision: str, model: Any,
                 jit_compile: bool | str = "auto") -> None:
        from brainnet import mixed_precision

        super().__init__(workload, data, device, precision)
        previous = mixed_precision.global_policy()
        mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
        try:
            model.compile(optimizer=workload.brainnet_optimizer(), loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"], device=device, jit_compile=jit_compile)
        finally:
            mixed_precision.set_global_policy(previous)
        self.model = model
        self.x = torch.from_numpy(data.x_train).to(device)  # on the device once, as the hand-written loops
        self.y = torch.from_numpy(data.y_train).to(device).long()

    def train(self, samples: int | None = None) -> float:
        x, y = self.x, self.y
        if samples is not None:
            x, y = x[:samples], y[:samples]
        history = self.model.fit(x, y, batch_size=self.workload.batch_size, epochs=1, verbose=0)
        return float(history.history["loss"][-1])

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(self.model.evaluate(x, y, verbose=0)[1])

    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)


class _TorchContestant(Contestant):
    """What the PyTorch loops share: a twin network and a torch optimizer."""

    def __init__(self, workload: Workload, data: Data, device: torch.device, precision: str, net: nn.Module,
                 fused: bool | None = None) -> None:
        super().__init__(workload, data, device, precision)
        self.net = net.to(device)
        self.optimizer = workload.torch_optimizer(self.net.parameters(), fused=fused)

    def parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters() if p.requires_grad)


class DataLoaderLoop(_TorchContestant):
    """The tutorials' loop (see the module docstring)."""

    name = "dataloader"

    def __init__(self, workload: Workload, data: Data, device: torch.device, precision: str, net: nn.Module) -> None:
        super().__init__(workload, data, device, precision, net)
        self.loss_fn = nn.CrossEntropyLoss()
        self.inputs = self._inputs(data.x_train)
        self.labels = torch.from_numpy(data.y_train).long()
        self.loaders: dict[int | None, DataLoader] = {}

    def _inputs(self, x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(x)
        return t.permute(0, 3, 1, 2).contiguous() if self.workload.images else t  # (N, 1, 28, 28)

    def _loader(self, samples: int | None) -> DataLoader:
        if samples not in self.loaders:
            n = len(self.labels) if samples is None else samples
            dataset = TensorDataset(self.inputs[:n], self.labels[:n])
            self.loaders[samples] = DataLoader(dataset, batch_size=self.workload.batch_size, shuffle=True)
        return self.loaders[samples]

    def train(self, samples: int | None = None) -> float:
        self.net.train()
        total_loss, correct, seen = 0.0, 0, 0
        for x, y in self._loader(samples):
            x, y = x.to(self.device), y.to(self.device)
            self.optimizer.zero_grad()
            with _autocast(self.device, self.precision):
                outputs = self.net(x)
                loss = self.loss_fn(outputs, y)
            loss.backward()
            self.optimizer.step()
            total_loss += loss.item() * len(y)
            correct += (outputs.argmax(1) == y).sum().item()
            seen += len(y)
        self.train_accuracy = correct / seen
        return total_loss / seen

    @torch.no_grad()
    def evaluate(self, x: np.ndarray, y: np.ndarray) -> float:
        self.net.eval()
        loader = DataLoader(TensorDataset(self._inputs(x), torch.from_numpy(y).long()), batch_size=EVAL_BATCH)
        correct = 0
        for xb, yb in loader:
            xb, yb = xb.to(self.device), yb.to(self.device)
            with _autocast(self.device, self.precision):
                correct += (self.net(xb).argmax(1) == yb).sum().item()
        return correct / len(y)


class Handwritten(_TorchContestant):
    """The fastest honest PyTorch loop (see the module docstring)."""

    name = "handwritten"

    def __init__(self, workload: Workload, data: Data, device: torch.device, precision: str, net: nn.Module) -> None:
        super().__init__(workload, data, device, precision, net, fused=True)
        self.inputs = self._inputs(data.x_train)
        self.labels = torch.from_numpy(data.y_train).to(device).long()
        self.test = (self._inputs(data.x_test), torch.from_numpy(data.y_test).to(device).long())
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)

    def _inputs(self, x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(x).to(self.device)
        return t.permute(0, 3, 1, 2) if self.workload.images else t  # (N, 1, 28, 28) view, channels-last memory

    @contextlib.contextmanager
    def _flags(self) -> Any:
        benchmark = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = self.device.type == "cuda"  # pick the fastest convolution kernels
        try:
            yield
        finally:
            torch.backends.cudnn.benchmark = benchmark

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """One optimizer step; adds the batch's loss and correct answers to the sums."""
        self.optimizer.zero_grad(set_to_none=True)
        with _autocast(self.device, self.precision):
            logits = self.net(x)
            loss = F.cross_entropy(logits, y)
        loss.backward()
        self.optimizer.step()
        self.loss_sum += loss.detach() * y.shape[0]
        self.correct += (logits.detach().argmax(1) == y).sum()

    def _batches(self, samples: int | None) -> Any:
        n = len(self.labels) if samples is None else samples
        order = torch.randperm(n, device=self.device)
        for start in range(0, n, self.workload.batch_size):
            idx = order[start:start + self.workload.batch_size]
            yield self.inputs.index_select(0, idx), self.labels.index_select(0, idx)

    def train(self, samples: int | None = None) -> float:
        self.net.train()
        self.loss_sum.zero_(), self.correct.zero_()
        with self._flags():
            for x, y in self._batches(samples):
                self.step(x, y)
        n = len(self.labels) if samples is None else samples
        self.train_accuracy = self.correct.item() / n
        return self.loss_sum.item() / n

    @torch.no_grad()
    def evaluate(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
        self.net.eval()
        x = x if isinstance(x, torch.Tensor) else self._inputs(x)
        y = y if isinstance(y, torch.Tensor) else torch.from_numpy(y).to(self.device).long()
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        with self._flags():
            for start in range(0, len(y), EVAL_BATCH):
                with _autocast(self.device, self.precision):
                    logits = self.net(x[start:start + EVAL_BATCH])
                correct += (logits.argmax(1) == y[start:start + EVAL_BATCH]).sum()
        return correct.item() / len(y)

    def test_accuracy(self) -> float:
        return self.evaluate(*self.test)


class GraphedHandwritten(Handwritten):
    """``Handwritten`` with the step replayed from a CUDA graph (CUDA only)."""

    name = "handwritten-graphed"
    WARMUP_STEPS = 3  # eager steps on a side stream before capture, as PyTorch's CUDA-graph notes do

    def __init__(self, workload: Workload, data: Data, device: torch.device, precision: str, net: nn.Module) -> None:
        if device.type != "cuda":
            raise ValueError(
                f"handwritten-graphed: expected a CUDA device (CUDA graphs), got {device}. "
                "Fix: --device cuda, or leave this contestant out."
            )
        super().__init__(workload, data, device, precision, net)
        if workload.optimizer == "adam":  # capturable: the step counter stays on the device
            params = [p for p in self.net.parameters() if p.requires_grad]
            self.optimizer = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-7, fused=True,
                                              capturable=True)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_x: torch.Tensor | None = None
        self.static_y: torch.Tensor | None = None

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.static_x, self.static_y = x.clone(), y.clone()
        sums = self.loss_sum.clone(), self.correct.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(self.WARMUP_STEPS):
                super().step(self.static_x, self.static_y)
        torch.cuda.current_stream().wait_stream(side)
        self.loss_sum.copy_(sums[0]), self.correct.copy_(sums[1])  # the warm-up steps are not the epoch's
        self.graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(self.graph):
            super().step(self.static_x, self.static_y)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if x.shape[0] != self.workload.batch_size:  # the last, partial batch
            super().step(x, y)
            return
        if self.graph is None:
            self._capture(x, y)
        self.static_x.copy_(x)
        self.static_y.copy_(y)
        self.graph.replay()


CONTESTANTS = {c.name: c for c in (BrainnetFit, DataLoaderLoop, Handwritten, GraphedHandwritten)}
