"""The Python examples in docs/usage.md run as written on a fresh clone (no ../shared needed)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "usage.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_usage_has_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_usage_examples_run(code, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)  # a block must not depend on the working directory or write into the clone
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the blocks' temporary folders go here
    exec(compile(code, str(DOC), "exec"), {})
    assert capsys.readouterr().out.strip()
