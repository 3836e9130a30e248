"""How hard is each SynthTrack preset? Perfect poses, identities removed, re-linked frame to frame.

Usage: python benchmarks/synthtrack_hardness.py [--sequences 6] [--frames 100] [--seed 0]

Ground-truth poses of every frame lose their track ids and are re-associated by
Hungarian matching to the previous frame, once by box IoU (>= 0.3) and once by
OKS (>= 0.2, CorrTrack's tau_oks); corrtrack's evaluator then scores them.
Prints a markdown table for docs/results.md.
"""

from __future__ import annotations

import argparse

import numpy as np

from corrtrack.evaluate import evaluate
from corrtrack.synth import make_specs, render_sequence_frames
from corrtrack.tracking import associate_frame_to_frame, strip_identities

LINKERS = {"IoU >= 0.3": ("iou", 0.3), "OKS >= 0.2": ("oks", 0.2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=6)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print("| preset | linker | MOTA | IDSW / 100 GT tracks | HOTA | DetA | AssA |")
    print("|---|---|---|---|---|---|---|")
    for name in ("easy", "medium", "hard"):
        specs = make_specs("test", [name], args.sequences, args.frames, args.seed, "all")
        gts = [render_sequence_frames(s)[1] for s in specs]
        num_tracks = sum(len(g.tracks()) for g in gts)
        for label, (sim, thr) in LINKERS.items():
            preds = [associate_frame_to_frame(strip_identities(g), sim, thr) for g in gts]
            r = evaluate(gts, preds, hota=True)
            mota = r.mot_metrics["mota"][-1]
            idsw = 100 * r.mot.switches.mean() / num_tracks
            h = r.hota
            print(
                f"| {name} | {label} | {mota:.1f} | {idsw:.1f} | {100 * h.hota:.1f} | {100 * h.deta:.1f} | "
                f"{100 * h.assa:.1f} |"
            )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
