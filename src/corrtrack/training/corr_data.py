"""Self-supervised training pairs for the correspondence network, made from still images (docs/method.md §3.4).

A sample takes one still image and one person in it, letter-boxes the image into the
network's square canvas (image A, exactly as at inference), and makes image B by a random
affine warp ``T`` of A (rotation, isotropic scale, translation, about the person's centre)
followed by a colour change, an optional blur and an optional occluding rectangle. The
queries are the person's annotated joints in A (grid cells ``floor(p / 4)``); the target of
joint j is the grid cell ``round(T(p_j) / 4)`` in B. A joint is supervised by the affinity
loss only where it is annotated, lands inside B and is not covered by the occluder; the
refined-map loss also uses annotated joints whose target is occluded or outside B, with an
all-zero target there (so the confidence learns to drop).

Sources of stills (each ``get(index, rng) -> (image RGB uint8, keypoints (M, 17, 3))`` with the
persons that may be chosen):

* :class:`SynthStills`: SynthTrack stills rendered on the fly (``corrtrack.synth``).
* :class:`RecordStills`: persons of :class:`~corrtrack.training.pose_data.PersonRecords` read by
  :func:`~corrtrack.training.pose_data.load_records`: a PoseTrack 2018 or written SynthTrack
  folder, or a COCO keypoints file with its images.
* :func:`estimated_records`: any folder of unlabelled images (or video frames); the persons
  come from a :class:`~corrtrack.interfaces.PoseEstimator` (and an optional
  :class:`~corrtrack.interfaces.PersonDetector`; without one, the whole image is one box), so
  no labels are needed at all.

:class:`CorrPairDataset` implements the training loop's ``TrainDataset``: all randomness comes
from the ``rng`` the loop passes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from corrtrack.config import param
from corrtrack.errors import CorrtrackError
from corrtrack.inference.correspondences import STRIDE, letterbox_image, to_letterbox
from corrtrack.interfaces import PersonDetector, PoseEstimator
from corrtrack.training.pose_data import PersonRecords

__all__ = [
    "CorrPairDataset",
    "MixedPairs",
    "PairConfig",
    "RecordStills",
    "StillSource",
    "SynthStills",
    "VideoPairDataset",
    "VideoPersons",
    "estimated_records",
    "make_pair",
    "video_pair",
    "video_persons",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True)
class PairConfig:
    rotation: float = param(20.0, "our choice: largest rotation of T in degrees (uniform +-)")
    scale: float = param(1.25, "our choice: T scales by exp(U(-log s, log s))")
    translation: float = param(0.08, "our choice: largest shift of T as a fraction of the canvas side")
    colour: float = param(0.25, "our choice: strength of the brightness/contrast/per-channel gain change of B")
    blur_probability: float = param(0.3, "our choice: probability of a Gaussian blur of B")
    blur_sigma: float = param(1.5, "our choice: largest blur sigma in canvas pixels")
    occlusion_probability: float = param(0.4, "our choice: probability of an occluding rectangle in B")
    occlusion_size: float = param(0.4, "our choice: largest occluder side as a fraction of the person's size")
    min_joints: int = param(3, "our choice: persons with fewer annotated joints are not used as queries")

    def __post_init__(self) -> None:
        if self.rotation < 0 or self.scale < 1 or self.translation < 0 or self.colour < 0:
            raise ValueError("rotation, translation and colour must be >= 0 and scale >= 1")
        for name in ("blur_probability", "occlusion_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1]")
        if self.blur_sigma < 0 or not 0 <= self.occlusion_size <= 1 or self.min_joints < 1:
            raise ValueError("blur_sigma >= 0, occlusion_size in [0, 1] and min_joints >= 1 required")


class StillSource(Protocol):
    """Still images with persons: ``get(index, rng) -> (image, keypoints (M, 17, 3))``."""

    def __len__(self) -> int: ...

    def get(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]: ...

    def describe(self) -> str: ...


class SynthStills:
    """SynthTrack stills rendered on the fly; every index is a new scene (``SynthTrackSamples``)."""

    def __init__(
        self,
        length: int,
        seed: int = 1000,
        size: tuple[int, int] = (320, 180),
        presets: tuple[str, ...] = ("easy", "medium", "hard"),
    ) -> None:
        from corrtrack.synth.training_data import SynthTrackSamples

        self.samples = SynthTrackSamples(length, presets=presets, mode="still", size=size, seed=seed)
        self.seed, self.size, self.presets = seed, size, presets

    def __len__(self) -> int:
        return len(self.samples)

    def get(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        s = self.samples[index]
        return s["image"], np.asarray(s["keypoints"], dtype=np.float64)

    def describe(self) -> str:
        return (
            f"SynthTrack v2 stills rendered on the fly ({len(self)} scenes, seed {self.seed}, "
            f"{self.size[0]}x{self.size[1]}, presets {'/'.join(self.presets)})"
        )


class RecordStills:
    """One annotated person per index from :class:`PersonRecords` (images read from disk)."""

    def __init__(self, records: PersonRecords) -> None:
        if not len(records):
            raise CorrtrackError("no persons to make training pairs from")
        self.records = records
        #: reads a frame (path -> RGB uint8); None = decode the image file (see ``FrameShards.read``)
        self.reader: Callable[[str], np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.records)

    def get(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        r = self.records
        path = r.images[int(r.image_index[index])]
        kp = np.array(r.keypoints[index], dtype=np.float64)
        kp[~r.valid[index]] = 0.0
        kp[r.valid[index], 2] = 1.0
        if self.reader is not None:
            return self.reader(path), kp[None]
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise CorrtrackError(f"cannot read image {path}")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB), kp[None]

    def describe(self) -> str:
        return f"{self.records.source} ({len(self.records)} persons)"


def estimated_records(
    folder: str | Path,
    estimator: PoseEstimator,
    detector: PersonDetector | None = None,
    min_score: float = 0.3,
    min_joints: int = 5,
) -> PersonRecords:
    """Persons of a folder of unlabelled images, with joints from ``estimator`` (score >= ``min_score``).

    Boxes come from ``detector``, or the whole image is one box (single-person photos, crops).
    """
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise CorrtrackError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    images: list[str] = []
    index, kps, valid, boxes = [], [], [], []
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise CorrtrackError(f"cannot read image {path}")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if detector is not None:
            box = detector.detect([rgb])[0].boxes
        else:
            box = np.array([[0.0, 0.0, rgb.shape[1], rgb.shape[0]]])
        if not len(box):
            continue
        poses = estimator.estimate(rgb, np.asarray(box, dtype=np.float64))
        scores = np.asarray(poses.keypoint_scores, dtype=np.float64)
        ok = scores >= min_score
        keep = ok.sum(1) >= min_joints
        if not keep.any():
            continue
        index.append(np.full(int(keep.sum()), len(images)))
        images.append(str(path))
        kps.append(np.asarray(poses.keypoints, dtype=np.float64)[keep])
        valid.append(ok[keep])
        boxes.append(np.asarray(box, dtype=np.float64)[keep])
    if not index:
        raise CorrtrackError(f"{folder}: the pose estimator found no person with {min_joints} joints >= {min_score}")
    return PersonRecords(
        images,
        np.concatenate(index),
        np.concatenate(kps),
        np.concatenate(valid),
        np.concatenate(boxes),
        f"{folder} (unlabelled; joints estimated)",
    )


def _affine(centre: np.ndarray, angle_deg: float, scale: float, shift: np.ndarray) -> np.ndarray:
    """2x3 map: rotate by ``angle`` and scale about ``centre``, then shift."""
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle_deg, scale)
    m[:, 2] += shift
    return m


def make_pair(
    image: np.ndarray, keypoints: np.ndarray, size: int, cfg: PairConfig, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """One training pair from an RGB image and one person's keypoints ``(17, 3)`` (x, y, annotated flag).

    Returns ``image_a``/``image_b`` ``(S, S, 3)`` uint8, ``queries`` ``(17, 2)`` grid (x, y) of A (NaN if
    not annotated), ``target`` ``(17, 2)`` int64 grid cell in B, ``affinity_mask`` ``(17,)`` (target
    supervised by the affinity loss), ``refine_mask`` ``(17,)`` (query supervised by the refined-map
    loss), ``visible_b`` ``(17,)`` (the refined target is a peak, not all zero), and for evaluation
    ``points_a``/``points_b`` ``(17, 2)`` the exact canvas positions (NaN if not annotated) and ``scale`` of T.
    """
    grid = size // STRIDE
    canvas, lb = letterbox_image(image, size)
    kp = np.asarray(keypoints, dtype=np.float64)
    annotated = (kp[:, 2] > 0) & np.isfinite(kp[:, :2]).all(1)
    pa = to_letterbox(kp[:, :2], lb)
    qa = np.floor(pa / STRIDE)
    annotated &= (qa >= 0).all(1) & (qa <= grid - 1).all(1)
    centre = pa[annotated].mean(0) if annotated.any() else np.array([size / 2, size / 2])
    angle = rng.uniform(-cfg.rotation, cfg.rotation)
    scale = math.exp(rng.uniform(-math.log(cfg.scale), math.log(cfg.scale)))
    shift = rng.uniform(-cfg.translation, cfg.translation, 2) * size
    t = _affine(centre, angle, scale, shift)
    img_b = cv2.warpAffine(canvas, t, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    pb = pa @ t[:, :2].T + t[:, 2]
    # colour: contrast, brightness, per-channel gain
    c = cfg.colour
    f: np.ndarray = img_b.astype(np.float32)
    contrast = 1 + rng.uniform(-c, c)
    bright = rng.uniform(-c, c) * 128
    gain = 1 + rng.uniform(-c / 2, c / 2, 3)
    f = (f - 128) * contrast + 128 + bright
    f = f * gain
    if rng.random() < cfg.blur_probability and cfg.blur_sigma > 0:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.3, cfg.blur_sigma))
    occluded = np.zeros(17, bool)
    if rng.random() < cfg.occlusion_probability and annotated.any():
        ext = np.ptp(pb[annotated], axis=0).max() if annotated.sum() > 1 else size * 0.1
        side = np.maximum(rng.uniform(0.15, max(0.16, cfg.occlusion_size), 2) * max(ext, 8.0), 4.0)
        anchor = pb[annotated][rng.integers(int(annotated.sum()))]
        x0, y0 = anchor - side * rng.uniform(0.0, 1.0, 2)
        x1, y1 = x0 + side[0], y0 + side[1]
        colour = rng.uniform(0, 255, 3).astype(np.float32)
        xa, ya, xb, yb = (round(v) for v in (max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)))
        if xb > xa and yb > ya:
            noise = rng.normal(0, 20, (yb - ya, xb - xa, 3)).astype(np.float32)
            f[ya:yb, xa:xb] = colour + noise
            occluded = (pb[:, 0] >= x0) & (pb[:, 0] < x1) & (pb[:, 1] >= y0) & (pb[:, 1] < y1)
    img_b = np.clip(f, 0, 255).astype(np.uint8)
    target = np.round(pb / STRIDE)
    inside = (target >= 0).all(1) & (target <= grid - 1).all(1)
    target = np.clip(np.nan_to_num(target), 0, grid - 1).astype(np.int64)
    queries = np.where(annotated[:, None], qa, np.nan)
    visible_b = annotated & inside & ~occluded
    return {
        "image_a": canvas,
        "image_b": img_b,
        "queries": queries.astype(np.float32),
        "target": target,
        "affinity_mask": visible_b,
        "refine_mask": annotated,
        "visible_b": visible_b,
        "points_a": np.where(annotated[:, None], pa, np.nan).astype(np.float32),
        "points_b": np.where(annotated[:, None], pb, np.nan).astype(np.float32),
        "scale": np.float32(scale),
    }


class CorrPairDataset:
    """Training pairs (see :func:`make_pair`) from a :class:`StillSource`; one random eligible person per sample."""

    def __init__(self, source: StillSource, size: int, cfg: PairConfig | None = None, attempts: int = 8) -> None:
        self.source, self.size = source, size
        self.cfg = cfg if cfg is not None else PairConfig()
        self.attempts = attempts

    def __len__(self) -> int:
        return len(self.source)

    def get(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        n = len(self.source)
        for attempt in range(self.attempts):
            image, kps = self.source.get((index + attempt * 7919) % n, rng)
            kps = np.asarray(kps, dtype=np.float64).reshape(-1, 17, 3)
            counts = (kps[..., 2] > 0).sum(1)
            ok = np.flatnonzero(counts >= self.cfg.min_joints)
            if len(ok):
                person = int(ok[rng.integers(len(ok))])
                return make_pair(image, kps[person], self.size, self.cfg, rng)
        raise CorrtrackError(
            f"no person with {self.cfg.min_joints} annotated joints in {self.attempts} samples from index {index}"
        )


# ------------------------------------------------------------------------------- video pairs


@dataclass
class VideoPersons:
    """Every (sequence, frame, person) of a labelled video data set that can be a query, with the frames."""

    images: list[list[str]]  # per sequence: the frame image paths
    keypoints: list[np.ndarray]  # per sequence: (T, P, 17, 3) x, y, annotated flag (0 = hidden/absent)
    track_ids: list[np.ndarray]  # per sequence: (T, P), -1 for padding
    entries: np.ndarray  # (M, 3): sequence, frame, person slot
    source: str = ""

    def __len__(self) -> int:
        return len(self.entries)


def video_persons(root: str | Path, split: str = "train", min_joints: int = 3) -> VideoPersons:
    """The persons of a SynthTrack / PoseTrack 2018 folder whose every frame is labelled (SynthTrack's)."""
    from corrtrack.formats import load_sequence
    from corrtrack.training.pose_data import find_posetrack_annotations

    files, base = find_posetrack_annotations(root, split)
    images, kps, tids, entries = [], [], [], []
    for s, f in enumerate(files):
        seq = load_sequence(f)
        frames = seq.frames
        width = max([len(fr.poses) for fr in frames] + [1])
        k = np.zeros((len(frames), width, 17, 3))
        t = np.full((len(frames), width), -1, np.int64)
        for i, fr in enumerate(frames):
            n = len(fr.poses)
            if not n or fr.is_labeled is False:
                continue
            k[i, :n, :, :2] = fr.poses.keypoints[..., :2]
            k[i, :n, :, 2] = fr.poses.present
            t[i, :n] = fr.poses.track_ids
            for p in np.flatnonzero(fr.poses.present.sum(1) >= min_joints):
                entries.append((s, i, int(p)))
        images.append([str(base / fr.file_name) for fr in frames])
        kps.append(k)
        tids.append(t)
    if not entries:
        raise CorrtrackError(f"{root}: no person with {min_joints} annotated joints in annotations/{split}")
    return VideoPersons(images, kps, tids, np.asarray(entries, np.int64), f"{root} ({split}, video pairs)")


def video_pair(
    image_a: np.ndarray, image_b: np.ndarray, kp_a: np.ndarray, kp_b: np.ndarray | None, size: int
) -> dict[str, np.ndarray]:
    """A training pair from two frames of one video: queries are the person's annotated joints in A, targets
    the same person's joints in B. A joint hidden in B (not annotated: occluded, or the person absent) or
    outside B's canvas gets the explicit "no match" target (an all-zero refined map, no affinity loss)."""
    grid = size // STRIDE
    canvas_a, lb_a = letterbox_image(image_a, size)
    canvas_b, lb_b = letterbox_image(image_b, size)
    annotated = (kp_a[:, 2] > 0) & np.isfinite(kp_a[:, :2]).all(1)
    pa = to_letterbox(kp_a[:, :2], lb_a)
    qa = np.floor(pa / STRIDE)
    annotated &= (qa >= 0).all(1) & (qa <= grid - 1).all(1)
    if kp_b is None:
        pb = np.full((17, 2), np.nan)
        shown = np.zeros(17, bool)
    else:
        pb = to_letterbox(kp_b[:, :2], lb_b)
        shown = (kp_b[:, 2] > 0) & np.isfinite(kp_b[:, :2]).all(1)
    target = np.round(pb / STRIDE)
    inside = shown & (np.nan_to_num(target, nan=-1) >= 0).all(1) & (np.nan_to_num(target, nan=grid) <= grid - 1).all(1)
    visible_b = annotated & inside
    return {
        "image_a": canvas_a,
        "image_b": canvas_b,
        "queries": np.where(annotated[:, None], qa, np.nan).astype(np.float32),
        "target": np.clip(np.nan_to_num(target), 0, grid - 1).astype(np.int64),
        "affinity_mask": visible_b,
        "refine_mask": annotated,
        "visible_b": visible_b,
        "points_a": np.where(annotated[:, None], pa, np.nan).astype(np.float32),
        "points_b": np.where(visible_b[:, None], pb, np.nan).astype(np.float32),
        "scale": np.float32(1.0),
    }


class VideoPairDataset:
    """Pairs of frames ``1..max_gap`` apart of the same sequence with true correspondences (SynthTrack's
    ground truth) as targets; the gap and direction (forward or backward in time) come from the rng."""

    def __init__(self, persons: VideoPersons, size: int, max_gap: int = 8) -> None:
        if max_gap < 1:
            raise ValueError(f"max_gap must be >= 1, got {max_gap}")
        self.persons, self.size, self.max_gap = persons, size, max_gap
        #: reads a frame (path -> RGB uint8); None = decode the image file (see ``FrameShards.read``)
        self.reader: Callable[[str], np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.persons)

    def _read(self, path: str) -> np.ndarray:
        if self.reader is not None:
            return self.reader(path)
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise CorrtrackError(f"cannot read image {path}")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def get(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        v = self.persons
        s, t, p = (int(x) for x in v.entries[index])
        n = len(v.images[s])
        gap = int(rng.integers(1, self.max_gap + 1)) * (1 if rng.random() < 0.5 else -1)
        u = t + gap if 0 <= t + gap < n else t - gap
        u = int(np.clip(u, 0, n - 1))
        track = v.track_ids[s][t, p]
        slot = np.flatnonzero(v.track_ids[s][u] == track)
        kp_b = v.keypoints[s][u, slot[0]] if len(slot) else None
        pair = video_pair(self._read(v.images[s][t]), self._read(v.images[s][u]), v.keypoints[s][t, p], kp_b, self.size)
        pair["gap"] = np.array(abs(u - t), np.int64)
        return pair


class MixedPairs:
    """Still-image pairs and video pairs: each sample is a video pair with probability ``video_fraction``."""

    def __init__(self, stills: CorrPairDataset, video: VideoPairDataset, video_fraction: float) -> None:
        if not 0 <= video_fraction <= 1:
            raise ValueError(f"video_fraction must be in [0, 1], got {video_fraction}")
        self.stills, self.video, self.fraction = stills, video, video_fraction

    def __len__(self) -> int:
        return max(len(self.stills), len(self.video))

    def get(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        if rng.random() < self.fraction:
            sample = self.video.get(index % len(self.video), rng)
        else:
            sample = self.stills.get(index % len(self.stills), rng)
            sample["gap"] = np.array(0, np.int64)
        return sample
