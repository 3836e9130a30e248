"""The fakes of corrtrack.testing behave as the interfaces promise."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_sequence
from corrtrack.interfaces import CorrespondenceModel, PoseEstimator
from corrtrack.testing import OracleCorrespondences, OraclePoseEstimator, ZeroMotionCorrespondences


def test_zero_motion_keeps_points_and_zeroes_missing_queries():
    model = ZeroMotionCorrespondences()
    assert isinstance(model, CorrespondenceModel)
    pts = np.array([[[1.0, 2.0], [np.nan, np.nan]]])
    out = model.propagate(model.embed(np.zeros((4, 4, 3))), 0, pts)
    assert out.shape == (1, 2, 3)
    assert out[0, 0].tolist() == [1, 2, 1] and out[0, 1, 2] == 0


def test_oracle_correspondences_follow_the_ground_truth_identity():
    gt = make_sequence(num_frames=3, persons=2)
    images = [np.full((8, 8, 3), t, np.uint8) for t in range(3)]
    oracle = OracleCorrespondences(gt, images)
    a, b = oracle.embed(images[0]), oracle.embed(images[2])
    assert (a, b) == (0, 2)
    src = gt[0].poses
    # query person 1 first and person 0 second, each shifted by 2 px
    query = src.xy[[1, 0]] + 2.0
    out = oracle.propagate(a, b, query)
    dst = gt[2].poses
    present = dst.present[[1, 0]] & src.present[[1, 0]]
    np.testing.assert_allclose(out[..., :2][present], (dst.xy[[1, 0]] + 2.0)[present])
    assert (out[..., 2][present] == 1).all() and (out[..., 2][~present] == 0).all()
    # a query far from everybody is not propagated
    far = oracle.propagate(a, b, np.full((1, 17, 2), 5000.0))
    assert (far[..., 2] == 0).all()
    with pytest.raises(ValueError, match="not a frame"):
        oracle.embed(np.full((8, 8, 3), 99, np.uint8))


def test_oracle_pose_estimator_returns_the_covered_person():
    gt = make_sequence(num_frames=2, persons=2)
    gt = gt.with_poses([f.poses.replace(boxes=np.full((len(f.poses), 4), np.nan)) for f in gt.frames])
    est = OraclePoseEstimator(gt)
    assert isinstance(est, PoseEstimator)
    frame = gt[0].poses
    boxes = np.concatenate([frame.keypoint_boxes()[[1]], [[-500, -500, 10, 10]]])
    out = est.estimate(np.zeros((8, 8, 3), np.uint8), boxes)
    assert len(out) == 2
    np.testing.assert_allclose(out.xy[0][frame.present[1]], frame.xy[1][frame.present[1]])
    assert (out.keypoint_scores[1] == 0).all()
    assert len(est.estimate(np.zeros((8, 8, 3), np.uint8), np.zeros((0, 4)))) == 0
