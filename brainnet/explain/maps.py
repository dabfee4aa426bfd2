"""What the layers inside a model computed: feature maps and attention weights."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import torch

from brainnet.layers import Attention, Conv2D, MultiHeadAttention

from ._model_io import as_input, capture_outputs, find_layer, named_layers


def feature_maps(model: torch.nn.Module, x: Any, layers: list[str] | None = None) -> dict[str, np.ndarray]:
    """The output of each Conv2D layer (or of the named layers) for one image.

    Equation: ``F_l = f_l(... f_1(x))``, the activations of layer l (after
    its activation function), captured with forward hooks during one
    inference pass.

    Args:
        model: a brainnet model (Sequential or functional).
        x: a batch of one input (``(1, H, W, C)``), or one input without the
            batch axis (``(H, W, C)``) when the model knows its input shape.
        layers: names of the layers to capture; None: every Conv2D.

    Returns:
        ``{name: array}`` in the model's layer order; a Conv2D's array is
        ``(H', W', filters)`` (the batch axis dropped).

    Raises:
        ValueError: an unknown layer name, a batch of more than one, or
            layers=None on a model without Conv2D.

    Example:
        >>> from brainnet.recipes.images import teaching_cnn
        >>> import numpy as np
        >>> maps = feature_maps(teaching_cnn(), np.zeros((28, 28, 1), "float32"))
        >>> {name: m.shape for name, m in maps.items()}  # doctest: +SKIP
        {'conv2d': (26, 26, 32), 'conv2d_1': (11, 11, 64)}
    """
    if layers is None:
        chosen = {name: m for name, m in named_layers(model) if isinstance(m, Conv2D)}
        if not chosen:
            raise ValueError(
                f"feature_maps: expected a model with a Conv2D layer, got {type(model).__name__} with none. "
                "Fix: name the layers to capture, feature_maps(model, x, layers=['dense'])."
            )
    else:
        chosen = {name: find_layer(model, name, "feature_maps") for name in layers}
    x = as_input(model, x)
    shape = getattr(model, "input_shape", None)
    if shape is not None and x.dim() == len(shape) - 1:
        x = x[None]  # one sample: add the batch axis
    if x.shape[0] != 1:
        raise ValueError(
            f"feature_maps: expected one input (a batch of 1 or a sample without the batch axis), "
            f"got a batch of {x.shape[0]}. Fix: feature_maps(model, x[:1])."
        )
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), capture_outputs(chosen) as outputs:
            model(x)
    finally:
        model.train(was_training)
    return {name: _first(outputs[name]) for name in chosen if name in outputs}


def _first(value: Any) -> np.ndarray:
    """Sample 0 of a layer's output (its first tensor if it gives several)."""
    tensor = value[0] if isinstance(value, (list, tuple)) else value
    return tensor[0].detach().cpu().numpy()


def attention_maps(model: torch.nn.Module, x: Any) -> dict[str, np.ndarray]:
    """The attention weights of every attention layer, for the inputs ``x``.

    Equation (per head h)::

        A_h = softmax(Q_h K_hᵀ / √d_k)    rows: query steps, columns: key steps, Σ_j A_h[i, j] = 1

    Covers ``Attention`` and ``AdditiveAttention`` (one head) and
    ``MultiHeadAttention``, including those inside ``TransformerEncoder``
    (``'<block>/self_attention'``) and ``TransformerDecoder``
    (``'<block>/self_attention'``, ``'<block>/cross_attention'``). How: for
    the one inference pass, each attention layer's ``call`` runs with
    ``return_attention_scores=True`` (the layer's own weights, computed on its
    explicit path rather than the fused kernel) and hands on only the output,
    so the model computes what it always does.

    Args:
        model: a brainnet model (Sequential or functional).
        x: the model's input (a batch; a list for several inputs).

    Returns:
        ``{name: array}`` with arrays ``(N, heads, T_q, T_k)``: ``maps[name][i]``
        is sample i's ``(heads, T_q, T_k)``. Empty when the model has no
        attention layer.

    Example:
        >>> import numpy as np
        >>> from brainnet.layers import Input, MultiHeadAttention
        >>> from brainnet.models import Model
        >>> inp = Input((5, 8))
        >>> model = Model(inp, MultiHeadAttention(2, 4, name="mha")(inp, inp))
        >>> attention_maps(model, np.ones((3, 5, 8), "float32"))["mha"].shape
        (3, 2, 5, 5)
    """
    chosen = {name: m for name, m in named_layers(model) if isinstance(m, (Attention, MultiHeadAttention))}
    inputs = [as_input(model, v) for v in x] if isinstance(x, (list, tuple)) else as_input(model, x)
    weights: dict[str, np.ndarray] = {}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), _recording_scores(chosen, weights):
            model(inputs)
    finally:
        model.train(was_training)
    return {name: weights[name] for name in chosen if name in weights}


@contextmanager
def _recording_scores(layers: dict[str, torch.nn.Module], weights: dict[str, np.ndarray]) -> Iterator[None]:
    """Each layer's ``call`` asks for its scores, records them, returns its usual output."""

    def wrap(name: str, call: Any) -> Any:
        def recording_call(inputs: Any, *args: Any, return_attention_scores: bool = False, **kwargs: Any) -> Any:
            out, scores = call(inputs, *args, return_attention_scores=True, **kwargs)
            per_head = scores[:, None] if scores.dim() == 3 else scores  # Attention's (N, T_q, T_k): one head
            weights[name] = per_head.detach().cpu().numpy()  # (N, heads, T_q, T_k)
            return (out, scores) if return_attention_scores else out

        return recording_call

    for name, layer in layers.items():
        layer.call = wrap(name, layer.call)
    try:
        yield
    finally:
        for layer in layers.values():
            del layer.call
