"""The frame-to-frame baselines as per-frame Trackers, and the assignment they use."""

from __future__ import annotations

import numpy as np
import pytest

from corrtrack.interfaces import Tracker
from corrtrack.poses import Poses
from corrtrack.tracking import FrameToFrameConfig, FrameToFrameTracker, assign


def _person(x: float, y: float = 100.0) -> np.ndarray:
    """A 17-joint stick figure 100 px tall with its top-left near (x, y)."""
    kps = np.zeros((17, 3))
    kps[:, 0] = x + np.linspace(0, 40, 17)
    kps[:, 1] = y + np.linspace(0, 100, 17)
    kps[:, 2] = 1
    return kps


def _frame(*xs: float) -> Poses:
    if not xs:
        return Poses.empty()
    kps = np.stack([_person(x) for x in xs])
    return Poses.create(kps, keypoint_scores=np.full(kps.shape[:2], 0.9))


@pytest.mark.parametrize("similarity", ["iou", "oks"])
def test_ids_are_kept_through_a_clean_walk(similarity):
    tracker = FrameToFrameTracker(FrameToFrameConfig(similarity=similarity, threshold=0.3))
    assert isinstance(tracker, Tracker)
    ids = [tracker.step(t, None, _frame(10 + 3 * t, 300 - 3 * t)).track_ids.tolist() for t in range(20)]
    assert all(i == [0, 1] for i in ids)
    seq = tracker.finish()
    assert len(seq) == 20 and set(seq.tracks()) == {0, 1}


def test_a_gap_longer_than_allowed_gives_a_new_id_and_ids_are_never_reused():
    tracker = FrameToFrameTracker(FrameToFrameConfig(similarity="iou", threshold=0.3, max_age=2))
    seen = []
    frames = [_frame(10), _frame(), _frame(10), _frame(), _frame(), _frame(), _frame(10)]
    for t, p in enumerate(frames):
        seen.append(tracker.step(t, None, p).track_ids.tolist())
    # one empty frame is bridged (max_age 2), three are not
    assert seen[0] == [0] and seen[2] == [0] and seen[6] == [1]


def test_persons_appearing_together_get_distinct_ids():
    tracker = FrameToFrameTracker()
    out = tracker.step(0, None, _frame(10, 10, 10))
    assert len(set(out.track_ids.tolist())) == 3
    out = tracker.step(1, None, _frame(10, 10, 10, 400))
    assert len(set(out.track_ids.tolist())) == 4 and 3 in out.track_ids


def test_fresh_tracker_owns_its_ids():
    a, b = FrameToFrameTracker(), FrameToFrameTracker()
    a.step(0, None, _frame(10, 200))
    assert b.step(0, None, _frame(10)).track_ids.tolist() == [0]


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="max_age"):
        FrameToFrameConfig(max_age=0)


def test_greedy_takes_the_best_pair_first_and_hungarian_the_best_total():
    sim = np.array([[0.9, 0.8], [0.85, 0.1]])
    r, c = assign(sim, 0.05, "greedy")
    assert sorted(zip(r.tolist(), c.tolist())) == [(0, 0), (1, 1)]
    r, c = assign(sim, 0.05, "hungarian")
    assert sorted(zip(r.tolist(), c.tolist())) == [(0, 1), (1, 0)]
    r, c = assign(sim, 0.5, "hungarian")  # below the threshold nothing matches
    assert sorted(zip(r.tolist(), c.tolist())) == [(0, 1), (1, 0)]
    r, c = assign(np.array([[np.nan, 0.2]]), 0.1, "greedy")
    assert (r.tolist(), c.tolist()) == ([0], [1])
    assert assign(np.zeros((0, 3)), 0.1)[0].size == 0


def test_greedy_matches_a_reference_loop_on_random_matrices():
    rng = np.random.default_rng(0)
    for _ in range(50):
        sim = rng.integers(0, 5, size=(rng.integers(1, 6), rng.integers(1, 6))) / 4  # many ties
        used_r, used_c, pairs = set(), set(), []
        cells = sorted((-sim[i, j], i, j) for i in range(sim.shape[0]) for j in range(sim.shape[1]))
        for s, i, j in cells:
            if -s >= 0.5 and i not in used_r and j not in used_c:
                used_r.add(i)
                used_c.add(j)
                pairs.append((i, j))
        r, c = assign(sim, 0.5, "greedy")
        assert sorted(zip(r.tolist(), c.tolist())) == sorted(pairs)
