"""The CorrTrack tracker's own work per frame (everything but the networks) at 1, 5, 20 and 50 people.

Usage: python benchmarks/bench_tracker.py [--people 1 5 20 50] [--frames 60] [--repeats 3] [--seed 0]
       [--synthtrack N]

People walk as rigid skeletons over 1280x720 frames; the detector misses 5% of them and
jitters the joints, so recovery (re-estimation in propagated boxes), association,
duplicate checks and merging all run. The models are the fakes of ``corrtrack.testing``
(oracle correspondences and pose estimator); the time they take is measured separately by
the tracker and left out. Prints a markdown table of the median and 90th percentile of the
tracker's own milliseconds per frame (wall clock; the first 5 frames of each run are
warm-up). Other processes on the same cores inflate these numbers: run it on a quiet machine.
"""

from __future__ import annotations

import argparse

import numpy as np

from corrtrack.keypoints import POSETRACK18
from corrtrack.poses import Frame, Poses, PoseSequence
from corrtrack.testing import OracleCorrespondences, OraclePoseEstimator
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig, CorrTrackTracker

WIDTH, HEIGHT = 1280, 720

# a standing person, PoseTrack 2018 joints, relative to the hip centre (height ~ 1)
_TEMPLATE = np.array(
    [
        [0.0, -0.62],
        [0.0, -0.52],
        [0.0, -0.75],
        [0.0, 0.0],
        [0.0, 0.0],
        [-0.1, -0.45],
        [0.1, -0.45],
        [-0.14, -0.25],
        [0.14, -0.25],
        [-0.15, -0.05],
        [0.15, -0.05],
        [-0.07, 0.0],
        [0.07, 0.0],
        [-0.08, 0.22],
        [0.08, 0.22],
        [-0.08, 0.45],
        [0.08, 0.45],
    ]
)


def make_scene(people: int, frames: int, seed: int) -> tuple[PoseSequence, list[np.ndarray], list[Poses]]:
    """Ground truth, per-frame dummy images (frame number in the first pixels) and noisy detections."""
    rng = np.random.default_rng(seed)
    height = rng.uniform(80, 200, people)
    pos = np.stack([rng.uniform(100, WIDTH - 100, people), rng.uniform(150, HEIGHT - 150, people)], 1)
    vel = rng.normal(0, 3, (people, 2))
    gt_frames, images, dets = [], [], []
    for t in range(frames):
        pos = pos + vel
        vel = np.where((pos < 60) | (pos > [WIDTH - 60, HEIGHT - 60]), -vel, vel)
        xy = pos[:, None] + _TEMPLATE[None] * height[:, None, None]
        kps = np.concatenate([xy, np.ones((people, 17, 1))], -1)
        kps[:, [3, 4]] = 0
        head = np.stack([xy[:, 2, 0] - 10, xy[:, 2, 1], np.full(people, 20.0), np.full(people, 25.0)], 1)
        gt = Poses.create(kps, head_boxes=head, track_ids=np.arange(people))
        gt_frames.append(Frame(f"{t:06d}.jpg", gt, image_id=t, is_labeled=True))
        img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        img[0, 0] = [t % 256, t // 256, 7]
        images.append(img)
        hit = rng.random(people) >= 0.05
        noisy = kps[hit].copy()
        noisy[..., :2] += rng.normal(0, 2, noisy[..., :2].shape) * (noisy[..., 2:] > 0)
        scores = np.where(noisy[..., 2] > 0, rng.uniform(0.5, 1.0, noisy.shape[:2]), 0.0)
        dets.append(Poses.create(noisy, keypoint_scores=scores))
    return PoseSequence("bench", gt_frames, POSETRACK18), images, dets


def run(people: int, frames: int, seed: int, config: CorrTrackConfig) -> tuple[np.ndarray, dict[str, int]]:
    gt, images, dets = make_scene(people, frames, seed)
    tracker = CorrTrackTracker(OracleCorrespondences(gt, images), OraclePoseEstimator(gt, images), config)
    for t, (img, det) in enumerate(zip(images, dets)):
        tracker.step(t, img, det)
    tracker.finish()
    return np.asarray(tracker.own_seconds[5:]), dict(tracker.counts)


def synthtrack(sequences: int, frames: int) -> None:
    """Own time on SynthTrack ``hard`` clips with simulated detections, with and without merging."""
    from corrtrack.synth import SimulatedDetectorConfig
    from tracker_baselines import NoisyPoseEstimator, load_clips

    clips = load_clips(sequences, frames, 2, SimulatedDetectorConfig(with_poses=True))
    dets = np.mean([len(f.poses) for _, _, d in clips for f in d.frames])
    print(f"\nSynthTrack hard, {sequences} clips x {frames} frames, {dets:.1f} detections per frame (oracle models)\n")
    print("| merging | median ms / frame | mean | p90 | frames with merge scoring |")
    print("|---|---|---|---|---|")
    for merging in (False, True):
        own, events = [], 0
        for i, (images, gt, det) in enumerate(clips):
            est = NoisyPoseEstimator(OraclePoseEstimator(gt, images), 0.03, i)
            tracker = CorrTrackTracker(OracleCorrespondences(gt, images), est, CorrTrackConfig(merging=merging))
            for t, (img, f) in enumerate(zip(images, det.frames)):
                tracker.step(t, img, f.poses)
            own += tracker.own_seconds[5:]
            events += len({int(row[3]) for row in tracker.merge_candidates})
        ms = np.asarray(own) * 1e3
        print(
            f"| {merging} | {np.median(ms):.2f} | {ms.mean():.2f} | {np.percentile(ms, 90):.2f} | "
            f"{events} / {len(clips) * frames} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, nargs="+", default=[1, 5, 20, 50])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--synthtrack", type=int, default=0, metavar="N", help="also N SynthTrack hard clips")
    ap.add_argument("--set", dest="overrides", nargs="*", default=[], help="CorrTrackConfig overrides NAME=VALUE")
    args = ap.parse_args()
    from corrtrack.config import override

    config = override(CorrTrackConfig(), args.overrides)
    print("| people | median ms / frame | p90 ms / frame | re-estimated / frame | recovered / frame |")
    print("|---|---|---|---|---|")
    for n in args.people:
        times, counts = [], {"reestimated": 0, "recovered": 0, "frames": 0}
        for r in range(args.repeats):
            t, c = run(n, args.frames, args.seed + r, config)
            times.append(t)
            for k in counts:
                counts[k] += c[k]
        ms = np.concatenate(times) * 1e3
        print(
            f"| {n} | {np.median(ms):.2f} | {np.percentile(ms, 90):.2f} | "
            f"{counts['reestimated'] / counts['frames']:.2f} | {counts['recovered'] / counts['frames']:.2f} |"
        )
    if args.synthtrack:
        synthtrack(args.synthtrack, args.frames)


if __name__ == "__main__":
    main()
