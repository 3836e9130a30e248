"""Box tracking metrics on the real MOTChallenge sequences in ../shared/data.

Usage: python benchmarks/mot_box_baseline.py [--data ../shared/data] [--min-score 0.5] [--iou 0.3]

Public detections with score >= min-score get ids from the trivial frame-to-frame IoU rule
(Hungarian, IoU >= iou); corrtrack's box evaluator scores them against the ground truth.
Prints a markdown table for docs/results.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from corrtrack.evaluate.boxes import evaluate_boxes
from corrtrack.formats import read_mot
from corrtrack.tracking import associate_frame_to_frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--min-score", type=float, default=0.5)
    ap.add_argument("--iou", type=float, default=0.3)
    args = ap.parse_args()
    print("| sequence | MOTA | IDF1 | HOTA | DetA | AssA | MOTP | IDSW | FP | FN |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in ("PETS09-S2L1", "TUD-Stadtmitte"):
        gt = read_mot(args.data / name / "gt" / "gt.txt")
        det = read_mot(args.data / name / "det" / "det.txt")
        det = det.with_poses([f.poses[f.poses.scores >= args.min_score] for f in det.frames])
        m = evaluate_boxes(gt, associate_frame_to_frame(det, "iou", args.iou))
        print(
            f"| {name} | {100 * m['mota']:.1f} | {100 * m['idf1']:.1f} | {100 * m['hota']:.1f} | {100 * m['deta']:.1f} "
            f"| {100 * m['assa']:.1f} | {100 * m['motp']:.1f} | {m['num_switches']} | {m['num_false_positives']} "
            f"| {m['num_misses']} |"
        )


if __name__ == "__main__":
    main()
