"""Atomic file output and JSON input with clear errors."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from corrtrack.errors import FormatError, OutputError

__all__ = [
    "atomic_path",
    "atomic_write_text",
    "atomic_write_texts",
    "json_text",
    "nan_to_null",
    "read_json",
    "remove_stale_temporaries",
    "temporary_prefix",
    "write_json",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_TMP_TAG = ".corrtrack-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(path: Path) -> None:
    """Remove temporary siblings of ``path`` left by a corrtrack process that no longer runs (SIGKILL)."""
    try:
        siblings = list(path.parent.glob(f".{glob_escape(path.name[:64])}{_TMP_TAG}*"))
    except OSError:
        return
    for tmp in siblings:
        pid_text = tmp.name.rsplit(_TMP_TAG, 1)[-1].split("-", 1)[0]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            try:
                if tmp.is_dir():
                    import shutil

                    shutil.rmtree(tmp, ignore_errors=True)
                else:
                    tmp.unlink()
            except OSError:
                pass


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in text)


def temporary_prefix(path: Path) -> str:
    """The name prefix of this process's temporary siblings of ``path``: ``.<name>.corrtrack-<pid>-``."""
    return f".{path.name[:64]}{_TMP_TAG}{os.getpid()}-"


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
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path), suffix=(suffix or path.suffix)[:16])
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


def json_text(path: str | Path, data: Any, indent: int | None = None, allow_nan: bool = False) -> str:
    """The JSON text of ``data`` (numpy scalars and arrays allowed); ``path`` only names the file in errors.

    NaN and infinity are not JSON: by default they raise :class:`OutputError` (a writer that has
    them turns them into ``null`` first, :func:`nan_to_null`); ``allow_nan=True`` writes them as
    Python's ``json`` module does (``NaN``, ``Infinity``), for files that must match a tool that writes them.
    """
    try:
        return json.dumps(data, default=_json_default, indent=indent, allow_nan=allow_nan)
    except ValueError as exc:
        raise OutputError(path, f"the data holds a value JSON cannot express ({exc})") from None


def nan_to_null(data: Any) -> Any:
    """``data`` with every NaN or infinite float (also in numpy arrays) replaced by ``None``."""
    if isinstance(data, dict):
        return {k: nan_to_null(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [nan_to_null(v) for v in data]
    if isinstance(data, np.ndarray):
        return nan_to_null(data.tolist())
    if isinstance(data, (float, np.floating)):
        return float(data) if np.isfinite(data) else None
    return data


def write_json(path: str | Path, data: Any, indent: int | None = None, allow_nan: bool = False) -> None:
    """Write JSON atomically (see :func:`json_text` for NaN and infinity)."""
    atomic_write_text(path, json_text(path, data, indent, allow_nan))


def atomic_write_texts(files: dict[Path, str]) -> None:
    """Write several text files all or none: each goes to a temporary sibling first, then all are moved into place.

    A failure while writing the temporaries leaves none of the files; only a failure of the final
    renames (a file system fault) can leave some.
    """
    with ExitStack() as stack:
        for path, text in files.items():
            stack.enter_context(atomic_path(path)).write_text(text, encoding="utf-8")
        # leaving the stack moves each temporary into place (in reverse order)


def read_json(path: str | Path, object_hook: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    """Load JSON; a missing file or bad JSON raises :class:`FormatError` naming the file and position.

    ``object_hook`` (as :func:`json.loads`'s) sees every object as it is parsed, e.g. to keep a compact
    form of large documents (memory, #21)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FormatError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(path, f"cannot read: {exc}") from None
    try:
        return json.loads(text, object_hook=object_hook)
    except json.JSONDecodeError as exc:
        raise FormatError(path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise FormatError(path, "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer with thousands of digits
        raise FormatError(path, f"invalid JSON: {str(exc).splitlines()[0]}") from None
