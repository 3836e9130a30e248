"""Each quirk of the official evaluator (evaluation.md section 8) reproduced, each with its own test."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import make_sequence
from corrtrack.errors import FormatError
from corrtrack.evaluate import evaluate, evaluate_dirs
from corrtrack.evaluate.api import JOINT_NAMES
from corrtrack.evaluate.posetrack import assign_persons
from corrtrack.formats import parse_document


def _docs(case: Path, kind: str) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((case / kind).glob("*.json"))}


def _write(folder: Path, docs: dict[str, dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        (folder / name).write_text(json.dumps(doc))
    return folder


def _run(tmp_path, case, gt_docs=None, pred_docs=None, **kw):
    gt = _write(tmp_path / "gt", gt_docs or _docs(case, "gt"))
    pred = _write(tmp_path / "pred", pred_docs or _docs(case, "pred"))
    return evaluate_dirs(gt, pred, **kw)


def _frame_annotations(doc, frame_index):
    image_id = doc["images"][frame_index]["id"]
    return [a for a in doc["annotations"] if a["image_id"] == image_id]


def test_frames_are_paired_by_position(poseval_case, tmp_path):
    preds = _docs(poseval_case, "pred")
    for doc in preds.values():
        doc["images"] = doc["images"][::-1]
    r = _run(tmp_path, poseval_case, pred_docs=preds)
    assert round(r.ap.ap[-1]) == 34  # the documented 86 -> 34


def test_frames_without_gt_persons_are_dropped_with_their_predictions(poseval_case, tmp_path):
    base = _run(tmp_path / "a", poseval_case)
    gts, preds = _docs(poseval_case, "gt"), _docs(poseval_case, "pred")
    name = "000002_bonn_test.json"
    empty = next(i for i in range(len(gts[name]["images"])) if not _frame_annotations(gts[name], i))
    extra = copy.deepcopy(next(a for a in preds[name]["annotations"]))
    extra.update(image_id=preds[name]["images"][empty]["id"], track_id=77, id=999)
    preds[name]["annotations"].append(extra)
    for doc in gts.values():  # is_labeled is never consulted
        for img in doc["images"]:
            img["is_labeled"] = False
    r = _run(tmp_path / "b", poseval_case, gt_docs=gts, pred_docs=preds)
    np.testing.assert_array_equal(r.ap.ap, base.ap.ap)
    np.testing.assert_array_equal(r.mot_metrics["mota"], base.mot_metrics["mota"])


def test_last_kept_frame_is_not_fed_to_mot(poseval_case, tmp_path):
    base = _run(tmp_path / "a", poseval_case)
    gts, preds = _docs(poseval_case, "gt"), _docs(poseval_case, "pred")
    name = "000001_mpii_test.json"
    last = max(i for i in range(len(gts[name]["images"])) if _frame_annotations(gts[name], i))
    last_id = preds[name]["images"][last]["id"]
    for a in preds[name]["annotations"]:
        if a["image_id"] == last_id:
            a["keypoints"] = [v + 500 if k % 3 != 2 else v for k, v in enumerate(a["keypoints"])]
    r = _run(tmp_path / "b", poseval_case, pred_docs=preds)
    np.testing.assert_array_equal(r.mot_metrics["mota"], base.mot_metrics["mota"])
    assert r.ap.ap[-1] < base.ap.ap[-1] - 1


def test_empty_prediction_frame_counts_one_dummy_miss_and_fp(poseval_case, tmp_path):
    gts, preds = _docs(poseval_case, "gt"), _docs(poseval_case, "pred")
    name = "000002_bonn_test.json"
    doc = preds[name]
    empty = next(
        i for i in range(len(doc["images"])) if _frame_annotations(gts[name], i) and not _frame_annotations(doc, i)
    )
    ghost = {"image_id": doc["images"][empty]["id"], "track_id": 50, "keypoints": [0] * 51, "scores": [0.0] * 17}
    doc["annotations"].append(ghost)
    r = _run(tmp_path, poseval_case, pred_docs=preds)
    bonn = next(s for s in r.sequences if s.name == "000002_bonn_test").mot
    j = JOINT_NAMES.index("head_top")
    # documented: head_top GT 19 -> 21, misses 1 -> 3, FP 2 -> 1
    assert (bonn.num_gt[j], bonn.misses[j], bonn.false_positives[j]) == (21, 3, 1)


def test_ignore_regions_remove_points_strictly_inside(tmp_path):
    gt = make_sequence(num_frames=3, persons=1)
    pred = make_sequence(num_frames=3, persons=1)
    for f, pf in zip(gt.frames, pred.frames):
        # a square with the nose strictly inside and the left shoulder exactly on its corner
        x, y = f.poses.xy[0, 0]
        square = np.array([[x - 1, y - 1], [x + 1, y - 1], [x + 1, y + 1], [x - 1, y + 1]])
        f.ignore_regions = [square]
        f.poses.keypoints[0, 5, :2] = pf.poses.keypoints[0, 5, :2] = square[0]
    r = evaluate(gt, pred)
    nose, l_sho = JOINT_NAMES.index("nose"), JOINT_NAMES.index("left_shoulder")
    assert r.ap.num_gt[nose] == 0 and r.ap.num_gt[l_sho] == 3
    # the nose prediction is gone as well: no sample, so AP 0 and no FP in MOT
    assert r.ap.ap[nose] == 0 and r.mot.false_positives[nose] == 0


def test_absent_joints_are_only_zero_zero_zero(tmp_path):
    gt = make_sequence(num_frames=2, persons=2)
    pred = make_sequence(num_frames=2, persons=2)
    before = evaluate(gt, pred).ap.num_gt.copy()
    gt[0].poses.keypoints[0, 0, 2] = 0  # (x, y, 0) with x, y != 0: still annotated
    gt[0].poses.keypoints[1, 16] = 0  # (0, 0, 0): absent
    after = evaluate(gt, pred).ap.num_gt
    assert after[JOINT_NAMES.index("nose")] == before[JOINT_NAMES.index("nose")]
    assert after[JOINT_NAMES.index("right_ankle")] == before[JOINT_NAMES.index("right_ankle")] - 1


def test_total_is_the_mean_of_joints_not_of_groups(poseval_case):
    r = evaluate_dirs(poseval_case / "gt", poseval_case / "pred")
    groups = r.group_means(r.ap.ap)
    assert groups["Total"] == pytest.approx(np.mean(r.ap.ap[:15]))
    assert abs(np.mean([v for k, v in groups.items() if k != "Total"]) - groups["Total"]) > 1e-6


def test_person_assignment_by_pckh_count_with_lowest_index_ties():
    inf = np.inf
    # two predictions equally good for GT 0 (3 of 3 joints): the lower index wins
    dist = np.array([[[0.1, 0.1, 0.1], [inf, inf, inf]], [[0.2, 0.2, 0.2], [inf, inf, inf]]])
    has = np.ones((2, 3), bool)
    assert assign_persons(dist, has).tolist() == [0, -1]
    # a prediction closer to GT 1 in count, though farther in distance, goes to GT 1
    dist = np.array([[[0.01, 0.01, 0.9], [0.4, 0.4, 0.4]]])
    assert assign_persons(dist, has).tolist() == [1]
    # a prediction whose best PCKh is 0 is unassigned
    assert assign_persons(np.full((1, 2, 3), 0.9), has).tolist() == [-1]


def test_one_frame_sequence_is_reported(tmp_path):
    gt, pred = make_sequence(num_frames=1, persons=2), make_sequence(num_frames=1, persons=2)
    r = evaluate(gt, pred)
    assert r.ap.ap[-1] == pytest.approx(100.0)
    assert r.mot.num_gt.sum() == 0 and np.isnan(r.mot_metrics["mota"][-1])


def test_frames_labeled_selects_by_is_labeled():
    gt, pred = make_sequence(num_frames=4, persons=1), make_sequence(num_frames=4, persons=1)
    pred[1].poses.keypoints[0, :, :2] += 300  # wrong only in frame 1
    gt[1].is_labeled = False
    assert evaluate(gt, pred).ap.ap[-1] < 100
    assert evaluate(gt, pred, frames="labeled").ap.ap[-1] == pytest.approx(100.0)


def test_clear_errors(poseval_case, tmp_path):
    gts = _docs(poseval_case, "gt")
    preds = _docs(poseval_case, "pred")
    gt_dir = _write(tmp_path / "gt", gts)
    only_one = _write(tmp_path / "p1", {"000001_mpii_test.json": preds["000001_mpii_test.json"]})
    with pytest.raises(FormatError, match="missing prediction file for ground-truth sequence 000002_bonn_test"):
        evaluate_dirs(gt_dir, only_one)
    short = copy.deepcopy(preds)
    gone = short["000002_bonn_test.json"]["images"].pop()
    short["000002_bonn_test.json"]["annotations"] = [
        a for a in short["000002_bonn_test.json"]["annotations"] if a["image_id"] != gone["id"]
    ]
    with pytest.raises(FormatError, match=r"000002_bonn_test\.json: 9 frames, but the ground truth .* has 10"):
        evaluate_dirs(gt_dir, _write(tmp_path / "p2", short))
    dup = copy.deepcopy(preds)
    anns = dup["000001_mpii_test.json"]["annotations"]
    first = anns[0]
    twin = next(a for a in anns[1:] if a["image_id"] == first["image_id"])
    twin["track_id"] = first["track_id"]
    message = r"000001_mpii_test\.json: frame \d+ \(images/.*\): track_id \d+ appears twice"
    with pytest.raises(FormatError, match=message):
        evaluate_dirs(gt_dir, _write(tmp_path / "p3", dup))
    bad = _write(tmp_path / "p4", preds)
    (bad / "000002_bonn_test.json").write_text('{"images": [')
    with pytest.raises(FormatError, match=r"000002_bonn_test\.json: invalid JSON"):
        evaluate_dirs(gt_dir, bad)


def test_2017_and_2018_files_mix(poseval_case, tmp_path):
    from corrtrack.formats import load_sequence, save_sequence

    pred17 = tmp_path / "pred17"
    for p in (poseval_case / "pred").glob("*.json"):
        save_sequence(load_sequence(p), pred17 / p.name, "posetrack17")
    a = evaluate_dirs(poseval_case / "gt", poseval_case / "pred")
    b = evaluate_dirs(poseval_case / "gt", pred17)
    np.testing.assert_allclose(b.ap.ap, a.ap.ap, atol=1e-9)
    np.testing.assert_allclose(b.mot_metrics["mota"], a.mot_metrics["mota"], atol=1e-9)


def test_parse_document_keeps_missing_scores_as_ties():
    doc = json.loads(
        json.dumps(
            {
                "images": [{"file_name": "images/val/000001_mpii_test/000000.jpg", "id": 1}],
                "annotations": [{"image_id": 1, "track_id": 0, "keypoints": [1, 1, 1] * 17}],
                "categories": [],
            }
        )
    )
    seq = parse_document(doc, "x.json", "posetrack18")
    assert np.isnan(seq[0].poses.keypoint_scores).all()


def test_joints_without_ground_truth_are_left_out_of_the_totals():
    gt = make_sequence(num_frames=4, persons=2)
    pred = make_sequence(num_frames=4, persons=2)
    nose = JOINT_NAMES.index("nose")
    slot = 0  # the nose in the PoseTrack 2018 layout
    for f in gt.frames:
        f.poses.keypoints[:, slot] = 0  # nobody has an annotated nose
    r = evaluate(gt, pred)
    m = r.mot_metrics
    assert np.isnan(m["mota"][nose]) and np.isnan(m["rec"][nose]) and m["motp"][nose] == 0
    assert m["mota"][-1] == pytest.approx(100.0)  # the mean of the other 14 joints
    assert m["pre"][nose] == 0  # every predicted nose is a false positive
    assert np.isfinite(r.ap.ap[-1])


def test_missing_scores_rank_as_minus_9999_and_no_score_threshold_exists():
    gt = make_sequence(num_frames=3, persons=2)
    pred = make_sequence(num_frames=3, persons=2)
    for f in pred.frames:
        f.poses.keypoint_scores[:] = -9999.0
    explicit = evaluate(gt, pred)
    for f in pred.frames:
        f.poses.keypoint_scores[:] = np.nan  # no "scores" in the file
    missing = evaluate(gt, pred)
    np.testing.assert_array_equal(missing.ap.ap, explicit.ap.ap)
    # a far-off joint with a tiny score is still a false positive in MOT: nothing is thresholded
    far = make_sequence(num_frames=3, persons=2)
    for f in far.frames:
        f.poses.keypoint_scores[:] = 0.9
        f.poses.keypoint_scores[:, 0] = 1e-6
        f.poses.keypoints[:, 0, :2] += 400
    r = evaluate(gt, far)
    nose = JOINT_NAMES.index("nose")
    assert r.mot.false_positives[nose] > 0 and r.mot.false_positives[JOINT_NAMES.index("head_top")] == 0


def test_parallel_mot_accumulation_gives_the_same_counts():
    gts = [make_sequence(num_frames=60, persons=3, seed=s, name=f"{s:06d}_mpii_test") for s in range(4)]
    preds = [make_sequence(num_frames=60, persons=3, seed=s, name=f"{s:06d}_mpii_test") for s in range(4)]
    for p in preds:
        for f in p.frames[30:]:
            f.poses.track_ids[:] = f.poses.track_ids[::-1]
    serial = evaluate(gts, preds, workers=1).mot
    parallel = evaluate(gts, preds, workers=2).mot
    for name in ("num_gt", "misses", "false_positives", "switches", "matches", "sum_d_events"):
        np.testing.assert_array_equal(getattr(parallel, name), getattr(serial, name))
    assert serial.switches.sum() > 0


def test_real_posetrack_files_against_themselves():
    from conftest import shared_path

    folder = shared_path("data", "posetrack18-samples", "annotations", "val")
    r = evaluate_dirs(folder, folder)
    annotated = r.ap.num_gt > 0
    assert annotated.sum() >= 13  # 14 people, some joints inside ignore regions or unannotated
    np.testing.assert_allclose(r.ap.ap[:15][annotated], 100)
    assert r.mot.num_gt.sum() == 0  # one frame per video: nothing to track, reported instead of a crash
