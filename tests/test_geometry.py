import numpy as np

from corrtrack.geometry import box_iou, head_size, oks_coco, oks_track, pose_nms
from corrtrack.keypoints import POSETRACK18


def _pose(rng, center, scale=50.0):
    return center + rng.normal(size=(17, 2)) * scale


def test_box_iou_known_values_and_shape():
    a = np.array([[0, 0, 10, 10], [100, 100, 1, 1]], float)
    b = np.array([[5, 0, 10, 10], [0, 0, 10, 10], [50, 50, 0, 0]], float)
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    assert np.isclose(iou[0, 0], 50 / 150) and iou[0, 1] == 1 and iou[1, 0] == 0 and iou[0, 2] == 0
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 3)


def test_head_size_is_point_six_diagonal():
    assert np.isclose(head_size(np.array([0, 0, 30, 40.0])), 30.0)


def test_oks_coco_identity_and_decay():
    rng = np.random.default_rng(0)
    g = np.stack([_pose(rng, 200), _pose(rng, 600)])
    vis = np.ones((2, 17))
    area = np.array([100.0 * 200, 100.0 * 200])
    oks = oks_coco(g, vis, area, np.concatenate([g, g + 15]))
    assert oks.shape == (2, 4)
    assert np.allclose(np.diag(oks[:, :2]), 1.0)
    assert oks[0, 2] < 1 and oks[0, 2] > oks[0, 1]
    # matches the scalar definition on one pair
    d2 = (15**2) * 2
    expected = np.mean(np.exp(-d2 / (2 * POSETRACK18.sigma_array) ** 2 / (area[0] + np.spacing(1)) / 2))
    assert np.isclose(oks[0, 2], expected)


def test_oks_coco_ignores_unlabelled_gt_joints():
    g = np.zeros((1, 17, 2))
    g[0, :, 0] = np.arange(17) * 10
    vis = np.zeros((1, 17))
    vis[0, :5] = 1
    d = g.copy()
    d[0, 5:] += 500  # only unlabelled joints are off
    assert np.isclose(oks_coco(g, vis, np.array([1e4]), d)[0, 0], 1.0)


def test_oks_track_masks_and_symmetry():
    rng = np.random.default_rng(1)
    a = np.stack([_pose(rng, 200), _pose(rng, 500)])
    conf = np.ones((2, 17))
    conf[1, :10] = 0.0
    m = oks_track(a, conf, a, conf)
    assert np.allclose(np.diag(m), 1) and np.allclose(m, m.T)
    second = oks_track(a, conf, a, conf, mask="second")
    assert second.shape == (2, 2)
    none = oks_track(a, np.zeros((2, 17)), a, conf)
    assert np.all(none == 0)


def test_pose_nms_suppresses_duplicates_keeps_distinct():
    rng = np.random.default_rng(2)
    p = _pose(rng, 300)
    kps = np.stack([p, p + 1.0, _pose(rng, 800), p + 0.5])
    conf = np.full((4, 17), 0.9)
    conf[1] = 0.95  # the best-scored duplicate survives
    conf[3, 2:] = 0.0  # only two joints: still a pose
    keep = pose_nms(kps, conf)
    assert keep.tolist() == [1, 2]
    conf[2, 1:] = 0.01  # a pose with a single confident joint is dropped
    assert pose_nms(kps, conf).tolist() == [1]
    assert pose_nms(np.zeros((0, 17, 2)), np.zeros((0, 17))).tolist() == []
