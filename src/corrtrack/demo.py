"""``corrtrack demo``: the most complete job corrtrack can run end to end today, on bundled defaults.

It renders a SynthTrack sequence, feeds a SIMULATED detector's noisy poses
(misses, duplicates, jitter, false positives) through pose NMS to a tracker
(today the frame-to-frame OKS baseline, a :class:`~corrtrack.interfaces.Tracker`),
evaluates the result with the PoseTrack evaluator and draws the tracks into an
mp4. The config used is written to ``OUT/config.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from corrtrack.config import dump_config, param
from corrtrack.evaluate import evaluate
from corrtrack.evaluate.report import format_tables
from corrtrack.fileio import write_json
from corrtrack.formats import save_sequence
from corrtrack.geometry import pose_nms
from corrtrack.render import draw_poses
from corrtrack.synth import SimulatedDetectorConfig, make_specs, render_sequence_frames, simulate_detections
from corrtrack.tracking import FrameToFrameConfig, FrameToFrameTracker
from corrtrack.video import VideoWriter

__all__ = ["DemoConfig", "DemoResult", "run_demo"]


@dataclass(frozen=True)
class DemoConfig:
    preset: Literal["easy", "medium", "hard"] = param("medium", "our choice: people cross and look alike")
    frames: int = param(80, "our choice: a few seconds at 25 fps")
    seed: int = param(0, "our choice")
    width: int = param(640, "our choice")
    height: int = param(360, "our choice")
    #: OKS threshold of the frame-to-frame baseline
    oks_threshold: float = param(0.2, "reference code (run_corrtrack.py: tau_oks 0.2)")

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise ValueError(f"frames must be at least 2, got {self.frames}")
        if not (64 <= self.width <= 4096 and 64 <= self.height <= 4096):
            raise ValueError(f"frame size {self.width}x{self.height} outside 64..4096")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


@dataclass
class DemoResult:
    video: Path
    predictions: Path
    ground_truth: Path
    report: str


def run_demo(out: str | Path = "corrtrack-demo", config: DemoConfig = DemoConfig()) -> DemoResult:
    out = Path(out)
    cfg = config
    spec = make_specs("val", [cfg.preset], 1, cfg.frames, cfg.seed, "all", cfg.width, cfg.height)[0]
    images, gt, _, _ = render_sequence_frames(spec)
    detector = SimulatedDetectorConfig(with_poses=True)
    detections = simulate_detections(gt, detector, seed=cfg.seed)
    tracker = FrameToFrameTracker(FrameToFrameConfig(similarity="oks", threshold=cfg.oks_threshold))
    tracked_frames = []
    for t, f in enumerate(detections.frames):
        p = f.poses
        tracked_frames.append(tracker.step(t, images[t], p[pose_nms(p.xy, p.confidences)]))
    tracked = detections.with_poses(tracked_frames)
    result = evaluate(gt, tracked)
    report = format_tables(result)
    gt_path = out / "annotations" / f"{gt.name}.json"
    pred_path = out / "predictions" / f"{gt.name}.json"
    save_sequence(gt, gt_path, "posetrack18")
    save_sequence(tracked, pred_path, "posetrack18")
    write_json(out / "evaluation.json", result.to_json(), indent=1)
    dump_config(
        out / "config.json",
        demo=cfg,
        simulated_detector=detector,
        tracker=tracker.config,
    )
    video = out / f"{gt.name}_tracks.mp4"
    skeleton = gt.layout.skeleton_index
    with VideoWriter(video, fps=spec.config().fps) as writer:
        for img, f in zip(images, tracked.frames):
            writer.write(draw_poses(img, f.poses, skeleton, min_confidence=0.1))
    return DemoResult(video, pred_path, gt_path, report)
