"""Malformed files give one FormatError naming the file, the record and the problem (fuzzed)."""

from __future__ import annotations

import copy
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_sequence
from corrtrack.errors import FormatError
from corrtrack.formats import load_sequence, parse_document, parse_mot, to_document, to_mot_text

#: raise for a longer fuzzing run, e.g. CORRTRACK_FUZZ_EXAMPLES=5000 python -m pytest tests/formats/test_errors.py
EXAMPLES = int(os.environ.get("CORRTRACK_FUZZ_EXAMPLES", "150"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def _mutate(doc, path, value, delete):
    doc = copy.deepcopy(doc)
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


@pytest.mark.parametrize("fmt", ["posetrack18", "posetrack17", "coco"])
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), value=json_values, delete=st.booleans())
def test_readers_only_raise_format_errors(fmt, data, value, delete):
    doc = to_document(make_sequence(num_frames=2, persons=2), fmt)
    paths = list(_paths(doc))
    path = data.draw(st.sampled_from(paths))
    mutated = _mutate(doc, path, value, delete)
    try:
        parse_document(mutated, "fuzz.json", fmt)
    except FormatError as exc:
        assert str(exc).startswith("fuzz.json")


@settings(max_examples=EXAMPLES, deadline=None)
@given(lines=st.lists(st.text(alphabet="0123456789,.-e \tabn", max_size=40), max_size=5))
def test_mot_reader_only_raises_format_errors(lines):
    good = to_mot_text(make_sequence(num_frames=2, persons=2)).splitlines()
    try:
        parse_mot("\n".join(good + lines), "fuzz.txt")
    except FormatError as exc:
        assert str(exc).startswith("fuzz.txt: line")


def test_messages_name_the_record_and_problem(tmp_path):
    doc = to_document(make_sequence(num_frames=2, persons=2), "posetrack18")
    doc["annotations"][3]["keypoints"] = doc["annotations"][3]["keypoints"][:-3]
    bad = tmp_path / "seq.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match=r"seq\.json: annotation 3: 'keypoints' must have 51 values"):
        load_sequence(bad)
    bad.write_text("{not json")
    with pytest.raises(FormatError, match=r"seq\.json: invalid JSON at line 1"):
        load_sequence(bad)
    with pytest.raises(FormatError, match=r"x\.txt: line 2: 'abc' is not a number"):
        parse_mot("1,1,1,1,1,1,1\n1,abc,1,1,1,1,1\n", "x.txt")
    with pytest.raises(FormatError, match="file not found"):
        load_sequence(tmp_path / "missing.json")
