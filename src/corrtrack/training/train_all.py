"""``corrtrack train all``: the three bundled networks trained end to end on one device, evaluated, exported.

Steps (each resumable: a rerun with the same ``--out`` continues where it stopped):

1. **Data**: ``DATA`` must hold a SynthTrack/PoseTrack folder with ``train`` and ``val`` splits; if it
   holds none, SynthTrack v2.1 (``synthtrack-v2.1`` train and val splits, or a small set at
   ``scale="tiny"``) is rendered there on all CPU cores.
2. **Shards**: the frames are decoded once into ``OUT/shards`` (all cores), so no step decodes a JPEG.
3. **Training**: pose, detector and correspondence networks with :func:`~corrtrack.training.trainer.train_network`
   (``OUT/pose``, ``OUT/detector``, ``OUT/corr``) with the step counts of :data:`SCALES`.
4. **Evaluation** on the val split (a small evaluation, :func:`evaluate_pose`, :func:`evaluate_detector`,
   :func:`evaluate_correspondences`; the benchmarks in ``benchmarks/`` remain the reference numbers).
5. **Export**: float16 weights plus metadata in the one schema (:mod:`corrtrack.training.metadata`) to
   ``OUT/bundled/{pose,detector,corr}_tiny.{pt,json}``, and ``OUT/report.json``.

``scale="full"`` is sized for about 10 minutes of training on one data-centre GPU (docs/training.md);
``scale="tiny"`` runs the whole path in seconds on a CPU (the test suite's); a number scales the
full step counts.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corrtrack.errors import CorrtrackError
from corrtrack.fileio import write_json
from corrtrack.training.loop import resolve_device

__all__ = [
    "SCALES",
    "evaluate_correspondences",
    "evaluate_detector",
    "evaluate_pose",
    "train_all",
]

#: per scale: SynthTrack data to render when DATA is empty, and each network's training options
SCALES: dict[str, dict[str, Any]] = {
    "full": {
        "data": "synthtrack-v2.1",
        "pose": {"steps": 6000, "batch_size": 128, "lr": 4e-3, "warmup_steps": 200},
        "detector": {"steps": 5000, "batch_size": 64, "lr": 6e-3, "warmup_steps": 200},
        "correspondence": {
            "embedding_steps": 4000,
            "refiner_steps": 2000,
            "batch_size": 32,
            "lr": 4e-3,
            "warmup_steps": 100,
            "positive_weight": 30.0,
        },
        "eval_sequences": 12,
    },
    "tiny": {
        "data": {"sequences": 2, "frames": 4, "width": 192, "height": 128},
        "pose": {"steps": 2, "batch_size": 2, "warmup_steps": 1},
        "detector": {"steps": 2, "batch_size": 2, "warmup_steps": 1},
        "correspondence": {"embedding_steps": 2, "refiner_steps": 1, "batch_size": 2, "warmup_steps": 1},
        "eval_sequences": 1,
    },
}
CONFIG = {"pose": "tiny", "detector": "tiny", "correspondence": "tiny"}
FOLDER = {"pose": "pose", "detector": "detector", "correspondence": "corr"}


def _scaled(scale: str | float) -> dict[str, Any]:
    if isinstance(scale, str) and scale in SCALES:
        return SCALES[scale]
    try:
        factor = float(scale)
    except ValueError:
        raise CorrtrackError(f"unknown scale {scale!r}; use full, tiny or a number (times the full steps)") from None
    if not 0 < factor <= 100:
        raise CorrtrackError(f"scale {factor} must be in (0, 100]")
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in SCALES["full"].items()}
    for net in ("pose", "detector", "correspondence"):
        for key in ("steps", "embedding_steps", "refiner_steps"):
            if key in out[net]:
                out[net][key] = max(1, round(out[net][key] * factor))
    return out


def ensure_data(data: Path, spec: Any, workers: int) -> None:
    """Render SynthTrack into ``data`` unless it already holds train and val annotations."""
    if (data / "annotations" / "train").is_dir() and (data / "annotations" / "val").is_dir():
        return
    if data.exists() and any(data.iterdir()):
        raise CorrtrackError(f"{data}: neither empty nor a data set with annotations/train and annotations/val")
    from corrtrack.synth.dataset import generate_dataset, generate_standard, make_specs

    print(f"rendering SynthTrack into {data} on {workers} processes", flush=True)
    if isinstance(spec, str):
        generate_standard(data, spec, splits=("train", "val"), workers=workers, overwrite=True)
        return
    specs = make_specs("train", ["medium"], spec["sequences"], spec["frames"], 1, "all", spec["width"], spec["height"])
    specs += make_specs("val", ["medium"], spec["sequences"], spec["frames"], 2, "all", spec["width"], spec["height"])
    generate_dataset(data, specs, workers=workers, overwrite=True)


# ----------------------------------------------------------------------------------- evaluation


def _val(data: Path, sequences: int) -> tuple[list[Any], Path]:
    from corrtrack.formats import load_sequence
    from corrtrack.training.pose_data import find_posetrack_annotations

    files, base = find_posetrack_annotations(data, "val")
    return [load_sequence(f) for f in files[:sequences]], base


def evaluate_pose(weights: Path, data: Path, sequences: int, device: str = "cpu") -> dict[str, float]:
    """mAP (PoseTrack AP, all joints) of the pose network in the ground-truth boxes of the val split."""
    from corrtrack.evaluate import evaluate
    from corrtrack.inference.pose_estimator import TopDownPoseEstimator, estimate_with_gt_boxes
    from corrtrack.video import read_image

    est = TopDownPoseEstimator.from_checkpoint(weights, device=device)
    gts, base = _val(data, sequences)
    preds = []
    for g in gts:

        def frame(t: int, g: Any = g) -> np.ndarray:
            return read_image(base / g.frames[t].file_name)

        preds.append(estimate_with_gt_boxes(est, g, frame))
    res = evaluate(gts, preds, tracking=False)
    if res.ap is None:
        raise CorrtrackError(f"{data}: no labelled val frame to evaluate the pose network on")
    return {"mAP_gt_boxes": round(float(res.group_means(res.ap.ap)["Total"]), 2)}


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from corrtrack.geometry import box_iou

    return box_iou(a, b) if len(a) and len(b) else np.zeros((len(a), len(b)))


def evaluate_detector(weights: Path, data: Path, sequences: int, device: str = "cpu") -> dict[str, float]:
    """AP at IoU 0.5 (all-point interpolation) and recall/precision at the default score threshold on val.

    Detections matched to an ignore region (IoU >= 0.5 with its box) count for nothing.
    """
    from corrtrack.inference.detector import CenterNetDetector
    from corrtrack.video import read_image

    det = CenterNetDetector.from_checkpoint(weights, device=device)
    threshold = float(det.post.score_threshold)
    gts, base = _val(data, sequences)
    scores: list[float] = []
    hits: list[bool] = []
    total = 0
    for g in gts:
        for fr in g.frames:
            if fr.is_labeled is False:
                continue
            gt = fr.poses.box_or_keypoint_box() if len(fr.poses) else np.zeros((0, 4))
            gt = gt[np.isfinite(gt).all(1)] if len(gt) else gt
            ignore = np.array([np.r_[p.min(0), np.ptp(p, 0)] for p in (fr.ignore_regions or [])]).reshape(-1, 4)
            found = det.detect_raw([read_image(base / fr.file_name)])[0]
            order = np.argsort(-found.scores)
            boxes, conf = found.boxes[order], found.scores[order]
            iou, iou_ign = _iou(boxes, gt), _iou(boxes, ignore)
            used = np.zeros(len(gt), bool)
            total += len(gt)
            for i in range(len(boxes)):
                cand = np.where(~used & (iou[i] >= 0.5))[0] if len(gt) else np.zeros(0, int)
                if len(cand):
                    used[cand[np.argmax(iou[i, cand])]] = True
                    hits.append(True)
                elif len(ignore) and iou_ign[i].max() >= 0.5:
                    continue
                else:
                    hits.append(False)
                scores.append(float(conf[i]))
    if total == 0:
        raise CorrtrackError(f"{data}: no ground-truth box in the val split")
    order = np.argsort(-np.asarray(scores), kind="stable")
    tp = np.asarray(hits, float)[order]
    ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
    recall = ctp / total
    precision = ctp / np.maximum(ctp + cfp, 1e-9)
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * envelope)) if len(recall) else 0.0
    above = np.asarray(scores)[order] >= threshold
    n_above = int(above.sum())
    return {
        "AP50": round(ap, 4),
        f"recall_at_{threshold:g}": round(float(tp[above].sum() / total), 4),
        f"precision_at_{threshold:g}": round(float(tp[above].sum() / max(n_above, 1)), 4),
    }


def evaluate_correspondences(weights: Path, data: Path, sequences: int, device: str = "cpu") -> dict[str, float]:
    """On val pairs made as in training (fixed seed): the share of visible joints whose refined-map peak
    is within one grid cell (4 canvas pixels) of the true cell."""
    from corrtrack.models.checkpoints import model_from_checkpoint
    from corrtrack.models.correspondence_net import CorrespondenceNet
    from corrtrack.training.corr_data import CorrPairDataset, PairConfig, RecordStills
    from corrtrack.training.pose_data import load_records

    net = model_from_checkpoint(weights)
    if not isinstance(net, CorrespondenceNet):
        raise CorrtrackError(f"{weights}: not a full correspondence network")
    net = net.to(resolve_device(device)).eval()
    dataset = CorrPairDataset(RecordStills(load_records(data, "val", min_joints=3)), net.cfg.input_size, PairConfig())
    n = min(len(dataset), 16 * sequences)
    good = count = 0
    with torch.no_grad():
        for i in range(n):
            s = dataset.get(i, np.random.default_rng([7, i]))

            def img(x: np.ndarray) -> torch.Tensor:
                return torch.from_numpy(x).permute(2, 0, 1)[None].float().div(255).to(next(net.parameters()).device)

            q = torch.from_numpy(s["queries"]).double()[None].to(next(net.parameters()).device)
            logits, _ = net(img(s["image_a"]), img(s["image_b"]), q)
            g = logits.shape[-1]
            peak = logits[0].flatten(1).argmax(1).cpu().numpy()
            xy = np.stack([peak % g, peak // g], 1)
            vis = s["visible_b"]
            good += int((np.abs(xy - s["target"]).max(1)[vis] <= 1).sum())
            count += int(vis.sum())
    return {"pairs": n, "joints": count, "within_1_cell": round(good / max(count, 1), 4)}


# ------------------------------------------------------------------------------------- train all


def train_all(
    data: str | Path,
    out: str | Path,
    *,
    device: str = "cpu",
    scale: str | float = "full",
    workers: int | None = None,
    threads: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Render (if needed), shard, train, evaluate and export the three bundled networks; returns the report."""
    resolve_device(device)  # refused at once, before any data is rendered
    plan = _scaled(scale)
    data, out = Path(data), Path(out)
    cores = workers or os.cpu_count() or 1
    ensure_data(data, plan["data"], cores)
    if threads:
        torch.set_num_threads(threads)
    from corrtrack.training.corr_train import export_bundled
    from corrtrack.training.detector_train import export_detector_weights
    from corrtrack.training.pose_train import export_weights
    from corrtrack.training.trainer import train_network

    command = " ".join(shlex.quote(a) for a in sys.argv)
    loader_workers = max(1, min(8, cores - 1)) if device != "cpu" else 1
    common = {"device": device, "shards": str(out / "shards"), "workers": loader_workers, "foreach": True}
    report: dict[str, Any] = {"data": str(data), "device": device, "scale": str(scale), "networks": {}}
    bundled = out / "bundled"
    bundled.mkdir(parents=True, exist_ok=True)
    evaluators = {"pose": evaluate_pose, "detector": evaluate_detector, "correspondence": evaluate_correspondences}
    exporters = {"pose": export_weights, "detector": export_detector_weights, "correspondence": export_bundled}
    for network in ("pose", "detector", "correspondence"):
        t0 = time.perf_counter()
        options = {**common, **plan[network]}
        if network == "detector" and device != "cpu":
            options["channels_last"] = True  # measured slower on the CPU (docs/training.md)
        result = train_network(
            network, CONFIG[network], data, out / FOLDER[network], progress=progress, command=command, **options
        )
        if result.weights is None:
            raise CorrtrackError(f"{out / FOLDER[network]}: training did not finish")
        metrics = evaluators[network](result.weights, data, plan["eval_sequences"], device)
        name = f"{FOLDER[network]}_tiny"
        exporters[network](
            result.weights,
            bundled / f"{name}.pt",
            bundled / f"{name}.json",
            val=metrics,
            command=command,
        )
        report["networks"][network] = {
            "weights": str(bundled / f"{name}.pt"),
            "steps": result.step,
            "train_wall_s": round(sum(float(r.history[-1]["wall_s"]) for r in result.phases.values() if r.history), 1),
            "call_wall_s": round(time.perf_counter() - t0, 1),
            "val": metrics,
        }
        print(f"{network}: {result.step} steps; val {metrics}", flush=True)
    write_json(out / "report.json", report, indent=1)
    return report
