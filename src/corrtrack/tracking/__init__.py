"""Tracking on plain arrays: similarity and assignment, baseline trackers, the correspondence tracker."""

from corrtrack.tracking.baselines import (
    ByteTrackConfig,
    ByteTrackTracker,
    FrameToFrameConfig,
    FrameToFrameTracker,
    associate_frame_to_frame,
    strip_identities,
)
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig, CorrTrackTracker, run_tracker
from corrtrack.tracking.matching import assign, iou_similarity, oks_similarity

__all__ = [
    "ByteTrackConfig",
    "ByteTrackTracker",
    "CorrTrackConfig",
    "CorrTrackTracker",
    "FrameToFrameConfig",
    "FrameToFrameTracker",
    "assign",
    "associate_frame_to_frame",
    "iou_similarity",
    "oks_similarity",
    "run_tracker",
    "strip_identities",
]
