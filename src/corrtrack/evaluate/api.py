"""``evaluate(gt, pred) -> EvalResult``: the Python entry point, and loading of GT / prediction folders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from corrtrack.errors import FormatError
from corrtrack.evaluate.posetrack import APResult, MOTCounts, compute_ap, mot_counts
from corrtrack.evaluate.prepare import EvalFrame, FrameSelection, prepare_pair
from corrtrack.keypoints import EVAL_GROUPS, POSETRACK17
from corrtrack.poses import PoseSequence

__all__ = ["GROUPS", "JOINT_NAMES", "EvalResult", "evaluate", "evaluate_dirs", "load_pairs"]

#: printed joint names, official joint-id order ("neck" is head_bottom)
JOINT_NAMES = tuple("neck" if n == "head_bottom" else n for n in POSETRACK17.joints)
GROUPS = {g: [POSETRACK17.index(n) for n in names] for g, names in EVAL_GROUPS.items()}


@dataclass
class SequenceResult:
    name: str
    num_frames: int
    ap: APResult | None
    mot: MOTCounts


@dataclass
class EvalResult:
    """All numbers of one evaluation. Per-joint arrays: 15 joints in official id order, then the total."""

    ap: APResult | None
    mot: MOTCounts | None
    motp_mode: str = "motmetrics"
    sequences: list[SequenceResult] = field(default_factory=list)
    hota: Any = None

    @property
    def mot_metrics(self) -> dict[str, np.ndarray]:
        return self.mot.metrics(self.motp_mode) if self.mot is not None else {}

    def group_means(self, values: np.ndarray) -> dict[str, float]:
        """The printed columns: Head, Shou, Elb, Wri, Hip, Knee, Ankl, and Total (= mean of the 15 joints)."""
        out = {g: float(np.mean(values[idx])) for g, idx in GROUPS.items()}
        out["Total"] = float(values[len(JOINT_NAMES)])
        return out

    def to_json(self) -> dict[str, Any]:
        names = {str(i): n for i, n in enumerate(JOINT_NAMES)} | {str(len(JOINT_NAMES)): "total"}
        out: dict[str, Any] = {"names": names}
        if self.ap is not None:
            out["ap"] = {
                "ap": self.ap.ap.tolist(),
                "pre": self.ap.pre.tolist(),
                "rec": self.ap.rec.tolist(),
                "num_gt_joints": self.ap.num_gt.tolist(),
            }
        if self.mot is not None:
            m = self.mot.metrics("motmetrics")
            out["mot"] = {k: v.tolist() for k, v in m.items()}
            out["mot"]["motp_classic"] = self.mot.metrics("classic")["motp"].tolist()
            out["mot"]["counts"] = _counts_json(self.mot)
        out["sequences"] = {
            s.name: {
                "num_frames": s.num_frames,
                "ap": s.ap.ap.tolist() if s.ap is not None else None,
                "mot": {k: v.tolist() for k, v in s.mot.metrics(self.motp_mode).items()},
                "counts": _counts_json(s.mot),
            }
            for s in self.sequences
        }
        if self.hota is not None:
            out["hota"] = self.hota.to_json()
        return out

    def official_files(self) -> dict[str, dict[str, Any]]:
        """The JSON files the official evaluator writes (``total_AP_metrics.json``, ``<seq>_MOT_metrics.json``...)."""
        names = {str(i): n for i, n in enumerate(JOINT_NAMES)} | {str(len(JOINT_NAMES)): "total"}
        files: dict[str, dict[str, Any]] = {}

        def ap_doc(ap: APResult) -> dict[str, Any]:
            return {"ap": ap.ap.tolist(), "pre": ap.pre.tolist(), "rec": ap.rec.tolist(), "names": names}

        def mot_doc(counts: MOTCounts) -> dict[str, Any]:
            m = counts.metrics(self.motp_mode)
            return {k: m[k].tolist() for k in ("mota", "motp", "pre", "rec")} | {"names": names}

        if self.ap is not None:
            files["total_AP_metrics.json"] = ap_doc(self.ap)
        if self.mot is not None:
            files["total_MOT_metrics.json"] = mot_doc(self.mot)
        for seq in self.sequences:
            if seq.num_frames == 0:  # the official tool only reports sequences with a kept frame
                continue
            if seq.ap is not None:
                files[f"{seq.name}_AP_metrics.json"] = ap_doc(seq.ap)
            if self.mot is not None and seq.num_frames > 1:  # the official tool needs two frames for MOT
                files[f"{seq.name}_MOT_metrics.json"] = mot_doc(seq.mot)
        return files


def _counts_json(c: MOTCounts) -> dict[str, list]:
    return {
        "num_gt": c.num_gt.tolist(),
        "misses": c.misses.tolist(),
        "false_positives": c.false_positives.tolist(),
        "id_switches": c.switches.tolist(),
        "matches": c.matches.tolist(),
        "sum_d_events": c.sum_d_events.tolist(),
        "sum_d_matches": c.sum_d_matches.tolist(),
    }


def evaluate(
    gt: Sequence[PoseSequence] | PoseSequence,
    pred: Sequence[PoseSequence] | PoseSequence,
    *,
    pose_estimation: bool = True,
    tracking: bool = True,
    hota: bool = False,
    frames: FrameSelection = "annotated",
    motp: str = "motmetrics",
    sources: Sequence[tuple[str, str]] | None = None,
    workers: int = 1,
    hota_scale: float | None = None,
) -> EvalResult:
    """Evaluate predictions against ground truth, sequence ``i`` of ``pred`` against sequence ``i`` of ``gt``.

    ``frames="annotated"`` is the official rule (frames with a GT person);
    ``"labeled"`` selects frames by ``is_labeled``. ``motp`` picks the MOTP
    accounting: ``"motmetrics"`` (what the official tool prints with motmetrics
    >= 1.1) or ``"classic"`` (1 - mean matched distance). ``workers > 1`` runs the CLEAR-MOT
    accumulation (the slow part: motmetrics, one accumulator per joint and sequence) for
    several sequences in parallel processes; the result is the same.
    """
    gts = [gt] if isinstance(gt, PoseSequence) else list(gt)
    preds = [pred] if isinstance(pred, PoseSequence) else list(pred)
    if len(gts) != len(preds):
        raise ValueError(f"{len(gts)} ground-truth sequences but {len(preds)} prediction sequences")
    if motp not in ("motmetrics", "classic"):
        raise ValueError(f"motp must be 'motmetrics' or 'classic', got {motp!r}")
    sources = sources or [(g.name, p.name) for g, p in zip(gts, preds)]
    per_seq: list[list[EvalFrame]] = [prepare_pair(g, p, gs, ps, frames) for g, p, (gs, ps) in zip(gts, preds, sources)]
    all_frames = [f for fr in per_seq for f in fr]
    total_mot = MOTCounts() if tracking else None
    seq_results = []
    if tracking:
        per_seq_counts = _map(mot_counts, per_seq, workers)
    else:
        per_seq_counts = [MOTCounts() for _ in per_seq]
    for g, frs, counts in zip(gts, per_seq, per_seq_counts):
        if total_mot is not None:
            total_mot += counts
        seq_results.append(SequenceResult(g.name, len(frs), compute_ap(frs) if pose_estimation else None, counts))
    result = EvalResult(compute_ap(all_frames) if pose_estimation else None, total_mot, motp, seq_results)
    if hota:
        from corrtrack.evaluate.hota import KEYPOINT_SIM_SCALE, keypoint_hota

        result.hota = keypoint_hota(gts, preds, sources, hota_scale or KEYPOINT_SIM_SCALE)
    return result


def _map(fn: Any, items: list, workers: int) -> list:
    """``[fn(x) for x in items]``, in a process pool when ``workers > 1`` and there is enough work."""
    if workers <= 1 or len(items) < 2 or sum(len(x) for x in items) < 200:
        return [fn(x) for x in items]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=context) as pool:
        return list(pool.map(fn, items, chunksize=max(1, len(items) // (4 * workers))))


def load_pairs(gt_dir: str | Path, pred_dir: str | Path) -> tuple[list[PoseSequence], list[PoseSequence], list]:
    """Every ``*.json`` in ``gt_dir`` with the prediction file of the same name (2017 or 2018 format each)."""
    from corrtrack.formats import load_sequence

    gt_dir, pred_dir = Path(gt_dir), Path(pred_dir)
    if not gt_dir.is_dir():
        raise FormatError(gt_dir, "ground-truth folder not found")
    if not pred_dir.is_dir():
        raise FormatError(pred_dir, "prediction folder not found")
    gt_files = sorted(gt_dir.glob("*.json"))
    if not gt_files:
        raise FormatError(gt_dir, "no .json sequence files in the ground-truth folder")
    gts, preds, sources = [], [], []
    for path in gt_files:
        pred_path = pred_dir / path.name
        if not pred_path.is_file():
            raise FormatError(pred_path, f"missing prediction file for ground-truth sequence {path.name}")
        gts.append(load_sequence(path))
        preds.append(load_sequence(pred_path))
        sources.append((str(path), str(pred_path)))
    return gts, preds, sources


def evaluate_dirs(gt_dir: str | Path, pred_dir: str | Path, **kwargs: Any) -> EvalResult:
    gts, preds, sources = load_pairs(gt_dir, pred_dir)
    return evaluate(gts, preds, sources=sources, **kwargs)
