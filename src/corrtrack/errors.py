"""Errors with a message a user can act on: which file, which record, what is wrong."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CorrtrackError", "FormatError", "OutputError"]


class CorrtrackError(Exception):
    """Base class of corrtrack's user-facing errors (the CLI prints them without a traceback)."""

    #: the command line's exit code: 2 for bad input or options, 1 for a fault of the environment
    exit_code: int = 2


class FormatError(CorrtrackError, ValueError):
    """A file does not follow the format it claims to be in."""

    def __init__(self, source: str | Path, problem: str, record: str | None = None) -> None:
        self.source = str(source)
        self.record = record
        self.problem = problem
        where = f"{self.source}: {record}" if record else self.source
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple:
        # rebuilt from its fields, so it crosses process boundaries (evaluation workers) unchanged
        return (FormatError, (self.source, self.problem, self.record))


class OutputError(CorrtrackError, OSError):
    """An output cannot be written: the path is unusable (exit 2) or the environment failed (exit 1)."""

    def __init__(self, path: str | Path, problem: str, environment: bool = False) -> None:
        self.path = str(path)
        self.problem = problem
        self.exit_code = 1 if environment else 2
        super().__init__(f"{self.path}: cannot write: {problem}")

    def __reduce__(self) -> tuple:
        return (OutputError, (self.path, self.problem, self.exit_code == 1))
