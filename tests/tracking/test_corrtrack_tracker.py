"""The CorrTrack tracker with fake models: ids through occlusions, recovery, duplicates, merging, edge cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from corrtrack.config import ConfigError, override
from corrtrack.evaluate import evaluate
from corrtrack.geometry import pose_nms
from corrtrack.poses import Frame, Poses, PoseSequence
from corrtrack.synth import SimulatedDetectorConfig, make_specs, render_sequence_frames, simulate_detections
from corrtrack.testing import FrameIndex, OracleCorrespondences, OraclePoseEstimator, ZeroMotionCorrespondences
from corrtrack.tracking.baselines import FrameToFrameConfig, FrameToFrameTracker
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig, CorrTrackTracker, run_tracker
from corrtrack.tracking.postprocess import postprocess_tracks

W, H = 640, 360
TEMPLATE = np.array(
    [[0, -62], [0, -52], [0, -75], [0, 0], [0, 0], [-10, -45], [10, -45], [-14, -25], [14, -25]]
    + [[-15, -5], [15, -5], [-7, 0], [7, 0], [-8, 22], [8, 22], [-8, 45], [8, 45]],
    float,
)


def walkers(num_frames: int, starts: list[tuple[float, float]], velocity: list[tuple[float, float]]) -> PoseSequence:
    """Ground truth of rigid walkers (about 120 px tall), one track id per walker."""
    frames = []
    for t in range(num_frames):
        pos = np.asarray(starts, float) + t * np.asarray(velocity, float)
        xy = pos[:, None] + 1.6 * TEMPLATE[None]
        kps = np.concatenate([xy, np.ones(xy.shape[:2] + (1,))], -1)
        kps[:, [3, 4]] = 0  # ears are not annotated
        heads = np.stack([xy[:, 2, 0] - 10, xy[:, 2, 1], np.full(len(pos), 20.0), np.full(len(pos), 25.0)], 1)
        poses = Poses.create(kps, head_boxes=heads, track_ids=np.arange(len(pos)))
        frames.append(Frame(f"{t:06d}.jpg", poses, image_id=t, is_labeled=True))
    return PoseSequence("walkers", frames)


def frame_images(n: int) -> list[np.ndarray]:
    """Distinct dummy frames (the oracles recognise them by their pixels)."""
    images = []
    for t in range(n):
        img = np.zeros((H, W, 3), np.uint8)
        img[0, 0] = [t % 256, t // 256, 1]
        images.append(img)
    return images


def remove(seq: PoseSequence, track: int, frames: range, ids_from: PoseSequence | None = None) -> PoseSequence:
    """The sequence with ``track`` missing in ``frames`` (rows chosen by the ids of ``ids_from``, default ``seq``)."""
    out = []
    for t, f in enumerate(seq.frames):
        p = f.poses
        ids = (ids_from or seq).frames[t].poses.track_ids
        out.append(p[ids != track] if t in frames else p)
    return seq.with_poses(out)


def detections_from(gt: PoseSequence, score: float = 0.9) -> PoseSequence:
    """Detections = the ground-truth poses with joint scores and no ids."""
    out = []
    for f in gt.frames:
        p = f.poses
        out.append(p.replace(keypoint_scores=p.present * score, track_ids=np.full(len(p), -1)))
    return gt.with_poses(out)


def oracle_tracker(gt: PoseSequence, images: list[np.ndarray], **changes: object) -> CorrTrackTracker:
    cfg = CorrTrackConfig(**changes)  # type: ignore[arg-type]
    return CorrTrackTracker(OracleCorrespondences(gt, images), OraclePoseEstimator(gt, images), cfg)


def ids_of(seq: PoseSequence, gt: PoseSequence, gt_track: int) -> list[int]:
    """The predicted id of ``gt_track`` in every frame where it was output (matched by the nose position)."""
    out = []
    for pf, gf in zip(seq.frames, gt.frames):
        g = gf.poses[gf.poses.track_ids == gt_track]
        if not len(g) or not len(pf.poses):
            continue
        d = np.linalg.norm(pf.poses.xy[:, 0] - g.xy[0, 0], axis=-1)
        if d.min() < 5:
            out.append(int(pf.poses.track_ids[d.argmin()]))
    return out


class CountingModel(ZeroMotionCorrespondences):
    def __init__(self) -> None:
        self.embeds = 0
        self.propagates: list[int] = []

    def embed(self, image: np.ndarray) -> int:
        self.embeds += 1
        return super().embed(image)

    def propagate(self, src: object, dst: object, points: np.ndarray) -> np.ndarray:
        self.propagates.append(len(points))
        return super().propagate(src, dst, points)


def test_one_embedding_and_one_batched_propagation_per_frame():
    gt = walkers(8, [(100, 150), (300, 150), (500, 200)], [(3, 0), (-2, 1), (0, 2)])
    det = remove(detections_from(gt), 1, range(3, 5), gt)  # a miss: recovery runs too
    model = CountingModel()
    tracker = CorrTrackTracker(model, OraclePoseEstimator(gt, frame_images(8)), CorrTrackConfig(merging=False))
    run_tracker(tracker, frame_images(8), det)
    assert model.embeds == 8
    assert len(model.propagates) == 7  # every frame pair once, all tracks and joints in one call
    assert model.propagates[0] == 3
    assert tracker.counts["recovered"] >= 2


def test_recovery_brings_back_a_missed_person():
    gt = walkers(10, [(150, 180), (450, 180)], [(4, 0), (-4, 0)])
    images = frame_images(10)
    det = remove(detections_from(gt), 1, range(4, 7), gt)
    out = run_tracker(oracle_tracker(gt, images, merging=False), images, det)
    assert ids_of(out, gt, 1) == [ids_of(out, gt, 1)[0]] * 10  # present in every frame, one id
    assert all(len(f.poses) == 2 for f in out.frames)
    assert any(f.poses.extras[i].get("recovered") for f in out.frames for i in range(len(f.poses)))

    without = run_tracker(oracle_tracker(gt, images, merging=False, recovery=False), images, det)
    ids = ids_of(without, gt, 1)
    assert len(ids) == 7 and len(set(ids)) == 2  # missing in 3 frames, and a new id afterwards


def test_skipping_explained_poses_saves_estimates_with_the_same_output():
    gt = walkers(12, [(100, 180), (300, 180), (500, 180)], [(5, 0), (0, 0), (-5, 0)])
    images = frame_images(12)
    det = remove(detections_from(gt), 2, range(5, 8), gt)
    runs = {}
    for skip in (True, False):
        tracker = oracle_tracker(gt, images, recovery_skip_explained=skip)
        runs[skip] = (run_tracker(tracker, images, det), tracker.counts["reestimated"])
    (a, n_skip), (b, n_all) = runs[True], runs[False]
    assert all(x.poses.equals(y.poses) for x, y in zip(a.frames, b.frames))
    assert n_skip == 3 and n_all > 3 * n_skip  # only the missed person's three frames are re-estimated


def test_duplicates_are_removed():
    gt = walkers(8, [(150, 180), (450, 180)], [(3, 0), (-3, 0)])
    images = frame_images(8)
    det = detections_from(gt)
    frames = []
    for t, f in enumerate(det.frames):
        p = f.poses
        if t >= 2:
            copy = p[[0]]
            copy = copy.replace(keypoints=copy.keypoints + [12.0, 6.0, 0.0], keypoint_scores=copy.keypoint_scores * 0.9)
            p = Poses.concat([p, copy])
        frames.append(p)
    det = det.with_poses(frames)
    p = det.frames[3].poses
    assert len(pose_nms(p.xy, p.confidences)) == 3  # pose NMS keeps the shifted copy
    out = run_tracker(oracle_tracker(gt, images), images, det)
    assert all(len(f.poses) == 2 for f in out.frames)
    assert len({int(i) for f in out.frames for i in f.poses.track_ids}) == 2
    tracker = oracle_tracker(gt, images, duplicate_removal=False)
    kept = run_tracker(tracker, images, det)
    assert tracker.counts["duplicates"] == 0
    assert len({int(i) for f in kept.frames for i in f.poses.track_ids}) == 3  # the copy became a track


def test_merging_joins_a_track_split_by_a_long_occlusion():
    gt = walkers(30, [(100, 180), (300, 180), (560, 100)], [(4, 0), (0, 0), (0, 0)])
    gt = remove(gt, 0, range(6, 20))  # person 0 fully occluded for 14 frames
    gt = remove(gt, 2, range(0, 20))  # person 2 appears when person 0 comes back
    images = frame_images(30)
    det = detections_from(gt)
    tracker = oracle_tracker(gt, images)
    out = run_tracker(tracker, images, det)
    ids0 = ids_of(out, gt, 0)
    assert len(ids0) == 16 and len(set(ids0)) == 1  # one identity before and after the occlusion
    assert set(ids_of(out, gt, 2)).isdisjoint(ids0) and set(ids_of(out, gt, 1)).isdisjoint(ids0)
    assert len(tracker.merges) == 1
    scores = {(q, p): s for q, p, s, _ in tracker.merge_candidates}
    assert max(scores.values()) == pytest.approx(1.0)

    no_merge = run_tracker(oracle_tracker(gt, images, merging=False), images, det)
    assert len(set(ids_of(no_merge, gt, 0))) == 2
    short_gap = run_tracker(oracle_tracker(gt, images, merge_max_gap=10), images, det)
    assert len(set(ids_of(short_gap, gt, 0))) == 2  # the gap of 14 frames is too long


@pytest.fixture(scope="module")
def hard_clips():
    specs = make_specs("val", ["hard"], 2, 30, 5, "all")
    clips = []
    for i, s in enumerate(specs):
        images, gt, _, _ = render_sequence_frames(s)
        det = simulate_detections(gt, SimulatedDetectorConfig(with_poses=True), seed=i)
        clips.append((images, gt, det))
    return clips


def test_oracle_correspondences_keep_ids_far_better_than_iou(hard_clips):
    corr, iou, online_ok = [], [], True
    for images, gt, det in hard_clips:
        tracker = oracle_tracker(gt, images)
        last_seen: dict[int, int] = {}
        for t, (img, f) in enumerate(zip(images, det.frames)):
            ids = tracker.step(t, img, f.poses).track_ids
            assert len(set(ids.tolist())) == len(ids) and (ids >= 0).all()
            for i in ids.tolist():  # an id continues only from the previous frame: never reused
                online_ok &= last_seen.get(i, t - 1) == t - 1
                last_seen[i] = t
        corr.append(det.with_poses([f.poses for f in tracker.finish().frames]))
        base = FrameToFrameTracker(FrameToFrameConfig("iou", 0.3))
        tracked = [base.step(t, None, f.poses) for t, f in enumerate(det.frames)]
        iou.append(det.with_poses(postprocess_tracks(tracked, 3, 0.3)))
    assert online_ok
    gts = [g for _, g, _ in hard_clips]
    r_corr, r_iou = evaluate(gts, corr), evaluate(gts, iou)
    assert r_corr.mot.switches.sum() <= 0.5 * r_iou.mot.switches.sum()
    assert r_corr.mot_metrics["mota"][-1] >= r_iou.mot_metrics["mota"][-1] + 5


def test_hungarian_and_zero_motion_variants_run(hard_clips):
    images, gt, det = hard_clips[0]
    for tracker in (
        oracle_tracker(gt, images, assignment="hungarian"),
        CorrTrackTracker(ZeroMotionCorrespondences(), None, CorrTrackConfig()),
    ):
        out = run_tracker(tracker, images, det)
        assert len(out) == len(gt) and sum(len(f.poses) for f in out.frames) > 0
        for f in out.frames:
            assert len(set(f.poses.track_ids.tolist())) == len(f.poses)


def test_empty_frames_single_frames_and_missing_joints():
    gt = walkers(9, [(150, 180), (450, 180)], [(3, 0), (-3, 0)])
    images = frame_images(9)
    det = detections_from(gt)
    frames = [f.poses for f in det.frames]
    frames[3] = Poses.empty()  # nobody detected
    kps = frames[5].keypoints.copy()
    kps[0, 6:] = np.nan  # missing joints as NaN
    kps[1, :5] = 0  # absent joints
    frames[5] = frames[5].replace(keypoints=kps)
    one_joint = frames[6][[0]]
    kp1 = np.zeros_like(one_joint.keypoints)
    kp1[0, 0] = one_joint.keypoints[0, 0]
    frames[6] = Poses.concat([frames[6], one_joint.replace(keypoints=kp1)])  # a pose with one joint: dropped
    tracker = oracle_tracker(gt, images, min_track_length=1)
    out = [tracker.step(t, img, p) for t, (img, p) in enumerate(zip(images, frames))]
    assert len(out[3]) == 2 and all(e["recovered"] for e in out[3].extras)  # both recovered
    assert len(out[5]) == 2 and len(out[6]) == 2
    assert [len(f.poses) for f in tracker.finish().frames] == [2] * 9
    assert all(len(set(ids_of(tracker.finish(), gt, i))) == 1 for i in (0, 1))
    blind = CorrTrackTracker(ZeroMotionCorrespondences(), None, CorrTrackConfig(min_track_length=1))
    out = [blind.step(t, img, p) for t, (img, p) in enumerate(zip(images, frames))]
    assert len(out[3]) == 0 and len(out[5]) == 2 and len(out[6]) == 2
    assert np.isfinite(blind.finish().frames[5].poses.keypoints).all()

    nobody = CorrTrackTracker(ZeroMotionCorrespondences())
    for t in range(4):
        assert len(nobody.step(t, images[t], Poses.empty())) == 0
    assert [len(f.poses) for f in nobody.finish().frames] == [0] * 4

    single = oracle_tracker(gt, images)
    single.step(0, images[0], frames[0])
    assert len(single.finish().frames) == 1 and len(single.finish().frames[0].poses) == 0  # shorter than 3
    assert len(CorrTrackTracker(ZeroMotionCorrespondences()).finish().frames) == 0


def test_bad_input_and_config_overrides():
    tracker = CorrTrackTracker(ZeroMotionCorrespondences())
    with pytest.raises(ValueError, match="needs the frame image"):
        tracker.step(0, None, Poses.empty())
    with pytest.raises(ValueError, match="joints per pose"):
        tracker.step(0, frame_images(1)[0], Poses.empty(num_joints=15))
    tracker.step(3, frame_images(1)[0], Poses.empty())
    with pytest.raises(ValueError, match="must increase"):
        tracker.step(3, frame_images(1)[0], Poses.empty())
    cfg = override(CorrTrackConfig(), ["tau_corr=0.5", "assignment=hungarian", "merging=false"])
    assert cfg.tau_corr == 0.5 and cfg.assignment == "hungarian" and not cfg.merging
    with pytest.raises(ConfigError, match="tau_corr"):
        override(CorrTrackConfig(), ["tau_corr=1.5"])
    with pytest.raises(ConfigError, match="assignment"):
        override(CorrTrackConfig(), ["assignment=random"])

    class Broken(ZeroMotionCorrespondences):
        def propagate(self, src: object, dst: object, points: np.ndarray) -> np.ndarray:
            return np.zeros((1, 1, 3))

    gt = walkers(2, [(150, 180)], [(3, 0)])
    broken = CorrTrackTracker(Broken())
    broken.step(0, frame_images(1)[0], detections_from(gt).frames[0].poses)
    with pytest.raises(ValueError, match="correspondence model returned shape"):
        broken.step(1, frame_images(1)[0], detections_from(gt).frames[1].poses)


class GhostEstimator:
    """A weak pose net: it 'finds' a person of joint score ``score`` in any box it is given."""

    def __init__(self, score: float) -> None:
        self.score = score

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> Poses:
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        centre = boxes[:, :2] + boxes[:, 2:] / 2
        shape = 1.6 * (TEMPLATE - (TEMPLATE.min(0) + TEMPLATE.max(0)) / 2)  # the walker, centred on the box
        xy = centre[:, None] + shape[None]
        kps = np.concatenate([xy, np.ones(xy.shape[:2] + (1,))], -1)
        return Poses.create(kps, keypoint_scores=np.full(xy.shape[:2], self.score))


def test_recovery_gates_stop_ghost_tracks():
    """A person seen in frames 0-3 leaves; a weak estimator keeps 'recovering' them unless a gate stops it."""
    gt = walkers(12, [(200, 180), (450, 180)], [(0, 0), (0, 0)])
    det = remove(detections_from(gt), 0, range(4, 12), gt)
    images = frame_images(12)

    def recovered_frames(score: float, **changes: object) -> int:
        cfg = CorrTrackConfig(merging=False, **changes)  # type: ignore[arg-type]
        out = run_tracker(CorrTrackTracker(ZeroMotionCorrespondences(), GhostEstimator(score), cfg), images, det)
        return sum(bool(e.get("recovered")) for f in out.frames for e in f.poses.extras)

    assert recovered_frames(0.3) == 8  # the reference rule: recovered in every frame after the person left
    assert recovered_frames(0.3, recovery_max_run=3) == 3  # at most 3 recovered frames in a row
    assert recovered_frames(0.3, recovery_min_mean_score=0.5) == 0  # joints scoring 0.3 on average: rejected
    assert recovered_frames(0.6, recovery_min_mean_score=0.5) == 8
    with pytest.raises(ValueError, match="recovery_max_run"):
        CorrTrackConfig(recovery_max_run=-1)


def test_lost_tracks_take_back_their_person_after_a_gap():
    """A person undetected for 4 frames (no recovery) gets a new id, unless lost tracks are kept for 5 frames."""
    gt = walkers(14, [(150, 180), (450, 180)], [(4, 0), (-4, 0)])
    images = frame_images(14)
    det = remove(detections_from(gt), 1, range(5, 9), gt)
    plain = run_tracker(oracle_tracker(gt, images, merging=False, recovery=False), images, det)
    assert len(set(ids_of(plain, gt, 1))) == 2
    tracker = oracle_tracker(gt, images, merging=False, recovery=False, lost_track_frames=5)
    kept = run_tracker(tracker, images, det)
    ids = ids_of(kept, gt, 1)
    assert len(ids) == 10 and len(set(ids)) == 1  # missing in 4 frames, then the same id again
    assert len(set(ids_of(kept, gt, 0))) == 1 and tracker.counts["resumed"] == 1
    short = run_tracker(oracle_tracker(gt, images, merging=False, recovery=False, lost_track_frames=3), images, det)
    assert len(set(ids_of(short, gt, 1))) == 2  # a gap of 4 frames is longer than 3
    with pytest.raises(ValueError, match="lost_track_frames"):
        CorrTrackConfig(lost_track_frames=-1)


def test_velocity_motion_follows_a_fast_walker_through_a_long_gap():
    """Zero-motion correspondences lose a walker (12 px/frame) missed for 8 frames; its velocity finds it."""
    gt = walkers(20, [(100, 180), (500, 180)], [(12, 0), (-2, 0)])
    images = frame_images(20)
    det = remove(detections_from(gt), 0, range(6, 14), gt)

    def ids(**changes: object) -> list[int]:
        settings: dict[str, object] = {"merging": False, "recovery": False, "lost_track_frames": 10, **changes}
        cfg = CorrTrackConfig(**settings)  # type: ignore[arg-type]
        return ids_of(run_tracker(CorrTrackTracker(ZeroMotionCorrespondences(), None, cfg), images, det), gt, 0)

    assert len(set(ids())) == 2  # its last pose stays put: 96 px behind when it comes back
    moved = ids(lost_track_motion="velocity")
    assert len(moved) == 12 and len(set(moved)) == 1
    assert len(set(ids(lost_track_motion="velocity", lost_track_frames=7))) == 2  # gap of 8 > 7 frames
    still = ids(lost_track_motion="velocity", lost_track_velocity_frames=1)
    assert len(set(still)) == 1  # one frame of history is enough for a steady walker


def test_interpolated_gaps_fill_the_frames_a_resumed_track_skipped():
    gt = walkers(14, [(150, 180), (450, 180)], [(4, 0), (-4, 0)])
    images = frame_images(14)
    det = remove(detections_from(gt), 1, range(5, 9), gt)
    base = {"merging": False, "recovery": False, "lost_track_frames": 5}
    out = run_tracker(oracle_tracker(gt, images, **base, interpolate_gaps=4), images, det)
    ids = ids_of(out, gt, 1)
    assert len(ids) == 14 and len(set(ids)) == 1
    filled = out.frames[6].poses
    row = [i for i, e in enumerate(filled.extras) if e.get("interpolated")]
    assert len(row) == 1
    np.testing.assert_allclose(
        filled.xy[row[0]][filled.present[row[0]]], gt.frames[6].poses.xy[1][filled.present[row[0]]]
    )
    short = run_tracker(oracle_tracker(gt, images, **base, interpolate_gaps=3), images, det)
    assert len(ids_of(short, gt, 1)) == 10  # the gap of 4 frames is longer than 3: left empty
    with pytest.raises(ValueError, match="interpolate_gaps"):
        CorrTrackConfig(interpolate_gaps=-1)


class GuessingEstimator:
    """The ground-truth pose where a box covers a person; elsewhere a confident guess: a small upside-down figure."""

    def __init__(self, gt: PoseSequence, images: list[np.ndarray]) -> None:
        self.oracle = OraclePoseEstimator(gt, images)

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> Poses:
        p = self.oracle.estimate(image, boxes)
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        kps, scores = p.keypoints.copy(), p.keypoint_scores.copy()
        empty = scores.sum(1) == 0
        centre = boxes[:, :2] + boxes[:, 2:] / 2
        guess = centre[:, None] - 0.5 * TEMPLATE[None]
        kps[empty, :, :2] = guess[empty]
        kps[empty, :, 2] = 1
        scores[empty] = 0.6
        return p.replace(keypoints=kps, keypoint_scores=scores)


def test_the_agreement_rule_keeps_true_recoveries_and_drops_guesses_in_empty_boxes():
    """Person 0 leaves after frame 3 (gone from the ground truth); person 1 is missed in frames 6-8."""
    gt = walkers(12, [(200, 180), (450, 180)], [(0, 0), (-3, 0)])
    gt = remove(gt, 0, range(4, 12))
    images = frame_images(12)
    det = remove(detections_from(gt), 1, range(6, 9), gt)

    def recovered(rule: str) -> tuple[int, int, CorrTrackTracker]:
        cfg = CorrTrackConfig(merging=False, recovery_rule=rule)  # type: ignore[arg-type]
        tracker = CorrTrackTracker(ZeroMotionCorrespondences(), GuessingEstimator(gt, images), cfg)
        tracker.log_recovery = True
        out = run_tracker(tracker, images, det)
        rec = [
            (t, p.xy[i, 0, 0])
            for t, f in enumerate(out.frames)
            for i, p in [(i, f.poses) for i in range(len(f.poses))]
            if p.extras[i].get("recovered")
        ]
        ghosts = sum(t >= 4 and abs(x - 200) < 60 for t, x in rec)
        return ghosts, len(rec) - ghosts, tracker

    ghosts, true, _ = recovered("paper")
    assert ghosts > 0 and true == 3  # the paper's filters keep the confident guesses where person 0 was
    ghosts, true, agreeing = recovered("agreement")
    assert ghosts == 0 and true == 3
    log = agreeing.recovery_log
    assert sum(c.accepted for c in log) == agreeing.counts["recovered"]
    assert min(c.agreement for c in log if c.accepted) >= 0.5
    assert sum(c.agreement < 0.5 for c in log) == 1  # the guess of frame 4; person 0's track ends there
    assert all(c.correspondence == 1.0 for c in log)  # zero motion: every joint 'found'
    assert CorrTrackTracker(ZeroMotionCorrespondences()).recovery_log == []
    with pytest.raises(ValueError, match="recovery_min_agreement"):
        CorrTrackConfig(recovery_min_agreement=2.0)


class DescribingZeroMotion(ZeroMotionCorrespondences):
    """Zero motion that also describes a person: the one-hot of its ground-truth identity (an oracle descriptor)."""

    def __init__(self, gt: PoseSequence, images: list[np.ndarray]) -> None:
        self.gt = gt
        self.frame_of = FrameIndex(images)

    def embed(self, image: np.ndarray) -> int:
        return self.frame_of(image)

    def describe(self, handle: int, points: np.ndarray) -> np.ndarray:
        gt = self.gt.frames[handle].poses
        out = np.zeros((len(points), 8))
        for i, p in enumerate(np.asarray(points, float)):
            ok = np.isfinite(p).all(-1)
            if ok.any() and len(gt):
                d = np.linalg.norm(gt.xy[:, ok] - p[ok], axis=-1).mean(1)
                out[i, int(gt.track_ids[d.argmin()])] = 1.0
        return out


def test_person_descriptors_find_a_person_who_comes_back_elsewhere():
    """Person 1 is gone for 6 frames and comes back 250 px away: correspondences cannot follow, descriptors can."""
    gt = walkers(20, [(120, 180), (300, 180)], [(2, 0), (0, 0)])
    moved = walkers(20, [(550, 180)], [(0, 0)])
    frames = []
    for t, f in enumerate(gt.frames):
        p = f.poses
        if 6 <= t < 12:
            p = p[p.track_ids == 0]
        elif t >= 12:
            p = Poses.concat([p[p.track_ids == 0], moved.frames[t].poses.replace(track_ids=np.array([1]))])
        frames.append(p)
    gt = gt.with_poses(frames)
    images = frame_images(20)
    det = detections_from(gt)

    def ids(**changes: object) -> tuple[list[int], CorrTrackTracker]:
        cfg = CorrTrackConfig(recovery=False, **changes)  # type: ignore[arg-type]
        tracker = CorrTrackTracker(DescribingZeroMotion(gt, images), None, cfg)
        return ids_of(run_tracker(tracker, images, det), gt, 1), tracker

    assert len(set(ids(merging=False, lost_track_frames=8)[0])) == 2  # its last pose, unmoved, is 250 px off
    found, tracker = ids(merging=False, lost_track_frames=8, lost_track_motion="descriptor")
    assert len(found) == 14 and len(set(found)) == 1 and tracker.counts["resumed"] == 1
    assert len(set(ids(merging=False, lost_track_frames=5, lost_track_motion="descriptor")[0])) == 2  # gap 6 > 5
    assert len(set(ids(merging=True)[0])) == 2  # Eq. 2 alone: the propagated poses are 250 px away
    merged, tracker = ids(merging=True, merge_descriptor_weight=0.6)
    assert len(set(merged)) == 1 and len(tracker.merges) == 1
    assert len(set(ids_of(tracker.finish(), gt, 0))) == 1  # person 0 keeps its one id
    plain = CorrTrackTracker(ZeroMotionCorrespondences(), None, CorrTrackConfig(merge_descriptor_weight=0.5))
    with pytest.raises(ValueError, match="describe"):
        plain.step(0, images[0], det.frames[0].poses)


def test_a_descriptor_veto_keeps_a_newcomer_from_taking_a_lost_track():
    """Person 1 leaves after frame 5; in frame 12 person 2 steps in where person 1 stood: motion alone resumes
    person 1's track with the newcomer, the descriptors (an oracle here) say it is someone else."""
    gt = walkers(20, [(120, 180), (300, 180)], [(2, 0), (0, 0)])
    frames = []
    for t, f in enumerate(gt.frames):
        p = f.poses
        if 6 <= t < 12:
            p = p[p.track_ids == 0]
        elif t >= 12:
            p = p.replace(track_ids=np.where(p.track_ids == 1, 2, p.track_ids))
        frames.append(p)
    gt = gt.with_poses(frames)
    images = frame_images(20)
    det = detections_from(gt)

    def run(**changes: object) -> tuple[PoseSequence, CorrTrackTracker]:
        cfg = CorrTrackConfig(recovery=False, merging=False, lost_track_frames=8, **changes)  # type: ignore[arg-type]
        tracker = CorrTrackTracker(DescribingZeroMotion(gt, images), None, cfg)
        return run_tracker(tracker, images, det), tracker

    for motion in ("velocity", "correspondences"):
        out, tracker = run(lost_track_motion=motion)
        assert set(ids_of(out, gt, 1)) == set(ids_of(out, gt, 2)) and tracker.counts["resumed"] == 1
        out, tracker = run(lost_track_motion=motion, lost_track_min_similarity=0.5)
        assert not set(ids_of(out, gt, 1)) & set(ids_of(out, gt, 2))
        assert tracker.counts.get("resumed", 0) == 0 and tracker.counts["resume_vetoed"] == 1
    with pytest.raises(ValueError, match="lost_track_min_similarity"):
        CorrTrackConfig(lost_track_min_similarity=1.5)


def test_appearance_finds_a_lost_person_the_motion_misses_within_reach():
    """Person 1 is gone for 6 frames and comes back 150 px (1.25 heights) to the side: no box overlap with its
    last pose, so motion alone starts a new track; the descriptor stage resumes it when 150 px is within reach,
    and never gives the track to a newcomer whose descriptor differs."""
    gt = walkers(20, [(120, 180), (300, 180)], [(0, 0), (0, 0)])
    moved = walkers(20, [(450, 180)], [(0, 0)])
    frames, frames_new = [], []
    for t, f in enumerate(gt.frames):
        p = f.poses
        if 6 <= t < 12:
            p = p[p.track_ids == 0]
        elif t >= 12:
            back = moved.frames[t].poses
            frames_new.append(Poses.concat([p[p.track_ids == 0], back.replace(track_ids=np.array([2]))]))
            p = Poses.concat([p[p.track_ids == 0], back.replace(track_ids=np.array([1]))])
        if t < 12:
            frames_new.append(p)
        frames.append(p)
    images = frame_images(20)

    def ids(seq: PoseSequence, person: int, **changes: object) -> tuple[list[int], list[int], CorrTrackTracker]:
        cfg = CorrTrackConfig(recovery=False, merging=False, lost_track_frames=8, **changes)  # type: ignore[arg-type]
        tracker = CorrTrackTracker(DescribingZeroMotion(seq, images), None, cfg)
        out = run_tracker(tracker, images, detections_from(seq))
        return ids_of(out, seq, 1), ids_of(out, seq, person), tracker

    same = gt.with_poses(frames)
    for motion in ("velocity", "correspondences"):
        before, _, _ = ids(same, 1, lost_track_motion=motion)
        assert len(set(before)) == 2  # the motion cannot bridge 150 px
        found, _, tracker = ids(
            same, 1, lost_track_motion=motion, lost_track_reid_similarity=0.5, lost_track_reid_reach=2
        )
        assert len(set(found)) == 1 and tracker.counts["reidentified"] == 1
        far, _, tracker = ids(
            same, 1, lost_track_motion=motion, lost_track_reid_similarity=0.5, lost_track_reid_reach=0.5
        )
        assert len(set(far)) == 2 and tracker.counts.get("reidentified", 0) == 0
    other = gt.with_poses(frames_new)
    first, newcomer, tracker = ids(other, 2, lost_track_reid_similarity=0.5, lost_track_reid_reach=2)
    assert not set(first) & set(newcomer) and tracker.counts.get("reidentified", 0) == 0
    with pytest.raises(ValueError, match="lost_track_reid_reach"):
        CorrTrackConfig(lost_track_reid_reach=-1)


def test_descriptor_settings_pass_empty_frames():
    """Frames without a detection are normal: every descriptor option steps through them."""
    gt = walkers(12, [(120, 180), (300, 180)], [(2, 0), (0, 0)])
    gt = gt.with_poses([f.poses if not 4 <= t < 7 else f.poses[:0] for t, f in enumerate(gt.frames)])
    images = frame_images(12)
    cfg = CorrTrackConfig(
        lost_track_frames=8,
        lost_track_min_similarity=0.5,
        lost_track_reid_similarity=0.5,
        merge_descriptor_weight=0.5,
    )
    tracker = CorrTrackTracker(DescribingZeroMotion(gt, images), None, cfg)
    out = run_tracker(tracker, images, detections_from(gt))
    assert [len(f.poses) for f in out.frames][3:8] == [2, 0, 0, 0, 2]
    assert len(set(ids_of(out, gt, 0))) == 1 and len(set(ids_of(out, gt, 1))) == 1


class CoarseGridModel(ZeroMotionCorrespondences):
    """Zero motion seen through a coarse map: every joint lands ``offset`` px to the right, confidence 0.5."""

    def __init__(self, grid_size: int | None, offset: float) -> None:
        self.offset = offset
        if grid_size is not None:
            self.grid_size = grid_size

    def propagate(self, src: object, dst: object, points: np.ndarray) -> np.ndarray:
        out = super().propagate(src, dst, points)
        out[..., 0] += self.offset
        out[..., 2] *= 0.5
        return out


def test_correspondence_maps_are_modelled_on_the_models_own_grid():
    """corr_grid_size=0: the modelled map is 2 cells of the model's grid wide (10 px on a 640 px frame for the
    reference grid of 128, 20 px for a 64 grid), so a half-confident match one 64-grid cell off still counts
    for a coarse model and the walker keeps its id; on the reference grid it does not."""
    gt = walkers(6, [(200, 150), (450, 150)], [(0, 0), (0, 0)])
    det = detections_from(gt)
    cfg = CorrTrackConfig(merging=False, recovery=False, min_track_length=1)

    def ids(model: CoarseGridModel, **changes: object) -> tuple[int, set[int]]:
        tracker = CorrTrackTracker(model, None, dataclasses.replace(cfg, **changes))
        out = run_tracker(tracker, frame_images(6), det)
        return tracker.corr_grid, {int(i) for f in out.frames for i in f.poses.track_ids}

    assert ids(CoarseGridModel(64, 12.0)) == (64, {0, 1})
    grid, kept = ids(CoarseGridModel(64, 12.0), corr_grid_size=128)
    assert grid == 128 and len(kept) == 12  # the same matches below tau_corr: new ids every frame
    assert ids(CoarseGridModel(None, 0.0))[0] == 128  # models without a grid: the reference grid
    with pytest.raises(ValueError, match="corr_grid_size"):
        CorrTrackConfig(corr_grid_size=-1)
