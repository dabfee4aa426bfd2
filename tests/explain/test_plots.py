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
    write_explanations,
    write_report,
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


# ------------------------------------------------------------------ wrong arguments
def test_a_file_name_by_position_is_refused_with_the_call_that_writes_it(tmp_path: Path, monkeypatch) -> None:
    # The README once read plot_heatmaps(x_test[:8], cams, "grad_cam.png"): the name became the titles
    # (one letter per image, IndexError past the twelfth) and nothing was written.
    monkeypatch.chdir(tmp_path)
    x = np.random.default_rng(0).random((8, 28, 28, 1))
    maps = np.random.default_rng(1).random((8, 28, 28))
    with pytest.raises(ValueError, match=r"^plot_heatmaps: expected titles as a list of one string per image \(8\), "
                                         r"got the string 'grad_cam\.png'\. "
                                         r"Fix: plot_heatmaps\(images, maps, path='grad_cam\.png'\)\.$"):
        plot_heatmaps(x, maps, "grad_cam.png")
    with pytest.raises(ValueError, match=r"^plot_history: expected title as the figure's heading, got 'curves\.svg', "
                                         r"a file name\. Fix: plot_history\(history, path='curves\.svg'\)\.$"):
        plot_history({"loss": [1.0, 0.5]}, "curves.svg")
    with pytest.raises(ValueError, match=r"plot_history: expected title .*got 'run/curves\.pdf', a file name"):
        plot_history({"loss": [1.0, 0.5]}, Path("run/curves.pdf"))  # a Path is a file name whatever its suffix
    weights = {"mha": np.full((1, 2, 3, 3), 1 / 3)}
    with pytest.raises(ValueError, match=r"^plot_attention: expected sample as the index of a sample in the batch, "
                                         r"got the string 'attention\.png'\. "
                                         r"Fix: plot_attention\(maps, path='attention\.png'\)\.$"):
        plot_attention(weights, "attention.png")
    y, predicted = [0, 1, 2, 1], [0, 2, 2, 1]
    with pytest.raises(ValueError, match=r"^plot_confusion_matrix: expected class_names as a list of one string per "
                                         r"class, got the string 'cm\.png'\. "
                                         r"Fix: plot_confusion_matrix\(y_true, y_pred, path='cm\.png'\)\.$"):
        plot_confusion_matrix(y, predicted, "cm.png")
    probabilities = np.eye(3)[predicted]
    with pytest.raises(ValueError, match=r"^plot_most_confident_errors: expected k as the number of errors to show, "
                                         r"got the string 'errors\.jpg'\. Fix: plot_most_confident_errors\(x, y_true, "
                                         r"probabilities, path='errors\.jpg'\)\.$"):
        plot_most_confident_errors(x[:4], y, probabilities, "errors.jpg")
    with pytest.raises(TypeError, match=r"^plot_feature_maps: expected path as a file name \(a str or a Path\), got "
                                        r"int 8\. Fix: name the arguments, plot_feature_maps\(\.\.\., path="):
        plot_feature_maps({"conv": np.ones((4, 4, 2))}, 8)
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    # The fixes the messages print work.
    plot_heatmaps(x, maps, path="grad_cam.png")
    plot_history({"loss": [1.0, 0.5]}, path="curves.svg")
    plot_attention(weights, path="attention.png")
    plot_confusion_matrix(y, predicted, path="cm.png")
    plot_most_confident_errors(x[:4], y, probabilities, path="errors.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attention.png", "cm.png", "curves.svg", "errors.jpg",
                                                          "grad_cam.png"]


def test_titles_and_class_names_are_one_string_each(tmp_path: Path) -> None:
    x = np.zeros((3, 8, 8))
    maps = np.ones((3, 8, 8))
    fig = plot_heatmaps(x, maps, titles=["a 7", "a 2", "a 1"])
    assert [ax.get_title() for ax in fig.axes[:6:2]] == ["a 7", "a 2", "a 1"]  # image, overlay, image, ...
    with pytest.raises(ValueError, match=r"expected titles as a list of one string per image \(3\), got the string "
                                         r"'sevens'\. Fix: titles=\['sevens', \.\.\.\] with one string per image\.$"):
        plot_heatmaps(x, maps, "sevens")  # never split into letters
    with pytest.raises(ValueError, match=r"expected titles as a list of one string per image \(3\), got 2 strings\. "
                                         r"Fix: pass 3 strings, or titles=None\.$"):
        plot_heatmaps(x, maps, ["a", "b"])
    with pytest.raises(TypeError, match=r"expected titles as a list of one string per image \(3\), got int 5\. "
                                        r"Fix: name the arguments, plot_heatmaps\(\.\.\., titles=\[\.\.\.\], path="):
        plot_heatmaps(x, maps, 5)
    probabilities = np.eye(3)[[1, 2, 0]]
    with pytest.raises(ValueError, match=r"plot_most_confident_errors: expected class_names as a list of one string "
                                         r"per class \(3\), got 2 strings\. Fix: pass 3 strings"):
        plot_most_confident_errors(x, [0, 1, 2], probabilities, class_names=["cat", "dog"])


def test_wrong_maps_images_and_options_say_expected_got_and_fix(tmp_path: Path) -> None:
    x = np.zeros((4, 8, 8, 1))
    with pytest.raises(ValueError, match=r"^plot_heatmaps: expected maps of shape \(4, 8, 8\), one \(H, W\) map per "
                                         r"image, got \(2, 8, 8\)\. Fix: pass maps computed from these images"):
        plot_heatmaps(x, np.ones((2, 8, 8)))
    with pytest.raises(ValueError, match=r"expected maps of shape \(4, 8, 8\).*got a dict\. Fix"):
        plot_heatmaps(x, {"conv": np.ones((6, 6, 2))})  # feature maps where heat maps belong
    with pytest.raises(ValueError, match=r"^plot_heatmaps: expected images of shape \(N, H, W\) or \(N, H, W, 1 or "
                                         r"3\), got \(4, 64\)\. Fix: pass a batch of images"):
        plot_heatmaps(x.reshape(4, 64), np.ones((4, 8, 8)))
    with pytest.raises(ValueError, match=r"^plot_most_confident_errors: expected x of shape .*got \(4, 64\)"):
        plot_most_confident_errors(x.reshape(4, 64), [0, 1, 0, 1], np.eye(2)[[1, 0, 1, 0]])
    with pytest.raises(TypeError, match=r"^plot_most_confident_errors: expected k as the number of errors to show, "
                                        r"got float 2\.5\. Fix: name the arguments"):
        plot_most_confident_errors(x, [0, 1, 0, 1], np.eye(2)[[1, 0, 1, 0]], 2.5)
    weights = {"mha": np.full((2, 1, 3, 3), 1 / 3)}
    with pytest.raises(ValueError, match=r"^plot_attention: expected sample in 0\.\.1 \(the batch holds 2\), got 2\. "
                                         r"Fix: plot_attention\(maps, sample=0\)"):
        plot_attention(weights, sample=2)
    with pytest.raises(TypeError, match=r"^plot_attention: expected sample as the index of a sample in the batch, "
                                        r"got str 'first'\. Fix: plot_attention\(maps, sample=0, path="):
        plot_attention(weights, "first")
    with pytest.raises(TypeError, match=r"^plot_attention: expected maps as a dict \{layer name: \(N, heads, T_q, "
                                        r"T_k\)\}, got ndarray of shape \(2, 1, 3, 3\)\. Fix: plot_attention\("
                                        r"attention_maps\(model, x\)"):
        plot_attention(weights["mha"])
    with pytest.raises(ValueError, match=r"^plot_attention: expected maps as a dict .*got 'mha' of shape \(1, 3, 3\)"):
        plot_attention({"mha": weights["mha"][0]})
    with pytest.raises(TypeError, match=r"^plot_feature_maps: expected maps as a dict \{layer name: \(H, W, C\)\}, "
                                        r"got ndarray of shape \(6, 6, 2\)\. Fix: plot_feature_maps\(feature_maps"):
        plot_feature_maps(np.ones((6, 6, 2)))
    with pytest.raises(ValueError, match=r"^plot_feature_maps: expected maps as a dict .*got 'conv' of shape "
                                         r"\(1, 6, 6, 2\)"):
        plot_feature_maps({"conv": np.ones((1, 6, 6, 2))})
    with pytest.raises(ValueError, match=r"^plot_feature_maps: expected channels as a number ≥ 1 of maps per layer, "
                                         r"got 0\. Fix: channels=16\.$"):
        plot_feature_maps({"conv": np.ones((6, 6, 2))}, channels=0)


def test_plot_history_refuses_what_is_not_a_history_or_its_metrics() -> None:
    logs = {"loss": [1.0, 0.5], "accuracy": [0.5, 0.8], "val_loss": [1.1, 0.7]}
    with pytest.raises(TypeError, match=r"^plot_history: expected a History \(what fit returns\) or its \.history "
                                        r"dict, got list\. Fix: plot_history\(model\.fit\(\.\.\.\), path="):
        plot_history(logs["loss"])
    with pytest.raises(TypeError, match=r"^plot_history: expected title as a string, got list \['loss'\]\. "
                                        r"Fix: name the arguments"):
        plot_history(logs, ["loss"])
    with pytest.raises(ValueError, match=r"^plot_history: expected metrics as a list of names, got the string "
                                         r"'accuracy'\. Fix: metrics=\['accuracy'\]\.$"):
        plot_history(logs, metrics="accuracy")
    with pytest.raises(ValueError, match=r"^plot_history: expected metrics among the history's \['loss', "
                                         r"'accuracy'\], got \['acc'\]\. Fix: metrics=\['loss', 'accuracy'\], or "
                                         r"metrics=None for all\.$"):
        plot_history(logs, metrics=["acc"])
    assert [ax.get_title() for ax in plot_history(logs, "my run", metrics=["accuracy"]).axes] == ["accuracy"]


def test_the_path_suffix_chooses_the_format(tmp_path: Path) -> None:
    logs = {"loss": [1.0, 0.5]}
    starts = {"curves.png": PNG_MAGIC, "curves.pdf": b"%PDF", "curves.jpg": b"\xff\xd8\xff", "curves": PNG_MAGIC}
    for name, magic in starts.items():
        plot_history(logs, path=tmp_path / name)
        assert (tmp_path / name).read_bytes().startswith(magic), name
    plot_history(logs, path=tmp_path / "curves.svg")
    assert b"<svg" in (tmp_path / "curves.svg").read_bytes()[:1000]
    plot_history(logs, path=tmp_path / "curves.v2")  # a suffix matplotlib does not write: a PNG, as before
    assert (tmp_path / "curves.v2").read_bytes().startswith(PNG_MAGIC)


def test_write_explanations_and_write_report_refuse_a_string_for_a_list(tmp_path: Path) -> None:
    model = teaching_cnn()
    x = np.zeros((2, 28, 28, 1), "float32")
    with pytest.raises(ValueError, match=r"^write_explanations: expected titles as a list of one string per image "
                                         r"\(2\), got the string 'sevens'\. Fix: titles=\['sevens', \.\.\.\]"):
        write_explanations(model, x, tmp_path / "out", "sevens")
    with pytest.raises(ValueError, match=r"^write_explanations: expected names as a list of one string per image "
                                         r"\(2\), got 1 strings\. Fix: pass 2 strings, or names=None\.$"):
        write_explanations(model, x, tmp_path / "out", names=["seven"])
    with pytest.raises(ValueError, match=r"^write_explanations: expected titles .*got the string 'a\.png'\. "
                                         r"Fix: titles=None \(the files are saliency\.png, grad_cam\.png, \.\.\. in "
                                         r"out\)\.$"):
        write_explanations(model, x, tmp_path / "out", "a.png")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match=r"^write_report: expected class_names as a list of one string per class, "
                                         r"got the string 'report\.html'"):
        write_report(model, None, x, [0, 1], tmp_path / "report.html", class_names="report.html")
    assert not (tmp_path / "report.html").exists()
