"""How well YOLO11n-pose's own feature maps tell real people apart (issue #23, item 5): a re-identification probe.

Usage (the yolo environment)::

    .venv-yolo/bin/python benchmarks/yolo_reid_probe.py --data ../shared/data --cache DIR

Stages:

1. ``features`` (kept in ``--cache``, reused): YOLO11n-pose through ONNX Runtime over each video at the
   benchmark's fixed input size (``benchmarks/real_footage.py``: PETS09-S2L1 1280 px, TUD-Stadtmitte 640 px),
   the pose head's three input maps of every frame stored as float16 (``<video>.features-p3|p4|p5.npy``, with
   ``<video>.features.json``: the letterbox gain and padding), the detections of the same run beside them
   (``<video>.feature-detections.npz``). ``real_footage.py`` reads this cache for its descriptor rows.
2. ``probe``: confident detections (score >= 0.5) matched to the ground-truth boxes (IoU >= 0.5, Hungarian);
   each gets person descriptors (:func:`corrtrack.inference.person_descriptors.person_descriptors`, at its YOLO joints
   with confidence >= 0.5) from each combination of levels, and from the bundled SynthTrack correspondence
   net's embedding (``NetworkCorrespondences.describe``) as the reference. For detections ``gap`` frames apart
   (gap ranges 1-5, 10-30, 30-100): the AUROC of the cosine similarity for the same person against different
   people, and rank-1 re-identification (the most similar detection of the earlier frame is the same person).
   Also the colour histograms of :class:`~corrtrack.inference.person_descriptors.ColourDescriber` (no network).

No tracking happens here; the tracker rows with these descriptors are ``real_footage.py``'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from corrtrack.formats import read_mot
from corrtrack.geometry import box_iou
from corrtrack.inference.detection_cache import load_detections
from corrtrack.inference.person_descriptors import ColourDescriber, DescribedCorrespondences, person_descriptors
from corrtrack.poses import Poses
from corrtrack.testing import ZeroMotionCorrespondences
from corrtrack.video import FrameSource

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_footage import DEFAULT_PETS_VIDEO, VIDEOS, VideoSpec, feature_cache, video_specs

MIN_SCORE = 0.5
MATCH_IOU = 0.5
JOINT_CONF = 0.5
GAP_RANGES = ((1, 5), (10, 30), (30, 100))
COMBOS: tuple[tuple[str, ...], ...] = (("p3",), ("p4",), ("p5",), ("p3", "p4"), ("p4", "p5"), ("p3", "p4", "p5"))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- stage 2: the probe
def matched_people(spec: VideoSpec, detections: list[Poses]) -> list[tuple[int, int, np.ndarray]]:
    """(frame, ground-truth id, (17, 3) YOLO joints) of every confident detection matched to a ground-truth box."""
    gt = read_mot(spec.gt, num_frames=len(detections))
    out = []
    for t, (det, frame) in enumerate(zip(detections, gt.frames)):
        keep = np.flatnonzero(det.scores >= MIN_SCORE)
        if not len(keep) or not len(frame.poses):
            continue
        iou = box_iou(det.boxes[keep], frame.poses.boxes)
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols):
            if iou[r, c] >= MATCH_IOU:
                i = keep[r]
                joints = np.concatenate([det.keypoints[i, :, :2], det.keypoint_scores[i][:, None]], axis=1)
                out.append((t, int(frame.poses.track_ids[c]), joints))
    return out


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    if not len(pos) or not len(neg):
        return float("nan")
    scores = np.concatenate([pos, neg])
    ranks = np.empty(len(scores))
    order = np.argsort(scores, kind="mergesort")
    ranks[order] = np.arange(1, len(scores) + 1)
    _, inv, counts = np.unique(scores, return_inverse=True, return_counts=True)  # ties: mean rank
    sums = np.bincount(inv, weights=ranks)
    ranks = (sums / counts)[inv]
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def probe(people: list[tuple[int, int, np.ndarray]], desc: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """AUROC and rank-1 per gap range for descriptors ``desc`` (one row per entry of ``people``)."""
    frames = np.array([p[0] for p in people])
    ids = np.array([p[1] for p in people])
    by_frame: dict[int, np.ndarray] = {int(t): np.flatnonzero(frames == t) for t in np.unique(frames)}
    out: dict[str, Any] = {}
    for lo, hi in GAP_RANGES:
        pos, neg, hits, total = [], [], 0, 0
        for t, later in by_frame.items():
            gap = int(rng.integers(lo, hi + 1))
            earlier = by_frame.get(t - gap)
            if earlier is None:
                continue
            sim = desc[later] @ desc[earlier].T
            same = ids[later][:, None] == ids[earlier][None, :]
            pos.append(sim[same])
            neg.append(sim[~same])
            for r in range(len(later)):
                if same[r].any() and len(earlier) > 1:
                    total += 1
                    hits += int(same[r, int(np.argmax(sim[r]))])
        p, n = np.concatenate(pos) if pos else np.zeros(0), np.concatenate(neg) if neg else np.zeros(0)
        out[f"{lo}-{hi}"] = {
            "auroc": auroc(p, n),
            "rank1": hits / total if total else float("nan"),
            "queries": total,
            "same_mean": float(p.mean()) if len(p) else float("nan"),
            "other_mean": float(n.mean()) if len(n) else float("nan"),
        }
    return out


def frame_descriptors(spec: VideoSpec, people: list[tuple[int, int, np.ndarray]], model: Any, width: int) -> np.ndarray:
    """Descriptors of the matched people from a model with ``embed(image)`` and ``describe(handle, points)``, read
    from the video's frames (the bundled correspondence net, or DescribedCorrespondences with colour)."""
    frames = np.array([p[0] for p in people])
    out = np.zeros((len(people), width))
    wanted = set(frames.tolist())
    for t, image in enumerate(FrameSource(spec.video)):
        if t not in wanted:
            continue
        rows = np.flatnonzero(frames == t)
        pts = np.stack([np.where(people[r][2][:, 2:3] >= JOINT_CONF, people[r][2][:, :2], np.nan) for r in rows])
        out[rows] = model.describe(model.embed(image), pts)
    return out


def network_model() -> Any:
    """The bundled SynthTrack correspondence net (its embedding at the joints: 32-d descriptors)."""
    import torch

    from corrtrack.inference.correspondences import NetworkCorrespondences

    torch.set_num_threads(1)
    return NetworkCorrespondences.from_bundled()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="../shared/data (ground truth, TUD-Stadtmitte video)")
    ap.add_argument("--cache", type=Path, required=True, help="the real-footage cache folder (features kept there)")
    ap.add_argument("--pets-video", type=Path, default=DEFAULT_PETS_VIDEO)
    ap.add_argument("--videos", nargs="+", default=list(VIDEOS), choices=list(VIDEOS))
    ap.add_argument("--no-network", action="store_true", help="skip the SynthTrack network's reference rows")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    specs = video_specs(args.data, args.pets_video)
    results: dict[str, Any] = {}
    for name in args.videos:
        spec = specs[name]
        cache = feature_cache(spec, args.cache)
        detections, _ = load_detections(args.cache / f"{name}.feature-detections.npz")
        people = matched_people(spec, detections)
        log(f"{name}: {len(people)} matched detections in {cache.frames} frames")
        rows: dict[str, Any] = {}
        for combo in COMBOS:
            desc = np.zeros((len(people), 0))
            parts = []
            for t in sorted({p[0] for p in people}):
                idx = [i for i, p in enumerate(people) if p[0] == t]
                pts = np.stack([np.where(people[i][2][:, 2:3] >= JOINT_CONF, people[i][2][:, :2], np.nan) for i in idx])
                parts.append((idx, person_descriptors(cache.features(t), pts, combo)))
            desc = np.zeros((len(people), parts[0][1].shape[1]))
            for idx, d in parts:
                desc[idx] = d
            rows["YOLO " + "+".join(combo)] = probe(people, desc, np.random.default_rng(0))
        colour = DescribedCorrespondences(ZeroMotionCorrespondences(), ColourDescriber())
        rows["colour histograms"] = probe(
            people, frame_descriptors(spec, people, colour, 128), np.random.default_rng(0)
        )
        if not args.no_network:
            desc = frame_descriptors(spec, people, network_model(), 32)
            rows["SynthTrack correspondence net (bundled)"] = probe(people, desc, np.random.default_rng(0))
        results[name] = rows
    print("| video | descriptor | " + " | ".join(f"AUROC / rank-1, gap {lo}-{hi}" for lo, hi in GAP_RANGES) + " |")
    print("|---|---|" + "---|" * len(GAP_RANGES))
    for name, rows in results.items():
        for label, r in rows.items():
            cells = [f"{r[k]['auroc']:.3f} / {r[k]['rank1']:.3f}" for k in (f"{lo}-{hi}" for lo, hi in GAP_RANGES)]
            print(f"| {name} | {label} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
