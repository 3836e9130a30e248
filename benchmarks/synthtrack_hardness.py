"""How hard is each SynthTrack preset? Perfect poses, identities removed, re-linked by motion-only probes.

Usage: python benchmarks/synthtrack_hardness.py [--sequences 6] [--frames 100] [--seed 0] [--presets easy,medium,hard]

Ground-truth poses of every frame lose their track ids and are re-linked; corrtrack's
evaluator then scores them. The probes, from weakest to strongest:

* ``IoU`` / ``OKS``: Hungarian matching to the previous frame (box IoU >= 0.3, OKS >= 0.2).
* ``CMC IoU`` / ``CMC OKS``: the same after global camera-motion compensation (the previous
  frame's poses shifted by the phase correlation of the two grey frames).
* ``CV+gaps``: a constant-velocity linker with camera-motion compensation whose tracks survive
  up to 30 unmatched frames; a track's box is predicted forward and matched by IoU >= 0.2.
* ``appearance oracle``: the ``CV+gaps`` linker that links a person to a track of its look group
  (people dressed alike share one) wherever it is and however long it was gone, preferring the
  nearer, overlapping track where several share the look: a cue that tells different outfits
  apart but not near-look-alikes. It is an upper reference for what appearance can add, not a
  tracker.

Prints a markdown table (docs/results.md, SynthTrack).
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from corrtrack.evaluate import evaluate
from corrtrack.geometry import box_iou
from corrtrack.poses import Poses, PoseSequence
from corrtrack.synth import make_specs, render_sequence
from corrtrack.tracking import associate_frame_to_frame, strip_identities
from corrtrack.tracking.matching import assign, oks_similarity


def camera_shifts(images: list[np.ndarray]) -> np.ndarray:
    """(T, 2) global image shift from frame t-1 to frame t (phase correlation; 0 for the first frame)."""
    out = np.zeros((len(images), 2))
    prev = None
    for t, img in enumerate(images):
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
        if prev is not None:
            (dx, dy), _ = cv2.phaseCorrelate(prev, grey)
            out[t] = (dx, dy)
        prev = grey
    return out


def _shift(p: Poses, d: np.ndarray) -> Poses:
    kps = p.keypoints.copy()
    kps[..., :2] = np.where(p.present[..., None], kps[..., :2] + d, 0)
    boxes = p.boxes.copy()
    boxes[:, :2] += d
    return p.replace(keypoints=kps, boxes=boxes)


def link_f2f(seq: PoseSequence, shifts: np.ndarray, sim: str, thr: float) -> PoseSequence:
    """Frame-to-frame Hungarian linking after shifting the previous frame by the camera motion."""
    next_id, prev, prev_ids, out = 0, None, np.zeros(0, int), []
    for t, f in enumerate(seq.frames):
        p = f.poses
        ids = np.full(len(p), -1)
        if prev is not None and len(prev) and len(p):
            moved = _shift(prev, shifts[t])
            s = box_iou(moved.boxes, p.boxes) if sim == "iou" else oks_similarity(moved, p)
            r, c = assign(s, thr)
            ids[c] = prev_ids[r]
        for i in np.flatnonzero(ids < 0):
            ids[i], next_id = next_id, next_id + 1
        out.append(p.replace(track_ids=ids))
        prev, prev_ids = p, ids
    return seq.with_poses(out)


def link_cv(
    seq: PoseSequence, shifts: np.ndarray, groups: list[np.ndarray] | None = None, max_gap: int = 30
) -> PoseSequence:
    """Constant-velocity linking with gap bridging; with ``groups``, only within a look group (the oracle)."""
    tracks: list[dict] = []
    next_id, out = 0, []
    cum = np.cumsum(shifts, axis=0)
    for t, f in enumerate(seq.frames):
        p = f.poses
        ids = np.full(len(p), -1)
        alive = [k for k in tracks if groups is not None or t - k["t"] <= max_gap]
        if alive and len(p):
            pred = np.array([k["box"] + np.r_[k["vel"] * (t - k["t"]) + cum[t] - cum[k["t"]], 0, 0] for k in alive])
            s = box_iou(pred, p.boxes)
            thr = 0.2
            if groups is not None:
                g = groups[t]
                same = np.array([k["group"] for k in alive])[:, None] == g[None]
                centre = lambda b: b[:, :2] + b[:, 2:] / 2  # noqa: E731
                dist = np.linalg.norm(centre(pred)[:, None] - centre(p.boxes)[None], axis=-1)
                near = 1.0 / (1.0 + dist / np.maximum(p.boxes[None, :, 3], 1.0))  # 0.5 at one box height
                # the look decides; where several people share it, the nearer, overlapping one wins
                s = np.where(same, 1.0 + s + 0.5 * near, -np.inf)
                thr = 1.0
            r, c = assign(s, thr)
            for i, j in zip(r.tolist(), c.tolist()):
                k = alive[i]
                ids[j] = k["id"]
                centre_new = p.boxes[j, :2] + p.boxes[j, 2:] / 2
                centre_old = k["box"][:2] + k["box"][2:] / 2 + cum[t] - cum[k["t"]]
                v = (centre_new - centre_old) / (t - k["t"])
                k["vel"] = 0.6 * k["vel"] + 0.4 * v
                k["box"], k["t"] = p.boxes[j].copy(), t
        for j in np.flatnonzero(ids < 0):
            ids[j] = next_id
            group = int(groups[t][j]) if groups is not None else -1
            tracks.append({"id": next_id, "box": p.boxes[j].copy(), "vel": np.zeros(2), "t": t, "group": group})
            next_id += 1
        out.append(p.replace(track_ids=ids))
    return seq.with_poses(out)


PROBES = ("IoU", "OKS", "CMC IoU", "CMC OKS", "CV+gaps", "appearance oracle")


def run_preset(name: str, sequences: int, frames: int, seed: int) -> dict[str, dict[str, float]]:
    gts, preds = [], {k: [] for k in PROBES}
    for spec in make_specs("test", [name], sequences, frames, seed, "all"):
        r = render_sequence(spec)
        gt = r.sequence
        gts.append(gt)
        bare = strip_identities(gt)
        shifts = camera_shifts(r.images)
        groups = [np.array([r.look_groups[int(i)] for i in f.poses.track_ids], int) for f in gt.frames]
        preds["IoU"].append(associate_frame_to_frame(bare, "iou", 0.3))
        preds["OKS"].append(associate_frame_to_frame(bare, "oks", 0.2))
        preds["CMC IoU"].append(link_f2f(bare, shifts, "iou", 0.3))
        preds["CMC OKS"].append(link_f2f(bare, shifts, "oks", 0.2))
        preds["CV+gaps"].append(link_cv(bare, shifts))
        preds["appearance oracle"].append(link_cv(bare, shifts, groups))
    num_tracks = sum(len(g.tracks()) for g in gts)
    rows = {}
    for label in PROBES:
        res = evaluate(gts, preds[label], hota=True)
        h = res.hota
        rows[label] = {
            "mota": res.mot_metrics["mota"][-1],
            "idsw": 100 * res.mot.switches.mean() / num_tracks,
            "hota": 100 * h.hota,
            "deta": 100 * h.deta,
            "assa": 100 * h.assa,
        }
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=6)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--presets", default="easy,medium,hard")
    args = ap.parse_args()
    print("| preset | probe | MOTA | IDSW / 100 GT tracks | HOTA | DetA | AssA |")
    print("|---|---|---|---|---|---|---|")
    for name in args.presets.split(","):
        rows = run_preset(name, args.sequences, args.frames, args.seed)
        for label, m in rows.items():
            print(
                f"| {name} | {label} | {m['mota']:.1f} | {m['idsw']:.1f} | {m['hota']:.1f} | {m['deta']:.1f} | "
                f"{m['assa']:.1f} |",
                flush=True,
            )
        motion = max(m["assa"] for k, m in rows.items() if k != "appearance oracle")
        gap = rows["appearance oracle"]["assa"] - motion
        print(f"| {name} | oracle AssA - best motion-only AssA | | | | | {gap:.1f} |")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
