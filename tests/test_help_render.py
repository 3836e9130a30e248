"""Every command's --help shows boolean options as plain flags and arguments by readable names."""

import pytest
import typer
import typer.main
from typer.core import TyperArgument, TyperGroup, TyperOption
from typer.testing import CliRunner

from corrtrack.cli import app

runner = CliRunner()


def _commands(group: TyperGroup, prefix: tuple[str, ...] = ()) -> list:
    found = []
    ctx = typer.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None
        found.append(((*prefix, name), cmd))
        if isinstance(cmd, TyperGroup):
            found += _commands(cmd, (*prefix, name))
    return found


ROOT = typer.main.get_command(app)
COMMANDS = [((), ROOT), *_commands(ROOT)]


def test_the_walk_finds_every_command():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "track", "demo", "synth", "show-corr", "eval", "train", "train pose", "experiment"} <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "corrtrack")
def test_help_has_no_bool_or_brace_metavar(path):
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "<bool>" not in text
    assert "<list[str]>" not in text  # --set NAME=VALUE
    assert "{" not in text, [line for line in text.splitlines() if "{" in line]
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    command = dict(COMMANDS)[path]
    for param in command.params:
        if isinstance(param, TyperArgument):
            assert param.name.upper() in usage.split(), usage  # SOURCE, not {source}
        elif isinstance(param, TyperOption) and param.is_flag and not param.hidden:
            row = next(line for line in text.splitlines() if param.opts[0] in line.split())
            assert "bool" not in row.lower(), row


def test_flags_still_work_as_flags(tmp_path):
    # the help change leaves parsing alone: --no-detections / --overwrite are still flags without a value
    result = runner.invoke(app, ["synth", "--help"], env={"COLUMNS": "200"})
    assert "--overwrite" in result.output and "--no-overwrite" in result.output
    bad = runner.invoke(app, ["synth", str(tmp_path / "x"), "--overwrite", "true"])
    assert bad.exit_code == 2  # 'true' is an unexpected extra argument, not the flag's value
