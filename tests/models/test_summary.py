"""model.summary()'s Keras 3 arguments: line_length, positions, print_fn,
expand_nested, show_trainable, layer_range; the printed text is checked
character by character where Keras fixes it (the column stops of positions)."""

from __future__ import annotations

import pytest

from brainnet.layers import Concatenate, Dense, Dropout, Input, Normalization
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
    return lines, [line for line in lines if line.lstrip(" └").split(" ")[0] in names]


def test_expand_nested_and_show_trainable():
    lines, rows = rows_of(nested(), expand_nested=True, show_trainable=True)
    assert [r.lstrip(" └").split()[0] for r in rows] == ["inner", "d1", "drop", "d2", "head"]
    assert [r[:7] for r in rows] == ["inner (", "   └ d1", "   └ dr", "   └ d2", "head (D"]  # Keras's mark
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
    _, rows = rows_of(nested(), expand_nested=True, layer_range=["d1", "d2"])  # inside the nested model
    assert [r.lstrip(" └").split()[0] for r in rows] == ["d1", "drop", "d2"]
    _, rows = rows_of(nested(), expand_nested=True, layer_range=["dr.*", "head"])  # patterns, as Keras
    assert [r.lstrip(" └").split()[0] for r in rows] == ["drop", "d2", "head"]
    _, rows = rows_of(nested(), expand_nested=True, layer_range=["inner", "inner"])  # a model row brings its rows
    assert [r.lstrip(" └").split()[0] for r in rows] == ["inner", "d1", "drop", "d2"]


def chain():
    return Sequential([Dense(3, input_shape=(2,), name="dense"), Dense(3, name="dense_1"),
                       Dense(3, name="dense_2"), Dense(1, name="head")], name="chain")


def test_layer_range_goes_to_the_last_match_and_swaps_as_keras():
    # Keras 3: from the first layer matching layer_range[0] to the LAST matching layer_range[1];
    # when that one comes first, the two ends swap.
    lines = []
    chain().summary(print_fn=lines.append, layer_range=["dense", "dense.*"])
    assert [line.split()[0] for line in lines if "(Dense)" in line] == ["dense", "dense_1", "dense_2"]
    lines = []
    chain().summary(print_fn=lines.append, layer_range=["head", "dense_1"])
    assert [line.split()[0] for line in lines if "(Dense)" in line] == ["dense_1", "dense_2", "head"]
    assert lines[-3:] == ["Total params: 37", "Trainable params: 37", "Non-trainable params: 0"]  # the whole model


def test_positions_are_keras_column_stops():
    lines = []
    chain().summary(print_fn=lines.append, positions=[0.45, 0.8, 1.0], line_length=50)
    # columns end at int(0.45·50) = 22, int(0.8·50) = 40 and 50; Param # right-aligned, 2 spaces before the edge
    assert lines[:6] == [
        'Model: "chain"',
        "=" * 50,
        "Layer (type)          Output Shape       Param #",
        "=" * 50,
        "dense (Dense)         (None, 3)                9",
        "-" * 50,
    ]
    assert lines[6].index("(None, 3)") == 22 and len(lines[6]) == 48


def test_positions_in_characters_and_with_show_trainable():
    lines = []
    chain().summary(print_fn=lines.append, positions=[20, 35, 45])  # above 1: absolute stops (Keras 2)
    assert lines[1] == "=" * 45 and lines[2] == "Layer (type)        Output Shape    Param #"
    lines = []
    chain().summary(print_fn=lines.append, positions=[0.45, 0.8, 1.0], line_length=100, show_trainable=True)
    # Keras: the stops scaled by 0.9 and the Trainable column to the end: 40, 72, 90, 100
    assert lines[2] == "Layer (type)" + " " * 28 + "Output Shape" + " " * 29 + "Param #  Trainable"
    assert lines[4] == "dense (Dense)" + " " * 27 + "(None, 3)" + " " * 38 + "9  Y"


def test_positions_without_line_length_take_keras_default_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    lines = []
    chain().summary(print_fn=lines.append, positions=[0.45, 0.8, 1.0])
    assert lines[1] == "=" * 88  # Keras's 88 for three columns
    monkeypatch.setenv("COLUMNS", "70")
    lines = []
    chain().summary(print_fn=lines.append, positions=[0.45, 0.8, 1.0])
    assert lines[1] == "=" * 66  # at most the terminal's width − 4
    a, b = Input((3,), name="a"), Input((2,), name="b")
    graph = Model([a, b], Dense(1, name="out")(Concatenate(name="cat")([Dense(2, name="da")(a), b])))
    monkeypatch.setenv("COLUMNS", "200")
    lines = []
    graph.summary(print_fn=lines.append, positions=[0.3, 0.56, 0.74, 1.0])
    assert lines[1] == "=" * 108 and lines[2].split("  ")[-1] == "Connected to"  # 108 with the fourth column
    assert lines[2].index("Output Shape") == 32 and lines[2].index("Connected to") == 79


def test_text_longer_than_its_column_wraps_inside_it():
    a, b = Input((3,), name="a"), Input((2,), name="b")
    graph = Model([a, b], Dense(1, name="out")(Concatenate(name="cat")([Dense(2, name="da")(a), b])))
    lines = []
    graph.summary(print_fn=lines.append, positions=[0.3, 0.56, 0.74, 1.0], line_length=60)
    row = lines.index("cat               (None, 4)              0  da, b")
    assert lines[row + 1] == "(Concatenate)" and lines[row + 2] == "-" * 60


def test_print_fn_gets_each_line_and_show_trainable_marks_weights():
    lines = []
    model = Sequential([Normalization(mean=0.0, variance=1.0, input_shape=(2,), name="norm"),
                        Dropout(0.5, name="drop"), Dense(1, name="d")])
    model.summary(print_fn=lines.append, show_trainable=True)
    assert all("\n" not in line for line in lines)
    marks = {line.split()[0]: line.split()[-1] for line in lines if line.split() and line.split()[0] in
             ("norm", "drop", "d")}
    assert marks == {"norm": "Y", "drop": "-", "d": "Y"}  # norm's weights are statistics, as Keras: Y


def test_summary_argument_errors():
    model = nested()
    with pytest.raises(ValueError, match=r"summary: expected positions as 4 positive column stops, one for the right "
                                         r"edge of each column \(Layer \(type\), Output Shape, Param #, Connected "
                                         r"to\), got \[0\.3, 0\.6, 1\.0\]\. Fix: model\.summary\(positions=\[0\.3, "
                                         r"0\.56, 0\.74, 1\.0\]\) \(fractions of line_length\)\."):
        model.summary(positions=[0.3, 0.6, 1.0])
    with pytest.raises(ValueError, match=r"summary: expected positions as 3 positive column stops.*got 0\.5\. Fix: "
                                         r"model\.summary\(positions=\[0\.45, 0\.8, 1\.0\]\)"):
        chain().summary(positions=0.5)
    with pytest.raises(ValueError, match=r"summary: expected each column at least 4 characters wide, got widths "
                                         r"\[30, -10, 20\] from positions=\[0\.3, 0\.2, 0\.4\] and line_length=100\. "
                                         r"Fix: increasing stops at least 4 characters apart \(e\.g\. "
                                         r"positions=\[0\.45, 0\.8, 1\.0\]\), or a larger line_length\."):
        chain().summary(positions=[0.3, 0.2, 0.4], line_length=100)
    with pytest.raises(ValueError, match=r"summary: expected line_length to be a positive number of characters, "
                                         r"got True\. Fix: model\.summary\(line_length=100\)\."):
        model.summary(True)  # the old first argument, show_equations, is keyword-only now, as Keras's order
    with pytest.raises(ValueError, match=r"summary: expected layer_range as two layer names \(or patterns\), first "
                                         r"and last to show, got 'head'\. Fix: model\.summary\(layer_range="):
        model.summary(layer_range="head")
    with pytest.raises(ValueError, match=r"summary: expected layer_range's names \(or patterns\) to match layers of "
                                         r"the model, got 'd1', which matches none \(layers inside nested models "
                                         r"count with expand_nested=True\)\. Fix: use names from "
                                         r"\['input_layer\w*', 'inner', 'head'\]\."):
        model.summary(layer_range=["d1", "head"])
    with pytest.raises(ValueError, match=r"got 'nothing', which matches none\. Fix: use names from "
                                         r"\['input_layer\w*', 'inner', 'd1', 'drop', 'd2', 'head'\]\."):
        model.summary(layer_range=["d1", "nothing"], expand_nested=True)


def test_docstring_example_runs():
    import doctest

    from brainnet.models.model import Model as Documented

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(Documented.summary, "summary", globs={}):
        runner.run(test)
    assert runner.tries >= 3 and runner.failures == 0


def test_a_sub_model_and_a_layer_called_twice_are_listed_once_as_keras_3():
    tower = Sequential([Dense(4, input_shape=(3,), name="t1"), Dense(2, name="t2")], name="tower")
    a, b = Input((3,), name="a"), Input((3,), name="b")
    shared = Dense(5, name="shared")
    model = Model([a, b], Concatenate(name="join")([tower(a), tower(b), shared(a), shared(b)]))
    lines = []
    model.summary(print_fn=lines.append)
    rows = [line for line in lines if line.split(" ")[0] in ("tower", "shared", "join")]
    # one row each, where first called, connected to what fed any of its calls
    assert [r.split()[0] for r in rows] == ["tower", "shared", "join"]
    assert rows[0].split()[1:] == ["(Sequential)", "(None,", "2)", "26", "a,", "b"]
    assert rows[1].split()[1:] == ["(Dense)", "(None,", "5)", "20", "a,", "b"]
    assert rows[2].split()[-2:] == ["tower,", "shared"]
    # the totals count each weight once: 3·4+4 + 4·2+2 + 3·5+5
    assert lines[-3:] == ["Total params: 46", "Trainable params: 46", "Non-trainable params: 0"]
    assert sum(int(r.split()[-3]) for r in rows) == 46  # the rows add up to the total
    # expanded, the tower's layers follow its one row once
    expanded = []
    model.summary(print_fn=expanded.append, expand_nested=True)
    assert [line.lstrip(" └").split(" ")[0] for line in expanded if "(" in line and "Model:" not in line
            and "Layer (type)" not in line] == ["a", "b", "tower", "t1", "t2", "shared", "join"]
    # layer_range names each layer once
    ranged = []
    model.summary(print_fn=ranged.append, layer_range=["shared", "join"])
    assert [line.split(" ")[0] for line in ranged if line.split(" ")[0] in ("tower", "shared", "join")] == \
        ["shared", "join"]
