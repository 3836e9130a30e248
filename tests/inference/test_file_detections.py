"""Detections from files behind the PersonDetector interface."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import shared_path
from corrtrack.geometry import box_nms
from corrtrack.inference.file_detections import DetectionFilter, FileDetections, filter_detections
from corrtrack.interfaces import PersonDetector
from corrtrack.poses import Poses


def test_real_mot_det_file_is_served_frame_by_frame():
    det_path = shared_path("data", "TUD-Stadtmitte", "det", "det.txt")
    rows = np.loadtxt(det_path, delimiter=",")
    det = FileDetections(det_path, DetectionFilter(score_threshold=0.0, nms_iou=1.0))
    assert isinstance(det, PersonDetector)
    frames = [np.zeros((480, 640, 3), np.uint8)] * 3
    first = det.detect(frames)
    second = det.detect(frames[:1])
    assert [len(p) for p in first + second] == [int((rows[:, 0] == f).sum()) for f in (1, 2, 3, 4)]
    np.testing.assert_allclose(first[0].boxes, rows[rows[:, 0] == 1][:, 2:6])
    # the default filter keeps fewer boxes (score above 0.5 and NMS)
    assert sum(len(p) for p in FileDetections(det_path).for_frames(range(4))) <= sum(len(p) for p in first + second)


def test_coco_results_list_with_gaps(tmp_path):
    dets = [
        {"image_id": 12, "category_id": 1, "bbox": [0, 0, 10, 20], "score": 0.9},
        {"image_id": 10, "category_id": 1, "bbox": [5, 5, 10, 20], "score": 0.8},
        {"image_id": 10, "category_id": 1, "bbox": [5, 5, 10, 20], "score": 0.3},
    ]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(dets))
    det = FileDetections(path, num_frames=5, first_image_id=10)
    got = det.for_frames(range(6))
    assert [len(p) for p in got] == [1, 0, 1, 0, 0, 0]
    assert got[0].scores.tolist() == [0.8] and got[2].boxes.tolist() == [[0, 0, 10, 20]]


def test_filter_threshold_and_nms():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 10, 10], [0, 0, 10, 10]], float)
    poses = Poses.create(np.zeros((4, 17, 3)), boxes=boxes, scores=[0.9, 0.95, 0.6, 0.4])
    kept = filter_detections(poses, DetectionFilter(score_threshold=0.5, nms_iou=0.5))
    assert kept.scores.tolist() == [0.95, 0.6]
    assert box_nms(boxes, [0.5, 0.5, 0.5, 0.5], 0.5).tolist() == [0, 2]
    assert len(filter_detections(Poses.empty())) == 0
    with pytest.raises(ValueError):
        DetectionFilter(nms_iou=0)


def test_coco17_detections_are_mapped_by_joint_name(tmp_path):
    """COCO-17 keypoints (eyes at 1 and 2) become PoseTrack 2018 joints by name: no eye is read as a head joint."""
    from conftest import make_sequence
    from corrtrack.formats import convert_layout, save_sequence
    from corrtrack.keypoints import COCO17, POSETRACK18

    seq = make_sequence(2, 2)
    path = tmp_path / "coco.json"
    save_sequence(convert_layout(seq, COCO17), path, "coco")
    det = FileDetections(path, DetectionFilter(score_threshold=0.0, nms_iou=1.0))
    got = det.for_frames([0])[0]
    assert got.num_joints == POSETRACK18.num_joints
    head = [POSETRACK18.index("head_bottom"), POSETRACK18.index("head_top")]
    assert (got.keypoints[:, head] == 0).all()  # COCO has no head_bottom / head_top
    body = [POSETRACK18.index(n) for n in ("nose", "left_wrist", "right_ankle")]
    np.testing.assert_allclose(got.keypoints[:, body], seq.frames[0].poses.keypoints[:, body])
