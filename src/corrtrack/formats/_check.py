"""Small validators used by the readers: each names the file and the record on failure."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from corrtrack.errors import FormatError


class Checker:
    """Validates values from one file; every error names ``source`` and the record."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, record: str | None, problem: str) -> FormatError:
        return FormatError(self.source, problem, record)

    def mapping(self, value: Any, record: str | None) -> dict:
        if not isinstance(value, dict):
            raise self.fail(record, f"expected an object, got {_kind(value)}")
        return value

    def sequence(self, value: Any, record: str | None, what: str) -> list:
        if not isinstance(value, list):
            raise self.fail(record, f"'{what}' must be a list, got {_kind(value)}")
        return value

    def key(self, obj: dict, key: str, record: str | None) -> Any:
        if key not in obj:
            raise self.fail(record, f"missing required field '{key}'")
        return obj[key]

    def number(self, value: Any, record: str | None, what: str) -> float:
        value = _unwrap(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(record, f"'{what}' must be a finite number, got {_show(value)}")
        return float(value)

    def integer(self, value: Any, record: str | None, what: str) -> int:
        value = _unwrap(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(record, f"'{what}' must be an integer, got {_show(value)}")
        if not -(2**63) <= value < 2**63:
            raise self.fail(record, f"'{what}' is out of the 64-bit integer range: {_show(value)}")
        return value

    def numbers(self, value: Any, record: str | None, what: str, length: int | None = None) -> np.ndarray:
        items = self.sequence(value, record, what)
        if length is not None and len(items) != length:
            raise self.fail(record, f"'{what}' must have {length} values, got {len(items)}")
        if not all(type(v) in (int, float) for v in items):
            bad = next(v for v in items if type(v) not in (int, float))
            raise self.fail(record, f"'{what}' must hold numbers, got {_show(bad)}")
        arr = np.asarray(items, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise self.fail(record, f"'{what}' holds a non-finite value")
        return arr

    def boolean(self, value: Any, record: str | None, what: str) -> bool:
        value = _unwrap(value)
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise self.fail(record, f"'{what}' must be true or false, got {_show(value)}")

    def string(self, value: Any, record: str | None, what: str) -> str:
        value = _unwrap(value)
        if not isinstance(value, str):
            raise self.fail(record, f"'{what}' must be a string, got {_show(value)}")
        return value


def _unwrap(value: Any) -> Any:
    """PoseTrack 2017 files wrap scalars in one-element lists."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__ if value is not None else "null"
    )


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
