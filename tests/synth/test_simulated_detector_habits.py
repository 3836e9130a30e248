"""The simulated detector has a real detector's habits: persistent misses, correlated jitter, merges, FPs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from corrtrack.geometry import box_iou
from corrtrack.synth import SimulatedDetectorConfig, make_specs, render_sequence, simulate_detections

CLEAN = {"miss_rate": 0.0, "occlusion_miss": 0.0, "duplicate_rate": 0.0, "false_positives": 0.0}


@pytest.fixture(scope="module")
def hard_seq():
    return render_sequence(make_specs("test", ["hard"], 1, 40, 9, "all", 320, 180)[0])


def _match(gt_boxes: np.ndarray, det_boxes: np.ndarray, thr: float = 0.5) -> np.ndarray:
    if not len(gt_boxes) or not len(det_boxes):
        return np.zeros(len(gt_boxes), bool)
    return (box_iou(gt_boxes, det_boxes) >= thr).any(1)


def test_misses_persist_and_follow_occlusion(hard_seq):
    gt = hard_seq.sequence
    cfg = SimulatedDetectorConfig(**{**CLEAN, "miss_rate": 0.1, "occlusion_miss": 0.6}, jitter=0.0, merge_rate=0.0)
    det = simulate_detections(gt, cfg, seed=0, distractors=hard_seq.distractors)
    runs: dict[int, list[int]] = {}
    occl_found, occl_missed = [], []
    current: dict[int, int] = {}
    for g, d in zip(gt.frames, det.frames):
        found = _match(g.poses.boxes, d.poses.boxes, 0.99)
        occ = 1 - g.poses.present[:, [0, 1, 2, *range(5, 17)]].mean(1)
        occl_found += occ[found].tolist()
        occl_missed += occ[~found].tolist()
        for tid, f in zip(g.poses.track_ids.tolist(), found.tolist()):
            if not f:
                current[tid] = current.get(tid, 0) + 1
            elif current.get(tid):
                runs.setdefault(tid, []).append(current.pop(tid))
    lengths = [r for rs in runs.values() for r in rs]
    assert len(lengths) > 5
    assert np.mean(np.array(lengths) == 1) < 0.6  # independent per-frame misses: about 0.9 last one frame
    assert np.mean(occl_missed) > np.mean(occl_found)


def test_jitter_is_correlated_along_a_track(hard_seq):
    gt = hard_seq.sequence
    cfg = SimulatedDetectorConfig(**CLEAN, jitter=0.05, merge_rate=0.0, part_rate=0.0, distractor_rate=0.0)
    det = simulate_detections(gt, cfg, seed=1)
    errors: dict[int, list[tuple[int, float]]] = {}
    for t, (g, d) in enumerate(zip(gt.frames, det.frames)):
        if not len(d.poses):
            continue
        iou = box_iou(g.poses.boxes, d.poses.boxes)
        for i, tid in enumerate(g.poses.track_ids.tolist()):
            j = int(iou[i].argmax())
            if iou[i, j] > 0.5:
                errors.setdefault(tid, []).append(
                    (t, (d.poses.boxes[j, 0] - g.poses.boxes[i, 0]) / g.poses.boxes[i, 2])
                )
    a, b = [], []
    for seq in errors.values():
        for (t0, e0), (t1, e1) in itertools.pairwise(seq):
            if t1 == t0 + 1:
                a.append(e0)
                b.append(e1)
    assert len(a) > 50
    assert np.corrcoef(a, b)[0, 1] > 0.5


def test_overlapping_people_merge_and_structure_fires(hard_seq):
    gt = hard_seq.sequence
    cfg = SimulatedDetectorConfig(**CLEAN, jitter=0.0, merge_rate=1.0, merge_iou=0.2, distractor_rate=1.0)
    det = simulate_detections(gt, cfg, seed=2, distractors=hard_seq.distractors)
    merges, structure_hits, scores = 0, 0, []
    for g, d, extra in zip(gt.frames, det.frames, hard_seq.distractors):
        b = g.poses.boxes
        for box in d.poses.boxes:
            covers = (box[:2] <= b[:, :2] + 1).all(1) & (box[:2] + box[2:] >= b[:, :2] + b[:, 2:] - 1).all(1)
            merges += covers.sum() >= 2
        if len(extra):
            hit = box_iou(extra, d.poses.boxes).max(1) > 0.5 if len(d.poses) else np.zeros(len(extra), bool)
            structure_hits += int(hit.sum())
        scores += d.poses.scores.tolist()
    assert merges > 0 and structure_hits > 0
    background = simulate_detections(gt, SimulatedDetectorConfig(**{**CLEAN, "false_positives": 5.0}), seed=3)
    gt_boxes = [f.poses.boxes for f in gt.frames]
    fp_scores = [
        s
        for f, gb in zip(background.frames, gt_boxes)
        for s, hit in zip(f.poses.scores, _match(f.poses.boxes, gb, 0.3))
        if not hit
    ]
    assert np.median(fp_scores) < 0.35  # background false positives mostly fall below a usual threshold


def test_poses_have_all_joints_without_a_visibility_leak(hard_seq):
    gt = hard_seq.sequence
    cfg = SimulatedDetectorConfig(**CLEAN, with_poses=True, merge_rate=0.0, flip_rate=0.1, pull_rate=0.5, jitter=0.0)
    det = simulate_detections(gt, cfg, seed=4)
    vis_conf, hid_conf, flips = [], [], 0
    for g, d in zip(gt.frames, det.frames):
        assert d.poses.present.all()  # all 17 joints, every detection
        iou = box_iou(g.poses.boxes, d.poses.boxes)
        for i in range(len(g.poses)):
            j = int(iou[i].argmax())
            if iou[i, j] < 0.99:
                continue
            vis = g.poses.present[i]
            body = np.r_[0:3, 5:17]
            vis_conf += d.poses.keypoint_scores[j, body][vis[body]].tolist()
            hid_conf += d.poses.keypoint_scores[j, body][~vis[body]].tolist()
            lw, rw = 9, 10
            if vis[lw] and vis[rw]:
                gl, gr = g.poses.xy[i, lw], g.poses.xy[i, rw]
                dl = d.poses.xy[j, lw]
                flips += np.linalg.norm(dl - gr) < np.linalg.norm(dl - gl) and np.linalg.norm(gl - gr) > 10
    assert len(hid_conf) > 50 and flips > 0
    v, h = np.array(vis_conf), np.array(hid_conf)
    auc = (v[:, None] > h[None]).mean() + 0.5 * (v[:, None] == h[None]).mean()
    assert 0.65 < auc < 0.95, auc  # tied to occlusion, but no perfect visibility flag


def test_bad_configs_fail_clearly():
    with pytest.raises(ValueError, match="miss_rate"):
        SimulatedDetectorConfig(miss_rate=1.5)
    gt = render_sequence(make_specs("test", ["easy"], 1, 3, 1, "all", 160, 96)[0]).sequence
    with pytest.raises(ValueError, match="distractors has 1 entries for 3 frames"):
        simulate_detections(gt, distractors=[np.zeros((0, 4))])
