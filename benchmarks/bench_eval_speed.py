"""Evaluator speed on a SynthTrack set: 50 sequences x 100 frames, medium preset (about 5 people per frame).

Usage: python benchmarks/bench_eval_speed.py [--sequences 50] [--frames 100] [--repeats 3]

Predictions are the ground truth seen through the SIMULATED detector (noisy
poses, misses, duplicates, false positives) and linked by the OKS baseline, so
every part of the evaluator has work to do. Only evaluation is timed (median
of repeats); the data are rendered once at 320x180 (resolution does not affect
evaluation).
"""

from __future__ import annotations

import argparse
import statistics
import time

from corrtrack.evaluate import evaluate
from corrtrack.poses import PoseSequence
from corrtrack.synth import SimulatedDetectorConfig, make_specs, render_sequence_frames, simulate_detections
from corrtrack.tracking import associate_frame_to_frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=50)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    gts, preds = [], []
    for spec in make_specs("val", ["medium"], args.sequences, args.frames, 0, "all", 320, 180):
        gt = render_sequence_frames(spec)[1]
        det = simulate_detections(gt, SimulatedDetectorConfig(with_poses=True), seed=spec.seed)
        gts.append(gt)
        preds.append(associate_frame_to_frame(PoseSequence(gt.name, det.frames), "oks", 0.2))
    persons = sum(int(g.num_persons.sum()) for g in gts) / sum(len(g) for g in gts)
    print(f"{args.sequences} sequences x {args.frames} frames, {persons:.1f} GT persons per frame")
    print("| part | median seconds | min | max |")
    print("|---|---|---|---|")
    for label, kwargs in (
        ("AP only", dict(tracking=False)),
        ("AP + MOTA (official output)", {}),
        ("AP + MOTA + keypoint HOTA", dict(hota=True)),
        ("AP + MOTA, 2 worker processes", dict(workers=2)),
    ):
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            evaluate(gts, preds, **kwargs)
            times.append(time.perf_counter() - t)
        print(f"| {label} | {statistics.median(times):.2f} | {min(times):.2f} | {max(times):.2f} |")


if __name__ == "__main__":
    main()
