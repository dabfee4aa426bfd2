"""The fused SGD, Adam and AdamW updates called straight from brainnet.

``torch.optim``'s ``step`` wraps its fused kernel in Python that a training
step pays every time: a profiler range, the step hooks, a regrouping of the
weights by device and dtype, and a wrapper whose first call imports
``torch._dynamo`` (about 1.5 s of a script's start on a two-core CPU, before
its first batch). Where none of that changes the result, ``step`` here does
the update itself, with the same kernel on the same state:

* SGD: ``torch._fused_sgd_(θ, g, m, lr, momentum, dampening, nesterov,
  weight_decay, maximize)``, the momentum buffers created on the first step
  (``m ← g``, by the kernel);
* Adam and AdamW: ``t ← t + 1`` on each weight's step counter, then
  ``torch._fused_adam_`` (``torch._fused_adamw_`` for the decoupled decay)
  with the moments ``m``, ``v`` (and ``v̂_max`` with ``amsgrad``).

The state is ``torch.optim``'s own (``optimizer.state[p]`` with the same
keys, dtypes and devices), so ``state_dict``, saving and a later
``torch.optim`` step carry on from it. ``zero_grad`` sets each gradient to
None, as ``zero_grad(set_to_none=True)``, and ``constructed`` makes the
optimizer without the same import, ``plain_call`` saves and loads its state
without it.

Anything else goes to ``torch.optim``: another class, a step or global hook,
a tensor learning rate or ``capturable`` (the CUDA-graph step), a weight
without a gradient, sparse gradients, weights of several devices or dtypes,
``differentiable``, a gradient scaler's ``grad_scale``, or tracing by
``torch.compile``. Tested bit for bit against ``torch.optim``'s step in
``tests/test_direct_update.py``.

A weight that is not contiguous but fills its memory in another order of
its axes (a channels-last ``Conv2D`` kernel, a recurrent layer's matrix in
torch's order) reaches the kernel, with its gradient and state of the same
strides, as 1-D views in memory order (``_in_memory_order``): the update is
elementwise, so the result is the same, and PyTorch's CPU kernels take a
slower path for strided tensors (the fused Adam kernel on the LSTM
benchmark's weights, six of eleven strided: ``python
benchmarks/rnn_weight_layout.py``, BENCHMARKS.md).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim import optimizer as _torch_optimizer

from ._weight_layout import same_layout

_SGD, _ADAM, _ADAMW = torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW
_KERNELS = all(hasattr(torch, name) for name in ("_fused_sgd_", "_fused_adam_", "_fused_adamw_"))


def _hooked(optimizer: torch.optim.Optimizer) -> bool:
    """Whether a step hook (the optimizer's own or a global one) would run."""
    return bool(
        optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks
        or getattr(_torch_optimizer, "_global_optimizer_pre_hooks", None)
        or getattr(_torch_optimizer, "_global_optimizer_post_hooks", None)
    )


def _weights_and_gradients(group: dict[str, Any]) -> tuple[list[torch.Tensor], list[torch.Tensor]] | None:
    """The group's weights and gradients, or None where the direct update does
    not apply: a weight without a gradient, a sparse gradient, or weights of
    more than one device and dtype."""
    params = group["params"]
    grads = [p.grad for p in params]
    if not params or any(g is None or g.is_sparse for g in grads):
        return None
    first = params[0]
    if any(p.device != first.device or p.dtype != first.dtype for p in params):
        return None
    return params, grads


_DENSE: dict[tuple, bool] = {}  # (shape, strides) -> whether some order of the axes is contiguous


def _dense(t: torch.Tensor) -> bool:
    """Whether ``t``'s elements fill one block of memory, without gaps or
    overlaps, in some order of its axes (remembered per shape and strides)."""
    key = (t.shape, t.stride())
    known = _DENSE.get(key)
    if known is None:
        order = sorted(range(t.dim()), key=lambda d: -t.stride(d))
        known = _DENSE[key] = t.permute(order).is_contiguous()
    return known


def _in_memory_order(lists: list[list[torch.Tensor]]) -> list[list[torch.Tensor]]:
    """``lists`` (weights, gradients, then each kind of state), with every
    weight that is dense but not contiguous, and whose gradient and state
    have its layout (``_weight_layout.same_layout``), replaced in all of them by a 1-D view in memory order;
    as they are where nothing is replaced (see the module's text)."""
    params = lists[0]
    out = None
    for i, p in enumerate(params):
        if p.is_contiguous():
            continue
        stride = p.stride()
        if not _dense(p) or any(other[i].stride() != stride and not same_layout(other[i], p) for other in lists[1:]):
            continue  # the kernel gets them as they are
        if out is None:
            out = [list(tensors) for tensors in lists]
        n = p.numel()
        for tensors in out:
            tensors[i] = tensors[i].as_strided((n,), (1,))
    return lists if out is None else out


def step(optimizer: torch.optim.Optimizer) -> bool:
    """One fused update of ``optimizer`` done here; False (nothing done) where
    ``torch.optim``'s own ``step`` must run instead (see the module's text)."""
    kind = type(optimizer)
    if not _KERNELS or kind not in (_SGD, _ADAM, _ADAMW) or not optimizer.defaults.get("fused"):
        return False
    if _hooked(optimizer) or getattr(optimizer, "grad_scale", None) is not None \
            or getattr(optimizer, "found_inf", None) is not None or torch.compiler.is_compiling():
        return False
    groups = []
    for group in optimizer.param_groups:
        if (not group.get("fused") or group.get("differentiable") or group.get("capturable")
                or torch.is_tensor(group["lr"])):
            return False
        found = _weights_and_gradients(group)
        if found is None:
            return False
        groups.append((group, *found))
    if kind is _SGD:
        return _sgd(optimizer, groups)
    return _adam(optimizer, groups)


def _sgd(optimizer: torch.optim.Optimizer, groups: list) -> bool:
    state = optimizer.state
    plans = []
    for group, params, grads in groups:
        momentum = group["momentum"]
        buffers = [] if momentum == 0 else [state[p].get("momentum_buffer") for p in params]
        first = bool(buffers) and buffers[0] is None
        if any((b is None) != first for b in buffers):  # some buffers made, some not: torch.optim decides
            return False
        plans.append((group, params, grads, buffers, first))
    for group, params, grads, buffers, first in plans:
        if first:
            buffers = [torch.empty_like(g) for g in grads]
        flat_params, flat_grads, *flat_buffers = _in_memory_order([params, grads] + ([buffers] if buffers else []))
        torch._fused_sgd_(
            flat_params, flat_grads, flat_buffers[0] if flat_buffers else [],
            weight_decay=group["weight_decay"], momentum=group["momentum"],
            lr=group["lr"], dampening=group["dampening"], nesterov=group["nesterov"],
            maximize=group["maximize"], is_first_step=first,
        )
        if first:
            for p, b in zip(params, buffers):
                state[p]["momentum_buffer"] = b
    return True


def _adam(optimizer: torch.optim.Optimizer, groups: list) -> bool:
    state = optimizer.state
    for group, _, _ in groups:
        if not all(isinstance(b, float) for b in group["betas"]):
            return False
    for group, params, grads in groups:
        amsgrad = group["amsgrad"]
        for p in params:
            s = state[p]
            if not s:  # the state torch.optim's first step would make, in the same form
                s["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                s["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                s["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if amsgrad:
                    s["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        states = [state[p] for p in params]
        steps = [s["step"] for s in states]
        torch._foreach_add_(steps, 1)
        decoupled = group.get("decoupled_weight_decay", type(optimizer) is _ADAMW)
        kernel = torch._fused_adamw_ if decoupled else torch._fused_adam_
        beta1, beta2 = group["betas"]
        moments = [[s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]]
        if amsgrad:
            moments.append([s["max_exp_avg_sq"] for s in states])
        flat_params, flat_grads, *flat_moments = _in_memory_order([params, grads, *moments])
        kernel(
            flat_params, flat_grads, flat_moments[0], flat_moments[1], flat_moments[2] if amsgrad else [], steps,
            amsgrad=amsgrad, lr=group["lr"], beta1=beta1, beta2=beta2,
            weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
            grad_scale=None, found_inf=None,
        )
    return True


def _undecorated(cls: type, name: str) -> Any:
    """torch.optim's own ``Optimizer.<name>`` without the wrapper that keeps
    ``torch.compile`` out of it (its first call imports ``torch._dynamo``), or
    None where ``cls`` has a method of its own or this PyTorch does not expose
    the wrapped one (no ``__wrapped__``)."""
    base = getattr(torch.optim.Optimizer, name)
    plain = getattr(base, "__wrapped__", None)
    return plain if plain is not None and getattr(cls, name) is base else None


def constructed(cls: type, params: list[torch.nn.Parameter], **kwargs: Any) -> torch.optim.Optimizer:
    """``cls(params, **kwargs)``, a ``torch.optim`` optimizer, its constructor's
    ``add_param_group`` calls run undecorated (``_undecorated``); else the
    plain constructor."""
    plain = _undecorated(cls, "add_param_group")
    if plain is None:
        return cls(params, **kwargs)
    optimizer = cls.__new__(cls)
    optimizer.add_param_group = plain.__get__(optimizer)  # this instance only, for its constructor
    try:
        optimizer.__init__(params, **kwargs)
    finally:
        del optimizer.add_param_group  # later groups go through torch.optim's own method
    return optimizer


def plain_call(optimizer: torch.optim.Optimizer, name: str, *args: Any) -> Any:
    """``optimizer.<name>(*args)`` for ``state_dict`` and ``load_state_dict``,
    undecorated where it can be (``_undecorated``)."""
    plain = _undecorated(type(optimizer), name)
    return getattr(optimizer, name)(*args) if plain is None else plain(optimizer, *args)


def zero_grad(optimizer: torch.optim.Optimizer) -> None:
    """Every gradient of the optimizer's weights set to None
    (``optimizer.zero_grad(set_to_none=True)``, without its profiler range)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            p.grad = None
