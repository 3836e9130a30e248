"""Pose estimator: accuracy with ground-truth boxes (mAP, official rules) and speed (crops per second).

Usage::

    python benchmarks/bench_pose.py accuracy --data DIR [--split val] [--weights pose.pt] [--sequences N]
    python benchmarks/bench_pose.py real [--weights pose.pt]          # the 3 PoseTrack18 sample frames
    python benchmarks/bench_pose.py real --yolo 640,1280              # + YOLO11n-pose rows ('yolo' extra)
    python benchmarks/bench_pose.py speed [--configs tiny,paper,paper3] [--batches 1,8,32] [--threads 2]

``accuracy`` estimates the pose in every ground-truth box of the labelled frames of a PoseTrack-2018-style
folder (e.g. SynthTrack ``val``) and scores it with ``corrtrack.evaluate.evaluate`` (AP only), for the
full estimator (readout stage of the config, flip test, offsets) and the ablations: no offsets (Eq. 1
off), stage 1 read out instead of stage 2, no flip test. Without ``--weights`` the bundled tiny
weights are used.

``real --yolo SIZES`` adds the optional YOLO11n-pose backend's keypoints (COCO-17 mapped by name to
PoseTrack; it has no head_bottom / head_top, which therefore count as misses) on the same frames, two ways:
"GT boxes" gives each ground-truth person the YOLO person whose box overlaps its box most (IoU >=
``--match-iou``, one-to-one; a person without a match gets no prediction), the counterpart of the pose
net's GT-box rows; "own boxes" scores every YOLO person above the DetectionFilter's 0.5 as the prediction
(the ``--detector yolo --poses yolo`` pipeline). The column "mAP w/o neck, head top" is the mean over the
13 joints every row predicts.

``speed`` times ``TopDownPoseEstimator.estimate`` on one 1280x720 frame with N boxes (crop, network,
decoding, mapping back; one forward pass for all boxes), with random weights, and prints crops/s
(median of repeats, after a warm-up), by wall clock and by the process's CPU time. On a shared machine
the CPU time is the robust number: it does not count time spent waiting for a core. Reference point: the
authors' code (3 stages, flip test) needs 760 ms for one person and 13.7 s for 20 persons per frame.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from corrtrack.evaluate import evaluate
from corrtrack.inference.pose_estimator import (
    PoseEstimatorConfig,
    TopDownPoseEstimator,
    estimate_with_gt_boxes,
)
from corrtrack.models.pose_net import PoseNet, pose_config


def _estimator(weights: str | None, **kwargs: object) -> TopDownPoseEstimator:
    flip = bool(kwargs.pop("flip_test", True))
    cfg = PoseEstimatorConfig(**kwargs)  # type: ignore[arg-type]
    if weights:
        return TopDownPoseEstimator.from_checkpoint(weights, cfg, flip_test=flip)
    return TopDownPoseEstimator.from_bundled(cfg, flip_test=flip)


VARIANTS: dict[str, dict[str, object]] = {
    "full (stage 2, flip, offsets)": {},
    "no offsets (Eq. 1 off)": {"use_offsets": False},
    "stage 1 readout": {"readout_stage": 0},
    "no flip test": {"flip_test": False},
}


def accuracy(args: argparse.Namespace) -> None:
    from corrtrack.formats import load_sequence
    from corrtrack.training.pose_data import find_posetrack_annotations
    from corrtrack.video import read_image

    torch.set_num_threads(args.threads)
    files, base = find_posetrack_annotations(args.data, args.split)
    if args.sequences:
        files = files[: args.sequences]
    gts = [load_sequence(f) for f in files]
    persons = sum(int(sum(len(fr.poses) for fr in g.frames if fr.is_labeled is not False)) for g in gts)
    print(f"{len(gts)} sequences of {args.data} ({args.split}), {persons} GT persons in labelled frames")
    print("| variant | mAP | Head | Shou | Elb | Wri | Hip | Knee | Ankl | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, kw in VARIANTS.items() if not getattr(args, "only_yolo", False) else ():
        est = _estimator(args.weights, **kw)
        t0 = time.perf_counter()
        preds = [estimate_with_gt_boxes(est, g, lambda t, g=g: read_image(base / g.frames[t].file_name)) for g in gts]
        secs = time.perf_counter() - t0
        res = evaluate(gts, preds, tracking=False)
        assert res.ap is not None
        cols = res.group_means(res.ap.ap)
        row = " | ".join(f"{cols[c]:.1f}" for c in ("Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl"))
        print(f"| {name} | {cols['Total']:.1f} | {row} | {secs:.0f} |", flush=True)


def _row(name: str, res: object, secs: float) -> str:
    from corrtrack.evaluate.api import JOINT_NAMES

    ap = res.ap  # type: ignore[attr-defined]
    assert ap is not None
    cols = res.group_means(ap.ap)  # type: ignore[attr-defined]
    row = " | ".join(f"{cols[c]:.1f}" for c in ("Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl"))
    body = [i for i, n in enumerate(JOINT_NAMES) if n not in ("neck", "head_top")]
    return f"| {name} | {cols['Total']:.1f} | {row} | {float(np.mean(ap.ap[body])):.1f} | {secs:.0f} |"


def real(args: argparse.Namespace) -> None:
    root = Path(args.data)
    yolo_sizes = [int(v) for v in args.yolo.split(",") if v] if args.yolo else []
    acc = argparse.Namespace(
        data=str(root), split="val", weights=args.weights, sequences=0, threads=args.threads, only_yolo=args.only_yolo
    )
    if not yolo_sizes:
        accuracy(acc)
        return
    real_with_yolo(acc, yolo_sizes, args.match_iou)


def real_with_yolo(args: argparse.Namespace, sizes: list[int], match_iou: float) -> None:
    """The pose net's variants and YOLO11n-pose's keypoints (GT-box matched and own boxes) on the same frames."""
    from scipy.optimize import linear_sum_assignment

    from corrtrack.formats import load_sequence
    from corrtrack.geometry import box_iou
    from corrtrack.inference.yolo import YoloPose, YoloPoseConfig
    from corrtrack.poses import Poses
    from corrtrack.training.pose_data import find_posetrack_annotations
    from corrtrack.video import read_image

    torch.set_num_threads(args.threads)
    files, base = find_posetrack_annotations(args.data, args.split)
    gts = [load_sequence(f) for f in files]
    persons = sum(int(sum(len(fr.poses) for fr in g.frames if fr.is_labeled is not False)) for g in gts)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{len(gts)} sequences of {args.data} ({args.split}), {persons} GT persons in labelled frames; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load:.1f}"
    )
    print("| variant | mAP | Head | Shou | Elb | Wri | Hip | Knee | Ankl | mAP w/o neck, head top | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, kw in VARIANTS.items() if not getattr(args, "only_yolo", False) else ():
        est = _estimator(args.weights, **kw)
        t0 = time.perf_counter()
        preds = [estimate_with_gt_boxes(est, g, lambda t, g=g: read_image(base / g.frames[t].file_name)) for g in gts]
        print(_row(f"pose net: {name}", evaluate(gts, preds, tracking=False), time.perf_counter() - t0), flush=True)
    for size in sizes:
        yolo = YoloPose(YoloPoseConfig(imgsz=size))
        matched_preds, own_preds = [], []
        matched = 0
        t0 = time.perf_counter()
        for g in gts:
            on_gt, own = [], []
            for frame in g.frames:
                gt = frame.poses
                if frame.is_labeled is False or len(gt) == 0:
                    on_gt.append(Poses.empty())
                    own.append(Poses.empty())
                    continue
                det = yolo.detect_raw([read_image(base / frame.file_name)])[0]
                kept = yolo.post_filter(det)
                own.append(kept.replace(track_ids=np.arange(len(kept))))  # the evaluator needs ids
                boxes = gt.box_or_keypoint_box()
                iou = np.nan_to_num(box_iou(boxes, det.boxes)) if len(det) else np.zeros((len(gt), 0))
                rows, cols = linear_sum_assignment(-iou) if iou.size else (np.zeros(0, int), np.zeros(0, int))
                ok = iou[rows, cols] >= match_iou
                rows, cols = rows[ok], cols[ok]
                matched += len(rows)
                on_gt.append(det[cols].replace(track_ids=gt.track_ids[rows].copy()))
            matched_preds.append(g.with_poses(on_gt))
            own_preds.append(g.with_poses(own))
        secs = time.perf_counter() - t0
        res = evaluate(gts, matched_preds, tracking=False)
        print(_row(f"yolo11n-pose {size}: GT boxes ({matched}/{persons} matched)", res, secs), flush=True)
        own_n = sum(len(fr.poses) for p in own_preds for fr in p.frames)
        res = evaluate(gts, own_preds, tracking=False)
        print(_row(f"yolo11n-pose {size}: own boxes ({own_n} persons > 0.5)", res, secs), flush=True)


def speed(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {load:.1f}; estimate() on a 1280x720 frame"
    )
    print("| config | params | boxes | flip | wall ms/frame | crops/s (wall) | CPU ms/frame | crops per CPU-s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.configs.split(","):
        torch.manual_seed(0)
        net = PoseNet(pose_config(name))
        params = net.num_parameters()
        for batch in (int(b) for b in args.batches.split(",")):
            boxes = np.column_stack(
                [
                    rng.uniform(0, 1100, batch),
                    rng.uniform(0, 400, batch),
                    rng.uniform(60, 160, batch),
                    rng.uniform(150, 300, batch),
                ]
            )
            for flip in (False, True):
                est = TopDownPoseEstimator(net, PoseEstimatorConfig(batch_size=max(batch, 1)), flip_test=flip)
                est.estimate(image, boxes)  # warm-up
                budget = args.seconds
                times: list[float] = []
                cpu: list[float] = []
                while len(times) < args.repeats or (sum(times) < budget and len(times) < 20):
                    t0, c0 = time.perf_counter(), time.process_time()
                    est.estimate(image, boxes)
                    times.append(time.perf_counter() - t0)
                    cpu.append(time.process_time() - c0)
                    if len(times) >= args.repeats and sum(times) > budget:
                        break
                med, med_cpu = statistics.median(times), statistics.median(cpu)
                print(
                    f"| {name} | {params / 1e6:.1f} M | {batch} | {'yes' if flip else 'no'} | {1000 * med:.0f} | "
                    f"{batch / med:.1f} | {1000 * med_cpu:.0f} | {batch / med_cpu:.1f} |",
                    flush=True,
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    a = sub.add_parser("accuracy", help="mAP with ground-truth boxes on a PoseTrack-style split")
    a.add_argument("--data", required=True)
    a.add_argument("--split", default="val")
    a.add_argument("--weights", default=None, help="pose.pt / checkpoint.pt (default: bundled tiny)")
    a.add_argument("--sequences", type=int, default=0, help="only the first N sequences (0 = all)")
    a.add_argument("--threads", type=int, default=1)
    r = sub.add_parser("real", help="mAP with GT boxes on /work/shared/data/posetrack18-samples")
    r.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/posetrack18-samples"))
    r.add_argument("--weights", default=None)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--yolo", default="", help="also YOLO11n-pose at these comma-separated input sizes ('yolo' extra)")
    r.add_argument("--only-yolo", action="store_true", help="skip the pose net's rows")
    r.add_argument("--match-iou", type=float, default=0.5, help="GT box to YOLO box IoU needed for a match")
    s = sub.add_parser("speed", help="crops per second")
    s.add_argument("--configs", default="tiny,paper,paper3")
    s.add_argument("--batches", default="1,8,32")
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--seconds", type=float, default=5.0, help="time budget per row beyond the minimum repeats")
    args = ap.parse_args()
    {"accuracy": accuracy, "real": real, "speed": speed}[args.command](args)


if __name__ == "__main__":
    main()
