"""``TorchModuleWrapper(module)``: any ``torch.nn.Module`` as a brainnet layer,
under Keras 3's name. The module's parameters become the layer's weights
(trained by ``fit``, counted by ``summary``, saved by ``save_weights``); its
buffers (BatchNorm's running statistics) travel with them.

Saving the whole model is refused: Keras saves such a layer by pickling the
module, and brainnet never unpickles (see *Safe persistence* in DESIGN.md).
``save_weights`` / ``load_weights`` work, with the model built again in code.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

from .base import Layer, Shape, shape_str
from .symbolic import agreed_shape


class TorchModuleWrapper(Layer):
    """Any ``torch.nn.Module`` as a layer: its parameters are the layer's weights.

    Equation::

        y = module(x)

    In training the module runs in ``train()`` mode, otherwise in ``eval()``
    (dropout off, BatchNorm on its running statistics), as Keras 3 does.
    Frozen parameters (``requires_grad=False``) are non-trainable weights;
    ``trainable=False`` freezes them all.

    Args:
        module: a ``torch.nn.Module`` instance; a lazy module
            (``torch.nn.LazyLinear``) must have been called once first.
        name: layer name (default ``torch_module_wrapper``, numbered).
        output_shape: the output shape, batch axis first (``(None, 10)``),
            as Keras takes it; by default found by running the module on
            zeros, so symbolic models (``Input``, ``Sequential``) need none.
        **kwargs: ``input_shape``, ``trainable``.

    Call: ``layer(x, training=None, **kwargs)``: ``x`` (a tensor, or what the
    module takes) and the keyword arguments go to ``module``.

    Input shape: whatever ``module`` takes.
    Output shape: what ``module`` gives.

    Raises:
        TypeError: ``module`` is not a ``torch.nn.Module`` instance.
        ValueError: a lazy module not yet called, a malformed ``output_shape``
            or an output that does not match it, an input the module cannot
            take (its torch RuntimeError chained), and ``get_config`` (so
            ``model.save``), which a torch module cannot give.

    Example:
        >>> import torch
        >>> layer = TorchModuleWrapper(torch.nn.Linear(3, 2))
        >>> layer(torch.ones(4, 3)).shape, layer.count_params()
        (torch.Size([4, 2]), 8)
    """

    equation = "y = module(x)"

    def __init__(self, module: torch.nn.Module, name: str | None = None,
                 output_shape: Iterable[int | None] | None = None, **kwargs: Any) -> None:
        if not isinstance(module, torch.nn.Module):
            got = f"the class {module.__name__}" if isinstance(module, type) else type(module).__name__
            raise TypeError(
                f"TorchModuleWrapper: expected a torch.nn.Module instance, got {got}. "
                "Fix: TorchModuleWrapper(torch.nn.Linear(4, 8)) (an instance: note the parentheses)."
            )
        lazy = isinstance(module, torch.nn.modules.lazy.LazyModuleMixin) and module.has_uninitialized_params()
        if lazy:
            raise ValueError(
                f"TorchModuleWrapper: expected a module with its parameters made, got a lazy "
                f"{type(module).__name__} not yet called. Fix: call it once on a batch first, module(x[:1]), "
                "or give it its input size (torch.nn.Linear(in_features, out_features))."
            )
        super().__init__(name=name, **kwargs)
        self.module = module
        self.output_shape = None if output_shape is None else _checked_shape(output_shape)
        if not self._trainable:
            for p in module.parameters():
                p.requires_grad_(False)

    def call(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        self.module.train(bool(training))
        out = _run(self, inputs, kwargs, inputs.shape if isinstance(inputs, torch.Tensor) else None)
        if self.output_shape is not None and isinstance(out, torch.Tensor):
            want = self.output_shape
            if out.dim() != len(want) or any(w is not None and w != g for w, g in zip(want, out.shape)):
                raise ValueError(
                    f"Layer '{self.name}' (TorchModuleWrapper) expected outputs of shape {shape_str(want)} "
                    f"(its output_shape), got {shape_str(tuple(out.shape))}. Fix: give output_shape the shape "
                    "the module returns, batch axis first (None for sizes that vary), or leave it out."
                )
        return out

    def compute_output_shape(self, input_shape: Shape) -> Any:
        if self.output_shape is not None:
            return self.output_shape
        runs = [self._probe(input_shape, unknown) for unknown in (2, 3)]
        if isinstance(runs[0], (list, tuple)):
            return [agreed_shape(a.shape, b.shape) for a, b in zip(runs[0], runs[1])]
        return agreed_shape(runs[0].shape, runs[1].shape)

    def _probe(self, input_shape: Any, unknown: int) -> Any:
        """The module on zeros of ``input_shape`` (each unknown size ``unknown``), in eval mode."""
        like = next(self.module.parameters(), torch.zeros(()))

        def zeros(shape: Shape) -> torch.Tensor:
            return like.new_zeros(tuple(unknown if d is None else d for d in shape))

        probe = [zeros(s) for s in input_shape] if isinstance(input_shape, list) else zeros(input_shape)
        was_training = self.module.training
        self.module.eval()
        try:
            with torch.no_grad():
                return _run(self, probe, {}, None if isinstance(input_shape, list) else input_shape)
        finally:
            self.module.train(was_training)

    def get_config(self) -> dict[str, Any]:
        raise ValueError(
            f"save: expected layers that a JSON config can rebuild, got TorchModuleWrapper '{self.name}' around a "
            f"torch {type(self.module).__name__}, which only pickling could store (brainnet files never hold code). "
            "Fix: model.save_weights('model.weights.safetensors'), then build the same model in code and "
            "model.load_weights(...); or write the module as a brainnet Layer subclass with get_config()."
        )


def _run(layer: TorchModuleWrapper, inputs: Any, kwargs: dict, shape: Any) -> Any:
    """``layer.module(inputs, **kwargs)``; an input the module cannot take (torch's RuntimeError, e.g.
    channels last into a Conv2d) becomes an error that names the layer, the input shape and the fix."""
    try:
        return layer.module(inputs, **kwargs)
    except torch.cuda.OutOfMemoryError:
        raise
    except RuntimeError as error:
        got = f"shape {shape_str(tuple(shape))}" if shape is not None else f"a {type(inputs).__name__}"
        raise ValueError(
            f"Layer '{layer.name}' (TorchModuleWrapper) expected inputs that its torch {type(layer.module).__name__} "
            f"takes, got {got}, on which the module raised: {error}. Fix: make the module for these inputs (e.g. "
            "Linear(in_features=the last size)); torch's convolutions take channels first, (N, C, H, W), so turn "
            "brainnet's (N, H, W, C) round first with Permute((3, 1, 2)) in a model (x.permute(0, 3, 1, 2))."
        ) from error


def _checked_shape(shape: Any) -> tuple[int | None, ...]:
    try:
        dims = tuple(shape)
    except TypeError:
        dims = None
    if dims is None or not dims or not all(d is None or (isinstance(d, int) and d >= 0) for d in dims):
        raise ValueError(
            f"TorchModuleWrapper: expected output_shape as a tuple of sizes, batch axis first, each an int or "
            f"None, got {shape!r}. Fix: output_shape=(None, 10) for a module that gives (batch, 10)."
        )
    return dims
