"""Mixed precision, with Keras's names: ``set_global_policy("mixed_bfloat16")``.

Under the policy ``"mixed_bfloat16"`` the weights stay float32 (the variable
dtype) and the layers compute in bfloat16 (the compute dtype): ``fit``,
``evaluate`` and ``predict`` run the forward pass under
``torch.autocast(dtype=torch.bfloat16)``, which casts the inputs of matrix
products and convolutions to bfloat16 and keeps the reductions that need range
(softmax, log-softmax, the losses) in float32. bfloat16 has float32's exponent
range, so no loss scaling is needed. It pays on GPUs with bfloat16 tensor
cores (A100, H100) and on CPUs with AMX or AVX-512 BF16; on other CPUs it is
slower than float32.

A model takes the policy that is global when it is compiled (Keras takes it
when each layer is created; brainnet's layers hold float32 weights under both
policies, so the difference is only when the choice is read). The default is
``"float32"``.

    >>> from brainnet import mixed_precision
    >>> mixed_precision.set_global_policy("mixed_bfloat16")
    >>> mixed_precision.global_policy().compute_dtype
    'bfloat16'
    >>> mixed_precision.set_global_policy("float32")
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

POLICIES = ("float32", "mixed_bfloat16")


@dataclass(frozen=True)
class DTypePolicy:
    """A dtype policy: the dtype layers compute in and the dtype of their weights."""

    name: str

    @property
    def compute_dtype(self) -> str:
        return "bfloat16" if self.name == "mixed_bfloat16" else "float32"

    @property
    def variable_dtype(self) -> str:
        return "float32"

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The ``torch.autocast`` dtype, or None for plain float32."""
        return torch.bfloat16 if self.name == "mixed_bfloat16" else None


_policy = DTypePolicy("float32")


def set_global_policy(policy: str | DTypePolicy) -> None:
    """Set the policy that models compiled from now on take.

    Args:
        policy: ``"float32"`` (default) or ``"mixed_bfloat16"``, or a
            ``DTypePolicy``.

    Raises:
        ValueError: another name (``"mixed_float16"`` included: float16 needs
            loss scaling, which brainnet does not do; bfloat16 does not).
    """
    global _policy
    name = policy.name if isinstance(policy, DTypePolicy) else policy
    if name not in POLICIES:
        hint = (" float16 needs loss scaling; bfloat16 has float32's range and needs none."
                if name == "mixed_float16" else "")
        raise ValueError(
            f"set_global_policy: expected one of {list(POLICIES)}, got {name!r}.{hint} "
            "Fix: mixed_precision.set_global_policy('mixed_bfloat16')."
        )
    _policy = DTypePolicy(name)


def global_policy() -> DTypePolicy:
    """The policy that a model compiled now takes."""
    return _policy


__all__ = ["DTypePolicy", "set_global_policy", "global_policy", "POLICIES"]
