"""Progress of long steps: one phase line on stderr per step, and rates with two significant digits.

Every step that can take more than about two seconds says so before it starts (:func:`phase`), and a
bar (tqdm) counts its items where it has any. Both show when stderr is a terminal, as tqdm's bars do:
a script or a log that reads stderr gets the commands' one ``error:`` line of a refused input and
nothing else. ``CORRTRACK_PROGRESS=1`` prints the phase lines anyway (a CI log), ``0`` never.
Rates are written by :func:`format_rate`: ``12 frames/s``, ``2.0 s/frame`` (below one frame per
second), never ``0.0 frames/s``. Nothing here is printed on stdout, so the commands' results stay
machine readable, and every line ends before an ``error:`` line can start.
"""

from __future__ import annotations

import math
import os
import sys

__all__ = ["format_rate", "phase", "shows_progress", "two_digits"]


def two_digits(value: float) -> str:
    """``value`` (>= 0) to two significant digits: 12.34 -> ``12``, 2 -> ``2.0``, 1234 -> ``1200``."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    rounded = round(value, 1 - exponent)
    exponent = math.floor(math.log10(abs(rounded)))  # 9.96 -> 10: one digit fewer after the point
    decimals = max(0, 1 - exponent)
    return f"{rounded:.{decimals}f}"


def format_rate(count: float, seconds: float, unit: str = "frame") -> str:
    """``count`` items in ``seconds`` as ``12 frames/s``, or ``2.0 s/frame`` when under one per second.

    ``unit`` is the singular (``frame``, ``step``, ``sequence``); its plural adds an ``s``.
    """
    if count <= 0:
        return f"no {unit}s"
    seconds = max(float(seconds), 1e-9)
    rate = count / seconds
    if rate >= 1:
        return f"{two_digits(rate)} {unit}s/s"
    return f"{two_digits(seconds / count)} s/{unit}"


def shows_progress() -> bool:
    """Whether phase lines are printed: ``CORRTRACK_PROGRESS`` (1 or 0) if set, else whether stderr is a terminal."""
    setting = os.environ.get("CORRTRACK_PROGRESS", "").strip()
    if setting in ("0", "1"):
        return setting == "1"
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def phase(message: str) -> None:
    """Say on stderr, on a line of its own, which step starts now (``message`` names it and its size)."""
    if shows_progress():
        print(f"{message} ...", file=sys.stderr, flush=True)
