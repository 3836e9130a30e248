"""Turn ground-truth and prediction sequences into the arrays the PoseTrack metrics use.

This reproduces the official evaluator's pre-processing (docs/method.md §7,
pre-processing): frames paired by position, frames without a ground-truth person
dropped together with their predictions, joints inside ignore regions removed,
persons left without joints removed. Joints are in the 15-joint evaluation order
(``POSETRACK17``: index = the official joint id).

The work is done once per sequence on the persons of all frames stacked
(:class:`SequenceArrays`), not frame by frame; :class:`EvalFrame` gives the
per-frame view where one is needed.
"""

from __future__ import annotations

import itertools
import posixpath
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from corrtrack.errors import FormatError
from corrtrack.evaluate.leniency import DROPPED_POINTS, NONFINITE_SCORES
from corrtrack.keypoints import POSETRACK17, remap_index
from corrtrack.poses import Frame, Poses, PoseSequence

__all__ = [
    "EvalFrame",
    "FrameSelection",
    "HeadFormat",
    "SequenceArrays",
    "official_head_size",
    "official_norm",
    "prepare_pair",
    "prepare_sequence",
]

FrameSelection = Literal["annotated", "labeled"]
#: the file format the ground truth was read from: it decides the head-size arithmetic (see official_head_size)
HeadFormat = Literal["posetrack18", "posetrack17"]
NUM_JOINTS = POSETRACK17.num_joints
MAX_TRACK_ID = 10000  # the official evaluator asserts track_id < 10000
MISSING_SCORE = -9999.0  # the official evaluator's score for predictions without "scores"
_EVAL_INDEX = {name: i for i, name in enumerate(POSETRACK17.joints)}
_VIDEO_FOLDER = re.compile(r"^(\d+)_(mpii|bonn|mpiinew)(_.*)?$")


def official_norm(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``np.linalg.norm([dx, dy])`` for every element, with the very operations the official tool's call performs.

    The norm of a 1-D vector is ``sqrt(dot(v, v))``, and numpy's float64 dot goes
    to the BLAS ``ddot`` kernel, which may fuse the multiply-add (OpenBLAS on
    Haswell and later computes ``fma(dy, dy, dx * dx)``). ``sqrt(dx * dx + dy * dy)``
    or ``hypot`` differ from it in the last bit now and then, and that flips a
    joint lying exactly at the PCKh threshold. A stack of (1, 2) @ (2, 1) matrix
    products runs the same dot routine for each element, at array speed.
    """
    dx, dy = np.broadcast_arrays(np.asarray(dx, dtype=np.float64), np.asarray(dy, dtype=np.float64))
    v = np.stack([dx.ravel(), dy.ravel()], axis=-1)
    return np.sqrt(np.matmul(v[:, None, :], v[:, :, None]).reshape(dx.shape))


def official_head_size(head_boxes: np.ndarray, fmt: HeadFormat = "posetrack18") -> np.ndarray:
    """PCKh normaliser 0.6 x head-box diagonal, with the official evaluator's floating-point operations.

    The official tool keeps head boxes as corners ``x1, y1, x2, y2`` and takes
    ``0.6 * norm(x2 - x1, y2 - y1)`` (see :func:`official_norm`). A 2017 file
    holds the corners (corrtrack keeps ``w = x2 - x1``, the same double); a 2018
    ``bbox_head = [x, y, w, h]`` is first turned into corners, ``x2 = x + w``, so
    the official width is ``(x + w) - x``, which can differ from ``w`` in the last
    bit. Either difference changes the verdict for a joint lying exactly at the
    PCKh threshold.
    """
    hb = np.asarray(head_boxes, dtype=np.float64)
    if fmt == "posetrack17":
        dx, dy = hb[..., 2], hb[..., 3]
    elif fmt == "posetrack18":
        dx = (hb[..., 0] + hb[..., 2]) - hb[..., 0]
        dy = (hb[..., 1] + hb[..., 3]) - hb[..., 1]
    else:
        raise ValueError(f"head format must be 'posetrack18' or 'posetrack17', got {fmt!r}")
    return 0.6 * official_norm(dx, dy)


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


@dataclass
class SequenceArrays:
    """The kept frames of one sequence, the persons of all frames stacked.

    Frame ``f`` owns ground-truth rows ``gt_start[f]:gt_start[f + 1]`` and
    prediction rows ``pr_start[f]:pr_start[f + 1]``, in file order.
    """

    name: str
    gt_xy: np.ndarray  # (G, 15, 2)
    gt_has: np.ndarray  # (G, 15) bool
    gt_head: np.ndarray  # (G,)
    gt_ids: np.ndarray  # (G,) int64
    gt_start: np.ndarray  # (F + 1,)
    pr_xy: np.ndarray  # (P, 15, 2)
    pr_has: np.ndarray  # (P, 15) bool
    pr_scores: np.ndarray  # (P, 15)
    pr_ids: np.ndarray  # (P,) int64
    pr_start: np.ndarray  # (F + 1,)
    file_names: list[str]

    @property
    def num_frames(self) -> int:
        return len(self.gt_start) - 1

    def frame(self, f: int) -> EvalFrame:
        g = slice(self.gt_start[f], self.gt_start[f + 1])
        p = slice(self.pr_start[f], self.pr_start[f + 1])
        return EvalFrame(
            self.gt_xy[g],
            self.gt_has[g],
            self.gt_head[g],
            self.gt_ids[g],
            self.pr_xy[p],
            self.pr_has[p],
            self.pr_scores[p],
            self.pr_ids[p],
            self.file_names[f],
        )

    def frames(self) -> list[EvalFrame]:
        return [self.frame(f) for f in range(self.num_frames)]


def _first_video(seq: PoseSequence) -> list[Frame]:
    """Frames of the first video of a 2018-style file (the official tool evaluates only that one)."""
    keys = []
    folders: dict[str, str | None] = {}  # by the part up to the last "/" (all dirname reads): matched once each
    for f in seq.frames:
        head = f.file_name[: f.file_name.rfind("/") + 1]
        if head not in folders:
            m = _VIDEO_FOLDER.match(posixpath.basename(posixpath.dirname(f.file_name)))  # as the official tool
            folders[head] = None if m is None else m.group(1)
        key = folders[head]
        if key is None:
            return seq.frames
        keys.append(key)
    return [f for f, k in zip(seq.frames, keys) if k == keys[0]] if keys else seq.frames


def _kept_persons(p: Poses) -> Poses:
    # a person given without a keypoint list (2017: no annopoints[0].point) is dropped, as the official tool does
    keep = p.has_keypoints
    return p[keep] if not keep.all() else p


@dataclass
class _Stacked:
    xy: np.ndarray
    has: np.ndarray
    scores: np.ndarray
    heads: np.ndarray
    ids: np.ndarray
    counts: np.ndarray
    #: (row, points) of persons whose 2017 points the official look-up skips (see leniency.DROPPED_POINTS)
    dropped: list[tuple[int, list]]


def _stack(poses: list[Poses], idx: np.ndarray, num_joints: int) -> _Stacked:
    """The persons of several frames in the evaluation joints, one row per person."""
    counts = np.array([len(p) for p in poses], dtype=np.int64)
    ok = idx >= 0
    if counts.sum() == 0:
        kps = np.zeros((0, num_joints, 3))
        kscores = np.zeros((0, num_joints))
        heads = np.zeros((0, 4))
        ids = np.zeros(0, dtype=np.int64)
    else:
        kps = np.concatenate([p.keypoints for p in poses])
        kscores = np.concatenate([p.keypoint_scores for p in poses])
        heads = np.concatenate([p.head_boxes for p in poses])
        ids = np.concatenate([p.track_ids for p in poses]).astype(np.int64, copy=False)
    n = len(kps)
    xy = np.zeros((n, NUM_JOINTS, 2))
    has = np.zeros((n, NUM_JOINTS), dtype=bool)
    xy[:, ok] = kps[:, idx[ok], :2]
    present = ~((kps[..., 0] == 0) & (kps[..., 1] == 0) & (kps[..., 2] == 0))
    has[:, ok] = present[:, idx[ok]]
    scores = np.full((n, NUM_JOINTS), MISSING_SCORE)
    raw = kscores[:, idx[ok]]
    scores[:, ok] = np.where(np.isnan(raw), MISSING_SCORE, raw)
    # odd files (see leniency.official_view): null / NaN / infinite scores go into the ranking as they are
    marked = [(r, e) for r, e in enumerate(itertools.chain.from_iterable(p.extras for p in poses)) if e]
    dropped = []
    for row, extra in marked:
        for name, value in extra.get(NONFINITE_SCORES, {}).items():
            scores[row, _EVAL_INDEX[name]] = value
        if DROPPED_POINTS in extra:
            dropped.append((row, extra[DROPPED_POINTS]))
    return _Stacked(xy, has, scores, heads, ids, counts, dropped)


def _record(index: int, frame: Frame) -> str:
    return f"frame {index} ({frame.file_name})" if frame.file_name else f"frame {index}"


def _first_frame(bad_rows: np.ndarray, row_frame: np.ndarray) -> int | None:
    rows = np.flatnonzero(bad_rows)
    return int(row_frame[rows[0]]) if len(rows) else None


def _id_errors(
    st: _Stacked, frame_index: np.ndarray, frames: list[Frame], source: str, check_duplicates: bool, rank: int
) -> list[tuple[int, int, FormatError]]:
    """The first frame with each track-id problem, as (frame index, precedence, error)."""
    row_frame = np.repeat(frame_index, st.counts)
    out: list[tuple[int, int, FormatError]] = []
    f = _first_frame(st.ids < 0, row_frame)
    if f is not None:
        problem = "a person has no 'track_id' (required in ground truth and predictions)"
        out.append((f, rank, FormatError(source, problem, _record(f, frames[f]))))
    f = _first_frame(st.ids >= MAX_TRACK_ID, row_frame)
    if f is not None:
        top = int(st.ids[row_frame == f].max())
        out.append(
            (f, rank + 1, FormatError(source, f"track_id {top} is not below {MAX_TRACK_ID}", _record(f, frames[f])))
        )
    if check_duplicates and len(st.ids) > 1:
        order = np.lexsort((st.ids, row_frame))
        same = (row_frame[order][1:] == row_frame[order][:-1]) & (st.ids[order][1:] == st.ids[order][:-1])
        if same.any():
            first = np.flatnonzero(same)[0]  # rows sorted by frame, then id: the smallest repeated id of that frame
            f, tid = int(row_frame[order][first]), int(st.ids[order][first])
            problem = f"track_id {tid} appears twice in one frame"
            out.append((f, rank + 2, FormatError(source, problem, _record(f, frames[f]))))
    return out


def _inside(polygons: list[np.ndarray], owner: list[int], xy: np.ndarray, start: np.ndarray) -> np.ndarray:
    """(N, 15) bool: the point lies strictly inside an ignore polygon of its frame (boundary points stay).

    ``polygons[k]`` belongs to frame ``owner[k]``, whose persons are rows
    ``start[f]:start[f + 1]`` of ``xy``. All polygons and points in one call.
    """
    import shapely

    inside = np.zeros(xy.shape[:2], dtype=bool)
    frame = np.asarray(owner, dtype=np.int64)
    rows_per_polygon = start[frame + 1] - start[frame]
    total = int(rows_per_polygon.sum())
    if total == 0:
        return inside
    sizes = [len(p) for p in polygons]
    rings = shapely.linearrings(np.concatenate(polygons), indices=np.repeat(np.arange(len(polygons)), sizes))
    shapes = shapely.polygons(rings)
    polygon_of_row = np.repeat(np.arange(len(polygons)), rows_per_polygon)
    first = np.concatenate([[0], np.cumsum(rows_per_polygon)[:-1]])
    rows = np.arange(total) - np.repeat(first, rows_per_polygon) + np.repeat(start[frame], rows_per_polygon)
    px, py = xy[rows, :, 0], xy[rows, :, 1]
    # a point strictly inside a polygon is strictly inside its bounding box: only those are tested (few)
    coords = np.concatenate(polygons)
    ends = np.cumsum(np.asarray(sizes, dtype=np.int64))
    starts = ends - np.asarray(sizes, dtype=np.int64)
    lo = np.minimum.reduceat(coords, starts, axis=0)[polygon_of_row]
    hi = np.maximum.reduceat(coords, starts, axis=0)[polygon_of_row]
    near = (px > lo[:, :1]) & (px < hi[:, :1]) & (py > lo[:, 1:]) & (py < hi[:, 1:])
    r, j = np.nonzero(near)
    hit = np.zeros(near.shape, dtype=bool)
    if len(r):
        hit[r, j] = shapely.contains_xy(shapes[polygon_of_row[r]], px[r, j], py[r, j])
    np.logical_or.at(inside, rows, hit)
    return inside


def _dropped_points(
    dropped: list[tuple[int, list]],
    frame_of_row: np.ndarray,
    polygons: list[np.ndarray],
    owner: list[int],
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
    inside: np.ndarray,
) -> np.ndarray:
    """What the official tool still finds among the 2017 points the look-up skipped, once regions removed points.

    poseval deletes every point inside an ignore region, then looks joints up
    by id (the first point with the id) and drops persons left without any
    point. So where the listed point of joint ``j`` lay inside a region, a later
    point with id ``j`` outside takes its place (set in ``arrays`` = xy, has,
    scores, and cleared in ``inside``), and a person keeps any point, even one
    whose id is no joint's. Returns (N,) bool: the person keeps such a point.
    Rare: one loop per such person.
    """
    import shapely

    xy, has, scores = arrays
    keeps = np.zeros(len(has), dtype=bool)
    by_frame: dict[int, list[np.ndarray]] = {}
    for poly, k in zip(polygons, owner):
        by_frame.setdefault(k, []).append(poly)
    for row, points in dropped:
        regions = by_frame.get(int(frame_of_row[row]))
        if not regions:
            continue
        shapes = shapely.polygons(regions)
        for joint, x, y, score in points:
            if shapely.contains_xy(shapes, x, y).any():
                continue
            keeps[row] = True
            if joint >= 0 and inside[row, joint] and has[row, joint]:
                xy[row, joint] = (x, y)
                scores[row, joint] = score
                inside[row, joint] = False  # found: the first outside point with the id
    return keeps


def prepare_sequence(
    gt: PoseSequence,
    pred: PoseSequence,
    gt_source: str,
    pred_source: str,
    frames: FrameSelection = "annotated",
    head_format: HeadFormat = "posetrack18",
) -> SequenceArrays:
    """The kept, filtered frames of one sequence, persons of all frames stacked.

    ``frames="annotated"`` keeps frames whose ground truth has a person (the
    official rule; ``is_labeled`` is ignored); ``"labeled"`` keeps the frames
    the ground truth marks ``is_labeled``. ``head_format`` is the format the
    ground truth was read from (see :func:`official_head_size`). Errors name
    the first frame with a problem, as the official tool meets them.
    """
    gt_frames, pr_frames = _first_video(gt), _first_video(pred)
    if len(gt_frames) != len(pr_frames):
        problem = f"{len(pr_frames)} frames, but the ground truth {gt_source} has {len(gt_frames)}"
        raise FormatError(pred_source, problem)
    if frames == "labeled":
        kept = np.array([i for i, gf in enumerate(gt_frames) if gf.is_labeled], dtype=np.int64)
    else:
        kept = np.array([i for i, gf in enumerate(gt_frames) if len(gf.poses)], dtype=np.int64)
    all_frames = np.arange(len(pr_frames), dtype=np.int64)
    # predictions of every frame are checked, also of frames that are then dropped
    pr = _stack(
        [_kept_persons(f.poses) for f in pr_frames], remap_index(pred.layout, POSETRACK17), pred.layout.num_joints
    )
    gts = _stack(
        [_kept_persons(gt_frames[i].poses) for i in kept], remap_index(gt.layout, POSETRACK17), gt.layout.num_joints
    )
    errors = _id_errors(pr, all_frames, pr_frames, pred_source, True, 0)
    errors += _id_errors(gts, kept, gt_frames, gt_source, False, 3)

    # predictions of the kept frames only
    pr_row_frame = np.repeat(all_frames, pr.counts)
    is_kept = np.zeros(len(pr_frames), dtype=bool)
    is_kept[kept] = True
    sel = is_kept[pr_row_frame]
    pr_xy, pr_has, pr_scores, pr_ids = pr.xy[sel], pr.has[sel], pr.scores[sel], pr.ids[sel]
    pr_counts = pr.counts[kept]
    gt_counts = gts.counts
    gt_has = gts.has
    gt_start = np.concatenate([[0], np.cumsum(gt_counts)])
    pr_start = np.concatenate([[0], np.cumsum(pr_counts)])

    # ignore regions: joints strictly inside go; persons left without a joint go (in frames with regions)
    gt_keep = np.ones(len(gt_has), dtype=bool)
    pr_keep = np.ones(len(pr_has), dtype=bool)
    with_regions = np.array([bool(gt_frames[i].ignore_regions) for i in kept], dtype=bool)
    if with_regions.any():
        polygons, owner = [], []
        for k in np.flatnonzero(with_regions).tolist():
            for poly in gt_frames[kept[k]].ignore_regions or []:
                if len(poly) >= 3:
                    polygons.append(np.asarray(poly, dtype=np.float64).reshape(-1, 2))
                    owner.append(k)
        gt_extra = pr_extra = None
        if polygons:
            gt_inside = _inside(polygons, owner, gts.xy, gt_start)
            pr_inside = _inside(polygons, owner, pr_xy, pr_start)
            if gts.dropped or pr.dropped:
                frame_rows = np.repeat(np.arange(len(kept)), gt_counts)
                gt_arrays = (gts.xy, gt_has, gts.scores)
                gt_extra = _dropped_points(gts.dropped, frame_rows, polygons, owner, gt_arrays, gt_inside)
                pr_rows = np.cumsum(sel) - 1
                pr_dropped = [(int(pr_rows[r]), pts) for r, pts in pr.dropped if sel[r]]
                frame_rows = np.repeat(np.arange(len(kept)), pr_counts)
                pr_arrays = (pr_xy, pr_has, pr_scores)
                pr_extra = _dropped_points(pr_dropped, frame_rows, polygons, owner, pr_arrays, pr_inside)
            gt_has &= ~gt_inside
            pr_has &= ~pr_inside
        gt_keep = ~np.repeat(with_regions, gt_counts) | gt_has.any(1)
        pr_keep = ~np.repeat(with_regions, pr_counts) | pr_has.any(1)
        if gt_extra is not None:
            gt_keep |= gt_extra
        if pr_extra is not None:
            pr_keep |= pr_extra
    if not gt_keep.all():
        gt_counts = np.bincount(np.repeat(np.arange(len(kept)), gt_counts)[gt_keep], minlength=len(kept))
    if not pr_keep.all():
        pr_counts = np.bincount(np.repeat(np.arange(len(kept)), pr_counts)[pr_keep], minlength=len(kept))
    gt_head = official_head_size(gts.heads[gt_keep], head_format)
    out = SequenceArrays(
        gt.name,
        gts.xy[gt_keep],
        gt_has[gt_keep],
        gt_head,
        gts.ids[gt_keep],
        np.concatenate([[0], np.cumsum(gt_counts)]).astype(np.int64),
        pr_xy[pr_keep],
        pr_has[pr_keep],
        pr_scores[pr_keep],
        pr_ids[pr_keep],
        np.concatenate([[0], np.cumsum(pr_counts)]).astype(np.int64),
        [gt_frames[i].file_name for i in kept],
    )
    # PCKh needs the head box of every ground-truth person in a frame that also has predictions
    both = (gt_counts > 0) & (pr_counts > 0)
    no_head = np.isnan(gt_head)
    if no_head.any() and both.any():
        bad = both & (
            np.bincount(
                np.repeat(np.arange(len(kept)), gt_counts), weights=no_head.astype(np.float64), minlength=len(kept)
            )
            > 0
        )
        if bad.any():
            i = int(kept[np.flatnonzero(bad)[0]])
            problem = "a ground-truth person has no 'bbox_head' (needed for PCKh)"
            errors.append((i, 5, FormatError(gt_source, problem, f"frame {i} ({gt_frames[i].file_name})")))
    if errors:
        raise min(errors, key=lambda e: (e[0], e[1]))[2]
    return out


def prepare_pair(
    gt: PoseSequence,
    pred: PoseSequence,
    gt_source: str,
    pred_source: str,
    frames: FrameSelection = "annotated",
    head_format: HeadFormat = "posetrack18",
) -> list[EvalFrame]:
    """The kept, filtered frames of one sequence, one :class:`EvalFrame` each (see :func:`prepare_sequence`)."""
    return prepare_sequence(gt, pred, gt_source, pred_source, frames, head_format).frames()
