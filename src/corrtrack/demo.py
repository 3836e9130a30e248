"""``corrtrack demo``: the main job on bundled defaults, end to end.

1. Render a SynthTrack clip (a PoseTrack-layout data set with exact ground truth) into ``OUT/data``.
2. Run the pipeline of ``corrtrack track`` on it (:mod:`corrtrack.pipeline`): person boxes,
   pose estimation, correspondence tracking (recovery, association, duplicate removal,
   merging), writing PoseTrack JSON, MOT boxes and the rendered video into ``OUT/tracks``.
3. Evaluate with corrtrack's PoseTrack evaluator (mAP, MOTA, ID switches, keypoint HOTA) and
   write ``OUT/evaluation.json``, ``OUT/report.md`` and ``OUT/config.json``.

Which components run is a :class:`DemoConfig` field each, so ``--set`` can switch them; the
defaults are the bundled components that ship with this version (see ``DemoConfig``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from corrtrack.config import dump_config, param
from corrtrack.evaluate import evaluate
from corrtrack.evaluate.report import format_tables
from corrtrack.fileio import atomic_write_text, write_json
from corrtrack.formats import load_sequence
from corrtrack.inference.file_detections import DetectionFilter
from corrtrack.pipeline import PipelineConfig, find_inputs, track_sequence
from corrtrack.synth import generate_dataset, make_specs
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig

__all__ = ["DemoConfig", "DemoResult", "run_demo"]


@dataclass(frozen=True)
class DemoConfig:
    preset: Literal["easy", "medium", "hard"] = param("medium", "our choice: people cross and look alike")
    frames: int = param(40, "our choice: under two seconds of video, a few minutes on a 2-core CPU")
    seed: int = param(0, "our choice")
    width: int = param(640, "our choice")
    height: int = param(360, "our choice")
    detector: Literal["synth", "simulated"] = param(
        "synth",
        "our choice: the bundled SynthTrack detector (box AP50 0.72 on SynthTrack v2 val); 'simulated' derives "
        "detections from ground truth",
    )
    poses: Literal["bundled", "detections"] = param(
        "bundled", "our choice: the bundled tiny pose network (trained on SynthTrack)"
    )
    correspondences: Literal["network", "flow", "zero"] = param(
        "flow",
        "our choice: dense optical flow (DIS), because the bundled correspondence net is undertrained and tracks "
        "worse (this demo: MOTA 0.0 with it, v2 weights, vs 23.0 with flow; docs/results.md); 'network' runs it",
    )
    refinement: Literal["full", "windowed", "none"] = param(
        "full", "paper: the refinement module (with correspondences=network); none = Table 2 ablation"
    )
    tracker: Literal["corrtrack", "iou", "oks"] = param("corrtrack", "paper")

    def __post_init__(self) -> None:
        if self.frames < 2 or self.frames > 100_000:
            raise ValueError(f"frames must be in 2..100000, got {self.frames}")
        if not (64 <= self.width <= 4096 and 64 <= self.height <= 4096):
            raise ValueError(f"frame size {self.width}x{self.height} outside 64..4096")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


@dataclass
class DemoResult:
    video: Path | None
    predictions: Path
    ground_truth: Path
    report: str


def run_demo(out: str | Path = "corrtrack-demo", config: DemoConfig = DemoConfig()) -> DemoResult:
    out = Path(out)
    cfg = config
    t0 = time.perf_counter()
    spec = make_specs("val", [cfg.preset], 1, cfg.frames, cfg.seed, "all", cfg.width, cfg.height)[0]
    generate_dataset(out / "data", [spec], overwrite=True, description={"demo": True, "seed": cfg.seed})
    render_s = time.perf_counter() - t0
    item = find_inputs(out / "data")[0]
    pipeline = PipelineConfig(
        detector=cfg.detector,
        poses=cfg.poses,
        correspondences=cfg.correspondences,
        refinement=cfg.refinement,
        tracker=cfg.tracker,
    )
    tracker_cfg = CorrTrackConfig()
    det_filter = DetectionFilter()
    result = track_sequence(item, out / "tracks", pipeline, tracker_cfg, det_filter, progress=True)
    assert item.ground_truth is not None
    gt = load_sequence(item.ground_truth)
    pred = load_sequence(result.predictions)
    evaluation = evaluate(gt, pred, hota=True)
    assert evaluation.ap is not None  # AP is always computed here
    tables = format_tables(evaluation)
    write_json(out / "evaluation.json", evaluation.to_json(), indent=1)
    dump_config(out / "config.json", demo=cfg, pipeline=pipeline, tracker=tracker_cfg, detection_filter=det_filter)
    mota = evaluation.mot_metrics["mota"][-1] if evaluation.mot_metrics else float("nan")
    idsw = int(evaluation.mot.switches.sum()) if evaluation.mot is not None else 0
    hota = evaluation.hota.hota if evaluation.hota is not None else float("nan")
    tracking_s = sum(v for k, v in result.seconds.items() if "." not in k and k != "render")
    summary = (
        f"SynthTrack {cfg.preset}, {result.frames} frames at {cfg.width}x{cfg.height}: "
        f"mAP {evaluation.ap.ap[-1]:.1f}, MOTA {mota:.1f}, ID switches {idsw}, keypoint HOTA {100 * hota:.1f}; "
        f"{result.frames / max(tracking_s, 1e-9):.1f} frames/s (detection + pose + tracking)"
    )
    components = (
        f"detector: {cfg.detector}{' (SIMULATED from ground truth)' if cfg.detector == 'simulated' else ''}; "
        f"poses: {cfg.poses}; correspondences: {cfg.correspondences}"
        f"{f' (refinement {cfg.refinement})' if cfg.correspondences == 'network' else ''}; tracker: {cfg.tracker}"
    )
    seconds = "\n".join(f"| {k} | {v:.2f} |" for k, v in sorted(result.seconds.items()))
    report = (
        f"# corrtrack demo\n\n{summary}\n\n{components}\n\n```\n{tables}\n```\n\n"
        f"| stage | seconds |\n|---|---|\n| render SynthTrack | {render_s:.2f} |\n{seconds}\n"
    )
    atomic_write_text(out / "report.md", report)
    return DemoResult(result.video, result.predictions, item.ground_truth, f"{tables}\n{summary}\n{components}")
