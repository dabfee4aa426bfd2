"""One HTML page of what a trained model learned, that opens anywhere, offline.

``write_report`` puts the training curves, the confusion matrix, the most
confident errors, saliency and Grad-CAM maps of a few test inputs, the
attention weights and ``model.summary(show_equations=True)`` into one
``.html`` file. Every picture is a PNG inside the page (a ``data:`` URI);
there is no script, no external style sheet or font, and the page's
Content-Security-Policy forbids loading anything from elsewhere, so the file
can be mailed, archived or opened without a network. Each section appears
only when the model and data allow it: a language model, for instance, gets
its curves, run figures, attention weights and summary.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from brainnet._atomic import atomic_write
from brainnet.layers import Attention, Conv2D, MultiHeadAttention

from ._arguments import names_list
from ._model_io import named_layers
from .attribution import grad_cam, saliency
from .maps import attention_maps
from .plots import plot_attention, plot_confusion_matrix, plot_heatmaps, plot_history, plot_most_confident_errors

# The page may show only what it carries: inline styles and data: images.
_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
img { max-width: 100%; height: auto; display: block; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
table { border-collapse: collapse; } td, th { padding: 2px 12px 2px 0; text-align: left; vertical-align: top; }
"""


def _png(fig: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _probabilities(outputs: np.ndarray) -> np.ndarray:
    """Rows that are distributions as they are; logits through a softmax."""
    outputs = outputs.astype(np.float64)
    if np.all(outputs >= 0) and np.allclose(outputs.sum(1), 1.0, atol=1e-3):
        return outputs
    shifted = np.exp(outputs - outputs.max(1, keepdims=True))
    return shifted / shifted.sum(1, keepdims=True)


def _fact(value: Any) -> str | None:
    """A run figure as HTML (numbers to 4 decimals, text with line breaks
    preformatted), None for lists and dicts."""
    if isinstance(value, (list, tuple, dict)):
        return None
    if isinstance(value, float):
        return f"{value:.4f}"
    text = html.escape(str(value))
    return f"<pre>{text}</pre>" if "\n" in text else text


def _is_picture(x: np.ndarray) -> bool:
    """Images ``(N, H, W, 1 or 3)`` or rows of pixels ``(N, H, W)``, floating."""
    return np.issubdtype(x.dtype, np.floating) and (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] in (1, 3)))


def write_report(model: Any, history: Any, x_test: Any, y_test: Any, path: str | os.PathLike, *,
                 probabilities: Any = None, class_names: Sequence[str] | None = None, title: str | None = None,
                 facts: Mapping[str, Any] | None = None, samples: int = 4, errors: int = 16) -> Path:
    """Writes one self-contained HTML page about a trained model.

    Sections, each when it applies:

    * the run figures (``facts``: test accuracy, epochs, ...);
    * training curves: loss and every metric per epoch, train and
      validation (``plot_history``);
    * confusion matrix over all of ``x_test`` (a classifier and class
      labels ``y_test``);
    * the ``errors`` misclassified test inputs the model was surest about
      (a classifier, and inputs that are pictures);
    * saliency, and Grad-CAM at the last Conv2D when the model has one, for
      the first ``samples`` test inputs, each explaining the predicted class
      (a classifier, and inputs that are pictures);
    * the attention weights of every head for the first test input (a model
      with attention layers);
    * ``model.summary(show_equations=True)``.

    The pictures are PNGs inside the page (``data:`` URIs), the page has no
    script and loads nothing from elsewhere; it is written atomically.

    Args:
        model: the trained brainnet model.
        history: a ``History`` (what ``fit`` returns) or its ``.history``
            dict; None or empty: no curves.
        x_test: test inputs as the model takes them, or None.
        y_test: class indices ``(N,)`` of ``x_test``, or None (no labels,
            e.g. a language model's next-token targets).
        path: the ``.html`` file to write.
        probabilities: ``model.predict(x_test)`` when already computed, so
            it is not computed twice; None: computed here when needed.
        class_names: a name per class; None: ``model.class_names``, else
            the indices.
        title: the page's title; None: ``model.name``.
        facts: run figures shown in a table, ``{name: value}``; lists and
            dicts are left out, text with line breaks is preformatted.
        samples: test inputs explained with saliency and Grad-CAM (default 4).
        errors: most confident errors shown at most (default 16).

    Returns:
        ``path``.

    Raises:
        ValueError: ``x_test``, ``y_test`` and ``probabilities`` of
            different lengths, ``y_test`` not one class index per input, or
            ``class_names`` a single string.
        OSError: the file cannot be written.

    Example:
        >>> history = model.fit(x_train, y_train, epochs=3, validation_split=0.1)  # doctest: +SKIP
        >>> write_report(model, history, x_test, y_test, "report.html")  # doctest: +SKIP
    """
    x = None if x_test is None else np.asarray(x_test)
    labels = None if y_test is None else np.asarray(y_test)
    if labels is not None and (x is None or labels.ndim != 1 or len(labels) != len(x)
                               or not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(
            f"write_report: expected y_test to hold one class index per test input, shape "
            f"({'N' if x is None else len(x)},) of integers, got {labels.shape} of {labels.dtype}"
            f"{'' if x is not None else ' and x_test=None'}. Fix: pass the labels as "
            "class indices (y.argmax(-1) for one-hot rows) with their inputs, or y_test=None."
        )
    names = names_list(class_names, None, "write_report", "class_names",
                       "write_report(model, history, x_test, y_test, {path})")
    names = names if names is not None else getattr(model, "class_names", None)
    classifier = labels is not None and len(labels) > 0
    if classifier and probabilities is None:
        probabilities = model.predict(x, verbose=0)
    if classifier:
        probabilities = np.asarray(probabilities)
        if probabilities.ndim != 2 or len(probabilities) != len(x) or probabilities.shape[1] < 2:
            raise ValueError(
                f"write_report: expected probabilities of shape ({len(x)}, classes ≥ 2), one row per test "
                f"input, got {probabilities.shape}. Fix: pass probabilities=model.predict(x_test), or leave "
                "it out."
            )
        probabilities = _probabilities(probabilities)

    sections: list[tuple[str, str]] = []
    rows = [(html.escape(str(k)), _fact(v)) for k, v in (facts or {}).items()]
    if any(v is not None for _, v in rows):
        cells = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows if v is not None)
        sections.append(("Run", f"<table>{cells}</table>"))
    logs = getattr(history, "history", history) or {}
    if logs:
        sections.append(("Training curves", _image(plot_history(logs), "loss and metrics per epoch")))
    if classifier:
        classes = names if names is not None else [str(i) for i in range(probabilities.shape[1])]
        figure = plot_confusion_matrix(labels, probabilities.argmax(-1), classes)
        sections.append((f"Confusion matrix ({len(labels)} test inputs)",
                         _image(figure, "confusion matrix: true class down, predicted class across")))
    if classifier and _is_picture(x):
        figure = plot_most_confident_errors(x, labels, probabilities, k=errors, class_names=names)
        sections.append(("Most confident errors", _image(figure, "the misclassified test inputs the model "
                                                                  "was surest about")))
    if classifier and _is_picture(x) and samples > 0:
        chosen = x[: int(samples)]
        say = (lambda c: str(c)) if names is None else (lambda c: str(names[c]))
        titles = [f"true {say(labels[n])}, predicted {say(probabilities[n].argmax())} "
                  f"({probabilities[n].max():.2f})" for n in range(len(chosen))]
        body = "<p>Gradient saliency max<sub>k</sub> |∂y<sub>c</sub>/∂x(i, j, k)| of the predicted class " \
               "c, beside each input.</p>" + _image(plot_heatmaps(chosen, saliency(model, chosen), titles),
                                                    "saliency maps")
        if any(isinstance(m, Conv2D) for _, m in named_layers(model)):
            body += "<p>Grad-CAM at the last Conv2D: where that layer found the predicted class.</p>" + \
                    _image(plot_heatmaps(chosen, grad_cam(model, chosen), titles), "Grad-CAM maps")
        sections.append((f"What the model looks at (first {len(chosen)} test inputs)", body))
    if x is not None and len(x) and any(isinstance(m, (Attention, MultiHeadAttention))
                                        for _, m in named_layers(model)):
        figure = plot_attention(attention_maps(model, x[:1]))
        sections.append(("Attention weights (first test input)",
                         "<p>The weights of every head, each row a softmax over the key steps (summing to "
                         "1): query steps down, key steps across.</p>" + _image(figure, "attention weights")))
    lines: list[str] = []
    model.summary(show_equations=True, print_fn=lines.append)
    summary = html.escape("\n".join(lines))
    sections.append(("Model", f"<pre>{summary}</pre>"))

    heading = html.escape(title if title is not None else str(getattr(model, "name", "model")))
    page = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">',
        f"<title>{heading}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{heading}</h1>",
        *(f"<section><h2>{html.escape(name)}</h2>\n{body}</section>" for name, body in sections),
        "</body></html>",
        "",
    ])
    path = Path(path)
    atomic_write(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    return path


def _image(fig: Figure, alt: str) -> str:
    return f'<img src="{_png(fig)}" alt="{html.escape(alt)}">'
