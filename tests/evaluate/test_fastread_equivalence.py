"""The evaluation's batched reader gives what the general reader gives, and hands every other file to it."""

from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import pytest

from conftest import make_sequence
from corrtrack.errors import FormatError
from corrtrack.evaluate.fastread import plain_posetrack18, read_for_evaluation
from corrtrack.evaluate.leniency import InputWarning, official_view
from corrtrack.formats import parse_document, save_sequence, to_document

FRAME_FIELDS = ("file_name", "image_id", "is_labeled", "ignore_regions")
POSE_FIELDS = ("keypoints", "keypoint_scores", "boxes", "head_boxes", "scores", "track_ids", "ids", "has_keypoints")


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype.kind == b.dtype.kind and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b and type(a) is type(b)


def assert_same_sequence(fast, general) -> None:
    assert fast.name == general.name and fast.layout is general.layout and len(fast) == len(general)
    for ff, fg in zip(fast.frames, general.frames):
        for name in FRAME_FIELDS:
            assert _same(getattr(ff, name), getattr(fg, name)), name
        for name in POSE_FIELDS:
            assert _same(getattr(ff.poses, name), getattr(fg.poses, name)), name


def plain_document(with_scores: bool = True) -> dict:
    seq = make_sequence(num_frames=5, persons=3, seed=4)
    rng = np.random.default_rng(0)
    for t, f in enumerate(seq.frames):
        if with_scores:
            f.poses.keypoint_scores[:] = np.round(rng.random(f.poses.keypoint_scores.shape), 3)
        f.ignore_regions = [np.array([[1.5, 2.0], [30.0, 2.0], [30.0, 40.25]])] * (t % 3)
        f.poses.keypoints[0, 6] = 0  # an absent joint
    seq.frames[2].poses.keypoints[:, :, :2] += 0.123  # non-integer coordinates
    seq.frames[3].is_labeled = None
    seq.frames[4].poses = seq.frames[4].poses[[0]]
    doc = json.loads(json.dumps(to_document(seq, "posetrack18")))
    doc["annotations"].reverse()  # persons of a frame need not be adjacent or in frame order
    doc["images"][1]["ignore_regions_x"], doc["images"][1]["ignore_regions_y"] = [[]], [[]]
    return doc


@pytest.mark.parametrize("with_scores", [True, False])
@pytest.mark.parametrize("extra_keys", [False, True])
def test_plain_files_read_the_same(with_scores, extra_keys):
    doc = plain_document(with_scores)
    if extra_keys:  # keys the general reader keeps as extras (SynthTrack writes both): the evaluation ignores them
        for a in doc["annotations"]:
            a.update(area=12.5, category_id=1)
    fast = plain_posetrack18(copy.deepcopy(doc), "x/000001_mpii_test.json")
    assert fast is not None
    assert_same_sequence(fast, parse_document(doc, "x/000001_mpii_test.json"))


def _mutations():
    def ann(doc, key, value):
        doc["annotations"][0][key] = value

    def img(doc, key, value):
        doc["images"][0][key] = value

    yield "float track id", lambda d: ann(d, "track_id", 1.0)
    yield "negative track id", lambda d: ann(d, "track_id", -1)
    yield "no track id", lambda d: d["annotations"][0].pop("track_id")
    yield "string image id", lambda d: (img(d, "id", "a"), ann(d, "image_id", "a"))
    yield "duplicate image id", lambda d: img(d, "id", d["images"][1]["id"])
    yield "unknown image id", lambda d: ann(d, "image_id", 123456789)
    yield "boolean keypoint", lambda d: d["annotations"][0]["keypoints"].__setitem__(2, True)
    yield "null keypoint", lambda d: d["annotations"][0]["keypoints"].__setitem__(0, None)
    yield "nan keypoint", lambda d: d["annotations"][0]["keypoints"].__setitem__(0, float("nan"))
    yield "short keypoints", lambda d: d["annotations"][0]["keypoints"].pop()
    yield "empty scores", lambda d: ann(d, "scores", [])
    yield "18 scores", lambda d: ann(d, "scores", [0.5] * 18)
    yield "null score", lambda d: d["annotations"][0].setdefault("scores", [0.5] * 17).__setitem__(3, None)
    yield "wrapped track id", lambda d: ann(d, "track_id", [3])
    yield "marker key of the general reader", lambda d: ann(d, "corrtrack_nonfinite_scores", {})
    yield "is_labeled as 1", lambda d: img(d, "is_labeled", 1)
    yield "one ignore key", lambda d: d["images"][0].pop("ignore_regions_y", None) or img(d, "ignore_regions_x", [])
    yield (
        "ragged ignore region",
        lambda d: (img(d, "ignore_regions_x", [[1, 2, 3]]), img(d, "ignore_regions_y", [[1, 2]])),
    )
    yield "ear-less categories", lambda d: d["categories"][0]["keypoints"].__setitem__(3, "left_eye")
    yield "two categories", lambda d: d["categories"].append(dict(d["categories"][0]))
    yield "2017 document", lambda d: d.update(annolist=[])


@pytest.mark.parametrize(("what", "mutate"), list(_mutations()), ids=[m[0] for m in _mutations()])
def test_anything_else_goes_to_the_general_reader(what, mutate, tmp_path):
    doc = plain_document()
    mutate(doc)
    assert plain_posetrack18(copy.deepcopy(doc), "x.json") is None, what
    path = tmp_path / "000001_mpii_test.json"
    path.write_text(json.dumps(doc))
    warnings.simplefilter("ignore", InputWarning)  # what the warnings say: test_official_leniency.py
    try:
        # the general reader on what the official tool makes of the file (odd inputs it grades)
        view = official_view(copy.deepcopy(doc), str(path))[0]
        general = parse_document(copy.deepcopy(view), str(path))
    except FormatError as exc:
        with pytest.raises(FormatError) as got:
            read_for_evaluation(path)
        assert str(got.value) == str(exc)
        return
    assert_same_sequence(read_for_evaluation(path)[0], general)
    fast = plain_posetrack18(view, str(path))  # the batched reader, where the official view is plain
    if fast is not None:
        assert_same_sequence(fast, general)


def test_real_posetrack_files_read_the_same():
    from conftest import shared_path

    folders = [shared_path("data", "posetrack18-samples", "annotations", "val"), shared_path("cases", "poseval_case")]
    taken = 0
    for folder in folders:
        for path in sorted(folder.rglob("*.json")):
            doc = json.loads(path.read_text())
            if not isinstance(doc, dict) or "images" not in doc:
                continue
            fast = plain_posetrack18(copy.deepcopy(doc), str(path))
            if fast is not None:
                taken += 1
                assert_same_sequence(fast, parse_document(doc, str(path)))
    assert taken >= 3


def test_read_for_evaluation_reports_the_format(tmp_path):
    seq = make_sequence(num_frames=2, persons=1)
    save_sequence(seq, tmp_path / "a.json", "posetrack18")
    save_sequence(seq, tmp_path / "b.json", "posetrack17")
    assert read_for_evaluation(tmp_path / "a.json")[1] == "posetrack18"
    assert read_for_evaluation(tmp_path / "b.json")[1] == "posetrack17"
