"""Which pixels a classifier's decision depends on: saliency, SmoothGrad, Grad-CAM.

Each explains the class score ``y_c``: the model's output before its last
activation (``model(x, pre_activation=True)``; for a softmax classifier the
logit of class c, so the explanation does not shrink as softmax saturates).
The model runs in inference mode (no dropout); its weights are unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from brainnet.layers import Conv2D

from ._model_io import as_input, capture_outputs, class_indices, class_scores, eval_mode, find_layer, named_layers


def _input_gradients(model: torch.nn.Module, x: torch.Tensor, index: Any, what: str) -> torch.Tensor:
    """∂y_c/∂x for each sample (the samples are independent, so one backward of Σ_n y_c(n))."""
    x = x.detach().requires_grad_(True)
    scores = class_scores(model, x, index, what)  # (N,)
    (grad,) = torch.autograd.grad(scores.sum(), x)
    return grad


def _channel_max(grad: torch.Tensor) -> np.ndarray:
    """|g| reduced over the channel axis of (N, H, W, C) images; other ranks as they are."""
    magnitude = grad.abs()
    if magnitude.dim() == 4:
        magnitude = magnitude.amax(-1)  # (N, H, W)
    return magnitude.detach().cpu().numpy()


def saliency(model: torch.nn.Module, x: Any, class_index: Any = None) -> np.ndarray:
    """Gradient saliency (Simonyan et al. 2014): how much each pixel moves the class score.

    Equation::

        S_n(i, j) = max_k |∂y_c / ∂x_n(i, j, k)|

    ``y_c`` is the score of class c before the model's last activation
    (the logit of a softmax classifier); the maximum runs over the channels k.

    Args:
        model: a brainnet classifier (Sequential or functional) with one
            output of shape ``(N, classes)``.
        x: images ``(N, H, W, C)`` as the model takes them (normalised);
            other input ranks give ``|∂y_c/∂x|`` of the input's shape.
        class_index: the class explained: an int, one int per sample, or
            None for each sample's predicted class.

    Returns:
        NumPy ``(N, H, W)`` of the model's dtype, ≥ 0.

    Raises:
        ValueError: class_index out of range, or a model without one
            ``(N, classes)`` output.

    Example:
        >>> from brainnet.recipes.images import teaching_cnn
        >>> import numpy as np
        >>> saliency(teaching_cnn(), np.zeros((2, 28, 28, 1), "float32")).shape
        (2, 28, 28)
    """
    x = as_input(model, x)
    with eval_mode(model):
        return _channel_max(_input_gradients(model, x, class_index, "saliency"))


def smoothgrad(model: torch.nn.Module, x: Any, class_index: Any = None, samples: int = 25,
               noise: float = 0.15, seed: int = 0) -> np.ndarray:
    """SmoothGrad (Smilkov et al. 2017): saliency of the gradient averaged over noisy copies.

    Equation::

        ḡ_n = (1/S) Σ_s ∂y_c/∂x |_(x_n + ε_s),   ε_s ~ N(0, σ_n²),
        σ_n = noise · (max x_n − min x_n),      S_n(i, j) = max_k |ḡ_n(i, j, k)|

    The class c is chosen on the clean input (the predicted class when
    ``class_index`` is None), so every noisy copy explains the same class.

    Args:
        model, x, class_index: as for ``saliency``.
        samples: S, the noisy copies per image (default 25).
        noise: σ as a fraction of each image's value range (default 0.15).
        seed: seed of the noise, so a map is reproducible (default 0).

    Returns:
        NumPy ``(N, H, W)``, ≥ 0.

    Raises:
        ValueError: samples < 1, noise < 0, or as ``saliency``.

    Example:
        >>> from brainnet.recipes.images import teaching_cnn
        >>> import numpy as np
        >>> smoothgrad(teaching_cnn(), np.zeros((1, 28, 28, 1), "float32"), samples=2).shape
        (1, 28, 28)
    """
    if int(samples) < 1 or float(noise) < 0:
        raise ValueError(
            f"smoothgrad: expected samples ≥ 1 and noise ≥ 0, got samples={samples!r}, noise={noise!r}. "
            "Fix: smoothgrad(model, x, samples=25, noise=0.15)."
        )
    x = as_input(model, x)
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    with eval_mode(model):
        with torch.no_grad():
            logits = model(x, pre_activation=True)
        index = class_indices(logits, class_index, "smoothgrad")  # chosen on the clean input
        flat = x.reshape(x.shape[0], -1)
        sigma = float(noise) * (flat.amax(1) - flat.amin(1))  # (N,)
        sigma = sigma.reshape((-1,) + (1,) * (x.dim() - 1))
        total = torch.zeros_like(x)
        for _ in range(int(samples)):
            eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
            total += _input_gradients(model, x + sigma * eps, index, "smoothgrad")
    return _channel_max(total / int(samples))


def _conv_layer(model: torch.nn.Module, layer: str | None, what: str) -> tuple[str, torch.nn.Module]:
    if layer is not None:
        return layer, find_layer(model, layer, what)
    convs = [(name, m) for name, m in named_layers(model) if isinstance(m, Conv2D)]
    if not convs:
        raise ValueError(
            f"{what}: expected a model with a Conv2D layer (Grad-CAM weighs a convolution's feature "
            f"maps), got {type(model).__name__} '{getattr(model, 'name', '')}' with none. Fix: explain a "
            "convolutional model, name a layer with (N, H, W, C) output (layer='...'), or use saliency()."
        )
    return convs[-1]


def grad_cam(model: torch.nn.Module, x: Any, class_index: Any = None, layer: str | None = None) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017): where in the image a convolution layer found the class.

    Equations, for the feature maps ``A_k`` (k = 1..K) of the chosen layer::

        α_k = (1 / HW) Σ_ij ∂y_c / ∂A_k(i, j)
        L = ReLU(Σ_k α_k A_k)                    (H', W') at the layer's resolution
        M = L↑ / max L↑                          bilinear to the input's (H, W), in [0, 1]

    ``A`` is the layer's output (after its activation), ``(N, H', W', K)``
    channels-last as every brainnet image layer gives it, captured with a
    forward hook, so Sequential and functional models work alike. A map
    with no positive evidence stays all zeros.

    Args:
        model: a brainnet classifier with one ``(N, classes)`` output.
        x: images ``(N, H, W, C)`` as the model takes them.
        class_index: an int, one per sample, or None for the predicted class.
        layer: the name of the layer whose maps are weighed; None: the last
            Conv2D of the model.

    Returns:
        NumPy ``(N, H, W)`` in [0, 1].

    Raises:
        ValueError: no Conv2D (and no ``layer``), an unknown layer name, a
            layer whose output is not ``(N, H', W', K)``, or class_index out
            of range.

    Example:
        >>> from brainnet.recipes.images import teaching_cnn
        >>> import numpy as np
        >>> grad_cam(teaching_cnn(), np.random.rand(2, 28, 28, 1).astype("float32")).shape
        (2, 28, 28)
    """
    name, module = _conv_layer(model, layer, "grad_cam")
    x = as_input(model, x)
    if x.dim() != 4:
        raise ValueError(
            f"grad_cam: expected images of shape (N, H, W, C), got {tuple(x.shape)}. "
            "Fix: add the channel axis, x[..., None]."
        )
    with eval_mode(model), capture_outputs({name: module}) as outputs:
        scores = class_scores(model, x, class_index, "grad_cam")  # (N,)
        maps = outputs.get(name)
        if not torch.is_tensor(maps) or maps.dim() != 4:
            got = tuple(maps.shape) if torch.is_tensor(maps) else type(maps).__name__
            raise ValueError(
                f"grad_cam: expected layer '{name}' to give feature maps (N, H', W', K), got {got}. "
                "Fix: name a Conv2D or pooling layer (layer='...'), or leave layer=None for the last Conv2D."
            )
        (grads,) = torch.autograd.grad(scores.sum(), maps)  # (N, H', W', K)
    alpha = grads.mean(dim=(1, 2))  # (N, K)
    cam = F.relu(torch.einsum("nk,nhwk->nhw", alpha, maps.detach()))  # (N, H', W')
    cam = F.interpolate(cam[:, None], size=tuple(x.shape[1:3]), mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(1).clamp_min(torch.finfo(cam.dtype).tiny)  # (N,)
    return (cam / peak[:, None, None]).cpu().numpy()
