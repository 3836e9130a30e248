"""The data model: poses of one frame as arrays, frames, sequences and tracks.

Everything per person is a row of a numpy array so that slicing, batching and
vectorized geometry stay cheap; there is no per-joint Python object anywhere.

Conventions
-----------
* ``keypoints`` is ``(N, K, 3)``: x, y and the annotation flag ``v`` as stored
  in PoseTrack/COCO files. A joint is *absent* exactly when ``x == y == v == 0``
  (the PoseTrack convention, see ``present``).
* ``keypoint_scores`` is ``(N, K)`` per-joint confidences, NaN where a file had
  none (ground truth).
* Boxes are ``[x, y, w, h]`` (top-left, size) like the JSON files, NaN if unknown.
* ``track_ids`` and ``ids`` are -1 when unknown.
* ``has_keypoints`` is False for a person the file gave without any keypoint list
  (a detection box in a COCO results file, a PoseTrack 2017 person without
  ``annopoints[0].point``); its joints are all absent. Writers then omit the list,
  and the evaluator drops such persons as the official tool does.

What the data model carries (and nothing else steers readers, writers or the
evaluator): the arrays above, ``Frame.file_name`` (``""`` when the file named no
image), ``image_id``, ``is_labeled``, ``ignore_regions``, the sequence's ``layout``,
and ``extras`` dicts holding fields a reader did not map, verbatim, for lossless
round trips (docs/architecture.md, "The data model").
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from corrtrack.keypoints import POSETRACK18, KeypointLayout

__all__ = ["Frame", "PoseSequence", "Poses", "Track"]


def _nan(shape: tuple[int, ...]) -> np.ndarray:
    return np.full(shape, np.nan, dtype=np.float64)


@dataclass
class Poses:
    """All persons of one frame."""

    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    boxes: np.ndarray
    head_boxes: np.ndarray
    scores: np.ndarray
    track_ids: np.ndarray
    ids: np.ndarray
    #: per-person fields a reader did not map to arrays (kept for lossless round trips)
    extras: tuple[dict[str, Any], ...] = ()
    #: (N,) bool, False for a person given without a keypoint list (default: all True)
    has_keypoints: np.ndarray = field(default_factory=lambda: np.ones(0, dtype=bool))

    def __post_init__(self) -> None:
        n = self.keypoints.shape[0]
        if self.keypoints.ndim != 3 or self.keypoints.shape[2] != 3:
            raise ValueError(f"keypoints must be (N, K, 3), got {self.keypoints.shape}")
        k = self.keypoints.shape[1]
        for name, shape in (
            ("keypoint_scores", (n, k)),
            ("boxes", (n, 4)),
            ("head_boxes", (n, 4)),
            ("scores", (n,)),
            ("track_ids", (n,)),
            ("ids", (n,)),
        ):
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {getattr(self, name).shape}")
        if self.has_keypoints.shape == (0,) and n:
            self.has_keypoints = np.ones(n, dtype=bool)
        elif self.has_keypoints.shape != (n,):
            raise ValueError(f"has_keypoints must have shape {(n,)}, got {self.has_keypoints.shape}")
        if not self.extras:
            self.extras = tuple({} for _ in range(n))
        elif len(self.extras) != n:
            raise ValueError(f"extras has {len(self.extras)} entries for {n} persons")

    # construction -----------------------------------------------------
    @classmethod
    def empty(cls, num_joints: int = POSETRACK18.num_joints) -> Poses:
        return cls.create(np.zeros((0, num_joints, 3)))

    @classmethod
    def create(
        cls,
        keypoints: np.ndarray,
        *,
        keypoint_scores: np.ndarray | None = None,
        boxes: np.ndarray | None = None,
        head_boxes: np.ndarray | None = None,
        scores: np.ndarray | None = None,
        track_ids: np.ndarray | Iterable[int] | None = None,
        ids: np.ndarray | None = None,
        extras: SequenceABC[dict[str, Any]] = (),
        has_keypoints: np.ndarray | None = None,
    ) -> Poses:
        """Build from arrays; anything not given is unknown (NaN / -1)."""
        kps = np.asarray(keypoints, dtype=np.float64).reshape(-1, np.shape(keypoints)[-2], 3)
        n, k = kps.shape[:2]

        def arr(x: Any, shape: tuple[int, ...], dtype: type, fill: float) -> np.ndarray:
            if x is None:
                return np.full(shape, fill, dtype=dtype)
            return np.asarray(x, dtype=dtype).reshape(shape)

        return cls(
            keypoints=kps,
            keypoint_scores=arr(keypoint_scores, (n, k), np.float64, np.nan),
            boxes=arr(boxes, (n, 4), np.float64, np.nan),
            head_boxes=arr(head_boxes, (n, 4), np.float64, np.nan),
            scores=arr(scores, (n,), np.float64, np.nan),
            track_ids=arr(track_ids, (n,), np.int64, -1),
            ids=arr(ids, (n,), np.int64, -1),
            extras=tuple(extras),
            has_keypoints=arr(has_keypoints, (n,), bool, True),
        )

    @classmethod
    def concat(cls, parts: SequenceABC[Poses], num_joints: int | None = None) -> Poses:
        if not parts:
            return cls.empty(num_joints or POSETRACK18.num_joints)
        return cls(
            **{name: np.concatenate([getattr(p, name) for p in parts]) for name in _ARRAY_FIELDS},
            extras=tuple(e for p in parts for e in p.extras),
        )

    # access -----------------------------------------------------------
    def __len__(self) -> int:
        return self.keypoints.shape[0]

    @property
    def num_joints(self) -> int:
        return self.keypoints.shape[1]

    def __getitem__(self, index: int | slice | np.ndarray | np.generic | list[int]) -> Poses:
        """Select persons; an int gives a one-person ``Poses``."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        idx = np.arange(len(self))[index]
        return Poses(
            **{name: getattr(self, name)[idx] for name in _ARRAY_FIELDS},
            extras=tuple(self.extras[i] for i in idx),
        )

    def replace(self, **changes: Any) -> Poses:
        return replace(self, **changes)

    @property
    def present(self) -> np.ndarray:
        """(N, K) bool: the joint is given (not the ``0, 0, 0`` absent marker)."""
        k = self.keypoints
        return ~((k[..., 0] == 0) & (k[..., 1] == 0) & (k[..., 2] == 0))

    @property
    def confidences(self) -> np.ndarray:
        """(N, K) per-joint confidence: the score if known, else 1 for present joints, 0 for absent."""
        fallback = self.present.astype(np.float64)
        return np.where(np.isnan(self.keypoint_scores), fallback, self.keypoint_scores)

    @property
    def xy(self) -> np.ndarray:
        return self.keypoints[..., :2]

    @property
    def scored_keypoints(self) -> np.ndarray:
        """(N, K, 3) x, y and confidence (see ``confidences``): the usual network / tracker view."""
        return np.concatenate([self.keypoints[..., :2], self.confidences[..., None]], axis=-1)

    def keypoint_boxes(self, min_confidence: float = 0.0) -> np.ndarray:
        """(N, 4) ``[x, y, w, h]`` tight boxes of present joints above ``min_confidence`` (NaN if none)."""
        valid = self.present & (self.confidences > min_confidence) if min_confidence > 0 else self.present
        x = np.where(valid, self.keypoints[..., 0], np.nan)
        y = np.where(valid, self.keypoints[..., 1], np.nan)
        out = _nan((len(self), 4))
        any_valid = valid.any(axis=1)
        if any_valid.any():
            x0, y0 = np.nanmin(x[any_valid], axis=1), np.nanmin(y[any_valid], axis=1)
            x1, y1 = np.nanmax(x[any_valid], axis=1), np.nanmax(y[any_valid], axis=1)
            out[any_valid] = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
        return out

    def box_or_keypoint_box(self) -> np.ndarray:
        """(N, 4) each person's box, or where it is unknown (NaN) the tight box of its present joints."""
        return np.where(np.isnan(self.boxes).any(1, keepdims=True), self.keypoint_boxes(), self.boxes)

    def equals(self, other: Poses) -> bool:
        """Exact equality of every array (NaN equal to NaN) and of the extras."""
        return (
            all(np.array_equal(getattr(self, name), getattr(other, name), equal_nan=True) for name in _ARRAY_FIELDS)
            and self.extras == other.extras
        )


_ARRAY_FIELDS = ("keypoints", "keypoint_scores", "boxes", "head_boxes", "scores", "track_ids", "ids", "has_keypoints")


@dataclass
class Frame:
    """One image of a sequence and the persons in it."""

    file_name: str
    poses: Poses
    image_id: int | None = None
    #: None if the file did not say; PoseTrack marks annotated frames
    is_labeled: bool | None = None
    #: polygons as (M, 2) arrays of x, y; None if the file had no ignore-region field
    ignore_regions: list[np.ndarray] | None = None
    #: other per-image fields (kept for lossless round trips)
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Track:
    """The poses of one identity across a sequence."""

    track_id: int
    frame_indices: np.ndarray
    person_indices: np.ndarray
    keypoints: np.ndarray
    boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.frame_indices)


@dataclass
class PoseSequence:
    """A video (or an image set) with its frames, in frame order."""

    name: str
    frames: list[Frame]
    layout: KeypointLayout = POSETRACK18
    #: file-level fields a reader kept (e.g. categories)
    extras: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self):
        return iter(self.frames)

    def __getitem__(self, index: int) -> Frame:
        return self.frames[index]

    @property
    def num_persons(self) -> np.ndarray:
        return np.array([len(f.poses) for f in self.frames], dtype=np.int64)

    def flatten(self) -> tuple[np.ndarray, Poses]:
        """All persons of all frames as one ``Poses`` plus each row's frame index."""
        counts = self.num_persons
        frame_index = np.repeat(np.arange(len(self.frames)), counts)
        return frame_index, Poses.concat([f.poses for f in self.frames], self.layout.num_joints)

    def tracks(self) -> dict[int, Track]:
        """Group persons with a track id (>= 0) into tracks, ordered by frame."""
        frame_index, poses = self.flatten()
        person_index = np.concatenate([np.arange(n) for n in self.num_persons]) if len(poses) else np.zeros(0, int)
        out: dict[int, Track] = {}
        has_id = poses.track_ids >= 0
        ids = poses.track_ids[has_id]
        rows = np.flatnonzero(has_id)
        order = np.lexsort((frame_index[rows], ids))
        rows, ids = rows[order], ids[order]
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, int)
        for s, e in zip(starts, np.r_[starts[1:], len(ids)]):
            r = rows[s:e]
            out[int(ids[s])] = Track(int(ids[s]), frame_index[r], person_index[r], poses.keypoints[r], poses.boxes[r])
        return out

    def with_poses(self, poses_per_frame: SequenceABC[Poses]) -> PoseSequence:
        """Same frames (names, ids, ignore regions) with other poses: how predictions are built."""
        if len(poses_per_frame) != len(self.frames):
            raise ValueError(f"{len(poses_per_frame)} pose sets for {len(self.frames)} frames")
        frames = [replace(f, poses=p) for f, p in zip(self.frames, poses_per_frame)]
        return PoseSequence(self.name, frames, self.layout, dict(self.extras))
