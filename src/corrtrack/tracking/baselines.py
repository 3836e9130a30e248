"""Baseline trackers: frame-to-frame IoU / OKS, and a ByteTrack-class motion tracker.

The frame-to-frame trackers are the reference points for the correspondence tracker and the
probes that measure how hard a SynthTrack preset is: a person keeps its id only if it overlaps
(IoU) or lies close to (OKS) a pose of the last ``max_age`` frames of its track.

:class:`ByteTrackTracker` (issue #23 point 6) is the class of tracker that wins on MOT
benchmarks without appearance: a constant-velocity Kalman filter on each track's box, a buffer
of lost tracks, and ByteTrack's two-stage association (Zhang et al., ECCV 2022): detections
scoring at least ``high_score`` are matched first to every track (active and lost) by IoU with
the predicted boxes; the low-scoring ones (``low_score`` up to ``high_score``) are then matched to
the active tracks left over; unmatched tracks become lost and are forgotten after
``track_buffer`` frames; unmatched high detections scoring at least ``new_track_score`` start
tracks. Written from the paper's description; the settings are ByteTrack's published defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from corrtrack.config import param
from corrtrack.geometry import box_iou
from corrtrack.poses import Frame, Poses, PoseSequence
from corrtrack.tracking.matching import Assignment, assign, iou_similarity, oks_similarity

__all__ = [
    "ByteTrackConfig",
    "ByteTrackTracker",
    "FrameToFrameConfig",
    "FrameToFrameTracker",
    "associate_frame_to_frame",
    "strip_identities",
]


@dataclass(frozen=True)
class FrameToFrameConfig:
    similarity: Literal["iou", "oks"] = param("iou", "our choice: box IoU or pose OKS, the two classic baselines")
    threshold: float = param(0.3, "our choice: a pair matches at this similarity or above")
    joint_threshold: float = param(0.1, "reference code (run_corrtrack.py: joints below 0.1 are ignored)")
    max_age: int = param(1, "our choice: frames a track may go unmatched (1: the previous frame only)")
    assignment: Assignment = param("hungarian", "our choice: optimal assignment")

    def __post_init__(self) -> None:
        if self.max_age < 1:
            raise ValueError(f"max_age must be at least 1, got {self.max_age}")
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")


class FrameToFrameTracker:
    """A :class:`~corrtrack.interfaces.Tracker` that links each frame to the last poses of its tracks."""

    def __init__(self, config: FrameToFrameConfig = FrameToFrameConfig()) -> None:
        self.config = config
        self._next_id = 0
        self._last: Poses | None = None  # last pose of every live track
        self._last_seen = np.zeros(0, np.int64)
        self._frames: list[Poses] = []

    def _similarity(self, a: Poses, b: Poses) -> np.ndarray:
        if self.config.similarity == "iou":
            return iou_similarity(a, b)
        return oks_similarity(a, b, self.config.joint_threshold)

    def step(self, frame_index: int, image: np.ndarray | None, poses: Poses) -> Poses:
        cfg = self.config
        ids = np.full(len(poses), -1, np.int64)
        last = self._last
        if last is not None and len(last):
            alive = frame_index - self._last_seen <= cfg.max_age
            last, self._last_seen = last[alive], self._last_seen[alive]
        if last is not None and len(last) and len(poses):
            rows, cols = assign(self._similarity(last, poses), cfg.threshold, cfg.assignment)
            ids[cols] = last.track_ids[rows]
        new = ids < 0
        ids[new] = np.arange(self._next_id, self._next_id + new.sum())
        self._next_id += int(new.sum())
        out = poses.replace(track_ids=ids)
        self._frames.append(out)
        # remember the newest pose of every track
        if last is not None and len(last):
            keep = ~np.isin(last.track_ids, ids)
            self._last = Poses.concat([last[keep], out])
            self._last_seen = np.r_[self._last_seen[keep], np.full(len(out), frame_index)]
        else:
            self._last = out
            self._last_seen = np.full(len(out), frame_index, np.int64)
        return out

    def finish(self) -> PoseSequence:
        frames = [Frame(f"{t:06d}.jpg", p, image_id=t) for t, p in enumerate(self._frames)]
        return PoseSequence("tracked", frames)


def strip_identities(seq: PoseSequence) -> PoseSequence:
    """The same poses with every track id removed (-1)."""
    return seq.with_poses([f.poses.replace(track_ids=np.full(len(f.poses), -1)) for f in seq.frames])


def associate_frame_to_frame(
    seq: PoseSequence,
    similarity: Literal["iou", "oks"] = "iou",
    threshold: float = 0.3,
    joint_threshold: float = 0.1,
) -> PoseSequence:
    """Track a whole sequence with :class:`FrameToFrameTracker` (previous frame only, Hungarian)."""
    tracker = FrameToFrameTracker(FrameToFrameConfig(similarity, threshold, joint_threshold))
    return seq.with_poses([tracker.step(t, None, f.poses) for t, f in enumerate(seq.frames)])


# ------------------------------------------------------------------------------ ByteTrack class
@dataclass(frozen=True)
class ByteTrackConfig:
    """ByteTrack's association settings (paper defaults) and the Kalman filter's noise."""

    high_score: float = param(0.5, "ByteTrack paper: detection score threshold of the first association (0.5)")
    low_score: float = param(0.1, "ByteTrack paper: detections between 0.1 and the high threshold are 'low'")
    new_track_score: float = param(0.6, "ByteTrack code default (track_thresh + 0.1): score to start a track")
    first_iou: float = param(0.2, "ByteTrack paper (match_thresh 0.8 on 1 - IoU): first association")
    second_iou: float = param(0.5, "ByteTrack paper (0.5 on 1 - IoU): second association, low detections")
    unconfirmed_iou: float = param(0.3, "ByteTrack code (0.7 on 1 - IoU): a new track's second detection")
    track_buffer: int = param(30, "ByteTrack paper: frames a lost track is kept (30 at 30 fps)")
    position_noise: float = param(1 / 20, "SORT/DeepSORT Kalman filter: position noise, fraction of box height")
    velocity_noise: float = param(1 / 160, "SORT/DeepSORT Kalman filter: velocity noise, fraction of box height")

    def __post_init__(self) -> None:
        for name in ("high_score", "low_score", "new_track_score", "first_iou", "second_iou", "unconfirmed_iou"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if self.low_score > self.high_score:
            raise ValueError(f"low_score ({self.low_score}) must not exceed high_score ({self.high_score})")
        if self.track_buffer < 0:
            raise ValueError(f"track_buffer must be >= 0, got {self.track_buffer}")
        if self.position_noise <= 0 or self.velocity_noise <= 0:
            raise ValueError("position_noise and velocity_noise must be positive")


class _Kalman:
    """Constant-velocity Kalman filter on a box's centre, width and height (state: those 4 and their velocities)."""

    def __init__(self, box: np.ndarray, pos_noise: float, vel_noise: float) -> None:
        self.pos_noise, self.vel_noise = pos_noise, vel_noise
        z = _cxcywh(box)
        self.x = np.r_[z, np.zeros(4)]
        h = max(z[3], 1.0)
        std = np.r_[2 * pos_noise * h * np.ones(4), 10 * vel_noise * h * np.ones(4)]
        self.p = np.diag(std**2)

    def predict(self) -> None:
        f = np.eye(8)
        f[:4, 4:] = np.eye(4)
        h = max(self.x[3], 1.0)
        q = np.diag(np.r_[self.pos_noise * h * np.ones(4), self.vel_noise * h * np.ones(4)] ** 2)
        self.x = f @ self.x
        self.x[2:4] = np.maximum(self.x[2:4], 1.0)
        self.p = f @ self.p @ f.T + q

    def update(self, box: np.ndarray) -> None:
        z = _cxcywh(box)
        h = max(self.x[3], 1.0)
        r = np.diag((self.pos_noise * h * np.ones(4)) ** 2)
        hm = np.eye(4, 8)
        s = hm @ self.p @ hm.T + r
        gain = self.p @ hm.T @ np.linalg.inv(s)
        self.x = self.x + gain @ (z - hm @ self.x)
        self.p = (np.eye(8) - gain @ hm) @ self.p

    def box(self) -> np.ndarray:
        cx, cy, w, h = self.x[:4]
        return np.array([cx - w / 2, cy - h / 2, w, h])


def _cxcywh(box: np.ndarray) -> np.ndarray:
    x, y, w, h = np.asarray(box, np.float64)
    return np.array([x + w / 2, y + h / 2, max(w, 1.0), max(h, 1.0)])


@dataclass
class _Track:
    tid: int
    kalman: _Kalman
    last_frame: int
    confirmed: bool


class ByteTrackTracker:
    """A :class:`~corrtrack.interfaces.Tracker`: Kalman motion, lost-track buffer, two-stage association (module doc).

    Output per frame: the detections matched to confirmed tracks (their poses unchanged), with the
    track ids. A person's score is ``Poses.scores`` (unknown scores count as 1).
    """

    def __init__(self, config: ByteTrackConfig = ByteTrackConfig()) -> None:
        self.config = config
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._frames: list[Poses] = []
        self._indices: list[int] = []
        self.counts: dict[str, int] = dict.fromkeys(("first", "second", "new_tracks", "resumed"), 0)

    def step(self, frame_index: int, image: np.ndarray | None, poses: Poses) -> Poses:
        cfg = self.config
        if self._indices and frame_index <= self._indices[-1]:
            raise ValueError(f"frame indices must increase: {frame_index} after {self._indices[-1]}")
        gap = frame_index - self._indices[-1] if self._indices else 1
        self._tracks = [t for t in self._tracks if frame_index - t.last_frame <= cfg.track_buffer + 1]
        for t in self._tracks:
            for _ in range(gap):
                t.kalman.predict()
        scores = np.where(np.isnan(poses.scores), 1.0, poses.scores) if len(poses) else np.zeros(0)
        boxes = poses.box_or_keypoint_box() if len(poses) else np.zeros((0, 4))
        usable = (scores >= cfg.low_score) & np.isfinite(boxes).all(1) & (boxes[:, 2:] > 0).all(1)
        high = np.flatnonzero(usable & (scores >= cfg.high_score))
        low = np.flatnonzero(usable & (scores < cfg.high_score))
        ids = np.full(len(poses), -1, np.int64)
        prev = self._indices[-1] if self._indices else frame_index - 1
        confirmed = [t for t in self._tracks if t.confirmed]
        unconfirmed = [t for t in self._tracks if not t.confirmed]

        def associate(tracks: list[_Track], dets: np.ndarray, threshold: float) -> tuple[list[int], np.ndarray]:
            if not tracks or not len(dets):
                return [], np.zeros(0, np.int64)
            iou = box_iou(np.stack([t.kalman.box() for t in tracks]), boxes[dets])
            rows, cols = assign(np.where(iou >= threshold, iou, np.nan), threshold, "hungarian")
            for r, c in zip(rows.tolist(), cols.tolist()):
                t = tracks[r]
                if t.last_frame < prev:
                    self.counts["resumed"] += 1
                t.kalman.update(boxes[dets[c]])
                t.last_frame = frame_index
                t.confirmed = True
                ids[dets[c]] = t.tid
            return rows.tolist(), cols

        # first association: high detections with every confirmed track, active or lost
        rows, cols = associate(confirmed, high, cfg.first_iou)
        self.counts["first"] += len(rows)
        left_high = np.delete(high, cols)
        # second association: low detections with the active tracks the first left unmatched
        matched = set(rows)
        active_left = [t for i, t in enumerate(confirmed) if i not in matched and t.last_frame == prev]
        rows2, _ = associate(active_left, low, cfg.second_iou)
        self.counts["second"] += len(rows2)
        # new tracks of the last frame take their second detection from the high ones left
        _, cols3 = associate([t for t in unconfirmed if t.last_frame == prev], left_high, cfg.unconfirmed_iou)
        left_high = np.delete(left_high, cols3)
        self._tracks = [t for t in self._tracks if t.confirmed or t.last_frame == frame_index]
        # unmatched high detections start tracks (confirmed at once in the first frame, as ByteTrack)
        first_frame = not self._indices
        for d in left_high.tolist():
            if scores[d] < cfg.new_track_score:
                continue
            self._tracks.append(
                _Track(
                    self._next_id, _Kalman(boxes[d], cfg.position_noise, cfg.velocity_noise), frame_index, first_frame
                )
            )
            if first_frame:
                ids[d] = self._next_id  # later new tracks are output from their second detection
            self._next_id += 1
            self.counts["new_tracks"] += 1
        keep = ids >= 0
        out = poses[keep].replace(track_ids=ids[keep])
        self._frames.append(out)
        self._indices.append(int(frame_index))
        return out

    def finish(self) -> PoseSequence:
        frames = [Frame(f"{t:06d}.jpg", p, image_id=t) for t, p in zip(self._indices, self._frames)]
        return PoseSequence("tracked", frames)
