"""Accuracy of the CenterNet-style person detector on SynthTrack val and on real frames (sim-to-real).

SynthTrack (a written data set, e.g. ``corrtrack synth DIR --standard synthtrack-v2``): box AP and
AP50 with pycocotools' COCOeval on the labelled frames of a split (ignore regions enter as
``iscrowd`` boxes, so detections of bystanders count for nothing), recall / precision at the
operating point (the DetectionFilter: score > 0.5, box NMS 0.7, IoU 0.5 matching), and the miss
rate of people more than half hidden (fewer than 8 of the 15 annotatable joints visible; ears are
never annotated) beside that of the others.

Real frames: TUD-Stadtmitte (mp4 in ../shared/data) and PETS09-S2L1 (``bash tools/fetch_pets_video.sh``)
with their MOTChallenge ground truth (MOT frame f is video frame f-1; flag-0 rows are ignore
regions). The same numbers for the public ``det.txt`` detections of the same frames are the
reference. The detector was never trained on a real image.

    python benchmarks/detector_accuracy.py --data DIR [--weights W | --checkpoint C] [--json OUT]

``--detector yolo`` scores the optional YOLO11n-pose backend (``corrtrack.inference.yolo``; run it
with the interpreter of an environment that has the 'yolo' extra) on the same real frames, at the
input sizes of ``--yolo-imgsz`` (default 640,1280). Its score floor for AP is ``--yolo-conf``
(default 0.01, so the ranking is nearly complete); recall and precision are at the same
DetectionFilter (score > 0.5, NMS 0.7) as the CenterNet detector's.

    python benchmarks/detector_accuracy.py --detector yolo [--yolo-imgsz 640,1280] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corrtrack.geometry import box_iou
from corrtrack.inference.detector import CenterNetDetector, DetectorConfig
from corrtrack.inference.file_detections import DetectionFilter, filter_detections
from corrtrack.interfaces import PersonDetector
from corrtrack.poses import Poses
from corrtrack.video import FrameSource, read_image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
REAL = {
    "TUD-Stadtmitte": (SHARED / "TUD-Stadtmitte" / "TUD-Stadtmitte.mp4", SHARED / "TUD-Stadtmitte"),
    "PETS09-S2L1": (ROOT / "data-cache" / "PETS09-S2L1" / "vtest.avi", SHARED / "PETS09-S2L1"),
}
#: a person is "more than half hidden" with fewer than this many of the 15 annotatable joints visible
HALF_VISIBLE_JOINTS = 8


def coco_box_ap(
    gt_boxes: list[np.ndarray], ignore_boxes: list[np.ndarray], dets: list[Poses], sizes: list[tuple[int, int]]
) -> dict[str, float]:
    """AP (IoU .50:.95) and AP50 of ``dets`` against ``gt_boxes`` per image, with pycocotools' COCOeval."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns, results = [], [], []
    for i, (gt, ign, det, (w, h)) in enumerate(zip(gt_boxes, ignore_boxes, dets, sizes)):
        images.append({"id": i, "width": w, "height": h})
        for crowd, boxes in ((0, gt), (1, ign)):
            for b in boxes:
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": i,
                        "category_id": 1,
                        "bbox": [float(v) for v in b],
                        "area": float(b[2] * b[3]),
                        "iscrowd": crowd,
                    }
                )
        for b, s in zip(det.boxes, det.scores):
            results.append({"image_id": i, "category_id": 1, "bbox": [float(v) for v in b], "score": float(s)})
    if not results:
        return {"AP": 0.0, "AP50": 0.0}
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"AP": round(float(ev.stats[0]), 4), "AP50": round(float(ev.stats[1]), 4)}


def match_at_operating_point(
    gt: np.ndarray, ignore: np.ndarray, det: Poses, iou: float = 0.5
) -> tuple[np.ndarray, int, int]:
    """Greedy IoU matching (best score first): matched flag per ground-truth box, true and false positives.

    A detection matching no ground truth but covering an ignore box by more than half its own area
    is neither a true nor a false positive.
    """
    matched = np.zeros(len(gt), bool)
    tp = fp = 0
    order = np.argsort(-np.nan_to_num(det.scores, nan=1.0), kind="stable")
    boxes = det.boxes[order]
    ious = box_iou(boxes, gt) if len(gt) and len(boxes) else np.zeros((len(boxes), len(gt)))
    for d in range(len(boxes)):
        cand = np.where(~matched & (ious[d] >= iou), ious[d], -1.0) if len(gt) else np.zeros(0)
        if len(cand) and cand.max() >= iou:
            matched[int(cand.argmax())] = True
            tp += 1
            continue
        if len(ignore):
            b = boxes[d]
            ix = np.clip(np.minimum(b[0] + b[2], ignore[:, 0] + ignore[:, 2]) - np.maximum(b[0], ignore[:, 0]), 0, None)
            iy = np.clip(np.minimum(b[1] + b[3], ignore[:, 1] + ignore[:, 3]) - np.maximum(b[1], ignore[:, 1]), 0, None)
            if (ix * iy).max() > 0.5 * b[2] * b[3]:
                continue
        fp += 1
    return matched, tp, fp


def _polygon_box(p: np.ndarray) -> np.ndarray:
    x0, y0 = p.min(axis=0)
    x1, y1 = p.max(axis=0)
    return np.array([x0, y0, x1 - x0, y1 - y0])


def evaluate_synthtrack(detector: CenterNetDetector, data: Path, split: str, max_frames: int | None) -> dict[str, Any]:
    """AP / AP50, operating-point recall and precision, and the miss rate of people more than half hidden."""
    from corrtrack.formats import load_sequence
    from corrtrack.training.pose_data import find_posetrack_annotations

    files, base = find_posetrack_annotations(data, split)
    items: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
    for f in files:
        for frame in load_sequence(f).frames:
            if frame.is_labeled is False or not frame.file_name:
                continue
            p = frame.poses
            visible = (p.keypoints[:, :, 2] > 0).sum(axis=1) if len(p) else np.zeros(0, int)
            ign = np.array([_polygon_box(np.asarray(r)) for r in (frame.ignore_regions or []) if len(r)])
            items.append((str(base / frame.file_name), p.boxes, ign.reshape(-1, 4), visible))
    if max_frames is not None and len(items) > max_frames:
        items = [items[i] for i in np.linspace(0, len(items) - 1, max_frames).round().astype(int)]
    raw: list[Poses] = []
    sizes: list[tuple[int, int]] = []
    t_net = 0.0
    for start in range(0, len(items), 8):
        frames = [read_image(path) for path, *_ in items[start : start + 8]]
        t0 = time.perf_counter()
        raw += detector.detect_raw(frames)
        t_net += time.perf_counter() - t0
        sizes += [(f.shape[1], f.shape[0]) for f in frames]
    ap = coco_box_ap([it[1] for it in items], [it[2] for it in items], raw, sizes)
    tp = fp = 0
    hidden_hits = hidden_total = shown_hits = shown_total = 0
    for (_, gt, ign, visible), det in zip(items, raw):
        matched, t, f = match_at_operating_point(gt, ign, detector.post_filter(det))
        tp, fp = tp + t, fp + f
        hidden = visible < HALF_VISIBLE_JOINTS
        hidden_hits += int(matched[hidden].sum())
        hidden_total += int(hidden.sum())
        shown_hits += int(matched[~hidden].sum())
        shown_total += int((~hidden).sum())
    n_gt = hidden_total + shown_total
    return {
        "frames": len(items),
        "persons": n_gt,
        **ap,
        "recall@op": round(tp / max(1, n_gt), 4),
        "precision@op": round(tp / max(1, tp + fp), 4),
        "miss_rate_more_than_half_hidden": round(1 - hidden_hits / max(1, hidden_total), 4),
        "persons_more_than_half_hidden": hidden_total,
        "miss_rate_others": round(1 - shown_hits / max(1, shown_total), 4),
        "seconds_per_frame": round(t_net / max(1, len(items)), 4),
    }


def read_mot(path: Path) -> dict[int, np.ndarray]:
    """MOTChallenge rows per 0-based video frame (MOT frame f is video frame f-1)."""
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    return {int(f) - 1: rows[rows[:, 0] == f] for f in np.unique(rows[:, 0])}


def _input_of(detector: PersonDetector) -> str:
    if isinstance(detector, CenterNetDetector):
        return f"{detector.input_width}x{detector.input_height}"
    return f"imgsz {getattr(getattr(detector, 'config', None), 'imgsz', '?')}"


def evaluate_real(detector: Any, name: str, every: int, post: DetectionFilter) -> dict[str, Any] | None:
    """Detector vs. the public det.txt on the real frames (every ``every``-th frame with ground truth)."""
    video, root = REAL[name]
    if not video.is_file() or not (root / "gt" / "gt.txt").is_file():
        print(f"# {name}: skipped ({video if not video.is_file() else root / 'gt'} missing)", file=sys.stderr)
        return None
    gt = read_mot(root / "gt" / "gt.txt")
    public = read_mot(root / "det" / "det.txt")
    wanted = set(sorted(gt)[::every])
    frames: list[np.ndarray] = []
    index: list[int] = []
    for i, frame in enumerate(FrameSource(video)):
        if i in wanted:
            frames.append(frame)
            index.append(i)
    raw: list[Poses] = []
    t0 = time.perf_counter()
    for start in range(0, len(frames), 8):
        raw += detector.detect_raw(frames[start : start + 8])
    seconds = (time.perf_counter() - t0) / max(1, len(frames))
    gts = [gt[i][gt[i][:, 6] != 0, 2:6] for i in index]
    igns = [gt[i][gt[i][:, 6] == 0, 2:6] for i in index]
    pub = []
    for i in index:
        rows = public.get(i, np.zeros((0, 10)))
        pub.append(Poses.create(np.zeros((len(rows), 17, 3)), boxes=rows[:, 2:6], scores=rows[:, 6]))
    sizes = [(f.shape[1], f.shape[0]) for f in frames]

    def score(dets: list[Poses], filtered: list[Poses]) -> dict[str, float]:
        out = coco_box_ap(gts, igns, dets, sizes)
        tp = fp = 0
        for g, ig, d in zip(gts, igns, filtered):
            _, t, f = match_at_operating_point(g, ig, d)
            tp, fp = tp + t, fp + f
        n = sum(len(g) for g in gts)
        return {**out, "recall@op": round(tp / max(1, n), 4), "precision@op": round(tp / max(1, tp + fp), 4)}

    heights = np.concatenate([g[:, 3] for g in gts]) if gts else np.zeros(0)
    return {
        "frames": len(frames),
        "persons": int(sum(len(g) for g in gts)),
        "person_height_px": [round(float(np.percentile(heights, q)), 1) for q in (5, 50, 95)] if len(heights) else [],
        "input": _input_of(detector),
        "ours": {**score(raw, [detector.post_filter(d) for d in raw]), "seconds_per_frame": round(seconds, 4)},
        "public_det_txt": score(pub, [filter_detections(d, post) for d in pub]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="a written SynthTrack data set (e.g. synthtrack-v2)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--weights", type=Path, help="detector weights (default: the bundled tiny weights)")
    ap.add_argument("--checkpoint", type=Path, help="a train detector checkpoint.pt (trusted)")
    ap.add_argument("--max-frames", type=int, default=None, help="evaluate at most this many SynthTrack frames")
    ap.add_argument("--real-every", type=int, default=4, help="every n-th ground-truth frame of the real videos")
    ap.add_argument(
        "--real-input", default="train,640x480", help="comma list of input sizes for real frames (train = training)"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--detector", choices=("centernet", "yolo"), default="centernet")
    ap.add_argument("--yolo-imgsz", default="640,1280", help="comma list of YOLO input sizes (--detector yolo)")
    ap.add_argument("--yolo-conf", type=float, default=0.01, help="YOLO's score floor (AP needs the ranking)")
    ap.add_argument("--sequences", default=",".join(REAL), help="comma list of real sequences")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    post = DetectionFilter()
    names = [n for n in args.sequences.split(",") if n]
    if args.detector == "yolo":
        return _main_yolo(args, post, names)

    def make(cfg: DetectorConfig) -> CenterNetDetector:
        if args.checkpoint:
            return CenterNetDetector.from_checkpoint(args.checkpoint, cfg, post, trusted=True)
        if args.weights:
            return CenterNetDetector.from_checkpoint(args.weights, cfg, post)
        return CenterNetDetector.from_bundled(cfg, post)

    report: dict[str, Any] = {"weights": str(args.checkpoint or args.weights or "bundled"), "filter": vars(post)}
    if args.data:
        report["synthtrack"] = evaluate_synthtrack(make(DetectorConfig()), args.data, args.split, args.max_frames)
        report["synthtrack"]["split"] = args.split
        print(json.dumps({"synthtrack": report["synthtrack"]}), flush=True)
    for size in args.real_input.split(","):
        cfg = DetectorConfig()
        if size != "train":
            w, h = (int(v) for v in size.lower().split("x"))
            cfg = DetectorConfig(input_width=w, input_height=h)
        _score_real(make(cfg), names, args, post, report)
    return _finish(args, report)


def _main_yolo(args: argparse.Namespace, post: DetectionFilter, names: list[str]) -> int:
    """The YOLO11n-pose backend on the real frames, one row per input size."""
    import os

    from corrtrack.inference.yolo import YoloPose, YoloPoseConfig

    report: dict[str, Any] = {
        "detector": "yolo11n-pose",
        "filter": vars(post),
        "threads": torch.get_num_threads(),
        "load_average": round(os.getloadavg()[0], 1),
    }
    for size in (int(v) for v in args.yolo_imgsz.split(",")):
        det = YoloPose(YoloPoseConfig(imgsz=size, conf=args.yolo_conf), post, keypoints=False)
        report.setdefault("weights", str(det.weights))
        _score_real(det, names, args, post, report)
    return _finish(args, report)


def _score_real(
    det: Any, names: list[str], args: argparse.Namespace, post: DetectionFilter, report: dict[str, Any]
) -> None:
    """One detector on every real sequence: a JSON line each, and a row in ``report['real']``."""
    for name in names:
        res = evaluate_real(det, name, args.real_every, post)
        if res is not None:
            report.setdefault("real", []).append({"sequence": name, **res})
            print(json.dumps({name: res}), flush=True)


def _finish(args: argparse.Namespace, report: dict[str, Any]) -> int:
    if args.json:
        from corrtrack.fileio import write_json

        write_json(args.json, report, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
