"""Rates with two significant digits (seconds per frame below one frame per second) and phase lines on stderr."""

import pytest

from corrtrack.progress import format_rate, phase, two_digits


@pytest.mark.parametrize(
    ("count", "seconds", "text"),
    [
        (4, 1000, "250 s/frame"),  # 0.004 frames/s
        (12.34, 1, "12 frames/s"),
        (1, 2, "2.0 s/frame"),  # 0.5 frames/s
        (40, 2.5, "16 frames/s"),
        (1, 1, "1.0 frames/s"),
        (9.96, 1, "10 frames/s"),  # rounding carries into the next digit
        (1234, 1, "1200 frames/s"),
        (3, 1, "3.0 frames/s"),
        (1, 0.999, "1.0 frames/s"),
        (2, 3, "1.5 s/frame"),
    ],
)
def test_format_rate(count, seconds, text):
    assert format_rate(count, seconds) == text


def test_format_rate_never_zero_and_other_units():
    for seconds in (1e3, 1e5, 1e7):
        assert not format_rate(1, seconds).startswith("0")
    assert format_rate(100, 0).endswith("frames/s")  # an instant step is not a division by zero
    assert format_rate(0, 5) == "no frames"
    assert format_rate(30, 10, unit="step") == "3.0 steps/s"


@pytest.mark.parametrize(("value", "text"), [(0.123, "0.12"), (0.0456, "0.046"), (0, "0"), (99.5, "100"), (5, "5.0")])
def test_two_digits(value, text):
    assert two_digits(value) == text


def test_phase_is_one_line_on_stderr(capsys, monkeypatch):
    monkeypatch.setenv("CORRTRACK_PROGRESS", "1")
    phase("evaluating 40 frames")
    out, err = capsys.readouterr()
    assert out == "" and err == "evaluating 40 frames ...\n"


def test_phase_lines_show_on_a_terminal_only_unless_asked(capsys, monkeypatch):
    import sys

    monkeypatch.delenv("CORRTRACK_PROGRESS", raising=False)
    phase("not a terminal")  # captured stderr: a script reading stderr sees only errors
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    phase("a terminal")
    assert capsys.readouterr().err == "a terminal ...\n"
    monkeypatch.setenv("CORRTRACK_PROGRESS", "0")
    phase("silenced")
    assert capsys.readouterr().err == ""
