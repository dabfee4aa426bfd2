"""utils.plot_model and the layout behind it (brainnet.models.visualization)."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from brainnet.layers import Add, Concatenate, Dense, Dropout, Input
from brainnet.layers.base import shape_str
from brainnet.models import Model, Sequential
from brainnet.models.visualization import model_layout
from brainnet.utils import plot_model


# ------------------------------------------------------------------ models
def chain(n: int = 3) -> Sequential:
    return Sequential([Dense(8, activation="relu", input_shape=(4,))] + [Dense(8 + i) for i in range(n - 1)])


def two_inputs() -> Model:
    """Two inputs, one Dense shared by both, a Concatenate, two outputs."""
    a, b = Input(shape=(6,), name="title"), Input(shape=(6,), name="body")
    shared = Dense(5, activation="relu", name="shared")
    merged = Concatenate(name="merged")([shared(a), shared(b)])
    out1 = Dense(1, activation="sigmoid", name="priority")(Dense(7, name="hidden")(merged))
    out2 = Dense(3, activation="softmax", name="department")(merged)
    return Model(inputs=[a, b], outputs=[out1, out2])


def residual() -> Model:
    """x -> Dense -> Dense -> Add(x, .): the Add is 3 deep, though x feeds it directly."""
    x = Input(shape=(4,), name="x")
    h = Dense(4, activation="relu", name="d1")(x)
    h = Dense(4, name="d2")(h)
    return Model(x, Dense(2, name="out")(Add(name="add")([x, h])))


def longest_paths(count: int, edges: list[tuple[int, int]]) -> list[int]:
    """Depth of each box by relaxing the edges until nothing changes (no use of the layout's order)."""
    depth = [0] * count
    for _ in range(count):
        for s, t in edges:
            depth[t] = max(depth[t], depth[s] + 1)
    return depth


def inside(point, box, margin=1e-6) -> bool:
    x, y = point
    return abs(x - box.x) < box.width / 2 - margin and abs(y - box.y) < box.height / 2 - margin


def assert_legible(layout) -> None:
    """No two boxes overlap, every box lies in the drawing, and no arrow passes through a box."""
    boxes = layout.boxes
    for i, a in enumerate(boxes):
        assert a.width > 0 and a.height > 0
        assert a.x - a.width / 2 >= 0 and a.x + a.width / 2 <= layout.width + 1e-9
        assert a.y - a.height / 2 >= 0 and a.y + a.height / 2 <= layout.height + 1e-9
        for b in boxes[i + 1:]:
            assert (abs(a.x - b.x) >= (a.width + b.width) / 2 - 1e-9
                    or abs(a.y - b.y) >= (a.height + b.height) / 2 - 1e-9), (a.lines, b.lines)
    for route in layout.routes:
        for p, q in zip(route, route[1:]):
            for f in np.linspace(0, 1, 41)[1:-1]:
                point = (p[0] + f * (q[0] - p[0]), p[1] + f * (q[1] - p[1]))
                assert not any(inside(point, box) for box in boxes), (route, point)


# ------------------------------------------------------------------ the layout as data
def test_sequential_is_a_chain_with_the_summary_shapes():
    model = chain(4)
    layout = model_layout(model, show_shapes=True, show_layer_names=True)
    rows = model.summary_rows()
    assert len(layout.boxes) == len(rows) == 4
    assert layout.edges == [(0, 1), (1, 2), (2, 3)]
    assert [b.rank for b in layout.boxes] == longest_paths(4, layout.edges) == [0, 1, 2, 3]
    before = model.input_shape
    for box, (layer, shape, _) in zip(layout.boxes, rows):
        assert box.layer is layer
        assert box.lines[0] == f"{layer.name} (Dense)"
        assert f"Input shape: {shape_str(before)}" in box.lines
        assert f"Output shape: {shape_str(shape)}" in box.lines
        before = shape
    ys = [b.y for b in layout.boxes]
    assert ys == sorted(ys) and len(set(ys)) == 4  # top to bottom
    assert_legible(layout)


def test_default_labels_are_the_class_names_only():
    layout = model_layout(chain(2))
    assert [b.lines for b in layout.boxes] == [["Dense"], ["Dense"]]


def test_two_input_model_with_a_shared_layer_and_concatenate():
    model = two_inputs()
    layout = model_layout(model, show_shapes=True, show_layer_names=True)
    boxes = layout.boxes
    rows = model.summary_rows()
    assert [b.lines[0] for b in boxes[:2]] == ["title (InputLayer)", "body (InputLayer)"]
    assert len(boxes) == len(rows)  # the Inputs (the summary's InputLayer rows), then one box per layer call
    names = [b.lines[0].split(" (")[0] for b in boxes]
    for k, (layer, shape, connected) in enumerate(rows[2:], start=2):
        assert boxes[k].layer is layer
        assert {names[s] for s, t in layout.edges if t == k} == set(connected.split(", "))
        shapes = shape if isinstance(shape, list) else [shape]
        assert f"Output shape: {', '.join(shape_str(s) for s in shapes)}" in boxes[k].lines
    # the edges are the graph's: from each tensor's producer (an Input or a call) to each call reading it
    box_of = {id(t): i for i, t in enumerate(model.inputs)} | {id(n): 2 + j for j, n in enumerate(model._nodes)}
    graph = {(box_of[id(p.node) if p.node is not None else id(p)], box_of[id(n)])
             for n in model._nodes for p in n.parents()}
    assert len(layout.edges) == len(set(layout.edges)) == 7 and set(layout.edges) == graph
    assert [b.rank for b in boxes] == longest_paths(len(boxes), layout.edges)
    shared = [b for b in boxes if b.lines[0] == "shared (Dense)"]
    assert [b.lines[1] for b in shared] == ["Shared: call 1 of 2", "Shared: call 2 of 2"]
    merged = next(b for b in boxes if b.lines[0] == "merged (Concatenate)")
    assert "Input shape: (None, 5), (None, 5)" in merged.lines and "Output shape: (None, 10)" in merged.lines
    assert "Input shape: (None, 6)" not in boxes[0].lines  # an InputLayer shows its output only
    assert_legible(layout)


def test_residual_add_ranks_by_the_longest_path_and_routes_the_skip_beside_the_boxes():
    model = residual()
    for rankdir in ("TB", "LR", "BT", "RL"):
        layout = model_layout(model, show_shapes=True, rankdir=rankdir)
        ranks = {b.lines[0]: b.rank for b in layout.boxes}
        assert [b.rank for b in layout.boxes] == longest_paths(len(layout.boxes), layout.edges)
        assert [b.rank for b in layout.boxes] == [0, 1, 2, 3, 4], ranks  # x, d1, d2, add, out
        assert (0, 3) in layout.edges and (2, 3) in layout.edges
        skip = layout.routes[layout.edges.index((0, 3))]
        assert len(skip) == 6  # from x, along ranks 1 and 2 (two points each), into add
        assert_legible(layout)
        axis = 1 if rankdir in ("TB", "BT") else 0
        along = [(b.x, b.y)[axis] for b in layout.boxes]
        assert along == sorted(along, reverse=rankdir in ("BT", "RL"))


def test_subclassed_model_shows_its_layers_unconnected_with_a_note():
    class Net(Model):
        def __init__(self):
            super().__init__()
            self.first = Dense(4, activation="relu")
            self.second = Dense(2)

        def call(self, x):
            return self.second(self.first(x))

    net = Net()
    net.build((None, 3))
    layout = model_layout(net, show_shapes=True)
    assert layout.edges == [] and [b.layer for b in layout.boxes] == [net.first, net.second]
    assert "subclassed model" in layout.note and "without arrows" in layout.note
    assert [b.lines for b in layout.boxes] == [["Dense", "Output shape: (None, 4)"], ["Dense", "Output shape: (None, 2)"]]
    assert_legible(layout)


def test_unbuilt_model_is_drawn_with_question_marks_as_summary_prints_it():
    model = Sequential([Dense(4), Dense(2)])
    layout = model_layout(model, show_shapes=True, show_trainable=True)
    assert [b.lines for b in layout.boxes] == [["Dense", "Input shape: ?", "Output shape: ?"]] * 2
    assert "not built yet" in layout.note and "model.build((None, ...))" in layout.note


def test_activations_trainable_and_dtype_marks():
    x = Input(shape=(3,), name="x", dtype="int64")
    frozen = Dense(4, activation="tanh", name="frozen")
    frozen.trainable = False
    model = Model(x, Dense(2)(Dropout(0.5, name="drop")(frozen(x))))
    layout = model_layout(model, show_layer_activations=True, show_trainable=True, show_dtype=True)
    lines = [b.lines for b in layout.boxes]  # x, frozen, drop, the last Dense
    assert lines[0] == ["InputLayer", "Output dtype: int64"]
    assert lines[1] == ["Dense", "Activation: tanh", "Output dtype: float32", "Non-trainable"]
    assert lines[2] == ["Dropout", "Output dtype: float32"]  # no activation, no weights: no marks
    assert lines[3] == ["Dense", "Activation: linear", "Output dtype: float32", "Trainable"]


def test_box_grows_with_its_text():
    narrow, wide = (model_layout(chain(2), show_shapes=s).boxes[0] for s in (False, True))
    assert wide.width > narrow.width and wide.height > narrow.height


# ------------------------------------------------------------------ the file
def test_plot_model_writes_a_png_that_grows_with_dpi_and_layers(tmp_path):
    plt.close("all")
    sizes = {}
    for n, dpi in ((3, 100), (3, 200), (6, 100)):
        path = tmp_path / f"m{n}_{dpi}.png"
        assert plot_model(chain(n), path, show_shapes=True, dpi=dpi) == str(path)
        with Image.open(path) as image:
            assert image.format == "PNG"
            sizes[n, dpi] = image.size
    assert sizes[3, 200][0] == pytest.approx(2 * sizes[3, 100][0], abs=2)
    assert sizes[3, 200][1] == pytest.approx(2 * sizes[3, 100][1], abs=2)
    assert sizes[6, 100][1] > 1.8 * sizes[3, 100][1]
    assert plt.get_fignums() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m3_100.png", "m3_200.png", "m6_100.png"]  # no temp files


def test_plot_model_functional_keras_call(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert plot_model(two_inputs(), "my_first_model.png", show_shapes=True) == "my_first_model.png"
    with Image.open(tmp_path / "my_first_model.png") as image:
        wide, tall = image.size
    plot_model(two_inputs(), "lr.png", show_shapes=True, rankdir="LR")
    with Image.open(tmp_path / "lr.png") as image:
        assert image.size[0] > wide and image.size[1] < tall
    assert plot_model(two_inputs()) == "model.png" and (tmp_path / "model.png").exists()  # Keras's default
    assert plt.get_fignums() == []


@pytest.mark.parametrize("name, start", [("m.pdf", b"%PDF"), ("m.svg", b"<?xml"), ("m", b"\x89PNG")])
def test_plot_model_writes_the_format_of_the_suffix(tmp_path, name, start):
    plot_model(residual(), tmp_path / name, show_shapes=True)
    assert (tmp_path / name).read_bytes().startswith(start)
    assert plt.get_fignums() == []


# ------------------------------------------------------------------ errors
def test_unknown_rankdir():
    with pytest.raises(ValueError, match=r"plot_model: expected rankdir 'TB' .*got 'tb'\. "
                                         r"Fix: plot_model\(model, 'model\.png', rankdir='LR'\)\."):
        plot_model(chain(), "x.png", rankdir="tb")


@pytest.mark.parametrize("name", ["model.dot", "model.txt"])
def test_unsupported_file_extension(tmp_path, name):
    with pytest.raises(ValueError, match=r"plot_model: expected a file name ending in one of .*\.pdf.*\.png.*\.svg.*"
                                         rf"got '.*{name}'\. Fix: plot_model\(model, 'model\.png'\)\."):
        plot_model(chain(), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("thing, got", [(Dense(3), "the layer Dense 'dense"), ("model.png", "str")])
def test_not_a_model(thing, got):
    with pytest.raises(TypeError, match=rf"plot_model: expected a brainnet model .*got {got}.*Fix: "
                                        r"plot_model\(model, 'model\.png'\) with the model"):
        plot_model(thing)


def test_to_file_not_a_file_name():
    with pytest.raises(TypeError, match=r"plot_model: expected to_file as a file name .*got bool True\. "
                                        r"Fix: plot_model\(model, 'model\.png', show_shapes=True\)\."):
        plot_model(chain(), True)


@pytest.mark.parametrize("dpi", [0, -5, "200", None])
def test_bad_dpi(tmp_path, dpi):
    with pytest.raises(ValueError, match=r"plot_model: expected dpi as a positive number, got .*"
                                         r"Fix: plot_model\(model, 'model\.png', dpi=200\)\."):
        plot_model(chain(), tmp_path / "m.png", dpi=dpi)


def test_expand_nested_warns_that_nested_models_are_one_box(tmp_path):
    inner = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)], name="inner")
    x = Input(shape=(3,))
    outer = Model(x, Dense(1)(inner(x)))
    with pytest.warns(UserWarning, match=r"plot_model: expected to draw the layers inside the nested model\(s\) "
                                         r"\['inner'\].*Fix: plot that model on its own, "
                                         r"plot_model\(model\.get_layer\('inner'\), 'inner\.png'\)\."):
        plot_model(outer, tmp_path / "outer.png", expand_nested=True)
    assert (tmp_path / "outer.png").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_model(outer, tmp_path / "outer.png")  # expand_nested=False: no warning
        plot_model(chain(), tmp_path / "flat.png", expand_nested=True)  # nothing nested: no warning
