"""``corrtrack demo``: the main job on bundled defaults, end to end.

1. Render a SynthTrack clip (a PoseTrack-layout data set with exact ground truth) into ``OUT/data``.
2. Run the pipeline of ``corrtrack track`` on it (:mod:`corrtrack.pipeline`; the tracker settings
   of its ``synthtrack`` preset, ``--set track_preset=paper`` for the reference rule's): person boxes,
   pose estimation, correspondence tracking (recovery, association, duplicate removal, merging),
   writing PoseTrack JSON, MOT boxes and the rendered video into ``OUT/tracks``.
3. Track the same detections and poses again with the frame-to-frame IoU baseline
   (:class:`~corrtrack.tracking.FrameToFrameTracker`; ``OUT/baseline``): one tracker pass, no
   second detector or pose pass.
4. Evaluate both with corrtrack's PoseTrack evaluator (mAP, MOTA, ID switches, keypoint HOTA) and
   write ``OUT/evaluation.json``, ``OUT/config.json``, ``OUT/tracks.png`` (a frame with every
   track's path, CorrTrack beside the baseline) and ``OUT/report.md``, which says what ran, what
   the networks were trained on (their metadata beside each bundled ``.pt``) and what a good value is.

Which components run is a :class:`DemoConfig` field each, so ``--set`` can switch them; the
defaults are the bundled components that ship with this version (see ``DemoConfig``).
"""

from __future__ import annotations

import ast
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from corrtrack.config import dump_config, param
from corrtrack.evaluate import evaluate
from corrtrack.evaluate.report import format_tables
from corrtrack.fileio import atomic_write_text, write_json
from corrtrack.formats import load_sequence, save_sequence
from corrtrack.inference.file_detections import DetectionFilter
from corrtrack.pipeline import PipelineConfig, find_inputs, track_sequence, weights_record
from corrtrack.poses import Poses, PoseSequence
from corrtrack.presets import PRESETS
from corrtrack.progress import format_rate, phase
from corrtrack.synth import generate_dataset, make_specs
from corrtrack.tracking import FrameToFrameConfig, FrameToFrameTracker
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig

__all__ = ["DemoConfig", "DemoResult", "run_demo"]

#: what a good value is, in one sentence (report.md)
GOOD_VALUES = (
    "mAP, MOTA and keypoint HOTA are percentages where higher is better and 100 is perfect (MOTA can go below "
    "zero when a tracker makes more errors than there are ground-truth joints), ID switches count joints that "
    "change identity (summed over the joints; 0 is perfect), and the tracker does its job when it scores above "
    "the frame-to-frame IoU baseline with fewer ID switches, because both track the same detections and poses."
)


@dataclass(frozen=True)
class DemoConfig:
    preset: Literal["easy", "medium", "hard"] = param("medium", "our choice: people cross and look alike")
    frames: int = param(40, "our choice: under two seconds of video, a few minutes on a 2-core CPU")
    seed: int = param(0, "our choice")
    width: int = param(640, "our choice")
    height: int = param(360, "our choice")
    track_preset: Literal["paper", "synthtrack"] = param(
        "synthtrack",
        "our choice: the tracker and detection-filter settings of this `corrtrack track` preset (corrtrack.presets; "
        "synthtrack = the bundled networks' measured best, docs/results.md; paper = the reference rule's "
        "defaults); the fields below pick the components",
    )
    detector: Literal["synth", "simulated"] = param(
        "synth",
        "our choice: the bundled SynthTrack detector (corrtrack/data/detector_tiny.json); 'simulated' derives "
        "detections from ground truth",
    )
    poses: Literal["bundled", "detections"] = param(
        "bundled", "our choice: the bundled tiny pose network (trained on SynthTrack)"
    )
    correspondences: Literal["network", "flow", "zero"] = param(
        "flow",
        "the synthtrack preset (corrtrack.presets): dense optical flow (DIS), measured ahead of the bundled "
        "correspondence net on SynthTrack (docs/results.md); 'network' runs the net",
    )
    refinement: Literal["full", "windowed", "none", "gated"] = param(
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
    picture: Path | None = None


#: the baseline beside CorrTrack: the IoU tracker of ``corrtrack track --tracker iou`` (pipeline.make_tracker)
BASELINE = FrameToFrameConfig(similarity="iou", threshold=0.3)


def _network_name(config: Any) -> str | None:
    """The config name recorded in a weight file's metadata (a dict, or the text of one)."""
    if isinstance(config, str):
        try:
            config = ast.literal_eval(config)
        except (ValueError, SyntaxError):
            return None
    if isinstance(config, dict):
        values = config.get("values", config)
        name = values.get("name") if isinstance(values, dict) else None
        return str(name) if name is not None else None
    return None


def _what_ran(cfg: DemoConfig, weights: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(stage, component, trained on) rows of report.md, from the weight files' metadata."""

    def network(role: str, what: str) -> tuple[str, str]:
        record = weights.get(role, {})
        name = _network_name(record.get("config"))
        sha = record.get("sha256") or ""
        text = f"{what} `{record.get('file', '?')}` (config {name or '?'}, sha256 {sha[:12]})"
        return text, str(record.get("training_data") or "not recorded")

    rows = []
    if cfg.detector == "synth":
        rows.append(("person boxes", *network("detector", "bundled detector")))
    else:
        rows.append(("person boxes", "SIMULATED from the ground truth (SimulatedDetectorConfig), no network", "-"))
    if cfg.poses == "bundled":
        rows.append(("poses", *network("poses", "bundled pose network")))
    else:
        rows.append(("poses", "the detector's keypoints, no pose network", "-"))
    if cfg.tracker != "corrtrack":
        rows.append(("correspondences", "none: the frame-to-frame tracker links boxes/poses only", "-"))
    elif cfg.correspondences == "network":
        text, data = network("correspondences", "bundled correspondence network")
        rows.append(("correspondences", f"{text}, refinement {cfg.refinement}", data))
    elif cfg.correspondences == "flow":
        rows.append(("correspondences", "dense optical flow (OpenCV DIS), no learned weights", "-"))
    else:
        rows.append(("correspondences", "zero motion (each keypoint stays where it was), no weights", "-"))
    tracker = {"corrtrack": "CorrTrack", "iou": "frame-to-frame IoU", "oks": "frame-to-frame OKS"}[cfg.tracker]
    rows.append(("tracker", f"{tracker}, settings of the `{cfg.track_preset}` preset (config.json)", "-"))
    return rows


def _joint_names_as_list(doc: dict[str, Any]) -> dict[str, Any]:
    """evaluation.json's ``names`` as a list in joint-id order (the evaluator may give ``{"0": ...}``)."""
    names = doc.get("names")
    if isinstance(names, dict):
        doc["names"] = [names[k] for k in sorted(names, key=int)]
    return doc


def _scores(evaluation: Any) -> dict[str, float]:
    assert evaluation.ap is not None  # AP is always computed here
    mota = evaluation.mot_metrics["mota"][-1] if evaluation.mot_metrics else float("nan")
    return {
        "mAP": float(evaluation.ap.ap[-1]),
        "MOTA": float(mota),
        "IDSW": float(evaluation.mot.switches.sum()) if evaluation.mot is not None else 0.0,
        "HOTA": 100 * float(evaluation.hota.hota) if evaluation.hota is not None else float("nan"),
    }


def _picture(out: Path, frames: Path, runs: list[tuple[str, PoseSequence]]) -> Path:
    """A frame with every track's path (one panel per run, side by side), written as ``OUT/tracks.png``.

    The frame is the one of the second half of the clip where the first run has the most people (the
    latest of equals), so that the picture shows poses as well as the paths that led there.
    """
    from corrtrack.render import draw_track_paths, frames_for_sequence, image_grid
    from corrtrack.video import write_image

    seq = runs[0][1]
    counts = [len(f.poses) for f in seq.frames]
    t = max(range(len(seq) // 2, len(seq)), key=lambda i: (counts[i], i))
    images, _ = frames_for_sequence(seq, frames)
    image = None
    for i, img in enumerate(images):
        if i == t:
            image = img
            break
    assert image is not None
    panels = [draw_track_paths(image, s, t, min_confidence=0.3) for _, s in runs]
    titles = [f"{name}: frame {t}, {len(s.tracks())} tracks" for name, s in runs]
    path = out / "tracks.png"
    write_image(path, image_grid(panels, cols=len(panels), titles=titles, cell_width=min(640, image.shape[1])))
    return path


def run_demo(out: str | Path = "corrtrack-demo", config: DemoConfig = DemoConfig()) -> DemoResult:
    from tqdm import tqdm

    out = Path(out)
    cfg = config
    preset = PRESETS[cfg.track_preset]
    t0 = time.perf_counter()
    spec = make_specs("val", [cfg.preset], 1, cfg.frames, cfg.seed, "all", cfg.width, cfg.height)[0]
    phase(f"rendering a SynthTrack {cfg.preset} clip: {cfg.frames} frames at {cfg.width}x{cfg.height}")
    bar = tqdm(total=cfg.frames, desc="synth", unit="frame", leave=False, disable=None)
    try:
        generate_dataset(
            out / "data",
            [spec],
            overwrite=True,
            description={"demo": True, "seed": cfg.seed},
            frame_progress=lambda done, total: bar.update(done - bar.n),
        )
    finally:
        bar.close()  # cleared first, so that an error line is a line of its own
    render_s = time.perf_counter() - t0
    item = find_inputs(out / "data")[0]
    # what ran: the bundled pose net's config (the field's default names the authors' network, used with their weights)
    pose_net = _network_name(_bundled_meta("pose_tiny.json").get("config")) or "bundled (no metadata)"
    pipeline = PipelineConfig(
        detector=cfg.detector,
        poses=cfg.poses,
        pose_config=pose_net if cfg.poses == "bundled" else "none (the detector's keypoints)",
        correspondences=cfg.correspondences,
        refinement=cfg.refinement,
        tracker=cfg.tracker,
    )
    tracker_cfg = CorrTrackConfig(**preset.tracker)
    det_filter = DetectionFilter(**preset.detection_filter)
    weights = weights_record(pipeline, None, None)
    cached: list[Poses] = []
    phase(f"tracking {cfg.frames} frames: detection, poses, {cfg.tracker} tracker")
    result = track_sequence(
        item,
        out / "tracks",
        pipeline,
        tracker_cfg,
        det_filter,
        progress=True,
        on_poses=lambda t, poses: cached.append(poses[np.arange(len(poses))]),  # a copy: the tracker owns its input
    )
    assert item.ground_truth is not None
    t0 = time.perf_counter()
    baseline = FrameToFrameTracker(BASELINE)
    for t, poses in enumerate(cached):
        baseline.step(t, None, poses)
    gt = load_sequence(item.ground_truth)
    baseline_seq = gt.with_poses([f.poses for f in baseline.finish().frames])
    save_sequence(baseline_seq, out / "baseline" / f"{item.name}.json", "posetrack18")
    baseline_s = time.perf_counter() - t0

    phase(f"evaluating CorrTrack and the IoU baseline on {len(gt)} frames (mAP, MOTA, keypoint HOTA)")
    t0 = time.perf_counter()
    pred = load_sequence(result.predictions)
    evaluation = evaluate(gt, pred, hota=True)
    baseline_eval = evaluate(gt, baseline_seq, hota=True)
    eval_s = time.perf_counter() - t0
    tables = format_tables(evaluation)
    scores = {"CorrTrack": _scores(evaluation), "frame-to-frame IoU (baseline)": _scores(baseline_eval)}
    doc = _joint_names_as_list(evaluation.to_json())
    doc["baseline_iou"] = _joint_names_as_list(baseline_eval.to_json())
    doc["summary"] = scores
    write_json(out / "evaluation.json", doc, indent=1)
    dump_config(
        out / "config.json",
        demo=cfg,
        preset=preset,
        pipeline=pipeline,
        tracker=tracker_cfg,
        detection_filter=det_filter,
        weights=weights,
        baseline=BASELINE,
    )

    phase("drawing a frame with the tracks' paths (tracks.png)")
    t0 = time.perf_counter()
    picture = _picture(out, item.frames, [("CorrTrack", pred), ("IoU baseline", baseline_seq)])
    picture_s = time.perf_counter() - t0

    tracking_s = sum(v for k, v in result.seconds.items() if "." not in k and k != "render")
    rate = format_rate(result.frames, tracking_s)
    c = scores["CorrTrack"]
    summary = (
        f"SynthTrack {cfg.preset}, {result.frames} frames at {cfg.width}x{cfg.height}: "
        f"mAP {c['mAP']:.1f}, MOTA {c['MOTA']:.1f}, ID switches {c['IDSW']:.0f}, keypoint HOTA {c['HOTA']:.1f}; "
        f"{rate} (detection + pose + tracking)"
    )
    b = scores["frame-to-frame IoU (baseline)"]
    versus = (
        f"frame-to-frame IoU baseline on the same detections and poses: mAP {b['mAP']:.1f}, MOTA {b['MOTA']:.1f}, "
        f"ID switches {b['IDSW']:.0f}, keypoint HOTA {b['HOTA']:.1f}"
    )
    ran = _what_ran(cfg, weights.files)
    components = "; ".join(f"{stage}: {what}" for stage, what, _ in ran)
    report = _report(cfg, preset.name, ran, scores, tables, summary, picture, out)
    timings = {"render SynthTrack": render_s, **result.seconds, "baseline tracker": baseline_s}
    timings |= {"evaluation (both)": eval_s, "picture": picture_s}
    report += "| stage | seconds |\n|---|---|\n" + "".join(f"| {k} | {v:.2f} |\n" for k, v in timings.items())
    atomic_write_text(out / "report.md", report)
    return DemoResult(
        result.video, result.predictions, item.ground_truth, f"{tables}\n{summary}\n{versus}\n{components}", picture
    )


def _bundled_meta(name: str) -> dict[str, Any]:
    import json
    from importlib import resources

    try:
        return dict(json.loads((resources.files("corrtrack") / "data" / name).read_text()))
    except (OSError, ValueError):
        return {}


def _report(
    cfg: DemoConfig,
    preset: str,
    ran: list[tuple[str, str, str]],
    scores: dict[str, dict[str, float]],
    tables: str,
    summary: str,
    picture: Path,
    out: Path,
) -> str:
    simulated = " The person boxes are SIMULATED from the ground truth." if cfg.detector == "simulated" else ""
    lines = [
        "# corrtrack demo",
        "",
        f"A SynthTrack `{cfg.preset}` clip ({cfg.frames} frames at {cfg.width}x{cfg.height}, seed {cfg.seed}; "
        "rendered into `data/` with exact PoseTrack 2018 ground truth) tracked by the pipeline of "
        f"`corrtrack track` (the components below, the tracker settings of its `{preset}` preset), and, on the "
        f"same detections and poses, by the frame-to-frame IoU baseline (`baseline/`).{simulated}",
        "",
        summary,
        "",
        "## What ran",
        "",
        "| stage | component | trained on |",
        "|---|---|---|",
        *(f"| {stage} | {what} | {data} |" for stage, what, data in ran),
        "",
        "Every setting is in `config.json`; the networks' metadata (training command, data, steps) lie beside "
        "each bundled weight file in `corrtrack/data/`.",
        "",
        "## CorrTrack and the baseline on this clip",
        "",
        "| tracker | mAP | MOTA | ID switches | keypoint HOTA |",
        "|---|---|---|---|---|",
        *(
            f"| {name} | {s['mAP']:.1f} | {s['MOTA']:.1f} | {s['IDSW']:.0f} | {s['HOTA']:.1f} |"
            for name, s in scores.items()
        ),
        "",
        GOOD_VALUES,
        "",
        f"![A frame with every track's path: CorrTrack left, IoU baseline right]({picture.relative_to(out)})",
        "",
        f"`{picture.relative_to(out)}`: a frame of the clip's second half with each track's path up to it in the "
        "track's colour (a path that stops where another starts is an identity switch); CorrTrack left, the IoU "
        "baseline right.",
        "",
        "## CorrTrack per joint (PoseTrack evaluator)",
        "",
        "```",
        tables,
        "```",
        "",
        "## Time",
        "",
    ]
    return "\n".join(lines) + "\n"
