"""Peak memory of the commands that walk frames, for a short and a ten times longer input.

    python benchmarks/bench_memory.py [--short 300] [--long 3000] [--size 128x72]

Runs ``corrtrack synth`` (render and write one sequence) and ``corrtrack track`` (the pipeline
with SIMULATED detections and poses and zero-motion correspondences, so the networks do not
dominate the time) on a sequence of each length, each in a fresh process, and prints the peak
resident memory (ru_maxrss of the child), its CPU seconds and the load average. Flat memory: the
long run needs about as much as the short one (the growth column; issue #21 asks within 10 %).

The tracker keeps no frame's outputs: they are streamed to a spool in the output folder and the
offline step (merging, short-track removal, gap interpolation) reads them back frame by frame; the
simulated detector re-simulates the SynthTrack truth once into unnamed temporary files and makes each
frame's detections when the frame is read (docs/architecture.md, issue #21); the ground truth's JSON is
read one frame at a time from a compact document (``corrtrack.formats.iter_frames``) and its frame names
without the people (``frames_only``). ``synth`` holds the sequence's annotations until it writes them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_mb(args: list[str]) -> tuple[float, float, float]:
    """(peak resident MB, wall seconds, CPU seconds) of ``python -m corrtrack ARGS`` in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"corrtrack {' '.join(args)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    mb, cpu = proc.stdout.strip().splitlines()[-1].split()
    return float(mb), time.perf_counter() - t0, float(cpu)


_CHILD = """
import resource, sys
from corrtrack.cli import main
sys.argv = ["corrtrack", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    if exc.code:
        raise
usage = resource.getrusage(resource.RUSAGE_SELF)
print(usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=int, default=300)
    ap.add_argument("--long", type=int, default=3000)
    ap.add_argument("--size", default="128x72")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for frames in (args.short, args.long):
            data = Path(tmp) / f"synth{frames}"
            synth_args = ["synth", str(data), "--preset", "easy", "--sequences", "1", "--frames", str(frames)]
            rows.append(("synth", frames, *peak_mb([*synth_args, "--size", args.size])))
            track_args = ["track", str(data), "-o", str(Path(tmp) / f"track{frames}"), "--detector", "simulated"]
            track_args += ["--poses", "detections", "--correspondences", "zero", "--no-render"]
            rows.append(("track", frames, *peak_mb(track_args)))
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"peak resident memory, frames at {args.size} (ru_maxrss of a fresh process); load average {load}")
    print("| command | frames | peak MB | growth | wall s | CPU s |")
    print("|---|---|---|---|---|---|")
    first = {}
    for cmd, frames, mb, wall, cpu in rows:
        base = first.setdefault(cmd, mb)
        print(f"| {cmd} | {frames} | {mb:.1f} | {100 * (mb / base - 1):+.1f} % | {wall:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
