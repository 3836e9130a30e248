"""The vectorized PCKh person assignment equals a plain loop written from the evaluation description."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from corrtrack.evaluate.posetrack import assign_persons


def reference_assignment(dist: np.ndarray, gt_has: np.ndarray) -> list[int]:
    """evaluation.md section 6 step 2, one element at a time."""
    num_pr, num_gt, num_joints = dist.shape
    pck = [[0.0] * num_gt for _ in range(num_pr)]
    for p in range(num_pr):
        for g in range(num_gt):
            hits = sum(1 for j in range(num_joints) if dist[p, g, j] <= 0.5)
            annotated = int(gt_has[g].sum())
            pck[p][g] = hits / annotated if annotated > 0 else float(hits)
    for p in range(num_pr):  # each prediction keeps only its best GT (first on ties)
        best = max(range(num_gt), key=lambda g: (pck[p][g], -g))
        for g in range(num_gt):
            if g != best:
                pck[p][g] = 0.0
    gt_of_pr = [-1] * num_pr
    for g in range(num_gt):  # each GT takes the prediction with the largest value (first on ties)
        best_p = max(range(num_pr), key=lambda p: (pck[p][g], -p))
        if pck[best_p][g] > 0:
            gt_of_pr[best_p] = g
    return gt_of_pr


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    num_pr=st.integers(1, 5),
    num_gt=st.integers(1, 5),
    coarse=st.booleans(),
)
def test_vectorized_assignment_equals_the_reference(seed, num_pr, num_gt, coarse):
    rng = np.random.default_rng(seed)
    dist = rng.uniform(0, 1.2, (num_pr, num_gt, 15))
    if coarse:  # many exact ties
        dist = np.round(dist * 2) / 2
    gt_has = rng.random((num_gt, 15)) < 0.8
    pr_has = rng.random((num_pr, 15)) < 0.8
    dist = np.where(gt_has[None] & pr_has[:, None], dist, np.inf)
    assert assign_persons(dist, gt_has).tolist() == reference_assignment(dist, gt_has)
