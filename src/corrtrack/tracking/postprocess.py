"""Offline post-processing of tracked frames: id remapping, short-track removal, output joint threshold.

method.md §4.3 (end): drop tracks with fewer than ``min_track_length`` poses; in each pose
set joints with score below ``output_joint_threshold`` (and joints with non-finite
coordinates) to the absent marker ``(0, 0, 0)``, which the evaluator ignores; drop poses left
without a joint; drop short tracks again; renumber the ids ``0..N-1`` in order of first appearance.

Optionally (:func:`interpolate_gaps`, beyond the paper) fill the frames a track skips (a track
resumed after a gap, or two tracks merged across one) with poses interpolated linearly
between the two poses around the gap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from corrtrack.poses import Poses

__all__ = ["clean_poses", "interpolate_gaps", "interpolated_poses", "postprocess_tracks", "remap_track_ids"]


def remap_track_ids(frames: Sequence[Poses], mapping: Mapping[int, int]) -> list[Poses]:
    """The frames with every track id ``a`` in ``mapping`` replaced by ``mapping[a]``."""
    if not mapping:
        return list(frames)
    src = np.fromiter(mapping.keys(), np.int64, len(mapping))
    dst = np.fromiter(mapping.values(), np.int64, len(mapping))
    order = np.argsort(src)
    src, dst = src[order], dst[order]
    out = []
    for p in frames:
        ids = p.track_ids.copy()
        hit = np.isin(ids, src)
        if hit.any():
            ids[hit] = dst[np.searchsorted(src, ids[hit])]
        out.append(p.replace(track_ids=ids))
    return out


def _drop_short(frames: list[Poses], min_track_length: int) -> list[Poses]:
    if min_track_length <= 1 or not frames:
        return frames
    all_ids = np.concatenate([p.track_ids for p in frames])
    ids, counts = np.unique(all_ids, return_counts=True)
    short = ids[counts < min_track_length]
    if not len(short):
        return frames
    return [p[~np.isin(p.track_ids, short)] for p in frames]


def clean_poses(p: Poses, output_joint_threshold: float) -> Poses:
    """``p`` with joints below ``output_joint_threshold`` (or not finite) set absent; poses left without one dropped."""
    low = (p.confidences < output_joint_threshold) | ~np.isfinite(p.keypoints).all(-1)
    kps = np.where(low[..., None], 0.0, p.keypoints)
    scores = np.where(low, 0.0, p.keypoint_scores)
    q = p.replace(keypoints=kps, keypoint_scores=scores)
    return q[q.present.any(1)]


def postprocess_tracks(
    frames: Sequence[Poses],
    min_track_length: int,
    output_joint_threshold: float,
    renumber: bool = True,
) -> list[Poses]:
    """Tracked frames after short-track removal and the output joint threshold (see the module doc)."""
    out = _drop_short(list(frames), min_track_length)
    if output_joint_threshold > 0 or any((~np.isfinite(p.keypoints)).any() for p in out):
        out = _drop_short([clean_poses(p, output_joint_threshold) for p in out], min_track_length)
    if renumber and out:
        all_ids = np.concatenate([p.track_ids for p in out])
        _, first = np.unique(all_ids, return_index=True)
        order = all_ids[np.sort(first)]  # ids in order of first appearance
        mapping = {int(a): i for i, a in enumerate(order.tolist())}
        out = remap_track_ids(out, mapping)
    return out


def interpolate_gaps(frames: Sequence[Poses], max_gap: int) -> list[Poses]:
    """The frames with every gap of at most ``max_gap`` frames inside a track filled by interpolation.

    Between a track's pose in frame ``a`` and its next pose in frame ``b > a + 1`` (``b - a - 1 <=
    max_gap``), frame ``a + i`` gets the pose ``(1 - s) p_a + s p_b`` with ``s = i / (b - a)``: joints
    present at both ends (others absent), joint scores, box and score likewise (NaN where an end is
    unknown); the new poses carry ``extras["interpolated"] = True``. All gaps are built in one batch.
    """
    frames = list(frames)
    if max_gap < 1 or len(frames) < 3:
        return frames
    counts = np.array([len(p) for p in frames])
    if not counts.sum():
        return frames
    flat = Poses.concat(frames)
    frame_of = np.repeat(np.arange(len(frames)), counts)
    order = np.lexsort((frame_of, flat.track_ids))
    tid, fr = flat.track_ids[order], frame_of[order]
    gap = np.diff(fr) - 1
    ends = np.flatnonzero((tid[1:] == tid[:-1]) & (gap >= 1) & (gap <= max_gap))
    if not len(ends):
        return frames
    a, b = order[ends], order[ends + 1]  # rows of the poses before and after each gap
    steps = gap[ends]
    which = np.repeat(np.arange(len(ends)), steps)  # gap of each new pose
    offset = np.arange(steps.sum()) - np.repeat(np.cumsum(steps) - steps, steps) + 1
    s = (offset / (steps[which] + 1))[:, None]
    ra, rb = a[which], b[which]
    new = interpolated_poses(flat, ra, rb, s)
    target = frame_of[ra] + offset
    out = []
    for f, p in enumerate(frames):
        rows = np.flatnonzero(target == f)
        out.append(Poses.concat([p, new[rows]]) if len(rows) else p)
    return out


def interpolated_poses(flat: Poses, ra: np.ndarray, rb: np.ndarray, s: np.ndarray) -> Poses:
    """Poses ``(1 - s) flat[ra] + s flat[rb]`` (``s`` (N, 1)): the interpolation rule of :func:`interpolate_gaps`."""
    both = flat.present[ra] & flat.present[rb]
    kps = np.where(both[..., None], (1 - s[..., None]) * flat.keypoints[ra] + s[..., None] * flat.keypoints[rb], 0.0)
    joint_scores = np.where(both, (1 - s) * flat.keypoint_scores[ra] + s * flat.keypoint_scores[rb], 0.0)
    return Poses.create(
        kps,
        keypoint_scores=joint_scores,
        boxes=(1 - s) * flat.boxes[ra] + s * flat.boxes[rb],
        scores=(1 - s[:, 0]) * flat.scores[ra] + s[:, 0] * flat.scores[rb],
        track_ids=flat.track_ids[ra],
        extras=[{"interpolated": True} for _ in range(len(ra))],
    )
