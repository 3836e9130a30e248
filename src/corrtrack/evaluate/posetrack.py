"""PoseTrack multi-person pose estimation AP and pose tracking MOT metrics, as the official evaluator computes them.

The definitions follow the shared docs, evaluation.md sections 6-8, quirks
included. Per-joint arrays are indexed by the official joint id (``POSETRACK17``
order); index 15 of every output list is the total (mean over the 15 joints).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from corrtrack.evaluate.prepare import NUM_JOINTS, EvalFrame

__all__ = ["APResult", "MOTCounts", "assign_persons", "compute_ap", "frame_distances", "mot_counts", "voc_ap"]

PCKH_THRESHOLD = 0.5


def frame_distances(frame: EvalFrame) -> np.ndarray:
    """(P, G, 15) head-normalised distances; inf where either side lacks the joint."""
    d = np.linalg.norm(frame.pr_xy[:, None] - frame.gt_xy[None], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = d / frame.gt_head[None, :, None]
    both = frame.pr_has[:, None] & frame.gt_has[None]
    return np.where(both, d, np.inf)


def assign_persons(dist: np.ndarray, gt_has: np.ndarray) -> np.ndarray:
    """For each prediction the GT index it is assigned to, or -1 (evaluation.md section 6 step 2).

    PCKh-count matrix; each prediction keeps only its best GT (lowest index on
    ties); each GT then takes the prediction with the largest remaining value
    (lowest index on ties); a GT whose best value is 0 stays unassigned.
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


def _samples(frames: list[EvalFrame]) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Per frame the (P, 15) scores and labels of predicted joints, plus GT joint counts."""
    scores, labels = [], []
    num_gt = np.zeros(NUM_JOINTS, dtype=np.int64)
    for fr in frames:
        num_pr, num_gt_persons = len(fr.pr_ids), len(fr.gt_ids)
        label = np.zeros((num_pr, NUM_JOINTS), dtype=bool)
        if num_pr and num_gt_persons:
            dist = frame_distances(fr)
            gt_of_pr = assign_persons(dist, fr.gt_has)
            matched = np.flatnonzero(gt_of_pr >= 0)
            label[matched] = dist[matched, gt_of_pr[matched]] <= PCKH_THRESHOLD
        if num_gt_persons:
            num_gt += fr.gt_has.sum(0)
        scores.append(fr.pr_scores)
        labels.append(label & fr.pr_has)
    return scores, labels, num_gt


def compute_ap(frames: list[EvalFrame]) -> APResult:
    """Per-joint AP over all frames of all sequences (PCKh@0.5, VOC AP)."""
    scores, labels, num_gt = _samples(frames)
    has = [fr.pr_has for fr in frames]
    ap = np.zeros(NUM_JOINTS + 1)
    pre = np.zeros(NUM_JOINTS + 1)
    rec = np.zeros(NUM_JOINTS + 1)
    for j in range(NUM_JOINTS):
        # sample order as the official tool builds it: frame by frame, persons in file order
        s = np.concatenate([sc[h[:, j], j] for sc, h in zip(scores, has)]) if frames else np.zeros(0)
        lab = np.concatenate([lb[h[:, j], j] for lb, h in zip(labels, has)]) if frames else np.zeros(0, bool)
        if len(s) == 0:
            continue
        order = s.argsort()[::-1]
        tp = np.cumsum(lab[order])
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
                "pre": 100 * det / total_det,
                "rec": 100 * det / num_gt,
            }
        return {k: np.append(v, joint_mean(v)) for k, v in out.items()}


def mot_counts(frames: list[EvalFrame]) -> MOTCounts:
    """CLEAR-MOT counts of one sequence with motmetrics, one accumulator per joint.

    The last kept frame is skipped and a frame with no prediction (or no GT
    left) counts as one dummy object and one dummy hypothesis per joint, as in
    the official evaluator (evaluation.md section 7, quirks A and B).
    """
    import motmetrics as mm

    accs = [mm.MOTAccumulator(auto_id=True) for _ in range(NUM_JOINTS)]
    dummy = np.array([[np.nan]])
    for fr in frames[:-1]:
        if len(fr.pr_ids) == 0 or len(fr.gt_ids) == 0:
            for acc in accs:
                acc.update([0], [0], dummy)
            continue
        dist = frame_distances(fr)  # (P, G, 15)
        dist = np.where(dist <= PCKH_THRESHOLD, dist, np.nan)
        for j, acc in enumerate(accs):
            gi, pi = np.flatnonzero(fr.gt_has[:, j]), np.flatnonzero(fr.pr_has[:, j])
            acc.update(fr.gt_ids[gi], fr.pr_ids[pi], dist[np.ix_(pi, gi, [j])][..., 0].T)
    counts = MOTCounts()
    if len(frames) < 2:
        return counts
    for j, acc in enumerate(accs):
        ev = acc.events
        kinds = ev["Type"].value_counts()
        counts.misses[j] = kinds.get("MISS", 0)
        counts.false_positives[j] = kinds.get("FP", 0)
        counts.switches[j] = kinds.get("SWITCH", 0)
        counts.matches[j] = kinds.get("MATCH", 0)
        counts.num_gt[j] = counts.matches[j] + counts.switches[j] + counts.misses[j]
        counts.sum_d_events[j] = np.nansum(ev["D"].to_numpy(dtype=np.float64))
        is_match = ev["Type"].isin(["MATCH", "SWITCH"]).to_numpy()
        counts.sum_d_matches[j] = np.nansum(ev["D"].to_numpy(dtype=np.float64)[is_match])
    return counts
