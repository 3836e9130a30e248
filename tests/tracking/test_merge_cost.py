"""Merging's cost (issue #25): fewer merge propagations, the same merges and ids."""

from __future__ import annotations

import numpy as np
import pytest
from test_corrtrack_tracker import frame_images
from test_output_stream import assert_same_sequence
from test_unique_ids import random_scene

from corrtrack.testing import OracleCorrespondences, ZeroMotionCorrespondences
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig, CorrTrackTracker, run_tracker


class CountingCorrespondences(ZeroMotionCorrespondences):
    """Zero motion, counting the propagated persons per (source, destination) call."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, object, int]] = []

    def embed(self, image: np.ndarray) -> int:
        return int(image[0, 0, 0]) + 256 * int(image[0, 0, 1])

    def propagate(self, src: object, dst: object, points: np.ndarray) -> np.ndarray:
        self.calls.append((src, dst, len(points)))
        return super().propagate(src, dst, points)


@pytest.mark.parametrize("seed", [2, 3, 5])
def test_pruning_keeps_the_merges_and_ids_and_propagates_less(seed: int):
    gt, det = random_scene(np.random.default_rng(seed), n=30)
    images = frame_images(len(gt))
    saved = 0
    for threshold in (0.3, 0.5, 0.7):
        runs = {}
        for prune in (False, True):
            cfg = CorrTrackConfig(recovery=False, merge_threshold=threshold, merge_prune=prune, interpolate_gaps=3)
            model = CountingCorrespondences()
            tracker = CorrTrackTracker(model, None, cfg)
            runs[prune] = (tracker, run_tracker(tracker, images, det), model)
        (full, a, m_full), (pruned, b, m_pruned) = runs[False], runs[True]
        assert full.merges == pruned.merges
        assert_same_sequence(a, b)
        exact, bounded = full.merge_candidates, pruned.merge_candidates
        assert [c[:2] for c in exact] == [c[:2] for c in bounded]  # the same pairs were considered
        for (_, _, s, _), (_, _, u, _) in zip(exact, bounded):
            assert u == s or (s <= u <= threshold)  # exact, or an upper bound that rules the pair out
        assert full.timings["merge_propagate"] > 0
        # the online part is the same, so the difference of all propagated persons is merging's saving
        saved += sum(n for _, _, n in m_full.calls) - sum(n for _, _, n in m_pruned.calls)
        assert pruned.counts.get("merge_propagated", 0) <= full.counts.get("merge_propagated", 0)
    assert saved > 0


def test_one_propagation_call_per_frame_pair_and_stage():
    gt, det = random_scene(np.random.default_rng(3), n=30)
    images = frame_images(len(gt))
    model = CountingCorrespondences()
    tracker = CorrTrackTracker(model, None, CorrTrackConfig(recovery=False, merge_threshold=0.3))
    stages = []
    original = tracker._propagate

    def spy(stage: str, src: object, dst: object, points: np.ndarray) -> np.ndarray:
        stages.append((stage, src, dst))
        return original(stage, src, dst, points)

    tracker._propagate = spy
    run_tracker(tracker, images, det)
    merge_calls = [s for s in stages if s[0] == "merge_propagate"]
    assert merge_calls
    # each (source, destination) frame pair is called at most twice: end and centre poses, then start poses
    pairs = [(s, d) for _, s, d in merge_calls]
    assert max(pairs.count(p) for p in set(pairs)) <= 2


def test_oracle_merges_do_not_change_with_pruning():
    gt, det = random_scene(np.random.default_rng(13), n=30)
    images = frame_images(len(gt))
    outs = []
    for prune in (False, True):
        cfg = CorrTrackConfig(recovery=False, merge_threshold=0.5, merge_prune=prune, lost_track_frames=3)
        tracker = CorrTrackTracker(OracleCorrespondences(gt, images), None, cfg)
        outs.append((run_tracker(tracker, images, det), tracker.merges))
    assert outs[0][1] == outs[1][1]
    assert_same_sequence(outs[0][0], outs[1][0])
