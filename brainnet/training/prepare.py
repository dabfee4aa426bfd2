"""What fit, evaluate and predict are given, made ready for one compiled model.

``x`` (one array per model input, a list, or a dict keyed by the Inputs'
names), ``y`` (one label array per output, a list, or a dict keyed by output
name), ``sample_weight`` and ``class_weight`` are checked against the model
(its input shapes and dtypes, its outputs and their losses), turned into
tensors (``data.py``), and moved to the trainer's device. Inside, inputs,
labels and sample weights are lists of tensors, one per model input or
output; a single-input, single-output model has lists of one. The first
inputs build a model that is not built yet.

The array path prepares the whole arrays once per call; a DataLoader's
batches go through the same functions one by one (``streaming.py``). The
``batch_size`` and ``steps`` arguments are checked here too.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..layers._shapes import adjust_input_rank
from ..layers.base import check_model_input
from .. import metrics as metrics_module
from . import data as data_module
from . import structured, text_inputs

if TYPE_CHECKING:
    from .trainer import Trainer

DEFAULT_BATCH_SIZE = 32  # Keras's default for fit
DEFAULT_INFERENCE_BATCH_SIZE = 256  # evaluate/predict: larger batches, same results


def inputs(trainer: Trainer, x: Any, absent_ok: bool = False) -> list[torch.Tensor | None]:
    """``x`` as one tensor per model input, checked and on the device; with
    ``absent_ok`` (predict), None for an ``Input(..., optional=True)`` given None."""
    texts = text_inputs.vectorized(trainer, x)  # a model that takes strings: its text layers, applied once
    if texts is not None:
        return texts
    model = trainer.model
    if structured.takes_structure(model, x):
        return _structured_inputs(trainer, x)
    trainer.input_structure = None
    expected = model.input_shape
    if isinstance(expected, dict):
        raise ValueError(
            f"x: model '{model.name}' was built for a dict of inputs "
            f"{structured.describe(structured.template_of_shapes(expected))}, got one {type(x).__name__}. "
            "Fix: pass the arrays in a dict with those keys, "
            f"model.fit({{{', '.join(f'{k!r}: ...' for k in expected)}}}, y)."
        )
    multi = isinstance(expected, list)
    names = [t.name for t in getattr(model, "inputs", [])] if multi and isinstance(x, dict) else []
    if names:  # Keras 3: inputs keyed by the Inputs' names
        missing = [n for n in names if n not in x]
        if missing or len(x) != len(names):
            raise ValueError(
                f"x: expected a dict with one array per Input, keyed {names}, got keys {list(x)}. "
                f"Fix: model.fit({{{', '.join(f'{n!r}: ...' for n in names)}}}, y), or Input(name=...) "
                "to name the inputs as your dict does."
            )
        x = [x[n] for n in names]
    if multi and len(expected) == 1 and not isinstance(x, (list, tuple, dict)):
        x = [x]  # Model(inputs=[inp], ...): one array for the one input, as Keras 3 takes it
    if not multi and expected is not None and _one_batched_array_in_a_list(x, len(expected)):
        x = x[0]  # model.predict([x]) for a one-input model: its one array, as Keras 3 flattens the list
    if multi and not isinstance(x, (list, tuple)):
        raise ValueError(
            f"x: the model has {len(expected)} inputs, expected a list of {len(expected)} "
            f"arrays, got one {type(x).__name__}. Fix: model.fit([x_a, x_b], y)."
        )
    given = list(x) if multi else [x]
    if multi and len(given) != len(expected):
        raise ValueError(
            f"x: expected {len(expected)} arrays (one per model input), got {len(given)}. "
            "Fix: pass one array per Input, in the order of Model(inputs=[...])."
        )
    tensors = []
    for i, (xi, dtype) in enumerate(zip(given, model.input_dtypes(len(given)))):
        if xi is None and multi:
            tensors.append(_absent(model, i, absent_ok))
            continue
        t = data_module.as_tensor(xi, f"x[{i}]" if multi else "x")
        if expected is not None:
            want = expected[i] if multi else expected
            t = adjust_input_rank(t, want)  # (N,) for Input(shape=(1,)), as Keras 3
            if not hasattr(type(model), "inputs"):  # a subclassed model: Keras 3 fixes none of its input axes
                want = (None,) * len(want)  # (its layers check the sizes their weights need; each batch its length)
            check_model_input(tuple(t.shape), want)
        data_module.check_finite(t)
        if dtype is not None:
            data_module.check_indices(t, f"x[{i}]" if multi else "x")
        tensors.append(t)
    present = [t for t in tensors if t is not None]
    if not present:
        raise ValueError(
            f"x: expected an array for at least one input, got None for all {len(tensors)} of them. "
            "Fix: pass the arrays of the inputs that are not optional, model.predict([x_a, None])."
        )
    for t in present[1:]:
        data_module.check_same_length(present[0], t)
    if not model.built:
        shapes = [(None,) + tuple(t.shape[1:]) for t in tensors]
        model.build_from_shape(shapes if multi else shapes[0])
    dtypes = model.input_dtypes(len(tensors))
    return [None if t is None else t.to(trainer.device, dtype or model.dtype, non_blocking=True)
            for t, dtype in zip(tensors, dtypes)]


def _one_batched_array_in_a_list(x: Any, rank: int) -> bool:
    """``[array]`` whose one array already has the input's rank with its batch axis
    (stacked, it would have one axis too many and fail the shape check)."""
    return isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], (np.ndarray, torch.Tensor)) \
        and x[0].ndim == rank


def _structured_inputs(trainer: Trainer, x: Any) -> list[torch.Tensor]:
    """A subclassed model's structure of arrays (a dict, a list or tuple, or those inside
    one another) as one tensor per leaf, checked, on the device, floating ones in the
    model's dtype (integers kept: token ids); ``trainer.input_structure`` keeps the
    structure, which ``Trainer._model_input`` gives each batch before the model's call."""
    model = trainer.model
    leaves, template = structured.flat(x)
    built = model.input_shape
    if model.built and isinstance(built, (list, dict)) and \
            not structured.same_structure(structured.template_of_shapes(built), template):
        raise ValueError(
            f"x: model '{model.name}' was built for inputs structured as "
            f"{structured.describe(structured.template_of_shapes(built))}, got "
            f"{structured.describe(template)}. Fix: give the arrays in the structure the model's call was first "
            "given (the same keys, the same lengths of lists), or make a new model for the new structure."
        )
    tensors = []
    for name, value in leaves:
        t = data_module.as_tensor(value, name)
        data_module.check_finite(t)
        tensors.append(t)
    for (name, _), t in zip(leaves[1:], tensors[1:]):
        if t.shape[0] != tensors[0].shape[0]:
            raise ValueError(
                f"x: expected every array of x to hold the same number of samples, got {tensors[0].shape[0]} in "
                f"{leaves[0][0]} and {t.shape[0]} in {name}. Fix: pass the same samples in each, e.g. x[k][:n]."
            )
    if not model.built:
        model.build_from_shape(structured.shapes_in(template, [(None,) + tuple(t.shape[1:]) for t in tensors]))
    trainer.input_structure = template
    return [t.to(trainer.device, model.dtype if t.is_floating_point() else None, non_blocking=True)
            for t in tensors]


def _absent(model: Any, index: int, absent_ok: bool) -> None:
    """None for input ``index``: passed on (predict) for an ``Input(..., optional=True)``, else refused."""
    symbolic = model.inputs[index]
    if not symbolic.optional:
        raise ValueError(
            f"x[{index}]: the Input {symbolic.name!r} is not optional, expected an array for it, got None. "
            f"Fix: pass its array; for an input that may be missing, declare it Input(shape=..., "
            f"name={symbolic.name!r}, optional=True)."
        )
    if not absent_ok:
        raise ValueError(
            f"x[{index}]: expected an array for the Input {symbolic.name!r} in fit and evaluate, got None "
            "(predict and model(...) take None for an optional Input; training steps slice every input). "
            f"Fix: give {symbolic.name!r} an array here, or train with your own loop on model([x, None])."
        )


def labels(trainer: Trainer, y: Any, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    """``y`` as one label tensor per output, checked against the outputs the
    model gives for ``xs`` and their losses, and on the device. Resolves the
    metrics that depend on the labels (``"accuracy"``).

    An output compiled with no loss (``loss=[loss_fn, None]``, as Keras 3
    takes it) and no metrics needs no labels: ``y`` may then hold labels for
    the outputs that have a loss only (one array when one has), and such an
    output gets an empty ``(N, 0)`` tensor that nothing reads.

    A model compiled with no loss at all trains on ``model.losses`` (what its
    layers give ``add_loss``, and the penalties), as Keras 3; it then needs
    no ``y``."""
    if all(h.loss is None for h in trainer.heads):
        if not trainer.has_penalties():
            raise ValueError(
                "compile: expected a loss, got loss=None. "
                "Fix: model.compile(optimizer='adam', loss='sparse_categorical_crossentropy'), "
                "or add the loss in a layer's call with self.add_loss(...)."
            )
        if y is None:
            out_shapes = output_shapes(trainer, xs)
            for head, shape in zip(trainer.heads, out_shapes):
                head.resolve_metrics(shape[-1], False)
            return [torch.zeros(xs[0].shape[0], 0, device=trainer.device) for _ in trainer.heads]
    given = labels_per_output(trainer, y)
    out_shapes = output_shapes(trainer, xs)
    tensors = []
    for head, yi, shape in zip(trainer.heads, given, out_shapes):
        if yi is None and head.loss is None:  # no loss, metrics or labels (labels_per_output checked it)
            head.resolve_metrics(shape[-1], False)  # none to resolve: makes its empty lists
            tensors.append(torch.zeros(xs[0].shape[0], 0, device=trainer.device))
            continue
        t = data_module.as_tensor(yi, "y" if not trainer.multi_output else f"y[{head.name!r}]")
        data_module.check_same_length(xs[0], t)
        if head.loss is not None:
            t = data_module.prepare_labels(t, head.loss, shape)
        head.resolve_metrics(shape[-1], metrics_module.sparse_labels(tuple(t.shape), shape))
        tensors.append(t.to(trainer.device, non_blocking=True))
    return tensors


def labels_per_output(trainer: Trainer, y: Any) -> list[Any]:
    """``y`` spread over the outputs: a dict by output name, a list with one
    entry per output, or (Keras 3) the labels of only the outputs that have a
    loss, in order; None for an output without a loss that was given none."""
    heads = trainer.heads
    names = [h.name for h in heads]
    lossed = [h.name for h in heads if h.loss is not None]
    if isinstance(y, dict):
        missing = [n for n in lossed if n not in y]
        if missing:
            raise ValueError(
                f"y: expected labels for outputs {lossed}, got none for {missing}. "
                "Fix: y={name: labels, ...} with every output name."
            )
        given = [y.get(n) for n in names]
    elif trainer.multi_output:
        several = isinstance(y, (list, tuple))
        if several and len(y) == len(names):
            given = list(y)
        elif len(lossed) < len(names) and (len(y) == len(lossed) if several else len(lossed) == 1):
            labels = iter(y if several else [y])
            given = [next(labels) if h.loss is not None else None for h in heads]
        else:
            counts = f"{len(names)}" if len(lossed) == len(names) else f"{len(names)} (or {len(lossed)}, one per " \
                                                                       f"output with a loss: {lossed})"
            got = f"a list of {len(y)}" if several else f"one {type(y).__name__}"
            raise ValueError(
                f"y: the model has {len(names)} outputs {names}, expected a list of {counts} label arrays, got "
                f"{got}. Fix: model.fit(x, [y_a, y_b]) or y={{name: labels}}."
            )
    else:
        return [y]  # one output: its labels (as_tensor says what None is)
    for head, yi in zip(heads, given):
        if yi is None and (head.loss is not None or head.metric_specs or head.weighted_specs):
            raise ValueError(
                f"y: expected labels for output {head.name!r}, which has "
                f"{'a loss' if head.loss is not None else 'metrics'}, got None. Fix: pass its labels, or "
                "compile it with no loss and no metrics (loss=[loss_fn, None]) to train without them."
            )
    return given


def output_shapes(trainer: Trainer, xs: list[torch.Tensor]) -> list[tuple]:
    """The shape of each model output (batch axis first) for inputs ``xs``."""
    model = trainer.model
    in_shapes = [(None,) + tuple(t.shape[1:]) for t in xs]
    if trainer.input_structure is not None:  # a subclassed model's dict (or nested lists) of inputs
        out_shapes = model.compute_output_shape(structured.shapes_in(trainer.input_structure, in_shapes))
        return list(out_shapes.values()) if isinstance(out_shapes, dict) else \
            out_shapes if isinstance(out_shapes, list) else [out_shapes]
    if model.takes_text():  # xs hold the text layers' outputs (text_inputs): the model's own input shapes
        shapes = model.input_shape
        in_shapes = list(shapes) if isinstance(shapes, list) else [shapes]
    out_shapes = model.compute_output_shape(in_shapes if len(xs) > 1 else in_shapes[0])
    return out_shapes if isinstance(out_shapes, list) else [out_shapes]


def arrays(trainer: Trainer, x: Any, y: Any, sample_weight: Any = None, what: str = "sample_weight",
           ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """Inputs, labels and sample weights (one tensor per output, or
    none at all: ``[]``) on the device."""
    xs = inputs(trainer, x)
    ys = labels(trainer, y, xs)
    return xs, ys, sample_weights(trainer, sample_weight, ys[0].shape[0], what)


def sample_weights(trainer: Trainer, sample_weight: Any, samples: int, what: str) -> list[torch.Tensor]:
    """``sample_weight`` as one weight tensor (N,) per output on the device,
    as Keras takes it: one array for every output, or (several outputs) a
    list or a dict keyed by output name with one array each; ``[]`` for None."""
    if sample_weight is None:
        return []
    names = [h.name for h in trainer.heads]
    if isinstance(sample_weight, dict):
        if sorted(map(str, sample_weight)) != sorted(names):
            raise ValueError(
                f"{what}: expected one array per output, keyed by the output names {names}, got keys "
                f"{list(sample_weight)}. Fix: {what}={{{', '.join(f'{n!r}: w' for n in names)}}}, or one "
                "array for every output."
            )
        given, whats = [sample_weight[n] for n in names], [f"{what}[{n!r}]" for n in names]
    elif trainer.multi_output and isinstance(sample_weight, (list, tuple)) and sample_weight \
            and all(np.ndim(w) > 0 if not isinstance(w, torch.Tensor) else w.dim() > 0 for w in sample_weight):
        if len(sample_weight) != len(names):
            raise ValueError(
                f"{what}: expected one array per output ({len(names)}: {names}) or one array for every "
                f"output, got a list of {len(sample_weight)} arrays. Fix: give {len(names)} arrays in the "
                "order of the outputs, or a dict keyed by output name."
            )
        given, whats = list(sample_weight), [f"{what}[{i}]" for i in range(len(names))]
    else:  # one array, the same weights for every output
        weights = data_module.prepare_sample_weight(sample_weight, samples, what)
        return [weights_on_device(trainer, weights)] * len(names)
    return [weights_on_device(trainer, data_module.prepare_sample_weight(w, samples, label))
            for w, label in zip(given, whats)]


def weights_on_device(trainer: Trainer, weights: torch.Tensor) -> torch.Tensor:
    """Weights in the loss's float type (float64 only for a float64 model)."""
    dtype = torch.float64 if trainer.model.dtype == torch.float64 else torch.float32
    return weights.to(trainer.device, dtype, non_blocking=True)


def class_weights(trainer: Trainer, class_weight: Any, xs: list[torch.Tensor], ys: list[torch.Tensor],
                  sws: list[torch.Tensor], method: str) -> list[torch.Tensor]:
    """``class_weight`` turned into sample weights (Keras 3: not together
    with sample_weight, and for one output only)."""
    if class_weight is None:
        return sws
    if sws:
        raise ValueError(
            f"{method}: expected sample_weight or class_weight, got both (Keras 3 refuses them together "
            "too). Fix: fold the class weights into the sample weights, e.g. "
            "sample_weight = w * np.array([class_weight[c] for c in y]), and drop class_weight."
        )
    if trainer.multi_output:
        raise ValueError(
            f"class_weight: expected a model with one output (as Keras), got {len(trainer.heads)} outputs "
            f"{[h.name for h in trainer.heads]}. Fix: pass sample_weight={{output name: weights}} with "
            "each output's per-sample weights, e.g. made from its labels."
        )
    return [weights_on_device(trainer, data_module.class_sample_weights(class_weight, ys[0],
                                                                        output_shapes(trainer, xs)[0]))]


def first_batches(method: str, name: str, steps: int, batch_size: int | None, samples: int,
                  arrays: str = "arrays", verb: str = "evaluated") -> tuple[int, int]:
    """Keras 3's ``steps`` with arrays (evaluate's and predict's ``steps``, fit's
    ``validation_steps``): the batch size (given, or ``ceil(samples / steps)`` when
    left out, as Keras's array adapter makes it) and how many samples the first
    ``steps`` batches hold; all of them, with Keras's warning that the input ran
    out, when the arrays hold fewer batches."""
    if batch_size is None:
        batch_size = -(-samples // steps)
    batches = -(-samples // batch_size)
    if steps > batches:
        warnings.warn(
            f"{method}: {name}={steps} asks for {steps} batches of {batch_size}, got {arrays} of {samples} samples "
            f"({batches} batches): all of them are {verb} (Keras: its input ran out of data). Fix: {name}={batches} "
            "or less, or leave it out.",
            stacklevel=4,
        )
    return batch_size, min(samples, steps * batch_size)


def fit_batch_size(batch_size: int | None, steps_per_epoch: int | None, samples: int, default: int) -> int:
    """fit's batch size with arrays: the one given; when left out,
    ``ceil(samples / steps_per_epoch)`` if ``steps_per_epoch`` is given (so that
    an epoch is one pass over the training arrays, as Keras 3's array adapter
    makes it), else ``default`` (32)."""
    if batch_size is not None:
        return batch_size
    return -(-samples // steps_per_epoch) if steps_per_epoch else default


def warn_pass_ends(steps: int, count: int, samples: int, batch_size: int) -> None:
    """Keras 3's warning when an epoch of ``steps_per_epoch`` batches of arrays
    meets the end of the pass over them after ``count`` batches."""
    per_pass = -(-samples // batch_size)
    warnings.warn(
        f"fit: steps_per_epoch={steps} expected {steps} batches per epoch, got an epoch of {count}: the pass over "
        f"the {samples} samples ({per_pass} batches of {batch_size}) ended in it, so it ends early and the next epoch "
        f"starts a new pass (Keras 3: the input ran out of data). Fix: a steps_per_epoch that divides {per_pass}, "
        "or leave it out for epochs of one whole pass.",
        stacklevel=5,
    )


def _check_batch_size(batch_size: int | None, default: int) -> int:
    if batch_size is None:
        return default
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(
            f"batch_size: expected a positive integer, got {batch_size!r}. Fix: batch_size=32."
        )
    return int(batch_size)
