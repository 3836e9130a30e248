"""HOTA (Luiten et al., IJCV 2021) from per-frame similarity matrices, and its PoseTrack21 keypoint version.

``hota_sequence`` implements the HOTA metric of TrackEval for one sequence
(global alignment score, Hungarian matching per frame, DetA / AssA / LocA at
19 alphas); the test suite checks it against ``trackeval`` on the same inputs.
``keypoint_hota`` feeds it head-normalised keypoint similarities as the
PoseTrack21 kit does: ``s = max(0, 1 - d / 0.5001)``, one evaluation per joint,
averaged over the 15 joints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from corrtrack.evaluate.prepare import MISSING_SCORE, NUM_JOINTS, prepare_pair
from corrtrack.poses import PoseSequence

__all__ = ["ALPHAS", "HotaCounts", "KeypointHota", "hota_sequence", "keypoint_hota"]

ALPHAS = np.arange(0.05, 0.99, 0.05)
#: PoseTrack21's keypoint similarity scale (hota_pose.py): s = max(0, 1 - d / 0.5001)
KEYPOINT_SIM_SCALE = 0.5001
_EPS = np.finfo(float).eps


@dataclass
class HotaCounts:
    """Per-alpha HOTA quantities of one sequence (or of several, combined)."""

    tp: np.ndarray
    fn: np.ndarray
    fp: np.ndarray
    assa: np.ndarray
    loca: np.ndarray

    @property
    def deta(self) -> np.ndarray:
        return self.tp / np.maximum(1.0, self.tp + self.fn + self.fp)

    @property
    def hota(self) -> np.ndarray:
        return np.sqrt(self.deta * self.assa)

    @staticmethod
    def combine(parts: Sequence[HotaCounts]) -> HotaCounts:
        """Combine sequences as TrackEval does: sum counts, TP-weighted AssA and LocA."""
        tp = sum(p.tp for p in parts)
        w = np.maximum(1.0, tp)
        assa = sum(p.assa * p.tp for p in parts) / w
        loca = np.maximum(1e-10, sum(p.loca * p.tp for p in parts)) / np.maximum(1e-10, tp)
        return HotaCounts(tp, sum(p.fn for p in parts), sum(p.fp for p in parts), assa, loca)


def hota_sequence(
    gt_ids: Sequence[np.ndarray], tr_ids: Sequence[np.ndarray], similarities: Sequence[np.ndarray]
) -> HotaCounts:
    """HOTA of one sequence. Per frame: GT ids, tracker ids and the (G, T) similarity in [0, 1]."""
    a = len(ALPHAS)
    gt_u = np.unique(np.concatenate([np.asarray(g, np.int64) for g in gt_ids])) if gt_ids else np.zeros(0, int)
    tr_u = np.unique(np.concatenate([np.asarray(t, np.int64) for t in tr_ids])) if tr_ids else np.zeros(0, int)
    gi = [np.searchsorted(gt_u, g) for g in gt_ids]
    ti = [np.searchsorted(tr_u, t) for t in tr_ids]
    tp, fn, fp, loc = np.zeros(a), np.zeros(a), np.zeros(a), np.zeros(a)
    num_gt_dets = sum(len(g) for g in gt_ids)
    num_tr_dets = sum(len(t) for t in tr_ids)
    if num_tr_dets == 0 or num_gt_dets == 0:
        return HotaCounts(tp, fn + num_gt_dets, fp + num_tr_dets, np.zeros(a), np.ones(a))
    potential = np.zeros((len(gt_u), len(tr_u)))
    gt_count = np.zeros(len(gt_u))
    tr_count = np.zeros(len(tr_u))
    for g, t, s in zip(gi, ti, similarities):
        if len(g) and len(t):
            denom = s.sum(0)[None] + s.sum(1)[:, None] - s
            sim_iou = np.zeros_like(s)
            ok = denom > _EPS
            sim_iou[ok] = s[ok] / denom[ok]
            potential[g[:, None], t[None]] += sim_iou
        gt_count[g] += 1
        tr_count[t] += 1
    align = potential / (gt_count[:, None] + tr_count[None] - potential)
    matches = np.zeros((a, len(gt_u), len(tr_u)))
    for g, t, s in zip(gi, ti, similarities):
        if len(g) == 0 or len(t) == 0:
            fp += len(t)
            fn += len(g)
            continue
        score = align[g[:, None], t[None]] * s
        rows, cols = linear_sum_assignment(-score)
        matched_sim = s[rows, cols]
        ok = matched_sim[None] >= ALPHAS[:, None] - _EPS  # (A, M)
        n = ok.sum(1)
        tp += n
        fn += len(g) - n
        fp += len(t) - n
        loc += (matched_sim[None] * ok).sum(1)
        for k in np.flatnonzero(n):
            matches[k, g[rows[ok[k]]], t[cols[ok[k]]]] += 1
    ass = matches / np.maximum(1, gt_count[None, :, None] + tr_count[None, None] - matches)
    assa = (matches * ass).sum((1, 2)) / np.maximum(1, tp)
    loca = np.maximum(1e-10, loc) / np.maximum(1e-10, tp)
    return HotaCounts(tp, fn, fp, assa, loca)


@dataclass
class KeypointHota:
    """Keypoint HOTA per joint (15, official joint-id order) and alpha, plus averages."""

    per_joint: list[HotaCounts]

    def _mean(self, name: str) -> np.ndarray:
        """(A,) mean over joints of a per-alpha quantity."""
        return np.mean([getattr(c, name) for c in self.per_joint], axis=0)

    @property
    def hota(self) -> float:
        return float(self._mean("hota").mean())

    @property
    def deta(self) -> float:
        return float(self._mean("deta").mean())

    @property
    def assa(self) -> float:
        return float(self._mean("assa").mean())

    @property
    def loca(self) -> float:
        return float(self._mean("loca").mean())

    def to_json(self) -> dict:
        out = {"alphas": ALPHAS.tolist(), "HOTA": self.hota, "DetA": self.deta, "AssA": self.assa, "LocA": self.loca}
        for name in ("hota", "deta", "assa", "loca"):
            out[f"{name}_per_joint"] = [float(getattr(c, name).mean()) for c in self.per_joint]
        return out


def keypoint_hota(
    gts: Sequence[PoseSequence], preds: Sequence[PoseSequence], sources: Sequence[tuple[str, str]] | None = None
) -> KeypointHota:
    """PoseTrack21 keypoint HOTA: frames chosen by ``is_labeled`` (when the GT has it), joints valid if x, y > 0."""
    sources = sources or [(g.name, p.name) for g, p in zip(gts, preds)]
    per_joint_parts: list[list[HotaCounts]] = [[] for _ in range(NUM_JOINTS)]
    for g, p, (gs, ps) in zip(gts, preds, sources):
        selection = "labeled" if any(f.is_labeled is not None for f in g.frames) else "annotated"
        frames = prepare_pair(g, p, gs, ps, selection)
        for j in range(NUM_JOINTS):
            gid, tid, sims = [], [], []
            for fr in frames:
                gv = fr.gt_has[:, j] & (fr.gt_xy[:, j] > 0).all(-1)
                scored = (fr.pr_scores[:, j] > 0) | (fr.pr_scores[:, j] == MISSING_SCORE)
                pv = fr.pr_has[:, j] & (fr.pr_xy[:, j] > 0).all(-1) & scored
                d = np.linalg.norm(fr.gt_xy[gv, None, j] - fr.pr_xy[None, pv, j], axis=-1) / fr.gt_head[gv, None]
                gid.append(fr.gt_ids[gv])
                tid.append(fr.pr_ids[pv])
                sims.append(np.clip(1 - d / KEYPOINT_SIM_SCALE, 0, None))
            per_joint_parts[j].append(hota_sequence(gid, tid, sims))
    return KeypointHota([HotaCounts.combine(parts) for parts in per_joint_parts])
