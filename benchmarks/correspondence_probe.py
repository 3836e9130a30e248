"""How much of the appearance gap does association by correspondences close? (issue #23 point 4)

Usage: python benchmarks/correspondence_probe.py [--sequences 2] [--frames 60] [--seed 0] [--preset hard]
       [--threads 1] [--json OUT]

The probe of ``benchmarks/synthtrack_hardness.py``: SynthTrack test sequences of one preset with
perfect poses in every frame, identities removed, re-linked, scored by corrtrack's evaluator
(AssA, HOTA, IDSW). Beside that script's best motion-only probe (``CV+gaps``: constant velocity,
camera-motion compensation, 30-frame gaps) and its appearance oracle, the CorrTrack tracker links
the same poses with the bundled correspondence network (association only: no recovery, no pose
estimator), with Eq. 2 merging, with lost tracks matched through correspondences, and with the
person descriptor pooled from the embedding (beyond the paper); two more rows run the same tracker with
DIS optical flow in place of the network, for context. The last line gives, per
CorrTrack probe, the fraction of the gap (oracle AssA - best motion-only AssA) it closes; the
target of issue #23 is at least one half.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from corrtrack.evaluate import evaluate
from corrtrack.inference.correspondences import NetworkCorrespondences
from corrtrack.inference.flow_correspondences import FlowCorrespondences
from corrtrack.poses import PoseSequence
from corrtrack.synth import make_specs, render_sequence
from corrtrack.tracking import strip_identities
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig, CorrTrackTracker, run_tracker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthtrack_hardness import camera_shifts, link_cv

#: CorrTrack probes: name -> CorrTrackConfig changes (recovery is off in all: there is no pose estimator)
CORRTRACK_PROBES: dict[str, dict[str, object]] = {
    "CorrTrack, association only": {"merging": False},
    "CorrTrack + Eq. 2 merging": {"merging": True},
    "CorrTrack + lost tracks (correspondences, 10 frames)": {"merging": False, "lost_track_frames": 10},
    "CorrTrack + lost tracks (velocity, 10 frames)": {
        "merging": False,
        "lost_track_frames": 10,
        "lost_track_motion": "velocity",
    },
    "CorrTrack + lost tracks (person descriptor, 30 frames)": {
        "merging": False,
        "lost_track_frames": 30,
        "lost_track_motion": "descriptor",
    },
    "CorrTrack + merging with descriptor (w 0.5)": {"merging": True, "merge_descriptor_weight": 0.5},
}


#: the same tracker with DIS optical flow in place of the network (context: what the tracker does with
#: correspondences that localise well; not the issue's target, which is about the network)
FLOW_PROBES: dict[str, dict[str, object]] = {
    "CorrTrack with DIS flow, association only": {"merging": False},
    "CorrTrack with DIS flow + lost tracks (10 frames) + merging": {"merging": True, "lost_track_frames": 10},
}


class _Cached:
    """The network with one embedding per frame, shared by every probe of a sequence."""

    def __init__(self, net: NetworkCorrespondences) -> None:
        self.net = net
        self.handles: dict[int, object] = {}

    @property
    def grid_size(self) -> int:
        return self.net.grid_size

    def embed(self, image: np.ndarray) -> object:
        if id(image) not in self.handles:
            self.handles[id(image)] = self.net.embed(image)
        return self.handles[id(image)]

    def propagate(self, src: object, dst: object, points: np.ndarray) -> np.ndarray:
        return self.net.propagate(src, dst, points)  # type: ignore[arg-type]

    def describe(self, handle: object, points: np.ndarray) -> np.ndarray:
        return self.net.describe(handle, points)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=2)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="hard")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0, c0 = time.time(), time.process_time()
    net = NetworkCorrespondences.from_bundled()
    gts: list[PoseSequence] = []
    preds: dict[str, list[PoseSequence]] = {"CV+gaps": [], "appearance oracle": []}
    preds |= {k: [] for k in CORRTRACK_PROBES}
    preds |= {k: [] for k in FLOW_PROBES}
    counts: dict[str, dict[str, float]] = {k: {} for k in (*CORRTRACK_PROBES, *FLOW_PROBES)}
    for spec in make_specs("test", [args.preset], args.sequences, args.frames, args.seed, "all"):
        r = render_sequence(spec)
        gt = r.sequence
        gts.append(gt)
        bare = strip_identities(gt)
        shifts = camera_shifts(r.images)
        groups = [np.array([r.look_groups[int(i)] for i in f.poses.track_ids], int) for f in gt.frames]
        preds["CV+gaps"].append(link_cv(bare, shifts))
        preds["appearance oracle"].append(link_cv(bare, shifts, groups))
        cached = _Cached(net)
        flow = FlowCorrespondences()
        for name, changes in (*CORRTRACK_PROBES.items(), *FLOW_PROBES.items()):
            cfg = CorrTrackConfig(recovery=False, **changes)  # type: ignore[arg-type]
            tracker = CorrTrackTracker(flow if name in FLOW_PROBES else cached, None, cfg)
            preds[name].append(run_tracker(tracker, r.images, bare))
            for k in ("resumed", "new_tracks"):
                counts[name][k] = counts[name].get(k, 0) + tracker.counts.get(k, 0)
            counts[name]["merges_proposed"] = counts[name].get("merges_proposed", 0) + len(tracker.merge_candidates)
            counts[name]["merges_accepted"] = counts[name].get("merges_accepted", 0) + len(tracker.merges)
    rows = {}
    for name, p in preds.items():
        res = evaluate(gts, p, hota=True)
        assert res.mot is not None
        rows[name] = {"AssA": 100 * res.hota.assa, "HOTA": 100 * res.hota.hota, "IDSW": float(res.mot.switches.sum())}
    motion, oracle = rows["CV+gaps"]["AssA"], rows["appearance oracle"]["AssA"]
    print(f"# association probe, {args.preset}, {args.sequences} x {args.frames} frames, seed {args.seed}\n")
    print("| probe | AssA | HOTA | IDSW | share of the gap closed | resumed | merges accepted / proposed |")
    print("|---|---|---|---|---|---|---|")
    for name, m in rows.items():
        share = (m["AssA"] - motion) / (oracle - motion) if oracle != motion else float("nan")
        c = counts.get(name, {})
        extra = f"{c['resumed']:.0f} | {c['merges_accepted']:.0f} / {c['merges_proposed']:.0f}" if c else " | "
        print(f"| {name} | {m['AssA']:.1f} | {m['HOTA']:.1f} | {m['IDSW']:.0f} | {share:+.2f} | {extra} |")
        m["gap_share"] = share
    wall, cpu = time.time() - t0, time.process_time() - c0
    print(f"\nwall {wall:.0f} s, CPU {cpu:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "counts": counts}, indent=1))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
