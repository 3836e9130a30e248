"""The array parts of the CorrTrack tracker: OKS / NMS, association scores and assignment, recovery filters, merging."""

from __future__ import annotations

import numpy as np
import pytest

from corrtrack.geometry import oks_track, pose_nms
from corrtrack.keypoints import POSETRACK18
from corrtrack.poses import Poses
from corrtrack.tracking.association import (
    association_scores,
    find_duplicates,
    match_greedy_reference,
    match_hungarian,
    oks_matrix,
    pose_nms_fast,
    tracking_boxes,
)
from corrtrack.tracking.merging import merge_scores, resolve_merges
from corrtrack.tracking.postprocess import interpolate_gaps, postprocess_tracks, remap_track_ids
from corrtrack.tracking.recovery import explained_by_detections, filter_recovered, recovery_boxes

SIG = POSETRACK18.sigma_array


def _random_poses(rng: np.random.Generator, n: int, spread: float = 200) -> tuple[np.ndarray, np.ndarray]:
    centre = rng.uniform(50, 600, (n, 1, 2))
    xy = centre + rng.normal(0, spread / 6, (n, 17, 2))
    conf = rng.uniform(0, 1, (n, 17))
    conf[rng.random((n, 17)) < 0.2] = 0
    return xy, conf


@pytest.mark.parametrize("seed", range(4))
def test_fast_oks_and_nms_equal_the_geometry_versions(seed):
    rng = np.random.default_rng(seed)
    a, ca = _random_poses(rng, 9)
    b, cb = _random_poses(rng, 7)
    b[:3] = a[:3] + rng.normal(0, 3, (3, 17, 2))  # near-duplicates
    cb[0, :] = 0  # a pose with no joints
    ca[1, 2:] = 0  # a pose with two joints: zero box area when they coincide
    a[1, 1] = a[1, 0]
    np.testing.assert_allclose(oks_matrix(a, ca, b, cb, 0.1, SIG), oks_track(a, ca, b, cb, 0.1), atol=1e-12)
    both = np.concatenate([a, b])
    cboth = np.concatenate([ca, cb])
    assert pose_nms_fast(both, cboth, SIG, 0.7, 0.05, 2).tolist() == pose_nms(both, cboth, 0.7, 0.05, 2).tolist()
    assert oks_matrix(a[:0], ca[:0], b, cb, 0.1, SIG).shape == (0, 7)


def _scores(prop, prop_conf, det, det_conf, tau_corr=0.3):
    pv = prop_conf >= tau_corr
    dv = det_conf >= 0.1
    boxes = tracking_boxes(det, dv, 10, 2000, 2000)
    kw = dict(sigmas=SIG, tau_corr=tau_corr, tau_oks=0.2, min_joints=2, corr_sigma=5.0)
    return association_scores(prop, pv, prop_conf, det, dv, boxes, **kw)


def test_scores_of_a_perfect_propagation():
    rng = np.random.default_rng(0)
    xy, _ = _random_poses(rng, 3, spread=120)
    conf = np.ones((3, 17))
    s = _scores(xy, conf, xy, conf)
    assert np.diag(s.oks) == pytest.approx(1.0) and np.diag(s.box) == pytest.approx(1.0)
    assert np.diag(s.corr_sum) == pytest.approx(17.0) and (np.diag(s.corr_count) == 17).all()
    assert (s.total.argmax(1) == np.arange(3)).all()
    rows, cols, a = match_greedy_reference(s, 0.3, 0.2, 2)
    assert rows.tolist() == cols.tolist() == [0, 1, 2]
    assert ((a > 0).sum(1) <= 1).all()
    h_rows, h_cols, _ = match_hungarian(s, 0.3, 0.2, 2)
    assert h_rows.tolist() == h_cols.tolist() == [0, 1, 2]


def test_propagated_joints_below_tau_corr_do_not_count():
    xy = np.tile(np.linspace(100, 300, 17)[:, None], (1, 2))[None]
    conf = np.full((1, 17), 0.2)  # below tau_corr = 0.3: nothing propagated
    s = _scores(xy, conf, xy, np.ones((1, 17)))
    assert s.box[0, 0] == 0 and s.oks[0, 0] == 0 and s.corr_sum[0, 0] == 0
    rows, _, _ = match_greedy_reference(s, 0.3, 0.2, 2)
    assert len(rows) == 0


def test_greedy_loser_is_not_rematched_but_hungarian_finds_the_second_choice():
    # two tracks both prefer pose 0; track 1 would also fit pose 1
    s = _scores(np.zeros((2, 17, 2)), np.ones((2, 17)), np.zeros((2, 17, 2)), np.ones((2, 17)))
    s.box[:] = 1.0
    s.oks[:] = np.array([[0.9, 0.1], [0.8, 0.6]])
    s.corr_sum[:] = 5.0
    s.corr_count[:] = 10
    rows, cols, _ = match_greedy_reference(s, 0.3, 0.2, 2)
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 0)]  # track 1 lost pose 0 and ends (reference)
    h_rows, h_cols, _ = match_hungarian(s, 0.3, 0.2, 2)
    assert list(zip(h_rows.tolist(), h_cols.tolist())) == [(0, 0), (1, 1)]


def test_duplicates_of_a_track_best_pose_are_found():
    rng = np.random.default_rng(1)
    xy, _ = _random_poses(rng, 1, spread=150)
    conf = np.ones((1, 17))
    det = np.concatenate([xy, xy + 6.0, xy + 300.0])  # the person, a shifted copy, someone far away
    s = _scores(xy, conf, det, np.ones((3, 17)))
    _, cols, a = match_greedy_reference(s, 0.3, 0.2, 2)
    assert cols.tolist() == [0]
    assigned = np.zeros(3, bool)
    assigned[cols] = True
    dup = find_duplicates(s, a, assigned, 0.6)
    assert dup.tolist() == [False, True, False]
    assert not find_duplicates(s, a, assigned, 5.0).any()  # a ratio above any possible value


def test_recovery_boxes_and_filters():
    xy = np.array([[[10.0, 20.0]] * 17, [[100.0, 100.0]] * 17])
    xy[0, :3] = [[10, 20], [50, 80], [-30, 40]]
    keep = np.zeros((2, 17), bool)
    keep[0, :3] = True
    keep[1, :2] = True  # only two joints: no box
    boxes, ok = recovery_boxes(xy, keep, 3, 10.0, 640, 480)
    assert ok.tolist() == [True, False]
    np.testing.assert_allclose(boxes[0], [0, 10, 60, 80])  # clipped at x = 0
    assert np.isnan(boxes[1]).all()

    rng = np.random.default_rng(2)
    det, dconf = _random_poses(rng, 2)
    dconf[:] = 0.9
    rec = np.concatenate([det[:1] + 1.0, det[:1] + 400.0, det[:1] + 401.0])
    rconf = np.full((3, 17), 0.9)
    rconf[2, 5:] = 0.0
    keep = filter_recovered(
        rec,
        rconf,
        det,
        dconf,
        joint_threshold=0.1,
        min_estimated_joints=5,
        max_oks_all=0.8,
        max_oks_detections=0.6,
    )
    # 0 duplicates a detection; 1 is new; 2 has 5 joints and sits on 1 (kept before it): dropped
    assert keep.tolist() == [False, True, False]
    explained = explained_by_detections(det[:1] + 1.0, np.ones((1, 17), bool), det, dconf, 0.1, 0.6)
    assert explained.tolist() == [True]
    # two propagated people on one detection: the detection explains only the closer one
    two = np.concatenate([det[:1] + 3.0, det[:1] + 1.0, det[1:] + 1.0])
    explained = explained_by_detections(two, np.ones((3, 17), bool), det, dconf, 0.1, 0.6)
    assert explained.tolist() == [False, True, True]


def test_merge_scores_and_resolution():
    rng = np.random.default_rng(3)
    start, _ = _random_poses(rng, 2, spread=150)
    prop = np.stack([np.stack([start[0]] * 3), np.stack([start[1] + 500] * 3)])  # (Q=2, 3, K, 2)
    valid = np.ones((2, 3, 17), bool)
    valid[1, 1:] = False  # two of the three poses of track 1 did not propagate: they count as OKS 0
    s = merge_scores(prop, valid, start, np.ones((2, 17)), 0.1)
    assert s[0, 0] == pytest.approx(1.0) and s[0, 1] < 0.1 and s[1, 1] < 0.34

    # chains follow to the earliest id; each track merges once per side; best first
    merges = resolve_merges([1, 2, 1, 5], [2, 3, 3, 6], [0.9, 0.8, 0.95, 0.4], 0.5, "best_first")
    assert merges == {3: 1}  # 1->3 is best; then 1 already has a successor, 3 a predecessor
    merges = resolve_merges([1, 2], [2, 3], [0.9, 0.8], 0.5)
    assert merges == {2: 1, 3: 1}
    chrono = resolve_merges([1, 2, 1], [2, 3, 3], [0.6, 0.8, 0.95], 0.5, "chronological", np.array([10, 20, 20]))
    assert chrono == {2: 1, 3: 1}  # track 2 (starts first) takes 1; then 3 takes 2, its only free predecessor
    with pytest.raises(ValueError, match="start frames"):
        resolve_merges([1], [2], [0.9], 0.5, "chronological")


def _frame(ids, scores=None):
    n = len(ids)
    kps = np.ones((n, 17, 3)) * 50
    sc = np.full((n, 17), 0.9) if scores is None else np.asarray(scores, float)
    return Poses.create(kps, keypoint_scores=sc, track_ids=np.asarray(ids))


def test_postprocess_drops_short_tracks_low_joints_and_renumbers():
    low = np.full((1, 17), 0.9)
    low[0, :] = 0.1  # every joint below the output threshold: the pose disappears
    frames = [_frame([7, 3]), _frame([7, 3, 9]), _frame([7, 9]), _frame([3], low)]
    out = postprocess_tracks(frames, 3, 0.3)
    assert [p.track_ids.tolist() for p in out] == [[0], [0], [0], []]  # 3 lost a pose, 9 is short
    assert [p.track_ids.tolist() for p in postprocess_tracks(frames, 3, 0.0)] == [[0, 1], [0, 1], [0], [1]]
    kept = postprocess_tracks([_frame([4], np.r_[[0.2] * 5, [0.9] * 12][None])] * 3, 3, 0.3)
    assert (kept[0].keypoints[0, :5] == 0).all() and kept[0].present[0, 5:].all()
    assert [p.track_ids.tolist() for p in remap_track_ids(frames[:2], {3: 7})] == [[7, 7], [7, 7, 9]]


def test_interpolate_gaps_is_linear_per_joint_and_leaves_long_gaps():
    a = Poses.create(
        np.r_[[[10.0, 20.0, 1.0]] * 16, [[0.0, 0.0, 0.0]]][None],
        keypoint_scores=np.full((1, 17), 0.9),
        boxes=[[0, 0, 10, 10]],
        scores=[0.8],
        track_ids=[5],
    )
    b = a.replace(keypoints=a.keypoints + [40.0, -20.0, 0.0], boxes=np.array([[40.0, 0, 10, 10]]), scores=np.r_[0.2])
    b.keypoints[0, 16] = [70.0, 5.0, 1.0]  # present only after the gap: stays absent inside it
    other = Poses.create(np.ones((1, 17, 3)), track_ids=[8])
    empty = Poses.empty()
    frames = [a, empty, empty, empty, b, other, empty, other]
    out = interpolate_gaps(frames, 3)
    assert [p.track_ids.tolist() for p in out] == [[5], [5], [5], [5], [5], [8], [8], [8]]
    mid = out[2]  # half way between a (frame 0) and b (frame 4)
    np.testing.assert_allclose(mid.keypoints[0, :16], np.tile([30.0, 10.0, 1.0], (16, 1)))
    assert not mid.present[0, 16] and mid.keypoint_scores[0, 16] == 0
    np.testing.assert_allclose(mid.boxes[0], [20, 0, 10, 10])
    np.testing.assert_allclose([out[1].scores[0], out[3].scores[0]], [0.65, 0.35])
    assert out[1].extras[0] == {"interpolated": True} and out[0] is a
    assert [p.track_ids.tolist() for p in interpolate_gaps(frames, 2)][1:4] == [[], [], []]  # gap of 3 > 2
    assert interpolate_gaps(frames, 0) == frames and interpolate_gaps([empty] * 4, 3) == [empty] * 4
