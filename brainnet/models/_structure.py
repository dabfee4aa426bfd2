"""What a model is made of, for ``Model``'s introspection methods: the layers
directly inside it, a layer found by name or index (``get_layer``), and the
shapes a subclassed model gives, found by running ``call`` on zeros (it has no
graph to read them from).
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

import numpy as np
import torch

from ..layers.base import Layer
from ..layers.symbolic import agreed_shape
from ..training.trainer import inference_layers


# ------------------------------------------------------------ the layers
def top_layers(model: torch.nn.Module) -> list[Layer]:
    """The layers directly inside the model, in order: a Sequential's stack,
    a functional model's graph layers, a subclassed model's attributes
    (also inside ``nn.ModuleList``/``nn.ModuleDict``)."""
    found: list[Layer] = []

    def visit(module: torch.nn.Module) -> None:
        for child in module.children():
            if isinstance(child, Layer):
                found.append(child)
            else:
                visit(child)

    visit(model)
    return found


def find_layer(model: torch.nn.Module, name: str | None, index: int | None) -> Layer:
    """``Model.get_layer``: the layer named ``name`` or at ``index`` in ``model.layers``
    (a functional model's InputLayers first, as Keras 3), or an error listing the names."""
    layers = list(model.layers)
    names = [layer.name for layer in layers]
    if (name is None) == (index is None):
        got = f"both (name={name!r}, index={index!r})" if name is not None else "neither"
        raise ValueError(
            f"get_layer: expected a layer name or an index, got {got}. The model's layers are "
            f"{names}. Fix: model.get_layer({(names or ['dense'])[0]!r}) or model.get_layer(index=0)."
        )
    if index is not None:
        n = len(layers)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -n <= index < n:
            raise ValueError(
                f"get_layer: expected an index from {-n} to {n - 1} (the model has {n} layers: "
                f"{names}), got {index!r}. Fix: model.get_layer(index=-1) for the last layer, or "
                "get the layer by its name."
            )
        return layers[int(index)]
    if name in names:
        return layers[names.index(name)]
    close = difflib.get_close_matches(str(name), names, n=1)
    fix = f"model.get_layer({close[0]!r})" if close else "use one of those names"
    raise ValueError(
        f"get_layer: expected the name of one of the model's layers {names}, got {name!r}. Fix: {fix}."
    )


# ------------------------------------------------------------ shapes by running on zeros
def probe(model: Any, input_shape: Any, unknown: int = 1, whole: bool = False) -> Any:
    """Run ``model.call`` once on zeros (batch 1, unknown sizes ``unknown``) in inference mode;
    ``whole=True``: a plain shape with every size known is taken as it is, its first axis
    too (the first call's own input, which may be one unbatched image, as Keras 3 runs it)."""
    device = next((p.device for p in model.parameters()), None)

    def one(shape: Any) -> Any:  # a shape, or a list or dict of them (inside one another)
        if isinstance(shape, dict):
            return {k: one(s) for k, s in shape.items()}
        if isinstance(shape, list):
            return [one(s) for s in shape]
        if whole and shape and all(isinstance(d, int) for d in shape):
            return torch.zeros(tuple(shape), device=device)
        return torch.zeros((1,) + tuple(unknown if d is None else d for d in shape[1:]), device=device)

    zeros = one(input_shape)
    # a call that names `training` (Keras 3 fills it in; `call(self, x, training)` may give it no default)
    mode = {"training": False} if "training" in inspect.signature(model.call).parameters else {}
    with inference_layers(model), torch.no_grad():
        return model.call(zeros, **mode)


def probed_output_shape(model: Any, input_shape: Any) -> Any:
    """Output shape(s) of a subclassed model, found by two runs on zeros
    (unknown sizes 2, then 3: an output axis that follows them is unknown)."""
    first, second = (probe(model, input_shape, unknown) for unknown in (2, 3))
    if isinstance(first, dict):
        return {k: agreed_shape(first[k].shape, second[k].shape) for k in first}
    if isinstance(first, (list, tuple)):
        return [agreed_shape(a.shape, b.shape) for a, b in zip(first, second)]
    return agreed_shape(first.shape, second.shape)


def layer_output_shapes(model: Any, layers: list[Layer]) -> dict[Layer, tuple]:
    """The output shape each of ``layers`` gave in two runs of the model on
    zeros (unknown sizes 2, then 3); a layer that did not run, or gave
    several outputs, is left out, and all are when a run fails."""
    runs: list[dict[Layer, tuple]] = []
    for unknown in (2, 3):
        seen: dict[Layer, tuple] = {}

        def record(module: Layer, args: Any, out: Any, seen: dict = seen) -> None:
            if isinstance(out, torch.Tensor):
                seen.setdefault(module, tuple(out.shape))

        hooks = [m.register_forward_hook(record) for m in layers]
        try:
            probe(model, model.input_shape, unknown)
        except Exception:  # noqa: BLE001 - a summary shows '?' rather than fail
            return {}
        finally:
            for h in hooks:
                h.remove()
        runs.append(seen)
    return {m: agreed_shape(runs[0][m], runs[1][m]) for m in runs[0]
            if m in runs[1] and len(runs[0][m]) == len(runs[1][m])}
