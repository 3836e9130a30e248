"""corrtrack: multi-person 2D pose estimation and tracking with self-supervised keypoint correspondences."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from corrtrack.errors import CorrtrackError, FormatError

if TYPE_CHECKING:
    from corrtrack.keypoints import COCO17, POSETRACK17, POSETRACK18, KeypointLayout
    from corrtrack.poses import Frame, Poses, PoseSequence, Track

__version__ = "0.1.0"

#: the names that need numpy, imported on first use: `corrtrack --help` and the errors stay light
_LAZY = {
    "COCO17": "corrtrack.keypoints",
    "POSETRACK17": "corrtrack.keypoints",
    "POSETRACK18": "corrtrack.keypoints",
    "KeypointLayout": "corrtrack.keypoints",
    "Frame": "corrtrack.poses",
    "Poses": "corrtrack.poses",
    "PoseSequence": "corrtrack.poses",
    "Track": "corrtrack.poses",
}

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'corrtrack' has no attribute {name!r}")
