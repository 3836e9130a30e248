"""Streamed tracker outputs (issue #21): the same results as the in-memory finish, with bounded memory."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from test_corrtrack_tracker import detections_from, frame_images, oracle_tracker, remove, walkers
from test_unique_ids import random_scene

from corrtrack.poses import Poses, PoseSequence
from corrtrack.testing import OracleCorrespondences, ZeroMotionCorrespondences
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig, CorrTrackTracker
from corrtrack.tracking.output_stream import FrameSpool, MappedFrames, RecentItems, SpooledFrames


def assert_same_poses(a: Poses, b: Poses) -> None:
    for name in ("keypoints", "keypoint_scores", "boxes", "head_boxes", "scores", "track_ids", "ids", "has_keypoints"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_array_equal(x, y, err_msg=name)  # NaN equals NaN here; values bit for bit
    assert a.extras == b.extras


def assert_same_sequence(a: PoseSequence, b: PoseSequence) -> None:
    assert len(a) == len(b)
    for fa, fb in zip(a.frames, b.frames):
        assert (fa.file_name, fa.image_id) == (fb.file_name, fb.image_id)
        assert_same_poses(fa.poses, fb.poses)


def both_ways(
    make: object, images: list[np.ndarray], det: PoseSequence, tmp: Path
) -> tuple[CorrTrackTracker, PoseSequence, CorrTrackTracker, PoseSequence]:
    """(tracker, result) in memory and streamed through spools in ``tmp``."""
    results = []
    for stream in (False, True):
        tracker = make()  # type: ignore[operator]
        spools = (FrameSpool(tmp / "online.spool"), FrameSpool(tmp / "final.spool")) if stream else None
        if spools:
            tracker.stream_to(*spools)
        for t, (img, f) in enumerate(zip(images, det.frames)):
            tracker.step(t, img, f.poses)
        out = tracker.finish()
        out = PoseSequence(out.name, list(out.frames))  # read the final spool now
        for spool in spools or ():
            spool.remove()
        results += [tracker, out]
    return results[0], results[1], results[2], results[3]


def occlusion_scene() -> tuple[PoseSequence, list[np.ndarray], PoseSequence]:
    """Person 0 occluded for 14 frames (a merge), person 1 missed in frames 22-24 (a gap to interpolate)."""
    gt = walkers(30, [(100, 180), (300, 180), (560, 100)], [(4, 0), (0, 0), (0, 0)])
    gt = remove(gt, 0, range(6, 20))
    gt = remove(gt, 2, range(0, 20))
    det = remove(detections_from(gt), 1, range(22, 25), gt)
    return gt, frame_images(30), det


def test_streamed_finish_equals_the_in_memory_one_with_merges_and_gaps(tmp_path: Path):
    gt, images, det = occlusion_scene()
    base = {"recovery": False, "lost_track_frames": 4, "interpolate_gaps": 14}
    mem, a, streamed, b = both_ways(lambda: oracle_tracker(gt, images, **base), images, det, tmp_path)
    assert mem.merges and mem.merges == streamed.merges  # the occlusion was merged
    assert any(e.get("interpolated") for f in a.frames for e in f.poses.extras)  # and gaps were filled
    assert_same_sequence(a, b)
    assert not list(tmp_path.iterdir())  # the spools are gone


@pytest.mark.parametrize("seed", [2, 3])  # scenes with several merges
def test_streamed_finish_equals_the_in_memory_one_on_random_scenes(tmp_path: Path, seed: int):
    gt, det = random_scene(np.random.default_rng(seed), n=30)
    images = frame_images(len(gt))
    options = itertools.product(
        ("best_first", "chronological", None),  # merge order, or merging off
        ((0, "correspondences"), (4, "velocity")),  # lost tracks
        ((3, 0.3, True), (1, 0.0, True), (5, 0.5, False)),  # min track length, output joint threshold, renumber
    )
    merged = 0
    for order, (lost, motion), (min_len, thr, renumber) in options:
        gaps = 0 if order is None else 3  # interpolated gaps
        cfg = CorrTrackConfig(
            recovery=False,
            merging=order is not None,
            merge_order=order or "best_first",  # type: ignore[arg-type]
            merge_threshold=0.2,
            lost_track_frames=lost,
            lost_track_motion=motion,  # type: ignore[arg-type]
            min_track_length=min_len,
            output_joint_threshold=thr,
            renumber=renumber,
            interpolate_gaps=gaps,
        )
        mem, a, streamed, b = both_ways(
            lambda cfg=cfg: CorrTrackTracker(ZeroMotionCorrespondences(), None, cfg),  # missed people split tracks
            images,
            det,
            tmp_path,
        )
        assert mem.merges == streamed.merges, cfg
        merged += len(mem.merges)
        assert_same_sequence(a, b)
    assert merged  # the scenes did exercise merging


def test_non_finite_joints_switch_the_cleaning_on_as_in_memory(tmp_path: Path):
    gt = walkers(12, [(150, 180), (450, 180)], [(3, 0), (-3, 0)])
    det = detections_from(gt)
    frames = []
    for t, f in enumerate(det.frames):
        p = f.poses
        k = p.keypoints.copy()
        if t == 5:
            k[0, 6, 0] = np.inf  # one joint of one pose is not finite
        frames.append(p.replace(keypoints=k))
    det = det.with_poses(frames)
    images = frame_images(12)
    cfg = CorrTrackConfig(output_joint_threshold=0.0, recovery=False)
    _, a, _, b = both_ways(lambda: CorrTrackTracker(ZeroMotionCorrespondences(), None, cfg), images, det, tmp_path)
    assert_same_sequence(a, b)


def test_streaming_keeps_a_bounded_state_on_a_long_scene(tmp_path: Path):
    n, history = 240, 20
    gt = walkers(n, [(100, 180), (300, 180)], [(0.5, 0), (0, 0)])
    gt = remove(gt, 1, range(100, 110))  # a track that ends, and one that starts: a merge candidate
    images = frame_images(n)
    det = detections_from(gt)
    cfg = CorrTrackConfig(recovery=False, merge_history_frames=history)
    tracker = CorrTrackTracker(OracleCorrespondences(gt, images), None, cfg)
    online, final = FrameSpool(tmp_path / "online.spool"), FrameSpool(tmp_path / "final.spool")
    tracker.stream_to(online, final)
    most_handles, most_poses = 0, 0
    for t, (img, f) in enumerate(zip(images, det.frames)):
        tracker.step(t, img, f.poses)
        most_handles = max(most_handles, len(tracker._handles))
        most_poses = max(most_poses, max(len(s) for s in tracker._track_poses.values()))
    assert isinstance(tracker._frames, RecentItems)
    assert len(tracker._frames._items) <= cfg.lost_track_velocity_frames + 1
    # per track: its start and the frames from its centre on (at most `history` before the current frame)
    assert most_poses <= history + 2
    assert most_handles <= history + 2 + 3 * 3  # the window, plus start, centre and end of each of 3 tracks
    assert len(online) == n
    out = tracker.finish()
    assert len(out) == n and tracker.merges  # the split track was merged back
    with pytest.raises(ValueError, match="last"):
        _ = tracker.online_frames
    online.remove()
    final.remove()


def test_the_history_bound_changes_nothing_for_tracks_shorter_than_twice_it():
    gt, images, det = occlusion_scene()
    outs = []
    for history in (0, 15, 500):
        tracker = oracle_tracker(gt, images, recovery=False, merge_history_frames=history)
        for t, (img, f) in enumerate(zip(images, det.frames)):
            tracker.step(t, img, f.poses)
        outs.append((tracker.merge_candidates, tracker.finish()))
    for cands, seq in outs[1:]:
        assert cands == outs[0][0]
        assert_same_sequence(seq, outs[0][1])
    with pytest.raises(ValueError, match="merge_history_frames"):
        CorrTrackConfig(merge_history_frames=-1)


def test_spool_round_trip_and_recent_items(tmp_path: Path):
    spool = FrameSpool.beside(tmp_path / "seq.json", "frames")
    assert spool.path.parent == tmp_path and spool.path.name.startswith(".seq.json.")
    p = walkers(3, [(100, 100)], [(1, 0)]).frames[2].poses.replace(extras=({"recovered": True},))
    spool.append(7, Poses.empty())
    spool.append(9, p)
    assert len(spool) == 2 and [t for t, _ in spool] == [7, 9]
    assert_same_poses(spool.read(1)[1], p)
    spool.remove()
    assert not spool.path.exists()
    with pytest.raises(ValueError, match="removed"):
        spool.append(1, p)
    r = RecentItems(2)
    for i in range(5):
        r.append(i)
    assert len(r) == 5 and r[-1] == 4 and r[3] == 3
    with pytest.raises(IndexError, match="no longer kept"):
        r[2]
    with pytest.raises(ValueError, match="last 2 of 5"):
        list(r)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An 12-frame video and detections with people missed now and then (so that tracks split and gaps open)."""
    from corrtrack.formats import save_sequence
    from corrtrack.synth import SimulatedDetectorConfig, make_specs, render_sequence_frames, simulate_detections
    from corrtrack.video import VideoWriter

    tmp = tmp_path_factory.mktemp("clip")
    spec = make_specs("val", ["easy"], 1, 12, 3, "all", 192, 128)[0]
    images, gt, _, _ = render_sequence_frames(spec)
    with VideoWriter(tmp / "clip.mp4", fps=25) as w:
        for img in images:
            w.write(img)
    det = simulate_detections(gt, SimulatedDetectorConfig(with_poses=True, miss_rate=0.3), seed=1)
    save_sequence(det, tmp / "det.json", "posetrack18")
    return tmp / "clip.mp4", tmp / "det.json"


def test_track_writes_the_same_files_streamed_and_in_memory(clip: tuple[Path, Path], tmp_path: Path, monkeypatch):
    from corrtrack import pipeline

    item = pipeline.find_inputs(*clip)[0]
    cfg = pipeline.PipelineConfig(poses="detections", correspondences="zero", render=False)
    tcfg = CorrTrackConfig(merge_threshold=0.2, interpolate_gaps=3, min_track_length=2, lost_track_frames=2)
    streamed = pipeline.track_sequence(item, tmp_path / "streamed", cfg, tcfg)
    assert sorted(p.name for p in (tmp_path / "streamed").iterdir()) == ["clip.json", "clip.txt"]  # no spool left
    monkeypatch.setattr(pipeline, "_stream_outputs", lambda tracker, output: ())
    kept = pipeline.track_sequence(item, tmp_path / "memory", cfg, tcfg)
    for a, b in ((streamed.predictions, kept.predictions), (streamed.mot, kept.mot)):
        assert a.read_bytes() == b.read_bytes()
    assert b'"track_id"' in streamed.predictions.read_bytes()


def test_a_failing_run_leaves_no_spool(clip: tuple[Path, Path], tmp_path: Path, monkeypatch):
    from corrtrack import pipeline

    item = pipeline.find_inputs(*clip)[0]
    cfg = pipeline.PipelineConfig(poses="detections", correspondences="zero", render=False)
    seen: list[Path] = []

    def fail(self: CorrTrackTracker) -> PoseSequence:
        seen.extend(s.path for s in self._spools or ())
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(CorrTrackTracker, "finish", fail)
    with pytest.raises(RuntimeError, match="disk is full"):
        pipeline.track_sequence(item, tmp_path / "out", cfg)
    assert len(seen) == 2 and not any(p.exists() for p in seen)
    assert list((tmp_path / "out").iterdir()) == []


def test_lazy_frame_views_index_like_lists(tmp_path: Path) -> None:
    spool = FrameSpool(tmp_path / "s.spool")
    for t in (3, 5, 8):
        spool.append(t, Poses.empty(17))
    frames = SpooledFrames(spool)
    assert [f.image_id for f in frames] == [3, 5, 8]
    assert frames[-1].image_id == 8 and frames[0].file_name == "000003.jpg"
    assert [f.image_id for f in frames[1:]] == [5, 8]
    with pytest.raises(IndexError):
        frames[3]
    mapped = MappedFrames(frames, lambda t, f: f.__class__(f"{t}.png", f.poses, image_id=t))
    assert [f.file_name for f in mapped] == ["0.png", "1.png", "2.png"]
    assert mapped[-1].file_name == "2.png" and [f.image_id for f in mapped[:2]] == [0, 1]
    spool.remove()
