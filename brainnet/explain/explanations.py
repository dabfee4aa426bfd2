"""Every picture of what a classifier looks at, for a few inputs, into one folder.

``write_explanations`` is what ``brainnet explain`` draws once it has
prepared the pictures: the saliency and SmoothGrad maps, Grad-CAM and the
feature maps when the model has a convolution, the attention weights when it
has attention layers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from brainnet.layers import Attention, Conv2D, MultiHeadAttention

from ._arguments import names_list
from ._model_io import as_input, find_layer, named_layers
from .attribution import grad_cam, saliency, smoothgrad
from .maps import attention_maps, feature_maps
from .plots import plot_attention, plot_feature_maps, plot_heatmaps

WHAT = "explain"


def _feature_layer(model: Any, x: np.ndarray, layer: str | None) -> str | None:
    """The layer whose maps Grad-CAM weighs and ``feature_maps`` draws: ``layer``
    (checked: a layer of the model whose output is ``(N, H', W', K)``), else
    the last Conv2D, else None (the model has no convolution)."""
    if layer is None:
        convs = [name for name, module in named_layers(model) if isinstance(module, Conv2D)]
        return convs[-1] if convs else None
    find_layer(model, layer, WHAT)  # unknown name: the error lists the model's layers
    outputs = feature_maps(model, x[:1], layers=[name for name, _ in named_layers(model)])
    got = outputs.get(layer, np.empty(0))
    if got.ndim != 3:  # (H', W', K) once the batch axis is dropped
        # Suggest the model's own layers, not those inside a block (an attention layer's projections).
        spatial = [name for name, out in outputs.items() if out.ndim == 3 and "/" not in name]
        fix = (f"name one of {', '.join(repr(n) for n in spatial)}" if spatial
               else "leave the layer out: this model has no layer with feature maps")
        raise ValueError(
            f"{WHAT}: expected layer {layer!r} to give feature maps (N, H', W', K), as a Conv2D or pooling "
            f"layer does, got output of shape {(None, *got.shape)}. Fix: {fix} "
            "(--layer NAME on the command line, layer='NAME' in Python)."
        )
    return layer


def write_explanations(model: Any, x: Any, out: str | os.PathLike, titles: Sequence[str] | None = None,
                       names: Sequence[str] | None = None, layer: str | None = None) -> list[Path]:
    """Writes PNGs of what the classifier looks at for each input of ``x``.

    Into ``out`` (created if missing), each map explaining the predicted
    class of each input:

    * ``saliency.png``: ``max_k |∂y_c/∂x(i, j, k)|`` beside each input
      (``saliency``);
    * ``smoothgrad.png``: the same gradient averaged over 25 noisy copies
      (``smoothgrad``);
    * ``grad_cam.png``: Grad-CAM at ``layer`` (default: the last Conv2D),
      when the model has a Conv2D or ``layer`` is given;
    * ``feature_maps_<name>.png``, one per input: the first 16 maps of every
      Conv2D, or of ``layer`` alone when given;
    * ``attention_<name>.png``, one per input, when the model has
      ``Attention``, ``MultiHeadAttention`` or Transformer layers: each
      head's weights ``softmax(QKᵀ/√d_k)``.

    Args:
        model: a brainnet classifier with one ``(N, classes)`` output.
        x: the inputs as the model takes them (normalised), ``(N, H, W, C)``
            images or ``(N, H, W)`` rows of pixels.
        out: the folder to write into.
        titles: a title per input, shown over it in the pictures; None: none.
        names: a short name per input for the per-input files; None:
            ``1``, ``2``, ...
        layer: the name of a layer with ``(N, H', W', K)`` output for
            Grad-CAM and the feature maps; None: the last Conv2D (every
            Conv2D for the feature maps).

    Returns:
        The paths written, in the order above.

    Raises:
        ValueError: ``layer`` is not a layer of the model or has no feature
            maps; the model is not a classifier with one output; or
            ``titles`` or ``names`` not one string per input.
        OSError: ``out`` cannot be written.

    Example:
        >>> import numpy as np
        >>> from brainnet.recipes.images import teaching_cnn
        >>> x = np.zeros((1, 28, 28, 1), "float32")
        >>> paths = write_explanations(teaching_cnn(), x, "explained")  # doctest: +SKIP
        >>> [p.name for p in paths]  # doctest: +SKIP
        ['saliency.png', 'smoothgrad.png', 'grad_cam.png', 'feature_maps_1.png']
    """
    out = Path(out)
    x = as_input(model, x).cpu().numpy()
    unnamed = "{argument}=None (the files are saliency.png, grad_cam.png, ... in out)"
    titles = names_list(titles, len(x), "write_explanations", "titles", unnamed.format(argument="titles"))
    names = names_list(names, len(x), "write_explanations", "names", unnamed.format(argument="names"))
    names = [str(n + 1) for n in range(len(x))] if names is None else names
    chosen = _feature_layer(model, x, layer)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def path(filename: str) -> Path:
        written.append(out / filename)
        return out / filename

    plot_heatmaps(x, saliency(model, x), titles, path=path("saliency.png"))
    plot_heatmaps(x, smoothgrad(model, x), titles, path=path("smoothgrad.png"))
    if chosen is not None:
        plot_heatmaps(x, grad_cam(model, x, layer=chosen), titles, path=path("grad_cam.png"))
        for n, name in enumerate(names):
            maps = feature_maps(model, x[n : n + 1], layers=None if layer is None else [layer])
            plot_feature_maps(maps, path=path(f"feature_maps_{name}.png"))
    if any(isinstance(m, (Attention, MultiHeadAttention)) for _, m in named_layers(model)):
        weights = attention_maps(model, x)  # {layer: (N, heads, T_q, T_k)}
        for n, name in enumerate(names):
            plot_attention(weights, sample=n, path=path(f"attention_{name}.png"))
    return written
