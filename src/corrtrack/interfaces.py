"""The seams of the pipeline: detector, pose estimator, correspondence model and tracker.

Everything crosses these interfaces as numpy arrays and :class:`~corrtrack.poses.Poses`;
no torch type appears here, so the tracker and the evaluator can be built and tested
with fakes (``corrtrack.testing``) and without a network.

Conventions (docs/method.md, "Interfaces"):

* Images are ``(H, W, 3)`` uint8 arrays in **RGB** order.
* Boxes are ``[x, y, w, h]`` in image pixels, as in ``Poses.boxes``.
* Keypoints are in image pixels, in the PoseTrack 2018 layout (17 joints) unless a
  component says otherwise.
* A correspondence of a query point is ``(x, y, confidence)`` in the destination
  image's pixels; the confidence is in ``[0, 1]`` and a query that cannot be
  propagated (a NaN point, outside the image, or unknown to the model) has confidence 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: the CLI reads the names below without importing numpy
    import numpy as np

    from corrtrack.poses import Poses, PoseSequence

__all__ = [
    "CorrespondenceModel",
    "CorrespondenceName",
    "DetectorName",
    "EmbeddingHandle",
    "PersonDetector",
    "PoseEstimator",
    "PoseSourceName",
    "Tracker",
    "TrackerName",
]

#: the implementations of each seam that the pipeline (``corrtrack track``) can choose by name
DetectorName = Literal["synth", "file", "simulated", "yolo"]
PoseSourceName = Literal["bundled", "checkpoint", "authors", "detections", "yolo"]
CorrespondenceName = Literal["network", "authors", "flow", "zero"]
TrackerName = Literal["corrtrack", "iou", "oks"]

#: whatever a correspondence model keeps for one frame (an embedding tensor, a frame index, ...)
EmbeddingHandle = Any


@runtime_checkable
class PersonDetector(Protocol):
    """Finds people: one ``Poses`` per frame with ``boxes`` and ``scores`` (keypoints may be absent)."""

    def detect(self, frames: Sequence[np.ndarray]) -> list[Poses]:
        """Detect persons in a batch of RGB frames; one ``Poses`` per frame, in order."""
        ...


@runtime_checkable
class PoseEstimator(Protocol):
    """Top-down pose estimation: the joints of each person inside a given box."""

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> Poses:
        """Poses for the ``(N, 4)`` boxes of one RGB image.

        Returns ``N`` persons, row ``i`` for box ``i``: keypoints ``(N, 17, 3)`` with the
        flag column set to 1 for every estimated joint, ``keypoint_scores`` ``(N, 17)``,
        ``boxes`` equal to the input boxes and ``scores`` the mean joint score.
        """
        ...


@runtime_checkable
class CorrespondenceModel(Protocol):
    """Finds, for points of one frame, the same body points in another frame.

    ``embed`` is called once per frame; ``propagate`` then works on two handles, batched
    over all persons and joints of the query. A model whose maps live on a grid may say how
    many cells it has across (an optional ``grid_size`` attribute, e.g. the network's 64 or
    128): the tracker models its correspondence maps on that grid (``corr_grid_size=0``).
    """

    def embed(self, image: np.ndarray) -> EmbeddingHandle:
        """Whatever the model needs of one RGB frame, computed once."""
        ...

    def propagate(self, src: EmbeddingHandle, dst: EmbeddingHandle, points: np.ndarray) -> np.ndarray:
        """Map ``points`` ``(N, K, 2)`` (x, y in the source image, NaN for no query) to ``(N, K, 3)``.

        The result holds x, y in the destination image and a confidence in ``[0, 1]``
        (0 where there was no query).
        """
        ...


@runtime_checkable
class Tracker(Protocol):
    """Gives persons identities over a video, one frame at a time.

    Track ids are owned by the tracker instance: a new instance starts again at 0, and
    an id is never used for two identities within one instance.
    """

    def step(self, frame_index: int, image: np.ndarray | None, poses: Poses) -> Poses:
        """Track the detected ``poses`` of frame ``frame_index``.

        Returns the persons kept for this frame with ``track_ids`` set (>= 0). A tracker
        may drop persons (duplicates) or add some (recovered people). ``image`` may be
        None for trackers that do not look at pixels.
        """
        ...

    def finish(self) -> PoseSequence:
        """Offline post-processing after the last frame (merging, short-track removal).

        Returns the whole tracked sequence, one frame per ``step`` call in order; its
        ids may differ from the online ones (merged tracks take the earlier id).
        """
        ...
