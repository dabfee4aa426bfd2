"""docs/errors.md, the catalogue of user mistakes brainnet recognises, kept
in step with the code.

Every message in ``brainnet/`` that tells the user a fix (a string literal
or f-string holding ``Fix:``, in an exception or a warning) is an entry of
the catalogue, keyed by its text with each ``{value}`` shown as ``…``. The
catalogue is generated from the code, except its last column, the test that
checks the message, which is kept by key. The tests below fail when:

* the code has a message the catalogue lacks, or the catalogue keeps one the
  code no longer has (reworded, moved or removed);
* an entry names no test, or a test that does not exist.

After changing a message: ``python tests/test_error_catalogue.py --write``
regenerates docs/errors.md (new entries get ``TODO`` for their test; write
the test and put its name there).
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CATALOGUE = REPO / "docs" / "errors.md"
PACKAGE = REPO / "brainnet"
MARKER = "Fix:"
TODO = "TODO"

HEADER = """\
# Errors that teach: the catalogue

Every mistake brainnet recognises answers with what it expected, what it
got, and the one-line fix (see *Errors that teach* in the README). This page
lists each such message, by the module that raises it: the message as the
code writes it, `…` standing for the values filled in at run time (a layer's
name, a shape, the value you passed), then the fix it prints, then the test
that triggers it and checks the text.

Generated from the code by `python tests/test_error_catalogue.py --write`,
which keeps the test column; `tests/test_error_catalogue.py` fails when a
message is missing here, when an entry is stale, or when an entry names no
existing test. A message assembled from pieces appears as its pieces (a
fix chosen at run time shows as `Fix: …`).
"""


# ------------------------------------------------------------------ the code's messages
def _text(node: ast.AST) -> str | None:
    """A string literal's text, or an f-string's with each ``{…}`` as ``…``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "…" for v in node.values)
    return None


def messages() -> dict[str, list[str]]:
    """``{key: [module, ...]}`` for every string in brainnet/ holding ``Fix:``."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parts = {id(sub) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
                 for sub in ast.walk(node) if sub is not node}  # an f-string's pieces are not messages
        module = str(path.relative_to(REPO))
        strings = sorted((node for node in ast.walk(tree) if id(node) not in parts and _text(node)),
                         key=lambda node: (node.lineno, node.col_offset))  # in the order of the file
        for node in strings:
            text = _text(node)
            if MARKER in text:
                key = " ".join(text.split())
                if module not in found[key]:
                    found[key].append(module)
    return found


# ------------------------------------------------------------------ the catalogue
ROW = re.compile(r"^\| (?P<message>.*) \| (?P<fix>.*) \| (?P<test>.*) \|$")


def _cell(text: str) -> str:
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`" if text else ""


def _uncell(cell: str) -> str:
    cell = cell.strip()
    if cell.startswith("`` ") and cell.endswith(" ``"):
        cell = cell[3:-3]
    elif cell.startswith("`") and cell.endswith("`"):
        cell = cell[1:-1]
    return cell.replace("\\|", "|")


def _split(key: str) -> tuple[str, str]:
    """The message before ``Fix:`` and the fix after it."""
    before, _, after = key.partition(MARKER)
    return before.strip(), after.strip()


def read_catalogue(path: Path = CATALOGUE) -> dict[str, str]:
    """``{key: test}`` from the catalogue's table rows."""
    entries: dict[str, str] = {}
    if not path.is_file():
        return entries
    for line in path.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if not match or match["message"].startswith(("message", "---")):
            continue
        message, fix = _uncell(match["message"]), _uncell(match["fix"])
        entries[_normal(f"{message} {MARKER} {fix}")] = match["test"].strip()
    return entries


def render(found: dict[str, list[str]], tests: dict[str, str]) -> str:
    """The catalogue for the code's messages, with the tests already named."""
    by_module: dict[str, list[str]] = defaultdict(list)
    for key, modules in found.items():
        by_module[modules[0]].append(key)
    lines = [HEADER]
    total = sum(len(keys) for keys in by_module.values())
    lines.append(f"{total} messages in {len(by_module)} modules.\n")
    for module in sorted(by_module):
        lines += [f"## {module}", "", "| message | fix | test |", "| --- | --- | --- |"]
        for key in by_module[module]:
            message, fix = _split(key)
            also = [m for m in found[key] if m != module]
            if also:
                fix += f" (also raised in {', '.join(also)})"
            lines.append(f"| {_cell(message)} | {_cell(fix)} | {tests.get(_normal(key), TODO)} |")
        lines.append("")
    return "\n".join(lines)


def _normal(key: str) -> str:
    """A key as ``read_catalogue`` gives it back (the ``(also raised in …)`` note dropped)."""
    message, fix = _split(key)
    fix = re.sub(r" \(also raised in [^)]*\)$", "", fix)
    return " ".join(f"{message} {MARKER} {fix}".split())


def _test_exists(reference: str) -> bool:
    """Whether ``tests/x.py::test_name`` (or ``::Class::test_name``) names a function in that file."""
    file, _, name = reference.partition("::")
    path = REPO / file
    if not name or not path.is_file():
        return False
    names = {node.name for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return name.split("::")[-1].split("[")[0] in names


# ------------------------------------------------------------------ the checks
def test_every_fix_message_in_the_code_is_in_the_catalogue_and_no_entry_is_stale():
    found = {_normal(key): modules for key, modules in messages().items()}
    catalogued = read_catalogue()
    missing = sorted(set(found) - set(catalogued))
    stale = sorted(set(catalogued) - set(found))
    assert not missing and not stale, (
        f"docs/errors.md is out of step with the code: {len(missing)} message(s) missing "
        f"{[(found[k][0], k[:90]) for k in missing]}, {len(stale)} stale {[k[:90] for k in stale]}. "
        "Fix: python tests/test_error_catalogue.py --write, then name a test for each new entry."
    )


def test_the_catalogue_is_what_the_generator_writes():
    # Sections, order and the "also raised in" notes follow the code too.
    assert CATALOGUE.read_text(encoding="utf-8") == render(messages(), read_catalogue()), (
        "Fix: python tests/test_error_catalogue.py --write"
    )


def test_every_entry_names_an_existing_test():
    catalogued = read_catalogue()
    assert len(catalogued) > 100
    bad = {key[:80]: test for key, test in catalogued.items()
           if not all(_test_exists(ref.strip().strip("`")) for ref in test.split(","))}
    assert not bad, f"entries whose test is missing or TODO: {bad}"


def test_the_extraction_sees_messages_built_in_every_way():
    # An f-string, a plain literal and implicitly joined pieces all count; f-string pieces alone do not.
    found = messages()
    assert "Dropout: expected rate in [0, 1), got …. Fix: Dropout(0.5)." in found
    assert any(key.startswith("Model input: expected shape …, got …. Fix: …") for key in found)
    assert not any(key == ". Fix:" for key in found)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python tests/test_error_catalogue.py --write")
    CATALOGUE.parent.mkdir(exist_ok=True)
    CATALOGUE.write_text(render(messages(), read_catalogue()), encoding="utf-8")
    entries = read_catalogue()
    print(f"wrote {CATALOGUE}: {len(entries)} entries, {sum(t == TODO for t in entries.values())} without a test")
