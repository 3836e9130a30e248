"""Fakes of the pipeline interfaces, for tests and for studies without a network.

* :class:`ZeroMotionCorrespondences`: every point stays where it is (the "no motion" baseline).
* :class:`OracleCorrespondences`: reads ground truth (for example SynthTrack's) and maps each
  query person to the same person's joints in the other frame: what a perfect
  correspondence network would return.
* :class:`OraclePoseEstimator`: returns the ground-truth pose of the person best covered by
  each box.

The oracles need to know which frame an image is. Give them the sequence's images
(``images=``) and they recognise a frame by its pixels; without images, ``embed`` /
``estimate`` count calls and treat the n-th distinct call as frame n, which is what a
tracker does when it calls ``embed`` once per frame in order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from corrtrack.geometry import box_iou
from corrtrack.poses import Poses, PoseSequence

__all__ = ["FrameIndex", "OracleCorrespondences", "OraclePoseEstimator", "ZeroMotionCorrespondences"]


def _fingerprint(image: np.ndarray) -> bytes:
    sample = np.ascontiguousarray(image[::7, ::7])
    return hashlib.blake2b(sample.tobytes() + str(image.shape).encode(), digest_size=16).digest()


class FrameIndex:
    """Tells which frame of a known sequence an image is (by its pixels), or counts calls."""

    def __init__(self, images: Sequence[np.ndarray] | None = None) -> None:
        self._by_print: dict[bytes, int] | None = None
        if images is not None:
            self._by_print = {}
            for t, img in enumerate(images):
                self._by_print.setdefault(_fingerprint(img), t)
        self._calls = 0

    def __call__(self, image: np.ndarray) -> int:
        if self._by_print is not None:
            try:
                return self._by_print[_fingerprint(image)]
            except KeyError:
                raise ValueError("image is not a frame of the oracle's sequence") from None
        t = self._calls
        self._calls += 1
        return t


class ZeroMotionCorrespondences:
    """Every query point stays where it is, with confidence 1 (0 for NaN queries)."""

    def embed(self, image: np.ndarray) -> int:
        return 0

    def propagate(self, src: object, dst: object, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64)
        valid = np.isfinite(points).all(-1)
        return np.concatenate([points, valid[..., None].astype(np.float64)], axis=-1)


class OracleCorrespondences:
    """Perfect correspondences from ground truth.

    Each query person (a row of ``points``) is matched to the ground-truth person of the
    source frame whose joints lie closest (mean distance over the query's valid joints,
    at most ``max_distance`` pixels); its joints are then read in the destination frame.
    A joint gets confidence 1 when it is present in both frames and 0 otherwise (the
    person left, the joint is occluded, or no ground-truth person matched), in which
    case the query point is returned unchanged.
    """

    def __init__(
        self, ground_truth: PoseSequence, images: Sequence[np.ndarray] | None = None, max_distance: float = 30.0
    ) -> None:
        self.gt = ground_truth
        self.frame_of = FrameIndex(images)
        self.max_distance = max_distance

    def embed(self, image: np.ndarray) -> int:
        return self.frame_of(image)

    def propagate(self, src: int, dst: int, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64)
        n, k = points.shape[:2]
        out = np.concatenate([points, np.zeros((n, k, 1))], axis=-1)
        a, b = self.gt.frames[src].poses, self.gt.frames[dst].poses
        if n == 0 or len(a) == 0:
            return out
        # distance of every query joint to every GT person's same joint: (N, M, K)
        query_ok = np.isfinite(points).all(-1)
        d = np.linalg.norm(points[:, None] - a.xy[None], axis=-1)
        both = query_ok[:, None] & a.present[None]
        mean_d = np.where(both, d, 0).sum(-1) / np.maximum(both.sum(-1), 1)
        mean_d[both.sum(-1) == 0] = np.inf
        match = mean_d.argmin(1)
        matched = mean_d[np.arange(n), match] <= self.max_distance
        if not len(b):
            return out
        # the same identity in the destination frame
        where = {int(t): i for i, t in enumerate(b.track_ids) if t >= 0}
        for q in np.flatnonzero(matched):
            j = where.get(int(a.track_ids[match[q]]))
            if j is None:
                continue
            ok = query_ok[q] & a.present[match[q]] & b.present[j]
            out[q, ok, :2] = b.xy[j, ok] + (points[q, ok] - a.xy[match[q], ok])
            out[q, ok, 2] = 1.0
        return out


class OraclePoseEstimator:
    """The ground-truth pose of the person best covered by each box (IoU at least ``min_iou``).

    Present joints get score ``score``; a box that covers nobody gets an all-zero pose.
    """

    def __init__(
        self,
        ground_truth: PoseSequence,
        images: Sequence[np.ndarray] | None = None,
        min_iou: float = 0.3,
        score: float = 0.9,
    ) -> None:
        self.gt = ground_truth
        self.frame_of = FrameIndex(images)
        self.min_iou = min_iou
        self.score = score

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> Poses:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        gt = self.gt.frames[self.frame_of(image)].poses
        k = self.gt.layout.num_joints
        kps = np.zeros((len(boxes), k, 3))
        scores = np.zeros((len(boxes), k))
        if len(boxes) and len(gt):
            iou = box_iou(boxes, gt.box_or_keypoint_box())
            best = iou.argmax(1)
            hit = iou[np.arange(len(boxes)), best] >= self.min_iou
            kps[hit] = gt.keypoints[best[hit]]
            kps[hit, :, 2] = gt.present[best[hit]]
            scores[hit] = gt.present[best[hit]] * self.score
        return Poses.create(kps, keypoint_scores=scores, boxes=boxes, scores=scores.mean(1) if k else None)
