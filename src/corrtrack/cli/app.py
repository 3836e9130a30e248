"""The typer application every command module registers with, and the helpers they share."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, TypeVar

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from corrtrack.config import ConfigError, override

__all__ = [
    "CorrtrackApp",
    "app",
    "apply_settings",
    "check_device",
    "check_output_file",
    "check_output_folder",
    "fail",
    "finite",
    "parse_size",
]


def _plain_metavars(params: list[Any]) -> list[Any]:
    """Help shows a boolean option as a bare flag and an argument by its name in capitals.

    typer's own help writes ``--debug <bool>`` for a flag that takes no value and ``{source}`` for
    a required argument; a flag gets an empty type column here, an argument the metavar ``SOURCE``
    and a repeatable ``--set``-style option ``NAME=VALUE`` (not ``<list[str]>``).
    """
    for p in params:
        if isinstance(p, TyperOption) and p.is_flag and p.metavar is None:
            p.metavar = ""
        elif isinstance(p, TyperOption) and p.multiple and p.metavar is None and all(o.endswith("set") for o in p.opts):
            p.metavar = "NAME=VALUE"  # --set, --det-set, --sim-set: not <list[str]>
        elif isinstance(p, TyperArgument) and p.metavar is None and p.name:
            p.metavar = p.name.upper()
    return params


def _usage(command: TyperCommand | TyperGroup, ctx: Any, pieces: list[str]) -> list[str]:
    """The usage line's pieces with arguments as ``SOURCE`` (required) or ``[SOURCE]``, not ``{source}``."""
    out = [command.options_metavar] if command.options_metavar else []
    for p in command.get_params(ctx):
        if isinstance(p, TyperArgument):
            name = p.metavar or (p.name or "").upper()
            name = name if p.required else f"[{name}]"
            out.append(name + ("..." if p.nargs != 1 else ""))
    return out + pieces


class _Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_metavars(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage(self, ctx, [])


class _Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_metavars(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage(self, ctx, [self.subcommand_metavar])


class CorrtrackApp(typer.Typer):
    """A typer app whose commands' help shows flags as flags and arguments as ``NAME`` (see ``_plain_metavars``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cls=_Group, **kwargs)

    def command(self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or _Command, **kwargs)


app = CorrtrackApp(
    name="corrtrack",
    help="Multi-person pose estimation and tracking with keypoint correspondences (CorrTrack).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

C = TypeVar("C")


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show the Python traceback of an unexpected error."),
) -> None:
    """corrtrack: multi-person 2D pose estimation and tracking with self-supervised keypoint correspondences."""


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on one line and exit (2: bad input or options)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=code)


def _not_writable(path: Path, problem: str) -> NoReturn:
    # the one wording of an unusable output path, the same as corrtrack.errors.OutputError's
    fail(f"{path}: cannot write: {problem}")


def _folder_part_is_file(path: Path) -> bool:
    return any(parent.exists() and not parent.is_dir() for parent in path.parents)


def check_output_file(path: Path | None) -> None:
    """Refuse (exit 2, before any work) an output file path that is an existing folder or lies under a file."""
    if path is None:
        return
    if path.is_dir():
        _not_writable(path, "it is an existing folder")
    if _folder_part_is_file(path):
        _not_writable(path, "a part of its folder is a file")


def check_output_folder(path: Path | None) -> None:
    """Refuse (exit 2, before any work) an output folder path that is an existing file or lies under a file."""
    if path is None:
        return
    if path.exists() and not path.is_dir():
        _not_writable(path, "it is an existing file, not a folder")
    if _folder_part_is_file(path):
        _not_writable(path, "a part of its folder is a file")


def check_device(value: str) -> str:
    """A typer callback for every ``--device`` option: ``cpu``, ``cuda`` or ``cuda:N``, and available.

    The rule is :func:`corrtrack.models.backbone.resolve_device` (the networks' and the training
    loop's): an unknown device string, CUDA without a CUDA device, an index beyond the devices are
    refused at once with a one-line usage error (exit 2), before any work.
    """
    text = value.strip()
    if text == "cpu":  # the default: no torch import
        return text
    from corrtrack.errors import CorrtrackError
    from corrtrack.models.backbone import resolve_device

    try:
        return str(resolve_device(text))
    except CorrtrackError as exc:
        raise typer.BadParameter(str(exc)) from None


def finite(name: str, low: float | None = None, high: float | None = None, *, strict_low: bool = False) -> Callable:
    """A typer callback that accepts only finite numbers within the bounds (NaN and inf are refused)."""

    def check(value: Any) -> Any:
        if value is None:
            return value
        bad = not math.isfinite(value) or (low is not None and (value <= low if strict_low else value < low))
        bad = bad or (high is not None and value > high)
        if bad:
            bound = "" if low is None else (f" > {low}" if strict_low else f" >= {low}")
            bound += "" if high is None else f" and <= {high}"
            raise typer.BadParameter(f"{name} must be a finite number{bound}, got {value}")
        return value

    return check


def parse_size(text: str, option: str = "--size", minimum: int = 64) -> tuple[int, int]:
    """``640x360`` -> (640, 360)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        fail(f"{option} must look like 640x360, got {text!r}")
    if w < minimum or h < minimum or w > 8192 or h > 8192:
        fail(f"{option} {text} is outside {minimum}x{minimum} .. 8192x8192")
    return w, h


def apply_settings(config: C, settings: list[str] | None, option: str = "--set", **kwargs: Any) -> C:
    """``config`` with the ``--set name=value`` overrides applied (one-line error for a bad one)."""
    try:
        return override(config, settings or [], **kwargs)
    except ConfigError as exc:
        fail(f"{option}: {exc}")


# options of the network correspondence model, shared by `track` and `show-corr`
RefinementOption = Annotated[
    Literal["full", "windowed", "none", "gated"], typer.Option(help="Refinement of the correspondence maps.")
]
CorrPriorOption = Annotated[
    float,
    typer.Option(
        callback=finite("--corr-prior", 0.0, 1e6),
        help="Network correspondences: motion prior width in grid cells (0 = off, the paper).",
    ),
]
CorrSubcellOption = Annotated[
    Literal["off", "centroid"],
    typer.Option(help="Network correspondences: sub-cell peak positions (off = the paper; centroid)."),
]
