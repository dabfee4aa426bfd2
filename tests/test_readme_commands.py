"""The commands README.md names exist: each command of its shell blocks
(classified in tests/test_readme_snippets.py's BLOCKS) and each command its
prose quotes in backticks, checked by tests/readme_code.py's check_command
against the `brainnet` parsers, torchrun's parser and each script's --help."""

from __future__ import annotations

import pytest
from readme_code import check_command, inline_commands, script_helps, shell_commands
from test_readme_snippets import BLOCKS, BLOCKS_BY_KEY


SHELL_KEYS = [key for key, entry in BLOCKS.items() if entry.kind == "shell"]


@pytest.mark.parametrize("key", SHELL_KEYS)
def test_shell_block_names_commands_that_exist(key):
    snippet = BLOCKS_BY_KEY[key]
    commands = shell_commands(snippet.code)
    assert commands, f"{snippet.where()}: no command found"
    for tokens, synopsis in commands:
        check_command(tokens, synopsis, f"{snippet.where()}, `{' '.join(tokens)}`")


def test_commands_quoted_in_the_prose_exist():
    """`python benchmarks/recipe_accuracy.py mnist-cnn --seeds 0 1 2` in a table, and the like: each
    read as a synopsis (script, subcommand, recipe and flags checked; `S`, `...` are placeholders)."""
    commands = inline_commands()
    assert len(commands) > 20, commands  # the README quotes many; far fewer means the pattern broke
    script_helps([tokens[1] for command in commands for tokens, _ in shell_commands(command)
                  if tokens[0] == "python"])
    for command in commands:
        for tokens, _ in shell_commands(command):
            check_command(tokens, True, f"README.md, `{command}`")


def test_inline_commands_are_found_across_line_breaks():
    text = "run `python benchmarks/x.py\n  --a 1` or `brainnet run`, not `pytest`\n```\n`brainnet list`\n```\n"
    assert inline_commands(text) == ["python benchmarks/x.py --a 1", "brainnet run"]


def test_shell_commands_are_read_as_a_user_types_them():
    code = "$ OMP_NUM_THREADS=1 brainnet run mnist-cnn --epochs 1   # quick\nout: 0.9\n$ a && b --x\n"
    assert shell_commands(code) == [(["brainnet", "run", "mnist-cnn", "--epochs", "1"], False), (["a"], False),
                               (["b", "--x"], False)]
    assert shell_commands("brainnet predict MODEL IMAGE...\n    --top K\n") == [
        (["brainnet", "predict", "MODEL", "IMAGE...", "--top", "K"], True)]


def test_shell_checks_can_fail():
    with pytest.raises(AssertionError, match="no option --epoch"):
        check_command(["brainnet", "run", "mnist-cnn", "--epoch", "2"], False, "here")
    with pytest.raises(AssertionError, match="no recipe 'mnist-cnnn'"):
        check_command(["brainnet", "run", "mnist-cnnn"], False, "here")
    with pytest.raises(AssertionError, match="takes"):
        check_command(["brainnet", "run", "RECIPE", "--device", "auto|tpu"], True, "here")
    with pytest.raises(AssertionError, match="refused by its parser"):
        check_command(["brainnet", "bench", "--workloads", "cnn65"], False, "here")
    with pytest.raises(AssertionError, match="does not exist"):
        check_command(["bash", "scripts/missing.sh"], False, "here")
