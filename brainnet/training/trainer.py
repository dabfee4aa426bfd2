"""The loop behind ``fit``, ``evaluate`` and ``predict``.

Speed by design: the arrays move to the device once; each epoch draws one
random permutation and a batch is an ``index_select`` of it (no Python loop
over samples, no DataLoader); one step is one forward, one backward and one
optimizer step; loss and metrics accumulate on the device and are read once
per epoch (and at most ten times a second for the progress bar). When the
model ends in softmax (or sigmoid) and the loss takes probabilities, the
loss runs on the logits instead (log-softmax cross-entropy).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import torch

from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from ..layers.base import check_model_input
from . import data as data_module
from .callbacks import Callback, History, ProgressBar, overrides_batch_hooks

DEFAULT_BATCH_SIZE = 32  # Keras's default for fit
DEFAULT_INFERENCE_BATCH_SIZE = 256  # evaluate/predict: larger batches, same results


def default_device() -> torch.device:
    """CUDA when available, else CPU; ``$BRAINNET_DEVICE`` overrides."""
    import os

    name = os.environ.get("BRAINNET_DEVICE")
    if name:
        return resolve_device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn ``None``/"auto"/"cpu"/"cuda"/"cuda:1"/"mps" into a usable device."""
    if device is None or device == "auto":
        return default_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}. "
            "Fix: device='cpu'."
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device: expected a device this machine has, got {device!r} but CUDA is not "
            "available here. Fix: device='cpu' (or 'auto')."
        )
    return dev


class Trainer:
    """Owns the optimizer, the loss, the metrics and the loop for one model."""

    def __init__(self, model: Any, optimizer: Any, loss: Any, metrics: Iterable | None, device: Any) -> None:
        self.model = model
        self.optimizer = optimizers_module.get(optimizer) if optimizer is not None else None
        self.loss = losses_module.get(loss) if loss is not None else None
        self.metric_specs = list(metrics or [])
        self.metrics: list[metrics_module.Metric] | None = None
        self.device = resolve_device(device)
        self.loss_tracker = metrics_module.Mean("loss")
        self.stop_training = False

    # ----------------------------------------------------------- set-up
    def _inputs(self, x: Any) -> torch.Tensor:
        x = data_module.as_tensor(x, "x")
        expected = self.model.input_shape
        if expected is not None:
            check_model_input(tuple(x.shape), expected)
        data_module.check_finite(x)
        if not self.model.built:
            self.model.build_from_shape((None,) + tuple(x.shape[1:]))
        return x.to(self.device, self.model.dtype, non_blocking=True)

    def _labels(self, y: Any, x: torch.Tensor) -> torch.Tensor:
        if self.loss is None:
            raise ValueError(
                "compile: expected a loss, got loss=None. "
                "Fix: model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')."
            )
        y = data_module.as_tensor(y, "y")
        data_module.check_same_length(x, y)
        output_shape = self.model.compute_output_shape((None,) + tuple(x.shape[1:]))
        y = data_module.prepare_labels(y, self.loss, output_shape)
        if self.metrics is None:
            self.metrics = [
                metrics_module.get(m, self.loss, output_shape[-1], y.dim() < len(output_shape))
                for m in self.metric_specs
            ]
        return y.to(self.device, non_blocking=True)

    def _prepare(self, x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
        xt = self._inputs(x)
        return xt, self._labels(y, xt)

    def _ensure_optimizer(self) -> None:
        self.model.to(self.device)
        if self.optimizer is None:
            raise ValueError(
                "fit: expected a compiled model, got one without an optimizer. "
                "Fix: model.compile(optimizer='adam', loss=...) before fit."
            )
        if not self.optimizer.built:
            self.optimizer.build(self.model.parameters())

    @property
    def fused(self) -> bool:
        return self.loss is not None and self.loss.can_fuse(self.model.output_activation_name)

    # ------------------------------------------------------------- steps
    def _forward_loss(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and the prediction the metrics see (logits when they allow it)."""
        if self.fused:
            logits = self.model(xb, pre_activation=True)
            loss = self.loss.from_logits_mean(yb, logits)
            if all(m.argmax_invariant for m in self.metrics):
                return loss, logits
            return loss, self.model.output_activation(logits)
        pred = self.model(xb)
        return self.loss(yb, pred), pred

    def _record(self, loss: torch.Tensor, pred: torch.Tensor, yb: torch.Tensor) -> None:
        with torch.no_grad():
            self.loss_tracker.update_state(loss.detach(), yb.shape[0])
            for m in self.metrics:
                m.update_state(yb, pred.detach())

    def train_step(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        self.optimizer.zero_grad()
        loss, pred = self._forward_loss(xb, yb)
        loss.backward()
        self.optimizer.step()
        self._record(loss, pred, yb)

    def _reset(self) -> None:
        self.loss_tracker.reset_state()
        for m in self.metrics:
            m.reset_state()

    def running_logs(self) -> dict[str, float]:
        """Loss and metrics so far in this epoch (reads them from the device)."""
        return {"loss": self.loss_tracker.result(), **{m.name: m.result() for m in self.metrics}}

    # --------------------------------------------------------------- fit
    def fit(
        self, x: Any, y: Any, batch_size: int | None, epochs: int, verbose: Any,
        callbacks: list[Callback] | None, validation_split: float, validation_data: Any,
        shuffle: bool, initial_epoch: int,
    ) -> History:
        batch_size = _check_batch_size(batch_size, DEFAULT_BATCH_SIZE)
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(
                f"fit: expected validation_split in [0, 1), got {validation_split!r}. "
                "Fix: validation_split=0.1 keeps the last 10% of the data for validation."
            )
        xt, yt = self._prepare(x, y)
        val = None
        if validation_data is not None:
            val = self._prepare(*validation_data[:2])
        elif validation_split:
            n_val = int(xt.shape[0] * validation_split)  # the last samples, before shuffling (Keras)
            if n_val == 0 or n_val == xt.shape[0]:
                raise ValueError(
                    f"fit: validation_split={validation_split} of {xt.shape[0]} samples leaves "
                    f"{n_val} for validation. Fix: use more data or a different split."
                )
            xt, yt, val = xt[:-n_val], yt[:-n_val], (xt[-n_val:], yt[-n_val:])
        self._ensure_optimizer()

        n = xt.shape[0]
        steps = math.ceil(n / batch_size)
        verbose = 1 if verbose == "auto" else int(verbose)
        history = History()
        cbs = [history] + list(callbacks or []) + ([ProgressBar(verbose)] if verbose else [])
        params = {"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size}
        for cb in cbs:
            cb.set_model(self.model)
            cb.set_params(params)
        batch_cbs = [cb for cb in cbs if overrides_batch_hooks(cb)]
        self.stop_training = False
        history.params = params
        history.model = self.model

        for cb in cbs:
            cb.on_train_begin()
        logs: dict[str, float] = {}
        for epoch in range(initial_epoch, epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            self.model.train()
            self._reset()
            order = torch.randperm(n, device=self.device) if shuffle else None
            for step in range(steps):
                for cb in batch_cbs:
                    cb.on_train_batch_begin(step)
                if order is None:
                    xb, yb = xt[step * batch_size:(step + 1) * batch_size], yt[step * batch_size:(step + 1) * batch_size]
                else:
                    idx = order[step * batch_size:(step + 1) * batch_size]
                    xb, yb = xt.index_select(0, idx), yt.index_select(0, idx)
                self.train_step(xb, yb)
                for cb in batch_cbs:
                    cb.on_train_batch_end(step)
            logs = self.running_logs()
            if val is not None:
                val_logs = self._evaluate_tensors(*val, DEFAULT_INFERENCE_BATCH_SIZE, cbs)
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end(logs)
        return history

    # ---------------------------------------------------------- evaluate
    @torch.no_grad()
    def _evaluate_tensors(
        self, xt: torch.Tensor, yt: torch.Tensor, batch_size: int, cbs: list[Callback]
    ) -> dict[str, float]:
        for cb in cbs:
            cb.on_test_begin()
        self.model.eval()
        self._reset()
        for start in range(0, xt.shape[0], batch_size):
            xb, yb = xt[start:start + batch_size], yt[start:start + batch_size]
            loss, pred = self._forward_loss(xb, yb)
            self._record(loss, pred, yb)
        logs = self.running_logs()
        for cb in cbs:
            cb.on_test_end(logs)
        return logs

    def evaluate(
        self, x: Any, y: Any, batch_size: int | None, verbose: Any, callbacks: list[Callback] | None,
        return_dict: bool,
    ) -> float | list[float] | dict[str, float]:
        batch_size = _check_batch_size(batch_size, DEFAULT_INFERENCE_BATCH_SIZE)
        xt, yt = self._prepare(x, y)
        self.model.to(self.device)
        logs = self._evaluate_tensors(xt, yt, batch_size, list(callbacks or []))
        if verbose not in (0, "0"):
            from .callbacks import format_logs

            print(f"evaluate - {format_logs(logs)}", flush=True)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    # ----------------------------------------------------------- predict
    @torch.no_grad()
    def predict(self, x: Any, batch_size: int | None) -> np.ndarray:
        batch_size = _check_batch_size(batch_size, DEFAULT_INFERENCE_BATCH_SIZE)
        xt = self._inputs(x)
        self.model.to(self.device)
        self.model.eval()
        outputs = [self.model(xt[s:s + batch_size]) for s in range(0, xt.shape[0], batch_size)]
        return torch.cat(outputs).float().cpu().numpy()


def _check_batch_size(batch_size: int | None, default: int) -> int:
    if batch_size is None:
        return default
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(
            f"batch_size: expected a positive integer, got {batch_size!r}. Fix: batch_size=32."
        )
    return int(batch_size)
