"""write_report and the report.html of the recipes' write_outputs: the
sections each model gets, every picture a real PNG inside the page, text
escaped, nothing loaded from elsewhere (read as HTML here; rendered in
Chromium in test_report_browser.py)."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from brainnet.explain import write_report
from brainnet.recipes._common import write_outputs
from brainnet.recipes.text import char_transformer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CNN_SECTIONS = ["Run", "Training curves", "Confusion matrix (400 test inputs)", "Most confident errors",
                "What the model looks at (first 4 test inputs)", "Model"]


class Page(HTMLParser):
    """The headings, the <img> sources and every URL-valued attribute of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []  # src, href, ... other than data: URIs
        self.tags: set[str] = set()
        self._in_h2 = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self._in_h2 = tag == "h2"
        for name, value in attrs:
            if tag == "img" and name == "src":
                self.images.append(value or "")
            pointer = name in ("src", "href", "action", "poster", "data", "srcset")
            if pointer and not (value or "").startswith("data:"):
                self.links.append(value or "")

    def handle_endtag(self, tag: str) -> None:
        self._in_h2 = False if tag == "h2" else self._in_h2

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.headings.append(data)


def png_sizes(page: Page) -> list[tuple[int, int]]:
    """(width, height) of each <img>, read from its data: URI, which must hold a PNG."""
    sizes = []
    for src in page.images:
        assert src.startswith("data:image/png;base64,"), src[:40]
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data[:8] == PNG_MAGIC
        sizes.append((int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")))
    return sizes


def test_report_of_a_cnn_has_every_section_inline(trained_cnn, tmp_path: Path) -> None:
    t = trained_cnn
    facts = {"test accuracy": 0.8925, "note": "x < y & <b>bold</b>\nsecond line", "seconds": [1.0, 2.0]}
    path = write_report(t.model, t.history, t.x_test, t.y_test, tmp_path / "report.html", facts=facts)
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert page.headings == CNN_SECTIONS
    # curves, confusion matrix, errors, saliency, Grad-CAM: five PNGs in the page, drawn at 100 dpi
    assert len(png_sizes(page)) == 5 and png_sizes(page)[0] == (1000, 400)
    assert page.links == [] and not page.tags & {"script", "link", "iframe", "object", "embed"}
    assert "Content-Security-Policy" in text and "default-src 'none'; img-src data:" in text
    # text is escaped: the note, and the summary's equations and quotes
    assert "x &lt; y &amp; &lt;b&gt;bold&lt;/b&gt;\nsecond line" in text and "<b>bold" not in text
    assert "<td>0.8925</td>" in text and "seconds" not in text  # lists are left out
    assert 'Model: &quot;tiny_cnn&quot;' in text and "y_ij = f(Σ_k x_ik·w_kj + b_j)" in text
    assert "(None, 26, 26, 8)" in text
    assert not list(tmp_path.glob(".report.html.*"))  # written atomically


def test_report_uses_the_given_probabilities_over_the_whole_test_set(trained_cnn, tmp_path, monkeypatch) -> None:
    t = trained_cnn
    probabilities = t.model.predict(t.x_test)
    monkeypatch.setattr(t.model, "predict", lambda *a, **k: pytest.fail("predicted again"))
    text = write_report(t.model, None, t.x_test, t.y_test, tmp_path / "r.html", probabilities=probabilities,
                        samples=2).read_text()
    headings = Page(text).headings
    assert "Confusion matrix (400 test inputs)" in headings and "Training curves" not in headings
    assert "What the model looks at (first 2 test inputs)" in headings


def test_report_of_a_language_model_has_curves_attention_and_summary(tmp_path: Path) -> None:
    model = char_transformer(vocab_size=20, sequence_length=16, num_blocks=1)
    ids = np.random.default_rng(0).integers(0, 20, (3, 16))  # token windows, no class labels
    history = {"loss": [2.9, 2.5], "val_loss": [2.8, 2.6], "accuracy": [0.1, 0.2], "val_accuracy": [0.1, 0.2]}
    text = write_report(model, history, ids, None, tmp_path / "lm.html", title="char <model>",
                        facts={"sample": "The cat\nsat"}).read_text()
    page = Page(text)
    assert page.headings == ["Run", "Training curves", "Attention weights (first test input)", "Model"]
    assert len(png_sizes(page)) == 2
    assert "<h1>char &lt;model&gt;</h1>" in text and "<pre>The cat\nsat</pre>" in text
    assert "TransformerDecoder" in text


def test_report_errors(trained_cnn, tmp_path: Path) -> None:
    t = trained_cnn
    one_hot = np.eye(10)[t.y_test]
    with pytest.raises(ValueError, match=r"write_report: expected y_test to hold one class index per test input, "
                                         r"shape \(400,\) of integers, got \(400, 10\) of float64\. Fix: pass"):
        write_report(t.model, None, t.x_test, one_hot, tmp_path / "r.html")
    with pytest.raises(ValueError, match=r"expected probabilities of shape \(400, classes ≥ 2\).*got \(3, 10\)"
                                         r"\. Fix: pass probabilities=model\.predict\(x_test\)"):
        write_report(t.model, None, t.x_test, t.y_test, tmp_path / "r.html", probabilities=np.ones((3, 10)))
    assert not (tmp_path / "r.html").exists()


def test_write_outputs_adds_the_report(trained_cnn, tmp_path: Path) -> None:
    t = trained_cnn
    summary = {"recipe": "tiny-cnn", "history": t.history.history, "test_accuracy": 0.8925, "epochs": 1}
    paths = write_outputs(t.model, summary, tmp_path, t.x_test, t.y_test)
    assert [p.name for p in paths] == ["model.weights.safetensors", "model.brainnet", "history.json",
                                       "training_curves.png", "report.html"]
    text = paths[-1].read_text()
    assert Page(text).headings == CNN_SECTIONS and "<h1>tiny-cnn</h1>" in text
    assert re.search(r"<th>test_accuracy</th><td>0\.8925</td>", text)
    # without test data (a recipe that has none): run figures, curves and the summary
    paths = write_outputs(t.model, {**summary, "recipe": "bare"}, tmp_path / "bare")
    assert Page(paths[-1].read_text()).headings == ["Run", "Training curves", "Model"]
