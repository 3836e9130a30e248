"""HOTA equals TrackEval's on the same similarity inputs; keypoint HOTA behaves as PoseTrack21 describes."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_sequence
from corrtrack.evaluate import evaluate
from corrtrack.evaluate.hota import HotaCounts, hota_sequence


def _random_sequence(rng, frames=25, num_gt=6, num_tr=8):
    gids, tids, sims = [], [], []
    for _ in range(frames):
        g = np.sort(rng.choice(num_gt, rng.integers(0, 5), replace=False))
        t = np.sort(rng.choice(num_tr, rng.integers(0, 6), replace=False))
        s = rng.uniform(0, 1, (len(g), len(t)))
        s[s < 0.35] = 0
        gids.append(g)
        tids.append(t)
        sims.append(s)
    return gids, tids, sims


@pytest.fixture
def trackeval_hota():
    trackeval = pytest.importorskip("trackeval", reason="trackeval is the reference implementation")
    return trackeval.metrics.HOTA()


def test_hota_equals_trackeval(trackeval_hota):
    rng = np.random.default_rng(0)
    per_seq, ours = {}, []
    for k in range(6):
        gids, tids, sims = _random_sequence(rng)
        data = dict(
            num_gt_ids=6,
            num_tracker_ids=8,
            num_gt_dets=sum(map(len, gids)),
            num_tracker_dets=sum(map(len, tids)),
            gt_ids=gids,
            tracker_ids=tids,
            similarity_scores=sims,
            num_timesteps=len(gids),
        )
        ref = trackeval_hota.eval_sequence(data)
        mine = hota_sequence(gids, tids, sims)
        for name, value in (("HOTA", mine.hota), ("DetA", mine.deta), ("AssA", mine.assa), ("LocA", mine.loca)):
            np.testing.assert_allclose(value, ref[name], rtol=0, atol=1e-12, err_msg=name)
        per_seq[f"s{k}"] = ref
        ours.append(mine)
    combined_ref = trackeval_hota.combine_sequences(per_seq)
    combined = HotaCounts.combine(ours)
    for name, value in (("HOTA", combined.hota), ("DetA", combined.deta), ("AssA", combined.assa)):
        np.testing.assert_allclose(value, combined_ref[name], rtol=0, atol=1e-12, err_msg=name)


def test_keypoint_hota_perfect_and_identity_swap():
    gt = make_sequence(num_frames=6, persons=2)
    perfect = evaluate(gt, make_sequence(num_frames=6, persons=2), hota=True).hota
    assert perfect.hota == pytest.approx(1.0) and perfect.assa == pytest.approx(1.0)
    swapped = make_sequence(num_frames=6, persons=2)
    for f in swapped.frames[3:]:
        f.poses.track_ids[:] = f.poses.track_ids[::-1]
    r = evaluate(gt, swapped, hota=True).hota
    assert r.deta == pytest.approx(1.0)  # detection untouched
    assert 0.3 < r.assa < 0.8  # association broken halfway


def test_keypoint_hota_similarity_scale():
    gt = make_sequence(num_frames=3, persons=1)
    pred = make_sequence(num_frames=3, persons=1)
    head = 0.6 * np.hypot(20, 25)
    for f in pred.frames:
        f.poses.keypoints[:, :, 0] += 0.25 * head  # d = 0.25 -> similarity 1 - 0.25 / 0.5001
    r = evaluate(gt, pred, hota=True).hota
    loca = np.array([c.loca for c in r.per_joint])  # (15 joints, 19 alphas)
    np.testing.assert_allclose(loca[:, :10], 1 - 0.25 / 0.5001, atol=1e-9)
    np.testing.assert_allclose(loca[:, 10:], 1.0)  # TrackEval's LocA where nothing matched
    # detected at alphas <= 0.5 only: 10 of 19 alphas
    assert r.deta == pytest.approx(10 / 19, abs=1e-9)
