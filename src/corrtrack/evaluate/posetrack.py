"""PoseTrack multi-person pose estimation AP and pose tracking MOT metrics, as the official evaluator computes them.

The definitions follow docs/method.md §7, quirks
included. Per-joint arrays are indexed by the official joint id (``POSETRACK17``
order); index 15 of every output list is the total (mean over the 15 joints).

Everything per frame is batched over the frames of a sequence: the
(prediction, ground truth) person pairs of all frames form one table
(:class:`PairTable`), the PCKh person assignment runs on it with segment
reductions, and the AP samples of a sequence are computed once and reused for
the per-sequence and the pooled AP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from corrtrack.evaluate.prepare import NUM_JOINTS, EvalFrame, SequenceArrays, official_norm

__all__ = [
    "APResult",
    "APSamples",
    "MOTCounts",
    "PairTable",
    "ap_samples",
    "assign_persons",
    "compute_ap",
    "frame_distances",
    "joint_distances",
    "sequence_pairs",
    "voc_ap",
]

PCKH_THRESHOLD = 0.5


def joint_distances(gt_xy: np.ndarray, pr_xy: np.ndarray, gt_head: np.ndarray) -> np.ndarray:
    """Head-normalised distances ``norm(gt - pred) / head``, with the official tool's operations.

    ``gt_xy``, ``pr_xy``: (..., 15, 2); ``gt_head`` broadcasts against (..., 15)
    after a trailing axis is added. The norm is :func:`~corrtrack.evaluate.prepare.official_norm`.
    """
    dx = gt_xy[..., 0] - pr_xy[..., 0]
    dy = gt_xy[..., 1] - pr_xy[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return official_norm(dx, dy) / gt_head[..., None]


def frame_distances(frame: EvalFrame) -> np.ndarray:
    """(P, G, 15) head-normalised distances; inf where either side lacks the joint."""
    d = joint_distances(frame.gt_xy[None], frame.pr_xy[:, None], frame.gt_head[None])
    both = frame.pr_has[:, None] & frame.gt_has[None]
    return np.where(both, d, np.inf)


def assign_persons(dist: np.ndarray, gt_has: np.ndarray) -> np.ndarray:
    """For each prediction the GT index it is assigned to, or -1 (docs/method.md §7, mAP).

    PCKh-count matrix; each prediction keeps only its best GT (lowest index on
    ties); each GT then takes the prediction with the largest remaining value
    (lowest index on ties); a GT whose best value is 0 stays unassigned. One
    frame; :func:`ap_samples` does the same for all frames of a sequence at once.
    """
    num_pr = dist.shape[0]
    n_annot = gt_has.sum(1)
    pck = (dist <= PCKH_THRESHOLD).sum(2).astype(np.float64)
    pck = np.where(n_annot[None] > 0, pck / np.maximum(n_annot, 1)[None], pck)
    best = np.argmax(pck, axis=1)
    only_best = np.zeros_like(pck)
    only_best[np.arange(num_pr), best] = pck[np.arange(num_pr), best]
    pr_for_gt = np.argmax(only_best, axis=0)
    pr_for_gt[only_best.max(axis=0) == 0] = -1
    gt_of_pr = np.full(num_pr, -1)
    has = pr_for_gt >= 0
    gt_of_pr[pr_for_gt[has]] = np.flatnonzero(has)
    return gt_of_pr


@dataclass
class PairTable:
    """Every (prediction, ground truth) person pair of every frame of a sequence, frame by frame.

    Rows are ordered by frame, then prediction, then ground truth (file order);
    frame ``f`` owns rows ``start[f]:start[f + 1]``, a (P_f, G_f) block.
    """

    frame: np.ndarray  # (N,) frame index
    pr: np.ndarray  # (N,) prediction row in SequenceArrays
    gt: np.ndarray  # (N,) ground-truth row in SequenceArrays
    dist: np.ndarray  # (N, 15) head-normalised distance, inf where either side lacks the joint
    start: np.ndarray  # (F + 1,)


def sequence_pairs(seq: SequenceArrays) -> PairTable:
    """All person pairs of all frames of ``seq`` with their distances, in one vectorised pass."""
    num_pr = np.diff(seq.pr_start)
    num_gt = np.diff(seq.gt_start)
    per_frame = num_pr * num_gt
    start = np.concatenate([[0], np.cumsum(per_frame)]).astype(np.int64)
    frame = np.repeat(np.arange(seq.num_frames, dtype=np.int64), per_frame)
    k = np.arange(start[-1], dtype=np.int64) - start[frame]
    width = num_gt[frame]
    pr = seq.pr_start[frame] + k // np.maximum(width, 1)
    gt = seq.gt_start[frame] + k % np.maximum(width, 1)
    d = joint_distances(seq.gt_xy[gt], seq.pr_xy[pr], seq.gt_head[gt])
    d[~(seq.pr_has[pr] & seq.gt_has[gt])] = np.inf
    return PairTable(frame, pr, gt, d, start)


def _segment_first_max(values: np.ndarray, seg_start: np.ndarray, seg_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per segment of consecutive rows: the maximum and the first row holding it."""
    top = np.maximum.reduceat(values, seg_start)
    rows = np.where(values == top[seg_id], np.arange(len(values)), len(values))
    return top, np.minimum.reduceat(rows, seg_start)


def _segments(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    new = np.empty(len(keys), dtype=bool)
    new[:1] = True
    new[1:] = keys[1:] != keys[:-1]
    return np.flatnonzero(new), np.cumsum(new) - 1


def batched_assignment(seq: SequenceArrays, pairs: PairTable) -> np.ndarray:
    """:func:`assign_persons` for every frame of ``seq`` at once: per prediction row its GT row, or -1."""
    gt_of_pr = np.full(len(seq.pr_ids), -1, dtype=np.int64)
    n = len(pairs.frame)
    if n == 0:
        return gt_of_pr
    n_annot = seq.gt_has.sum(1)[pairs.gt]
    hits = (pairs.dist <= PCKH_THRESHOLD).sum(1).astype(np.float64)
    pck = np.where(n_annot > 0, hits / np.maximum(n_annot, 1), hits)
    # each prediction keeps only its best GT (first on ties); rows of one prediction are consecutive
    seg_start, seg_id = _segments(pairs.pr)
    _, best_row = _segment_first_max(pck, seg_start, seg_id)
    only_best = np.zeros(n)
    only_best[best_row] = pck[best_row]
    # each GT takes the prediction with the largest remaining value (first on ties), if above 0
    order = np.lexsort((pairs.pr, pairs.gt))
    seg_start, seg_id = _segments(pairs.gt[order])
    top, first = _segment_first_max(only_best[order], seg_start, seg_id)
    won = order[first[top > 0]]
    gt_of_pr[pairs.pr[won]] = pairs.gt[won]
    return gt_of_pr


def joint_mean(values: np.ndarray) -> float:
    """Mean over joints that are not NaN (NaN if all are), as the official totals are computed."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-point interpolated AP (monotone precision envelope, area under the recall steps)."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


@dataclass
class APResult:
    """Per joint (15) and total: AP, precision and recall at the end of the ranked list (percent)."""

    ap: np.ndarray
    pre: np.ndarray
    rec: np.ndarray
    num_gt: np.ndarray  # annotated GT joints per joint type (the AP denominators)


@dataclass
class APSamples:
    """The (score, label) samples of one sequence: one row per predicted person, in frame and file order."""

    scores: np.ndarray  # (P, 15)
    has: np.ndarray  # (P, 15) bool: the joint is predicted, so it is a sample
    labels: np.ndarray  # (P, 15) bool: true positive
    num_gt: np.ndarray  # (15,) annotated GT joints

    @staticmethod
    def empty() -> APSamples:
        z = np.zeros((0, NUM_JOINTS))
        return APSamples(z, z.astype(bool), z.astype(bool), np.zeros(NUM_JOINTS, dtype=np.int64))


def ap_samples(seq: SequenceArrays, pairs: PairTable | None = None) -> APSamples:
    """Label every predicted joint of ``seq`` (docs/method.md §7, mAP), all frames at once."""
    pairs = pairs if pairs is not None else sequence_pairs(seq)
    gt_of_pr = batched_assignment(seq, pairs)
    labels = np.zeros(seq.pr_has.shape, dtype=bool)
    matched = np.flatnonzero(gt_of_pr >= 0)
    if len(matched):
        # row of the pair (p, g) in the table: frame block start + local p * G_f + local g
        f = pairs.frame[np.searchsorted(pairs.pr, matched)]
        width = seq.gt_start[f + 1] - seq.gt_start[f]
        rows = pairs.start[f] + (matched - seq.pr_start[f]) * width + (gt_of_pr[matched] - seq.gt_start[f])
        labels[matched] = pairs.dist[rows] <= PCKH_THRESHOLD
    return APSamples(seq.pr_scores, seq.pr_has, labels & seq.pr_has, seq.gt_has.sum(0).astype(np.int64))


def compute_ap(samples: Sequence[APSamples] | APSamples) -> APResult:
    """Per-joint AP over the samples of the given sequences, pooled in the order given (PCKh@0.5, VOC AP).

    The pooled order matters when scores tie: ranking is ``argsort()[::-1]`` on
    the samples in sequence, frame and person order, exactly as the official tool
    builds and sorts them, and that sort does not keep ties in order.
    """
    parts = [samples] if isinstance(samples, APSamples) else list(samples)
    if not parts:
        parts = [APSamples.empty()]
    scores = np.concatenate([s.scores for s in parts]) if len(parts) > 1 else parts[0].scores
    has = np.concatenate([s.has for s in parts]) if len(parts) > 1 else parts[0].has
    labels = np.concatenate([s.labels for s in parts]) if len(parts) > 1 else parts[0].labels
    num_gt = np.sum([s.num_gt for s in parts], axis=0).astype(np.int64)
    ap = np.zeros(NUM_JOINTS + 1)
    pre = np.zeros(NUM_JOINTS + 1)
    rec = np.zeros(NUM_JOINTS + 1)
    for j in range(NUM_JOINTS):
        sel = has[:, j]
        s = scores[sel, j]
        if len(s) == 0:
            continue
        order = s.argsort()[::-1]
        tp = np.cumsum(labels[sel, j][order])
        precision = tp / np.arange(1, len(tp) + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            recall = tp / num_gt[j]
        ap[j] = voc_ap(recall, precision) * 100
        pre[j], rec[j] = precision[-1] * 100, recall[-1] * 100
    for arr in (ap, pre, rec):
        arr[NUM_JOINTS] = joint_mean(arr[:NUM_JOINTS])
    return APResult(ap, pre, rec, num_gt)


@dataclass
class MOTCounts:
    """CLEAR-MOT event counts per joint (15), summed over sequences."""

    num_gt: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS, np.int64))
    misses: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS, np.int64))
    false_positives: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS, np.int64))
    switches: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS, np.int64))
    matches: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS, np.int64))
    #: distance sum over all motmetrics events (RAW rows included), what the official MOTP uses
    sum_d_events: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS))
    #: distance sum over matches and switches only (classic MOTP)
    sum_d_matches: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS))

    def __iadd__(self, other: MOTCounts) -> MOTCounts:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    def metrics(self, motp: str = "motmetrics") -> dict[str, np.ndarray]:
        """MOTA, MOTP, Prec, Rec per joint plus the total (mean over joints), in percent.

        As in the official tool: a joint without GT gets NaN MOTA and Rec, one
        without matches MOTP 0, one without matches or FPs NaN Prec; totals
        average the joints that are not NaN.
        """
        det = self.matches + self.switches
        sum_d = self.sum_d_events if motp == "motmetrics" else self.sum_d_matches
        num_gt = np.where(self.num_gt > 0, self.num_gt, np.nan)
        total_det = np.where(det + self.false_positives > 0, det + self.false_positives, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = {
                "mota": 100 * (1 - (self.misses + self.switches + self.false_positives) / num_gt),
                "motp": np.where(det > 0, 100 * (1 - sum_d / det), 0.0),
                # the official tool's operation order: 100 * (det / n), not (100 * det) / n (the last bit differs)
                "pre": 100 * (det / total_det),
                "rec": 100 * (det / num_gt),
            }
        return {k: np.append(v, joint_mean(v)) for k, v in out.items()}
