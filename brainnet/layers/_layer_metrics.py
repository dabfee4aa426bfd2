"""The metrics a layer keeps itself (Keras 3's ``Layer.metrics``): a
``brainnet.metrics.Metric`` stored as an attribute of the layer (or in a list,
tuple or dict attribute), which its ``call`` updates. ``layer.metrics`` lists
the layer's own, then those of the layers inside it, each once; a model adds
them to ``model.metrics`` after the loss tracker and the compiled metrics, and
``fit`` and ``evaluate`` report them in the logs and reset them as they reset
their own (``brainnet.training.trainer``).
"""

from __future__ import annotations

from torch import nn

from .._metric_base import Metric


# torch's own bookkeeping in every module's __dict__ (its parameters, buffers,
# sub-modules and hooks), and plain values: never a metric. Skipping them
# halves the walk that train_on_batch makes twice per call.
_MODULE_STATE = frozenset(vars(nn.Module()))
_PLAIN = frozenset({bool, int, float, str, type(None)})


def own_metrics(layer: nn.Module) -> list[Metric]:
    """The metrics held in ``layer``'s own attributes, in the order they were set."""
    found: list[Metric] = []
    for key, value in vars(layer).items():
        if key in _MODULE_STATE or type(value) in _PLAIN:
            continue
        if isinstance(value, Metric):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            if value:
                found.extend(v for v in value if isinstance(v, Metric))
        elif isinstance(value, dict):
            found.extend(v for v in value.values() if isinstance(v, Metric))
    return found


def layer_metrics(layer: nn.Module, include_self: bool = True) -> list[Metric]:
    """``layer.metrics``: its own metrics, then those of every layer inside it
    (depth first, in the order the layers were set), each metric once."""
    seen: set[int] = set()
    found: list[Metric] = []
    for module in layer.modules():
        if module is layer and not include_self:
            continue
        for metric in own_metrics(module):
            if id(metric) not in seen:
                seen.add(id(metric))
                found.append(metric)
    return found

