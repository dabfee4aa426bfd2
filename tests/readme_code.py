"""Reading README.md's code for tests/test_readme_snippets.py and
tests/test_readme_commands.py: its fenced blocks keyed by section, the
commands its prose quotes, and the check that a command names scripts,
subcommands, recipes and flags that exist (without running anything long)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


# --------------------------------------------------------------------------- the blocks


@dataclass(frozen=True)
class Snippet:
    """One fenced block of README.md."""

    key: str  # "<heading> #<n>": the n-th fenced block under that heading
    line: int  # the README line of its opening fence
    lang: str  # "python", "bash" or "" (no language given)
    code: str

    def where(self) -> str:
        return f"README.md:{self.line} (section {self.key!r})"


def readme_blocks(text: str | None = None) -> list[Snippet]:
    """The fenced blocks of the README, in order, keyed by section."""
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks, heading, count, i = [], "(top)", 0, 0
    while i < len(lines):
        if lines[i].startswith("#"):
            heading, count = lines[i].lstrip("#").strip(), 0
        fence = re.match(r"^(\s*)```(\w*)\s*$", lines[i])
        if fence:
            indent, lang, start = fence.group(1), fence.group(2), i
            i += 1
            while not re.match(r"^\s*```\s*$", lines[i]):
                i += 1
            count += 1
            body = "\n".join(line[len(indent):] for line in lines[start + 1:i])
            blocks.append(Snippet(f"{heading} #{count}", start + 1, lang, body))
        i += 1
    return blocks


# --------------------------------------------------------------------------- commands

INLINE_COMMAND = re.compile(r"(?:[A-Z_]+=\S+ )*(?:python benchmarks/|bash (?:scripts|benchmarks)/|torchrun |"
                            r"brainnet (?:list|run|predict|explain|bench)\b)")


def inline_commands(text: str | None = None) -> list[str]:
    """The commands the README's prose quotes in `backticks` (outside fenced blocks)."""
    text = README.read_text(encoding="utf-8") if text is None else text
    prose = re.sub(r"^\s*```.*?^\s*```", "", text, flags=re.S | re.M)
    spans = (" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose))
    return list(dict.fromkeys(span for span in spans if INLINE_COMMAND.match(span)))




def shell_commands(code: str) -> list[tuple[list[str], bool]]:
    """The commands of a shell block as (tokens, synopsis): `# comments` dropped,
    `&&` split, environment assignments dropped, a line of options alone
    (`    --epochs N ...`) joined to the command above it. In a transcript
    (lines starting with `$ `) only those lines are commands. A synopsis
    holds placeholders (`MODEL`, `N`, `[...]`, `a|b`) and is not parsed whole."""
    lines = code.splitlines()
    if any(line.startswith("$ ") for line in lines):
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    commands: list[tuple[list[str], bool]] = []
    for line in lines:
        tokens = shlex.split(line, comments=True)
        if not tokens:
            continue
        if tokens[0].startswith("--"):
            assert commands, f"options without a command: {line!r}"
            commands[-1] = (commands[-1][0] + tokens, True)
            continue
        while "&&" in tokens:
            cut = tokens.index("&&")
            commands.append((tokens[:cut], False))
            tokens = tokens[cut + 1:]
        commands.append((tokens, False))
    commands = [([t for i, t in enumerate(tokens) if not (re.fullmatch(r"[A-Z_]+=\S*", t) and
                                                         all(re.fullmatch(r"[A-Z_]+=\S*", u) for u in tokens[:i]))],
                 synopsis) for tokens, synopsis in commands]
    return [(tokens, synopsis or any(t.startswith("[") or t.endswith("...") or "|" in t or
                                     (t.isupper() and not t.startswith("-")) for t in tokens))
            for tokens, synopsis in commands]


def _options_are_known(parser, tokens: list[str], where: str) -> None:
    """Each `--flag` of `tokens` is an option of `parser`, and a `a|b|c` after
    one is among its choices."""
    known = parser._option_string_actions
    for i, token in enumerate(tokens):
        token = token.strip("[]")
        if not token.startswith("--"):
            continue
        flag = token.split("=")[0]
        assert flag in known, f"{where}: `{parser.prog}` has no option {flag}; it has {sorted(known)}"
        after = tokens[i + 1].strip("[]") if i + 1 < len(tokens) else ""
        if "|" in after and known[flag].choices is not None:
            missing = set(after.split("|")) - set(known[flag].choices)
            assert not missing, f"{where}: {flag} takes {list(known[flag].choices)}, not {sorted(missing)}"


def _parses(parser, argv: list[str], where: str) -> None:
    try:
        parser.parse_args(argv)
    except SystemExit as stop:
        raise AssertionError(f"{where}: `{parser.prog} {' '.join(argv)}` is refused by its parser") from stop


HELP_DRIVER = """
import contextlib, io, json, os, runpy, sys
out = {}
for script in sys.argv[1:]:
    sys.argv, text = [script, "--help"], io.StringIO()
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # as `python SCRIPT` puts the script's folder first
    try:
        with contextlib.redirect_stdout(text):
            runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        del sys.path[0]
    out[script] = [code, text.getvalue()]
print(json.dumps(out))
"""
_HELP: dict[str, tuple[int, str]] = {}


def script_helps(scripts: list[str]) -> None:
    """`python SCRIPT --help` for each script (nothing is trained), in one
    process that imports torch once, as `python SCRIPT` would run it."""
    todo = [script for script in dict.fromkeys(scripts) if script not in _HELP]
    if todo:
        result = subprocess.run([sys.executable, "-c", HELP_DRIVER, *todo], cwd=REPO, capture_output=True,
                                text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert result.returncode == 0, result.stderr[-3000:]
        _HELP.update({script: tuple(found) for script, found in json.loads(result.stdout.splitlines()[-1]).items()})


def _script_help(script: str) -> str:
    script_helps([script])
    code, text = _HELP[script]
    assert code == 0 and "usage:" in text, f"python {script} --help exited {code}, printing {text[:300]!r}"
    return text


def check_command(tokens: list[str], synopsis: bool, where: str) -> None:
    from brainnet.benchmarks.command import build_parser as bench_parser
    from brainnet.cli import build_parser
    from brainnet.recipes import RECIPES

    program, args = tokens[0], tokens[1:]
    if program == "bash":
        assert (REPO / args[0]).is_file(), f"{where}: {args[0]} does not exist"
        if args[0] == "scripts/train.sh" and len(args) > 1:  # passes its arguments on to `brainnet run mnist-cnn`
            assert 'brainnet run mnist-cnn "$@"' in (REPO / args[0]).read_text()
            check_command(["brainnet", "run", "mnist-cnn", *args[1:]], synopsis, where)
    elif program == "python":
        assert (REPO / args[0]).is_file(), f"{where}: {args[0]} does not exist"
        text = _script_help(args[0])
        for flag in (t for t in args[1:] if t.startswith("--")):
            assert re.search(rf"{re.escape(flag)}\b", text), f"{where}: python {args[0]} --help lists no {flag}"
    elif program == "brainnet":
        subcommands = build_parser()._subparsers._group_actions[0].choices
        assert args[0] in subcommands, f"{where}: brainnet has no subcommand {args[0]!r}"
        parser = bench_parser() if args[0] == "bench" else subcommands[args[0]]
        rest = args[1:]
        _options_are_known(parser, rest, where)
        if args[0] == "run" and rest and not rest[0].isupper() and not rest[0].startswith("-"):
            assert rest[0] in RECIPES, f"{where}: no recipe {rest[0]!r}; `brainnet list` has {list(RECIPES)}"
        if not synopsis:
            _parses(parser, rest, where)
    elif program == "torchrun":
        from torch.distributed.run import get_args_parser

        parser = get_args_parser()
        _options_are_known(parser, args, where)
        _parses(parser, args, where)
        script = parser.parse_args(args).training_script
        assert "/" not in script or (REPO / script).is_file(), f"{where}: {script} does not exist"
    else:
        raise AssertionError(f"{where}: the test does not know the command {program!r}. Fix: teach _check_command.")
