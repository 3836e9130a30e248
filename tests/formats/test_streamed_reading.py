"""Reading a long sequence file frame by frame (``iter_frames``) or without its people (``frames_only``):
the same frames and the same errors as ``load_sequence``, in a fraction of its memory (#21)."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from conftest import make_sequence
from corrtrack.errors import FormatError
from corrtrack.formats import frames_only, iter_frames, load_sequence, save_sequence, to_document
from corrtrack.poses import PoseSequence


def _document(frames, like: PoseSequence, fmt: str) -> str:
    return json.dumps(to_document(PoseSequence(like.name, list(frames), like.layout, dict(like.extras)), fmt))


@pytest.mark.parametrize("fmt", ["posetrack18", "coco", "coco-results", "posetrack17", "mot"])
def test_iter_frames_equals_load_sequence(fmt, tmp_path):
    path = tmp_path / ("seq.txt" if fmt == "mot" else "seq.json")
    save_sequence(make_sequence(num_frames=5, persons=3), path, fmt)
    whole = load_sequence(path)
    out_fmt = "posetrack18" if fmt == "mot" else fmt
    assert _document(iter_frames(path), whole, out_fmt) == _document(whole.frames, whole, out_fmt)


def test_frames_only_has_the_frames_without_people(tmp_path):
    path = tmp_path / "seq.json"
    save_sequence(make_sequence(num_frames=4, persons=2), path, "posetrack18")
    whole, light = load_sequence(path), frames_only(path)
    assert [f.file_name for f in light.frames] == [f.file_name for f in whole.frames]
    assert [f.image_id for f in light.frames] == [f.image_id for f in whole.frames]
    assert [f.is_labeled for f in light.frames] == [f.is_labeled for f in whole.frames]
    assert all(len(f.poses) == 0 for f in light.frames) and all(len(f.poses) == 2 for f in whole.frames)
    assert light.layout == whole.layout


@pytest.mark.parametrize(
    "corrupt, needle",
    [
        (lambda d: d["annotations"][3]["keypoints"].__setitem__(4, True), "annotation 3"),
        (lambda d: d["annotations"][5].__setitem__("keypoints", "x"), "annotation 5"),
        (lambda d: d["annotations"][2].__setitem__("image_id", 99), "image_id 99"),
        (lambda d: d["images"][1].__setitem__("id", d["images"][0]["id"]), "duplicate image id"),
        (lambda d: d["annotations"][0].__setitem__("bbox", [1, 2, 3]), "annotation 0"),
    ],
)
def test_bad_records_give_the_whole_file_reader_s_error(corrupt, needle, tmp_path):
    path = tmp_path / "seq.json"
    save_sequence(make_sequence(num_frames=4, persons=2), path, "posetrack18")
    doc = json.loads(path.read_text())
    corrupt(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError) as whole:
        load_sequence(path)
    with pytest.raises(FormatError) as streamed:
        list(iter_frames(path))
    assert needle in str(whole.value)
    assert str(streamed.value).startswith(str(path)) and needle in str(streamed.value)


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streamed_reading_needs_a_fraction_of_the_memory(tmp_path):
    path = tmp_path / "long.json"
    save_sequence(make_sequence(num_frames=600, persons=3), path, "posetrack18")
    text = len(path.read_bytes())  # each reader holds the file's text while it parses it
    whole = _peak_bytes(lambda: load_sequence(path)) - text
    streamed = _peak_bytes(lambda: sum(len(f.poses) for f in iter_frames(path))) - text
    light = _peak_bytes(lambda: frames_only(path)) - text
    assert streamed < 0.6 * whole, (streamed, whole)
    assert light < 0.5 * whole, (light, whole)
