"""Empty frames, zero persons, one-frame sequences and missing joints are normal cases for the evaluator."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corrtrack.evaluate import evaluate
from corrtrack.poses import Frame, Poses, PoseSequence


@st.composite
def sequences(draw, num_frames: int, prediction: bool):
    frames = []
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    for t in range(num_frames):
        n = draw(st.integers(0, 4))
        kps = np.concatenate([rng.uniform(1, 200, (n, 17, 2)), np.ones((n, 17, 1))], -1)
        kps[rng.random((n, 17)) < draw(st.floats(0, 1))] = 0  # missing joints, up to all of them
        ids = rng.permutation(6)[:n]
        heads = np.tile([50, 50, 20, 25.0], (n, 1))
        scores = rng.random((n, 17)) if prediction and draw(st.booleans()) else None
        regions = [np.array([[0, 0], [60, 0], [60, 60], [0, 60.0]])] if draw(st.booleans()) else []
        poses = Poses.create(kps, keypoint_scores=scores, head_boxes=heads, track_ids=ids)
        frames.append(Frame(f"images/val/000001_mpii_test/{t:06d}.jpg", poses, t, True, regions))
    return PoseSequence("000001_mpii_test", frames)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), num_frames=st.integers(1, 6))
def test_any_valid_input_evaluates(data, num_frames):
    gt = data.draw(sequences(num_frames, prediction=False))
    pred = data.draw(sequences(num_frames, prediction=True))
    r = evaluate(gt, pred, hota=True)
    ap = r.ap.ap[np.isfinite(r.ap.ap)]
    assert ((ap >= 0) & (ap <= 100 + 1e-9)).all()
    mota = r.mot_metrics["mota"]
    assert (mota[np.isfinite(mota)] <= 100 + 1e-9).all()
    assert 0 <= r.hota.hota <= 1 and 0 <= r.hota.assa <= 1
    same = evaluate(gt, gt)  # ground truth against itself: every annotated joint type is perfect
    annotated = same.ap.num_gt > 0
    assert np.allclose(same.ap.ap[:15][annotated], 100)
    assert (same.ap.ap[:15][~annotated] == 0).all()  # no ground truth and no prediction: AP 0, as officially
