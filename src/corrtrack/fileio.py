"""Atomic file output and JSON input with clear errors."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from corrtrack.errors import FormatError, OutputError

__all__ = ["atomic_path", "atomic_write_text", "read_json", "write_json"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    The file gets the user's normal permissions (``0o666`` less the umask), not the
    private mode of a temporary file. The temporary name is short enough for any legal
    output name.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(path, "it is an existing folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:64]}.", suffix=(suffix or path.suffix)[:16])
    except (FileExistsError, NotADirectoryError):
        raise OutputError(path, "a part of its folder is a file") from None
    except OSError as exc:
        raise OutputError(path, exc.strerror or str(exc), environment=True) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~_umask())
        try:
            os.replace(tmp_path, path)
        except OSError as exc:
            raise OutputError(path, exc.strerror or str(exc), environment=True) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_json(path: str | Path, data: Any, indent: int | None = None) -> None:
    """Write JSON atomically (numpy scalars and arrays allowed).

    NaN and infinity are not JSON: a writer that has them must turn them into ``null``
    first; here they raise :class:`OutputError` rather than write an invalid file.
    """
    try:
        text = json.dumps(data, default=_json_default, indent=indent, allow_nan=False)
    except ValueError as exc:
        raise OutputError(path, f"the data holds a value JSON cannot express ({exc})") from None
    atomic_write_text(path, text)


def read_json(path: str | Path) -> Any:
    """Load JSON; a missing file or bad JSON raises :class:`FormatError` naming the file and position."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FormatError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(path, f"cannot read: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
