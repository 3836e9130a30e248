"""Merging's cost in a SynthTrack experiment row, without and with pruning (issue #25), and that results agree.

    python benchmarks/bench_merge_cost.py DATA [--sequences hard] [--frames 30] [--threads 1]

Runs the experiments' full CorrTrack row (``corrtrack experiment``'s runner: simulated detections,
the bundled pose and correspondence networks) on the chosen sequences once with ``merge_prune=false``
and once with ``merge_prune=true``, each in a fresh process (so no propagation is memoised across the
two), and prints per run: the row's seconds, ``seconds.merge_propagate`` (the tracker's timer of the
merge propagations), per frame and as a share of the row, the persons propagated for merging, the
merges accepted, CPU seconds and the load average; then whether the merges and every output id agree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time


def child(data: str, sequences: str, frames: int, threads: int, prune: bool) -> dict[str, object]:
    import torch

    from corrtrack.experiments import ExperimentSettings, Variant, make_runner
    from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig

    torch.set_num_threads(threads)
    settings = ExperimentSettings(sequences=tuple(sequences.split(",")), frames=frames)
    runner = make_runner(data, settings, CorrTrackConfig(merge_prune=prune))
    t0 = time.perf_counter()
    row = runner.run(Variant("CorrTrack (full)"))
    wall = time.perf_counter() - t0
    digest = hashlib.sha256()
    for pred in row.predictions:
        for f in pred.frames:
            digest.update(f.poses.track_ids.tobytes())
            digest.update(f.poses.keypoints.tobytes())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "frames": sum(len(s.images) for s in runner.sequences),
        "row_seconds": row.seconds,
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "merge_propagate": row.counts.get("seconds.merge_propagate", 0.0),
        "merge_propagated": row.counts.get("merge_propagated", 0.0),
        "merges_proposed": row.counts.get("merges_proposed", 0.0),
        "merges_accepted": row.counts.get("merges_accepted", 0.0),
        "outputs_sha256": digest.hexdigest(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--sequences", default="hard")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--child", choices=("off", "on"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        out = child(args.data, args.sequences, args.frames, args.threads, args.child == "on")
        print(json.dumps(out))
        return
    runs = {}
    for mode in ("off", "on"):
        cmd = [sys.executable, __file__, args.data, "--sequences", args.sequences, "--frames", str(args.frames)]
        proc = subprocess.run([*cmd, "--threads", str(args.threads), "--child", mode], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"run with merge_prune {mode} failed: {proc.stderr.strip().splitlines()[-1:]}")
        runs[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"{args.data} {args.sequences}, {args.frames} frames per sequence, {args.threads} thread(s); load {load}")
    print("| merge_prune | frames | row s | CPU s | merge_propagate s | per frame s | share | persons | merges |")
    print("|---|---|---|---|---|---|---|---|---|")
    for mode, r in runs.items():
        share = 100 * r["merge_propagate"] / r["row_seconds"]
        per_frame = r["merge_propagate"] / r["frames"]
        print(
            f"| {mode} | {r['frames']} | {r['row_seconds']:.1f} | {r['cpu']:.1f} | {r['merge_propagate']:.1f} | "
            f"{per_frame:.3f} | {share:.0f} % | {r['merge_propagated']:.0f} | {r['merges_accepted']:.0f} |"
        )
    same = runs["off"]["outputs_sha256"] == runs["on"]["outputs_sha256"]
    same_merges = runs["off"]["merges_accepted"] == runs["on"]["merges_accepted"]
    print(f"identical outputs (ids and joints of every frame): {same}; same number of merges: {same_merges}")


if __name__ == "__main__":
    main()
