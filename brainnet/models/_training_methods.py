"""Model's training API, Keras 3's names and arguments: ``compile``, ``fit``,
``evaluate``, ``predict`` and the ``*_on_batch`` methods. Each is a plain
function of the model (its first argument is ``self``) that ``Model`` binds
as its method of the same name, as Keras keeps these in its trainer rather
than in the model; brainnet does it without a base class.

The functions check the arguments (Keras 3 ones that brainnet refuses get a
message that says what to do instead) and hand the work to the loop:
``brainnet.training.trainer`` for the built-in steps, or
``brainnet.training.custom_step`` for a model that overrides ``train_step``,
``test_step`` or ``predict_step``, or ``compute_loss`` (which Keras 3's
standard steps call, so fit and evaluate run them in Python for it).
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import torch

from .._optimizer_base import Optimizer
from ..training import custom_step, fitting
from ..training.callbacks import Callback, History
from ..training.inference import kept_modes
from ..training.trainer import Trainer, resolve_device
from . import _step_methods
from ._keras_compat import eager_or_compiled, refuse_keras_only


def compile(
    self,
    optimizer: Any = "rmsprop",
    loss: Any = None,
    metrics: Iterable[Any] | None = None,
    loss_weights: Any = None,
    device: str | torch.device | None = None,
    jit_compile: bool | str = "auto",
    weighted_metrics: Iterable[Any] | None = None,
    run_eagerly: bool = False,
    steps_per_execution: int = 1,
    auto_scale_loss: bool = True,
    **unknown: Any,
) -> None:
    """Configure training.

    Args:
        optimizer: name (``"adam"``, ``"sgd"``, ...) or a
            ``brainnet.optimizers`` instance; default ``"rmsprop"`` (Keras).
        loss: name, ``brainnet.losses`` function/class instance, or
            ``fn(y_true, y_pred)``; kept as given in ``model.loss``, as
            Keras 3 (a custom ``train_step`` may call ``self.loss``).
        metrics: list of names (``"accuracy"``), metric instances or
            functions. Several outputs: one list for all, a list of lists,
            or a dict keyed by output name (as ``loss`` and ``loss_weights``).
        loss_weights: weights of the outputs' losses in the total (default 1).
        device: ``"auto"``/None (CUDA if available, else CPU; or
            ``$BRAINNET_DEVICE``), ``"cpu"``, ``"cuda"``, ``"cuda:1"``.
        jit_compile: True makes the training step fast at a start-up
            cost: on CUDA the whole step (forward, backward, update) is
            captured as one CUDA graph after 3 eager steps (SGD, Adam,
            AdamW; other optimizers: ``torch.compile`` of the forward pass);
            on CPU the forward pass and loss are compiled with
            ``torch.compile`` (seconds to minutes the first time). ``"auto"``
            (default) and False run eagerly. The mixed-precision policy
            (``brainnet.mixed_precision.set_global_policy``) is read here too.
        weighted_metrics: metrics (in the forms of ``metrics``) that
            ``sample_weight`` and ``class_weight`` weigh, as in Keras 3:
            Σ_i w_i · m_i / Σ_i w_i; those of ``metrics`` ignore the
            weights (the loss never does). Without weights they are plain
            metrics. A name that ``metrics`` has too is logged with
            ``weighted_`` in front (``weighted_accuracy``).
        run_eagerly: True runs every step eagerly, op by op, so that a
            breakpoint or a print inside ``call`` sees real tensors (as
            Keras); brainnet is eager unless ``jit_compile=True``, so
            True means "no compilation" and cannot go with
            ``jit_compile=True``. False (default) leaves it to ``jit_compile``.
        steps_per_execution: 1 (default), the only value: each training
            step is one call. Keras runs that many batches inside one
            compiled call; brainnet's way to less overhead per sample is a
            larger ``batch_size``, or ``jit_compile=True`` on CUDA.
        auto_scale_loss: accepted for Keras code; either value trains the
            same. Keras scales the loss only under the ``"mixed_float16"``
            policy, which brainnet does not offer (``"mixed_bfloat16"``
            needs no loss scaling).

    Raises:
        ValueError: unknown optimizer, loss, metric or device, a
            jit_compile that is not True, False or "auto", run_eagerly=True
            with jit_compile=True, or steps_per_execution other than 1.
        TypeError: an argument compile does not take (the message lists
            those it takes, or says what to do instead of a Keras 2 one).
    """
    refuse_keras_only("compile", unknown)
    jit_compile = eager_or_compiled(run_eagerly, jit_compile, steps_per_execution, auto_scale_loss)
    self.trainer = Trainer(self, optimizer, loss, metrics, device, loss_weights, jit_compile, weighted_metrics)
    # Keras 3 keeps the argument as given (a custom train_step may call self.loss(y, y_pred)); a plain
    # attribute, so that a torch loss module does not join the model's layers nor a dict get tracked
    object.__setattr__(self, "loss", loss)
    self.to(self.trainer.device)


def set_optimizer(self, optimizer: Any) -> None:
    """``model.optimizer = opt`` after ``compile``, as Keras 3 allows (a
    ``compile`` override that calls ``super().compile()`` and then sets its
    own optimizer); a name or an instance, as ``compile`` takes."""
    if self.trainer is None:
        raise ValueError(
            f"{type(self).__name__}.optimizer = ...: expected a compiled model, got one not compiled yet. "
            "Fix: model.compile(optimizer=...) (or super().compile() in a compile override, then "
            "self.optimizer = ...)."
        )
    from .. import optimizers

    self.trainer.optimizer = optimizers.get(optimizer)


def fit(
    self,
    x: Any = None,
    y: Any = None,
    batch_size: int | None = None,
    epochs: int = 1,
    verbose: int | str = "auto",
    callbacks: list[Callback] | None = None,
    validation_split: float = 0.0,
    validation_data: tuple | None = None,
    shuffle: bool = True,
    class_weight: dict[int, float] | None = None,
    sample_weight: Any = None,
    initial_epoch: int = 0,
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    validation_freq: int | list[int] = 1,
    validation_batch_size: int | None = None,
    **keras_only: Any,
) -> History:
    """Train for ``epochs`` passes over ``(x, y)``; returns a ``History``.

    Args:
        x: inputs (NumPy, pandas, torch), shaped like the model's input;
            or, as Keras 3, a source of batches ``(x, y)`` or ``(x, y,
            sample_weight)`` (then ``y`` and ``sample_weight`` stay None):
            a ``torch.utils.data.DataLoader`` (one pass per epoch; its
            sampler shuffles), a ``torch.utils.data.Dataset`` (batched
            with ``batch_size`` and ``shuffle``), a
            ``brainnet.utils.PyDataset``, or a generator (needs
            ``steps_per_epoch``). These train with the eager (or
            ``torch.compile``d) step, not the CUDA graph.
        y: labels or targets.
        batch_size: samples per step (default 32); under torchrun the
            global batch, split over the processes (``brainnet.distributed``).
            Not with a DataLoader, PyDataset or generator (they batch).
        epochs: passes over the data.
        verbose: 0 silent, 1 progress bar (``"auto"``), 2 one line per epoch.
        callbacks: ``brainnet.callbacks.Callback`` instances.
        validation_split: fraction of the data, taken from the end before
            shuffling (as Keras), held out for validation.
        validation_data: ``(x_val, y_val)`` or ``(x_val, y_val,
            sample_weight_val)``; overrides validation_split.
        shuffle: reshuffle the training data every epoch.
        class_weight: ``{class index: weight}`` (Keras): each sample's loss
            is weighed by its class's weight (the argmax of a one-hot
            label), 1.0 for classes left out. One-output classifiers
            only; not together with ``sample_weight``; the validation
            data are not weighed by it.
        sample_weight: one weight ≥ 0 per sample, shape (N,) or (N, 1)
            (Keras): each sample's loss is multiplied by its weight and
            the batch's sum divided by the batch size (Keras's
            "sum_over_batch_size", not by the sum of the weights). With
            several outputs: one array for all, or a list or dict with
            one per output. ``validation_split`` splits the weights with
            the data; ``metrics`` ignore them, ``weighted_metrics`` use them.
        initial_epoch: epoch to start from (to resume; a
            ``BackupAndRestore`` backup overrides it).
        steps_per_epoch: batches per epoch from a DataLoader, PyDataset
            or generator (default: one pass; a generator needs it), going
            on from where the last epoch stopped.
        validation_steps: batches of a ``validation_data`` loader or
            generator to evaluate (default: one pass).
        validation_freq: validate after every N-th epoch (an int: the
            epochs whose number, counted from 1, is a multiple of N), or
            after the epochs of a list (``[1, 5, 10]``), as Keras 3. The
            other epochs have no ``val_`` logs, so ``History`` holds
            validation values for the validated epochs only and callbacks
            that monitor ``val_loss`` warn and skip the others.
        validation_batch_size: samples per validation batch of arrays (or
            of a ``Dataset``), as Keras 3's. Left out, brainnet validates
            arrays in batches of 256 (Keras: fit's ``batch_size``): the same
            values, fewer steps, unless the model's output in inference
            depends on the batch (a mixture of experts with a capacity per
            batch); pass ``validation_batch_size=batch_size`` for Keras's.
            With ``validation_steps``: the first ``validation_steps`` batches
            of this size.

    The steps run in ``train()`` mode and validation in ``eval()`` mode;
    at the end (also after an error or Ctrl-C) each layer's mode is put
    back as it was before fit, so ``model(x)`` infers again, as in Keras 3.
    A callback stops training with ``model.stop_training = True``.
    Ctrl-C stops after the current batch and returns the History of the
    finished epochs (with a warning); the model stays usable.

    Raises:
        RuntimeError: the model was not compiled.
        ValueError: inputs or labels that cannot be right (see
            ``brainnet.training.data``).
        FloatingPointError: a batch's loss was NaN or infinite (the
            message names the epoch, the batch and the usual causes).
    """
    refuse_keras_only("fit", keras_only)
    trainer = self._require_compiled("fit")
    trainer.validation_batch_size = fitting.check_validation_batch_size(validation_batch_size, validation_data)
    trainer.validates_with_test_step = _own_step(self, "test_step")  # Keras 3's fit validates with self.test_step
    with kept_modes(self):  # trains in train() mode; then model(x) infers again, as before fit (Keras 3)
        if _own_step(self, "train_step"):  # the user's own step or loss: custom_step.py
            return custom_step.fit(
                trainer, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
                initial_epoch, sample_weight, class_weight, steps_per_epoch, validation_steps,
                _own_step(self, "test_step"), validation_freq, _overridden(self, "train_step"),
            )
        return trainer.fit(
            x, y, batch_size, epochs, verbose, callbacks, validation_split,
            validation_data, shuffle, initial_epoch, sample_weight, class_weight, steps_per_epoch, validation_steps,
            validation_freq,
        )


def _own_step(model: Any, step: str) -> bool:
    """Whether ``fit`` (``step="train_step"``) or ``evaluate`` (``"test_step"``)
    must run the model's steps in Python (custom_step.py): the step is
    overridden, or ``compute_loss`` is, as a knowledge-distillation model
    does; Keras 3's standard steps call ``self.compute_loss``, so its
    override is what they minimize and report, which the built-in loop,
    computing the compiled loss itself, would not do."""
    cls = type(model)
    return (getattr(cls, step) is not getattr(_step_methods, step) or cls.compute_loss is not _step_methods.compute_loss
            or (step == "train_step" and _own_apply(model)))


def _own_apply(model: Any) -> bool:
    """Whether the optimizer's class overrides ``apply`` (keras.io's gradient
    centralization): Keras 3's standard step hands the gradients to
    ``optimizer.apply``, so its override runs at every step of fit, which the
    built-in loop, stepping the ``torch.optim`` optimizer itself, would skip."""
    return model.optimizer is not None and type(model.optimizer).apply is not Optimizer.apply


def _overridden(model: Any, step: str) -> str:
    """The method that sent ``fit`` or ``evaluate`` to the Python steps, for their errors."""
    if getattr(type(model), step) is not getattr(_step_methods, step):
        return step
    if type(model).compute_loss is _step_methods.compute_loss and step == "train_step" and _own_apply(model):
        return "optimizer.apply"
    return "compute_loss"


def evaluate(
    self,
    x: Any = None,
    y: Any = None,
    batch_size: int | None = None,
    verbose: int | str = "auto",
    sample_weight: Any = None,
    callbacks: list[Callback] | None = None,
    return_dict: bool = False,
    steps: int | None = None,
) -> float | list[float] | dict[str, float]:
    """Loss and metrics on ``(x, y)``: a float when there are no metrics,
    else ``[loss, *metrics]`` (a dict with ``return_dict=True``).

    ``batch_size`` defaults to 256: larger batches than fit's, same values.
    ``sample_weight`` weighs the loss and the weighted metrics as in ``fit``.
    ``x`` may be a DataLoader, Dataset, PyDataset or generator of ``(x,
    y)`` batches, as in ``fit``; ``steps`` then limits the batches read
    (default: one pass, or until a generator ends). With arrays, ``steps``
    evaluates their first ``steps`` batches (Keras 3; ``batch_size`` left
    out: ``ceil(len(x) / steps)``), all of them with a warning when fewer.
    """
    for cb in callbacks or []:
        cb.set_model(self)  # self.model in on_test_* hooks, as Keras
    trainer = self.trainer
    if _own_step(self, "test_step"):  # the user's own step or loss: custom_step.py
        trainer = self._require_compiled("evaluate")
        return custom_step.evaluate(trainer, x, y, batch_size, verbose, callbacks, return_dict, sample_weight,
                                    steps, _overridden(self, "test_step"))
    if trainer is None or trainer.loss is None:
        self._require_compiled("evaluate")
    return trainer.evaluate(x, y, batch_size, verbose, callbacks, return_dict, sample_weight, steps)


def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = 0,
            steps: int | None = None, callbacks: list[Callback] | None = None) -> np.ndarray:
    """Outputs for ``x`` as a NumPy array (no compile needed).

    ``batch_size`` defaults to 256. ``x`` may be a DataLoader, Dataset,
    PyDataset or generator (labels in its batches are ignored);
    ``steps`` then limits the batches read; with arrays, it predicts their
    first ``steps`` batches, as ``evaluate``. ``callbacks`` get
    ``on_predict_begin``, ``on_predict_batch_begin`` /
    ``on_predict_batch_end`` (logs ``{"outputs": ...}``, the batch's output
    tensors) and ``on_predict_end``, as in Keras 3.
    """
    for cb in callbacks or []:
        cb.set_model(self)
    trainer = self.trainer or Trainer(self, None, None, None, device_of_weights(self))
    if type(self).predict_step is not _step_methods.predict_step:  # the user's own step: custom_step.py
        return custom_step.predict(trainer, x, batch_size, steps, list(callbacks or []))
    return trainer.predict(x, batch_size, steps, callbacks)


def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                   class_weight: dict[int, float] | None = None,
                   return_dict: bool = False) -> float | list[float] | dict[str, float]:
    """One optimizer step on exactly the batch ``(x, y)``, as Keras 3: returns
    that batch's loss (a float), ``[loss, *metrics]`` with metrics, or a
    dict with ``return_dict=True``. The values come from the batch's forward
    pass, before the update; the metrics start over at every call.

    The step runs in training mode (dropout on), as ``fit``'s, and each
    layer's mode is put back afterwards (so ``model(x)`` still infers).
    ``sample_weight`` and ``class_weight`` weigh the loss as in ``fit``.

    Raises:
        RuntimeError: the model was not compiled.
        ValueError: inputs or labels that cannot be right (the same
            checks as ``fit``), or a run of several processes (torchrun).
    """
    trainer = self._require_compiled("train_on_batch")
    with kept_modes(self):  # the step in train() mode; then model(x) infers again, as before (Keras 3)
        if _own_step(self, "train_step"):  # the user's own step or loss: custom_step.py
            return custom_step.train_on_batch(trainer, x, y, sample_weight, class_weight, return_dict,
                                              _overridden(self, "train_step"))
        return trainer.train_on_batch(x, y, return_dict, sample_weight, class_weight)


def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                  return_dict: bool = False) -> float | list[float] | dict[str, float]:
    """Loss and metrics of exactly the batch ``(x, y)``, in inference mode,
    as ``evaluate`` returns them (the metrics start over at every call;
    ``sample_weight`` as in ``evaluate``).

    Raises:
        RuntimeError: the model was not compiled.
    """
    trainer = self.trainer
    if _own_step(self, "test_step"):  # the user's own step or loss: custom_step.py
        trainer = self._require_compiled("test_on_batch")
        return custom_step.test_on_batch(trainer, x, y, sample_weight, return_dict, _overridden(self, "test_step"))
    if trainer is None or trainer.loss is None:
        self._require_compiled("test_on_batch")
    return trainer.test_on_batch(x, y, return_dict, sample_weight)


def predict_on_batch(self, x: Any) -> np.ndarray | list[np.ndarray]:
    """Outputs for exactly the batch ``x`` as NumPy, in inference mode (no
    compile needed), as ``predict`` gives them; a model that overrides
    ``predict_step`` has it run once on the batch, as Keras 3 does."""
    trainer = self.trainer or Trainer(self, None, None, None, device_of_weights(self))
    if type(self).predict_step is not _step_methods.predict_step:  # the user's own step: custom_step.py
        return custom_step.predict_on_batch(trainer, x)
    return trainer.predict_on_batch(x)


def device_of_weights(model: torch.nn.Module) -> torch.device | None:
    """The device of the first weight, or the default device for a model without weights."""
    for p in model.parameters():
        return p.device
    return resolve_device(None)
