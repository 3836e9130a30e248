"""Speed of the whole system (issue 12 point 9): the tracker's own work, the pipeline's frames per second,
and the tracking stage with the paper-size networks.

Usage: python benchmarks/bench_pipeline.py [--parts own pipeline paper metrics] [--threads 2]
       [--own-frames 60] [--own-repeats 3]
       [--clip-frames 40] [--clip-people 5] [--repeats 3]
       [--paper-people 1 5 20] [--paper-warmup 2] [--paper-frames 3] [--paper-variants ...] [--no-flops]
       [--metrics-data DIR] [--metrics-frames N] [--metrics-modes ...]

Three parts, each printing a markdown table (medians) with the torch thread count and the
load average (the machine may be shared: other processes inflate every wall time):

``own``
    the tracker's own work per frame (everything but the networks) at 1, 5, 20 and 50 people:
    ``benchmarks/bench_tracker.py``'s scene and measurement (oracle models), reused.
``pipeline``
    ``corrtrack.pipeline.track_sequence`` on a SynthTrack clip at 640x360 with about 5 people per
    frame (preset ``medium``, ``people=(N, N)``), with the bundled models: detector ``synth`` (the
    bundled CenterNet), the bundled pose net, and the bundled correspondence net (full refinement),
    the same with windowed refinement, and DIS flow instead of the network. Frames per second
    (detection + pose + tracking + the offline finish, no rendering) and seconds per frame in each
    stage from ``track_sequence``'s timings; median over ``--repeats`` runs after one warm-up run.
``paper``
    the tracking stage alone (``CorrTrackTracker.step``: embedding, propagation, recovery with
    re-estimation, association) with the ``paper`` correspondence net and the ``paper`` pose net
    (random weights, seeded, eval mode, flip test) on 1280x720 frames, at 1, 5 and 20 people
    (``bench_tracker.make_scene``: rigid walkers spread over the frame, noisy detections; the
    images are seeded noise: the networks' time does not depend on the pixels). The networks run
    on every query and box, but the answers the tracker gets are the oracles'
    (``GuidedCorrespondences``, ``GuidedPoseEstimator``), so its work is the steady state of a
    working tracker: every person is one track, propagated, given a recovery box and re-estimated
    each frame (random weights would end every track and invent people). The first ``--paper-warmup`` frames build
    the tracks; the next ``--paper-frames`` are timed (median seconds per frame, per stage).
    The authors' code takes about 2.2, 6.4 and 23 s per frame there. One more frame runs under
    ``torch.utils.flop_counter.FlopCounterMode`` (not timed): the FLOP of the networks' path per
    frame, and GFLOP/s = that count / the median seconds per frame. Variants (:data:`PAPER_VARIANTS`):
    the exact mode (full refinement, float32) and the fast modes of issue 25.
``metrics``
    the tracking metrics of each mode (:data:`METRIC_MODES`) against the exact mode on a SynthTrack
    data set (``--metrics-data``, its ``hard`` sequences, split ``val``) with the bundled networks,
    which run the same code paths as the paper networks, and the simulated detector: MOTA, IDSW,
    mAP and keypoint HOTA (``corrtrack.experiments.score``), the difference to the exact mode, and
    whether every metric stays within 0.2 of it (IDSW: within 0.2 per sequence, i.e. equal).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from corrtrack.interfaces import CorrespondenceModel, PoseEstimator
from corrtrack.pipeline import SequenceInput
from corrtrack.poses import Poses

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: seconds per frame of the authors' tracking stage (recovery + association) at 1, 5 and 20 people (issue 12)
AUTHORS_SECONDS = {1: 2.2, 5: 6.4, 20: 23.0}
#: score threshold of the bundled (undertrained) detector: about 5 people per frame on the benchmark clip
#: (its scores rarely reach the authors' 0.5, docs/results.md)
DETECTOR_THRESHOLD = 0.27
PIPELINE_VARIANTS: dict[str, dict[str, str]] = {
    "network, full refinement": {"correspondences": "network", "refinement": "full"},
    "network, windowed refinement": {"correspondences": "network", "refinement": "windowed"},
    "DIS flow": {"correspondences": "flow", "refinement": "full"},
}


def load_text() -> str:
    """``load average 1/5/15 min: a, b, c``."""
    a, b, c = os.getloadavg()
    return f"load average (1/5/15 min): {a:.2f}, {b:.2f}, {c:.2f}"


# ----------------------------------------------------------------------------------- own work
def own_work(people: list[int], frames: int, repeats: int) -> list[dict[str, float]]:
    """``bench_tracker``'s measurement: the tracker's own ms per frame (median, p90) at each people count."""
    from bench_tracker import run
    from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig

    rows = []
    for n in people:
        times = []
        for r in range(repeats):
            t, _ = run(n, frames, r, CorrTrackConfig())
            times.append(t)
        ms = np.concatenate(times) * 1e3
        rows.append({"people": n, "median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90))})
    return rows


# ----------------------------------------------------------------------------------- pipeline
@dataclass
class Clip:
    """A SynthTrack clip written as JPEG frames + PoseTrack ground truth, ready for ``track_sequence``."""

    item: SequenceInput
    frames: int
    persons_per_frame: float
    size: tuple[int, int]  # (width, height)


def make_clip(
    out: Path, frames: int, people: int, seed: int = 7, preset: str = "medium", size: tuple[int, int] = (640, 360)
) -> Clip:
    """Render a val clip (``preset`` with ``people=(people, people)``) into ``out``."""
    from corrtrack.formats import save_sequence
    from corrtrack.synth import make_specs, render_sequence
    from corrtrack.video import write_image

    spec = make_specs("val", [preset], 1, frames, seed, "all", size[0], size[1], {"people": (people, people)})[0]
    folder = out / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    rendered = render_sequence(spec, on_image=lambda t, img: write_image(folder / f"{t:06d}.jpg", img, 90))
    gt = out / f"{spec.name}.json"
    save_sequence(rendered.sequence, gt, "posetrack18")
    per_frame = float(np.mean([len(f.poses) for f in rendered.sequence.frames]))
    return Clip(SequenceInput(spec.name, folder, ground_truth=gt), frames, per_frame, size)


@dataclass
class PipelineRun:
    fps: float  # frames / (detection + pose + tracking + finish)
    wall_fps: float  # frames / wall time of track_sequence (file reading and writing included)
    cpu_per_frame: float  # process CPU seconds per frame of track_sequence (all threads)
    per_frame: dict[str, float] = field(default_factory=dict)  # seconds per frame by stage


def pipeline_run(
    clip: Clip, out: Path, correspondences: str, refinement: str, score_threshold: float = DETECTOR_THRESHOLD
) -> PipelineRun:
    """One ``track_sequence`` run with the bundled models (no rendering)."""
    from corrtrack.inference.file_detections import DetectionFilter
    from corrtrack.pipeline import PipelineConfig, track_sequence
    from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig

    cfg = PipelineConfig(
        detector="synth",
        poses="bundled",
        correspondences=correspondences,  # type: ignore[arg-type]
        refinement=refinement,  # type: ignore[arg-type]
        render=False,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    res = track_sequence(clip.item, out, cfg, CorrTrackConfig(), DetectionFilter(score_threshold))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    s = res.seconds
    main = s["detection"] + s["pose"] + s["tracking"] + s["finish"]
    n = res.frames
    per = {
        "detection": s["detection"] / n,
        "pose": s["pose"] / n,
        "correspondences": (s["tracking.embed"] + s["tracking.propagate"] + s["tracking.merge_propagate"]) / n,
        "recovery re-estimation": s["tracking.estimate"] / n,
        "tracker own": s["tracking.tracker"] / n,
        "finish": s["finish"] / n,
    }
    return PipelineRun(n / main, n / wall, cpu / n, per)


def pipeline_bench(
    clip: Clip, out: Path, variants: dict[str, dict[str, str]], repeats: int, score_threshold: float
) -> dict[str, list]:
    """All ``repeats`` runs per variant, after one warm-up run each."""
    results: dict[str, list] = {}
    for name, v in variants.items():
        args = (clip, out, v["correspondences"], v["refinement"], score_threshold)
        pipeline_run(*args)  # warm-up: lazy imports, first calls
        results[name] = [pipeline_run(*args) for _ in range(repeats)]
    return results


def detections_per_frame(clip: Clip, score_threshold: float) -> float:
    """Mean persons per frame the bundled detector reports at ``score_threshold`` (after its box NMS)."""
    from corrtrack.inference.detector import CenterNetDetector
    from corrtrack.inference.file_detections import DetectionFilter
    from corrtrack.video import FrameSource

    det = CenterNetDetector.from_bundled(post=DetectionFilter(score_threshold))
    return float(np.mean([len(det.detect([img])[0]) for img in FrameSource(clip.item.frames)]))


def pipeline_table(results: dict[str, list[PipelineRun]]) -> str:
    stages = list(next(iter(results.values()))[0].per_frame)
    head = "| correspondences | frames/s (median) | runs | wall frames/s | CPU ms / frame | "
    head += " | ".join(f"{s} ms" for s in stages)
    lines = [head + " |", "|---" * (5 + len(stages)) + "|"]
    for name, runs in results.items():
        fps = statistics.median(r.fps for r in runs)
        wall = statistics.median(r.wall_fps for r in runs)
        cells = [f"{1e3 * statistics.median(r.per_frame[s] for r in runs):.1f}" for s in stages]
        spread = ", ".join(f"{r.fps:.2f}" for r in runs)
        cpu = 1e3 * statistics.median(r.cpu_per_frame for r in runs)
        lines.append(f"| {name} | {fps:.2f} | {spread} | {wall:.2f} | {cpu:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- paper networks
Precision = Literal["fp32", "bf16"]


@dataclass(frozen=True)
class Mode:
    """One way to run the networks: correspondence refinement, network precision and tracker settings."""

    refinement: str = "full"
    precision: Precision = "fp32"
    settings: tuple[tuple[str, object], ...] = ()


SKIP_EXPLAINED = (("recovery_skip_explained", True),)
#: the exact mode (the paper's computation, BN folded and channels-last: equal within float32 rounding) and the
#: fast modes of issue 25; ``fast`` bundles those that keep the tracking metrics (``metrics`` part, docs/speed.md)
PAPER_VARIANTS: dict[str, Mode] = {
    "full": Mode(),
    "windowed": Mode("windowed"),
    "skip explained": Mode("full", "fp32", SKIP_EXPLAINED),
    "bf16": Mode("full", "bf16"),
    "windowed, skip explained": Mode("windowed", "fp32", SKIP_EXPLAINED),
    "windowed, skip explained, bf16": Mode("windowed", "bf16", SKIP_EXPLAINED),
}
#: the rows of the ``metrics`` part (the first is the reference)
METRIC_MODES = ("full", "windowed", "skip explained", "bf16", "windowed, skip explained")


class GuidedCorrespondences:
    """The network's whole work on every call, the oracle's answers (so the tracker's work is a trained model's).

    With random weights the network's propagations land anywhere: tracks would end every frame and
    recovery would see arbitrary confidences, so the time per frame would not be the steady state of
    a working tracker. Here ``embed`` and ``propagate`` run the network on exactly the queries the
    tracker asks, and then return the ground-truth answer: every live track is propagated, gives a
    recovery box and is re-estimated, as on real video with a trained network.
    """

    def __init__(self, network: CorrespondenceModel, oracle: CorrespondenceModel) -> None:
        self.network = network
        self.oracle = oracle

    def embed(self, image: np.ndarray) -> tuple[object, object]:
        return self.network.embed(image), self.oracle.embed(image)

    def propagate(self, src: tuple[object, object], dst: tuple[object, object], points: np.ndarray) -> np.ndarray:
        self.network.propagate(src[0], dst[0], points)
        return self.oracle.propagate(src[1], dst[1], points)


class GuidedPoseEstimator:
    """The pose network's whole work on every box, the oracle's poses (a random-weight net's would be new people)."""

    def __init__(self, network: PoseEstimator, oracle: PoseEstimator) -> None:
        self.network = network
        self.oracle = oracle

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> Poses:
        self.network.estimate(image, boxes)
        return self.oracle.estimate(image, boxes)


@dataclass
class PaperRun:
    people: int
    variant: str
    seconds: list[float]  # wall seconds of each timed step
    cpu: list[float]  # process CPU seconds of each timed step (all threads)
    stages: dict[str, float]  # median seconds per timed frame by stage (tracker.timings keys)
    tracks: float  # poses propagated per timed frame (kept at t-1)
    reestimated: float  # recovery re-estimations per timed frame
    flops: float | None = None  # FLOP of one more (untimed) frame, FlopCounterMode


def paper_models(
    refinement: str,
    seed: int = 0,
    pose: str = "paper",
    corr: str = "paper",
    flip_test: bool = True,
    precision: Precision = "fp32",
) -> tuple[CorrespondenceModel, PoseEstimator]:
    """Seeded random-weight correspondence and pose nets (eval mode) behind the tracker's interfaces."""
    import torch

    from corrtrack.inference.correspondences import NetworkCorrespondences
    from corrtrack.inference.pose_estimator import PoseEstimatorConfig, TopDownPoseEstimator
    from corrtrack.models.correspondence_net import CorrespondenceNet, correspondence_config
    from corrtrack.models.pose_net import PoseNet, pose_config

    torch.manual_seed(seed)
    corr_model = NetworkCorrespondences(
        CorrespondenceNet(correspondence_config(corr)),
        refinement=refinement,
        precision=precision,
    )
    estimator = TopDownPoseEstimator(
        PoseNet(pose_config(pose)),
        PoseEstimatorConfig(precision=precision),
        flip_test=flip_test,
    )
    return corr_model, estimator


def noise_images(frames: int, width: int, height: int, seed: int) -> list[np.ndarray]:
    """Seeded smoothed-noise frames, each one distinct (the networks' time does not depend on the pixels)."""
    import cv2

    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 3)
    out = []
    for t in range(frames):
        img = np.roll(base, 3 * t, axis=1)
        img[0, 0] = [t % 256, t // 256, 7]
        out.append(img)
    return out


def paper_run(
    people: int,
    variant: str,
    warmup: int,
    frames: int,
    seed: int = 0,
    nets: tuple[str, str] = ("paper", "paper"),
    flip_test: bool = True,
    flops: bool = False,
) -> PaperRun:
    """Time ``CorrTrackTracker.step`` on 1280x720 frames; the first ``warmup`` frames are not timed.

    ``nets`` = (correspondence config, pose config); ``variant`` a key of :data:`PAPER_VARIANTS`.
    With ``flops`` one more frame runs (untimed) under ``FlopCounterMode``: :attr:`PaperRun.flops`.
    """
    import bench_tracker
    from corrtrack.testing import OracleCorrespondences, OraclePoseEstimator
    from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig, CorrTrackTracker

    mode = PAPER_VARIANTS[variant]
    total = warmup + frames + int(flops)
    gt, _, dets = bench_tracker.make_scene(people, total, seed)
    images = noise_images(total, bench_tracker.WIDTH, bench_tracker.HEIGHT, seed)
    network, estimator = paper_models(mode.refinement, seed, nets[1], nets[0], flip_test, mode.precision)
    model = GuidedCorrespondences(network, OracleCorrespondences(gt, images))
    poses = GuidedPoseEstimator(estimator, OraclePoseEstimator(gt, images))
    tracker = CorrTrackTracker(model, poses, CorrTrackConfig(**dict(mode.settings)))  # type: ignore[arg-type]
    seconds, cpu, stage_rows, tracks = [], [], [], []
    reestimated, n_prev = 0, 0  # n_prev: poses kept at t-1, which the tracker propagates into t
    counted: float | None = None
    for t, (img, det) in enumerate(zip(images, dets)):
        if t == warmup + frames:  # the extra frame: FLOP count only
            from torch.utils.flop_counter import FlopCounterMode

            with FlopCounterMode(display=False) as counter:
                tracker.step(t, img, det)
            counted = float(counter.get_total_flops())
            break
        before = dict(tracker.timings)
        r0 = tracker.counts["reestimated"]
        t0, c0 = time.perf_counter(), time.process_time()
        out = tracker.step(t, img, det)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        kept, n_prev = n_prev, len(out)
        if t < warmup:
            continue
        seconds.append(dt)
        cpu.append(dc)
        stage_rows.append({k: tracker.timings[k] - before[k] for k in tracker.timings})
        tracks.append(kept)
        reestimated += tracker.counts["reestimated"] - r0
    if not seconds:
        raise ValueError("paper_run needs at least one timed frame (frames >= 1)")
    stages = {k: float(np.median([r[k] for r in stage_rows])) for k in stage_rows[0]}
    return PaperRun(people, variant, seconds, cpu, stages, float(np.mean(tracks)), reestimated / frames, counted)


def paper_table(runs: list[PaperRun]) -> str:
    lines = [
        "| people | variant | s / frame (median) | CPU s / frame | authors' s / frame | speed-up | GFLOP / frame | "
        "GFLOP/s | embed s | propagate s | re-estimate s | own ms | tracks propagated / frame | re-estimated / frame |",
        "|---" * 14 + "|",
    ]
    for r in runs:
        med = statistics.median(r.seconds)
        ref = AUTHORS_SECONDS.get(r.people)
        speed = f"{ref / med:.1f}x" if ref else "-"
        gflop = f"{r.flops / 1e9:.0f}" if r.flops is not None else "-"
        rate = f"{r.flops / 1e9 / med:.0f}" if r.flops is not None else "-"
        s = r.stages
        lines.append(
            f"| {r.people} | {r.variant} | {med:.2f} | {statistics.median(r.cpu):.2f} | {ref if ref else '-'} | "
            f"{speed} | {gflop} | {rate} | {s['embed']:.2f} | "
            f"{s['propagate']:.2f} | {s['estimate']:.2f} | {1e3 * s['tracker']:.1f} | {r.tracks:.1f} | "
            f"{r.reestimated:.1f} |"
        )
    return "\n".join(lines)


# -------------------------------------------------------------------------------------- metrics
def metric_rows(
    data: str | Path, frames: int | None, modes: list[str], sequences: tuple[str, ...] = ("hard",)
) -> dict[str, dict[str, float]]:
    """Tracking metrics (and re-estimations skipped) of each mode with the bundled networks on ``data``.

    The detections (simulated from the ground truth) are the same for every mode; the poses of the
    detections come from the bundled pose net at the mode's precision. One runner per precision.
    """
    from corrtrack.experiments import (
        ExperimentRunner,
        Variant,
        detector_factory,
        load_sequences,
        score,
    )
    from corrtrack.inference.correspondences import NetworkCorrespondences
    from corrtrack.inference.pose_estimator import PoseEstimatorConfig, TopDownPoseEstimator

    seqs = load_sequences(data, "val", sequences, frames, full_truth=True)
    corr_net = NetworkCorrespondences.from_bundled().net
    runners: dict[str, ExperimentRunner] = {}
    rows: dict[str, dict[str, float]] = {}
    for name in modes:
        mode = PAPER_VARIANTS[name]
        if mode.precision not in runners:
            # fp32 rows pass no precision, so that the exact row also runs on trees without the option (c359ceb)
            extra = {} if mode.precision == "fp32" else {"precision": mode.precision}
            est = TopDownPoseEstimator.from_bundled(PoseEstimatorConfig(**extra))  # type: ignore[arg-type]

            def estimator(seq: object, e: PoseEstimator = est) -> PoseEstimator:
                return e

            def models(
                seq: object, kind: str, refinement: str, precision: Precision = mode.precision
            ) -> CorrespondenceModel:
                options: dict[str, object] = {} if precision == "fp32" else {"precision": precision}
                return NetworkCorrespondences(corr_net, refinement=refinement, **options)  # type: ignore[arg-type]

            # shared caches within a precision: detections, poses, embeddings, memoised propagations
            runners[mode.precision] = ExperimentRunner(seqs, detector_factory("simulated"), estimator, models)
        settings = tuple(f"{k}={str(v).lower()}" for k, v in mode.settings)
        variant = Variant(name, refinement=mode.refinement, settings=settings)  # type: ignore[arg-type]
        result = runners[mode.precision].run(variant)
        row = score([s.ground_truth for s in seqs], result.predictions)
        row["skipped"] = result.counts.get("recovery_skipped", 0.0)
        rows[name] = row
    return rows


METRICS = ("MOTA", "IDSW", "mAP", "HOTA")


def metrics_table(rows: dict[str, dict[str, float]], sequences: int, tolerance: float = 0.2) -> str:
    """Each mode's metrics, the difference to the first (exact) row and whether all stay within ``tolerance``.

    IDSW is a count over ``sequences`` sequences: its difference is divided by the sequence count.
    """
    exact = next(iter(rows.values()))
    head = "| mode | " + " | ".join(METRICS) + " | " + " | ".join(f"d{m}" for m in METRICS)
    lines = [head + " | within 0.2 | re-estimations skipped |", "|---" * (2 * len(METRICS) + 3) + "|"]
    for name, r in rows.items():
        diffs = [r[m] - exact[m] for m in METRICS]
        scaled = [d / sequences if m == "IDSW" else d for m, d in zip(METRICS, diffs)]
        ok = all(abs(d) <= tolerance + 1e-9 for d in scaled)
        cells = [f"{r[m]:.0f}" if m == "IDSW" else f"{r[m]:.2f}" for m in METRICS]
        cells += [f"{d:+.0f}" if m == "IDSW" else f"{d:+.2f}" for m, d in zip(METRICS, diffs)]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {'yes' if ok else 'no'} | {r['skipped']:.0f} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--parts", nargs="+", choices=["own", "pipeline", "paper", "metrics"], default=["own", "pipeline", "paper"]
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--own-people", type=int, nargs="+", default=[1, 5, 20, 50])
    ap.add_argument("--own-frames", type=int, default=60)
    ap.add_argument("--own-repeats", type=int, default=3)
    ap.add_argument("--clip-frames", type=int, default=40)
    ap.add_argument("--clip-people", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--score-threshold", type=float, default=DETECTOR_THRESHOLD, help="of the bundled detector")
    ap.add_argument("--variants", nargs="+", choices=list(PIPELINE_VARIANTS), default=list(PIPELINE_VARIANTS))
    ap.add_argument("--paper-people", type=int, nargs="+", default=[1, 5, 20])
    ap.add_argument("--paper-warmup", type=int, default=2)
    ap.add_argument("--paper-frames", type=int, default=3)
    ap.add_argument("--paper-variants", nargs="+", choices=list(PAPER_VARIANTS), default=list(PAPER_VARIANTS))
    ap.add_argument("--no-flops", action="store_true", help="skip the FLOP-counted extra frame")
    ap.add_argument("--metrics-data", type=Path, help="SynthTrack data set for the metrics part")
    ap.add_argument("--metrics-sequences", nargs="+", default=["hard"])
    ap.add_argument("--metrics-frames", type=int, default=None)
    ap.add_argument("--metrics-modes", nargs="+", choices=list(PAPER_VARIANTS), default=list(METRIC_MODES))
    args = ap.parse_args()
    if "metrics" in args.parts and (args.metrics_data is None or not args.metrics_data.is_dir()):
        ap.error(f"error: --metrics-data: {args.metrics_data}: not a folder (the metrics part needs a SynthTrack set)")
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; {load_text()}")
    if "own" in args.parts:
        print("\n### (a) The tracker's own work per frame (oracle models, bench_tracker.py scene)\n")
        print("| people | median ms / frame | p90 ms / frame |\n|---|---|---|")
        for row in own_work(args.own_people, args.own_frames, args.own_repeats):
            print(f"| {row['people']} | {row['median_ms']:.2f} | {row['p90_ms']:.2f} |")
        print(f"\n{load_text()}")
    if "pipeline" in args.parts:
        with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
            clip = make_clip(Path(tmp) / "clip", args.clip_frames, args.clip_people)
            dets = detections_per_frame(clip, args.score_threshold)
            print(
                f"\n### (b) Pipeline, bundled models, {clip.size[0]}x{clip.size[1]}, {clip.frames} frames, "
                f"{clip.persons_per_frame:.2f} annotated people and {dets:.2f} detections per frame "
                f"(score > {args.score_threshold})\n"
            )
            out = Path(tmp) / "out"
            out.mkdir()
            variants = {k: PIPELINE_VARIANTS[k] for k in args.variants}
            print(pipeline_table(pipeline_bench(clip, out, variants, args.repeats, args.score_threshold)))
            print(f"\n{load_text()}")
    if "paper" in args.parts:
        print(
            f"\n### (c) Tracking stage with the paper networks (random weights, oracles' answers), 1280x720, "
            f"{args.paper_frames} timed frames after {args.paper_warmup}\n"
        )
        runs = []
        for n in args.paper_people:
            for variant in args.paper_variants:
                runs.append(paper_run(n, variant, args.paper_warmup, args.paper_frames, flops=not args.no_flops))
                print(f"<!-- {n} people, {variant}: {[round(x, 2) for x in runs[-1].seconds]} s; {load_text()} -->")
        print(paper_table(runs))
        print(f"\n{load_text()}")
    if "metrics" in args.parts:
        c0 = time.process_time()
        rows = metric_rows(args.metrics_data, args.metrics_frames, args.metrics_modes, tuple(args.metrics_sequences))
        from corrtrack.experiments import load_sequences

        n_seq = len(load_sequences(args.metrics_data, "val", args.metrics_sequences, 2, full_truth=False))
        print(
            f"\n### (d) Tracking metrics of each mode against the exact mode (bundled networks, simulated detector), "
            f"{args.metrics_data}, {n_seq} sequences, frames: {args.metrics_frames or 'all'}\n"
        )
        print(metrics_table(rows, n_seq))
        print(f"\nprocess CPU s: {time.process_time() - c0:.0f}; {load_text()}")


if __name__ == "__main__":
    main()
