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

from corrtrack.evaluate.clearmot import linear_sum_assignment_solver
from corrtrack.evaluate.prepare import MISSING_SCORE, NUM_JOINTS, FrameSelection, prepare_pair
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
        tp = np.asarray(sum(p.tp for p in parts))
        w = np.maximum(1.0, tp)
        assa = sum(p.assa * p.tp for p in parts) / w
        loca = np.maximum(1e-10, sum(p.loca * p.tp for p in parts)) / np.maximum(1e-10, tp)
        fn, fp = np.asarray(sum(p.fn for p in parts)), np.asarray(sum(p.fp for p in parts))
        return HotaCounts(tp, fn, fp, np.asarray(assa), np.asarray(loca))


def hota_sequence(
    gt_ids: Sequence[np.ndarray], tr_ids: Sequence[np.ndarray], similarities: Sequence[np.ndarray]
) -> HotaCounts:
    """HOTA of one sequence. Per frame: GT ids, tracker ids and the (G, T) similarity in [0, 1]."""
    gt_all = [np.asarray(g, np.int64) for g in gt_ids]
    tr_all = [np.asarray(t, np.int64) for t in tr_ids]
    frames, rows, cols, sims = [], [], [], []
    for f, (g, t, sim) in enumerate(zip(gt_all, tr_all, similarities)):
        r, c = np.nonzero(np.asarray(sim) > 0)
        frames.append(np.full(len(r), f))
        rows.append(g[r])
        cols.append(t[c])
        sims.append(np.asarray(sim)[r, c])
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int64)  # noqa: E731
    return hota_from_pairs(cat(gt_all), cat(tr_all), cat(frames), cat(rows), cat(cols), cat(sims).astype(float))


def hota_from_pairs(
    gt_dets: np.ndarray,
    tr_dets: np.ndarray,
    frame: np.ndarray,
    gt_id: np.ndarray,
    tr_id: np.ndarray,
    sim: np.ndarray,
) -> HotaCounts:
    """HOTA of one sequence from its positive-similarity pairs.

    ``gt_dets`` / ``tr_dets``: the id of every GT / tracker detection of every
    frame (ids are unique within a frame). ``frame, gt_id, tr_id, sim``: every
    pair with similarity > 0. Pairs with similarity 0 can never match, so they
    are not needed. Frames where no GT and no tracker detection competes for
    two partners are matched directly; only the others go to the Hungarian
    solver, which gives what TrackEval computes frame by frame, far faster.
    """
    a = len(ALPHAS)
    num_gt_dets, num_tr_dets = len(gt_dets), len(tr_dets)
    if num_tr_dets == 0 or num_gt_dets == 0:
        z = np.zeros(a)
        return HotaCounts(z, z + num_gt_dets, z + num_tr_dets, z.copy(), np.ones(a))
    gt_u, gt_count = np.unique(gt_dets, return_counts=True)
    tr_u, tr_count = np.unique(tr_dets, return_counts=True)
    gi, ti = np.searchsorted(gt_u, gt_id), np.searchsorted(tr_u, tr_id)
    # global alignment: per frame, similarity over (row sum + column sum - similarity)
    row = frame * len(gt_u) + gi
    col = frame * len(tr_u) + ti
    _, row_inv, row_deg = np.unique(row, return_inverse=True, return_counts=True)
    _, col_inv, col_deg = np.unique(col, return_inverse=True, return_counts=True)
    denom = np.bincount(row_inv, sim)[row_inv] + np.bincount(col_inv, sim)[col_inv] - sim
    sim_iou = np.where(denom > _EPS, sim / np.where(denom > _EPS, denom, 1), 0.0)
    potential = np.zeros((len(gt_u), len(tr_u)))
    np.add.at(potential, (gi, ti), sim_iou)
    align = potential / (gt_count[:, None] + tr_count[None] - potential)
    score = align[gi, ti] * sim
    # frames with a conflict (a row or column with two pairs) need the assignment solver
    conflict = np.zeros(frame.max() + 1 if len(frame) else 0, bool)
    np.logical_or.at(conflict, frame, (row_deg[row_inv] > 1) | (col_deg[col_inv] > 1))
    keep = ~conflict[frame]
    for f in np.flatnonzero(conflict):
        idx = np.flatnonzero(frame == f)
        r_u, r = np.unique(gi[idx], return_inverse=True)
        c_u, c = np.unique(ti[idx], return_inverse=True)
        dense = np.zeros((len(r_u), len(c_u)))
        dense[r, c] = score[idx]
        # SciPy's solver without importing scipy.optimize (about 40 MB and 0.6 s): see linear_sum_assignment_solver
        rr, cc = linear_sum_assignment_solver()(-dense)
        lookup = np.full((len(r_u), len(c_u)), -1)
        lookup[r, c] = idx
        chosen = lookup[rr, cc]
        keep[chosen[chosen >= 0]] = True
    m_g, m_t, m_s = gi[keep], ti[keep], sim[keep]
    ok = m_s[None] >= ALPHAS[:, None] - _EPS  # (A, M)
    tp = ok.sum(1).astype(float)
    loc = (m_s[None] * ok).sum(1)
    matches = np.zeros((a, len(gt_u), len(tr_u)))
    alpha_idx = np.nonzero(ok)[0]
    np.add.at(matches, (alpha_idx, np.broadcast_to(m_g, ok.shape)[ok], np.broadcast_to(m_t, ok.shape)[ok]), 1)
    ass = matches / np.maximum(1, gt_count[None, :, None] + tr_count[None, None] - matches)
    assa = (matches * ass).sum((1, 2)) / np.maximum(1, tp)
    loca = np.maximum(1e-10, loc) / np.maximum(1e-10, tp)
    return HotaCounts(tp, num_gt_dets - tp, num_tr_dets - tp, assa, loca)


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
    gts: Sequence[PoseSequence],
    preds: Sequence[PoseSequence],
    sources: Sequence[tuple[str, str]] | None = None,
    scale: float = KEYPOINT_SIM_SCALE,
) -> KeypointHota:
    """PoseTrack21 keypoint HOTA: frames chosen by ``is_labeled`` (when the GT has it), joints valid if x, y > 0.

    The similarity is ``max(0, 1 - d / scale)`` with the head-normalised distance ``d``;
    ``scale`` defaults to PoseTrack21's 0.5001 (0.5 gives the textbook PCKh@0.5 form).
    """
    sources = sources or [(g.name, p.name) for g, p in zip(gts, preds)]
    per_joint_parts: list[list[HotaCounts]] = [[] for _ in range(NUM_JOINTS)]
    for g, p, (gs, ps) in zip(gts, preds, sources):
        selection: FrameSelection = "labeled" if any(f.is_labeled is not None for f in g.frames) else "annotated"
        frames = prepare_pair(g, p, gs, ps, selection)
        # per frame, all joints at once: valid joints and positive-similarity pairs as (joint, gt, pred) triples
        gt_dets: list[list[np.ndarray]] = [[] for _ in range(NUM_JOINTS)]
        tr_dets: list[list[np.ndarray]] = [[] for _ in range(NUM_JOINTS)]
        pairs = []
        for f, fr in enumerate(frames):
            gv = fr.gt_has & (fr.gt_xy > 0).all(-1)  # (G, 15)
            scored = (fr.pr_scores > 0) | (fr.pr_scores == MISSING_SCORE)
            pv = fr.pr_has & (fr.pr_xy > 0).all(-1) & scored  # (P, 15)
            for jg in np.flatnonzero(gv.any(0)).tolist():
                gt_dets[jg].append(fr.gt_ids[gv[:, jg]])
            for jp in np.flatnonzero(pv.any(0)).tolist():
                tr_dets[jp].append(fr.pr_ids[pv[:, jp]])
            if not (gv.any() and pv.any()):
                continue
            d = np.linalg.norm(fr.gt_xy[:, None] - fr.pr_xy[None], axis=-1) / fr.gt_head[:, None, None]  # (G, P, 15)
            sim = np.clip(1 - d / scale, 0, None)
            gk, pk, jk = np.nonzero((sim > 0) & gv[:, None] & pv[None])
            pairs.append((np.full(len(jk), f), jk, fr.gt_ids[gk], fr.pr_ids[pk], sim[gk, pk, jk]))
        cols = [np.concatenate(c) for c in zip(*pairs)] if pairs else [np.zeros(0, np.int64)] * 4 + [np.zeros(0)]
        frame, joint, gid, tid, sims = cols
        order = np.argsort(joint, kind="stable")
        bounds = np.searchsorted(joint[order], np.arange(NUM_JOINTS + 1))
        for j in range(NUM_JOINTS):
            sel = order[bounds[j] : bounds[j + 1]]
            cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int64)  # noqa: E731
            per_joint_parts[j].append(
                hota_from_pairs(cat(gt_dets[j]), cat(tr_dets[j]), frame[sel], gid[sel], tid[sel], sims[sel])
            )
    return KeypointHota([HotaCounts.combine(parts) for parts in per_joint_parts])
