"""Frame-to-frame association baselines: Hungarian matching of each frame to the previous one by box IoU or OKS.

They are the reference points for the correspondence tracker and the probes
that measure how hard a SynthTrack preset is: a person keeps its id only if it
overlaps (IoU) or lies close to (OKS) its own pose of the previous frame.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from corrtrack.geometry import box_iou, oks_track
from corrtrack.poses import Poses, PoseSequence

__all__ = ["associate_frame_to_frame", "strip_identities"]


def strip_identities(seq: PoseSequence) -> PoseSequence:
    """The same poses with every track id removed (-1)."""
    return seq.with_poses([f.poses.replace(track_ids=np.full(len(f.poses), -1)) for f in seq.frames])


def _boxes(p: Poses) -> np.ndarray:
    return np.where(np.isnan(p.boxes).any(1, keepdims=True), p.keypoint_boxes(), p.boxes)


def associate_frame_to_frame(
    seq: PoseSequence,
    similarity: Literal["iou", "oks"] = "iou",
    threshold: float = 0.3,
    joint_threshold: float = 0.1,
) -> PoseSequence:
    """Give every person a track id by Hungarian matching against the previous frame.

    A pair may match only if its similarity is at least ``threshold``;
    unmatched persons start new tracks. Nothing is remembered beyond one frame.
    """
    next_id = 0
    prev: Poses | None = None
    prev_ids = np.zeros(0, np.int64)
    out = []
    for frame in seq.frames:
        cur = frame.poses
        ids = np.full(len(cur), -1, np.int64)
        if prev is not None and len(prev) and len(cur):
            if similarity == "iou":
                sim = box_iou(_boxes(prev), _boxes(cur))
            else:
                sim = oks_track(prev.xy, prev.confidences, cur.xy, cur.confidences, joint_threshold)
            rows, cols = linear_sum_assignment(-sim)
            ok = sim[rows, cols] >= threshold
            ids[cols[ok]] = prev_ids[rows[ok]]
        new = ids < 0
        ids[new] = np.arange(next_id, next_id + new.sum())
        next_id += int(new.sum())
        out.append(cur.replace(track_ids=ids))
        prev, prev_ids = cur, ids
    return seq.with_poses(out)
