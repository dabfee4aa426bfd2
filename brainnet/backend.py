"""Keras's ``backend`` module, for what brainnet keeps global: ``clear_session``.

Tutorials write ``from keras import backend as K`` and call
``K.clear_session()`` between models built in a loop (a hyperparameter
search, a notebook cell run again), so that names start over and memory of
old models is released. brainnet has no backend to choose (PyTorch is the
engine), so this module holds that call (``brainnet.utils.clear_session``
is the same function, as in Keras 3) and, as Keras 3's ``keras.backend`` does,
the settings of ``brainnet.config`` that custom code reads through ``K``:
``backend()``, ``epsilon()`` (``K.epsilon()`` in a hand-written metric),
``floatx()``, ``image_data_format()`` and their setters, the same functions.
It also keeps Keras 2's ``ctc_batch_cost`` and ``ctc_decode`` (in
``brainnet._ctc_legacy``), which keras.io's older OCR examples call as
``keras.backend.ctc_*``.
"""

from __future__ import annotations

import gc
import sys

import torch

from . import mixed_precision
from ._ctc_legacy import ctc_batch_cost, ctc_decode
from .config import backend, epsilon, floatx, image_data_format, set_epsilon, set_floatx, set_image_data_format
from .layers import base, symbolic


def clear_session(free_memory: bool = True) -> None:
    """Reset what brainnet keeps between models, as Keras 3's ``clear_session``.

    * The automatic names start over: the next ``Dense()`` is ``dense``
      again, the next ``Input`` ``input_layer``, the next ``Sequential``
      ``sequential`` (and so on for every layer and model class).
    * The mixed-precision policy goes back to ``"float32"`` (Keras 3 keeps
      it in the state it resets, too).
    * ``torch.compile``'s caches are dropped when something was compiled
      (Keras's torch backend resets them): a model compiled with
      ``jit_compile=True`` compiles again at its next step.
    * With ``free_memory`` (default), Python's garbage collector runs, and
      on CUDA the memory PyTorch keeps cached for freed tensors is handed
      back to the GPU (``torch.cuda.empty_cache()``), so that models you
      no longer reference stop holding memory.

    Models and layers that already exist keep their names and weights and go
    on working; only names given from now on may repeat theirs.

    Args:
        free_memory: run the garbage collector and free the CUDA cache
            (may take a moment; ``False`` in a tight loop).

    Example:
        >>> from brainnet.layers import Dense
        >>> _ = [Dense(4) for _ in range(3)]
        >>> clear_session()
        >>> Dense(4).name
        'dense'
    """
    base._NAME_COUNTERS.clear()
    symbolic._INPUT_COUNT[0] = 0
    mixed_precision.set_global_policy("float32")
    if "torch._dynamo" in sys.modules:  # imported by a torch.compile; nothing to reset otherwise
        sys.modules["torch._dynamo"].reset()
    if free_memory:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


__all__ = ["clear_session", "backend", "epsilon", "floatx", "image_data_format", "set_epsilon", "set_floatx",
           "set_image_data_format", "ctc_batch_cost", "ctc_decode"]
