"""Association of the poses of frame t with the tracks of frame t-1 through propagated poses.

Every function works on whole frames: ``T`` tracks (their poses propagated into frame t)
against ``D`` candidate poses of frame t, as ``(T, D)`` matrices (method.md §4.3).

The three scores of the reference tracker, for track ``τ`` and pose ``k``:

* ``box``: mean correspondence confidence of the propagated joints of ``τ`` that lie inside
  the tracking box of ``k`` (0 unless ``τ`` has at least ``min_joints`` propagated joints);
* ``oks``: OKS between pose ``k`` and the propagated pose, over joints valid in both, with
  the area of ``k``'s tracking box as scale;
* ``corr`` (sum and count): the correspondence map of joint ``j`` read at pose ``k``'s joint
  ``j``, summed over joints where that value exceeds ``tau_corr``.

The reference reads the refined correspondence map (128 x 128 per joint) at the detected
joint. A :class:`~corrtrack.interfaces.CorrespondenceModel` returns only the map's peak
``(x, y, c)``, so the map is modelled as a Gaussian bump of height ``c`` at the peak:
``R_j(p) = c_j exp(-|p - p̂_j|² / (2 s²))`` with ``s`` = ``corr_sigma`` pixels. This is our
definition (documented in docs/method.md); for a model whose map is a Gaussian of
width ``s`` it is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from corrtrack.tracking.matching import assign

__all__ = [
    "AssociationScores",
    "association_scores",
    "find_duplicates",
    "match",
    "match_greedy_reference",
    "match_hungarian",
    "oks_matrix",
    "pose_nms_fast",
    "squared_distances",
    "tracking_boxes",
]


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M, K) squared distances between the same joints of ``a`` (N, K, 2+) and ``b`` (M, K, 2+)."""
    dx = a[:, None, :, 0] - b[None, :, :, 0]
    dy = a[:, None, :, 1] - b[None, :, :, 1]
    return dx * dx + dy * dy


def _box_areas(xy: np.ndarray, valid: np.ndarray) -> np.ndarray:
    big = 1e300
    x, y = xy[..., 0], xy[..., 1]
    w = np.where(valid, x, -big).max(-1) - np.where(valid, x, big).min(-1)
    h = np.where(valid, y, -big).max(-1) - np.where(valid, y, big).min(-1)
    some = valid.any(-1)
    return np.where(some, w, 0.0) * np.where(some, h, 0.0)


def oks_matrix(
    a: np.ndarray, a_conf: np.ndarray, b: np.ndarray, b_conf: np.ndarray, joint_threshold: float, sigmas: np.ndarray
) -> np.ndarray:
    """(N, M) the same values as :func:`corrtrack.geometry.oks_track` (``mask="both"``), about 10x faster.

    Coordinates of joints below ``joint_threshold`` must be finite (any value); they are ignored.
    """
    va = a_conf >= joint_threshold
    vb = b_conf >= joint_threshold
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]))
    area = 0.5 * (_box_areas(a, va)[:, None] + _box_areas(b, vb)[None])
    d2 = squared_distances(a, b)
    var = (2 * np.asarray(sigmas)) ** 2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        e = np.exp(-d2 / (2 * var * area[..., None]))
    e = np.where(area[..., None] > 0, e, d2 == 0)
    valid = va[:, None] & vb[None]
    count = valid.sum(-1)
    return np.where(valid, e, 0.0).sum(-1) / np.maximum(count, 1)


def pose_nms_fast(
    xy: np.ndarray,
    conf: np.ndarray,
    sigmas: np.ndarray,
    oks_threshold: float = 0.7,
    joint_threshold: float = 0.05,
    min_joints: int = 2,
    oks: np.ndarray | None = None,
) -> np.ndarray:
    """The indices :func:`corrtrack.geometry.pose_nms` keeps (best first), with :func:`oks_matrix`.

    ``oks`` may give the ``(N, N)`` matrix ``oks_matrix(xy, conf, xy, conf, joint_threshold, sigmas)``
    when the caller already has it.
    """
    n = conf.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    enough = (conf >= joint_threshold).sum(1) >= min_joints
    order = np.argsort(-conf.mean(1), kind="stable")
    order = order[enough[order]]
    if oks is None:
        oks = oks_matrix(xy, conf, xy, conf, joint_threshold, sigmas)
    suppressed = np.zeros(n, dtype=bool)
    keep = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= oks[i] >= oks_threshold
    return np.asarray(keep, dtype=np.int64)


def tracking_boxes(xy: np.ndarray, valid: np.ndarray, margin: float, width: int, height: int) -> np.ndarray:
    """(N, 4) ``[x0, y0, x1, y1]`` of each pose's valid joints, grown by ``margin`` and clipped to the image.

    Poses without a valid joint get an empty box (NaN corners), which contains nothing.
    """
    x = np.where(valid, xy[..., 0], np.nan)
    y = np.where(valid, xy[..., 1], np.nan)
    out = np.full((xy.shape[0], 4), np.nan)
    ok = valid.any(-1)
    if ok.any():
        out[ok, 0] = np.clip(np.nanmin(x[ok], -1) - margin, 0, width - 1)
        out[ok, 1] = np.clip(np.nanmin(y[ok], -1) - margin, 0, height - 1)
        out[ok, 2] = np.clip(np.nanmax(x[ok], -1) + margin, 0, width - 1)
        out[ok, 3] = np.clip(np.nanmax(y[ok], -1) + margin, 0, height - 1)
    return out


@dataclass
class AssociationScores:
    """The ``(T, D)`` score matrices of one frame."""

    box: np.ndarray
    oks: np.ndarray
    corr_sum: np.ndarray
    corr_count: np.ndarray
    #: (T, D) how many of the three scores support the pair (box > 0, corr > 0, oks > tau_oks)
    votes: np.ndarray

    @property
    def total(self) -> np.ndarray:
        """The matching score of the reference: OKS plus the mean correspondence value."""
        return self.oks + self.corr_sum / np.maximum(self.corr_count, 1)


def association_scores(
    prop_xy: np.ndarray,
    prop_valid: np.ndarray,
    prop_conf: np.ndarray,
    det_xy: np.ndarray,
    det_valid: np.ndarray,
    det_boxes: np.ndarray,
    *,
    sigmas: np.ndarray,
    tau_corr: float,
    tau_oks: float,
    min_joints: int,
    corr_sigma: float,
) -> AssociationScores:
    """All three scores for ``T`` propagated poses against ``D`` candidate poses.

    ``prop_xy`` (T, K, 2), ``prop_valid`` (T, K) the propagated joints that count (query
    valid and confidence >= tau_corr), ``prop_conf`` (T, K) their confidences;
    ``det_xy`` (D, K, 2), ``det_valid`` (D, K) joints with score >= tau_joint, ``det_boxes``
    (D, 4) their tracking boxes ``[x0, y0, x1, y1]``.
    """
    t, d = prop_xy.shape[0], det_xy.shape[0]
    if t == 0 or d == 0:
        z = np.zeros((t, d))
        return AssociationScores(z, z.copy(), z.copy(), np.zeros((t, d), np.int64), np.zeros((t, d), np.int64))
    px, py = prop_xy[..., 0], prop_xy[..., 1]  # (T, K)
    bx0, by0, bx1, by1 = (det_boxes[:, i][None, :, None] for i in range(4))  # (1, D, 1)
    with np.errstate(invalid="ignore"):
        inside = (
            prop_valid[:, None]
            & (px[:, None] >= bx0)
            & (px[:, None] <= bx1)
            & (py[:, None] >= by0)
            & (py[:, None] <= by1)
        )  # (T, D, K)
    n_in = inside.sum(-1)
    box = np.where(inside, prop_conf[:, None], 0.0).sum(-1) / np.maximum(n_in, 1)
    box[prop_valid.sum(-1) < min_joints] = 0.0

    d2 = np.nan_to_num(squared_distances(prop_xy, det_xy), nan=np.inf)  # (T, D, K)
    both = prop_valid[:, None] & det_valid[None]
    area = (det_boxes[:, 2] - det_boxes[:, 0]) * (det_boxes[:, 3] - det_boxes[:, 1])  # (D,)
    area = np.where(np.isfinite(area) & (area > 0), area, np.inf)
    var = (2 * np.asarray(sigmas)) ** 2
    e = np.exp(-d2 / (2 * var[None, None] * area[None, :, None]))
    count = both.sum(-1)
    oks = np.where(both, e, 0.0).sum(-1) / np.maximum(count, 1)

    r = prop_conf[:, None] * np.exp(-d2 / (2 * corr_sigma**2))
    use = both & (r > tau_corr)
    corr_sum = np.where(use, r, 0.0).sum(-1)
    corr_count = use.sum(-1)
    votes = (box > 0).astype(np.int64) + (corr_sum > 0) + (oks > tau_oks)
    return AssociationScores(box, oks, corr_sum, corr_count, votes)


def _gate(s: AssociationScores, tau_corr: float, tau_oks: float, min_joints: int) -> np.ndarray:
    return (s.oks > tau_oks) & (s.corr_sum > tau_corr * min_joints)


def match_greedy_reference(
    s: AssociationScores, tau_corr: float, tau_oks: float, min_joints: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference tracker's assignment: ``(rows, cols, A)``.

    Each track picks its best pose among those with ``box > tau_corr`` (by ``total``) and
    keeps it only if that pose passes the OKS and correspondence gates; each pose then
    takes the track with the largest such score. ``A`` is the ``(T, D)`` matrix with at
    most one non-zero entry per row.
    """
    t, d = s.box.shape
    a = np.zeros((t, d))
    if t == 0 or d == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), a
    total = s.total
    cand = s.box > tau_corr
    masked = np.where(cand, total, -np.inf)
    best = masked.argmax(1)
    rows = np.arange(t)
    ok = cand[rows, best] & _gate(s, tau_corr, tau_oks, min_joints)[rows, best]
    a[rows[ok], best[ok]] = total[rows[ok], best[ok]]
    winner = a.argmax(0)
    cols = np.flatnonzero(a[winner, np.arange(d)] > 0)
    return winner[cols].astype(np.int64), cols.astype(np.int64), a


def match_hungarian(
    s: AssociationScores, tau_corr: float, tau_oks: float, min_joints: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Optimal assignment over all gated pairs (``box > tau_corr`` and the two gates): ``(rows, cols, A)``."""
    ok = (s.box > tau_corr) & _gate(s, tau_corr, tau_oks, min_joints)
    a = np.where(ok, s.total, 0.0)
    if a.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), a
    rows, cols = assign(np.where(ok, s.total, np.nan), 0.0, "hungarian")
    return rows, cols, a


def find_duplicates(s: AssociationScores, a: np.ndarray, assigned: np.ndarray, ratio: float) -> np.ndarray:
    """(D,) bool: unassigned poses that duplicate the best pose of some track.

    For each track with a best pose ``b`` (largest ``A``), every other pose ``k`` it votes
    for is a duplicate when ``oks[k]/oks[b] + corr[k]/corr[b] > ratio`` (the reference adds
    the two ratios).
    """
    t, d = a.shape
    if t == 0 or d == 0:
        return np.zeros(d, bool)
    has_best = a.max(1) > 0
    b = a.argmax(1)
    rows = np.arange(t)
    oks_b = s.oks[rows, b][:, None]
    corr_b = s.corr_sum[rows, b][:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = np.where(oks_b > 0, s.oks / oks_b, 0.0) + np.where(corr_b > 0, s.corr_sum / corr_b, 0.0)
    dup = has_best[:, None] & (s.votes > 0) & (r > ratio)
    dup[rows, b] = False
    return dup.any(0) & ~assigned


def match(
    s: AssociationScores,
    method: Literal["greedy", "hungarian"],
    tau_corr: float,
    tau_oks: float,
    min_joints: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``match_greedy_reference`` or ``match_hungarian``."""
    if method == "greedy":
        return match_greedy_reference(s, tau_corr, tau_oks, min_joints)
    if method == "hungarian":
        return match_hungarian(s, tau_corr, tau_oks, min_joints)
    raise ValueError(f"unknown assignment {method!r} (greedy or hungarian)")
