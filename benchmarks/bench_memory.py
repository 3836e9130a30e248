"""Peak memory of the commands that walk frames, for a short and a ten times longer input.

    python benchmarks/bench_memory.py [--short 500] [--long 5000] [--size 128x72]

Runs ``corrtrack synth`` (render and write one sequence) and ``corrtrack track`` (the pipeline
with SIMULATED detections and poses and zero-motion correspondences, so the networks do not
dominate the time) on a sequence of each length, each in a fresh process, and prints the peak
resident memory (ru_maxrss of the child). Flat memory: the long run needs about as much as the
short one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_mb(args: list[str]) -> tuple[float, float]:
    """(peak resident MB, seconds) of ``python -m corrtrack ARGS`` in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"corrtrack {' '.join(args)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return float(proc.stdout.strip().splitlines()[-1]), time.perf_counter() - t0


_CHILD = """
import resource, sys
from corrtrack.cli import main
sys.argv = ["corrtrack", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    if exc.code:
        raise
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=int, default=500)
    ap.add_argument("--long", type=int, default=5000)
    ap.add_argument("--size", default="128x72")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for frames in (args.short, args.long):
            data = Path(tmp) / f"synth{frames}"
            synth_args = ["synth", str(data), "--preset", "easy", "--sequences", "1", "--frames", str(frames)]
            mb, s = peak_mb([*synth_args, "--size", args.size])
            rows.append(("synth", frames, mb, s))
            track_args = ["track", str(data), "-o", str(Path(tmp) / f"track{frames}"), "--detector", "simulated"]
            track_args += ["--poses", "detections", "--correspondences", "zero", "--no-render"]
            mb, s = peak_mb(track_args)
            rows.append(("track", frames, mb, s))
    print(f"peak resident memory, frames at {args.size} (ru_maxrss of a fresh process)")
    print("| command | frames | peak MB | seconds |")
    print("|---|---|---|---|")
    for cmd, frames, mb, s in rows:
        print(f"| {cmd} | {frames} | {mb:.0f} | {s:.1f} |")


if __name__ == "__main__":
    main()
