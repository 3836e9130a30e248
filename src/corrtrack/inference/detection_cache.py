"""Detections computed once and served again: a cache file, and a detector + recovery estimator over it.

Real-footage benchmarks run one detector (YOLO11n-pose) once per video and then several
trackers on the same detections. :func:`save_detections` / :func:`load_detections` store every
person of every frame (boxes, scores, keypoints with their scores) in one ``.npz`` file with a
JSON metadata record (detector, input size, confidence, video), written atomically.

:class:`PooledDetections` serves such a cache to the tracker in two roles that share one frame
counter:

* a :class:`~corrtrack.interfaces.PersonDetector`: ``detect`` gives frame ``t``'s detections
  scoring at least ``track_threshold`` (they are associated and may start tracks);
* a :class:`~corrtrack.interfaces.PoseEstimator` for CorrTrack's recovery: ``estimate(image,
  boxes)`` looks for each recovery box (the propagated pose's extent) in the *low-score pool* of
  the same frame, the detections scoring in ``[pool_threshold, track_threshold)``. The pool
  detection with the highest IoU (at least ``min_iou``) gives the pose (its keypoints and joint
  scores) **and its box**; a box without such a detection gets an empty pose (all joints
  absent), which the tracker's recovery filter rejects. A recovered person's box is therefore
  always a real detector box, the low-score one YOLO saw there (docs/results.md, Real footage;
  "Recovery with detector keypoints"). This is the re-estimation step of method.md §4.2 with a
  detector's keypoints instead of a top-down pose network: a track extended by its propagated
  pose picks up a person the detector saw with too little confidence to start a track (the
  second association stage of ByteTrack works on the same low-score boxes).

  Deviation from the interface's contract: the returned ``boxes`` are the pool detections'
  boxes, not the input boxes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corrtrack.errors import CorrtrackError
from corrtrack.fileio import atomic_path
from corrtrack.geometry import box_iou
from corrtrack.poses import Poses

__all__ = ["PooledDetections", "load_detections", "save_detections"]

CACHE_VERSION = 1


def save_detections(path: str | Path, frames: Sequence[Poses], meta: Mapping[str, Any]) -> None:
    """Write every person of ``frames`` (one ``Poses`` per frame) and ``meta`` (JSON-able) to ``path`` (.npz)."""
    path = Path(path)
    if path.suffix != ".npz":
        raise CorrtrackError(f"{path}: a detection cache is an .npz file")
    k = frames[0].num_joints if frames else 17
    if any(p.num_joints != k for p in frames):
        raise CorrtrackError(f"{path}: frames with different joint counts cannot share a cache")
    both = Poses.concat(list(frames), k)
    arrays = {
        "counts": np.array([len(p) for p in frames], np.int64),
        "boxes": both.boxes,
        "scores": both.scores,
        "keypoints": both.keypoints,
        "keypoint_scores": both.keypoint_scores,
        "has_keypoints": both.has_keypoints,
        "meta": np.array(json.dumps({"version": CACHE_VERSION, **dict(meta)})),
    }
    with atomic_path(path, ".npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]


def load_detections(path: str | Path) -> tuple[list[Poses], dict[str, Any]]:
    """The frames and metadata :func:`save_detections` wrote."""
    path = Path(path)
    if not path.is_file():
        raise CorrtrackError(f"{path}: no such detection cache")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {name: z[name] for name in z.files}
    except (OSError, ValueError) as exc:
        raise CorrtrackError(f"{path}: not a readable detection cache ({exc})") from None
    need = ("counts", "boxes", "scores", "keypoints", "keypoint_scores", "has_keypoints", "meta")
    missing = [n for n in need if n not in data]
    if missing:
        raise CorrtrackError(f"{path}: not a detection cache (missing {', '.join(missing)})")
    meta = json.loads(str(data["meta"]))
    if meta.get("version") != CACHE_VERSION:
        raise CorrtrackError(f"{path}: cache version {meta.get('version')}, expected {CACHE_VERSION}; delete it")
    counts = data["counts"]
    total = int(counts.sum())
    if (counts < 0).any() or any(len(data[n]) != total for n in need[1:-1]):
        raise CorrtrackError(f"{path}: the per-frame counts do not match the stored persons")
    ends = np.cumsum(counts)
    frames = []
    for start, end in zip(ends - counts, ends):
        s = slice(int(start), int(end))
        frames.append(
            Poses.create(
                data["keypoints"][s],
                keypoint_scores=data["keypoint_scores"][s],
                boxes=data["boxes"][s],
                scores=data["scores"][s],
                has_keypoints=data["has_keypoints"][s],
            )
        )
    return frames, meta


class PooledDetections:
    """Cached detections as the tracker's detector (high scores) and recovery estimator (the low-score pool).

    ``detect`` advances a frame counter; ``estimate`` answers for the frame ``detect`` served last.
    """

    def __init__(
        self,
        frames: Iterable[Poses],
        track_threshold: float,
        pool_threshold: float,
        min_iou: float = 0.3,
    ) -> None:
        if not 0 <= pool_threshold <= track_threshold <= 1:
            raise ValueError(
                f"need 0 <= pool_threshold <= track_threshold <= 1, got {pool_threshold}, {track_threshold}"
            )
        if not 0 < min_iou <= 1:
            raise ValueError(f"min_iou must be in (0, 1], got {min_iou}")
        self.frames = list(frames)
        self.track_threshold = track_threshold
        self.pool_threshold = pool_threshold
        self.min_iou = min_iou
        self._t = -1
        self.counts = {"queries": 0, "found": 0}

    def __len__(self) -> int:
        return len(self.frames)

    def _scores(self, p: Poses) -> np.ndarray:
        return np.where(np.isnan(p.scores), 1.0, p.scores)

    def high(self, t: int) -> Poses:
        p = self.frames[t]
        return p[np.flatnonzero(self._scores(p) >= self.track_threshold)]

    def pool(self, t: int) -> Poses:
        p = self.frames[t]
        s = self._scores(p)
        return p[np.flatnonzero((s >= self.pool_threshold) & (s < self.track_threshold))]

    def detect(self, frames: Sequence[np.ndarray]) -> list[Poses]:
        out = []
        for _ in frames:
            self._t += 1
            if self._t >= len(self.frames):
                raise CorrtrackError(f"the detection cache has {len(self.frames)} frames; frame {self._t} was asked")
            out.append(self.high(self._t))
        return out

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> Poses:
        if self._t < 0:
            raise CorrtrackError("PooledDetections.estimate was called before any detect call")
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        pool = self.pool(self._t)
        k = self.frames[self._t].num_joints
        n = len(boxes)
        out = Poses.create(np.zeros((n, k, 3)), keypoint_scores=np.zeros((n, k)), boxes=boxes, scores=np.zeros(n))
        self.counts["queries"] += n
        if not n or not len(pool):
            return out
        iou = box_iou(boxes, pool.boxes)  # (n, P)
        best = iou.argmax(1)
        hit = iou[np.arange(n), best] >= self.min_iou
        if not hit.any():
            return out
        src = pool[best[hit]]
        kps, ks, bx, sc = out.keypoints.copy(), out.keypoint_scores.copy(), out.boxes.copy(), out.scores.copy()
        kps[hit], ks[hit], bx[hit], sc[hit] = src.keypoints, np.nan_to_num(src.keypoint_scores), src.boxes, src.scores
        self.counts["found"] += int(hit.sum())
        return out.replace(keypoints=kps, keypoint_scores=ks, boxes=bx, scores=sc)
