"""Training data for the person detector: boxes and ignore regions of SynthTrack / PoseTrack-style folders.

:func:`box_records` reads every labelled frame of ``annotations/<split>/*.json`` (the layout
``corrtrack synth`` writes): the image path, the person boxes ``[x, y, w, h]`` and the ignore-region
polygons (bystanders and people too small or too hidden to be annotated).

:class:`DetectorDataset` implements :class:`corrtrack.training.loop.TrainDataset`. A sample is the
frame letterboxed into the network input (top-left, grey padding) after a random zoom (also out,
so people get smaller than in the frame, as in real surveillance footage), a random shift, a
horizontal flip and colour jitter, and its CenterNet targets at stride 4:

* ``heatmap`` (1, h, w): an elliptical Gaussian per box centre (sigma a fraction of the box's
  width and height), the maximum where they overlap;
* ``weight`` (1, h, w): 0 inside ignore regions and inside boxes that were cut away by the crop or
  got too small (they are neither positives nor negatives), 1 elsewhere;
* ``centres`` (M,) the flat cell index of each box centre, ``size`` (M, 2) ``log(w/4), log(h/4)``,
  ``offset`` (M, 2) the centre's position inside its cell, ``mask`` (M,) 1 for real entries
  (at most ``max_objects``; the rest is padding).

All randomness comes from the ``rng`` the loop passes, so samples are reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corrtrack.config import param
from corrtrack.errors import CorrtrackError
from corrtrack.models.detector_net import DETECTOR_MEAN, DETECTOR_STD, PAD_VALUE, letterbox_scale
from corrtrack.training.pose_data import find_posetrack_annotations
from corrtrack.video import read_image

__all__ = ["BoxRecords", "DetectorAugmentConfig", "DetectorDataset", "box_records", "encode_targets"]


@dataclass
class BoxRecords:
    """Labelled frames: image paths, person boxes (n_i, 4) and ignore polygons (each (m, 2)) per frame."""

    images: list[str]
    boxes: list[np.ndarray]
    ignore: list[list[np.ndarray]]
    source: str = ""

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_boxes(self) -> int:
        return int(sum(len(b) for b in self.boxes))


def box_records(root: str | Path, split: str = "train") -> BoxRecords:
    """Labelled frames of a SynthTrack / PoseTrack 2018 folder (``annotations/<split>/*.json`` + images)."""
    from corrtrack.formats import load_sequence

    files, base = find_posetrack_annotations(root, split)
    images: list[str] = []
    boxes: list[np.ndarray] = []
    ignore: list[list[np.ndarray]] = []
    for f in files:
        seq = load_sequence(f)
        for frame in seq.frames:
            if frame.is_labeled is False or not frame.file_name:
                continue
            b = frame.poses.box_or_keypoint_box()
            b = b[np.isfinite(b).all(axis=1) & (b[:, 2] > 0) & (b[:, 3] > 0)] if len(b) else np.zeros((0, 4))
            images.append(str(base / frame.file_name))
            boxes.append(np.asarray(b, dtype=np.float64).reshape(-1, 4))
            ignore.append([np.asarray(r, dtype=np.float64).reshape(-1, 2) for r in (frame.ignore_regions or [])])
    if not images:
        raise CorrtrackError(f"{root}: no labelled frames in annotations/{split}")
    return BoxRecords(images, boxes, ignore, f"{root} ({split})")


@dataclass(frozen=True)
class DetectorAugmentConfig:
    zoom_range: tuple[float, float] = param(
        (0.45, 1.35), "our choice: zoom relative to the letterbox fit (below 1 shrinks people, as in real footage)"
    )
    flip: float = param(0.5, "our choice: horizontal flip probability")
    brightness: float = param(0.3, "our choice: brightness jitter (fraction)")
    contrast: float = param(0.3, "our choice: contrast jitter (fraction)")
    saturation: float = param(0.4, "our choice: saturation jitter (fraction)")
    grayscale: float = param(0.1, "our choice: probability of a grey image")
    min_kept_fraction: float = param(
        0.4, "our choice: a box cut by the crop to less than this fraction of its area is ignored, not a target"
    )
    min_box_pixels: float = param(4.0, "our choice: boxes shorter than this (input pixels) are ignored")
    sigma_fraction: float = param(0.1, "our choice: Gaussian sigma as a fraction of the box's width / height")
    min_sigma: float = param(0.7, "our choice: smallest Gaussian sigma in output cells")
    max_objects: int = param(64, "our choice: most boxes per sample (padding to a fixed size)")

    def __post_init__(self) -> None:
        lo, hi = self.zoom_range
        if not 0 < lo <= hi:
            raise ValueError(f"zoom_range must satisfy 0 < low <= high, got {self.zoom_range}")
        if not 0 <= self.flip <= 1 or not 0 <= self.grayscale <= 1 or self.max_objects < 1:
            raise ValueError("flip and grayscale must be probabilities; max_objects >= 1")


def encode_targets(
    boxes: np.ndarray,
    ignore_boxes: np.ndarray,
    ignore_polygons: list[np.ndarray],
    grid: tuple[int, int],
    stride: int,
    config: DetectorAugmentConfig,
) -> dict[str, np.ndarray]:
    """CenterNet targets for ``boxes`` (n, 4) in input pixels on a ``grid`` = (h, w) at ``stride``."""
    gh, gw = grid
    m = config.max_objects
    boxes = boxes[:m]
    heat = np.zeros((gh, gw), np.float32)
    weight = np.ones((gh, gw), np.float32)
    centres = np.zeros(m, np.int64)
    size = np.zeros((m, 2), np.float32)
    offset = np.zeros((m, 2), np.float32)
    mask = np.zeros(m, np.float32)
    if len(boxes):
        cx = (boxes[:, 0] + boxes[:, 2] / 2) / stride
        cy = (boxes[:, 1] + boxes[:, 3] / 2) / stride
        ix = np.clip(np.floor(cx), 0, gw - 1).astype(np.int64)
        iy = np.clip(np.floor(cy), 0, gh - 1).astype(np.int64)
        sx = np.maximum(config.min_sigma, config.sigma_fraction * boxes[:, 2] / stride)
        sy = np.maximum(config.min_sigma, config.sigma_fraction * boxes[:, 3] / stride)
        xs = np.arange(gw, dtype=np.float64)
        ys = np.arange(gh, dtype=np.float64)
        gx = np.exp(-((xs[None, :] - ix[:, None]) ** 2) / (2 * sx[:, None] ** 2))
        gy = np.exp(-((ys[None, :] - iy[:, None]) ** 2) / (2 * sy[:, None] ** 2))
        heat = np.max(gy[:, :, None] * gx[:, None, :], axis=0).astype(np.float32)
        heat[iy, ix] = 1.0
        n = len(boxes)
        centres[:n] = iy * gw + ix
        size[:n, 0] = np.log(np.maximum(boxes[:, 2], 1.0) / stride)
        size[:n, 1] = np.log(np.maximum(boxes[:, 3], 1.0) / stride)
        offset[:n, 0] = cx - ix
        offset[:n, 1] = cy - iy
        mask[:n] = 1.0
    if len(ignore_boxes) or ignore_polygons:
        import cv2

        zero = np.ones((gh, gw), np.uint8)
        for b in np.asarray(ignore_boxes).reshape(-1, 4):
            x0, y0 = math.floor(b[0] / stride), math.floor(b[1] / stride)
            x1, y1 = math.ceil((b[0] + b[2]) / stride), math.ceil((b[1] + b[3]) / stride)
            zero[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = 0
        polys = [np.round(p / stride).astype(np.int32).reshape(-1, 1, 2) for p in ignore_polygons if len(p) >= 3]
        if polys:
            cv2.fillPoly(zero, polys, 0)
        weight = np.where(zero == 0, 0.0, weight).astype(np.float32)
    weight = np.maximum(weight, (heat >= 1.0).astype(np.float32))
    return {
        "heatmap": heat[None],
        "weight": weight[None],
        "centres": centres,
        "size": size,
        "offset": offset,
        "mask": mask,
    }


class DetectorDataset:
    """Augmented letterboxed frames with CenterNet targets (see the module docstring)."""

    def __init__(
        self,
        records: BoxRecords,
        input_size: tuple[int, int],
        augment: DetectorAugmentConfig = DetectorAugmentConfig(),
        stride: int = 4,
        train: bool = True,
    ) -> None:
        self.records = records
        self.width, self.height = input_size
        if self.width % stride or self.height % stride:
            raise ValueError(f"input size {input_size} is not a multiple of the stride {stride}")
        self.augment = augment
        self.stride = stride
        self.train = train
        self._mean = np.array(DETECTOR_MEAN, np.float32) * 255.0
        self._std = np.array(DETECTOR_STD, np.float32) * 255.0
        #: reads a frame (path -> RGB uint8); None = decode the image file (see ``FrameShards.read``)
        self.reader: Callable[[str], np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.records)

    def get(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        import cv2

        cfg = self.augment
        path = self.records.images[index]
        image = self.reader(path) if self.reader is not None else read_image(path)
        h0, w0 = image.shape[:2]
        s = letterbox_scale(w0, h0, self.width, self.height)
        tx = ty = 0.0
        flip = False
        if self.train:
            lo, hi = cfg.zoom_range
            s *= math.exp(rng.uniform(math.log(lo), math.log(hi)))
            free_x, free_y = self.width - s * w0, self.height - s * h0
            tx = rng.uniform(min(0.0, free_x), max(0.0, free_x))
            ty = rng.uniform(min(0.0, free_y), max(0.0, free_y))
            flip = bool(rng.random() < cfg.flip)
        a = np.array([[s, 0.0, tx], [0.0, s, ty]])
        if flip:
            a = np.array([[-1.0, 0.0, self.width], [0.0, 1.0, 0.0]]) @ np.vstack([a, [0, 0, 1]])
        out = cv2.warpAffine(
            image, a, (self.width, self.height), flags=cv2.INTER_LINEAR, borderValue=(PAD_VALUE,) * 3
        ).astype(np.float32)
        if self.train:
            out = self._colour(out, rng)
        boxes, ignore_boxes = self._boxes(self.records.boxes[index], a)
        polys = [p @ a[:, :2].T + a[:, 2] for p in self.records.ignore[index]]
        grid = (self.height // self.stride, self.width // self.stride)
        targets = encode_targets(boxes, ignore_boxes, polys, grid, self.stride, cfg)
        img = ((out - self._mean) / self._std).transpose(2, 0, 1)
        return {"image": np.ascontiguousarray(img, dtype=np.float32), **targets}

    def _boxes(self, boxes: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes mapped by the affine ``a`` and clipped: (kept targets, ignored boxes)."""
        if len(boxes) == 0:
            return np.zeros((0, 4)), np.zeros((0, 4))
        x = np.stack([boxes[:, 0], boxes[:, 0] + boxes[:, 2]], 1) * a[0, 0] + a[0, 2]
        y = np.stack([boxes[:, 1], boxes[:, 1] + boxes[:, 3]], 1) * a[1, 1] + a[1, 2]
        x0, x1 = x.min(1), x.max(1)
        y0, y1 = y.min(1), y.max(1)
        full = (x1 - x0) * (y1 - y0)
        cx0, cx1 = np.clip(x0, 0, self.width), np.clip(x1, 0, self.width)
        cy0, cy1 = np.clip(y0, 0, self.height), np.clip(y1, 0, self.height)
        kept = (cx1 - cx0) * (cy1 - cy0)
        out = np.stack([cx0, cy0, cx1 - cx0, cy1 - cy0], 1)
        visible = kept > 0
        good = visible & (kept >= self.augment.min_kept_fraction * np.maximum(full, 1e-9))
        good &= out[:, 3] >= self.augment.min_box_pixels
        return out[good], out[visible & ~good]

    def _colour(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cfg = self.augment
        grey = image @ np.array([0.299, 0.587, 0.114], np.float32)
        if rng.random() < cfg.grayscale:
            image = np.repeat(grey[:, :, None], 3, axis=2)
        else:
            sat = 1 + rng.uniform(-cfg.saturation, cfg.saturation)
            image = grey[:, :, None] + sat * (image - grey[:, :, None])
        contrast = 1 + rng.uniform(-cfg.contrast, cfg.contrast)
        brightness = 1 + rng.uniform(-cfg.brightness, cfg.brightness)
        mean = float(grey.mean())
        image = (image - mean) * contrast + mean * brightness
        return np.clip(image, 0, 255)
