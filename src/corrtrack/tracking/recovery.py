"""Recovery of missed persons: boxes from propagated poses, and the filters for re-estimated poses.

method.md §4.2. Every pose kept at t-1 is propagated into frame t; a propagated pose with
enough confident joints gives a box, the pose estimator re-estimates the person in it, and
the new pose is kept only if it is not already in the frame. All functions take whole
frames as arrays.
"""

from __future__ import annotations

import numpy as np

from corrtrack.keypoints import POSETRACK18
from corrtrack.tracking.association import oks_matrix
from corrtrack.tracking.matching import assign

__all__ = ["explained_by_detections", "filter_recovered", "recovery_boxes"]


def recovery_boxes(
    prop_xy: np.ndarray, keep: np.ndarray, min_joints: int, margin: float, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(boxes, ok)``: ``[x, y, w, h]`` around the kept propagated joints ± ``margin``, clipped to the image.

    ``keep`` (N, K) marks the propagated joints that count; ``ok`` (N,) marks poses with at
    least ``min_joints`` of them and a box of positive size (others get NaN boxes).
    """
    n = prop_xy.shape[0]
    boxes = np.full((n, 4), np.nan)
    ok = keep.sum(-1) >= min_joints
    if not ok.any():
        return boxes, ok
    x = np.where(keep[ok], prop_xy[ok, :, 0], np.nan)
    y = np.where(keep[ok], prop_xy[ok, :, 1], np.nan)
    x0 = np.clip(np.nanmin(x, -1) - margin, 0, width - 1)
    y0 = np.clip(np.nanmin(y, -1) - margin, 0, height - 1)
    x1 = np.clip(np.nanmax(x, -1) + margin, 0, width - 1)
    y1 = np.clip(np.nanmax(y, -1) + margin, 0, height - 1)
    boxes[ok] = np.stack([x0, y0, x1 - x0, y1 - y0], 1)
    sized = np.zeros(n, bool)
    sized[ok] = (x1 > x0) & (y1 > y0)
    boxes[~sized] = np.nan
    return boxes, ok & sized


def explained_by_detections(
    prop_xy: np.ndarray,
    keep: np.ndarray,
    det_xy: np.ndarray,
    det_conf: np.ndarray,
    joint_threshold: float,
    oks_threshold: float,
    sigmas: np.ndarray = POSETRACK18.sigma_array,
) -> np.ndarray:
    """(N,) bool: a detection already lies on the propagated pose (tracking OKS > ``oks_threshold``).

    Such a pose need not be re-estimated: its re-estimate would be the detected person again
    and the filters against the original detections would reject it. A detection explains
    at most one propagated pose (greedy one-to-one pairing by OKS): where one detection
    covers two overlapping people, the second one is still re-estimated.
    """
    explained = np.zeros(prop_xy.shape[0], bool)
    if prop_xy.shape[0] == 0 or det_xy.shape[0] == 0:
        return explained
    oks = oks_matrix(prop_xy, keep.astype(np.float64), det_xy, det_conf, joint_threshold, sigmas)
    oks = np.where(oks > oks_threshold, oks, np.nan)
    rows, _ = assign(oks, oks_threshold, "greedy")
    explained[rows] = True
    return explained


def filter_recovered(
    rec_xy: np.ndarray,
    rec_conf: np.ndarray,
    det_xy: np.ndarray,
    det_conf: np.ndarray,
    *,
    joint_threshold: float,
    min_estimated_joints: int,
    max_oks_all: float,
    max_oks_detections: float,
    min_detection_joints: int = 3,
    sigmas: np.ndarray = POSETRACK18.sigma_array,
) -> np.ndarray:
    """(R,) bool: which re-estimated poses to add to the frame.

    A re-estimated pose is kept when it has at least ``min_estimated_joints`` joints with
    score >= ``joint_threshold``, its OKS with every pose already in the frame (the
    detections and the recovered poses kept before it, in order) is at most
    ``max_oks_all``, and its OKS with every original detection that has at least
    ``min_detection_joints`` joints above ``joint_threshold`` is at most ``max_oks_detections``.
    """
    r = rec_xy.shape[0]
    keep = (rec_conf >= joint_threshold).sum(-1) >= min_estimated_joints
    if r == 0 or not keep.any():
        return keep
    if det_xy.shape[0]:
        oks_det = oks_matrix(rec_xy, rec_conf, det_xy, det_conf, joint_threshold, sigmas)  # (R, D)
        keep &= oks_det.max(1) <= max_oks_all
        counted = (det_conf > joint_threshold).sum(-1) >= min_detection_joints
        if counted.any():
            keep &= oks_det[:, counted].max(1) <= max_oks_detections
    if keep.sum() > 1:
        oks_rec = oks_matrix(rec_xy, rec_conf, rec_xy, rec_conf, joint_threshold, sigmas)  # (R, R)
        accepted = np.zeros(r, bool)
        for i in np.flatnonzero(keep):
            if accepted.any() and oks_rec[i, accepted].max() > max_oks_all:
                continue
            accepted[i] = True
        keep = accepted
    return keep
