"""Errors with a message a user can act on: which file, which record, what is wrong."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CorrtrackError", "FormatError"]


class CorrtrackError(Exception):
    """Base class of corrtrack's user-facing errors (the CLI prints them without a traceback)."""


class FormatError(CorrtrackError, ValueError):
    """A file does not follow the format it claims to be in."""

    def __init__(self, source: str | Path, problem: str, record: str | None = None) -> None:
        self.source = str(source)
        self.record = record
        self.problem = problem
        where = f"{self.source}: {record}" if record else self.source
        super().__init__(f"{where}: {problem}")
