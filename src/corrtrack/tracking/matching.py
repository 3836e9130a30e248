"""Similarity matrices between two sets of persons and the assignment that pairs them.

All functions take whole frames (``Poses``) and return ``(N, M)`` matrices; the
assignment is greedy (best pair first, as CorrTrack's scripts do) or optimal
(Hungarian, ``scipy.optimize.linear_sum_assignment``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from corrtrack.geometry import box_iou, oks_track
from corrtrack.poses import Poses

__all__ = ["Assignment", "assign", "iou_similarity", "oks_similarity"]

Assignment = Literal["greedy", "hungarian"]


def iou_similarity(a: Poses, b: Poses) -> np.ndarray:
    """(N, M) IoU of the persons' boxes (the keypoint box where a box is unknown)."""
    return box_iou(a.box_or_keypoint_box(), b.box_or_keypoint_box())


def oks_similarity(a: Poses, b: Poses, joint_threshold: float = 0.1) -> np.ndarray:
    """(N, M) tracking OKS of the persons' poses (``geometry.oks_track``)."""
    return oks_track(a.xy, a.confidences, b.xy, b.confidences, joint_threshold)


def assign(similarity: np.ndarray, threshold: float, method: Assignment = "hungarian") -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(rows, cols)`` of a similarity matrix, each with similarity >= ``threshold``.

    ``hungarian`` maximises the total similarity; ``greedy`` repeatedly takes the best
    remaining pair (ties: the smaller row, then the smaller column). NaN never matches.
    """
    sim = np.where(np.isnan(similarity), -np.inf, np.asarray(similarity, dtype=np.float64))
    if sim.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if method == "hungarian":
        finite = np.where(np.isfinite(sim), sim, -1e9)
        rows, cols = linear_sum_assignment(-finite)
        ok = sim[rows, cols] >= threshold
        return rows[ok].astype(np.int64), cols[ok].astype(np.int64)
    if method != "greedy":
        raise ValueError(f"unknown assignment {method!r} (greedy or hungarian)")
    flat = np.flatnonzero(sim.ravel() >= threshold)
    order = flat[np.argsort(-sim.ravel()[flat], kind="stable")]
    r_all, c_all = np.divmod(order, sim.shape[1])
    row_used = np.zeros(sim.shape[0], bool)
    col_used = np.zeros(sim.shape[1], bool)
    rows, cols = [], []
    for r, c in zip(r_all.tolist(), c_all.tolist()):
        if not row_used[r] and not col_used[c]:
            row_used[r] = col_used[c] = True
            rows.append(r)
            cols.append(c)
            if len(rows) == min(sim.shape):
                break
    return np.asarray(rows, np.int64), np.asarray(cols, np.int64)
