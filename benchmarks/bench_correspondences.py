"""Speed of the correspondence network per frame pair (issue 15, point 5).

Per frame pair the tracker embeds the new frame once (the previous frame's embedding is kept)
and propagates all tracks' queries in one call. Reported: ms for the embedding, ms for the
propagation of 1 / 5 / 20 tracks (17 joints each, poses of about a fifth of the frame height,
spread over the frame) and their sum, for the ``tiny`` and ``paper`` configs with random weights,
full-grid and windowed refinement. Median of ``--repeats`` runs after one warm-up run.

For scale, the authors' code on this kind of machine: one 512x512 embedding 257 ms (their
scripts run two per frame), one track's affinity + refinement 200-220 ms, so 212 / 1,089 /
4,340 ms for 1 / 5 / 20 tracks.

Usage::

    python benchmarks/bench_correspondences.py [--configs tiny paper] [--tracks 1 5 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from corrtrack.inference.correspondences import NetworkCorrespondences
from corrtrack.models.correspondence_net import CorrespondenceNet, correspondence_config


def poses(n: int, h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.stack([rng.uniform(0.1 * w, 0.9 * w, n), rng.uniform(0.2 * h, 0.8 * h, n)], -1)
    offsets = rng.normal(0, 1, (n, 17, 2)) * np.array([0.04 * h, 0.08 * h])
    return centres[:, None] + offsets


def timed(fn: Callable[[], object], repeats: int) -> float:
    fn()
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs) * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["tiny", "paper"])
    ap.add_argument("--tracks", nargs="+", type=int, default=[1, 5, 20])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument(
        "--peaks",
        action="store_true",
        help="also each refinement with centroid sub-cell peaks under a motion prior of 2 cells (beyond the paper)",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    frame_a = rng.integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
    frame_b = np.roll(frame_a, 3, axis=1)
    print(
        f"# correspondence speed: {args.width}x{args.height} frames, torch threads {args.threads}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, median of {args.repeats}\n"
    )
    print(
        "| config | refinement | embedding ms | " + " | ".join(f"{n} tracks: propagate / pair ms" for n in args.tracks)
    )
    print("|---|---|---|" + "---|" * len(args.tracks))
    for name in args.configs:
        torch.manual_seed(0)
        net = CorrespondenceNet(correspondence_config(name)).eval()
        modes: list[tuple[str, dict[str, object]]] = [("full", {}), ("windowed", {})]
        if args.peaks:
            prior = {"prior_sigma": 2.0, "subcell": "centroid"}
            modes += [("full", prior), ("windowed", prior), ("none", {}), ("none", prior)]
        for mode, options in modes:
            m = NetworkCorrespondences(net, refinement=mode, **options)
            ha = m.embed(frame_a)
            embed_ms = timed(lambda: m.embed(frame_b), args.repeats)  # noqa: B023 - called at once
            hb = m.embed(frame_b)
            cells = []
            for n in args.tracks:
                pts = poses(n, args.height, args.width, n)
                prop_ms = timed(lambda: m.propagate(ha, hb, pts), args.repeats)  # noqa: B023 - called at once
                side = f", window {m.last_window_side}" if mode == "windowed" else ""
                cells.append(f"{prop_ms:.0f} / {embed_ms + prop_ms:.0f}{side}")
            label = mode + (", centroid + prior 2" if options else "")
            print(f"| {name} | {label} | {embed_ms:.0f} | " + " | ".join(cells) + " |", flush=True)
    print("\nauthors' code for scale: embedding 257 ms; 1 / 5 / 20 tracks 212 / 1,089 / 4,340 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
