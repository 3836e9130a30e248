"""A SIMULATED person detector for controlled tracker studies: detections derived from ground truth.

It is not a detector and never the pipeline's default: it perturbs ground-truth
boxes (and optionally poses) with a configurable miss rate that grows with
occlusion, duplicates, box jitter and false positives, so a tracker can be
studied under known detection errors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from corrtrack.keypoints import POSETRACK18
from corrtrack.poses import Poses, PoseSequence

__all__ = ["SimulatedDetectorConfig", "simulate_detections"]

_EVAL_JOINTS = np.setdiff1d(np.arange(17), [POSETRACK18.index("left_ear"), POSETRACK18.index("right_ear")])


@dataclass(frozen=True)
class SimulatedDetectorConfig:
    #: probability to miss a fully visible person
    miss_rate: float = 0.05
    #: extra miss probability for a fully occluded person (scaled by the occluded joint fraction)
    occlusion_miss: float = 0.6
    #: probability that a detected person is reported twice (a shifted copy)
    duplicate_rate: float = 0.03
    #: box jitter std as a fraction of the box size
    jitter: float = 0.05
    #: false positives per frame (Poisson mean)
    false_positives: float = 0.2
    #: also report noisy poses (keypoints with scores)
    with_poses: bool = False
    #: keypoint noise std as a fraction of the box height
    keypoint_noise: float = 0.03

    def to_dict(self) -> dict:
        return asdict(self)


def simulate_detections(
    gt: PoseSequence, cfg: SimulatedDetectorConfig = SimulatedDetectorConfig(), seed: int = 0
) -> PoseSequence:
    """Detections for every frame of ``gt`` (boxes with scores, no track ids; poses if ``with_poses``)."""
    rng = np.random.default_rng(seed)
    out = []
    for frame in gt.frames:
        p = frame.poses
        h_img = float(np.nanmax(p.box_or_keypoint_box()[:, 1] + p.box_or_keypoint_box()[:, 3])) if len(p) else 360.0
        w_img = float(np.nanmax(p.box_or_keypoint_box()[:, 0] + p.box_or_keypoint_box()[:, 2])) if len(p) else 640.0
        boxes = p.box_or_keypoint_box()
        occluded = 1 - p.present[:, _EVAL_JOINTS].mean(1) if len(p) else np.zeros(0)
        p_miss = np.clip(cfg.miss_rate + cfg.occlusion_miss * occluded, 0, 1)
        keep = (rng.random(len(p)) >= p_miss) & np.isfinite(boxes).all(1)
        det_boxes = boxes[keep]
        det_kps = p.keypoints[keep].copy()
        scores = np.clip(0.95 - 0.5 * occluded[keep] + rng.normal(0, 0.05, keep.sum()), 0.3, 1.0)
        dup = rng.random(len(det_boxes)) < cfg.duplicate_rate
        if dup.any():
            shifted = det_boxes[dup] + rng.normal(0, 0.12, (dup.sum(), 4)) * np.tile(det_boxes[dup, 2:], 2)
            det_boxes = np.concatenate([det_boxes, shifted])
            det_kps = np.concatenate([det_kps, det_kps[dup]])
            scores = np.concatenate([scores, scores[dup] * rng.uniform(0.6, 0.95, dup.sum())])
        size = np.tile(det_boxes[:, 2:], 2) if len(det_boxes) else np.zeros((0, 4))
        det_boxes = det_boxes + rng.normal(0, cfg.jitter, det_boxes.shape) * size
        num_fp = rng.poisson(cfg.false_positives)
        if num_fp:
            hh = rng.uniform(0.2, 0.6, num_fp) * h_img
            fp = np.stack([rng.uniform(0, w_img, num_fp), rng.uniform(0, h_img * 0.6, num_fp), 0.4 * hh, hh], 1)
            det_boxes = np.concatenate([det_boxes, fp])
            det_kps = np.concatenate([det_kps, np.zeros((num_fp, 17, 3))])
            scores = np.concatenate([scores, rng.uniform(0.3, 0.8, num_fp)])
        if cfg.with_poses:
            noise = rng.normal(0, cfg.keypoint_noise, det_kps[..., :2].shape) * det_boxes[:, None, 3:4]
            present = ~(det_kps == 0).all(-1)
            det_kps[..., :2] = np.where(present[..., None], det_kps[..., :2] + noise, 0)
            kscores = np.where(present, np.clip(rng.normal(0.8, 0.15, present.shape), 0.05, 1), 0.0)
            poses = Poses.create(
                det_kps,
                keypoint_scores=kscores,
                boxes=det_boxes,
                scores=scores,
                extras=[{"category_id": 1}] * len(det_boxes),
            )
        else:
            poses = Poses.create(
                np.zeros((len(det_boxes), gt.layout.num_joints, 3)),
                boxes=det_boxes,
                scores=scores,
                extras=[{"category_id": 1}] * len(det_boxes),
                has_keypoints=np.zeros(len(det_boxes), dtype=bool),
            )
        out.append(poses)
    det = gt.with_poses(out)
    det.extras = {}
    return det
