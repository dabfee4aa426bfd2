"""A 3×3 convolution of one-channel images as one matrix product (CPU).

The first layer of the material's MNIST networks is ``Conv2D(32, (3, 3))`` on
(N, 28, 28, 1) images. With one input channel its equation

    y[n, p, q, j] = b[j] + Σ_{u,v} x[n, p + u, q + v] · w[j, u, v]

is a product of two small matrices: ``T`` (10, N·P·Q), whose rows are the
nine shifted P×Q windows ``x[:, u:u+P, v:v+Q]`` and a row of ones, and the
(F, 10) matrix ``[w | b]`` (the kernel flattened, the bias as its tenth
column)::

    y = Tᵀ · [w | b]ᵀ,   (N·P·Q, F): already the (N, P, Q, F) channels-last map

Autograd's backward pass is one more product, ``∂L/∂[w | b] = (T · ∂L/∂y)ᵀ``,
which gives the kernel's and the bias's gradients in one pass over
``∂L/∂y``. oneDNN's kernel for a one-channel convolution, bound by memory,
writes and reads the same (N, P, Q, F) map; the product was 1.08–1.18 ×
faster on the seed CNN's first convolution and its pooling, forward and
backward, at batch 64 in float32 (``python benchmarks/first_block.py``,
"taps and a row of ones"; BENCHMARKS.md): the saving is in the backward
pass. It was slower for a 5×5 kernel, under bfloat16 autocast and for the
forward pass alone (inference), so it is used only where it was measured
faster: training the kernel (gradients on, the kernel trainable), one
input channel, a 3×3 kernel, stride and dilation 1, no padding, one group,
float32 or float64 on the CPU, no autocast, not inside ``torch.compile``,
and images that need no gradient (a first layer: the product's gradient
for ``x`` would be a sum of shifted windows). Anything else goes to
``torch.conv2d``.
"""

from __future__ import annotations

from typing import Any

import torch

from ._call_inputs import autocast_enabled

_TAPS = 3


def applies(layer: Any, inputs: torch.Tensor) -> bool:
    """Whether ``convolve`` computes ``layer``'s convolution of ``inputs`` (see the module's docstring)."""
    kernel, bias = layer.kernel, layer.bias
    return (inputs.dim() == 4 and inputs.shape[-1] == 1 and tuple(kernel.shape[1:]) == (1, _TAPS, _TAPS)
            and layer.padding == "valid" and layer.groups == 1 and max(layer.strides) == 1
            and max(layer.dilation_rate) == 1 and inputs.device.type == "cpu"
            and inputs.dtype in (torch.float32, torch.float64) and kernel.dtype == inputs.dtype
            and (bias is None or bias.dtype == inputs.dtype) and not inputs.requires_grad
            and kernel.requires_grad and torch.is_grad_enabled()
            and not autocast_enabled("cpu") and not torch.compiler.is_compiling())


def convolve(inputs: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """(N, H, W, 1) images and an (F, 1, 3, 3) kernel: the (N, H − 2, W − 2, F) map."""
    n, height, width, _ = inputs.shape
    p, q = height - _TAPS + 1, width - _TAPS + 1
    pixels = inputs.reshape(n, height, width)
    rows = [pixels[:, u:u + p, v:v + q] for u in range(_TAPS) for v in range(_TAPS)]
    weights = kernel.reshape(kernel.shape[0], _TAPS * _TAPS)
    if bias is not None:
        rows.append(inputs.new_ones(n, p, q))
        weights = torch.cat([weights, bias[:, None]], 1)
    taps = torch.stack(rows).view(len(rows), n * p * q)
    return (taps.t() @ weights.t()).view(n, p, q, kernel.shape[0])
