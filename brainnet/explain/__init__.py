"""Interpretability, as pictures: what a trained network looks at and computes.

``saliency``, ``smoothgrad`` and ``grad_cam`` say which pixels a class score
depends on; ``feature_maps`` and ``attention_maps`` return what the layers
computed; the ``plot_*`` functions draw them (and training curves, confusion
matrices, the most confident errors) as PNG files with matplotlib's Agg
canvas, written atomically. ``write_explanations`` writes all the maps of a
few inputs into a folder (``brainnet explain``); ``write_report`` puts a
trained model's curves, errors, maps and summary into one self-contained
HTML page (``report.html`` of ``brainnet run``).
"""

from .attribution import grad_cam, saliency, smoothgrad
from .explanations import write_explanations
from .maps import attention_maps, feature_maps
from .plots import (
    confusion_matrix,
    plot_attention,
    plot_confusion_matrix,
    plot_feature_maps,
    plot_heatmaps,
    plot_history,
    plot_most_confident_errors,
)
from .report import write_report

__all__ = [
    "saliency", "smoothgrad", "grad_cam", "feature_maps", "attention_maps",
    "confusion_matrix", "plot_history", "plot_heatmaps", "plot_feature_maps", "plot_attention",
    "plot_confusion_matrix", "plot_most_confident_errors", "write_explanations", "write_report",
]
