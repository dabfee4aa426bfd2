"""model.summary()'s Keras 3 arguments: line_length, expand_nested,
show_trainable, layer_range (and positions, refused with the fix)."""

from __future__ import annotations

import pytest

from brainnet.layers import Dense, Dropout, Input
from brainnet.models import Model, Sequential


def nested():
    inner = Sequential([Dense(4, input_shape=(3,), name="d1"), Dropout(0.1, name="drop"), Dense(2, name="d2")],
                       name="inner")
    inp = Input((3,))
    model = Model(inp, Dense(1, name="head")(inner(inp)))
    model.get_layer("head").trainable = False
    return model


def rows_of(model, **kwargs):
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    names = ("inner", "head", "d1", "drop", "d2")
    return lines, [line for line in lines if line.strip().split(" ")[0] in names]


def test_expand_nested_and_show_trainable():
    lines, rows = rows_of(nested(), expand_nested=True, show_trainable=True)
    assert [r.split()[0] for r in rows] == ["inner", "d1", "drop", "d2", "head"]
    assert [r[:4] for r in rows] == ["inne", "  d1", "  dr", "  d2", "head"]  # the inner layers indented
    assert [r.split()[-1] for r in rows] == ["Y", "Y", "-", "Y", "N"]  # dropout has no weights; head frozen
    assert "Trainable" in lines[2]
    assert lines[-3:] == ["Total params: 29", "Trainable params: 26", "Non-trainable params: 3"]
    _, plain = rows_of(nested())
    assert [r.split()[0] for r in plain] == ["inner", "head"] and "Trainable" not in "".join(plain)


def test_line_length_and_layer_range():
    lines, _ = rows_of(nested(), line_length=120)
    assert len(lines[1]) == 120 and set(lines[1]) == {"="}
    narrow, _ = rows_of(nested(), line_length=10)  # narrower than the text: the table keeps its size
    assert len(narrow[1]) > 10
    _, rows = rows_of(nested(), expand_nested=True, layer_range=["d1", "d2"])
    assert [r.split()[0] for r in rows] == ["d1", "drop", "d2"]
    _, rows = rows_of(nested(), expand_nested=True, layer_range=["dr.*", "head"])  # patterns, as Keras
    assert [r.split()[0] for r in rows] == ["drop", "d2", "head"]


def test_summary_argument_errors():
    model = nested()
    with pytest.raises(ValueError, match=r"summary: expected no positions \(brainnet sizes each column to fit its "
                                         r"text\), got \[0\.3, 0\.6, 1\.0\]\. Fix: leave positions out; line_length"):
        model.summary(positions=[0.3, 0.6, 1.0])
    with pytest.raises(ValueError, match=r"summary: expected line_length to be a positive number of characters, "
                                         r"got True\. Fix: model\.summary\(line_length=100\)\."):
        model.summary(True)  # the old first argument, show_equations, is keyword-only now, as Keras's order
    with pytest.raises(ValueError, match=r"summary: expected layer_range as two layer names \(or patterns\), first "
                                         r"and last to show, got 'head'\. Fix: model\.summary\(layer_range="):
        model.summary(layer_range="head")
    with pytest.raises(ValueError, match=r"summary: expected layer_range's names to match layers of the model in "
                                         r"order, got 'inner', which matches none after 'head'\. Fix: use names "
                                         r"from \['inner', 'head'\]\."):
        model.summary(layer_range=["head", "inner"])
