"""The ByteTrack-class baseline: Kalman motion through gaps, the lost-track buffer, two-stage association."""

from __future__ import annotations

import numpy as np
import pytest

from corrtrack.interfaces import Tracker
from corrtrack.poses import Poses
from corrtrack.tracking.baselines import ByteTrackConfig, ByteTrackTracker, FrameToFrameConfig, FrameToFrameTracker


def person(x: float, y: float = 100.0) -> np.ndarray:
    """A 17-joint figure 100 px tall and 40 px wide with its top-left at (x, y)."""
    kps = np.zeros((17, 3))
    kps[:, 0] = x + np.linspace(0, 40, 17)
    kps[:, 1] = y + np.linspace(0, 100, 17)
    kps[:, 2] = 1
    return kps


def frame(*people: tuple[float, float]) -> Poses:
    """Persons ``(x, score)``."""
    if not people:
        return Poses.empty()
    kps = np.stack([person(x) for x, _ in people])
    return Poses.create(kps, keypoint_scores=np.full(kps.shape[:2], 0.9), scores=np.array([s for _, s in people]))


def run(tracker: Tracker, frames: list[Poses]) -> list[list[int]]:
    return [tracker.step(t, None, p).track_ids.tolist() for t, p in enumerate(frames)]


def test_motion_and_the_lost_buffer_carry_a_fast_walker_through_a_long_miss():
    frames = [frame((20 + 12 * t, 0.9)) if not 8 <= t < 16 else frame() for t in range(30)]
    ids = run(ByteTrackTracker(), frames)
    assert [i for i in ids if i] == [[0]] * 22  # one id before and after the 8 missed frames
    f2f = run(FrameToFrameTracker(FrameToFrameConfig("iou", 0.3, max_age=10)), frames)
    assert len({i[0] for i in f2f if i}) == 2  # without motion it is 96 px off: a new id
    short = ByteTrackTracker(ByteTrackConfig(track_buffer=5))
    assert len({i[0] for i in run(short, frames) if i}) == 2  # 8 missed frames > a buffer of 5
    assert short.counts["resumed"] == 0


def test_low_scores_only_continue_active_tracks():
    # a person whose score drops to 0.3 (occluded) keeps its id through the second association
    frames = [frame((50 + 3 * t, 0.9 if t < 5 or t > 9 else 0.3)) for t in range(15)]
    tracker = ByteTrackTracker()
    assert run(tracker, frames) == [[0]] * 15 and tracker.counts["second"] == 5
    # without the low stage (low_score = high_score) those frames have nobody, and the person is resumed after
    plain = ByteTrackTracker(ByteTrackConfig(low_score=0.5))
    ids = run(plain, frames)
    assert [len(i) for i in ids] == [1] * 5 + [0] * 5 + [1] * 5 and plain.counts["resumed"] == 1
    # a low-scoring person never starts a track
    assert run(ByteTrackTracker(), [frame((300, 0.4)) for _ in range(5)]) == [[]] * 5


def test_new_tracks_are_confirmed_by_a_second_detection():
    frames = [frame((50, 0.9))] + [frame((50, 0.9), (300, 0.9)) if t != 3 else frame((50, 0.9)) for t in range(1, 8)]
    frames[5] = frame((50, 0.9), (300, 0.9), (500, 0.9))  # a one-frame false positive at x = 500
    ids = run(ByteTrackTracker(), frames)
    assert ids[0] == [0]  # the first frame's people are confirmed at once
    assert ids[1] == [0]  # the newcomer waits for its second detection
    assert ids[2] == [0, 1]
    assert all(500 not in (i for i in row) for row in ids) and ids[5] == [0, 1]  # the one-frame blip never shows
    assert ids[4] == [0, 1]  # missed in frame 3, still the same id (lost buffer)


def test_ids_are_unique_per_frame_on_random_crowds():
    rng = np.random.default_rng(4)
    for _ in range(5):
        xs = rng.uniform(0, 600, 6)
        v = rng.uniform(-10, 10, 6)
        frames = []
        for t in range(25):
            seen = rng.random(6) > 0.3
            frames.append(frame(*[(x + vx * t, s) for x, vx, s, ok in zip(xs, v, rng.uniform(0, 1, 6), seen) if ok]))
        tracker = ByteTrackTracker()
        for ids in run(tracker, frames):
            assert len(set(ids)) == len(ids)
        assert len(tracker.finish()) == 25


def test_bad_settings_and_frame_order():
    with pytest.raises(ValueError, match="low_score"):
        ByteTrackConfig(low_score=0.7, high_score=0.5)
    with pytest.raises(ValueError, match="track_buffer"):
        ByteTrackConfig(track_buffer=-1)
    tracker = ByteTrackTracker()
    tracker.step(2, None, frame())
    with pytest.raises(ValueError, match="must increase"):
        tracker.step(2, None, frame())
