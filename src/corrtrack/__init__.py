"""corrtrack: multi-person 2D pose estimation and tracking with self-supervised keypoint correspondences."""

from corrtrack.errors import CorrtrackError, FormatError
from corrtrack.keypoints import COCO17, POSETRACK17, POSETRACK18, KeypointLayout
from corrtrack.poses import Frame, Poses, PoseSequence, Track

__version__ = "0.1.0"

__all__ = [
    "COCO17",
    "POSETRACK17",
    "POSETRACK18",
    "CorrtrackError",
    "FormatError",
    "Frame",
    "KeypointLayout",
    "PoseSequence",
    "Poses",
    "Track",
    "__version__",
]
