"""SynthTrack generation speed: frames per second at 640x360 per preset (rendering only, no disk).

Usage: python benchmarks/bench_synth_speed.py [--frames 50] [--repeats 3]
Reports the median over repeats (each a fresh sequence with its own seed).
"""

from __future__ import annotations

import argparse
import statistics
import time

from corrtrack.synth import make_specs, render_sequence_frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print("| preset | frames/s at 640x360 (median) | min | max |")
    print("|---|---|---|---|")
    for name in ("easy", "medium", "hard"):
        rates = []
        for spec in make_specs("train", [name], args.repeats, args.frames, 0, "all", 640, 360):
            t = time.perf_counter()
            render_sequence_frames(spec)
            rates.append(args.frames / (time.perf_counter() - t))
        print(f"| {name} | {statistics.median(rates):.1f} | {min(rates):.1f} | {max(rates):.1f} |")


if __name__ == "__main__":
    main()
