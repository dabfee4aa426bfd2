"""Keras 3's rules that ``Model`` follows at its edges: a subclass built as
``CustomModel(inputs, outputs)`` becomes a functional model that keeps the
subclass's methods; compile's Keras 3 arguments that brainnet reads through
``jit_compile``; and a ``TypeError`` that says what to do for an argument
Keras's ``fit`` or ``compile`` takes and brainnet's does not.
"""

from __future__ import annotations

import difflib
from typing import Any

# Arguments of Keras 3's methods that brainnet's do not take, and what to do instead.
ARGUMENTS = {
    "fit": ["x", "y", "batch_size", "epochs", "verbose", "callbacks", "validation_split", "validation_data",
            "shuffle", "class_weight", "sample_weight", "initial_epoch", "steps_per_epoch", "validation_steps",
            "validation_freq", "validation_batch_size"],
    "compile": ["optimizer", "loss", "metrics", "loss_weights", "device", "jit_compile", "weighted_metrics",
                "run_eagerly", "steps_per_execution", "auto_scale_loss"],
}


# ------------------------------------------------------------ the constructor
def functional_arguments(args: tuple, kwargs: dict[str, Any]) -> bool:
    """Whether a constructor call is ``(inputs, outputs)``, as Keras 3 tells them apart."""
    return len(args) == 2 or (len(args) == 1 and "outputs" in kwargs) or ("inputs" in kwargs and "outputs" in kwargs)


_FUNCTIONAL_SUBCLASSES: dict[type, type] = {}


def with_functional(cls: type, functional: type) -> type:
    """``cls`` with Functional's graph methods behind its own (one class per subclass, so that
    ``isinstance(model, CustomModel)`` and ``type(model).__name__`` stay the user's)."""
    if cls not in _FUNCTIONAL_SUBCLASSES:
        _FUNCTIONAL_SUBCLASSES[cls] = type(cls.__name__, (cls, functional),
                                           {"__module__": cls.__module__, "__qualname__": cls.__qualname__})
    return _FUNCTIONAL_SUBCLASSES[cls]


# ------------------------------------------------------------ compile and fit
def eager_or_compiled(run_eagerly: Any, jit_compile: Any, steps_per_execution: Any, auto_scale_loss: Any) -> Any:
    """compile's Keras 3 arguments that brainnet reads through ``jit_compile``:
    the ``jit_compile`` to use, or an error."""
    for name, value in (("run_eagerly", run_eagerly), ("auto_scale_loss", auto_scale_loss)):
        if not isinstance(value, bool):
            raise ValueError(f"compile: expected {name} to be True or False, got {value!r}. "
                             f"Fix: model.compile(..., {name}=True) or leave it out.")
    if isinstance(steps_per_execution, bool) or steps_per_execution != 1:
        raise ValueError(
            f"compile: expected steps_per_execution=1, got {steps_per_execution!r}: brainnet runs one batch per "
            "step call (Keras runs several inside one compiled call to cut the overhead per step). Fix: leave it "
            "out; for less overhead per sample use a larger batch_size in fit, or jit_compile=True (on CUDA the "
            "whole step becomes one CUDA graph)."
        )
    if run_eagerly and jit_compile is True:
        raise ValueError(
            "compile: expected run_eagerly=True (every step eager, to debug) or jit_compile=True (the step "
            "compiled, for speed), got both. Fix: keep one: model.compile(..., run_eagerly=True) while "
            "debugging, model.compile(..., jit_compile=True) once the model works."
        )
    return False if run_eagerly else jit_compile


def refuse_keras_only(method: str, given: dict[str, Any]) -> None:
    """A TypeError that names the arguments brainnet takes (all of Keras 3's for
    fit and compile) for an unknown one, rather than Python's bare "unexpected
    keyword"."""
    if not given:
        return
    name = next(iter(given))
    known = ARGUMENTS[method]
    close = difflib.get_close_matches(name, known, n=1)
    fix = f"check the spelling of {name!r}" + (f" (did you mean {close[0]}=?)" if close else "")
    raise TypeError(f"{method}: expected {', '.join(known[:-1])} or {known[-1]}, got {name}=. Fix: {fix}.")
