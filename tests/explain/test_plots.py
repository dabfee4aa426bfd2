"""The plot functions write real PNG files (magic bytes, a plausible size),
confusion_matrix against a hand count, History.plot, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from brainnet.callbacks import History
from brainnet.explain import (
    attention_maps,
    confusion_matrix,
    feature_maps,
    grad_cam,
    plot_attention,
    plot_confusion_matrix,
    plot_feature_maps,
    plot_heatmaps,
    plot_history,
    plot_most_confident_errors,
)
from brainnet.layers import Input, MultiHeadAttention
from brainnet.models import Model
from brainnet.recipes.images import teaching_cnn

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert 2_000 < len(data) < 5_000_000, len(data)
    assert not list(path.parent.glob(f".{path.name}.*.tmp"))  # the atomic write left no temporary file


def test_confusion_matrix_against_a_hand_count() -> None:
    y_true = [0, 0, 1, 2, 2, 2, 1]
    y_pred = [0, 1, 1, 2, 0, 2, 1]
    expected = np.array([[1, 1, 0],   # true 0: once right, once called 1
                         [0, 2, 0],   # true 1: both right
                         [1, 0, 2]])  # true 2: once called 0
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred), expected)
    assert confusion_matrix(y_true, y_pred, num_classes=4).shape == (4, 4)
    with pytest.raises(ValueError, match=r"expected class indices in 0\.\.1, got values from 0 to 2.*Fix: pass"):
        confusion_matrix(y_true, y_pred, num_classes=2)
    with pytest.raises(ValueError, match=r"expected y_true and y_pred of one class index.*got \(2,\) and \(3,\).*Fix"):
        confusion_matrix([0, 1], [0, 1, 1])


def test_history_plot_and_plot_history_write_pngs(tmp_path: Path) -> None:
    history = History()
    for epoch, (loss, acc) in enumerate([(1.0, 0.5), (0.6, 0.8), (0.4, 0.9)]):
        history.on_epoch_end(epoch, {"loss": loss, "accuracy": acc, "mae": loss / 2,
                                     "val_loss": loss + 0.1, "val_accuracy": acc - 0.1})
    fig = history.plot(tmp_path / "curves.png")
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy", "mae"]
    assert len(fig.axes[0].lines) == 2  # train and validation
    assert_png(tmp_path / "curves.png")
    assert history.plot() is not None and not (tmp_path / "other.png").exists()
    plot_history(history.history, "two panels", tmp_path / "two.png", metrics=["loss", "accuracy"])
    assert_png(tmp_path / "two.png")


def test_confusion_and_error_plots_write_pngs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 40)
    probabilities = rng.dirichlet(np.ones(3), 40)
    fig = plot_confusion_matrix(y_true, probabilities.argmax(-1), ["a", "b", "c"], path=tmp_path / "cm.png")
    assert_png(tmp_path / "cm.png")
    assert fig.axes[0].get_xlabel() == "predicted"
    x = rng.random((40, 8, 8, 1))
    fig = plot_most_confident_errors(x, y_true, probabilities, k=5, path=tmp_path / "errors.png")
    assert_png(tmp_path / "errors.png")
    wrong = probabilities.argmax(-1) != y_true
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert len(shown) == min(5, int(wrong.sum()))
    top = np.flatnonzero(wrong)[np.argmax(probabilities.max(-1)[wrong])]  # the most confident error comes first
    assert shown[0].get_title().startswith(f"{y_true[top]} → {probabilities[top].argmax()}")
    with pytest.raises(ValueError, match=r"plot_most_confident_errors: expected x .*for the same N.*Fix: pass"):
        plot_most_confident_errors(x[:3], y_true, probabilities)
    fig = plot_most_confident_errors(x[:2], [0, 1], [[0.9, 0.1], [0.2, 0.8]])  # no errors: one note
    assert fig.axes[0].texts[0].get_text() == "no errors"


def test_map_plots_write_pngs(tmp_path: Path) -> None:
    model = teaching_cnn()
    x = np.random.default_rng(0).normal(size=(3, 28, 28, 1)).astype("float32")
    plot_heatmaps(x, grad_cam(model, x), titles=["a", "b", "c"], path=tmp_path / "cam.png")
    assert_png(tmp_path / "cam.png")
    plot_feature_maps(feature_maps(model, x[0]), path=tmp_path / "features.png")
    assert_png(tmp_path / "features.png")
    inp = Input((4, 6))
    attention = Model(inp, MultiHeadAttention(2, 3, name="mha")(inp, inp))
    plot_attention(attention_maps(attention, np.ones((1, 4, 6), "float32")), path=tmp_path / "attention.png")
    assert_png(tmp_path / "attention.png")
