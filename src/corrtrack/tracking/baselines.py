"""Frame-to-frame baseline trackers: each frame is matched to the previous one by box IoU or OKS.

They are the reference points for the correspondence tracker and the probes that
measure how hard a SynthTrack preset is: a person keeps its id only if it overlaps
(IoU) or lies close to (OKS) a pose of the last ``max_age`` frames of its track.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from corrtrack.config import param
from corrtrack.poses import Frame, Poses, PoseSequence
from corrtrack.tracking.matching import Assignment, assign, iou_similarity, oks_similarity

__all__ = ["FrameToFrameConfig", "FrameToFrameTracker", "associate_frame_to_frame", "strip_identities"]


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
