"""Tracker settings side by side on SynthTrack: choose on ``train``, report on ``val``.

Each ``--rows`` entry is one row: space-separated ``CorrTrackConfig`` overrides applied on top of the
preset's tracker (``-`` for none). Every row runs with the same detections, poses and correspondences
(``--correspondences``), as the rows of ``corrtrack experiment`` do, and is scored by the evaluator
(MOTA, ID switches, mAP, keypoint HOTA, false positives)::

    python benchmarks/tracker_settings.py --data V21 --split train --frames 40 \\
        --rows - "lost_track_frames=30" "lost_track_frames=30 lost_track_motion=velocity"

Prints a markdown table and the load average; ``--json`` keeps the rows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from corrtrack.experiments import ExperimentSettings, Variant, make_runner, run_rows, score
from corrtrack.inference.file_detections import DetectionFilter
from corrtrack.presets import resolve_preset
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="a SynthTrack data set (synthtrack-v2.1)")
    ap.add_argument("--split", default="train", help="choose settings on train, report them on val")
    ap.add_argument("--sequences", default="hard", help="comma-separated presets or sequence names")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--preset", default="synthtrack", choices=["paper", "synthtrack", "real"])
    ap.add_argument("--correspondences", default="flow", help="the rows' correspondences (flow, network, zero, ...)")
    ap.add_argument("--rows", nargs="+", default=["-"], help="space-separated CorrTrackConfig overrides per row")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    chosen, _ = resolve_preset(args.preset)
    base = CorrTrackConfig(**chosen.tracker)
    picked = tuple(s.strip() for s in args.sequences.split(",") if s.strip())
    exp = ExperimentSettings(split=args.split, sequences=picked, frames=args.frames)
    runner = make_runner(args.data, exp, base, DetectionFilter(**chosen.detection_filter))
    rows = [
        Variant(row, correspondences=args.correspondences, settings=tuple(row.split()) if row != "-" else ())
        for row in args.rows
    ]
    t0, c0 = time.perf_counter(), time.process_time()
    results = run_rows(runner, rows, progress=lambda m: print(m, file=sys.stderr))
    gts = [s.ground_truth for s in runner.sequences]
    table = []
    for r in results:
        m = score(gts, r.predictions)
        table.append({"row": r.variant.name, **m})
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"{len(runner.sequences)} {args.split} sequence(s) x {args.frames} frames, preset {args.preset}, "
        f"{args.correspondences} correspondences; {wall:.0f} s wall, {cpu:.0f} CPU s, load {load}"
    )
    print("| overrides | MOTA | IDSW | mAP | keypoint HOTA | FP |")
    print("|---|---|---|---|---|---|")
    for t in table:
        print(
            f"| {t['row']} | {t.get('MOTA', float('nan')):.1f} | {t.get('IDSW', float('nan')):.0f} | "
            f"{t.get('mAP', float('nan')):.1f} | {t.get('HOTA', float('nan')):.1f} | {t.get('FP', float('nan')):.0f} |"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
