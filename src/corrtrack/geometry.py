"""Vectorized geometry on persons: IoU, COCO OKS, the tracking OKS variant, pose NMS, head size.

Boxes are ``[x, y, w, h]``. Keypoints are ``(N, K, 2+)`` arrays; confidences ``(N, K)``.
Every function works on whole sets of persons at once and returns matrices.
"""

from __future__ import annotations

import numpy as np

from corrtrack.keypoints import POSETRACK18

__all__ = ["box_iou", "box_nms", "head_size", "keypoint_box_areas", "oks_coco", "oks_track", "pose_nms"]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of ``[x, y, w, h]`` boxes."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax1, ay1 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx1, by1 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1[:, None], bx1[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay1[:, None], by1[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def head_size(head_boxes: np.ndarray) -> np.ndarray:
    """PCKh normaliser: 0.6 x the head-box diagonal (official PoseTrack evaluation)."""
    hb = np.asarray(head_boxes, dtype=np.float64)
    return 0.6 * np.hypot(hb[..., 2], hb[..., 3])


def oks_coco(
    gt: np.ndarray,
    gt_visibility: np.ndarray,
    gt_areas: np.ndarray,
    dt: np.ndarray,
    sigmas: np.ndarray = POSETRACK18.sigma_array,
    gt_boxes: np.ndarray | None = None,
) -> np.ndarray:
    """(G, D) object keypoint similarity as COCO defines it.

    ``e = d^2 / ((2 sigma)^2 * area * 2)``, averaged over the GT joints with
    ``v > 0``. For a GT without labelled joints COCO measures the distance to
    the box grown by its size on each side; that needs ``gt_boxes``.
    """
    gt = np.asarray(gt, dtype=np.float64)[..., :2]
    dt = np.asarray(dt, dtype=np.float64)[..., :2]
    vis: np.ndarray = np.asarray(np.asarray(gt_visibility) > 0)
    var = (2 * np.asarray(sigmas)) ** 2
    area = np.asarray(gt_areas, dtype=np.float64)[:, None, None] + np.spacing(1)
    d2 = ((gt[:, None] - dt[None]) ** 2).sum(-1)  # (G, D, K)
    if gt_boxes is not None:
        bb = np.asarray(gt_boxes, dtype=np.float64)
        x0, x1 = bb[:, 0] - bb[:, 2], bb[:, 0] + 2 * bb[:, 2]
        y0, y1 = bb[:, 1] - bb[:, 3], bb[:, 1] + 2 * bb[:, 3]
        dx = np.maximum(0, x0[:, None, None] - dt[None, ..., 0]) + np.maximum(0, dt[None, ..., 0] - x1[:, None, None])
        dy = np.maximum(0, y0[:, None, None] - dt[None, ..., 1]) + np.maximum(0, dt[None, ..., 1] - y1[:, None, None])
        no_vis = np.asarray(~vis.any(axis=1))
        d2 = np.where(no_vis[:, None, None], dx**2 + dy**2, d2)
        vis = vis | no_vis[:, None]
    e = np.exp(-d2 / var / area / 2)
    count = vis.sum(axis=1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (e * vis[:, None]).sum(-1) / count, 0.0)


def keypoint_box_areas(keypoints: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(N,) area of the tight box around each person's valid joints (0 if none)."""
    kps = np.asarray(keypoints, dtype=np.float64)
    x = np.where(valid, kps[..., 0], np.nan)
    y = np.where(valid, kps[..., 1], np.nan)
    any_valid = valid.any(axis=-1)
    out = np.zeros(kps.shape[0])
    if any_valid.any():
        w = np.nanmax(x[any_valid], -1) - np.nanmin(x[any_valid], -1)
        h = np.nanmax(y[any_valid], -1) - np.nanmin(y[any_valid], -1)
        out[any_valid] = w * h
    return out


def oks_track(
    a: np.ndarray,
    a_conf: np.ndarray,
    b: np.ndarray,
    b_conf: np.ndarray,
    joint_threshold: float = 0.1,
    sigmas: np.ndarray = POSETRACK18.sigma_array,
    mask: str = "both",
) -> np.ndarray:
    """(N, M) OKS between two sets of poses as CorrTrack uses it for NMS, recovery and tracking.

    The scale is the mean of the two poses' keypoint-box areas (joints with
    confidence >= ``joint_threshold``). With ``mask="both"`` the joints valid
    in both poses are averaged; ``mask="second"`` reproduces the reference
    code, whose mask is only the second pose's valid joints (method.md 4.4).
    Pairs with no joint to compare get 0.
    """
    a = np.asarray(a, dtype=np.float64)[..., :2]
    b = np.asarray(b, dtype=np.float64)[..., :2]
    va = np.asarray(a_conf) >= joint_threshold
    vb = np.asarray(b_conf) >= joint_threshold
    area = 0.5 * (keypoint_box_areas(a, va)[:, None] + keypoint_box_areas(b, vb)[None])  # (N, M)
    var = (2 * np.asarray(sigmas)) ** 2
    d2 = ((a[:, None] - b[None]) ** 2).sum(-1)  # (N, M, K)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.exp(-d2 / (2 * var * area[..., None]))
    e = np.where(area[..., None] > 0, e, np.where(d2 == 0, 1.0, 0.0))
    if mask == "both":
        valid = va[:, None] & vb[None]
    elif mask == "second":
        valid = np.broadcast_to(vb[None], d2.shape)
    else:
        raise ValueError(f"mask must be 'both' or 'second', got {mask!r}")
    count = valid.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (e * valid).sum(-1) / count, 0.0)


def pose_nms(
    keypoints: np.ndarray,
    confidences: np.ndarray,
    oks_threshold: float = 0.7,
    joint_threshold: float = 0.05,
    min_joints: int = 2,
) -> np.ndarray:
    """Indices of the poses kept by OKS-based greedy NMS, best first.

    Poses are ranked by mean joint confidence; a pose is suppressed when its
    OKS with an already kept pose is >= ``oks_threshold``. Poses with fewer than
    ``min_joints`` joints above ``joint_threshold`` are dropped (the reference
    gives them OKS 1, so they never survive). Defaults: CorrTrack's pose NMS
    (joint threshold 0.05, OKS 0.7; method.md 4.5).
    """
    conf = np.asarray(confidences, dtype=np.float64)
    n = conf.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    enough = (conf >= joint_threshold).sum(1) >= min_joints
    order = np.argsort(-conf.mean(1), kind="stable")
    order = order[enough[order]]
    oks = oks_track(keypoints, conf, keypoints, conf, joint_threshold)
    suppressed = np.zeros(n, dtype=bool)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= oks[i] >= oks_threshold
    return np.asarray(keep, dtype=np.int64)


def box_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.5) -> np.ndarray:
    """Indices of the ``[x, y, w, h]`` boxes kept by greedy NMS, best score first.

    A box is suppressed when its IoU with an already kept box is above ``iou_threshold``.
    Ties in score keep the earlier box. Boxes with a non-finite coordinate are dropped.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.nan_to_num(np.asarray(scores, dtype=np.float64).reshape(-1), nan=-np.inf)
    ok = np.flatnonzero(np.isfinite(boxes).all(1))
    if len(ok) == 0:
        return np.zeros(0, np.int64)
    order = ok[np.argsort(-scores[ok], kind="stable")]
    iou = box_iou(boxes[order], boxes[order])
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(order[i])
        suppressed |= iou[i] > iou_threshold
    return np.asarray(keep, dtype=np.int64)
