"""Keras 3's gradient clipping (``clipnorm``, ``global_clipnorm``,
``clipvalue``): the check of the optimizer's arguments, and the clipping
that ``Optimizer.apply_update`` applies before the update, in tensor
operations only so that it is part of a captured CUDA graph."""

from __future__ import annotations

import torch


def check_clipping(name: str, clipnorm: float | None, clipvalue: float | None,
                   global_clipnorm: float | None) -> tuple[float | None, float | None, float | None]:
    """``(clipnorm, clipvalue, global_clipnorm)`` as floats (or None), checked
    for optimizer ``name``: each a number ≥ 0 or None, at most one set.

    Raises:
        ValueError: a negative or non-numeric value, or more than one set.
    """
    given = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
    for arg, value in given.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise ValueError(
                f"{name}: expected {arg} to be a number ≥ 0 or None, got {value!r}. "
                f"Fix: {name}({arg}=1.0)."
            )
    set_ = [f"{arg}={value!r}" for arg, value in given.items() if value is not None]
    if len(set_) > 1:
        raise ValueError(
            f"{name}: expected at most one of clipnorm, clipvalue and global_clipnorm, got "
            f"{', '.join(set_)}. Fix: keep one, e.g. {name}(global_clipnorm=1.0) to clip all "
            "gradients together."
        )
    return tuple(None if v is None else float(v) for v in (clipnorm, clipvalue, global_clipnorm))


def clip_gradients(grads: list[torch.Tensor], clipnorm: float | None, global_clipnorm: float | None,
                   clipvalue: float | None) -> None:
    """Clip ``grads`` in place as Keras 3 does (the first of the three that
    is set and > 0): ``clipnorm`` rescales each gradient to a norm of at most
    clipnorm, ``global_clipnorm`` all of them together to a global norm of at
    most global_clipnorm, ``clipvalue`` clamps each entry to [−clipvalue, clipvalue].

    Tensor operations only (no value read on the host, no branch on one), so
    the clipping is part of a captured CUDA graph."""
    if not grads:
        return
    with torch.no_grad():
        if clipnorm and clipnorm > 0:
            factors = torch._foreach_norm(grads)  # ‖g‖₂ each
            torch._foreach_clamp_min_(factors, clipnorm)
            torch._foreach_reciprocal_(factors)
            torch._foreach_mul_(factors, clipnorm)  # c / max(‖g‖₂, c)
            torch._foreach_mul_(grads, factors)
        elif global_clipnorm and global_clipnorm > 0:
            norms = torch._foreach_norm(grads)
            total = torch.linalg.vector_norm(torch.stack([n.to(norms[0].device) for n in norms]))  # N
            # c·min(1/N, 1/c) = c / max(N, c); adding N − N turns an infinite or NaN N into NaN (Keras).
            scale = global_clipnorm * torch.clamp(total.reciprocal(), max=1.0 / global_clipnorm) + (total - total)
            torch._foreach_mul_(grads, scale)
        elif clipvalue and clipvalue > 0:
            torch._foreach_clamp_min_(grads, -clipvalue)
            torch._foreach_clamp_max_(grads, clipvalue)
