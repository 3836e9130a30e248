"""The tracker's lost-track and gap-interpolation options on SynthTrack val (docs/results.md, Real footage).

Usage::

    python benchmarks/lost_track_validation.py --data V2 [--sequences easy,medium,hard] [--frames N]

``V2`` is a ``corrtrack synth V2 --standard synthtrack-v2`` set. Every row is CorrTrack with DIS
flow on the same simulated detections and bundled pose net (``corrtrack.experiments``' runner:
detections, poses and flow computed once); rows differ only in ``CorrTrackConfig`` options:
no lost tracks (the reference), lost tracks for 30 frames carried by the correspondences or by
their velocity, and gap interpolation. Prints mAP, MOTA, ID switches, keypoint HOTA, FN and FP
per row.
"""

from __future__ import annotations

import argparse
import sys
import time

from corrtrack.experiments import ExperimentSettings, Variant, make_runner, score

LOST = ("lost_track_frames=30",)
ROWS: list[tuple[str, tuple[str, ...]]] = [
    ("reference (no lost tracks)", ()),
    ("lost tracks 30 frames, correspondences", LOST),
    ("lost tracks 30 frames, velocity", (*LOST, "lost_track_motion=velocity")),
    ("velocity + gap interpolation 30", (*LOST, "lost_track_motion=velocity", "interpolate_gaps=30")),
    ("velocity + gap interpolation 5", (*LOST, "lost_track_motion=velocity", "interpolate_gaps=5")),
    ("reference + gap interpolation 30", ("interpolate_gaps=30",)),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a SynthTrack v2 set (corrtrack synth V2 --standard synthtrack-v2)")
    ap.add_argument("--sequences", default="easy,medium,hard", help="presets or sequence names, comma-separated")
    ap.add_argument("--frames", type=int, default=None, help="only the first N frames of each sequence")
    args = ap.parse_args(argv)
    settings = ExperimentSettings(sequences=tuple(args.sequences.split(",")), frames=args.frames)
    runner = make_runner(args.data, settings)
    truth = [s.ground_truth for s in runner.sequences]
    print(f"{len(truth)} sequences of {args.data} (val), simulated detector, DIS flow\n")
    print("| row | mAP | MOTA | IDSW | keypoint HOTA | FN | FP | s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, row_settings in ROWS:
        t0 = time.perf_counter()
        result = runner.run(Variant(name, correspondences="flow", settings=row_settings))
        m = score(truth, result.predictions)
        cells = [f"{m['mAP']:.1f}", f"{m['MOTA']:.1f}", f"{m['IDSW']:.0f}", f"{m['HOTA']:.1f}"]
        cells += [f"{m['FN']:.0f}", f"{m['FP']:.0f}", f"{time.perf_counter() - t0:.0f}"]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
