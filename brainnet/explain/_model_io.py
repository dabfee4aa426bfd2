"""What the explain functions share: inputs as tensors of the model's dtype,
layers by name, the class index per sample, and hooks that capture outputs."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import torch

from brainnet.layers import Layer


def as_input(model: torch.nn.Module, x: Any) -> torch.Tensor:
    """``x`` as a tensor on the model's device, in its floating dtype (a copy)."""
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.get_default_dtype()
    device = param.device if param is not None else torch.device("cpu")
    return torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).to(device=device, dtype=dtype).clone()


def named_layers(model: torch.nn.Module) -> list[tuple[str, Layer]]:
    """Every brainnet layer inside ``model`` (the model itself excluded), in
    registration order, named by its ``name``; a layer inside another gets
    ``outer/inner`` (``transformer_encoder/self_attention``)."""
    found: list[tuple[str, Layer]] = []

    def walk(module: torch.nn.Module, prefix: str) -> None:
        for child in module.children():
            if isinstance(child, Layer):
                name = prefix + child.name
                found.append((name, child))
                walk(child, name + "/")
            else:
                walk(child, prefix)

    walk(model, "")
    return found


def find_layer(model: torch.nn.Module, name: str, what: str) -> Layer:
    """The layer called ``name``; ValueError listing the names when none is."""
    layers = dict(named_layers(model))
    if name not in layers:
        known = ", ".join(repr(n) for n in layers) or "none"
        raise ValueError(
            f"{what}: expected the name of a layer of the model, got {name!r}; the model's layers are "
            f"{known}. Fix: pass one of these names (model.summary() lists them)."
        )
    return layers[name]


def class_indices(logits: torch.Tensor, class_index: Any, what: str) -> torch.Tensor:
    """The class whose score is explained, per sample: ``class_index`` (an int
    or one per sample), or the predicted class when None. Shape ``(N,)``."""
    n, classes = logits.shape[0], logits.shape[-1]
    if class_index is None:
        return logits.detach().argmax(-1)
    index = torch.as_tensor(np.asarray(class_index), device=logits.device).long().reshape(-1)
    if index.numel() == 1:
        index = index.expand(n)
    if index.numel() != n or bool(((index < 0) | (index >= classes)).any()):
        raise ValueError(
            f"{what}: expected class_index in 0..{classes - 1} (an int, or one per sample for "
            f"{n} samples), got {np.asarray(class_index).tolist()!r}. Fix: pass a class of the model's "
            f"{classes} outputs, or class_index=None for the predicted class."
        )
    return index


def class_scores(model: torch.nn.Module, x: torch.Tensor, class_index: Any, what: str) -> torch.Tensor:
    """``y_c`` per sample: the model's output before its last activation
    (``model(x, pre_activation=True)``, the logits of a softmax model) at
    class c. Shape ``(N,)``."""
    logits = model(x, pre_activation=True)
    if not torch.is_tensor(logits) or logits.dim() != 2:
        shape = tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
        raise ValueError(
            f"{what}: expected a classifier with one output of shape (N, classes), got {shape}. "
            "Fix: explain a model whose last layer gives one score per class (Dense(classes))."
        )
    index = class_indices(logits, class_index, what)
    return logits.gather(1, index[:, None])[:, 0]


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Inference mode (no dropout, moving statistics) for the block, with gradients on."""
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            yield
    finally:
        model.train(was_training)


@contextmanager
def capture_outputs(layers: dict[str, torch.nn.Module]) -> Iterator[dict[str, Any]]:
    """Forward hooks recording each layer's output of the calls in the block."""
    outputs: dict[str, Any] = {}
    handles = [layer.register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out))
               for name, layer in layers.items()]
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()
