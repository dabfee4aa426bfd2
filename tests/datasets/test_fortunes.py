"""brainnet.datasets.fortunes: the search order, the parsing and cleaning of
fortune files, the split by fortune, the errors; then the real Debian files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from brainnet.datasets import DatasetNotFoundError, fortunes

SYSTEM = Path("/usr/share/games/fortunes")


def _write(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def no_system_fortunes(monkeypatch, tmp_path):
    empty = tmp_path / "system-fortunes"
    empty.mkdir()
    monkeypatch.setattr(fortunes, "SYSTEM_DIR", empty)
    return empty


# ------------------------------------------------------------------ parsing
def test_fortunes_are_the_texts_between_percent_lines(tmp_path):
    folder = _write(tmp_path / "f", a="one\nline two\n%\n\n  indented\n\n%\n%\nthree\n%\n", b="four\n%\n")
    assert fortunes.load_fortunes(["a", "b"], path=folder) == ["one\nline two", "  indented", "three", "four"]


def test_a_file_without_a_final_percent_line_keeps_its_last_fortune(tmp_path):
    folder = _write(tmp_path / "f", a="first\n%\nlast words")
    assert fortunes.load_fortunes(["a"], path=folder) == ["first", "last words"]


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("if _\bn is odd", "if n is odd"),  # underline, one letter
        ("it ____\b\b\b\bdoes work", "it does work"),  # underline, a word
        ("B\bBold", "Bold"),  # emboldened by overstriking
        ("ring\a\a the bell", "ring the bell"),
        ("\x1b[32m《送别》\x1b[m\n\x1b[33m作者：王维\x1b[m", "《送别》\n作者：王维"),  # fortunes-zh colours
    ],
)
def test_terminal_control_codes_are_removed(raw, clean, tmp_path):
    folder = _write(tmp_path / "f", a=raw + "\n%\n")
    assert fortunes.load_fortunes(["a"], path=folder) == [clean]


# ------------------------------------------------------------------ the split
def test_every_tenth_fortune_is_held_out_and_texts_end_with_the_separator(tmp_path):
    folder = _write(tmp_path / "f", a="".join(f"fortune {i}\n%\n" for i in range(20)))
    train, validation = fortunes.load_data(["a"], path=folder)
    assert validation == "fortune 9\n%\nfortune 19\n%\n"
    assert train == "".join(f"fortune {i}\n%\n" for i in range(20) if i not in (9, 19))
    assert fortunes.load_data(["a"], path=folder) == (train, validation)  # no randomness


def test_validation_split_spreads_other_fractions_evenly(tmp_path):
    folder = _write(tmp_path / "f", a="".join(f"f{i}\n%\n" for i in range(8)))
    _, validation = fortunes.load_data(["a"], path=folder, validation_split=0.25)
    assert validation == "f3\n%\nf7\n%\n"


@pytest.mark.parametrize("split", [0, 1, 1.5, -0.1, True, "0.1"])
def test_validation_split_outside_0_1_is_refused(split, tmp_path):
    folder = _write(tmp_path / "f", a="x\n%\ny\n%\n")
    with pytest.raises(ValueError, match=r"expected validation_split in \(0, 1\), got .*Fix: validation_split=0\.1"):
        fortunes.load_data(["a"], path=folder, validation_split=split)


def test_a_split_that_leaves_no_validation_fortune_says_so(tmp_path):
    folder = _write(tmp_path / "f", a="x\n%\ny\n%\n")
    with pytest.raises(ValueError, match=r"validation_split=0\.1 of 2 fortunes leaves 2 for training and 0 "
                                         r"for validation, expected at least one each\. Fix:"):
        fortunes.load_data(["a"], path=folder)


def test_the_same_fortune_in_two_files_is_kept_once(tmp_path):
    folder = _write(tmp_path / "f", a="same\n%\nonly a\n%\n", b="same\n%\nonly b\n%\n")
    assert fortunes.load_fortunes(["a", "b"], path=folder) == ["same", "only a", "only b"]


# ------------------------------------------------------------------ where
def test_path_comes_before_the_data_dir_which_comes_before_the_system_folder(monkeypatch, tmp_path):
    system = _write(tmp_path / "system", a="from the system\n%\n")
    monkeypatch.setattr(fortunes, "SYSTEM_DIR", system)
    assert fortunes.load_fortunes(["a"]) == ["from the system"]
    _write(tmp_path / "data" / "fortunes", a="from the data dir\n%\n")
    monkeypatch.setenv("BRAINNET_DATA_DIR", str(tmp_path / "data"))
    assert fortunes.load_fortunes(["a"]) == ["from the data dir"]
    explicit = _write(tmp_path / "explicit", a="from path=\n%\n")
    assert fortunes.load_fortunes(["a"], path=explicit) == ["from path="]


def test_a_folder_missing_one_file_is_passed_over(monkeypatch, tmp_path):
    system = _write(tmp_path / "system", a="system a\n%\n", b="system b\n%\n")
    monkeypatch.setattr(fortunes, "SYSTEM_DIR", system)
    partial = _write(tmp_path / "partial", a="partial a\n%\n")
    assert fortunes.load_fortunes(["a", "b"], path=partial) == ["system a", "system b"]


def test_missing_files_raise_with_expected_got_and_the_apt_fix(no_system_fortunes, tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        fortunes.load_fortunes("english", path=tmp_path)
    message = str(info.value)
    assert message.startswith("fortunes not found: expected the files art, computers, cookie")
    assert "got none holding them all" in message
    assert f"{tmp_path} (path=): missing art, computers" in message
    assert "BRAINNET_DATA_DIR is not set" in message
    assert "Fix: apt-get install fortunes (they go to" in message
    assert "set BRAINNET_DATA_DIR=DIR with the files in DIR/fortunes/" in message
    assert isinstance(info.value, FileNotFoundError)


def test_missing_chinese_files_name_fortunes_zh(no_system_fortunes):
    with pytest.raises(DatasetNotFoundError, match=r"expected the files tang300, song100, chinese .*"
                                                   r"Fix: apt-get install fortunes-zh "):
        fortunes.load_data("chinese")


@pytest.mark.parametrize("collection", ["klingon", [], ["../etc/passwd"], [3]])
def test_an_unknown_collection_is_refused(collection):
    with pytest.raises(ValueError, match=r"expected collection 'english', 'chinese' or a .*list of file "
                                         r"names such as \['tang300'\], got .*Fix: load_fortunes\("):
        fortunes.load_fortunes(collection)


# ------------------------------------------------------------------ the real files
@pytest.fixture
def system_fortunes() -> Path:
    if not all((SYSTEM / name).is_file() for name in fortunes.ENGLISH + fortunes.CHINESE):
        pytest.skip(f"Debian's fortunes are not all in {SYSTEM}: apt-get install fortunes fortunes-zh")
    return SYSTEM


def test_the_english_collection_is_clean_text_split_without_leaks(system_fortunes):
    texts = fortunes.load_fortunes()
    assert len(texts) > 15_000 and len(set(texts)) == len(texts)
    joined = "".join(texts)
    assert not re.search(r"[\x08\x07\x1b]", joined)  # no backspace, bell or escape left
    assert 80 < len(set(joined)) < 150  # letters, digits, punctuation, a few accents

    train, validation = fortunes.load_data()
    train_set = set(train.split(fortunes.SEPARATOR)) - {""}
    validation_set = set(validation.split(fortunes.SEPARATOR)) - {""}
    assert not train_set & validation_set  # no fortune on both sides
    assert len(validation_set) == len(texts) // 10
    assert len(train_set) + len(validation_set) == len(texts)
    assert 0.08 < len(validation) / (len(train) + len(validation)) < 0.12


def test_tang_poems_lose_their_colours(system_fortunes):
    poems = fortunes.load_fortunes(["tang300"])
    assert len(poems) > 300
    assert poems[0].splitlines()[:2] == ["《感遇・其一》", "作者：张九龄"]
    assert "\x1b" not in "".join(poems)
    assert len(fortunes.load_fortunes("chinese")) > len(poems)
