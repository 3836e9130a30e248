"""Tracking on plain arrays: similarity and assignment, baseline trackers, the correspondence tracker."""

from corrtrack.tracking.baselines import (
    FrameToFrameConfig,
    FrameToFrameTracker,
    associate_frame_to_frame,
    strip_identities,
)
from corrtrack.tracking.matching import assign, iou_similarity, oks_similarity

__all__ = [
    "FrameToFrameConfig",
    "FrameToFrameTracker",
    "assign",
    "associate_frame_to_frame",
    "iou_similarity",
    "oks_similarity",
    "strip_identities",
]
