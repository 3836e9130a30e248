"""Batching over frames and sequences changes nothing: per-frame reference, worker processes, progress."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_sequence
from corrtrack.evaluate import evaluate, evaluate_dirs
from corrtrack.evaluate.posetrack import ap_samples, assign_persons, frame_distances, sequence_pairs
from corrtrack.evaluate.prepare import prepare_sequence
from corrtrack.formats import save_sequence
from corrtrack.poses import Frame, Poses, PoseSequence


def tied_sequence(rng: np.random.Generator, num_frames: int, prediction: bool) -> PoseSequence:
    """People close together on an integer grid, so PCKh counts tie often."""
    frames = []
    for t in range(num_frames):
        n = int(rng.integers(0, 5))
        kps = np.concatenate([rng.integers(40, 52, (n, 17, 2)).astype(float), np.ones((n, 17, 1))], -1)
        kps[rng.random((n, 17)) < 0.2] = 0
        heads = np.tile([0.0, 0.0, 8.0, 8.0], (n, 1))
        scores = np.round(rng.random((n, 17)), 1) if prediction else None
        poses = Poses.create(kps, keypoint_scores=scores, head_boxes=heads, track_ids=rng.permutation(9)[:n])
        frames.append(Frame(f"images/val/000001_mpii_test/{t:06d}.jpg", poses, t, True, []))
    return PoseSequence("000001_mpii_test", frames)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), num_frames=st.integers(1, 8))
def test_batched_labels_equal_the_per_frame_assignment(seed, num_frames):
    rng = np.random.default_rng(seed)
    seq = prepare_sequence(tied_sequence(rng, num_frames, False), tied_sequence(rng, num_frames, True), "g", "p")
    pairs = sequence_pairs(seq)
    samples = ap_samples(seq, pairs)
    expected = []
    for f, fr in enumerate(seq.frames()):
        labels = np.zeros(fr.pr_has.shape, dtype=bool)
        if len(fr.pr_ids) and len(fr.gt_ids):
            dist = frame_distances(fr)
            block = pairs.dist[pairs.start[f] : pairs.start[f + 1]].reshape(dist.shape)
            np.testing.assert_array_equal(block, dist)
            gt_of_pr = assign_persons(dist, fr.gt_has)
            hit = np.flatnonzero(gt_of_pr >= 0)
            labels[hit] = dist[hit, gt_of_pr[hit]] <= 0.5
        expected.append(labels & fr.pr_has)
    np.testing.assert_array_equal(samples.labels, np.concatenate(expected) if expected else samples.labels)
    np.testing.assert_array_equal(samples.num_gt, seq.gt_has.sum(0))


def _pair_set(num: int) -> tuple[list[PoseSequence], list[PoseSequence]]:
    gts = [make_sequence(num_frames=60, persons=3, seed=s, name=f"{s:06d}_mpii_test") for s in range(num)]
    preds = [make_sequence(num_frames=60, persons=3, seed=s, name=f"{s:06d}_mpii_test") for s in range(num)]
    for i, p in enumerate(preds):
        for t, f in enumerate(p.frames):
            f.poses.keypoints[:, :, :2] += (t % 7) * 0.8 + i  # some joints drift out of the threshold
            if t >= 20 + i:
                f.poses.track_ids[:] = f.poses.track_ids[::-1]
    return gts, preds


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.ap.ap, b.ap.ap)
    for name in ("num_gt", "misses", "false_positives", "switches", "matches", "sum_d_events"):
        np.testing.assert_array_equal(getattr(a.mot, name), getattr(b.mot, name))
    assert [s.name for s in a.sequences] == [s.name for s in b.sequences]


def test_workers_and_progress_in_memory():
    gts, preds = _pair_set(4)
    seen: list[tuple[int, int]] = []
    serial = evaluate(gts, preds, workers=1)
    parallel = evaluate(gts, preds, workers=2, progress=lambda done, total: seen.append((done, total)))
    _same(serial, parallel)
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert serial.mot.switches.sum() > 0


def test_workers_read_the_files_themselves(tmp_path, monkeypatch):
    from corrtrack.evaluate import api

    gts, preds = _pair_set(3)
    for g, p in zip(gts, preds):
        save_sequence(g, tmp_path / "gt" / f"{g.name}.json", "posetrack18")
        save_sequence(p, tmp_path / "pred" / f"{p.name}.json", "posetrack17")
    monkeypatch.setattr(api, "_PARALLEL_MIN_BYTES", 0)
    seen: list[tuple[int, int]] = []
    progress = lambda *a: seen.append(a)  # noqa: E731
    serial = evaluate_dirs(tmp_path / "gt", tmp_path / "pred", order="sorted", workers=1, progress=progress)
    parallel = evaluate_dirs(tmp_path / "gt", tmp_path / "pred", order="sorted", workers=2)
    _same(serial, parallel)
    _same(serial, evaluate(gts, preds))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_a_bad_file_read_by_a_worker_gives_the_same_clear_error(tmp_path, monkeypatch):
    import pytest

    from corrtrack.errors import FormatError
    from corrtrack.evaluate import api

    gts, preds = _pair_set(3)
    for g, p in zip(gts, preds):
        save_sequence(g, tmp_path / "gt" / f"{g.name}.json", "posetrack18")
        save_sequence(p, tmp_path / "pred" / f"{p.name}.json", "posetrack18")
    (tmp_path / "pred" / "000001_mpii_test.json").write_text('{"images": [')
    monkeypatch.setattr(api, "_PARALLEL_MIN_BYTES", 0)
    for workers in (1, 2):
        with pytest.raises(FormatError, match=r"000001_mpii_test\.json: invalid JSON"):
            evaluate_dirs(tmp_path / "gt", tmp_path / "pred", workers=workers)


def test_a_person_without_a_keypoint_list_is_dropped():
    gt = make_sequence(num_frames=4, persons=2)
    empty = make_sequence(num_frames=4, persons=2)
    ghost = make_sequence(num_frames=4, persons=2)
    empty.frames[1].poses = empty.frames[1].poses[[]]
    ghost.frames[1].poses = ghost.frames[1].poses[[0]].replace(has_keypoints=np.zeros(1, dtype=bool))
    a, b = evaluate(gt, empty).mot, evaluate(gt, ghost).mot
    for name in ("num_gt", "misses", "false_positives", "switches", "matches"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    kept = evaluate(gt, ghost.with_poses([f.poses.replace(has_keypoints=np.ones(len(f.poses), bool)) for f in ghost]))
    assert kept.mot.num_gt.sum() != b.num_gt.sum()  # kept, it would switch the frame back to real counting
