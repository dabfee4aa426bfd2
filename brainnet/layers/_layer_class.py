"""What ``Layer`` learns about a subclass once, when the class is defined
(``Layer.__init_subclass__`` runs ``learn``), so that no call has to ask
again: whether its ``call`` takes ``training`` and ``mask`` (``forward``, the
models and ``_masking`` pass them only then), whether ``call`` uses
``add_loss`` (its calls then collect losses, ``_added_losses.enter_loss_call``),
whether the class makes masks of its own (``compute_mask`` overridden), and a
``build`` that marks the layer built when called by hand (the user's classes'
and brainnet's own).
"""

from __future__ import annotations

import inspect

from ._shapes import built_by_hand
from ._weights import marks_built


def learn(cls: type, layer_class: type) -> None:
    """Set ``cls``'s flags ``_call_takes_training``, ``_call_takes_mask``,
    ``_adds_losses`` (also set later by ``add_loss`` called from a helper),
    ``_augments_when_left_out`` (a ``call(self, x, training=True)`` runs with
    True when ``training`` is left out, as Keras 3 takes the signature's default) and
    ``_own_compute_mask`` (Keras's ``supports_masking`` for a layer that makes
    masks), from its methods and the names its ``call``'s code uses; wrap a
    ``build`` defined outside brainnet so that ``layer.build(shape)`` by hand
    marks it built, as Keras 3, and a brainnet layer's so that it also keeps
    the shape (``_shapes.built_by_hand``)."""
    params = inspect.signature(cls.call).parameters
    cls._call_takes_training = "training" in params
    if "call" in cls.__dict__ and "_augments_when_left_out" not in cls.__dict__:
        # Keras 3: a call left without training= (and no outer flag) takes call's own default
        default = params["training"].default is True if cls._call_takes_training else False
        if default or not cls.__module__.startswith("brainnet."):  # a user's own call decides alone
            cls._augments_when_left_out = default
    cls._call_takes_mask = "mask" in params
    names = getattr(getattr(cls.call, "__code__", None), "co_names", ())  # what call's code names
    cls._adds_losses = cls._adds_losses or "add_loss" in names
    cls._collects_losses = cls._collects_losses or cls._adds_losses
    if "build" in cls.__dict__ and not cls.__module__.startswith("brainnet."):
        cls.build = marks_built(cls.__dict__["build"])
    elif "build" in cls.__dict__ and cls.__module__.startswith("brainnet.layers."):
        cls.build = built_by_hand(cls.__dict__["build"])  # Conv2D(...).build(shape) by hand builds it too
    cls._own_compute_mask = cls.compute_mask is not layer_class.compute_mask
