"""Pictures of training and of what a model learned, as PNG files.

Every function returns a ``matplotlib.figure.Figure`` (the Agg canvas: no
display, no pyplot state, safe in scripts and threads) and, given ``path``,
writes it atomically (a crash never leaves half a file): as a PNG, or in the
format the file name's suffix names when matplotlib writes it (``.pdf``,
``.svg``, ``.jpg``, ...), as ``savefig`` does.

The file is always ``path=``, named: a file name where a title or a number
belongs (``plot_heatmaps(x, maps, "cam.png")`` puts it in ``titles``) is
refused with the call that writes the file.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ._arguments import image_batch, is_file_name, layer_arrays, names_list, whole_number
from ._figures import PathLike, as_picture, finish_figure, panel_grid


def plot_history(history: Any, title: str | None = None, path: PathLike = None,
                 metrics: Sequence[str] | None = None) -> Figure:
    """Loss and metrics per epoch, train and validation, one panel per quantity.

    Args:
        history: a ``History`` (what ``fit`` returns) or its ``.history``
            dict (``loss``, ``accuracy``, ``val_loss``, ...).
        title: the figure's title; None: none.
        path: the file to write (a PNG, or the format of its suffix: .pdf,
            .svg, .jpg); None: only return the figure.
        metrics: the quantities to draw, each with its ``val_`` twin; None:
            every key that does not start with ``val_``, in order.

    Returns:
        The figure.

    Raises:
        TypeError: ``history`` is not a History or a dict, or ``title`` not a string.
        ValueError: ``title`` is a file name (``path=`` writes the file), or
            ``metrics`` a single string or names not in the history.

    Example:
        >>> fig = plot_history({"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]})
        >>> len(fig.axes)
        1
    """
    what = "plot_history"
    logs: Mapping[str, Sequence[float]] = getattr(history, "history", history)
    if not isinstance(logs, Mapping):
        raise TypeError(
            "plot_history: expected a History (what fit returns) or its .history dict, got "
            f"{type(history).__name__}. "
            "Fix: plot_history(model.fit(...), path='curves.png')."
        )
    if is_file_name(title):
        raise ValueError(
            f"plot_history: expected title as the figure's heading, got {str(title)!r}, a file name. "
            f"Fix: plot_history(history, path={str(title)!r})."
        )
    if title is not None and not isinstance(title, str):
        raise TypeError(
            f"plot_history: expected title as a string, got {type(title).__name__} {title!r}. "
            "Fix: name the arguments, plot_history(history, title='...', path='curves.png', metrics=['loss'])."
        )
    known = [key for key in logs if not key.startswith("val_")]
    if isinstance(metrics, str):
        raise ValueError(f"plot_history: expected metrics as a list of names, got the string {metrics!r}. "
                         f"Fix: metrics=[{metrics!r}].")
    if metrics is None:
        metrics = known or ["loss"]
    elif any(m not in logs and f"val_{m}" not in logs for m in metrics):
        raise ValueError(
            f"plot_history: expected metrics among the history's {known}, got {list(metrics)}. "
            f"Fix: metrics={known[:2]}, or metrics=None for all."
        )
    fig = Figure(figsize=(5 * len(metrics), 4), dpi=100)
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    for ax, metric in zip(axes, metrics):
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            if key in logs:
                epochs = range(1, len(logs[key]) + 1)
                ax.plot(epochs, logs[key], marker="o", label=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title is not None:
        fig.suptitle(title)
    return finish_figure(fig, path, what)


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts of (true class, predicted class) pairs.

    Equation: ``C[i, j] = #{n : y_true[n] = i and y_pred[n] = j}``; the
    diagonal holds the correct answers, ``C.sum() = N``.

    Args:
        y_true: class indices ``(N,)``.
        y_pred: class indices ``(N,)`` (``probabilities.argmax(-1)``).
        num_classes: K; None: ``max(y_true, y_pred) + 1``.

    Returns:
        int64 ``(K, K)``, rows the true class, columns the predicted class.

    Raises:
        ValueError: arrays of different lengths or not 1-D, negative classes,
            or a class ≥ num_classes.

    Example:
        >>> confusion_matrix([0, 1, 1], [0, 1, 0]).tolist()
        [[1, 0], [1, 1]]
    """
    y_true, y_pred = np.asarray(y_true).astype(np.int64), np.asarray(y_pred).astype(np.int64)
    if y_true.ndim != 1 or y_true.shape != y_pred.shape:
        raise ValueError(
            f"confusion_matrix: expected y_true and y_pred of one class index per sample, the same shape "
            f"(N,), got {y_true.shape} and {y_pred.shape}. Fix: pass labels and probabilities.argmax(-1)."
        )
    k = int(max(y_true.max(initial=-1), y_pred.max(initial=-1)) + 1) if num_classes is None else int(num_classes)
    if y_true.size and (min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= k):
        raise ValueError(
            f"confusion_matrix: expected class indices in 0..{k - 1}, got values from "
            f"{min(y_true.min(), y_pred.min())} to {max(y_true.max(), y_pred.max())}. "
            "Fix: pass class indices (not one-hot rows), and num_classes at least the largest + 1."
        )
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def plot_confusion_matrix(y_true: Any, y_pred: Any, class_names: Sequence[str] | None = None,
                          path: PathLike = None) -> Figure:
    """The confusion matrix as a picture, with the counts written in each cell.

    Args:
        y_true, y_pred: class indices ``(N,)``.
        class_names: a name per class for the axes; None: the indices.
        path: the file to write (a PNG, or the format of its suffix: .pdf,
            .svg, .jpg); None: only return the figure.

    Returns:
        The figure.

    Raises:
        ValueError: as ``confusion_matrix``; ``class_names`` a single string
            (a file name: ``path=`` writes the file).

    Example:
        >>> fig = plot_confusion_matrix([0, 1, 1], [0, 1, 0], class_names=["cat", "dog"])
    """
    what = "plot_confusion_matrix"
    class_names = names_list(class_names, None, what, "class_names",
                             "plot_confusion_matrix(y_true, y_pred, path={path})")
    k = None if class_names is None else len(class_names)
    counts = confusion_matrix(y_true, y_pred, k)
    names = [str(i) for i in range(len(counts))] if class_names is None else list(class_names)
    size = 2 + 0.5 * len(counts)
    fig = Figure(figsize=(size + 1, size), dpi=100)
    ax = fig.subplots()
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ticks = range(len(counts))
    ax.set_xticks(ticks, names, rotation=45, ha="right")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    half = counts.max() / 2 if counts.size else 0
    for (i, j), count in np.ndenumerate(counts):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                color="white" if count > half else "black")
    ax.set_title(f"confusion matrix ({int(np.trace(counts))} of {int(counts.sum())} correct)")
    return finish_figure(fig, path, what)


def plot_most_confident_errors(x: Any, y_true: Any, probabilities: Any, k: int = 16,
                               class_names: Sequence[str] | None = None, path: PathLike = None) -> Figure:
    """A grid of the k misclassified images the model was most sure about.

    The errors are the samples with ``argmax p ≠ y_true``, sorted by the
    probability of the (wrong) predicted class, highest first; each panel
    reads ``true → predicted (p)``.

    Args:
        x: images ``(N, H, W)`` or ``(N, H, W, C)``, C = 1 or 3.
        y_true: class indices ``(N,)``.
        probabilities: ``model.predict(x)``, ``(N, classes)``.
        k: how many errors to show at most (default 16).
        class_names: names for the labels; None: the indices.
        path: the file to write (a PNG, or the format of its suffix: .pdf,
            .svg, .jpg); None: only return the figure.

    Returns:
        The figure (one panel saying "no errors" when there are none).

    Raises:
        ValueError: x, y_true and probabilities of different lengths, x not
            images, ``class_names`` not one name per class, or ``k`` a file
            name (``path=`` writes the file).
        TypeError: ``k`` not an integer.

    Example:
        >>> import numpy as np
        >>> fig = plot_most_confident_errors(np.zeros((2, 4, 4)), [0, 1], [[0.2, 0.8], [0.1, 0.9]])
    """
    what = "plot_most_confident_errors"
    k = whole_number(k, what, "k", "the number of errors to show",
                     "plot_most_confident_errors(x, y_true, probabilities, path={path})",
                     "name the arguments, plot_most_confident_errors(x, y_true, probabilities, k=16, "
                     "class_names=[...], path='errors.png')")
    x, y_true, probabilities = np.asarray(x), np.asarray(y_true).astype(np.int64), np.asarray(probabilities)
    if not (len(x) == len(y_true) == len(probabilities)) or probabilities.ndim != 2:
        raise ValueError(
            f"plot_most_confident_errors: expected x (N, H, W[, C]), y_true (N,) and probabilities "
            f"(N, classes) for the same N, got {x.shape}, {y_true.shape} and {probabilities.shape}. "
            "Fix: pass the images, their labels and model.predict(images)."
        )
    image_batch(x, what, "x")
    names = names_list(class_names, probabilities.shape[1], what, "class_names",
                   "plot_most_confident_errors(x, y_true, probabilities, path={path})")
    predicted = probabilities.argmax(-1)
    confidence = probabilities[np.arange(len(predicted)), predicted]
    wrong = np.flatnonzero(predicted != y_true)
    chosen = wrong[np.argsort(-confidence[wrong], kind="stable")][: max(int(k), 0)]
    name = (lambda c: str(c)) if names is None else (lambda c: names[c])
    fig, axes = panel_grid(max(len(chosen), 1), columns=4, cell=2.0)
    if not len(chosen):
        axes[0].text(0.5, 0.5, "no errors", ha="center", va="center")
    for ax, n in zip(axes, chosen):
        ax.imshow(as_picture(x[n]), cmap="gray")
        ax.set_title(f"{name(y_true[n])} → {name(predicted[n])} ({confidence[n]:.2f})", fontsize=8)
    fig.suptitle("most confident errors: true → predicted (probability)")
    return finish_figure(fig, path, what)


def plot_heatmaps(images: Any, maps: Any, titles: Sequence[str] | None = None, path: PathLike = None,
                  alpha: float = 0.5) -> Figure:
    """Each image beside itself overlaid with its map (saliency, SmoothGrad, Grad-CAM).

    Args:
        images: ``(N, H, W)`` or ``(N, H, W, C)``.
        maps: ``(N, H, W)``, e.g. ``grad_cam(model, images)``.
        titles: one title per image; None: none.
        path: the file to write (a PNG, or the format of its suffix: .pdf,
            .svg, .jpg); None: only return the figure.
        alpha: opacity of the map over the image (default 0.5).

    Returns:
        The figure: two panels per image, the image and the overlay.

    Raises:
        ValueError: images not ``(N, H, W[, C])``, maps not ``(N, H, W)`` of
            the same N, H, W, or ``titles`` not one string per image (a
            single string is refused; a file name goes in ``path=``).

    Example:
        >>> import numpy as np
        >>> fig = plot_heatmaps(np.zeros((2, 28, 28, 1)), np.random.rand(2, 28, 28))
    """
    what = "plot_heatmaps"
    given = maps
    images, maps = np.asarray(images), np.asarray(maps)
    image_batch(images, what, "images")
    if maps.shape != images.shape[:3]:
        got = f"a {type(given).__name__}" if isinstance(given, Mapping) else maps.shape
        raise ValueError(
            f"plot_heatmaps: expected maps of shape {images.shape[:3]}, one (H, W) map per image, got {got}. "
            "Fix: pass maps computed from these images, e.g. plot_heatmaps(x, grad_cam(model, x))."
        )
    titles = names_list(titles, len(images), what, "titles", "plot_heatmaps(images, maps, path={path})")
    fig, axes = panel_grid(2 * len(images), columns=4, cell=2.0)
    for n in range(len(images)):
        picture = as_picture(images[n])
        axes[2 * n].imshow(picture, cmap="gray")
        axes[2 * n + 1].imshow(picture, cmap="gray")
        axes[2 * n + 1].imshow(as_picture(maps[n]), cmap="jet", alpha=alpha)
        if titles is not None:
            axes[2 * n].set_title(titles[n], fontsize=8)
    return finish_figure(fig, path, what)


def plot_feature_maps(maps: Mapping[str, np.ndarray], path: PathLike = None, channels: int = 16) -> Figure:
    """The first ``channels`` feature maps of each layer, one row per layer.

    Args:
        maps: ``feature_maps(model, x)``: ``{name: (H, W, C)}``.
        path: the file to write (a PNG, or the format of its suffix: .pdf,
            .svg, .jpg); None: only return the figure.
        channels: maps drawn per layer at most (default 16).

    Returns:
        The figure.

    Raises:
        TypeError: ``maps`` not a dict, or ``path`` not a file name.
        ValueError: a map not ``(H, W, C)``, or ``channels`` < 1.

    Example:
        >>> import numpy as np
        >>> fig = plot_feature_maps({"conv2d": np.random.rand(26, 26, 32)})
    """
    what = "plot_feature_maps"
    rows = layer_arrays(maps, 3, what, "(H, W, C)", "plot_feature_maps(feature_maps(model, x[:1]), path='maps.png')")
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
        raise ValueError(f"plot_feature_maps: expected channels as a number ≥ 1 of maps per layer, got {channels!r}. "
                         "Fix: channels=16.")
    width = max(min(m.shape[-1], channels) for _, m in rows) if rows else 1
    fig, axes = panel_grid(max(len(rows), 1) * width, columns=width, cell=1.2)
    for r, (name, values) in enumerate(rows):
        for c in range(min(values.shape[-1], channels)):
            ax = axes[r * width + c]
            ax.imshow(values[..., c], cmap="viridis")
            if c == 0:
                ax.set_title(name, fontsize=7, loc="left")
    return finish_figure(fig, path, what)


def plot_attention(maps: Mapping[str, np.ndarray], sample: int = 0, path: PathLike = None) -> Figure:
    """Attention weights of one sample: a panel per layer and head, query steps down, key steps across.

    Args:
        maps: ``attention_maps(model, x)``: ``{name: (N, heads, T_q, T_k)}``.
        sample: which sample of the batch (default 0).
        path: the file to write (a PNG, or the format of its suffix: .pdf,
            .svg, .jpg); None: only return the figure.

    Returns:
        The figure.

    Raises:
        TypeError: ``maps`` not a dict, or ``sample`` not an integer.
        ValueError: a map not ``(N, heads, T_q, T_k)``, ``sample`` outside
            the batch, or a file name as ``sample`` (``path=`` writes the file).

    Example:
        >>> import numpy as np
        >>> fig = plot_attention({"mha": np.full((1, 2, 3, 3), 1 / 3)})
    """
    what = "plot_attention"
    layers = layer_arrays(maps, 4, what, "(N, heads, T_q, T_k)", "plot_attention(attention_maps(model, x), "
                           "path='attention.png')")
    sample = whole_number(sample, what, "sample", "the index of a sample in the batch",
                          "plot_attention(maps, path={path})", "plot_attention(maps, sample=0, path='attention.png')")
    batch = min((len(weights) for _, weights in layers), default=0)
    if layers and not 0 <= sample < batch:
        raise ValueError(f"plot_attention: expected sample in 0..{batch - 1} (the batch holds {batch}), got {sample}. "
                         f"Fix: plot_attention(maps, sample=0), or compute the maps of more inputs.")
    panels = [(f"{name} head {h}", weights[sample, h]) for name, weights in layers
              for h in range(weights.shape[1])]
    fig, axes = panel_grid(max(len(panels), 1), columns=4, cell=2.4)
    for ax, (title, weights) in zip(axes, panels):
        ax.axis("on")
        ax.imshow(weights, cmap="viridis", vmin=0, vmax=1)
        ax.set_title(title, fontsize=7)
        ax.set_xlabel("key step", fontsize=7)
        ax.set_ylabel("query step", fontsize=7)
    return finish_figure(fig, path, what)
