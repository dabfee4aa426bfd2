"""What a trainer writes down so that training can go on later: the compile
settings, the optimizer's state, the random generators and the loop's place.

Everything becomes JSON plus named tensors (for safetensors); nothing is
pickled. ``model.save`` uses the compile settings and optimizer state;
``BackupAndRestore`` uses all of it, so that a run killed at any point and
restarted ends with the same weights, bit for bit on CPU, as a run never
interrupted:

* the weights and the optimizer's state (moments, step counts, learning rate);
* the states of PyTorch's generators (CPU and every CUDA device), NumPy's
  global generator and Python's ``random``: dropout and the next epoch's
  shuffling draw from them;
* the epoch and the next batch; inside an epoch, also the epoch's
  permutation of the samples and the running sums of loss and metrics;
* the History so far.

Not covered: generators a program keeps for itself (``np.random.default_rng``)
and the inner state of callbacks (EarlyStopping's patience count, ...).
"""

from __future__ import annotations

import random
from typing import Any, Iterator

import numpy as np
import torch

from .. import _direct_update as direct_update
from .. import _registry
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module


# ------------------------------------------------------------ compile settings
def compile_config(trainer: Any) -> dict[str, Any]:
    """The arguments of ``compile`` as JSON: optimizer, losses, loss weights,
    metrics and weighted metrics (written only when there are some), each
    keyed by output name.

    Raises:
        ValueError: a custom loss or metric that a file cannot name.
    """
    config = {
        "optimizer": optimizer_spec(trainer.optimizer),
        "loss": {h.name: _loss_spec(h.loss) for h in trainer.heads if h.loss is not None},
        "loss_weights": {h.name: h.weight for h in trainer.heads},
        "metrics": {h.name: [_metric_spec(m) for m in h.metric_specs] for h in trainer.heads},
        "jit_compile": trainer.jit_compile,
    }
    if any(h.weighted_specs for h in trainer.heads):
        config["weighted_metrics"] = {h.name: [_metric_spec(m) for m in h.weighted_specs] for h in trainer.heads}
    return config


def optimizer_spec(optimizer: optimizers_module.Optimizer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` of an optimizer, its learning-rate
    schedule (if any) under its own registered or built-in name."""
    spec = _registry.serialize(optimizer, "optimizer")
    if optimizer.schedule is not None:
        spec["config"]["learning_rate"] = _registry.serialize(optimizer.schedule, "schedule")
    return spec


def compile_arguments(config: dict[str, Any]) -> dict[str, Any]:
    """``compile_config`` turned back into keyword arguments of ``compile``."""
    optimizer = config["optimizer"]
    rate = optimizer.get("config", {}).get("learning_rate") if isinstance(optimizer, dict) else None
    if isinstance(rate, dict):  # a learning-rate schedule
        schedule = _registry.deserialize(rate, "schedule", optimizers_module.LearningRateSchedule)
        optimizer = {**optimizer, "config": {**optimizer["config"], "learning_rate": schedule}}
    return {
        "optimizer": _registry.deserialize(optimizer, "optimizer", optimizers_module.Optimizer),
        "loss": {name: _loss_from(spec) for name, spec in config["loss"].items()} or None,
        "loss_weights": config.get("loss_weights"),
        "metrics": {name: [_metric_from(s) for s in specs] for name, specs in config.get("metrics", {}).items()},
        "jit_compile": config.get("jit_compile", "auto"),
        "weighted_metrics": {name: [_metric_from(s) for s in specs]
                             for name, specs in config.get("weighted_metrics", {}).items()} or None,
    }


def _function_name(fn: Any, kind: str) -> str:
    name = _registry.name_of(fn, kind)
    if name == "<lambda>":
        raise ValueError(
            f"the {kind} is a lambda, which a file cannot name. Fix: define it with def and "
            "decorate it with @brainnet.saving.register_serializable()."
        )
    return name


def _loss_spec(loss: losses_module.Loss) -> dict[str, Any]:
    if type(loss) is losses_module.Loss:  # a plain function fn(y_true, y_pred)
        return {"function": _function_name(loss.fn, "loss")}
    return _registry.serialize(loss, "loss")


def _loss_from(spec: Any) -> Any:
    if isinstance(spec, dict) and "function" in spec:
        return _registry.lookup(spec["function"], "loss")
    return _registry.deserialize(spec, "loss", losses_module.Loss)


def _metric_spec(spec: Any) -> Any:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, metrics_module.Metric):
        return _registry.serialize(spec, "metric")
    if isinstance(spec, type):
        return {"class_name": _registry.name_of(spec, "metric"), "config": {}}
    return {"function": _function_name(spec, "metric")}


def _metric_from(spec: Any) -> Any:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict) and "function" in spec:
        return _registry.lookup(spec["function"], "metric")
    return _registry.deserialize(spec, "metric", metrics_module.Metric)


# ------------------------------------------------------------ optimizer state
# How the update runs on this device, not what it computes: never taken from a file.
DEVICE_SETTINGS = frozenset({"fused", "foreach", "capturable", "differentiable"})


def optimizer_state(optimizer: optimizers_module.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The built optimizer's state as tensors (``state.<weight>.<name>``) and JSON."""
    saved = direct_update.plain_call(optimizer.torch_optimizer, "state_dict")
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in saved["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"state.{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    groups = [
        {k: float(v) if torch.is_tensor(v) else list(v) if isinstance(v, tuple) else v
         for k, v in g.items() if k not in DEVICE_SETTINGS}
        for g in saved["param_groups"]
    ]
    # use_ema's averages and the gradient accumulators (their own tensors, beside torch.optim's state)
    for kind, values in (("average", optimizer.averages), ("accumulator", optimizer.accumulators)):
        tensors.update({f"{kind}.{i}": t for i, t in enumerate(values or ())})
    info = {"iterations": optimizer.steps, "param_groups": groups, "scalars": scalars}
    return tensors, info


def load_optimizer_state(
    optimizer: optimizers_module.Optimizer, tensors: dict[str, torch.Tensor], info: dict[str, Any], source: str
) -> None:
    """Put a saved state into a built optimizer over the same weights.

    Raises:
        ValueError: the state was saved for other weights (count or shapes).
    """
    torch_opt = optimizer.torch_optimizer
    current = direct_update.plain_call(torch_opt, "state_dict")
    params = [p for group in torch_opt.param_groups for p in group["params"]]
    sizes = [len(g["params"]) for g in info["param_groups"]]
    if sizes != [len(g["params"]) for g in current["param_groups"]]:
        raise ValueError(
            f"{source}: expected an optimizer state for this model's {len(params)} trainable weights, "
            f"got one for {sum(sizes)}. Fix: load it into the same architecture with the same "
            "trainable layers."
        )
    groups = []
    for saved, now in zip(info["param_groups"], current["param_groups"]):
        group = dict(now)
        for key, value in saved.items():
            if key == "params" or key in DEVICE_SETTINGS:  # kept as this device built them
                continue
            if torch.is_tensor(now.get(key)):  # a rate held on the device (CUDA-graph step)
                group[key] = now[key].fill_(float(value))
            else:
                group[key] = tuple(value) if isinstance(now.get(key), tuple) else value
        groups.append(group)
    state: dict[int, dict[str, Any]] = {}
    own = {"average": optimizer.averages, "accumulator": optimizer.accumulators}
    for key, value in tensors.items():
        kind, _, index = key.partition(".")
        if kind in own:  # copied in place: a captured CUDA graph holds these tensors
            if own[kind] is not None and int(index) < len(own[kind]):
                own[kind][int(index)].copy_(value)
            continue
        _, index, name = key.split(".", 2)
        param = params[int(index)]
        if value.dim() > 0 and tuple(value.shape) != tuple(param.shape):
            raise ValueError(
                f"{source}: optimizer state {name!r} of weight {index} has shape {tuple(value.shape)}, "
                f"the weight has {tuple(param.shape)}. Fix: load it into the architecture that saved it."
            )
        state.setdefault(int(index), {})[name] = value
    for index, values in info.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    direct_update.plain_call(torch_opt, "load_state_dict", {"state": state, "param_groups": groups})
    optimizers_module.state_in_weight_layout(torch_opt)  # files hold contiguous tensors
    optimizer.steps = int(info.get("iterations", 0))  # the calls (Keras's _iterations)
    if optimizer.averages is not None and "average.0" not in tensors and optimizer.steps:
        # saved without use_ema: the average starts at the weights as they are (not at zeros)
        with torch.no_grad():
            torch._foreach_copy_(optimizer.averages, params)
    if optimizer.schedule is None and groups:  # a schedule sets the rate from iterations itself
        optimizer.learning_rate = float(groups[0]["lr"])


# ------------------------------------------------------------ random generators
def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The global generators of PyTorch (CPU, CUDA), NumPy and Python."""
    tensors = {"rng.torch": torch.get_rng_state()}
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    tensors.update({f"rng.cuda.{i}": s for i, s in enumerate(cuda)})
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(keys.astype(np.int64))
    version, internal, gauss_next = random.getstate()
    tensors["rng.python"] = torch.tensor(internal, dtype=torch.int64)
    info = {
        "cuda_devices": len(cuda),
        "numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "gauss_next": gauss_next},
    }
    return tensors, info


def set_rng_state(tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> None:
    """Put the generators back as ``rng_state`` found them."""
    torch.set_rng_state(tensors["rng.torch"].to(torch.uint8))
    if torch.cuda.is_available():
        for i in range(min(int(info.get("cuda_devices", 0)), torch.cuda.device_count())):
            torch.cuda.set_rng_state(tensors[f"rng.cuda.{i}"].to(torch.uint8), device=i)
    n = info["numpy"]
    keys = tensors["rng.numpy"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = info["python"]
    random.setstate((p["version"], tuple(int(v) for v in tensors["rng.python"].tolist()), p["gauss_next"]))


# ------------------------------------------------------------ the loop's place
def _trackers(trainer: Any) -> Iterator[tuple[str, metrics_module.Metric]]:
    yield "loss", trainer.loss_tracker
    for i, head in enumerate(trainer.heads):
        yield f"head{i}.loss", head.tracker
        for j, metric in enumerate(head.metrics or []):
            yield f"head{i}.metric{j}", metric
        for j, metric in enumerate(head.weighted_metrics or []):
            yield f"head{i}.weighted{j}", metric


def training_state(trainer: Any, epoch: int, step: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Everything but weights and optimizer needed to go on at batch ``step``
    of ``epoch`` (``step`` 0: the epoch's start)."""
    tensors, info = rng_state()
    info.update({"epoch": epoch, "step": step, "loop": dict(trainer.loop_info), "metric_counts": {},
                 "pass_start": trainer.pass_start})  # steps_per_epoch: the epoch goes on in a pass begun earlier
    if (step > 0 or trainer.pass_start > 0) and trainer.epoch_order is not None:
        tensors["loop.order"] = trainer.epoch_order
    if step > 0:
        for name, metric in _trackers(trainer):
            tensors[f"metric.{name}"] = torch.as_tensor(metric.total, dtype=torch.float64)
            info["metric_counts"][name] = float(metric.count)
    history = trainer.history
    info["history"] = None if history is None else {
        "history": {k: list(v) for k, v in history.history.items()}, "epoch": list(history.epoch),
    }
    return tensors, info


def restore_training_state(trainer: Any, tensors: dict[str, torch.Tensor], info: dict[str, Any], source: str) -> None:
    """Set the generators, metrics and History, and tell the trainer where
    to go on (it reads ``trainer.resume_from`` after ``on_train_begin``).

    Raises:
        ValueError: the state is for a fit over other data or batches.
    """
    saved, now = info["loop"], trainer.loop_info
    differs = {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}
    if differs:
        details = ", ".join(f"{k}: backup {a!r}, now {b!r}" for k, (a, b) in differs.items())
        raise ValueError(
            f"{source}: expected a backup of this same fit, got one made with other settings "
            f"({details}). Fix: call fit with the same data, batch_size and shuffle, or delete "
            "the backup to start over."
        )
    set_rng_state(tensors, info)
    step, pass_start = int(info["step"]), int(info.get("pass_start", 0))
    order = tensors.get("loop.order")
    if step > 0:
        for name, metric in _trackers(trainer):
            metric.total = tensors[f"metric.{name}"].to(trainer.device).clone()  # ours to add to in place
            metric.count = info["metric_counts"][name]
    if info.get("history") and trainer.history is not None:
        trainer.history.history = {k: list(v) for k, v in info["history"]["history"].items()}
        trainer.history.epoch = list(info["history"]["epoch"])
    trainer.resume_from = {
        "epoch": int(info["epoch"]),
        "step": step,
        "pass_start": pass_start,
        "order": None if order is None or step == 0 and pass_start == 0 else order.to(trainer.device),
    }
