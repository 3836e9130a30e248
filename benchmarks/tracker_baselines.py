"""CorrTrack with oracle / zero-motion / DIS-flow correspondences against frame-to-frame IoU and OKS trackers.

Usage: python benchmarks/tracker_baselines.py [--sequences 6] [--frames 100] [--seed 2]
       [--methods ...] [--ablations] [--accuracy] [--skip-check] [--merge-sweep] [--hota] [--json OUT]

SynthTrack ``hard`` val clips (every frame labelled) with simulated detections that carry
poses (``SimulatedDetectorConfig(with_poses=True)``, otherwise its defaults). Every CorrTrack
variant re-estimates poses with the same pose estimator: the ground-truth pose in the box
(``OraclePoseEstimator``) with the simulated detector's keypoint noise added, so recovered
poses are no cleaner than detected ones. The frame-to-frame baselines get the same
post-processing (tracks of >= 3 poses, joints >= 0.3). Prints markdown tables: MOTA, ID
switches (summed over joints, as the evaluator counts them), mAP, and per method the time
per frame of the tracker's own work and of the correspondence model.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace

import numpy as np

from corrtrack.evaluate import evaluate
from corrtrack.geometry import head_size
from corrtrack.inference.flow_correspondences import FlowConfig, FlowCorrespondences
from corrtrack.interfaces import CorrespondenceModel
from corrtrack.poses import Poses, PoseSequence
from corrtrack.synth import SimulatedDetectorConfig, make_specs, render_sequence_frames, simulate_detections
from corrtrack.testing import OracleCorrespondences, OraclePoseEstimator, ZeroMotionCorrespondences
from corrtrack.tracking.baselines import FrameToFrameConfig, FrameToFrameTracker
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig, CorrTrackTracker
from corrtrack.tracking.postprocess import postprocess_tracks

Clip = tuple[list[np.ndarray], PoseSequence, PoseSequence]


class NoisyPoseEstimator:
    """The oracle pose estimator plus Gaussian joint noise (fraction of the box height), like the simulated detector.

    The noise of a box depends only on the box (its rounded corners seed it), so the same box
    gives the same pose whatever else the tracker asks for.
    """

    def __init__(self, oracle: OraclePoseEstimator, noise: float, seed: int) -> None:
        self.oracle = oracle
        self.noise = noise
        self.seed = seed

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> Poses:
        p = self.oracle.estimate(image, boxes)
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        k = p.num_joints
        unit = [
            np.random.default_rng([self.seed, *np.round(b).astype(np.int64).clip(0).tolist()]).normal(0, 1, (k, 2))
            for b in boxes
        ]
        jitter = (np.stack(unit) if unit else np.zeros((0, k, 2))) * self.noise * boxes[:, None, 3:4]
        kps = p.keypoints.copy()
        kps[..., :2] = np.where(p.present[..., None], kps[..., :2] + jitter, 0.0)
        return p.replace(keypoints=kps)


def _pose_set(p: Poses) -> list[tuple[float, ...]]:
    """The poses of a frame as a sorted list of rounded keypoint tuples (ids ignored)."""
    return sorted(tuple(row) for row in np.round(p.keypoints.reshape(len(p), -1), 3).tolist())


def load_clips(sequences: int, frames: int, seed: int, det_cfg: SimulatedDetectorConfig) -> list[Clip]:
    clips = []
    for i, spec in enumerate(make_specs("val", ["hard"], sequences, frames, seed, "all")):
        images, gt, _, _ = render_sequence_frames(spec)
        clips.append((images, gt, simulate_detections(gt, det_cfg, seed=seed * 1000 + i)))
    return clips


ModelFactory = Callable[[PoseSequence, list[np.ndarray]], CorrespondenceModel]

MODELS: dict[str, ModelFactory] = {
    "oracle": lambda gt, images: OracleCorrespondences(gt, images),
    "zero-motion": lambda gt, images: ZeroMotionCorrespondences(),
    "DIS flow (fast)": lambda gt, images: FlowCorrespondences(FlowConfig(preset="fast")),
    "DIS flow (medium)": lambda gt, images: FlowCorrespondences(FlowConfig(preset="medium")),
    # the bundled correspondence network, with and without its refinement module (paper Table 2)
    "network": lambda gt, images: _network("full"),
    "network (no refinement)": lambda gt, images: _network("none"),
}


def _network(refinement: str) -> CorrespondenceModel:
    from corrtrack.inference.correspondences import NetworkCorrespondences

    return NetworkCorrespondences.from_bundled(refinement=refinement)


def propagation_accuracy(clips: Sequence[Clip], model: str) -> dict[str, float]:
    """Joint error (px) of propagating ground-truth poses from each frame to the next, on joints visible in both."""
    errors, confs = [], []
    for images, gt, _ in clips:
        m = MODELS[model](gt, images)
        handles = [m.embed(img) for img in images]
        for t in range(1, len(images)):
            a, b = gt.frames[t - 1].poses, gt.frames[t].poses
            common = np.intersect1d(a.track_ids, b.track_ids)
            if not len(common):
                continue
            ia = np.array([np.flatnonzero(a.track_ids == i)[0] for i in common])
            ib = np.array([np.flatnonzero(b.track_ids == i)[0] for i in common])
            ok = a.present[ia] & b.present[ib]
            out = m.propagate(handles[t - 1], handles[t], np.where(ok[..., None], a.xy[ia], np.nan))
            errors.append(np.linalg.norm(out[..., :2] - b.xy[ib], axis=-1)[ok])
            confs.append(out[..., 2][ok])
    e, c = np.concatenate(errors), np.concatenate(confs)
    return {
        "median_px": float(np.median(e)),
        "p90_px": float(np.percentile(e, 90)),
        "conf_at_least_tau_corr": float((c >= 0.3).mean()),
        "median_px_where_conf_at_least_tau_corr": float(np.median(e[c >= 0.3])),
    }


def detection_joint_misses(clips: Sequence[Clip]) -> float:
    """Share of detected joints farther than PCKh@0.5 from their person's ground truth (the closest person)."""
    far, total = 0, 0
    for _, gt, det in clips:
        for g, d in zip(gt.frames, det.frames):
            gp, dp = g.poses, d.poses
            if not len(gp) or not len(dp):
                continue
            dist = np.linalg.norm(dp.xy[:, None] - gp.xy[None], axis=-1)  # (D, G, K)
            both = dp.present[:, None] & gp.present[None]
            med = np.where(both.any(-1), np.nanmedian(np.where(both, dist, np.nan), axis=-1), np.inf)
            best = med.argmin(1)
            own = med[np.arange(len(dp)), best] < np.inf
            rows = np.flatnonzero(own)
            thr = 0.5 * head_size(gp.head_boxes[best[rows]])  # (R,)
            ok = both[rows, best[rows]]
            far += int((dist[rows, best[rows]] > thr[:, None])[ok].sum())
            total += int(ok.sum())
    return far / max(total, 1)


def run_corrtrack(
    clips: Sequence[Clip], model: str, config: CorrTrackConfig, noise: float
) -> tuple[list[PoseSequence], dict[str, float]]:
    preds, own, corr, frames, counts = [], 0.0, 0.0, 0, {"reestimated": 0.0, "recovered": 0.0}
    for i, (images, gt, det) in enumerate(clips):
        estimator = NoisyPoseEstimator(OraclePoseEstimator(gt, images), noise, seed=i)
        tracker = CorrTrackTracker(MODELS[model](gt, images), estimator, config)
        for t, (img, f) in enumerate(zip(images, det.frames)):
            tracker.step(t, img, f.poses)
        preds.append(det.with_poses([f.poses for f in tracker.finish().frames]))
        own += tracker.timings["tracker"]
        corr += tracker.timings["embed"] + tracker.timings["propagate"] + tracker.timings["merge_propagate"]
        frames += len(images)
        for k in counts:
            counts[k] += tracker.counts[k]
    stats = {"own_ms": 1e3 * own / frames, "corr_ms": 1e3 * corr / frames}
    stats |= {f"{k}_per_frame": v / frames for k, v in counts.items()}
    return preds, stats


def run_frame_to_frame(clips: Sequence[Clip], similarity: str, threshold: float) -> list[PoseSequence]:
    preds = []
    for _, _, det in clips:
        tracker = FrameToFrameTracker(FrameToFrameConfig(similarity, threshold))  # type: ignore[arg-type]
        tracked = [tracker.step(t, None, f.poses) for t, f in enumerate(det.frames)]
        preds.append(det.with_poses(postprocess_tracks(tracked, 3, 0.3)))
    return preds


def score(clips: Sequence[Clip], preds: list[PoseSequence], hota: bool) -> dict[str, float]:
    r = evaluate([g for _, g, _ in clips], preds, hota=hota)
    out = {"MOTA": float(r.mot_metrics["mota"][-1]), "IDSW": float(r.mot.switches.sum()), "mAP": float(r.ap.ap[-1])}
    out |= {"FN": float(r.mot.misses.sum()), "FP": float(r.mot.false_positives.sum()), "GT": float(r.mot.num_gt.sum())}
    if hota:
        out["HOTA"] = 100 * float(r.hota.hota)
    return out


def table(rows: list[tuple[str, dict[str, float]]], hota: bool) -> None:
    cols = ["MOTA", "IDSW", "FN", "FP", "mAP"] + (["HOTA"] if hota else []) + ["own_ms", "corr_ms"]
    print("| method | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, r in rows:
        cells = [f"{r[c]:.0f}" if c in ("IDSW", "FN", "FP") else (f"{r[c]:.2f}" if c in r else "-") for c in cols]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=6)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--methods", nargs="*", default=["oracle", "zero-motion", "DIS flow (fast)"], choices=list(MODELS))
    ap.add_argument("--ablations", action="store_true", help="also CorrTrack-oracle without its parts")
    ap.add_argument("--merge-sweep", action="store_true", help="merge threshold 0.3..0.8 and max gap")
    ap.add_argument("--accuracy", action="store_true", help="frame-to-frame propagation error of the models")
    ap.add_argument("--skip-check", action="store_true", help="re-estimating every propagated pose: same output?")
    ap.add_argument("--hota", action="store_true")
    ap.add_argument("--json", default=None, help="write all numbers to this JSON file")
    args = ap.parse_args()
    np.seterr(all="ignore")
    det_cfg = SimulatedDetectorConfig(with_poses=True)
    t0 = time.perf_counter()
    clips = load_clips(args.sequences, args.frames, args.seed, det_cfg)
    n_frames = sum(len(c[0]) for c in clips)
    persons = np.mean([len(f.poses) for _, g, _ in clips for f in g.frames])
    print(f"{len(clips)} hard val clips, {n_frames} frames, {persons:.1f} persons per frame")
    print(f"simulated detector: {asdict(det_cfg)}\n")
    noise = det_cfg.keypoint_noise
    base = CorrTrackConfig()
    rows: list[tuple[str, dict[str, float]]] = []
    results: dict[str, dict[str, float]] = {}
    for model in args.methods:
        preds, stats = run_corrtrack(clips, model, base, noise)
        rows.append((f"CorrTrack, {model}", score(clips, preds, args.hota) | stats))
    for sim, thr in (("iou", 0.3), ("oks", 0.2)):
        rows.append(
            (f"frame-to-frame {sim.upper()} >= {thr}", score(clips, run_frame_to_frame(clips, sim, thr), args.hota))
        )
    table(rows, args.hota)
    results.update(dict(rows))

    if args.ablations:
        variants = {
            "full (oracle)": base,
            "without recovery": replace(base, recovery=False),
            "without duplicate removal": replace(base, duplicate_removal=False),
            "without merging": replace(base, merging=False),
            "Hungarian assignment": replace(base, assignment="hungarian"),
            "skip re-estimation where a detection explains the pose": replace(base, recovery_skip_explained=True),
        } | {f"tau_corr = {v}": replace(base, tau_corr=v) for v in (0.1, 0.5)}
        abl = []
        for name, cfg in variants.items():
            preds, stats = run_corrtrack(clips, "oracle", cfg, noise)
            abl.append((name, score(clips, preds, args.hota) | stats))
        table(abl, args.hota)
        results.update({f"ablation: {k}": v for k, v in abl})

    if args.accuracy:
        print("| correspondences | median error (px) | p90 (px) | joints with confidence >= 0.3 | median error there |")
        print("|---|---|---|---|---|")
        for model in ("zero-motion", "DIS flow (fast)", "DIS flow (medium)"):
            a = propagation_accuracy(clips, model)
            print(
                f"| {model} | {a['median_px']:.2f} | {a['p90_px']:.2f} | {a['conf_at_least_tau_corr']:.2f} | "
                f"{a['median_px_where_conf_at_least_tau_corr']:.2f} |"
            )
            results[f"accuracy: {model}"] = a
        share = detection_joint_misses(clips)
        print(f"\ndetected joints outside PCKh@0.5 of their person: {100 * share:.1f} %\n")
        results["detected joints outside PCKh"] = share

    if args.skip_check:
        outs = {}
        for skip in (True, False):
            cfg = replace(base, recovery_skip_explained=skip)
            preds, stats = run_corrtrack(clips, "oracle", cfg, noise)
            outs[skip] = (preds, stats, score(clips, preds, args.hota))
        (a, sa, ra), (b, sb, rb) = outs[True], outs[False]
        pairs = [(x.poses, y.poses) for pa, pb in zip(a, b) for x, y in zip(pa.frames, pb.frames)]
        same = sum(_pose_set(x) == _pose_set(y) for x, y in pairs)
        print("| re-estimation | estimates / frame | frames with the same poses (ids ignored) | MOTA | IDSW | mAP |")
        print("|---|---|---|---|---|---|")
        for name, st, r in (("only unexplained propagated poses", sa, ra), ("every propagated pose", sb, rb)):
            print(
                f"| {name} | {st['reestimated_per_frame']:.2f} | {same} / {len(pairs)} | {r['MOTA']:.2f} | "
                f"{r['IDSW']:.0f} | {r['mAP']:.2f} |"
            )
        print()
        results["skip check"] = {"identical_frames": same, "frames": len(pairs), "skip": ra | sa, "all": rb | sb}

    if args.merge_sweep:
        sweep = []
        grid = [("oracle", thr, gap) for thr in (0.3, 0.5, 0.7, 0.8) for gap in (10, 30, 60)]
        grid += [("DIS flow (fast)", thr, 30) for thr in (0.3, 0.5, 0.7)]
        for model, thr, gap in grid:
            cfg = replace(base, merge_threshold=thr, merge_max_gap=gap)
            preds, stats = run_corrtrack(clips, model, cfg, noise)
            sweep.append((f"{model}, merge > {thr}, gap <= {gap}", score(clips, preds, args.hota) | stats))
        table(sweep, args.hota)
        results.update({f"merge sweep: {k}": v for k, v in sweep})
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.json:
        from corrtrack.fileio import write_json

        write_json(args.json, results, indent=1)


if __name__ == "__main__":
    main()
