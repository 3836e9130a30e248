"""SynthTrack generation speed: frames per second at 640x360 per preset (rendering only, no disk).

Usage: python benchmarks/bench_synth_speed.py [--frames 50] [--repeats 3]
       python benchmarks/bench_synth_speed.py --standard synthtrack-v2.1 --workers 2 --out /tmp/v21

The first form reports the median over repeats (each a fresh sequence with its own seed), in
frames per wall-clock second and per CPU second of this process (the second does not depend on
what else the machine is running).
The second times writing a whole standard split (JPEGs, annotations, statistics) and prints
its size and statistics.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from corrtrack.synth import generate_standard, make_specs, render_sequence_frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--standard", help="time writing this standard split instead")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("synthtrack-bench"))
    args = ap.parse_args()
    if args.standard:
        t = time.perf_counter()
        stats = generate_standard(args.out, args.standard, workers=args.workers, overwrite=True)
        seconds = time.perf_counter() - t
        size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
        frames = stats["all"]["frames"]
        print(f"wrote {args.standard}: {frames} frames in {seconds:.0f} s ({frames / seconds:.1f} frames/s, ", end="")
        print(f"{args.workers} worker(s)), {size / 1e6:.0f} MB")
        return
    print("| preset | frames/s at 640x360 (median) | min | max | frames per CPU second (median) |")
    print("|---|---|---|---|---|")
    for name in ("easy", "medium", "hard"):
        rates, cpu_rates = [], []
        for spec in make_specs("train", [name], args.repeats, args.frames, 0, "all", 640, 360):
            t, c = time.perf_counter(), time.process_time()
            render_sequence_frames(spec)
            rates.append(args.frames / (time.perf_counter() - t))
            cpu_rates.append(args.frames / (time.process_time() - c))
        print(
            f"| {name} | {statistics.median(rates):.1f} | {min(rates):.1f} | {max(rates):.1f} | "
            f"{statistics.median(cpu_rates):.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
