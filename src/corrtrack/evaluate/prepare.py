"""Turn ground-truth and prediction sequences into the per-frame arrays the PoseTrack metrics use.

This reproduces the official evaluator's pre-processing (shared docs, evaluation.md
sections 4-5): frames paired by position, frames without a ground-truth person
dropped together with their predictions, joints inside ignore regions removed,
persons left without joints removed. Joints are in the 15-joint evaluation order
(``POSETRACK17``: index = the official joint id).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

import numpy as np

from corrtrack.errors import FormatError
from corrtrack.geometry import head_size
from corrtrack.keypoints import POSETRACK17, remap_index
from corrtrack.poses import Frame, Poses, PoseSequence

__all__ = ["EvalFrame", "FrameSelection", "prepare_pair"]

FrameSelection = Literal["annotated", "labeled"]
NUM_JOINTS = POSETRACK17.num_joints
MAX_TRACK_ID = 10000  # the official evaluator asserts track_id < 10000
MISSING_SCORE = -9999.0  # the official evaluator's score for predictions without "scores"
_VIDEO_FOLDER = re.compile(r"^(\d+)_(mpii|bonn|mpiinew)(_.*)?$")


@dataclass
class EvalFrame:
    """One kept frame: ground truth and predictions in the 15 evaluation joints."""

    gt_xy: np.ndarray  # (G, 15, 2)
    gt_has: np.ndarray  # (G, 15) bool: joint annotated
    gt_head: np.ndarray  # (G,) PCKh normaliser (NaN where unknown)
    gt_ids: np.ndarray  # (G,)
    pr_xy: np.ndarray  # (P, 15, 2)
    pr_has: np.ndarray  # (P, 15) bool: joint predicted
    pr_scores: np.ndarray  # (P, 15)
    pr_ids: np.ndarray  # (P,)
    name: str = ""

    def select(self, gt_keep: np.ndarray, pr_keep: np.ndarray) -> EvalFrame:
        return EvalFrame(
            self.gt_xy[gt_keep],
            self.gt_has[gt_keep],
            self.gt_head[gt_keep],
            self.gt_ids[gt_keep],
            self.pr_xy[pr_keep],
            self.pr_has[pr_keep],
            self.pr_scores[pr_keep],
            self.pr_ids[pr_keep],
            self.name,
        )


def _first_video(seq: PoseSequence) -> list[Frame]:
    """Frames of the first video of a 2018-style file (the official tool evaluates only that one)."""
    keys = []
    for f in seq.frames:
        m = _VIDEO_FOLDER.match(PurePosixPath(f.file_name).parent.name)
        if m is None:
            return seq.frames
        keys.append(m.group(1))
    return [f for f, k in zip(seq.frames, keys) if k == keys[0]] if keys else seq.frames


def _persons(seq: PoseSequence, frame: Frame, source: str, index: int, is_gt: bool):
    p: Poses = frame.poses
    # a person given without a keypoint list (2017: no annopoints[0].point) is dropped, as the official tool does
    keep = p.has_keypoints
    p = p[keep] if not keep.all() else p
    idx = remap_index(seq.layout, POSETRACK17)
    ok = idx >= 0
    xy = np.zeros((len(p), NUM_JOINTS, 2))
    has = np.zeros((len(p), NUM_JOINTS), dtype=bool)
    xy[:, ok] = p.keypoints[:, idx[ok], :2]
    has[:, ok] = p.present[:, idx[ok]]
    record = f"frame {index} ({frame.file_name})" if frame.file_name else f"frame {index}"
    if (p.track_ids < 0).any():
        raise FormatError(source, "a person has no 'track_id' (required in ground truth and predictions)", record)
    if (p.track_ids >= MAX_TRACK_ID).any():
        raise FormatError(source, f"track_id {int(p.track_ids.max())} is not below {MAX_TRACK_ID}", record)
    if is_gt:
        return xy, has, head_size(p.head_boxes), p.track_ids.copy()
    scores = np.full((len(p), NUM_JOINTS), MISSING_SCORE)
    scores[:, ok] = np.where(np.isnan(p.keypoint_scores[:, idx[ok]]), MISSING_SCORE, p.keypoint_scores[:, idx[ok]])
    ids, counts = np.unique(p.track_ids, return_counts=True)
    if (counts > 1).any():
        raise FormatError(source, f"track_id {int(ids[counts > 1][0])} appears twice in one frame", record)
    return xy, has, scores, p.track_ids.copy()


def _inside(regions: list[np.ndarray], xy: np.ndarray) -> np.ndarray:
    """(N, 15) bool: point strictly inside any ignore polygon (points on the boundary stay)."""
    import shapely

    inside = np.zeros(xy.shape[:2], dtype=bool)
    if xy.size == 0:
        return inside
    for poly in regions:
        if len(poly) < 3:
            continue
        inside |= shapely.contains_xy(shapely.Polygon(poly), xy[..., 0], xy[..., 1])
    return inside


def prepare_pair(
    gt: PoseSequence,
    pred: PoseSequence,
    gt_source: str,
    pred_source: str,
    frames: FrameSelection = "annotated",
) -> list[EvalFrame]:
    """The kept, filtered frames of one sequence.

    ``frames="annotated"`` keeps frames whose ground truth has a person (the
    official rule; ``is_labeled`` is ignored); ``"labeled"`` keeps the frames
    the ground truth marks ``is_labeled``.
    """
    gt_frames, pr_frames = _first_video(gt), _first_video(pred)
    if len(gt_frames) != len(pr_frames):
        problem = f"{len(pr_frames)} frames, but the ground truth {gt_source} has {len(gt_frames)}"
        raise FormatError(pred_source, problem)
    out = []
    for index, (gf, pf) in enumerate(zip(gt_frames, pr_frames)):
        pr_xy, pr_has, pr_scores, pr_ids = _persons(pred, pf, pred_source, index, is_gt=False)
        if frames == "labeled":
            if not gf.is_labeled:
                continue
        elif len(gf.poses) == 0:
            continue
        gt_xy, gt_has, gt_head, gt_ids = _persons(gt, gf, gt_source, index, is_gt=True)
        ef = EvalFrame(gt_xy, gt_has, gt_head, gt_ids, pr_xy, pr_has, pr_scores, pr_ids, gf.file_name)
        if gf.ignore_regions:
            ef.gt_has &= ~_inside(gf.ignore_regions, gt_xy)
            ef.pr_has &= ~_inside(gf.ignore_regions, pr_xy)
            ef = ef.select(ef.gt_has.any(1), ef.pr_has.any(1))
        if len(ef.pr_ids) and len(ef.gt_ids) and np.isnan(ef.gt_head).any():
            record = f"frame {index} ({gf.file_name})"
            raise FormatError(gt_source, "a ground-truth person has no 'bbox_head' (needed for PCKh)", record)
        out.append(ef)
    return out
