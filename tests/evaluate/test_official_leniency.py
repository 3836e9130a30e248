"""Odd prediction files the official evaluator grades: corrtrack gives its numbers, with a one-line warning.

Each test builds a small ground truth and a prediction with one oddity, and the
file the official tool (poseval HEAD 4258a15) effectively grades in its place,
derived from its rules (docs/results.md, "Evaluator" (odd files)).
The odd file must give exactly the numbers of that file, with an InputWarning
naming the file and the oddity; where a naive reading would give other numbers
the test checks that they differ, so each test can fail.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_sequence
from corrtrack.errors import FormatError
from corrtrack.evaluate.api import EvalResult, evaluate_dirs
from corrtrack.evaluate.leniency import InputWarning
from corrtrack.formats import to_document
from corrtrack.poses import PoseSequence

NAME = "000001_mpii_test.json"


def _ground_truth() -> PoseSequence:
    return make_sequence(num_frames=6, persons=3, seed=1)


def _prediction() -> PoseSequence:
    """The ground truth with jitter, distinct scores, a joint beyond the threshold and a far false positive."""
    seq = copy.deepcopy(_ground_truth())
    rng = np.random.default_rng(7)
    for t, f in enumerate(seq.frames):
        p = f.poses
        present = p.present
        p.keypoints[..., :2] += np.where(present[..., None], rng.normal(0, 2.0, p.keypoints[..., :2].shape), 0)
        p.keypoints[0, 7, :2] += 60.0 * (t % 2)  # a wrist far off in every second frame
        p.keypoint_scores[:] = rng.permutation(p.keypoint_scores.size).reshape(p.keypoint_scores.shape) / 1000 + t
        p.head_boxes[:] = np.nan
    return seq


def _docs() -> tuple[dict, dict]:
    gt = json.loads(json.dumps(to_document(_ground_truth(), "posetrack18")))
    pred = json.loads(json.dumps(to_document(_prediction(), "posetrack18")))
    return gt, pred


def _pred17() -> dict:
    return json.loads(json.dumps(to_document(_prediction(), "posetrack17")))


def _run(folder: Path, gt: dict, pred: dict) -> EvalResult:
    (folder / "gt").mkdir(parents=True)
    (folder / "pred").mkdir()
    (folder / "gt" / NAME).write_text(json.dumps(gt))
    (folder / "pred" / NAME).write_text(json.dumps(pred))  # NaN is written as the NaN token Python reads back
    return evaluate_dirs(folder / "gt", folder / "pred")


def _numbers(r: EvalResult) -> dict[str, Any]:
    out = r.to_json()
    out.pop("warnings", None)
    return out


def _official(folder: Path, gt: dict, pred: dict) -> dict[str, Any]:
    """Numbers of a well-formed file (no warning allowed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        return _numbers(_run(folder, gt, pred))


def _odd(folder: Path, gt: dict, pred: dict, match: str) -> dict[str, Any]:
    """Numbers of the odd file; it must warn once per oddity, one line naming the file."""
    with pytest.warns(InputWarning) as record:
        r = _run(folder, gt, pred)
    lines = [str(w.message) for w in record if issubclass(w.category, InputWarning)]
    assert all("\n" not in line and NAME in line for line in lines), lines
    assert any(re.search(match, line) for line in lines), lines
    assert r.warnings == lines  # also kept in the result (and its JSON)
    return _numbers(r)


def _same(a: dict, b: dict) -> None:
    np.testing.assert_equal(a, b)


def _differ(a: dict, b: dict) -> None:
    with pytest.raises(AssertionError):
        np.testing.assert_equal(a, b)


def _frame_anns(doc: dict, f: int) -> list[dict]:
    return [a for a in doc["annotations"] if a["image_id"] == doc["images"][f]["id"]]


def test_track_id_minus_one_is_an_ordinary_id(tmp_path):
    # poseval only asserts track_id < 10000 (-1 passes), adds 10000 x the file's index and compares ids for
    # equality (duplicates in a frame; motmetrics identities). So -1 is one more track: the numbers are those of
    # the file with -1 replaced by any unused id. Here person 2 of frames 0-2 and person 1 of frames 3-5 carry
    # -1: one track that jumps from one person to another (an id switch).
    gt, pred = _docs()
    expected = copy.deepcopy(pred)
    for doc, new in ((pred, -1), (expected, 77)):
        for f in range(6):
            _frame_anns(doc, f)[2 if f < 3 else 1]["track_id"] = new
    odd = _odd(tmp_path / "odd", gt, pred, r"track_id .*-1 -> ")
    _same(odd, _official(tmp_path / "expected", gt, expected))
    _differ(odd, _official(tmp_path / "plain", gt, _docs()[1]))
    assert sum(odd["mot"]["counts"]["id_switches"]) > 0


def test_fractional_track_ids_are_distinct_ids(tmp_path):
    # 1.5 and 1.25 pass the assert, stay floats, and are equal to no other id: two tracks. Person 1 carries 1.5 in
    # frames 0-2 and 1.25 in frames 3-5, so the official tool sees an id switch. Rounding or truncating both to 1
    # (one track, no switch) would give other numbers.
    gt, pred = _docs()
    expected, merged = copy.deepcopy(pred), copy.deepcopy(pred)
    for f in range(6):
        _frame_anns(pred, f)[1]["track_id"] = 1.5 if f < 3 else 1.25
        _frame_anns(expected, f)[1]["track_id"] = 88 if f < 3 else 89
    odd = _odd(tmp_path / "odd", gt, pred, r"not non-negative integers")
    _same(odd, _official(tmp_path / "expected", gt, expected))
    _differ(odd, _official(tmp_path / "merged", gt, merged))


def test_fractional_track_id_of_10000_or_more_fails_as_officially(tmp_path):
    gt, pred = _docs()
    pred["annotations"][0]["track_id"] = 10000.5  # the official assert track_id < 10000 fails
    with pytest.raises(FormatError, match=r"track_id 10000.5 is not below 10000"):
        _run(tmp_path, gt, pred)


def test_duplicate_image_ids_give_each_image_all_annotations_of_the_id(tmp_path):
    # poseval makes one frame per entry of "images" and attaches every annotation whose image_id equals that
    # entry's id. Image 2 given the id of image 1: frames 1 and 2 both hold the persons of frame 1, and the
    # persons of old frame 2 (whose id no image has now) are never read.
    gt, pred = _docs()
    expected = copy.deepcopy(pred)
    pred["images"][2]["id"] = pred["images"][1]["id"]
    old2 = expected["images"][2]["id"]
    copies = [dict(a, image_id=old2) for a in _frame_anns(expected, 1)]
    expected["annotations"] = [a for a in expected["annotations"] if a["image_id"] != old2] + copies
    odd = _odd(tmp_path / "odd", gt, pred, r"image id.*used by several images")
    _same(odd, _official(tmp_path / "expected", gt, expected))
    _differ(odd, _official(tmp_path / "plain", gt, _docs()[1]))


def test_duplicate_image_ids_that_repeat_a_track_id_in_a_frame_fail_as_officially(tmp_path):
    # both sets of persons land in both frames: the same track ids twice in one frame, which poseval refuses
    gt, pred = _docs()
    shared = pred["images"][1]["id"]
    for a in _frame_anns(pred, 2):
        a["image_id"] = shared
    pred["images"][2]["id"] = shared
    with pytest.warns(InputWarning), pytest.raises(FormatError, match="appears twice in one frame"):
        _run(tmp_path, gt, pred)


def test_string_image_ids_match_by_value(tmp_path):
    # image ids are compared with ==: strings work as keys. An annotation whose image_id is the integer 10001
    # while the image's id is the string "10001" matches nothing and is never read.
    gt, pred = _docs()
    expected = copy.deepcopy(pred)
    for img in pred["images"]:
        img["id"] = str(img["id"])
    dropped = None
    for i, a in enumerate(pred["annotations"]):
        if a["image_id"] == 10_001 and dropped is None:
            dropped = i  # stays an integer: no image has it now
        else:
            a["image_id"] = str(a["image_id"])
    assert dropped is not None
    del expected["annotations"][dropped]
    odd = _odd(tmp_path / "odd", gt, pred, r"image ids are not integers")
    _same(odd, _official(tmp_path / "expected", gt, expected))
    _differ(odd, _official(tmp_path / "plain", gt, _docs()[1]))


def _far_person(doc: dict, frame: int, track_id: int, scores: list) -> None:
    """A predicted person far from every ground-truth person: all its joints are false positives."""
    kps = [5000.0 + i for i in range(51)]
    for ear in (3, 4):
        kps[3 * ear : 3 * ear + 3] = [0, 0, 0]
    image_id = doc["images"][frame]["id"]
    doc["annotations"].append({"image_id": image_id, "track_id": track_id, "keypoints": kps, "scores": scores})


@pytest.mark.parametrize("bad", [None, float("nan")], ids=["null", "NaN"])
def test_null_and_nan_scores_rank_above_every_number(tmp_path, bad):
    # poseval stores each score in a float array: null becomes NaN, NaN stays NaN. Its ranking argsort()[::-1]
    # puts NaN first (argsort sorts NaN last). The far false positives of frames 1 and 3 get bad scores on all 15
    # joints, so for every joint type the NaN samples are all misses: their order among each other does not
    # matter, and the numbers are those of the same file with score 100 (above every other score) there. A
    # reader that took them for missing scores (-9999, ranked last) would give a higher AP.
    gt, pred = _docs()
    expected, last = copy.deepcopy(pred), copy.deepcopy(pred)
    for doc, value in ((pred, bad), (expected, 100.0), (last, -9999.0)):
        _far_person(doc, 1, 50, [value] * 17)
        _far_person(doc, 3, 51, [value] * 17)
    odd = _odd(tmp_path / "odd", gt, pred, r"score\(s\) are null, NaN or infinite")
    _same(odd, _official(tmp_path / "expected", gt, expected))
    assert odd["ap"]["ap"][15] < _official(tmp_path / "last", gt, last)["ap"]["ap"][15]


def test_null_scores_list_means_no_scores(tmp_path):
    # "scores": null is falsy, so poseval reads no scores for that person: every joint -9999
    gt, pred = _docs()
    expected = copy.deepcopy(pred)
    pred["annotations"][4]["scores"] = None
    del expected["annotations"][4]["scores"]
    odd = _odd(tmp_path / "odd", gt, pred, r"'scores': null")
    _same(odd, _official(tmp_path / "expected", gt, expected))


def test_18_scores_for_17_joints_use_the_first_17(tmp_path):
    # poseval reads scores[i] for each kept joint i of the category order: an 18th entry is never read. Reading
    # the last 17 instead would rank the joints differently.
    gt, pred = _docs()
    expected, shifted = copy.deepcopy(pred), copy.deepcopy(pred)
    for a, b in zip(pred["annotations"], shifted["annotations"]):
        a["scores"] = a["scores"] + [0.999]
        b["scores"] = a["scores"][1:]
    odd = _odd(tmp_path / "odd", gt, pred, r"more scores than the 17 keypoints")
    _same(odd, _official(tmp_path / "expected", gt, expected))
    _differ(odd, _official(tmp_path / "shifted", gt, shifted))


def test_too_few_scores_fail_as_officially(tmp_path):
    gt, pred = _docs()
    pred["annotations"][0]["scores"] = pred["annotations"][0]["scores"][:16]  # right_ankle's score: IndexError
    with pytest.raises(FormatError, match=r"'scores' must have 17 values, got 16"):
        _run(tmp_path, gt, pred)


def _points(doc: dict, frame: int, person: int) -> list[dict]:
    return doc["annolist"][frame]["annorect"][person]["annopoints"][0]["point"]


def test_2017_points_with_ids_15_and_16_are_ignored(tmp_path):
    # poseval looks points up by id 0..14 only (getPointGTbyID): a point with id 15 or 16 is never found
    gt, _ = _docs()
    pred, expected = _pred17(), _pred17()
    for f in range(6):
        for p in range(3):
            _points(pred, f, p).append({"id": [15], "x": [100.0], "y": [100.0], "score": [0.5]})
            _points(pred, f, p).insert(0, {"id": [16], "x": [7.0], "y": [9.0], "score": [0.9]})
    odd = _odd(tmp_path / "odd", gt, pred, r"joint id outside 0..14 \(e.g. 16\)")
    _same(odd, _official(tmp_path / "expected", gt, expected))


@pytest.mark.parametrize("before", [False, True], ids=["after", "before"])
def test_2017_repeated_point_id_the_first_one_wins(tmp_path, before):
    # getPointGTbyID returns the first point of the list with the id (it breaks at the first match). A far-off
    # duplicate of joint 3 (left hip) after the real point changes nothing; before it, it replaces the real one.
    gt, _ = _docs()
    pred, expected, other = _pred17(), _pred17(), _pred17()
    for f in range(6):
        for p in range(3):
            points = _points(pred, f, p)
            real = next(q for q in points if q["id"] == [3])
            far = dict(real, x=[real["x"][0] + 80.0])
            points.insert(points.index(real) + (0 if before else 1), far)
            first, second = (far, real) if before else (real, far)
            exp = _points(expected, f, p)
            exp[exp.index(real)] = first
            oth = _points(other, f, p)
            oth[oth.index(real)] = second
    odd = _odd(tmp_path / "odd", gt, pred, r"repeat a joint id of their person \(e.g. 3\)")
    _same(odd, _official(tmp_path / "expected", gt, expected))
    _differ(odd, _official(tmp_path / "other", gt, other))  # what "the last one wins" would give


def test_2017_points_at_zero_with_is_visible_zero_are_joints_at_the_origin(tmp_path):
    # poseval grades a 2017 file as it is: every listed point with an id 0..14 is a predicted joint, whatever its
    # coordinates and is_visible. A person whose 15 points are all x=0, y=0, is_visible=0 is a person with 15
    # joints at (0, 0): false positives in AP and MOT. In frame 2 it is the only prediction, so it also turns
    # off the empty-frame dummy (quirk B). The same file with the points written without is_visible (present to
    # every reader) is what the official tool grades; leaving the joints out would give other numbers.
    gt, _ = _docs()
    pred, expected, absent = _pred17(), _pred17(), _pred17()
    for doc, point in (
        (pred, lambda j: {"id": [j], "x": [0], "y": [0], "is_visible": [0], "score": [0.3]}),
        (expected, lambda j: {"id": [j], "x": [0], "y": [0], "score": [0.3]}),
        (absent, None),
    ):
        doc["annolist"][2]["annorect"] = []
        for f in (2, 4):
            points = [point(j) for j in range(15)] if point else []
            doc["annolist"][f]["annorect"].append({"track_id": [60], "annopoints": [{"point": points}]})
    odd = _odd(tmp_path / "odd", gt, pred, r"x=0, y=0, is_visible=0")
    _same(odd, _official(tmp_path / "expected", gt, expected))
    _differ(odd, _official(tmp_path / "absent", gt, absent))


def test_2017_null_score_ranks_as_nan(tmp_path):
    # a 2017 point with "score": [null]: poseval assigns None into its float array, i.e. NaN, ranked first
    gt, _ = _docs()
    pred, expected = _pred17(), _pred17()
    for doc, value in ((pred, None), (expected, 100.0)):
        for f in (1, 3):
            points = [{"id": [j], "x": [5000.0 + j], "y": [5000.0], "score": [value]} for j in range(15)]
            doc["annolist"][f]["annorect"].append({"track_id": [70 + f], "annopoints": [{"point": points}]})
    odd = _odd(tmp_path / "odd", gt, pred, r"null, NaN or infinite")
    _same(odd, _official(tmp_path / "expected", gt, expected))


def test_odd_files_warn_through_worker_processes_too(tmp_path, monkeypatch):
    # with workers the files are read in worker processes: the warnings still reach the caller, in file order
    import corrtrack.evaluate.api as api

    monkeypatch.setattr(api, "_PARALLEL_MIN_BYTES", 0)
    gt, pred = _docs()
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    for k in range(2):
        name = f"00000{k + 1}_mpii_test.json"
        p = copy.deepcopy(pred)
        p["annotations"][0]["track_id"] = -1 - k
        (tmp_path / "gt" / name).write_text(json.dumps(gt))
        (tmp_path / "pred" / name).write_text(json.dumps(p))
    with pytest.warns(InputWarning) as record:
        r = evaluate_dirs(tmp_path / "gt", tmp_path / "pred", workers=2, order="sorted")
    lines = [str(w.message) for w in record if issubclass(w.category, InputWarning)]
    assert len(lines) == 2 and "000001" in lines[0] and "000002" in lines[1]
    assert r.warnings == lines


def test_scores_as_strings_or_booleans_are_converted(tmp_path):
    # poseval assigns each score into a float numpy array, which parses "0.25" and takes True as 1.0
    gt, pred = _docs()
    expected = copy.deepcopy(pred)
    pred["annotations"][0]["scores"] = [str(v) for v in pred["annotations"][0]["scores"]]
    pred["annotations"][1]["scores"][5] = True
    expected["annotations"][1]["scores"][5] = 1.0
    odd = _odd(tmp_path / "odd", gt, pred, r"strings or booleans \(e.g. '")
    _same(odd, _official(tmp_path / "expected", gt, expected))


def test_unreadable_score_fails_as_officially(tmp_path):
    gt, pred = _docs()
    pred["annotations"][0]["scores"][0] = "high"  # numpy cannot convert it: the official tool crashes
    with pytest.raises(FormatError, match="'scores' must hold numbers"):
        _run(tmp_path, gt, pred)


def test_boolean_track_id_is_the_integer_it_equals(tmp_path):
    # True < 10000 passes the assert and True == 1 for numpy's duplicate check and motmetrics' dictionaries
    gt, pred = _docs()
    expected = copy.deepcopy(pred)
    for f in range(6):
        _frame_anns(pred, f)[1]["track_id"] = True  # person 1 has track id 1
        _frame_anns(pred, f)[2]["track_id"] = -3
        _frame_anns(expected, f)[2]["track_id"] = 40
    odd = _odd(tmp_path / "odd", gt, pred, r"True -> 1")
    _same(odd, _official(tmp_path / "expected", gt, expected))


def test_warnings_as_lines_for_the_command_line(tmp_path):
    from corrtrack.evaluate.leniency import warnings_as_lines

    gt, pred = _docs()
    pred["annotations"][0]["track_id"] = -1
    lines: list[str] = []
    with warnings_as_lines(lines.append):
        _run(tmp_path, gt, pred)
    assert len(lines) == 1 and lines[0].startswith("warning: ") and NAME in lines[0] and "\n" not in lines[0]


def test_scores_missing_only_for_dropped_joints_at_the_end(tmp_path):
    # with the ears last in the category order, poseval reads scores[0..14] only: 15 scores for 17 keypoints work
    gt, pred = _docs()
    names = pred["categories"][0]["keypoints"]
    order = [i for i, n in enumerate(names) if "ear" not in n] + [names.index("left_ear"), names.index("right_ear")]
    pred["categories"][0]["keypoints"] = [names[i] for i in order]
    for a in pred["annotations"]:
        a["keypoints"] = [v for i in order for v in a["keypoints"][3 * i : 3 * i + 3]]
        a["scores"] = [a["scores"][i] for i in order]
    expected = copy.deepcopy(pred)
    for a in pred["annotations"]:
        a["scores"] = a["scores"][:15]
    odd = _odd(tmp_path / "odd", gt, pred, r"fewer scores than the 17 keypoints")
    _same(odd, _official(tmp_path / "expected", gt, expected))
    _same(odd, _official(tmp_path / "standard", gt, _docs()[1]))  # the reordering itself changes nothing


def _square(doc: dict, frame: int, x: float, y: float, half: float) -> None:
    """An ignore region of the ground truth: a square around (x, y)."""
    doc["images"][frame]["ignore_regions_x"] = [[x - half, x + half, x + half, x - half]]
    doc["images"][frame]["ignore_regions_y"] = [[y - half, y - half, y + half, y + half]]


def test_2017_repeated_point_id_where_the_first_lies_in_an_ignore_region(tmp_path):
    # poseval first deletes the points inside ignore regions, then looks joints up by id: when the first point
    # with id 3 lies in a region, the next point with id 3 (outside) is the joint. The expected file has that
    # point in place of the first; taking the first one before the regions (the joint then vanishes) would give
    # other numbers.
    gt, _ = _docs()
    pred, expected, naive = _pred17(), _pred17(), _pred17()
    points = _points(pred, 1, 0)
    real = next(q for q in points if q["id"] == [3])
    _square(gt, 1, real["x"][0], real["y"][0], 3.0)
    far = dict(real, x=[real["x"][0] + 80.0], score=[0.77])
    points.insert(points.index(real) + 1, far)
    exp = _points(expected, 1, 0)
    exp[exp.index(real)] = far
    nai = _points(naive, 1, 0)
    nai.remove(real)
    odd = _odd(tmp_path / "odd", gt, pred, r"repeat a joint id")
    _same(odd, _official(tmp_path / "expected", gt, expected))
    _differ(odd, _official(tmp_path / "naive", gt, naive))


def test_2017_point_with_id_15_keeps_its_person_through_ignore_regions(tmp_path):
    # after ignore-region removal poseval drops persons left with no point at all, counting points of any id. A
    # person whose only joint lies in a region but who also lists a point with id 15 outside stays, with no
    # joint: as the only prediction of frame 1 it turns off the empty-frame dummy (quirk B). The region holds no
    # ground-truth joint, so the expected numbers are those of the file without the region and with that person
    # listing no point (kept: it has a point list). Dropping the person gives the dummy counting instead.
    plain_gt, _ = _docs()
    gt = copy.deepcopy(plain_gt)
    _square(gt, 1, 10.0, 10.0, 10.0)
    pred, expected, dropped = _pred17(), _pred17(), _pred17()
    inside = {"id": [0], "x": [10.0], "y": [10.0], "score": [0.5]}
    outside = {"id": [15], "x": [300.0], "y": [300.0], "score": [0.5]}
    for doc, points in ((pred, [inside, outside]), (expected, []), (dropped, None)):
        people = [{"track_id": [60], "annopoints": [{"point": points}]}] if points is not None else []
        doc["annolist"][1]["annorect"] = people
    odd = _odd(tmp_path / "odd", gt, pred, r"outside 0..14 \(e.g. 15\)")
    _same(odd, _official(tmp_path / "expected", plain_gt, expected))
    _differ(odd, _official(tmp_path / "dropped", gt, dropped))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=4,
)
_PATHS_2018 = [
    ("images", 1, "id"),
    ("annotations", 2, "image_id"),
    ("annotations", 2, "track_id"),
    ("annotations", 2, "scores"),
    ("annotations", 2, "scores", 5),
    ("annotations", 2, "keypoints", 0),
    ("categories", 0, "keypoints", 3),
]
_PATHS_2017 = [
    ("annolist", 1, "annorect", 0, "track_id"),
    ("annolist", 1, "annorect", 0, "annopoints", 0, "point", 2, "id"),
    ("annolist", 1, "annorect", 0, "annopoints", 0, "point", 2, "id", 0),
    ("annolist", 1, "annorect", 0, "annopoints", 0, "point", 2, "x", 0),
    ("annolist", 1, "annorect", 0, "annopoints", 0, "point", 2, "score", 0),
    ("annolist", 1, "annorect", 0, "annopoints", 0, "point", 2, "is_visible", 0),
]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_odd_value_gives_numbers_or_one_clear_error(tmp_path_factory, data):
    # whatever value a field holds, the evaluation gives numbers or a FormatError (never another exception)
    gt, pred = _docs()
    year = data.draw(st.sampled_from([2018, 2017]))
    doc = pred if year == 2018 else _pred17()
    path = data.draw(st.sampled_from(_PATHS_2018 if year == 2018 else _PATHS_2017))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(_JSON)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        try:
            _run(tmp_path_factory.mktemp("fuzz"), gt, doc)
        except FormatError as exc:
            assert "\n" not in str(exc)


def test_shared_case_with_odd_but_equivalent_predictions_equals_the_official_output(poseval_case, tmp_path):
    # the official tool's output on the shared case stays what it is when the predictions become odd in ways
    # its rules make irrelevant: every track id t becomes -1 - t (negative ids are ordinary ids, one to one),
    # image ids become strings (matched by value), every person gets an 18th score (never read) and a null
    # score on the left ear (a joint the evaluation drops, never read)
    preds = {p.name: json.loads(p.read_text()) for p in sorted((poseval_case / "pred").glob("*.json"))}
    for doc in preds.values():
        for img in doc["images"]:
            img["id"] = f"frame-{img['id']}"
        for a in doc["annotations"]:
            a["track_id"] = -1 - a["track_id"]
            a["image_id"] = f"frame-{a['image_id']}"
            if a.get("scores"):
                a["scores"] = a["scores"] + [0.5]
                a["scores"][3] = None  # left_ear: never read by the official tool
    (tmp_path / "pred").mkdir()
    for name, doc in preds.items():
        (tmp_path / "pred" / name).write_text(json.dumps(doc))
    with pytest.warns(InputWarning):
        r = evaluate_dirs(poseval_case / "gt", tmp_path / "pred")
    expected = json.loads((poseval_case / "expected_json" / "total_AP_metrics.json").read_text())
    np.testing.assert_allclose(r.ap.ap, expected["ap"], rtol=0, atol=1e-9)
    expected = json.loads((poseval_case / "expected_json" / "total_MOT_metrics.json").read_text())
    m = r.mot.metrics("motmetrics")
    for key in ("mota", "motp", "pre", "rec"):
        np.testing.assert_allclose(m[key], expected[key], rtol=0, atol=1e-9)
