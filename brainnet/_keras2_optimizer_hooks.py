"""Keras 2's optimizer hooks that Keras 3 (and brainnet) never call, refused
when a subclass defines them, so that a ported recipe does not silently
train without its change to the gradients.

keras.io's "Gradient Centralization" subclasses ``RMSprop`` and overrides
``get_gradients(loss, params)``, the hook of Keras 2's optimizers. Keras 3's
optimizers have no such method and nothing calls it, so there the subclass
trains exactly as plain RMSprop. Keras 3's (and brainnet's) place for it is
``apply(grads, trainable_variables)``, which every step of ``fit`` calls.
"""

from __future__ import annotations

from typing import Any

_KERAS2_HOOKS = ("get_gradients",)


def refuse_keras2_hooks(cls: type[Any]) -> None:
    """Raise when the optimizer class ``cls`` defines a Keras 2 hook itself.

    Raises:
        TypeError: ``cls`` defines ``get_gradients``.
    """
    for hook in _KERAS2_HOOKS:
        if hook in vars(cls):
            raise TypeError(
                f"{cls.__name__} defines {hook}(loss, params), Keras 2's hook for changing the gradients; "
                "expected an override of apply(grads, trainable_variables=None), which every step of fit calls "
                f"(Keras 3's optimizers and brainnet's never call {hook}: this optimizer would train without "
                "the change, silently). Fix: def apply(self, grads, trainable_variables=None): "
                "grads = [change(g) for g in grads]; return super().apply(grads, trainable_variables)."
            )
