"""The CorrTrack tracker (method.md §4, §5): recovery, association and merging through keypoint correspondences.

Works on numpy arrays and the interfaces of :mod:`corrtrack.interfaces` only, so it runs with
any :class:`~corrtrack.interfaces.CorrespondenceModel` (the network, DIS optical flow, the
fakes of :mod:`corrtrack.testing`) and any :class:`~corrtrack.interfaces.PoseEstimator`.

Per frame ``t``:

1. ``embed`` the frame once;
2. prepare the detections: pose NMS (joint threshold 0.05, OKS 0.7), at most ``max_poses``;
3. propagate every pose kept at ``t-1`` (detected or recovered) into ``t``: **one**
   ``propagate`` call for all tracks and joints, used by both recovery and association;
4. recovery: each propagated pose with >= 3 confident joints gives a box; where no detection
   already explains the propagated pose, the pose estimator re-estimates the person in it
   (one ``estimate`` call per frame); re-estimated poses are filtered (OKS 0.8 against all,
   0.6 against the original detections) and pose NMS runs over everything;
5. association: box, OKS and correspondence scores of every (track, pose) pair, the
   authors' greedy assignment (or Hungarian), duplicate suppression (ratio 0.6); tracks
   that find no pose end (the reference's ``break_tracks``); remaining poses start tracks;
6. merging scores (supplement Eq. 2) for every track that starts, against tracks that
   ended at most ``merge_max_gap`` frames before.

``finish()`` merges tracks, drops short tracks and low-confidence joints, and renumbers ids.
Deviations from the reference code are listed in docs/method.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Literal, cast

import numpy as np

from corrtrack.config import param
from corrtrack.geometry import box_iou
from corrtrack.interfaces import CorrespondenceModel, PoseEstimator, Tracker
from corrtrack.keypoints import POSETRACK18
from corrtrack.poses import Frame, Poses, PoseSequence
from corrtrack.tracking.association import (
    association_scores,
    find_duplicates,
    match,
    oks_matrix,
    pose_nms_fast,
    tracking_boxes,
)
from corrtrack.tracking.matching import assign
from corrtrack.tracking.merging import MergeOrder, merge_scores, resolve_merges
from corrtrack.tracking.output_stream import FrameSpool, RecentItems, SpooledFrames, finish_streamed
from corrtrack.tracking.postprocess import interpolate_gaps, postprocess_tracks, remap_track_ids
from corrtrack.tracking.recovery import explained_by_detections, filter_recovered, recovery_boxes

__all__ = ["CorrTrackConfig", "CorrTrackTracker", "RecoveryCandidate", "run_tracker"]

MODEL_STAGES = ("embed", "propagate", "estimate", "merge_propagate", "describe")
#: the reference code's correspondence grid (run_corrtrack.py: 128 cells across the long side)
REFERENCE_GRID = 128


@dataclass(frozen=True)
class CorrTrackConfig:
    """Every threshold of the CorrTrack tracker (method.md §4.5) with the source of its default."""

    # detections
    tau_joint: float = param(0.1, "reference code (run_corrtrack.py, warp_poses.py): joint threshold")
    nms_oks: float = param(0.7, "reference code (pose_nms.py): OKS threshold of pose NMS")
    nms_joint_threshold: float = param(0.05, "reference code (pose_nms.py): joint threshold of pose NMS")
    max_poses: int = param(80, "reference code (run_corrtrack.py): at most 80 poses per frame")
    # recovery of missed persons (Stage A)
    recovery: bool = param(True, "paper: recovery of missed detections")
    recovery_tau_corr: float = param(0.1, "reference code (warp_poses.py --corr_threshold)")
    recovery_min_joints: int = param(3, "reference code (warp_poses.py): propagated joints needed for a box")
    recovery_box_margin: float = param(10.0, "reference code (warp_poses.py): 10 px (its 512 canvas; here image px)")
    recovery_min_estimated_joints: int = param(5, "reference code (warp_poses.py): joints >= tau_joint to keep")
    recovery_max_oks_all: float = param(0.8, "reference code (warp_poses.py): max OKS against poses in the frame")
    recovery_max_oks_detections: float = param(0.6, "reference code (recover_missed_detections.py)")
    recovery_skip_explained: bool = param(
        False, "reference code (every propagated pose is re-estimated); skipping changes the output (docs/results.md)"
    )
    recovery_explained_oks: float = param(0.6, "our choice: a detection explains a propagated pose above this OKS")
    recovery_zero_joints: tuple[int, ...] = param((3, 4), "reference code (warp_poses.py): ears are zeroed")
    recovery_max_run: int = param(
        0,
        "our choice (0 = no limit, as the reference): a track recovered in this many consecutive frames is no "
        "longer propagated for recovery (stops ghost tracks of weak pose nets; docs/method.md)",
    )
    recovery_min_mean_score: float = param(
        0.0,
        "our choice (0 = off, as the reference): a re-estimated pose needs this mean score over its joints "
        ">= tau_joint (a weak pose net scores joints in empty boxes; docs/method.md)",
    )
    recovery_rule: Literal["paper", "agreement"] = param(
        "paper",
        "paper: the reference's filters only; agreement (beyond the paper, issue #23): a re-estimated pose "
        "must also agree with the propagated pose it was asked for (OKS >= recovery_min_agreement over the "
        "joints both have), so an empty box's guess is not kept (docs/method.md)",
        choices=("paper", "agreement"),
    )
    recovery_min_agreement: float = param(
        0.5, "our choice (agreement rule): OKS between the propagated and the re-estimated pose"
    )
    # association (Stage B)
    tau_corr: float = param(0.3, "supplement §B, Table 1 (reference code run_corrtrack.py --corr_threshold)")
    tau_oks: float = param(0.2, "reference code (run_corrtrack.py --oks_threshold)")
    min_joints: int = param(2, "reference code (run_corrtrack.py): valid joints a pose needs (k_min)")
    track_box_margin: float = param(10.0, "reference code (corr_tracking_functions.py): tracking box +-10 px")
    corr_map_sigma: float = param(2.0, "our choice: width of the modelled correspondence map, in grid cells")
    corr_grid_size: int = param(
        0,
        "our choice: 0 = the correspondence model's own grid (its grid_size: 128 for the paper's net, as the reference "
        "code's run_corrtrack.py, 64 for our tiny net); 128 (the reference grid) for models without one (flow, zero "
        "motion); > 0 fixes it",
    )
    assignment: Literal["greedy", "hungarian"] = param(
        "greedy", "reference code (greedy per pose); hungarian is our ablation", choices=("greedy", "hungarian")
    )
    duplicate_removal: bool = param(True, "supplement §C, Table 2")
    duplicate_ratio: float = param(0.6, "reference code (run_corrtrack.py --duplicate_ratio)")
    # track merging (supplement, Eq. 2)
    merging: bool = param(True, "supplement §D: track merging")
    merge_threshold: float = param(0.5, "our choice (method.md §5 proposal; swept in docs/results.md)")
    merge_max_gap: int = param(30, "our choice: frames between the earlier track's end and the later's start")
    merge_min_length: int = param(3, "our choice: both tracks need this many frames (= min_track_length)")
    merge_order: MergeOrder = param(
        "best_first", "our choice (method.md §5 proposal)", choices=("best_first", "chronological")
    )
    merge_prune: bool = param(
        True,
        "our choice (the same merges, issue #25): propagate a track's start pose for Eq. 2 only when its end and "
        "centre poses leave it a chance to pass merge_threshold (each OKS <= 1)",
    )
    merge_history_frames: int = param(
        500,
        "our choice (0 = no bound): Eq. 2's centre pose of a track is taken at most this many frames before its "
        "end (exact for tracks up to 1,001 frames); bounds what merging keeps per track: its start pose and "
        "frame, and the poses and frames from its centre on (docs/architecture.md, issue #21)",
    )
    # output
    lost_track_frames: int = param(
        0,
        "our choice (0 = off, as the reference, which ends a track at its first unmatched frame): a track "
        "unmatched for up to this many frames can still take a detection that would start a new track, "
        "its last pose propagated from its last frame (docs/method.md)",
    )
    lost_track_motion: Literal["correspondences", "velocity", "descriptor"] = param(
        "correspondences",
        "our choice: how a lost track's last pose reaches the current frame. correspondences: propagated "
        "from its last frame by the correspondence model and scored like an active track; velocity: moved by "
        "the track's mean joint velocity over its last lost_track_velocity_frames frames and matched by box "
        "IoU (the constant-velocity prediction of ByteTrack's Kalman filter, without the filter; docs/method.md); "
        "descriptor (beyond the paper, issue #23): matched by the cosine similarity of person descriptors "
        "pooled from the correspondence embedding (a model with describe(), the network)",
        choices=("correspondences", "velocity", "descriptor"),
    )
    lost_track_velocity_frames: int = param(
        5, "our choice: frames over which a lost track's velocity is measured (velocity motion)"
    )
    lost_track_iou: float = param(
        0.2, "ByteTrack (match_thresh 0.8 on 1 - IoU): box IoU a lost track needs to take a detection (velocity motion)"
    )
    reid_min_similarity: float = param(
        0.9, "our choice: cosine similarity of person descriptors a lost track needs (lost_track_motion=descriptor)"
    )
    lost_track_min_similarity: float = param(
        0.0,
        "our choice (0 = off): a lost track matched by velocity or correspondences keeps the match only when the "
        "cosine similarity of the two person descriptors reaches this (beyond the paper, issue #23; a model with "
        "describe(), e.g. colour or YOLO-feature descriptors)",
    )
    lost_track_reid_similarity: float = param(
        0.0,
        "our choice (0 = off): a lost track the motion did not match may take a still unmatched new candidate whose "
        "person descriptor has at least this cosine similarity with the track's mean descriptor, within "
        "lost_track_reid_reach (beyond the paper, issue #23; a model with describe())",
    )
    lost_track_reid_reach: float = param(
        1.0,
        "our choice: for lost_track_reid_similarity, the candidate's joint-box centre lies within this many of the "
        "track's box heights of where the track's motion puts it (velocity: its constant-velocity prediction; "
        "otherwise its last position)",
    )
    merge_descriptor_weight: float = param(
        0.0,
        "our choice (0 = off, the paper's Eq. 2): merge score = (1 - w) S_match + w x cosine similarity of the two "
        "tracks' mean person descriptors (beyond the paper, issue #23; a model with describe())",
    )
    interpolate_gaps: int = param(
        0,
        "our choice (0 = off, as the reference): after merging and short-track removal, frames a track skips "
        "(at most this many in a row) get a pose interpolated between the poses around the gap (docs/method.md)",
    )
    min_track_length: int = param(3, "reference code (run_corrtrack.py --min_track_length)")
    output_joint_threshold: float = param(0.3, "reference code (run_corrtrack.py): joints below are dropped")
    renumber: bool = param(True, "reference code: ids renumbered 0..N-1 after post-processing")

    @property
    def needs_descriptors(self) -> bool:
        """Whether some setting reads person descriptors (the correspondence model's ``describe``)."""
        by_desc = self.lost_track_min_similarity > 0 or self.lost_track_reid_similarity > 0
        lost = self.lost_track_frames > 0 and (self.lost_track_motion == "descriptor" or by_desc)
        return lost or (self.merging and self.merge_descriptor_weight > 0)

    def __post_init__(self) -> None:
        for name in ("lost_track_frames", "interpolate_gaps", "merge_history_frames"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.recovery_max_run < 0:
            raise ValueError(f"recovery_max_run must be >= 0, got {self.recovery_max_run}")
        if self.lost_track_reid_reach < 0:
            raise ValueError(f"lost_track_reid_reach must be >= 0, got {self.lost_track_reid_reach}")
        for name in (
            "tau_joint",
            "nms_oks",
            "recovery_tau_corr",
            "recovery_max_oks_all",
            "tau_corr",
            "tau_oks",
            "recovery_min_mean_score",
            "recovery_min_agreement",
            "lost_track_iou",
            "lost_track_min_similarity",
            "lost_track_reid_similarity",
            "merge_descriptor_weight",
        ):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        for name in (
            "max_poses",
            "min_joints",
            "recovery_min_joints",
            "min_track_length",
            "merge_min_length",
            "lost_track_velocity_frames",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.merge_max_gap < 0:
            raise ValueError(f"merge_max_gap must be >= 0, got {self.merge_max_gap}")
        if not -1 <= self.reid_min_similarity <= 1:
            raise ValueError(f"reid_min_similarity must be in [-1, 1], got {self.reid_min_similarity}")
        if self.corr_grid_size < 0:
            raise ValueError(f"corr_grid_size must be >= 0 (0 = the model's grid), got {self.corr_grid_size}")
        if self.corr_map_sigma <= 0:
            raise ValueError(f"corr_map_sigma must be positive, got {self.corr_map_sigma}")


@dataclass(frozen=True)
class RecoveryCandidate:
    """One re-estimated pose of recovery and the signals measured on it (issue #23 point 3)."""

    frame: int  #: position of the frame in the tracked sequence
    row: int  #: row of the propagated pose (the previous frame's output) it was asked for
    box: np.ndarray  #: the recovery box, ``[x, y, w, h]``
    correspondence: float  #: mean correspondence confidence of the propagated joints that made the box
    score: float  #: mean joint score of the re-estimated pose (joints >= tau_joint)
    agreement: float  #: OKS between the propagated and the re-estimated pose
    accepted: bool  #: kept by the recovery filters (before pose NMS)


def _arrays(poses: Poses) -> tuple[np.ndarray, np.ndarray]:
    """Finite joint coordinates (0 where absent) and confidences (0 where absent; 1 where present without score)."""
    k = poses.keypoints
    xy = k[..., :2]
    present = ~((xy[..., 0] == 0) & (xy[..., 1] == 0) & (k[..., 2] == 0)) & np.isfinite(xy).all(-1)
    scores = poses.keypoint_scores
    conf = np.where(present, np.where(np.isnan(scores), 1.0, scores), 0.0)
    return np.where(present[..., None], xy, 0.0), conf


def _xywh(boxes: np.ndarray) -> np.ndarray:
    """``[x0, y0, x1, y1]`` -> ``[x, y, w, h]`` (NaN boxes stay NaN)."""
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def _at_least(conf: np.ndarray, threshold: float) -> np.ndarray:
    """Joints counted at ``threshold`` (absent joints, confidence 0, never count)."""
    return (conf >= threshold) & (conf > 0)


class CorrTrackTracker:
    """Online CorrTrack on top of a correspondence model and (for recovery) a pose estimator.

    ``timings`` holds the seconds spent in each model call kind and in the tracker's own
    work (``tracker``); ``own_seconds`` the tracker's own (wall-clock) time of every step; ``counts``
    what happened (recovery boxes, re-estimations skipped, poses recovered, duplicates).
    """

    def __init__(
        self,
        correspondences: CorrespondenceModel,
        pose_estimator: PoseEstimator | None = None,
        config: CorrTrackConfig = CorrTrackConfig(),
    ) -> None:
        self.model = correspondences
        self.estimator = pose_estimator
        self.config = config
        #: cells across the long side of the grid the correspondence maps are modelled on (``corr_grid_size``)
        self.corr_grid = config.corr_grid_size or int(getattr(correspondences, "grid_size", None) or REFERENCE_GRID)
        self.sigmas = POSETRACK18.sigma_array
        self._frames: list[Poses] | RecentItems = []
        self._frame_indices: list[int] | RecentItems = []
        self._prev: Poses | None = None
        self._prev_handle: Any = None
        self._prev_arrays: tuple[np.ndarray, np.ndarray] = (np.zeros((0, 17, 2)), np.zeros((0, 17)))
        self._next_id = 0
        self._handles: dict[int, Any] = {}
        self._start: dict[int, int] = {}
        self._end: dict[int, int] = {}
        self._ended: list[int] = []
        self._merge_pairs: list[np.ndarray] = []
        self._recovered_run: dict[int, int] = {}
        #: lost tracks (lost_track_frames > 0): id -> (frame position, joints (K, 2), confidences (K,), embedding,
        #: velocity (2,) in pixels per frame)
        self._lost: dict[int, tuple[int, np.ndarray, np.ndarray, Any, np.ndarray]] = {}
        self._resumed: set[int] = set()
        #: person descriptors (descriptor lost tracks / merging): id -> (sum of descriptors, frames)
        self._desc: dict[int, tuple[np.ndarray, int]] = {}
        self._first_new_id = 0
        self._frame_arrays: list[tuple[np.ndarray, np.ndarray]] | RecentItems = []
        #: merging: per track id, its poses by frame position (its start, and from its centre on: merge_history_frames)
        self._track_poses: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
        #: streaming (``stream_to``): the spool of every frame's output, and the one ``finish`` writes
        self._spools: tuple[FrameSpool, FrameSpool] | None = None
        self.merges: dict[int, int] = {}
        #: with ``log_recovery`` (off: memory stays flat on long videos), every re-estimation: the signals a
        #: recovery rule can use and whether it was kept (experiments label them against ground truth)
        self.log_recovery = False
        self.recovery_log: list[RecoveryCandidate] = []
        self.timings: dict[str, float] = dict.fromkeys((*MODEL_STAGES, "tracker"), 0.0)
        self.own_seconds: list[float] = []
        self.counts: dict[str, int] = dict.fromkeys(
            ("frames", "recovery_boxes", "recovery_skipped", "reestimated", "recovered", "duplicates", "new_tracks"), 0
        )

    # model calls, timed ----------------------------------------------------
    def _call(self, stage: str, fn: Any, *args: Any) -> Any:
        t0 = perf_counter()
        out = fn(*args)
        dt = perf_counter() - t0
        self._model_time += dt
        self.timings[stage] += dt
        return out

    def _propagate(self, stage: str, src: Any, dst: Any, points: np.ndarray) -> np.ndarray:
        out = np.asarray(self._call(stage, self.model.propagate, src, dst, points), dtype=np.float64)
        if out.shape != points.shape[:2] + (3,):
            raise ValueError(f"correspondence model returned shape {out.shape} for queries {points.shape}")
        return out

    # the per-frame step ------------------------------------------------------
    def step(self, frame_index: int, image: np.ndarray | None, poses: Poses) -> Poses:
        start = perf_counter()
        self._model_time = 0.0
        cfg = self.config
        if image is None:
            raise ValueError("CorrTrackTracker needs the frame image: its correspondence model looks at pixels")
        if poses.num_joints != len(self.sigmas):
            raise ValueError(f"CorrTrackTracker expects {len(self.sigmas)} joints per pose, got {poses.num_joints}")
        if self._frame_indices and frame_index <= self._frame_indices[-1]:
            raise ValueError(f"frame indices must increase: {frame_index} after {self._frame_indices[-1]}")
        h, w = int(image.shape[0]), int(image.shape[1])
        pos = len(self._frames)
        handle = self._call("embed", self.model.embed, image)

        det, d_xy, d_conf, d_oks = self._prepare_detections(poses)
        det_conf = np.where(_at_least(d_conf, cfg.tau_joint), d_conf, 0.0)
        k = poses.num_joints
        prev = self._prev if self._prev is not None else Poses.empty(k)
        n_prev = len(prev)
        pxy = np.zeros((n_prev, k, 2))
        pconf = np.zeros((n_prev, k))
        if n_prev:
            q_xy, q_conf = self._prev_arrays
            q_ok = _at_least(q_conf, cfg.tau_joint)
            prop = self._propagate("propagate", self._prev_handle, handle, np.where(q_ok[..., None], q_xy, np.nan))
            finite = np.isfinite(prop).all(-1)
            pxy = np.where(finite[..., None], prop[..., :2], 0.0)
            pconf = np.where(q_ok & finite, np.clip(prop[..., 2], 0.0, 1.0), 0.0)

        cand, c_xy, c_conf = det, d_xy, d_conf
        if n_prev and cfg.recovery and self.estimator is not None:
            rec_pconf = pconf
            if cfg.recovery_max_run:
                runs = np.array([self._recovered_run.get(int(t), 0) for t in prev.track_ids])
                rec_pconf = np.where((runs < cfg.recovery_max_run)[:, None], pconf, 0.0)
            rec, r_xy, r_conf = self._recover(image, pxy, rec_pconf, d_xy, det_conf, w, h)
            if len(rec):
                b_xy, b_conf = np.concatenate([d_xy, r_xy]), np.concatenate([d_conf, r_conf])
                jt = cfg.nms_joint_threshold
                r_oks = oks_matrix(r_xy, r_conf, b_xy, b_conf, jt, self.sigmas)  # (R, D + R)
                oks = np.block([[d_oks, r_oks[:, : len(d_xy)].T], [r_oks]])
                keep = np.sort(pose_nms_fast(b_xy, b_conf, self.sigmas, cfg.nms_oks, jt, 2, oks))
                cand, c_xy, c_conf = Poses.concat([det, rec])[keep], b_xy[keep], b_conf[keep]

        ids, drop = self._associate(prev, pxy, pconf, c_xy, c_conf, w, h)
        c_desc = self._describe(handle, c_xy, c_conf) if self._uses_descriptors else None
        if cfg.lost_track_frames:
            self._resume_lost(pos, handle, prev, ids, drop, c_xy, c_conf, w, h, c_desc)
        if c_desc is not None:
            for tid, d in zip(ids[~drop].tolist(), c_desc[~drop]):
                total, n = self._desc.get(tid, (np.zeros_like(d), 0))
                self._desc[tid] = (total + d, n + 1)
        out = cand[~drop].replace(track_ids=ids[~drop])
        out_arrays = (c_xy[~drop], c_conf[~drop])
        if cfg.recovery_max_run:
            self._recovered_run = {
                int(t): (self._recovered_run.get(int(t), 0) + 1 if e.get("recovered") else 0)
                for t, e in zip(out.track_ids, out.extras)
            }
        self._frames.append(out)
        self._frame_arrays.append(out_arrays)
        self._frame_indices.append(int(frame_index))
        if self._spools is not None:
            self._spools[0].append(int(frame_index), out)
        self._bookkeeping(pos, handle, prev, out)
        self._prev, self._prev_handle, self._prev_arrays = out, handle, out_arrays
        self.counts["frames"] += 1
        own = perf_counter() - start - self._model_time
        self.own_seconds.append(own)
        self.timings["tracker"] += own
        return out

    @property
    def _uses_descriptors(self) -> bool:
        return self.config.needs_descriptors

    def _describe(self, handle: Any, xy: np.ndarray, conf: np.ndarray) -> np.ndarray:
        """(N, D) person descriptors of poses ``xy`` (joints >= tau_joint) from the model's ``describe``."""
        describe = getattr(self.model, "describe", None)
        if describe is None:
            raise ValueError(
                "person descriptors (lost_track_motion=descriptor, lost_track_min_similarity, "
                "lost_track_reid_similarity, merge_descriptor_weight > 0) need a correspondence model with "
                "describe(): the network, or one wrapped by corrtrack.inference.person_descriptors"
            )
        if not len(xy):  # a frame without candidates: nothing to describe (and no model call)
            return np.zeros((0, 0))
        pts = np.where(_at_least(conf, self.config.tau_joint)[..., None], xy, np.nan)
        return np.asarray(self._call("describe", describe, handle, pts), dtype=np.float64).reshape(len(xy), -1)

    def _mean_descriptor(self, tid: int) -> np.ndarray | None:
        if tid not in self._desc:
            return None
        total, n = self._desc[tid]
        mean = total / max(n, 1)
        norm = float(np.linalg.norm(mean))
        return mean / norm if norm > 0 else mean

    def _prepare_detections(self, poses: Poses) -> tuple[Poses, np.ndarray, np.ndarray, np.ndarray]:
        """Pose NMS and the cap on poses per frame (input order kept): poses, arrays and their NMS OKS matrix."""
        cfg = self.config
        xy, conf = _arrays(poses)
        if not len(poses):
            return poses, xy, conf, np.zeros((0, 0))
        oks = oks_matrix(xy, conf, xy, conf, cfg.nms_joint_threshold, self.sigmas)
        keep = pose_nms_fast(xy, conf, self.sigmas, cfg.nms_oks, cfg.nms_joint_threshold, cfg.min_joints, oks)
        keep = np.sort(keep[: cfg.max_poses])
        return poses[keep], xy[keep], conf[keep], oks[np.ix_(keep, keep)]

    def _recover(
        self,
        image: np.ndarray,
        pxy: np.ndarray,
        pconf: np.ndarray,
        det_xy: np.ndarray,
        det_conf: np.ndarray,
        w: int,
        h: int,
    ) -> tuple[Poses, np.ndarray, np.ndarray]:
        cfg = self.config
        inside = (pxy[..., 0] >= 0) & (pxy[..., 0] <= w - 1) & (pxy[..., 1] >= 0) & (pxy[..., 1] <= h - 1)
        keep = (pconf >= cfg.recovery_tau_corr) & (pconf > 0) & inside
        boxes, ok = recovery_boxes(pxy, keep, cfg.recovery_min_joints, cfg.recovery_box_margin, w, h)
        self.counts["recovery_boxes"] += int(ok.sum())
        if cfg.recovery_skip_explained and ok.any() and len(det_xy):
            explained = explained_by_detections(pxy, keep, det_xy, det_conf, cfg.tau_joint, cfg.recovery_explained_oks)
            self.counts["recovery_skipped"] += int((ok & explained).sum())
            ok &= ~explained
        idx = np.flatnonzero(ok)
        k = pxy.shape[1]
        if not len(idx):
            return Poses.empty(k), np.zeros((0, k, 2)), np.zeros((0, k))
        assert self.estimator is not None
        est = self._call("estimate", self.estimator.estimate, image, boxes[idx])
        if len(est) != len(idx) or est.num_joints != k:
            raise ValueError(f"pose estimator gave {len(est)} poses of {est.num_joints} joints for {len(idx)} boxes")
        self.counts["reestimated"] += len(idx)
        zero = [j for j in cfg.recovery_zero_joints if j < k]
        kps, scores = est.keypoints.copy(), np.nan_to_num(est.keypoint_scores).copy()
        kps[:, zero] = 0.0
        scores[:, zero] = 0.0
        est = est.replace(keypoints=kps, keypoint_scores=scores)
        e_xy, e_conf = _arrays(est)
        accept = filter_recovered(
            e_xy,
            e_conf,
            det_xy,
            det_conf,
            joint_threshold=cfg.tau_joint,
            min_estimated_joints=cfg.recovery_min_estimated_joints,
            max_oks_all=cfg.recovery_max_oks_all,
            max_oks_detections=cfg.recovery_max_oks_detections,
        )
        kept = _at_least(e_conf, cfg.tau_joint)
        mean = np.where(kept, e_conf, 0.0).sum(-1) / np.maximum(kept.sum(-1), 1)
        if cfg.recovery_min_mean_score > 0:
            accept &= mean >= cfg.recovery_min_mean_score
        p_ok = keep[idx]
        agreement = np.diagonal(oks_matrix(pxy[idx], p_ok.astype(np.float64), e_xy, e_conf, cfg.tau_joint, self.sigmas))
        if cfg.recovery_rule == "agreement":
            accept &= agreement >= cfg.recovery_min_agreement
        corr = np.where(p_ok, pconf[idx], 0.0).sum(-1) / np.maximum(p_ok.sum(-1), 1)
        for j, i in enumerate(idx.tolist() if self.log_recovery else ()):
            self.recovery_log.append(
                RecoveryCandidate(
                    len(self._frames),
                    int(i),
                    boxes[i].copy(),
                    float(corr[j]),
                    float(mean[j]),
                    float(agreement[j]),
                    bool(accept[j]),
                )
            )
        rec = est[accept]
        self.counts["recovered"] += len(rec)
        extras = [{**e, "recovered": True} for e in rec.extras]
        rec = rec.replace(track_ids=np.full(len(rec), -1, np.int64), extras=tuple(extras))
        return rec, e_xy[accept], e_conf[accept]

    def _associate(
        self, prev: Poses, pxy: np.ndarray, pconf: np.ndarray, c_xy: np.ndarray, c_conf: np.ndarray, w: int, h: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Track ids for the candidates (new ids included) and the mask of dropped candidates."""
        cfg = self.config
        d = len(c_xy)
        ids = np.full(d, -1, np.int64)
        c_ok = _at_least(c_conf, cfg.tau_joint)
        drop = c_ok.sum(-1) < cfg.min_joints
        if len(prev) and d:
            p_ok = _at_least(pconf, cfg.tau_corr)
            boxes = tracking_boxes(c_xy, c_ok, cfg.track_box_margin, w, h)
            s = association_scores(
                pxy,
                p_ok,
                pconf,
                c_xy,
                c_ok,
                boxes,
                sigmas=self.sigmas,
                tau_corr=cfg.tau_corr,
                tau_oks=cfg.tau_oks,
                min_joints=cfg.min_joints,
                corr_sigma=cfg.corr_map_sigma * max(w, h) / self.corr_grid,
            )
            s.votes[:, drop] = 0
            s.box[:, drop] = 0.0
            rows, cols, a = match(s, cfg.assignment, cfg.tau_corr, cfg.tau_oks, cfg.min_joints)
            ids[cols] = prev.track_ids[rows]
            if cfg.duplicate_removal:
                dup = find_duplicates(s, a, ids >= 0, cfg.duplicate_ratio)
                self.counts["duplicates"] += int((dup & ~drop).sum())
                drop |= dup
        new = (ids < 0) & ~drop
        self._first_new_id = self._next_id
        ids[new] = np.arange(self._next_id, self._next_id + int(new.sum()))
        self._next_id += int(new.sum())
        self.counts["new_tracks"] += int(new.sum())
        return ids, drop

    def _resume_lost(
        self,
        pos: int,
        handle: Any,
        prev: Poses,
        ids: np.ndarray,
        drop: np.ndarray,
        c_xy: np.ndarray,
        c_conf: np.ndarray,
        w: int,
        h: int,
        c_desc: np.ndarray | None = None,
    ) -> None:
        """Give candidates that start new tracks the id of a lost track they match (``ids`` updated in place).

        Tracks of frame ``pos - 1`` that are not continued become lost; each lost track's last pose is
        propagated from its last frame into this one (one call per source frame) and scored like an
        active track; tracks lost longer than ``lost_track_frames`` are forgotten.
        """
        cfg = self.config
        lost = {t: v for t, v in self._lost.items() if pos - v[0] - 1 <= cfg.lost_track_frames}
        new = np.flatnonzero((ids >= self._first_new_id) & ~drop)
        if lost and len(new):
            tids = list(lost)
            q_xy = np.stack([lost[t][1] for t in tids])
            q_conf = np.stack([lost[t][2] for t in tids])
            q_ok = _at_least(q_conf, cfg.tau_joint)
            src = np.array([lost[t][0] for t in tids])
            d_ok = _at_least(c_conf[new], cfg.tau_joint)
            if cfg.lost_track_motion == "descriptor":
                assert c_desc is not None
                rows, cols = self._match_lost_by_descriptor(tids, c_desc[new])
            elif cfg.lost_track_motion == "velocity":
                rows, cols = self._match_lost_by_velocity(
                    pos, src, q_xy, q_ok, [lost[t][4] for t in tids], new, c_xy, d_ok, w, h
                )
            else:
                rows, cols = self._match_lost_by_correspondences(
                    handle, src, q_xy, q_ok, [lost[t][3] for t in tids], new, c_xy, d_ok, w, h
                )
            if cfg.lost_track_motion != "descriptor" and cfg.lost_track_min_similarity > 0 and len(rows):
                assert c_desc is not None
                rows, cols = self._similar_enough(tids, rows, cols, c_desc[new])
            if cfg.lost_track_motion != "descriptor" and cfg.lost_track_reid_similarity > 0:
                assert c_desc is not None
                velocities = [lost[t][4] for t in tids]
                more_r, more_c = self._match_lost_by_appearance(
                    pos, src, q_xy, q_ok, velocities, tids, (rows, cols), c_xy[new], d_ok, c_desc[new], (w, h)
                )
                self.counts["reidentified"] = self.counts.get("reidentified", 0) + len(more_r)
                rows = np.concatenate([rows, more_r]).astype(np.int64)
                cols = np.concatenate([cols, more_c]).astype(np.int64)
            for r, c in zip(rows.tolist(), cols.tolist()):
                ids[new[c]] = tids[r]
                self._resumed.add(tids[r])
                self._drop_merge_pairs_of(tids[r])
                self.counts["new_tracks"] -= 1
                self.counts["resumed"] = self.counts.get("resumed", 0) + 1
                del lost[tids[r]]
        kept = set(ids[~drop].tolist())
        q_xy_prev, q_conf_prev = self._prev_arrays
        for row, t in enumerate(prev.track_ids.tolist()):
            if t not in kept:
                velocity = self._track_velocity(t, q_xy_prev[row], q_conf_prev[row])
                keep = self._prev_handle if cfg.lost_track_motion == "correspondences" else None  # only it needs it
                lost[t] = (pos - 1, q_xy_prev[row], q_conf_prev[row], keep, velocity)
        self._lost = {t: v for t, v in lost.items() if t not in kept}

    def _match_lost_by_appearance(
        self,
        pos: int,
        src: np.ndarray,
        q_xy: np.ndarray,
        q_ok: np.ndarray,
        velocities: list[np.ndarray],
        tids: list[int],
        matched: tuple[np.ndarray, np.ndarray],
        c_xy: np.ndarray,
        d_ok: np.ndarray,
        desc: np.ndarray,
        size: tuple[int, int],
    ) -> tuple[np.ndarray, np.ndarray]:
        """The lost tracks and candidates the motion left unmatched, matched by descriptor (Hungarian on the cosine
        similarity >= lost_track_reid_similarity) where the candidate lies within lost_track_reid_reach box heights
        of the track's predicted position (its velocity is zero unless lost_track_motion=velocity)."""
        cfg = self.config
        free_r = np.setdiff1d(np.arange(len(tids)), matched[0])
        free_c = np.setdiff1d(np.arange(len(c_xy)), matched[1])
        if not len(free_r) or not len(free_c):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        a, b = self._lost_and_candidate_boxes(
            pos,
            src[free_r],
            q_xy[free_r],
            q_ok[free_r],
            [velocities[r] for r in free_r],
            c_xy[free_c],
            d_ok[free_c],
            size,
        )
        dist = np.linalg.norm((a[:, None, :2] + a[:, None, 2:] / 2) - (b[None, :, :2] + b[None, :, 2:] / 2), axis=-1)
        near = dist <= cfg.lost_track_reid_reach * a[:, 3:4]
        sim = np.full((len(free_r), len(free_c)), np.nan)
        for i, r in enumerate(free_r.tolist()):
            m = self._mean_descriptor(tids[r])
            if m is not None:
                sim[i] = desc[free_c] @ m
        thr = cfg.lost_track_reid_similarity
        r2, c2 = assign(np.where(near & (sim >= thr), sim, np.nan), thr, "hungarian")
        return free_r[r2], free_c[c2]

    def _similar_enough(
        self, tids: list[int], rows: np.ndarray, cols: np.ndarray, desc: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The matched pairs whose lost track's mean descriptor and candidate descriptor are similar enough."""
        keep = np.zeros(len(rows), bool)
        for i, (r, c) in enumerate(zip(rows.tolist(), cols.tolist())):
            m = self._mean_descriptor(tids[r])
            keep[i] = m is not None and float(desc[c] @ m) >= self.config.lost_track_min_similarity
        self.counts["resume_vetoed"] = self.counts.get("resume_vetoed", 0) + int((~keep).sum())
        return rows[keep], cols[keep]

    def _match_lost_by_descriptor(self, tids: list[int], desc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lost tracks' mean descriptors against the new candidates' (cosine); Hungarian above reid_min_similarity."""
        thr = self.config.reid_min_similarity
        sim = np.full((len(tids), len(desc)), np.nan)
        for r, t in enumerate(tids):
            m = self._mean_descriptor(t)
            if m is not None and len(desc):
                sim[r] = desc @ m
        return assign(np.where(sim >= thr, sim, np.nan), thr, "hungarian")

    def _match_lost_by_correspondences(
        self,
        handle: Any,
        src: np.ndarray,
        q_xy: np.ndarray,
        q_ok: np.ndarray,
        src_handles: list[Any],
        new: np.ndarray,
        c_xy: np.ndarray,
        d_ok: np.ndarray,
        w: int,
        h: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lost tracks propagated from their last frame (one call per source frame), scored like active tracks."""
        cfg = self.config
        prop = np.zeros(q_xy.shape[:2] + (3,))
        for f in np.unique(src):
            rows = np.flatnonzero(src == f)
            pts = np.where(q_ok[rows][..., None], q_xy[rows], np.nan)
            prop[rows] = self._propagate("propagate", src_handles[rows[0]], handle, pts)
        finite = np.asarray(np.isfinite(prop).all(-1), dtype=bool)
        pxy = np.where(finite[..., None], prop[..., :2], 0.0)
        pconf = np.where(q_ok & finite, np.clip(prop[..., 2], 0.0, 1.0), 0.0)
        s = association_scores(
            pxy,
            _at_least(pconf, cfg.tau_corr),
            pconf,
            c_xy[new],
            d_ok,
            tracking_boxes(c_xy[new], d_ok, cfg.track_box_margin, w, h),
            sigmas=self.sigmas,
            tau_corr=cfg.tau_corr,
            tau_oks=cfg.tau_oks,
            min_joints=cfg.min_joints,
            corr_sigma=cfg.corr_map_sigma * max(w, h) / self.corr_grid,
        )
        rows, cols, _ = match(s, cfg.assignment, cfg.tau_corr, cfg.tau_oks, cfg.min_joints)
        return rows, cols

    def _match_lost_by_velocity(
        self,
        pos: int,
        src: np.ndarray,
        q_xy: np.ndarray,
        q_ok: np.ndarray,
        velocities: list[np.ndarray],
        new: np.ndarray,
        c_xy: np.ndarray,
        d_ok: np.ndarray,
        w: int,
        h: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lost tracks' last poses moved at constant velocity to frame ``pos``; Hungarian on box IoU."""
        cfg = self.config
        q_ok = q_ok & (q_ok.sum(-1) >= cfg.min_joints)[:, None]
        a, b = self._lost_and_candidate_boxes(pos, src, q_xy, q_ok, velocities, c_xy[new], d_ok, (w, h))
        iou = box_iou(a, b)
        return assign(np.where(iou >= cfg.lost_track_iou, iou, np.nan), cfg.lost_track_iou, "hungarian")

    def _lost_and_candidate_boxes(
        self,
        pos: int,
        src: np.ndarray,
        q_xy: np.ndarray,
        q_ok: np.ndarray,
        velocities: list[np.ndarray],
        c_xy: np.ndarray,
        d_ok: np.ndarray,
        size: tuple[int, int],
    ) -> tuple[np.ndarray, np.ndarray]:
        """``[x, y, w, h]`` tracking boxes of the lost tracks' last poses moved at their velocity from their last frame
        ``src`` to ``pos``, and of the candidates."""
        gap = (pos - src).astype(np.float64)
        pred = q_xy + np.stack(velocities)[:, None, :] * gap[:, None, None]
        margin, (w, h) = self.config.track_box_margin, size
        return _xywh(tracking_boxes(pred, q_ok, margin, w, h)), _xywh(tracking_boxes(c_xy, d_ok, margin, w, h))

    def _track_velocity(self, tid: int, xy: np.ndarray, conf: np.ndarray) -> np.ndarray:
        """(2,) mean per-frame displacement of track ``tid``'s joints over its last frames (0 without history).

        ``xy``/``conf`` are the track's pose in the last frame stored; the track is looked up in up to
        ``lost_track_velocity_frames`` frames before it while it is present in each.
        """
        cfg = self.config
        if cfg.lost_track_motion != "velocity":
            return np.zeros(2)
        last = len(self._frames) - 1
        old_xy, old_conf, steps = None, None, 0
        for f in range(last - 1, max(last - cfg.lost_track_velocity_frames, 0) - 1, -1):
            rows = np.flatnonzero(self._frames[f].track_ids == tid)
            if not len(rows):
                break
            old_xy, old_conf = (a[rows[0]] for a in self._frame_arrays[f])
            steps = last - f
        if old_xy is None or old_conf is None:
            return np.zeros(2)
        both = _at_least(conf, self.config.tau_joint) & _at_least(old_conf, self.config.tau_joint)
        if not both.any():
            return np.zeros(2)
        return (xy[both] - old_xy[both]).mean(0) / steps

    # merging bookkeeping ---------------------------------------------------------
    def _bookkeeping(self, pos: int, handle: Any, prev: Poses, out: Poses) -> None:
        """Track starts and ends, merge scores of tracks that just reached ``merge_min_length``, embedding store."""
        cfg = self.config
        if not cfg.merging:
            return
        out_ids = out.track_ids.tolist()
        continued = set(out_ids)
        # a track resumed after a gap (lost_track_frames) is not contiguous: merging leaves it out
        self._ended.extend(t for t in prev.track_ids.tolist() if t not in continued and t not in self._resumed)
        if self._resumed:
            self._ended = [q for q in self._ended if q not in self._resumed]
        for tid in out_ids:
            self._start.setdefault(tid, pos)
            self._end[tid] = pos
        self._handles[pos] = handle
        span = cfg.merge_min_length
        self._ended = [q for q in self._ended if pos - self._end[q] - 1 <= cfg.merge_max_gap + span]
        self._keep_track_poses(pos, out_ids)
        # tracks are contiguous: those reaching the minimum length now all started at ``first``
        first = pos - span + 1
        ripe = [t for t in out_ids if self._start[t] == first]
        earlier = [
            q
            for q in self._ended
            if self._end[q] < first
            and first - self._end[q] - 1 <= cfg.merge_max_gap
            and self._end[q] - self._start[q] + 1 >= span
        ]
        if ripe and earlier:
            self._score_merges(first, earlier, ripe)
        # keep the embeddings a later merge may still need
        lo = min((self._centre(self._start[t], pos) for t in out_ids), default=pos)
        needed = {self._start[t] for t in out_ids}
        for q in self._ended:
            s, e = self._start[q], self._end[q]
            needed |= {s, self._centre(s, e), e}
        for f in [f for f in self._handles if f < lo and f not in needed]:
            del self._handles[f]

    def _centre(self, start: int, end: int) -> int:
        """Eq. 2's centre frame of a track from ``start`` to ``end`` (at most merge_history_frames before its end)."""
        centre = (start + end) // 2
        history = self.config.merge_history_frames
        return max(centre, end - history) if history else centre

    def _keep_track_poses(self, pos: int, out_ids: list[int]) -> None:
        """Store this frame's poses per track; keep what Eq. 2 may still need (start, centre on, end), drop the rest."""
        xy, conf = self._frame_arrays[-1]
        for row, tid in enumerate(out_ids):
            store = self._track_poses.setdefault(tid, {})
            if tid not in self._resumed or not store:
                store[pos] = (xy[row], conf[row])
        for tid in out_ids:
            s, store = self._start[tid], self._track_poses[tid]
            if tid in self._resumed:  # not contiguous: never an earlier track of a merge; maybe a later one
                if len(store) > 1:
                    self._track_poses[tid] = {s: store[s]} if s in store else {}
                continue
            c = self._centre(s, pos)
            for f in list(store):
                if f >= c:
                    break
                if f != s:
                    del store[f]
        for q in self._ended:
            store = self._track_poses.get(q, {})
            if len(store) > 3:
                s, e = self._start[q], self._end[q]
                self._track_poses[q] = {f: store[f] for f in (s, self._centre(s, e), e) if f in store}
        alive = set(out_ids) | set(self._ended)
        for tid in [t for t in self._track_poses if t not in alive]:
            del self._track_poses[tid]

    def _drop_merge_pairs_of(self, tid: int) -> None:
        """Forget the merge pairs with ``tid`` as the earlier track: it resumed, so it did not end there (#21)."""
        self._merge_pairs = [m[m[:, 0] != tid] for m in self._merge_pairs]
        self._merge_pairs = [m for m in self._merge_pairs if len(m)]

    def _score_merges(self, first: int, q_ids: list[int], p_ids: list[int]) -> None:
        """``S_match`` of every earlier track ``q_ids`` with every track ``p_ids`` that started at ``first``.

        One propagation call per source frame and stage for all candidates (issue #25). A role pose
        without a joint that any later start pose has cannot score (its OKS is 0): it is not propagated.
        With ``merge_prune``, the end and centre poses are propagated first, and the start poses only of
        earlier tracks that can still pass ``merge_threshold`` with some later track (each OKS <= 1);
        a pruned pair keeps that upper bound (<= merge_threshold) as its score: the same merges.
        """
        cfg = self.config
        handle = self._handles[first]
        roles = np.array([[self._start[q], self._centre(self._start[q], self._end[q]), self._end[q]] for q in q_ids])
        n_xy, n_conf = self._stored_poses(p_ids, first)
        nq, k = len(q_ids), n_xy.shape[1]
        prop_xy = np.zeros((nq, 3, k, 2))
        prop_ok = np.zeros((nq, 3, k), bool)
        q_arr = np.asarray(q_ids)
        role_conf = np.stack([np.stack([self._track_poses[q][f][1] for f in roles[i]]) for i, q in enumerate(q_ids)])
        can_count = _at_least(role_conf, cfg.tau_joint) if cfg.tau_joint > 0 else np.ones(role_conf.shape, bool)
        overlap = np.any(can_count[:, :, None, :] & (n_conf >= cfg.tau_joint)[None, None], axis=-1)  # (Q, 3, P)
        oks = np.asarray(overlap, np.float64)  # upper bounds until propagated, then the exact OKS
        weight = cfg.merge_descriptor_weight
        cos = np.zeros((nq, len(p_ids)))
        if weight > 0:
            for a, q in enumerate(q_ids):
                for b, p in enumerate(p_ids):
                    dq, dp = self._mean_descriptor(q), self._mean_descriptor(p)
                    if dq is not None and dp is not None:
                        cos[a, b] = float(dq @ dp)

        def bound() -> np.ndarray:
            s = oks.mean(1)
            return (1 - weight) * s + weight * cos if weight > 0 else s

        todo = np.asarray(overlap.any(-1), bool)  # (Q, 3): roles worth propagating
        viable: np.ndarray = np.ones(nq, bool)
        for stage in ((1, 2), (0,)) if cfg.merge_prune else ((0, 1, 2),):
            if cfg.merge_prune:
                viable &= (bound() > cfg.merge_threshold).any(1)
            mask = np.zeros((nq, 3), bool)
            mask[:, list(stage)] = todo[:, list(stage)] & viable[:, None]
            self.counts["merge_skipped"] = self.counts.get("merge_skipped", 0) + int((~mask[:, list(stage)]).sum())
            for f in np.unique(roles[mask]).tolist():
                qi, ri = np.nonzero((roles == f) & mask)
                xy, conf = self._stored_poses(q_arr[qi].tolist(), f)
                ok = _at_least(conf, cfg.tau_joint)
                pts = np.where(ok[..., None], xy, np.nan)
                prop = self._propagate("merge_propagate", self._handles[f], handle, pts)
                finite = np.isfinite(prop).all(-1)
                prop_xy[qi, ri] = np.where(finite[..., None], prop[..., :2], 0.0)
                prop_ok[qi, ri] = ok & finite & (prop[..., 2] >= cfg.tau_corr) & (prop[..., 2] > 0)
                one_role = (prop_xy[qi, ri][:, None], prop_ok[qi, ri][:, None])
                oks[qi, ri] = merge_scores(*one_role, n_xy, n_conf, cfg.tau_joint, self.sigmas)
                self.counts["merge_propagated"] = self.counts.get("merge_propagated", 0) + len(qi)
        scores = merge_scores(prop_xy, prop_ok, n_xy, n_conf, cfg.tau_joint, self.sigmas)
        if weight > 0:
            scores = (1 - weight) * scores + weight * cos
        if cfg.merge_prune:
            scores[~viable] = bound()[~viable]
        qq, pp = np.meshgrid(q_arr, np.asarray(p_ids), indexing="ij")
        self._merge_pairs.append(np.stack([qq.ravel(), pp.ravel(), scores.ravel(), np.full(qq.size, first)], 1))

    def _stored_poses(self, ids: Sequence[int], f: int) -> tuple[np.ndarray, np.ndarray]:
        """Joints (N, K, 2) and confidences (N, K) of tracks ``ids`` in frame position ``f`` (from the merge store)."""
        rows = [self._track_poses[t][f] for t in ids]
        return np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])

    # offline -------------------------------------------------------------------
    @property
    def online_frames(self) -> list[Poses]:
        """Every frame's output as :meth:`step` returned it (online ids, before merging and post-processing)."""
        return list(self._frames)

    @property
    def merge_candidates(self) -> list[tuple[int, int, float, int]]:
        """``(earlier id, later id, S_match, later start)`` of every pair scored so far (online ids)."""
        if not self._merge_pairs:
            return []
        rows = np.concatenate(self._merge_pairs)
        return [(int(q), int(p), float(v), int(f)) for q, p, v, f in rows.tolist()]

    def stream_to(self, online: FrameSpool, final: FrameSpool) -> None:
        """Write every frame's output to ``online`` instead of keeping it; ``finish`` writes the final to ``final``.

        Call before the first :meth:`step`. Memory stays flat: only the last frames that a lost track's velocity
        needs are kept, and what merging needs (bounded by ``merge_history_frames``, docs/architecture.md).
        ``finish`` then returns a sequence whose frames are read from ``final`` when iterated.
        """
        if len(self._frames):
            raise ValueError("stream_to must be called before the first step")
        window = self.config.lost_track_velocity_frames + 1
        self._frames, self._frame_arrays, self._frame_indices = RecentItems(window), RecentItems(window), RecentItems(1)
        self._spools = (online, final)

    def finish(self) -> PoseSequence:
        cfg = self.config
        if self._spools is not None:
            online, final = self._spools
            pairs = np.concatenate(self._merge_pairs) if cfg.merging and self._merge_pairs else None
            self.merges = finish_streamed(
                online,
                final,
                pairs,
                merge_threshold=cfg.merge_threshold,
                merge_order=cfg.merge_order,
                min_track_length=cfg.min_track_length,
                output_joint_threshold=cfg.output_joint_threshold,
                renumber=cfg.renumber,
                interpolate_gaps=cfg.interpolate_gaps,
            )
            return PoseSequence("tracked", cast(list[Frame], SpooledFrames(final)))
        frames = list(self._frames)
        self.merges = {}
        if cfg.merging and self._merge_pairs:
            pairs = np.concatenate(self._merge_pairs)
            q, p, start = (pairs[:, i].astype(np.int64) for i in (0, 1, 3))
            occupied: dict[int, list[int]] = {}
            for f, poses in enumerate(frames):
                for t in poses.track_ids.tolist():
                    occupied.setdefault(int(t), []).append(f)
            spans = {t: np.asarray(v, np.int64) for t, v in occupied.items()}
            self.merges = resolve_merges(q, p, pairs[:, 2], cfg.merge_threshold, cfg.merge_order, start, spans)
            frames = remap_track_ids(frames, self.merges)
        frames = postprocess_tracks(frames, cfg.min_track_length, cfg.output_joint_threshold, cfg.renumber)
        frames = interpolate_gaps(frames, cfg.interpolate_gaps)
        out = [Frame(f"{t:06d}.jpg", p, image_id=t) for t, p in zip(self._frame_indices, frames)]
        return PoseSequence("tracked", out)


def run_tracker(tracker: Tracker, images: Sequence[np.ndarray | None], detections: PoseSequence) -> PoseSequence:
    """Run ``tracker`` over a sequence: ``detections``' frames (names, ids) with the tracked poses."""
    if len(images) != len(detections):
        raise ValueError(f"{len(images)} images for {len(detections)} frames of detections")
    for t, (img, fr) in enumerate(zip(images, detections.frames)):
        tracker.step(t, img, fr.poses)
    result = tracker.finish()
    return detections.with_poses([f.poses for f in result.frames])
