"""Person descriptors for re-identification on real footage (beyond the paper, issue #23).

The tracker can match a lost track, and score a merge, by the cosine similarity of person
descriptors (``lost_track_motion=descriptor``, ``merge_descriptor_weight``); it asks its
correspondence model's ``describe(handle, points)``. The SynthTrack-trained correspondence
embedding does not know real people, so two describers read real frames instead, wrapped around
any correspondence model (DIS flow, zero motion, the network) by :class:`DescribedCorrespondences`:

* :class:`YoloFeatureDescriber`: YOLO11n-pose's own feature maps, the pose head's inputs at strides
  8, 16 and 32 (:class:`~corrtrack.inference.yolo.YoloFeatures`), already computed for the boxes, so
  no second network runs. Each joint reads each chosen level by bilinear interpolation at its
  position (cell centres at ``(j + 0.5) * stride``), L2-normalised per level; the levels are
  concatenated (each scaled by ``1 / sqrt(levels)``); the person's descriptor is the L2-normalised
  mean over its joints inside the frame.
* :class:`ColourDescriber`: hue-saturation histograms of the upper and lower half of the person's
  joint box (widened to at least ``min_aspect`` of its height), square-rooted (Hellinger) and
  concatenated: the classic appearance cue of person re-identification, no network at all.

A person without a usable joint gets zeros (similarity 0 to everyone). The probe of both on the
real videos is ``benchmarks/yolo_reid_probe.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from corrtrack.config import param
from corrtrack.errors import CorrtrackError
from corrtrack.inference.yolo import FEATURE_OUTPUTS, YoloFeatures

__all__ = [
    "LEVEL_NAMES",
    "ColourConfig",
    "ColourDescriber",
    "DescribedCorrespondences",
    "Describer",
    "YoloFeatureDescriber",
    "check_levels",
    "colour_descriptors",
    "person_descriptors",
    "sample_level",
]

#: the levels by name: p3 (stride 8), p4 (stride 16), p5 (stride 32)
LEVEL_NAMES: tuple[str, ...] = tuple(name.rsplit("_", 1)[1] for name in FEATURE_OUTPUTS)


class Describer(Protocol):
    """Reads one frame once (``prepare``), then describes persons by their joints in it."""

    def prepare(self, image: np.ndarray) -> Any: ...

    def describe(self, prepared: Any, points: np.ndarray) -> np.ndarray: ...


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)


def _check_points(points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[2] != 2:
        raise CorrtrackError(f"points must be (N, K, 2), got shape {pts.shape}")
    return pts


# ----------------------------------------------------------------------------- YOLO feature maps
def sample_level(feature_map: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Bilinear samples ``(..., C)`` of ``feature_map`` ``(C, h, w)`` at cell coordinates ``grid`` ``(..., 2)``.

    Positions are clamped to the map (border cells repeat); NaN positions give zeros.
    """
    c, h, w = feature_map.shape
    pts = np.asarray(grid, dtype=np.float64)
    ok: np.ndarray = np.asarray(np.isfinite(pts).all(-1))
    x = np.clip(np.nan_to_num(pts[..., 0]), 0, w - 1)
    y = np.clip(np.nan_to_num(pts[..., 1]), 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), max(w - 2, 0))
    y0 = np.minimum(np.floor(y).astype(np.int64), max(h - 2, 0))
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    flat = feature_map.reshape(c, h * w).T  # (h*w, C)
    top = flat[y0 * w + x0] * (1 - fx) + flat[y0 * w + x1] * fx
    bottom = flat[y1 * w + x0] * (1 - fx) + flat[y1 * w + x1] * fx
    out = top * (1 - fy) + bottom * fy
    return np.where(ok[..., None], out, 0.0)


def check_levels(levels: Sequence[str]) -> None:
    """One line unless ``levels`` is a non-empty selection of :data:`LEVEL_NAMES`."""
    if not levels or any(lv not in LEVEL_NAMES for lv in levels):
        raise CorrtrackError(f"feature levels must be some of {', '.join(LEVEL_NAMES)}, got {list(levels)}")


def person_descriptors(features: YoloFeatures, points: np.ndarray, levels: Sequence[str] = LEVEL_NAMES) -> np.ndarray:
    """``(N, D)`` descriptors of the persons whose joints are ``points`` ``(N, K, 2)`` (image pixels, NaN: absent).

    Joints outside the frame's letterboxed input count as absent; a person without a joint gets zeros.
    """
    pts = _check_points(points)
    check_levels(levels)
    parts = []
    present = np.isfinite(pts).all(-1)
    for name in levels:
        level = LEVEL_NAMES.index(name)
        fmap = features.maps[level]
        grid = features.grid_points(pts, level)
        _, h, w = fmap.shape
        inside = present & (grid[..., 0] >= -0.5) & (grid[..., 0] <= w - 0.5) & (grid[..., 1] >= -0.5)
        present = inside & (grid[..., 1] <= h - 0.5)
        parts.append(_unit(sample_level(fmap, np.where(present[..., None], grid, np.nan))))
    joints = np.concatenate(parts, axis=-1) / np.sqrt(len(levels))  # (N, K, D), unit rows
    joints = np.where(present[..., None], joints, 0.0)
    return _unit(joints.sum(axis=1))


class YoloFeatureDescriber:
    """:func:`person_descriptors` of the feature maps ``features_of(image)`` gives (the YOLO detector's
    :meth:`~corrtrack.inference.yolo.YoloPose.features_of`, or a cache)."""

    def __init__(self, features_of: Callable[[np.ndarray], YoloFeatures], levels: Sequence[str] = ("p4",)) -> None:
        check_levels(levels)
        self.features_of = features_of
        self.levels = tuple(levels)

    def prepare(self, image: np.ndarray) -> YoloFeatures:
        return self.features_of(image)

    def describe(self, prepared: YoloFeatures, points: np.ndarray) -> np.ndarray:
        return person_descriptors(prepared, points, self.levels)


# ----------------------------------------------------------------------------- colour histograms
@dataclass(frozen=True)
class ColourConfig:
    hue_bins: int = param(8, "our choice: hue bins of each half's histogram")
    saturation_bins: int = param(8, "our choice: saturation bins of each half's histogram")
    min_aspect: float = param(
        0.4, "our choice: the joint box is widened (about its centre) to at least this fraction of its height"
    )
    side_margin: float = param(0.1, "our choice: fraction of the box width left out on each side (background)")

    def __post_init__(self) -> None:
        if self.hue_bins < 1 or self.saturation_bins < 1:
            raise ValueError("hue_bins and saturation_bins must be >= 1")
        if not 0 < self.min_aspect <= 4 or not 0 <= self.side_margin < 0.5:
            raise ValueError("min_aspect must be in (0, 4] and side_margin in [0, 0.5)")


def colour_descriptors(hsv: np.ndarray, points: np.ndarray, config: ColourConfig = ColourConfig()) -> np.ndarray:
    """``(N, 2 x hue_bins x saturation_bins)`` colour descriptors of the persons with joints ``points`` in the
    HSV image ``hsv`` (OpenCV's 8-bit ranges: hue 0-179); zeros for a person with fewer than two joints or a
    box of less than 2 x 2 pixels inside the frame."""
    pts = _check_points(points)
    h, w = hsv.shape[:2]
    size = 2 * config.hue_bins * config.saturation_bins
    out = np.zeros((len(pts), size))
    for i, person in enumerate(pts):
        ok = np.isfinite(person).all(-1)
        if ok.sum() < 2:
            continue
        (x0, y0), (x1, y1) = person[ok].min(0), person[ok].max(0)
        half = max(x1 - x0, config.min_aspect * (y1 - y0)) / 2 * (1 - 2 * config.side_margin)
        cx = (x0 + x1) / 2
        left, right = int(max(np.floor(cx - half), 0)), int(min(np.ceil(cx + half), w))
        top, bottom = int(max(np.floor(y0), 0)), int(min(np.ceil(y1), h))
        if right - left < 2 or bottom - top < 2:
            continue
        mid = (top + bottom) // 2
        hists = []
        for part in (hsv[top:mid, left:right], hsv[mid:bottom, left:right]):
            hist = cv2.calcHist(
                [np.ascontiguousarray(part)],
                [0, 1],
                None,
                [config.hue_bins, config.saturation_bins],
                [0, 180, 0, 256],
            ).ravel()
            hists.append(np.sqrt(hist / max(float(hist.sum()), 1.0)))
        out[i] = np.concatenate(hists)
    return _unit(out)


class ColourDescriber:
    """:func:`colour_descriptors` of RGB frames."""

    def __init__(self, config: ColourConfig = ColourConfig()) -> None:
        self.config = config

    def prepare(self, image: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)

    def describe(self, prepared: np.ndarray, points: np.ndarray) -> np.ndarray:
        return colour_descriptors(prepared, points, self.config)


# ----------------------------------------------------------------------------- the wrapper
class DescribedCorrespondences:
    """A correspondence model plus person descriptors: ``embed`` keeps the describer's view of the frame beside
    the base model's handle, ``propagate`` is the base model's, ``describe`` the describer's."""

    def __init__(self, base: Any, describer: Describer) -> None:
        self.base = base
        self.describer = describer

    @property
    def grid_size(self) -> int | None:
        """The base model's correspondence grid (None for models without one)."""
        return getattr(self.base, "grid_size", None)

    def embed(self, image: np.ndarray) -> tuple[Any, Any]:
        return self.base.embed(image), self.describer.prepare(image)

    def propagate(self, src: tuple[Any, Any], dst: tuple[Any, Any], points: np.ndarray) -> np.ndarray:
        result: np.ndarray = self.base.propagate(src[0], dst[0], points)
        return result

    def describe(self, handle: tuple[Any, Any], points: np.ndarray) -> np.ndarray:
        return self.describer.describe(handle[1], points)
