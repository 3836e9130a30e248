"""Track merging (supplement, Fig. 2 and Eq. 2): join two fragments of one person split in time.

For an earlier track ``T_q`` and a later track ``T_p`` the poses of ``T_q`` at its start,
centre and end frames are propagated by correspondences into the start frame of ``T_p``;

    S_match(T_q, T_p) = mean over the three of OKS(propagated pose, start pose of T_p).

The tracker computes the scores when ``T_p`` starts (:func:`merge_scores`), and
:func:`resolve_merges` picks the merges after the last frame. Choices the supplement leaves
open (threshold, maximum gap, order, no temporal overlap) are ``CorrTrackConfig`` fields and
listed in docs/method.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

from corrtrack.keypoints import POSETRACK18
from corrtrack.tracking.association import oks_matrix

__all__ = ["MergeOrder", "merge_scores", "resolve_merges"]

MergeOrder = Literal["best_first", "chronological"]


def merge_scores(
    propagated: np.ndarray,
    propagated_valid: np.ndarray,
    start_xy: np.ndarray,
    start_conf: np.ndarray,
    joint_threshold: float,
    sigmas: np.ndarray = POSETRACK18.sigma_array,
) -> np.ndarray:
    """(Q, P) ``S_match``: mean OKS of each earlier track's propagated poses with each later track's start.

    ``propagated`` (Q, R, K, 2): the R (= 3: start, centre, end) poses of each earlier track
    propagated into the later tracks' start frame; ``propagated_valid`` (Q, R, K) the joints
    that propagated (a pose with none contributes OKS 0); ``start_xy`` (P, K, 2) and
    ``start_conf`` (P, K) the later tracks' first poses.
    """
    q, r, k = propagated.shape[:3]
    p = start_xy.shape[0]
    if q == 0 or p == 0:
        return np.zeros((q, p))
    flat = np.nan_to_num(propagated.reshape(q * r, k, 2))
    valid = propagated_valid.reshape(q * r, k).astype(np.float64)
    oks = oks_matrix(flat, valid, start_xy, start_conf, joint_threshold, sigmas)
    return oks.reshape(q, r, p).mean(1)


def resolve_merges(
    earlier: np.ndarray,
    later: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    order: MergeOrder = "best_first",
    later_start: np.ndarray | None = None,
    frames: Mapping[int, np.ndarray] | None = None,
) -> dict[int, int]:
    """``{later id: id it takes}`` for the accepted merges, chains followed to the earliest id.

    Candidate pairs ``(earlier[i], later[i])`` with ``scores[i] > threshold`` are accepted
    one by one, each track at most once as the earlier and once as the later side.
    ``best_first`` takes the highest score first; ``chronological`` takes the later tracks in
    order of ``later_start`` (then score), each joining its best still-free earlier track.
    The tracker only pairs a track with tracks that ended before it started; ``frames`` (track
    id -> the frames it has poses in) makes that a guarantee: a pair is refused when the merged
    chains of its two tracks would share a frame (two poses with one id in one frame), e.g.
    after the earlier track was resumed as a lost track (issue #21).
    """
    earlier = np.asarray(earlier, np.int64)
    later = np.asarray(later, np.int64)
    scores = np.asarray(scores, np.float64)
    ok = scores > threshold
    earlier, later, scores = earlier[ok], later[ok], scores[ok]
    if order == "best_first":
        idx = np.lexsort((later, earlier, -scores))
    elif order == "chronological":
        if later_start is None:
            raise ValueError("chronological merging needs the later tracks' start frames")
        idx = np.lexsort((earlier, -scores, np.asarray(later_start)[ok]))
    else:
        raise ValueError(f"unknown merge order {order!r} (best_first or chronological)")
    successor_taken: set[int] = set()
    parent: dict[int, int] = {}
    # frames occupied by each chain (by its root), for the overlap guard
    occupied: dict[int, np.ndarray] = {}

    def root_of(t: int) -> int:
        while t in parent:
            t = parent[t]
        return t

    for i in idx.tolist():
        q, p = int(earlier[i]), int(later[i])
        if q in successor_taken or p in parent or q == p:
            continue
        if frames is not None:
            rq, rp = root_of(q), root_of(p)
            if rq == rp:
                continue
            fq = occupied.get(rq, np.asarray(frames.get(rq, ()), np.int64))
            fp = occupied.get(rp, np.asarray(frames.get(rp, ()), np.int64))
            if np.intersect1d(fq, fp).size:
                continue
            occupied[rq] = np.union1d(fq, fp)
            occupied.pop(rp, None)
        successor_taken.add(q)
        parent[p] = q
    resolved: dict[int, int] = {}
    for p in parent:
        root = p
        while root in parent:
            root = parent[root]
        resolved[p] = root
    return resolved
