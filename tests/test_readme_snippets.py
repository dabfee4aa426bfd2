"""Every code block of README.md that a user would run, run by the suite.

The README's fenced blocks are found by their section: a block's key is the
heading above it and its place among that section's blocks
(``"The teaching program #1"``), and a failure names that key and the
README line where the block starts. ``BLOCKS`` classifies every block; a
block added to the README without an entry there fails
``test_every_block_is_classified``.

* ``python`` blocks run in a fresh namespace, in a temporary working
  directory, on real data (MNIST from conftest.py's ``mnist_dir``, skipped
  when absent). A block that continues an earlier one (``after=``) runs
  after it in the same namespace; a block that uses names
  the README leaves to the reader (``x``, ``y``, ``texts``) gets them from a
  ``prelude`` written here, from real data where the block is about data.
  Long runs are shortened only through ``SUBSTITUTIONS``, each made exactly
  once (so a README edit that removes its target fails), each with its
  reason. Where a block makes a claim that is cheap to check (a shape, a
  file written, an accuracy above chance), ``check`` checks it.
* ``shell`` blocks name commands, checked in tests/test_readme_commands.py:
  each ``brainnet`` subcommand, recipe, flag and listed choice must exist in
  the CLI's argparse parsers, each script must exist, and each
  ``python benchmarks/x.py`` flag must be in its ``--help`` (nothing long is
  run). Reading the README is tests/readme_code.py's.
* ``output`` blocks show what brainnet prints; where ``check`` is given, the
  printed error is produced and compared with the README's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from readme_code import Snippet, readme_blocks


# --------------------------------------------------------------------------- preludes
# Names a block uses but the README leaves to the reader, made from real data.

MNIST_SLICE = """
from brainnet.datasets import mnist
(_x_train, _y_train), (_x_test, _y_test) = mnist.load_data()
"""

PRELUDE_CHAR_MODEL = """
from brainnet.datasets import fortunes
from brainnet.layers import Dense, Embedding, Input
from brainnet.models import Sequential
from brainnet.text import CharTokenizer
train_text, _ = fortunes.load_data(["startrek"])
tokenizer = CharTokenizer.from_text(train_text)
model = Sequential([Input(shape=(16,), dtype="int64"), Embedding(tokenizer.vocab_size, 8),
                    Dense(tokenizer.vocab_size)])          # untrained: generate only samples from it
"""

PRELUDE_TEXTS = """
import numpy as np
from brainnet.datasets import fortunes
_trek, _food = fortunes.load_fortunes(["startrek"]), fortunes.load_fortunes(["food"])
_all = np.array(_trek + _food, dtype=object)
_labels = np.array([0] * len(_trek) + [1] * len(_food), dtype="float32")
_val = np.arange(len(_all)) % 4 == 3
texts, y, val_texts, val_y = _all[~_val], _labels[~_val], _all[_val], _labels[_val]
"""

PRELUDE_TWO_INPUTS = MNIST_SLICE + """
x_image = _x_train[:3000].reshape(-1, 784).astype("float32") / 255
x_extra = x_image.reshape(-1, 8, 98).mean(axis=2)           # ink in 8 bands of the image
y_digit = _y_train[:3000]
y_size = x_image.mean(axis=1, keepdims=True) * 10           # how much ink
"""

PRELUDE_SMALL_MODEL = MNIST_SLICE + """
import numpy as np
from brainnet.layers import Dense, Flatten, Input
from brainnet.models import Sequential
x, y = _x_train[:2000].astype("float32") / 255, _y_train[:2000]
x_test, y_test = _x_test[:1000].astype("float32") / 255, _y_test[:1000]
model = Sequential([Input(shape=(28, 28)), Flatten(), Dense(10, activation="softmax")])
"""

PRELUDE_WEIGHTS = PRELUDE_SMALL_MODEL + """
w = np.where(y == 1, 2.0, 1.0)                  # ones count twice
w_test = np.where(y_test == 1, 2.0, 1.0)
"""

PRELUDE_LOADERS = PRELUDE_SMALL_MODEL + """
import torch
from torch.utils.data import DataLoader, TensorDataset
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
dataset = TensorDataset(torch.from_numpy(x), torch.from_numpy(y).long())
_val = TensorDataset(torch.from_numpy(x_test), torch.from_numpy(y_test).long())
val_loader = test_loader = DataLoader(_val, batch_size=100)
"""

PRELUDE_PICTURES = MNIST_SLICE + """
import os
import numpy as np
import torch
from brainnet.layers import Conv2D, Dense, GlobalAveragePooling2D, Input, Rescaling
from brainnet.models import Sequential
from brainnet.utils import save_img
from torch.utils.data import DataLoader, TensorDataset
# real pictures, saved as JPEG files: MNIST zeros stand in for cats, ones for dogs
_pictures = {"cat": _x_test[_y_test == 0][:25], "dog": _x_test[_y_test == 1][:25]}
for _name, _images in _pictures.items():
    os.makedirs(f"pictures/{_name}")
    for _i, _image in enumerate(_images):
        save_img(f"pictures/{_name}/{_i}.jpg", np.repeat(_image[..., None], 3, axis=2))
_big = lambda images: np.pad(np.repeat(np.repeat(np.repeat(images[..., None], 3, -1), 4, 1), 4, 2),
                              ((0, 0), (8, 8), (8, 8), (0, 0))).astype("float32")   # 28 x 4 + 16 = 128
x = torch.from_numpy(_big(np.concatenate([_x_train[_y_train == 0][:40], _x_train[_y_train == 1][:40]])))
y = torch.tensor([0] * 40 + [1] * 40)
val_loader = test_loader = DataLoader(TensorDataset(x[::4], y[::4]), batch_size=16)
model = Sequential([Input(shape=(128, 128, 3)), Rescaling(1 / 255), Conv2D(4, 4, strides=4, activation="relu"),
                    GlobalAveragePooling2D(), Dense(2, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
"""

SEVEN_PNG = """
from brainnet.utils import save_img
from brainnet.datasets import mnist
_, (_x_test, _y_test) = mnist.load_data()
save_img("seven.png", _x_test[_y_test == 7][0][..., None])    # an MNIST test seven, as the README says
"""


# --------------------------------------------------------------------------- checks
# Each takes the namespace the block ran in (its working directory is the cwd).


def _check_teaching_program(ns: dict) -> None:
    assert ns["probabilities"].shape == (5, 10)
    np.testing.assert_allclose(ns["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    assert ns["accuracy"] > 0.5, f"test accuracy {ns['accuracy']} after one short epoch: chance is 0.1"
    assert set(ns["history"].history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    summary = "\n".join(ns["_summary"])  # "layers, output shapes, parameters, equations"
    assert summary.count("(Conv2D)") == 2 and summary.count("(Dense)") == 2, summary
    for shown in ("(None, 11, 11, 64)", "Total params: 225,034",  # as mnist-small-data says
                  "y_ij = f(Σ_k x_ik·w_kj + b_j)", "y_j = f(Σ_k x_k·w_kj + b_j)"):
        assert shown in summary, f"{shown!r} not in the summary:\n{summary}"


def _check_plot_model(ns: dict) -> None:
    path = Path(ns["_plot_path"])  # the return value the comment promises
    assert path.name == "my_first_model.png" and path.is_file()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _check_sequence_models(ns: dict) -> None:
    assert ns["model"].predict(np.zeros((2, 28, 28), "float32")).shape == (2, 10)


def _check_cell_model(ns: dict) -> None:
    out = ns["model"].predict(np.random.default_rng(0).random((3, 28, 28), dtype="float32"))
    assert out.shape == (3, 10)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def _check_generate(ns: dict) -> None:
    text, tokenizer = ns["text"], ns["tokenizer"]
    assert text.startswith("The ") and len(text) == 4 + 400
    assert set(text) <= set(tokenizer.vocabulary)  # id 0, UNKNOWN, included: the model is untrained


def _check_text_classifier(ns: dict) -> None:
    p = ns["model"].predict(np.array(["a new text"]))
    assert p.shape == (1, 1) and 0.0 <= float(p[0, 0]) <= 1.0


def _check_two_outputs(ns: dict) -> None:
    logs = ns["model"].history.history
    assert {"digit_loss", "size_loss", "digit_accuracy"} <= set(logs), sorted(logs)
    assert logs["digit_accuracy"][-1] > 0.5, f"chance is 0.1; got {logs['digit_accuracy']}"


def _check_extractor(ns: dict) -> None:
    activations, model = ns["activations"], ns["model"]
    assert len(activations) == len(model.layers)
    assert [a.shape for a in activations] == [(1, 26, 26, 32), (1, 13, 13, 32), (1, 11, 11, 64), (1, 5, 5, 64),
                                              (1, 1600), (1, 128), (1, 10)]
    np.testing.assert_allclose(activations[-1], model.predict(ns["x_test"][:1]), rtol=1e-5, atol=1e-6)


def _check_custom_step(ns: dict) -> None:
    import brainnet

    model = ns["Custom"]([brainnet.layers.Input(shape=(28, 28)), brainnet.layers.Flatten(),
                          brainnet.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    (x, y), _ = brainnet.datasets.mnist.load_data()
    history = model.fit(x[:2000].astype("float32") / 255, y[:2000], epochs=2, batch_size=64, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]
    assert history.history["accuracy"][1] > 0.5


def _check_saving(ns: dict) -> None:
    assert Path("model.brainnet").is_file() and Path("model.weights.safetensors").is_file()
    np.testing.assert_allclose(ns["model"].predict(ns["x_test"][:5]), ns["probabilities"], rtol=1e-5, atol=1e-6)


def _check_registered(ns: dict) -> None:
    import brainnet

    scale = ns["Scale"]
    assert brainnet.saving.get_registered_object(brainnet.saving.get_registered_name(scale)) is scale


def _check_load_picture(ns: dict) -> None:
    assert ns["image"].array.shape == (28, 28, 1)
    assert ns["probabilities"].shape == (1, 10)
    np.testing.assert_allclose(ns["probabilities"].sum(), 1.0, rtol=1e-5)


def _check_mixed_precision(ns: dict) -> None:
    assert ns["mixed_precision"].global_policy().name == "mixed_bfloat16"


def _check_sampler(ns: dict) -> None:
    assert ns["rank"]() == 0 and ns["world_size"]() == 1
    assert len(ns["loader"]) == 2000 // 32 + 1
    assert ns["model"].history.history["accuracy"][-1] > 0.5


def _check_explain(ns: dict) -> None:
    assert ns["maps"].shape == (8, 28, 28) and ns["cams"].shape == (8, 28, 28)
    assert Path("grad_cam.png").is_file() and Path("curves.png").is_file()


def _check_weights(ns: dict) -> None:
    assert ns["model"].metrics_names == ["loss", "accuracy", "weighted_accuracy"]
    loss, accuracy, weighted = ns["model"].evaluate(ns["x_test"], ns["y_test"], sample_weight=ns["w_test"])
    assert accuracy > 0.5 and weighted > 0.5


def _check_loaders(ns: dict) -> None:
    assert ns["train"].class_names == ["cat", "dog"]
    assert len(ns["train"].file_paths) == 40 and len(ns["val"].file_paths) == 10
    assert len(ns["model"].history.history["loss"]) == 1


def _check_attention_error(snippet: Snippet) -> None:
    from brainnet.layers import LSTM, Attention, Input

    inputs = Input(shape=(28, 28))
    lstm = LSTM(64, return_sequences=True)(inputs)
    with pytest.raises(ValueError) as error:
        Attention()([lstm, inputs])
    message = re.sub(r"Layer 'attention_\d+'", "Layer 'attention'", str(error.value))  # another test's names
    assert f"ValueError: {message}" == snippet.code.strip()


def _check_input_error(snippet: Snippet) -> None:
    from brainnet.layers import Conv2D, Dense, Flatten
    from brainnet.models import Sequential

    model = Sequential([Conv2D(4, (3, 3), input_shape=(28, 28, 1)), Flatten(), Dense(10, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError) as error:
        model.fit(np.zeros((60000, 784), "float32"), np.zeros(60000, "int64"), epochs=1, verbose=0)
    assert f"ValueError: {error.value}" == snippet.code.strip()


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Entry:
    """How the test treats one README block."""

    kind: str  # "python", "fragment" (not runnable: `reason`), "shell" or "output"
    reason: str = ""  # why a block is a fragment, continues another, or needs a prelude
    after: str = ""  # key of the block this one continues: run first, same namespace
    prelude: str = ""  # code that defines what the README leaves to the reader
    mnist: bool = False  # skip when real MNIST is absent
    check: Callable | None = None


TEACHING = "The teaching program #1"

BLOCKS: dict[str, Entry] = {
    "Two commands #1": Entry("shell"),
    TEACHING: Entry("python", mnist=True, check=_check_teaching_program),
    "The teaching program #2": Entry("python", "plot_model draws the model of the teaching program",
                                     after=TEACHING, mnist=True, check=_check_plot_model),
    "Sequences: recurrent networks, attention, Transformers #1": Entry("python", check=_check_sequence_models),
    "Sequences: recurrent networks, attention, Transformers #2": Entry("output", check=_check_attention_error),
    "Sequences: recurrent networks, attention, Transformers #3": Entry("python", check=_check_cell_model),
    "A character-level language model #1": Entry(
        "python", "the model and tokenizer are the example's: here a small untrained one on real fortunes",
        prelude=PRELUDE_CHAR_MODEL, check=_check_generate),
    "Classifying text: TextVectorization #1": Entry(
        "python", "texts and labels are the reader's: here Star Trek against food fortunes", prelude=PRELUDE_TEXTS,
        check=_check_text_classifier),
    "The functional API and subclassing #1": Entry(
        "python", "the arrays are the reader's: here MNIST images with their ink per band and in all",
        prelude=PRELUDE_TWO_INPUTS, mnist=True, check=_check_two_outputs),
    "The functional API and subclassing #2": Entry(
        "python", "a feature extractor of the teaching program's model", after=TEACHING, mnist=True,
        check=_check_extractor),
    "Your own training step inside fit() #1": Entry("python", check=_check_custom_step, mnist=True),
    "Saving and loading #1": Entry("python", "saves the teaching program's model", after=TEACHING, mnist=True,
                                   check=_check_saving),
    "Saving and loading #2": Entry("python", check=_check_registered),
    "Saving and loading #3": Entry("python", "gives the teaching program's model its preprocessing",
                                   after=TEACHING, mnist=True),
    "Saving and loading #4": Entry("python", "loads seven.png (an MNIST test seven, written here) with the "
                                   "preprocessing the block before gave", after="Saving and loading #3",
                                   prelude=SEVEN_PNG, mnist=True, check=_check_load_picture),
    "Speed: mnist-fast, the GPU path and the benchmarks #1": Entry(
        "python", "compiles the teaching program's model (SGD imported there)", after=TEACHING, mnist=True,
        check=_check_mixed_precision),
    "Speed: mnist-fast, the GPU path and the benchmarks #2": Entry("shell"),
    "Training on several machines #1": Entry("shell"),
    "Training on several machines #2": Entry(
        "python", "the dataset, model and loaders are the reader's: here MNIST tensors and a small model",
        prelude=PRELUDE_LOADERS, mnist=True, check=_check_sampler),
    "Seeing what the network learned #1": Entry("python", "explains the teaching program's model",
                                                after=TEACHING, mnist=True, check=_check_explain),
    "Weighing samples and classes #1": Entry("python", "the model and arrays are the reader's: here a small "
                                             "model on MNIST", prelude=PRELUDE_WEIGHTS, mnist=True,
                                             check=_check_weights),
    "Errors that teach #1": Entry("output", check=_check_input_error),
    "Data that does not fit in one array #1": Entry(
        "python", "the model, arrays and pictures/ are the reader's: here MNIST zeros and ones, as JPEG files "
        "in pictures/cat and pictures/dog and as 128 x 128 x 3 tensors", prelude=PRELUDE_PICTURES, mnist=True,
        check=_check_loaders),
    "Command line #1": Entry("shell"),
    "Command line #2": Entry("shell"),  # `$ ` commands and what they print
}

# The only changes made to README code before it runs: (old, new, why). Each
# `old` must occur exactly once in its block.
SUBSTITUTIONS: dict[str, list[tuple[str, str, str]]] = {
    TEACHING: [
        ("history = model.fit(x_train, y_train, epochs=10,", "history = model.fit(x_train[:3000], y_train[:3000], "
         "epochs=1, verbose=0,", "10 epochs on 60,000 images take minutes: one on 3,000, quietly"),
        ("model.evaluate(x_test, y_test)", "model.evaluate(x_test[:1000], y_test[:1000], verbose=0)",
         "1,000 test images are enough to see an accuracy above chance"),
        ("model.summary(show_equations=True)", "model.summary(show_equations=True, print_fn=(_summary := []).append)",
         "keep the summary's lines to check what the comment promises"),
    ],
    "The teaching program #2": [
        ("plot_model(model,", "_plot_path = plot_model(model,", "keep the path the comment says it returns"),
    ],
    "Classifying text: TextVectorization #1": [
        ("model.fit(texts, y,", "model.fit(texts, y, verbose=0,", "keep the test's output quiet"),
    ],
    "The functional API and subclassing #1": [
        ("epochs=5)", "epochs=5, verbose=0)", "keep the test's output quiet"),
    ],
    "Training on several machines #2": [
        ("epochs=5,", "epochs=1, verbose=0,", "one pass shows the loader trains; five add nothing"),
        ("model.evaluate(test_loader)", "model.evaluate(test_loader, verbose=0)", "keep the test's output quiet"),
    ],
    "Weighing samples and classes #1": [
        ("class_weight={0: 1.0, 1: 5.0})", "class_weight={0: 1.0, 1: 5.0}, verbose=0)", "quiet"),
        ("sample_weight=w)", "sample_weight=w, verbose=0)", "quiet"),
        ("sample_weight=w_test)", "sample_weight=w_test, verbose=0)", "quiet"),
    ],
    "Data that does not fit in one array #1": [
        ("epochs=5,", "epochs=1, verbose=0,", "one pass of each loader shows it trains"),
        ("model.evaluate(test_loader)", "model.evaluate(test_loader, verbose=0)", "quiet"),
        ("model.predict(test_loader)", "model.predict(test_loader, verbose=0)", "quiet"),
        ("epochs=10)", "epochs=1, verbose=0)", "one pass of the picture folder shows it trains"),
    ],
}

BLOCKS_BY_KEY = {snippet.key: snippet for snippet in readme_blocks()}


def _source(key: str) -> str:
    """The block's code with its substitutions made, each exactly once."""
    snippet, code = BLOCKS_BY_KEY[key], BLOCKS_BY_KEY[key].code
    for old, new, why in SUBSTITUTIONS.get(key, []):
        assert code.count(old) == 1, (f"{snippet.where()}: the test shortens it by replacing {old!r} "
                                      f"({why}), found {code.count(old)} times. Fix: update SUBSTITUTIONS.")
        code = code.replace(old, new)
    return code


def _run(key: str, namespace: dict) -> None:
    """Runs the blocks `key` continues, then its prelude and itself, in `namespace`."""
    entry, snippet = BLOCKS[key], BLOCKS_BY_KEY[key]
    if entry.after:
        _run(entry.after, namespace)
    if entry.prelude:
        exec(compile(entry.prelude, f"<prelude of {snippet.key}>", "exec"), namespace)
    exec(compile(_source(key), f"README.md:{snippet.line + 1} ({snippet.key})", "exec"), namespace)


# --------------------------------------------------------------------------- tests


def test_every_block_is_classified():
    keys = [snippet.key for snippet in readme_blocks()]
    unclassified = [BLOCKS_BY_KEY[k].where() for k in keys if k not in BLOCKS]
    assert not unclassified, ("README blocks the test does not know: " + ", ".join(unclassified)
                              + ". Fix: add each to BLOCKS in tests/test_readme_snippets.py (python, with a check "
                              "where it claims something; fragment with the reason; shell; output).")
    assert not set(BLOCKS) - set(keys), f"BLOCKS names blocks the README no longer has: {set(BLOCKS) - set(keys)}"
    assert not set(SUBSTITUTIONS) - set(keys)
    for key, entry in BLOCKS.items():
        lang = BLOCKS_BY_KEY[key].lang
        assert (lang == "python") == (entry.kind in ("python", "fragment")), f"{key}: a ```{lang} block"
        assert entry.kind != "fragment" or entry.reason, f"{key}: a fragment needs its reason"
        assert entry.kind != "python" or not (entry.after or entry.prelude) or entry.reason, key


def test_readme_block_keys_follow_headings():
    text = "# A\n```python\nx = 1\n```\n## B\n```\nout\n```\n```bash\nls\n```\n"
    assert [(s.key, s.line, s.lang, s.code) for s in readme_blocks(text)] == [
        ("A #1", 2, "python", "x = 1"), ("B #1", 6, "", "out"), ("B #2", 9, "bash", "ls")]


@pytest.fixture
def readme_env(tmp_path, monkeypatch):
    """A temporary working directory, nothing downloaded, and global state put back afterwards."""
    import brainnet

    monkeypatch.setenv("BRAINNET_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    registered = dict(brainnet.saving.get_custom_objects())
    yield
    brainnet.mixed_precision.set_global_policy("float32")
    objects = brainnet.saving.get_custom_objects()
    objects.clear()
    objects.update(registered)


PYTHON_KEYS = [key for key, entry in BLOCKS.items() if entry.kind == "python"]


@pytest.mark.parametrize("key", PYTHON_KEYS)
def test_python_block_runs(key, readme_env, request, monkeypatch):
    entry, snippet = BLOCKS[key], BLOCKS_BY_KEY[key]
    if entry.mnist:  # conftest.py's mnist_dir: skips when real MNIST is absent
        monkeypatch.setenv("BRAINNET_DATA_DIR", str(request.getfixturevalue("mnist_dir").parent))
    import brainnet

    brainnet.utils.set_random_seed(0)
    namespace: dict = {"__name__": "__readme__"}
    try:
        _run(key, namespace)
        if entry.check is not None:
            entry.check(namespace)
    except Exception as error:
        raise AssertionError(f"{snippet.where()} failed: {type(error).__name__}: {error}") from error


@pytest.mark.parametrize("key", [key for key, entry in BLOCKS.items() if entry.kind == "output" and entry.check])
def test_printed_output_is_what_brainnet_prints(key):
    BLOCKS[key].check(BLOCKS_BY_KEY[key])
