"""Pool before ReLU: the one rewrite a model makes when it runs its layers.

A ``Conv2D(..., activation="relu")`` (or any layer whose output is
``relu(pre-activation)``, ``Activation("relu")`` included) followed by
``MaxPooling2D`` computes
``maxpool(relu(z))``. Because ReLU never decreases, it commutes with the
maximum of each window::

    max_w relu(z_w) = relu(max_w z_w)

so the model pools the pre-activation first and applies ReLU to the pooled
map, a quarter of the size for 2×2 windows: the ReLU, its backward pass and
the memory they read and write shrink in proportion. The result is the same
to the last bit, forward and backward (tested in
``tests/models/test_fusion.py``):

* forward: both sides are the same number (ReLU and max are exact);
* backward: when the window's maximum is positive, both route the gradient to
  the same element (the first maximum of ``z``, which is also the first
  maximum of ``relu(z)``); when it is not, both give the window no gradient.

The rewrite is skipped whenever it could be seen: when the first layer has
an ``activity_regularizer`` (it must see the activated output), or when
either layer has forward or backward hooks (``brainnet.explain`` records
layer outputs with hooks; a hooked layer must return what it says it
returns), or when global module hooks are set.

``final_activation`` tells the trainer whether a model's last layer can give
its output before the activation (for softmax or sigmoid fused with the
cross-entropy).
"""

from __future__ import annotations

import functools
from typing import Any

from torch.nn.modules import module as _module

from .. import activations
from ..layers.base import Layer
from ..layers.pooling import MaxPooling2D
from ..layers.symbolic import Node, flatten, is_symbolic


def _hooked(layer: Any) -> bool:
    return bool(layer._forward_hooks or layer._forward_pre_hooks or layer._backward_hooks
                or layer._backward_pre_hooks)


def _defined_in(cls: type, name: str) -> type:
    return next(k for k in cls.__mro__ if name in k.__dict__)


@functools.lru_cache(maxsize=1024)
def _output_is_activated(cls: type) -> bool:
    """Whether a layer of class ``cls`` gives ``activation(call_pre_activation(x))``:
    it keeps Layer's ``call``, or its own ``call_pre_activation`` comes from the class
    that defines ``call`` or one below it. (A fact of the class, looked up once: fit asks
    at every step.)"""
    call_owner = _defined_in(cls, "call")
    pre_owner = _defined_in(cls, "call_pre_activation")
    return call_owner is Layer or (pre_owner is not Layer and issubclass(pre_owner, call_owner))


def final_activation(layer: Any) -> str | None:
    """The name of the activation a model's last layer applies last, when its output is
    known to be ``activation(call_pre_activation(x))`` (the trainer then fuses softmax or
    sigmoid with the cross-entropy on ``call_pre_activation``); None otherwise. A
    subclass that writes its own ``call`` (Keras's custom Dense with
    ``self.activation = activations.get(...)``) without its own ``call_pre_activation``
    gives None: its outputs are taken as they are, as Keras does."""
    if not isinstance(layer, Layer) or layer.activation is None:
        return None
    return layer.activation_name if _output_is_activated(type(layer)) else None


def pool_first(producer: Any, consumer: Any) -> bool:
    """True when ``consumer(producer(x))`` may run as ``relu(consumer(producer_pre(x)))``."""
    return (
        type(consumer) is MaxPooling2D
        and isinstance(producer, Layer)
        and getattr(producer, "activation", None) is activations.relu
        and type(producer).call is Layer.call  # its output is activation(call_pre_activation(x))
        and producer.activity_regularizer is None
        and consumer.activity_regularizer is None
        and not _hooked(producer)
        and not _hooked(consumer)
        and not (_module._global_forward_hooks or _module._global_forward_pre_hooks
                 or _module._global_backward_hooks or _module._global_backward_pre_hooks)
    )


def pool_first_nodes(nodes: list[Node], outputs: list) -> list[tuple[Node, Node]]:
    """For a functional graph: the (producer, reader) node pairs in which the
    producer's single output is read by the reader alone (and is not a model
    output). Whether a pair may fuse is checked at each call with
    ``pool_first``, since hooks can come and go."""
    readers: dict[int, list] = {}
    for node in nodes:
        for t in node.parents():
            readers.setdefault(id(t), []).append(node)
    output_ids = {id(t) for t in outputs}
    pairs = []
    for node in nodes:
        if len(node.outputs) != 1 or id(node.outputs[0]) in output_ids:
            continue
        users = readers.get(id(node.outputs[0]), [])
        if len(users) == 1 and not users[0].kwargs:
            (reader,) = users
            inputs = [t for t in flatten(reader.inputs) if is_symbolic(t)]
            if len(inputs) == 1 and inputs[0] is node.outputs[0]:
                pairs.append((node, reader))
    return pairs
