"""Box MOT metrics on real MOTChallenge ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import shared_path
from corrtrack.evaluate.boxes import evaluate_boxes
from corrtrack.formats import parse_mot, read_mot
from corrtrack.tracking import associate_frame_to_frame


@pytest.mark.parametrize("name", ["PETS09-S2L1", "TUD-Stadtmitte"])
def test_ground_truth_against_itself_is_perfect(name):
    gt = read_mot(shared_path("data", name, "gt", "gt.txt"))
    m = evaluate_boxes(gt, gt)
    assert m["mota"] == 1 and m["idf1"] == 1 and m["num_switches"] == 0
    assert m["hota"] == pytest.approx(1) and m["assa"] == pytest.approx(1)


@pytest.mark.parametrize("name", ["PETS09-S2L1", "TUD-Stadtmitte"])
def test_detections_with_trivial_ids_score_below_perfect(name):
    gt = read_mot(shared_path("data", name, "gt", "gt.txt"))
    det = read_mot(shared_path("data", name, "det", "det.txt"), num_frames=len(gt))
    det = det.with_poses([f.poses[f.poses.scores >= 0.5] for f in det.frames])
    m = evaluate_boxes(gt, associate_frame_to_frame(det, "iou", 0.3))
    assert 0.3 < m["mota"] < 0.95 and m["num_switches"] > 5 and m["idf1"] < m["mota"] + 0.2
    assert 0 < m["assa"] < m["deta"] + 0.3


def test_ignore_rows_are_not_counted_and_absorb_predictions():
    gt = parse_mot("1,1,0,0,10,10,1,1,1\n1,2,100,100,10,10,0,1,1\n", "gt.txt")
    pred = parse_mot("1,5,0,0,10,10,1,-1,-1,-1\n1,6,101,100,10,10,1,-1,-1,-1\n", "pred.txt")
    m = evaluate_boxes(gt, pred)
    assert m["num_objects"] == 1 and m["num_false_positives"] == 0 and m["mota"] == 1


def test_missing_track_ids_are_rejected():
    gt = parse_mot("1,1,0,0,10,10,1,1,1\n", "gt.txt")
    with pytest.raises(ValueError, match="track id"):
        evaluate_boxes(gt, parse_mot("1,-1,0,0,10,10,1\n", "p.txt"))
    assert np.isfinite(evaluate_boxes(gt, parse_mot("", "p.txt", num_frames=1))["mota"])
