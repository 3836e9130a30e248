"""A SIMULATED person detector for controlled tracker studies: detections derived from ground truth.

It is not a detector and never the pipeline's default. It perturbs ground-truth boxes (and
optionally poses) with the habits of a real detector:

* **misses that persist**: a two-state Markov chain per track; the chance to start and to
  keep missing a person grows with the person's occluded (or out-of-frame) joint fraction;
* **jitter correlated along a track** (an AR(1) process per track, not fresh noise per frame);
* **merged boxes**: two strongly overlapping people sometimes come out as one box around both;
* **false positives on person-like structure**: bystanders (the ground truth's ignore regions)
  and, when the caller knows them, occluders and props fire; a detection on a body part; and a
  few low-scored background boxes that a threshold removes. Their scores overlap the true
  detections' as a real detector's do (shapes measured on the public Faster R-CNN detections of
  PETS09-S2L1 and TUD-Stadtmitte, ``python -m corrtrack.synth.score_shapes``): an unannotated
  person scores like an annotated one, structure follows a Beta fitted to TUD-Stadtmitte's
  false positives (half of them above 0.75), so no threshold removes the false positives
  without removing many true detections;
* with poses, **all 17 joints**: hidden joints (which a ground truth does not give) are
  hallucinated from a body template fitted to the visible ones, with confidences that depend
  on occlusion but overlap between visible and hidden joints (no visibility leak); occasional
  left/right flips; joints pulled onto a nearby joint of another person.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np

from corrtrack.config import param
from corrtrack.geometry import box_iou
from corrtrack.keypoints import POSETRACK18
from corrtrack.poses import Frame, Poses, PoseSequence

__all__ = ["ImageExtent", "SimulatedDetectorConfig", "body_template", "iter_detections", "simulate_detections"]

_EVAL_JOINTS = np.setdiff1d(np.arange(17), [POSETRACK18.index("left_ear"), POSETRACK18.index("right_ear")])
_FLIP = POSETRACK18.flip_permutation


@dataclass(frozen=True)
class SimulatedDetectorConfig:
    miss_rate: float = param(0.05, "our choice: probability to start missing a fully visible person")
    occlusion_miss: float = param(
        0.6, "our choice: extra miss probability for a fully occluded person (scaled by the occluded fraction)"
    )
    duplicate_rate: float = param(0.03, "our choice: probability that a detected person is reported twice")
    jitter: float = param(0.05, "our choice: box jitter std as a fraction of the box size")
    false_positives: float = param(0.2, "our choice: low-scored background false positives per frame (Poisson)")
    with_poses: bool = param(False, "our choice: also report poses (17 joints with scores)")
    keypoint_noise: float = param(0.03, "our choice: keypoint noise std as a fraction of the box height")
    miss_persistence: float = param(
        0.7, "our choice: probability that a missed, fully occluded person is still missed next frame"
    )
    jitter_correlation: float = param(0.8, "our choice: AR(1) coefficient of the box jitter along a track")
    merge_rate: float = param(0.3, "our choice: probability that two overlapping people start coming out as one box")
    merge_iou: float = param(0.3, "our choice: box IoU from which two people can be merged")
    distractor_rate: float = param(
        0.15, "our choice: per-frame probability that a bystander, occluder or prop fires a false positive"
    )
    part_rate: float = param(0.02, "our choice: per-person probability of an extra box on the upper body")
    structure_beta: tuple[float, float] = param(
        (1.3, 1.1),
        "measured: scores of false positives on structure are 0.3 + 0.7 * Beta(a, b), fitted to the quantiles "
        "above 0.5 of the public Faster R-CNN false positives on TUD-Stadtmitte (python -m "
        "corrtrack.synth.score_shapes ../shared/data/TUD-Stadtmitte --fit ../shared/data/TUD-Stadtmitte)",
    )
    bystander_occlusion: float = param(
        0.6,
        "our choice, after a measurement: an unannotated person (ignore region) scores like an annotated one with "
        "an occluded fraction drawn from 0..this (on PETS09-S2L1 the detections on unannotated people score "
        "median 0.95, like the true ones, python -m corrtrack.synth.score_shapes)",
    )
    flip_rate: float = param(0.03, "our choice: probability that a pose starts coming out left-right flipped")
    pull_rate: float = param(0.15, "our choice: probability that a joint near another person's joint lands on it")

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and (v < 0 or (f.name.endswith(("rate", "miss", "persistence")) and v > 1)):
                raise ValueError(f"{f.name} must be within 0..1 (or >= 0), got {v}")
        for name, high in (("jitter", 10.0), ("false_positives", 1000.0), ("keypoint_noise", 10.0)):
            if getattr(self, name) > high:
                raise ValueError(f"{name} must be at most {high}, got {getattr(self, name)}")
        if not (0 < self.structure_beta[0] <= 100 and 0 < self.structure_beta[1] <= 100):
            raise ValueError(f"structure_beta must be two positive shapes (at most 100), got {self.structure_beta}")
        if not 0 <= self.bystander_occlusion <= 1:
            raise ValueError(f"bystander_occlusion must be within 0..1, got {self.bystander_occlusion}")
        if not 0 <= self.jitter_correlation < 1:
            raise ValueError(f"jitter_correlation must be within 0..1 (exclusive), got {self.jitter_correlation}")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@lru_cache(maxsize=1)
def body_template() -> np.ndarray:
    """(17, 2) a standing person facing the camera, in body heights, feet at y = 0 (image y down)."""
    from corrtrack.synth.body import BodyShape, PoseParams, body_points, project

    xy, _ = project(body_points(BodyShape(), PoseParams()), 0.0, (0.0, 0.0), 1.0)
    return xy[:17]


def _fit_template(kps: np.ndarray, present: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N, 17, 2) the template scaled and moved onto each person's present joints (or its box)."""
    tpl = body_template()
    out = np.empty(kps.shape[:2] + (2,))
    for i in range(len(kps)):  # one small least-squares fit per person
        p = present[i]
        if p.sum() >= 2 and np.ptp(tpl[p], axis=0).max() > 0.05:
            t, x = tpl[p], kps[i, p, :2]
            tc, xc = t - t.mean(0), x - x.mean(0)
            s = float((tc * xc).sum() / max((tc**2).sum(), 1e-9))
            s = max(s, 1e-3)
            out[i] = (tpl - t.mean(0)) * s + x.mean(0)
        else:
            x, y, w, h = boxes[i]
            out[i] = tpl * h + [x + w / 2, y + h]
    return out


def _ar1(state: dict, key: int, rho: float, rng: np.random.Generator, size: int) -> np.ndarray:
    prev = state.get(key)
    fresh = rng.normal(0, 1, size)
    value = fresh if prev is None else rho * prev + np.sqrt(1 - rho**2) * fresh
    if key >= 0:
        state[key] = value
    return value


def simulate_detections(
    gt: PoseSequence,
    cfg: SimulatedDetectorConfig = SimulatedDetectorConfig(),
    seed: int = 0,
    distractors: Sequence[np.ndarray] | None = None,
) -> PoseSequence:
    """Detections for every frame of ``gt`` (boxes with scores, no track ids; poses if ``with_poses``).

    Track ids of ``gt`` (when given) carry each person's miss, jitter, flip and merge state from
    frame to frame; they are not in the output. ``distractors`` optionally gives per frame
    ``(M, 4)`` boxes of person-like structure (SynthTrack's bystanders, occluders and props).
    The same detections, one frame at a time: :func:`iter_detections`.
    """
    if distractors is not None and len(distractors) != len(gt.frames):
        raise ValueError(f"distractors has {len(distractors)} entries for {len(gt.frames)} frames")
    extent = ImageExtent()
    for frame in gt.frames:
        extent.add(frame)
    out = list(iter_detections(gt.frames, extent.size, cfg, seed, distractors, gt.layout.num_joints))
    det = gt.with_poses(out)
    det.extras = {}
    return det


class ImageExtent:
    """The image size the simulated detector places background false positives in, from the ground truth's boxes.

    The far edges of every person's box over the whole sequence (640 x 360 without any box); :meth:`add`
    takes the frames one at a time, so the size is known after one streamed pass.
    """

    def __init__(self) -> None:
        self._right = -np.inf
        self._bottom = -np.inf

    def add(self, frame: Frame) -> None:
        if not len(frame.poses):
            return
        boxes = frame.poses.box_or_keypoint_box()
        boxes = boxes[np.isfinite(boxes).all(1)]
        if len(boxes):
            self._right = max(self._right, float(np.max(boxes[:, 0] + boxes[:, 2])))
            self._bottom = max(self._bottom, float(np.max(boxes[:, 1] + boxes[:, 3])))

    @property
    def size(self) -> tuple[float, float]:
        """``(width, height)``."""
        if not np.isfinite(self._right):
            return 640.0, 360.0
        return self._right, self._bottom


def iter_detections(
    frames: Iterable[Frame],
    image_size: tuple[float, float],
    cfg: SimulatedDetectorConfig = SimulatedDetectorConfig(),
    seed: int = 0,
    distractors: Iterable[np.ndarray] | None = None,
    num_joints: int = 17,
) -> Iterator[Poses]:
    """:func:`simulate_detections`' detections of ``frames``, one frame at a time (memory stays flat).

    ``image_size`` is :class:`ImageExtent`'s size of the same frames; ``distractors`` one entry per frame.
    """
    rng = np.random.default_rng(seed)
    w_img, h_img = image_size
    more = iter(distractors) if distractors is not None else None
    missed: dict[int, bool] = {}
    flipped: dict[int, bool] = {}
    merged: set[tuple[int, int]] = set()
    jitter_state: dict[int, np.ndarray] = {}
    for frame in frames:
        frame_distractors = next(more) if more is not None else None
        p = frame.poses
        boxes = p.box_or_keypoint_box()
        ok = np.isfinite(boxes).all(1)
        p, boxes = p[np.flatnonzero(ok)], boxes[ok]
        n = len(p)
        tids = p.track_ids
        present = p.present
        occ = 1 - present[:, _EVAL_JOINTS].mean(1) if n else np.zeros(0)
        # misses: a Markov chain per track
        start = np.clip(cfg.miss_rate + cfg.occlusion_miss * occ, 0, 1)
        stay = np.clip(cfg.miss_persistence * (0.4 + 0.6 * occ) + start, 0, 0.98)
        was = np.array([missed.get(int(k), False) if k >= 0 else False for k in tids], bool)
        miss = rng.random(n) < np.where(was, stay, start)
        for k, m in zip(tids.tolist(), miss.tolist()):
            if k >= 0:
                missed[k] = m
        keep = ~miss
        # merged boxes: two overlapping detected people come out as one box (persisting while they overlap)
        gt_boxes = boxes.copy()
        absorbed = np.zeros(n, bool)
        if n > 1 and cfg.merge_rate > 0:
            iou = box_iou(boxes, boxes)
            ii, jj = np.nonzero(np.triu(iou >= cfg.merge_iou, 1))
            for i, j in zip(ii.tolist(), jj.tolist()):
                if not (keep[i] and keep[j]) or absorbed[i] or absorbed[j]:
                    continue
                pair = (int(min(tids[i], tids[j])), int(max(tids[i], tids[j])))
                go = rng.random() < (0.8 if pair in merged else cfg.merge_rate)
                if go and pair[0] >= 0:
                    merged.add(pair)
                elif pair in merged:
                    merged.discard(pair)
                if not go:
                    continue
                front, back = (i, j) if present[i].sum() >= present[j].sum() else (j, i)
                x0 = np.minimum(boxes[i, :2], boxes[j, :2])
                x1 = np.maximum(boxes[i, :2] + boxes[i, 2:], boxes[j, :2] + boxes[j, 2:])
                boxes[front] = np.r_[x0, x1 - x0]
                absorbed[back] = True
        keep &= ~absorbed
        idx = np.flatnonzero(keep)
        det_boxes = boxes[idx].copy()
        size = np.tile(det_boxes[:, 2:], 2)
        jit = np.array([_ar1(jitter_state, int(tids[i]), cfg.jitter_correlation, rng, 4) for i in idx]).reshape(-1, 4)
        det_boxes = det_boxes + cfg.jitter * jit * size
        scores = np.clip(0.95 - 0.45 * occ[idx] + rng.normal(0, 0.05, len(idx)), 0.3, 1.0)
        scores[absorbed[idx] | (boxes[idx, 2] > gt_boxes[idx, 2] + 1)] *= 0.9
        src = idx.copy()  # which ground-truth person a detection's keypoints come from (-1: none)
        kinds = np.zeros(len(idx), int)  # 0 person, 1 duplicate, 2 part, 3 distractor, 4 background
        extra_boxes, extra_scores, extra_src, extra_kind = [], [], [], []
        dup = rng.random(len(idx)) < cfg.duplicate_rate
        for d in np.flatnonzero(dup):
            extra_boxes.append(det_boxes[d] + rng.normal(0, 0.12, 4) * size[d])
            extra_scores.append(scores[d] * rng.uniform(0.6, 0.95))
            extra_src.append(idx[d])
            extra_kind.append(1)
        part = rng.random(len(idx)) < cfg.part_rate
        for d in np.flatnonzero(part):  # the upper body alone
            x, y, w, h = det_boxes[d]
            extra_boxes.append(np.array([x, y, w, h * rng.uniform(0.4, 0.6)]))
            extra_scores.append(rng.uniform(0.3, 0.6))
            extra_src.append(-1)
            extra_kind.append(2)
        # person-like structure: unannotated people (ignore regions) score like people, the rest like
        # a real detector's false positives on structure (see the module docstring)
        people = [r[:, :2].min(0).tolist() + np.ptp(r[:, :2], 0).tolist() for r in (frame.ignore_regions or [])]
        structure = [(box, True) for box in people]
        if frame_distractors is not None and len(frame_distractors):
            structure_boxes = np.asarray(frame_distractors, np.float64).reshape(-1, 4).tolist()
            structure += [(box, False) for box in structure_boxes]
        for box, person in structure:
            if box[2] > 2 and box[3] > 4 and rng.random() < cfg.distractor_rate:
                extra_boxes.append(np.array(box) + rng.normal(0, 0.05, 4) * np.tile(box[2:], 2))
                if person:
                    hidden = rng.uniform(0, cfg.bystander_occlusion)
                    extra_scores.append(float(np.clip(0.95 - 0.45 * hidden + rng.normal(0, 0.05), 0.3, 1.0)))
                else:
                    extra_scores.append(0.3 + 0.7 * rng.beta(*cfg.structure_beta))
                extra_src.append(-1)
                extra_kind.append(3)
        for _ in range(rng.poisson(cfg.false_positives)):
            hh = rng.uniform(0.2, 0.6) * h_img
            extra_boxes.append(np.array([rng.uniform(0, w_img), rng.uniform(0, h_img * 0.6), 0.4 * hh, hh]))
            extra_scores.append(0.05 + 0.35 * rng.beta(2, 4))
            extra_src.append(-1)
            extra_kind.append(4)
        if extra_boxes:
            det_boxes = np.concatenate([det_boxes, np.array(extra_boxes).reshape(-1, 4)])
            scores = np.concatenate([scores, extra_scores])
            src = np.concatenate([src, extra_src]).astype(int)
            kinds = np.concatenate([kinds, extra_kind])
        m = len(det_boxes)
        if not cfg.with_poses:
            yield Poses.create(
                np.zeros((m, num_joints, 3)),
                boxes=det_boxes,
                scores=scores,
                extras=[{"category_id": 1}] * m,
                has_keypoints=np.zeros(m, dtype=bool),
            )
            continue
        yield _poses(p, present, occ, det_boxes, scores, src, kinds, tids, flipped, cfg, rng)


def _poses(
    p: Poses,
    present: np.ndarray,
    occ: np.ndarray,
    det_boxes: np.ndarray,
    scores: np.ndarray,
    src: np.ndarray,
    kinds: np.ndarray,
    tids: np.ndarray,
    flipped: dict[int, bool],
    cfg: SimulatedDetectorConfig,
    rng: np.random.Generator,
) -> Poses:
    """All 17 joints of every detection, with confidences that depend on occlusion (not a visibility flag)."""
    m = len(det_boxes)
    has_src = src >= 0
    gt_kps = np.zeros((m, 17, 3))
    gt_present = np.zeros((m, 17), bool)
    gt_kps[has_src] = p.keypoints[src[has_src]]
    gt_present[has_src] = present[src[has_src]]
    fit = _fit_template(gt_kps, gt_present, det_boxes)
    h = np.maximum(det_boxes[:, 3], 1.0)[:, None, None]
    xy = np.where(gt_present[..., None], gt_kps[..., :2], fit)
    noise = rng.normal(0, 1, (m, 17, 2)) * np.where(gt_present, cfg.keypoint_noise, 2.5 * cfg.keypoint_noise)[..., None]
    xy = xy + noise * h
    person_occ = np.where(has_src, occ[np.maximum(src, 0)] if len(occ) else 0.0, 0.7)
    conf = np.where(
        gt_present,
        rng.normal(0.78 - 0.3 * person_occ[:, None], 0.15, (m, 17)),
        rng.normal(0.35, 0.15, (m, 17)),
    )
    conf[kinds >= 2] *= 0.6  # parts and false positives have weak joints
    conf = np.clip(conf, 0.02, 1.0)
    # joints pulled onto a nearby joint of another person
    if len(p) > 1 and cfg.pull_rate > 0:
        others = p.keypoints[..., :2]
        for d in np.flatnonzero(has_src):
            mask = present.copy()
            mask[src[d]] = False
            cand = others[mask]
            if not len(cand):
                continue
            dist = np.linalg.norm(xy[d][:, None] - cand[None], axis=-1)
            nearest = dist.argmin(1)
            close = dist[np.arange(17), nearest] < 0.08 * det_boxes[d, 3]
            pull = close & (rng.random(17) < cfg.pull_rate)
            xy[d, pull] = cand[nearest[pull]]
    # left/right flips that persist for a few frames
    for d in np.flatnonzero(has_src & (kinds == 0)):
        k = int(tids[src[d]])
        go = rng.random() < (0.5 if flipped.get(k, False) else cfg.flip_rate)
        if k >= 0:
            flipped[k] = go
        if go:
            xy[d] = xy[d, _FLIP]
            conf[d] = conf[d, _FLIP] * 0.9
    kps = np.concatenate([xy, np.ones((m, 17, 1))], axis=-1)
    return Poses.create(
        kps,
        keypoint_scores=conf,
        boxes=det_boxes,
        scores=scores,
        extras=[{"category_id": 1}] * m,
    )
