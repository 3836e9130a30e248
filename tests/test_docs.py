"""The Python examples in docs/usage.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import shared_path

DOC = Path(__file__).resolve().parents[1] / "docs" / "usage.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_usage_examples_run(code, monkeypatch, capsys):
    shared_path("cases", "poseval_case")
    monkeypatch.chdir(DOC.parents[1])
    exec(compile(code, str(DOC), "exec"), {})
    assert capsys.readouterr().out.strip()
