"""orjson, where installed, reads plain files; every other file is read by the standard library as before."""

from __future__ import annotations

import json
import sys
import types

import pytest
from test_fastread_equivalence import assert_same_sequence

from conftest import make_sequence
from corrtrack.evaluate import fastread
from corrtrack.evaluate.fastread import read_for_evaluation
from corrtrack.formats import save_sequence


def _stand_in(calls: list[str], ints_as_floats: bool = False) -> types.ModuleType:
    """An ``orjson`` module: the standard parser, optionally with orjson's one difference made everywhere."""
    module = types.ModuleType("orjson")

    class JSONDecodeError(ValueError):
        pass

    def loads(data: bytes):
        calls.append("orjson")
        try:
            return json.loads(data, parse_int=float if ints_as_floats else int)
        except ValueError as exc:
            raise JSONDecodeError(str(exc)) from None

    module.loads = loads  # type: ignore[attr-defined]
    module.JSONDecodeError = JSONDecodeError  # type: ignore[attr-defined]
    return module


@pytest.fixture
def plain_file(tmp_path):
    path = tmp_path / "000001_mpii_test.json"
    save_sequence(make_sequence(num_frames=4, persons=2, seed=3), path, "posetrack18")
    return path


def _read_without_orjson(path, monkeypatch):
    monkeypatch.setitem(sys.modules, "orjson", None)  # import fails
    return read_for_evaluation(path)


def test_a_plain_file_is_taken_from_the_fast_parser(plain_file, monkeypatch):
    expected = _read_without_orjson(plain_file, monkeypatch)
    calls: list[str] = []
    monkeypatch.setitem(sys.modules, "orjson", _stand_in(calls))
    got = read_for_evaluation(plain_file)
    assert calls == ["orjson"] and got[1] == expected[1]
    assert_same_sequence(got[0], expected[0])


def test_a_document_the_fast_parser_changes_is_read_again_by_the_standard_library(plain_file, monkeypatch):
    # integers beyond 64 bits become floats in orjson: ids are then no integers, the document is not plain
    expected = _read_without_orjson(plain_file, monkeypatch)
    calls: list[str] = []
    monkeypatch.setitem(sys.modules, "orjson", _stand_in(calls, ints_as_floats=True))
    read = []
    real = fastread.plain_posetrack18
    monkeypatch.setattr(fastread, "plain_posetrack18", lambda data, source: read.append(data) or real(data, source))
    got = read_for_evaluation(plain_file)
    assert calls == ["orjson"] and read[0] is not None and read[1] is not None
    assert_same_sequence(got[0], expected[0])


@pytest.mark.parametrize("text", ['{"images": [], "annotations": [NaN]}', "{", '{"a": 1e400}'])
def test_files_the_fast_parser_refuses_give_the_standard_library_s_answer(text, tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    path.write_text(text)
    outcomes = []
    for module in (None, _stand_in([])):
        monkeypatch.setitem(sys.modules, "orjson", module)
        try:
            outcomes.append(("ok", type(read_for_evaluation(path)[0]).__name__))
        except Exception as exc:  # the error must be the same one, word for word
            outcomes.append((type(exc).__name__, str(exc)))
    assert outcomes[0] == outcomes[1]


def test_the_real_orjson_reads_a_plain_file_the_same(plain_file, monkeypatch):
    orjson = pytest.importorskip("orjson")
    expected = _read_without_orjson(plain_file, monkeypatch)
    monkeypatch.setitem(sys.modules, "orjson", orjson)
    assert_same_sequence(read_for_evaluation(plain_file)[0], expected[0])
