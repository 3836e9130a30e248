"""The trained person detector (CenterNet-style) as a :class:`~corrtrack.interfaces.PersonDetector`.

``CenterNetDetector.detect(frames)`` letterboxes a batch of RGB frames (any sizes) into the
network input (aspect kept, image at the top-left, grey padding), runs the network once for the
batch, decodes peaks of the centre heatmap (3x3 max-pool NMS, top-k), maps the boxes back to
each frame's pixels, clips them to the frame, and applies the post-processing every detector
gets (:func:`~corrtrack.inference.file_detections.filter_detections`: score threshold, box NMS).

The network is fully convolutional, so ``input_size`` may differ from the training input: real
footage with small people (PETS09: 53-153 px in 576 rows) is better served by a larger input.

Weights: :meth:`CenterNetDetector.from_bundled` loads the tiny weights shipped in the package
(``corrtrack/data/detector_tiny.pt``, trained only on SynthTrack v2; see ``detector_tiny.json``);
:meth:`CenterNetDetector.from_checkpoint` loads a ``train detector`` output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from corrtrack.config import param
from corrtrack.errors import CorrtrackError
from corrtrack.inference.file_detections import DetectionFilter, FilteredDetector
from corrtrack.models.backbone import resolve_device
from corrtrack.models.detector_net import (
    PAD_VALUE,
    DetectorNet,
    decode_detections,
    letterbox_scale,
    load_detector_weights,
    normalise_images,
)
from corrtrack.poses import Poses

__all__ = ["BUNDLED_DETECTOR", "CenterNetDetector", "DetectorConfig", "letterbox_batch"]

#: the bundled tiny weights (package data)
BUNDLED_DETECTOR = "detector_tiny.pt"


@dataclass(frozen=True)
class DetectorConfig:
    """How frames are fed to the network and its peaks read (the post-processing is a DetectionFilter)."""

    input_width: int | None = param(None, "our choice: network input width (None = the training width)")
    input_height: int | None = param(None, "our choice: network input height (None = the training height)")
    top_k: int = param(100, "CenterNet (Zhou et al. 2019): at most 100 peaks per image")
    batch_size: int = param(8, "our choice: frames per network call")

    def __post_init__(self) -> None:
        for name in ("input_width", "input_height"):
            v = getattr(self, name)
            if v is not None and (v < 32 or v % 32):
                raise ValueError(f"{name} must be a multiple of 32 (>= 32), got {v}")
        if self.top_k < 1 or self.batch_size < 1:
            raise ValueError("top_k and batch_size must be >= 1")


def letterbox_batch(
    frames: Sequence[np.ndarray], width: int, height: int
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Frames resized into ``(B, height, width, 3)`` uint8 (top-left, grey padding); the scale and size of each."""
    import cv2

    out = np.full((len(frames), height, width, 3), PAD_VALUE, np.uint8)
    scales = np.zeros(len(frames))
    sizes: list[tuple[int, int]] = []
    for i, frame in enumerate(frames):
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            desc = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise CorrtrackError(f"frame {i}: expected an (H, W, 3) uint8 RGB image, got {desc}")
        h, w = frame.shape[:2]
        s = letterbox_scale(w, h, width, height)
        nw, nh = max(1, min(width, round(w * s))), max(1, min(height, round(h * s)))
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        out[i, :nh, :nw] = cv2.resize(frame, (nw, nh), interpolation=interp)
        scales[i] = s
        sizes.append((w, h))
    return out, scales, sizes


class CenterNetDetector(FilteredDetector):
    """Person boxes from the CenterNet-style :class:`~corrtrack.models.detector_net.DetectorNet`."""

    def __init__(
        self,
        model: DetectorNet,
        config: DetectorConfig = DetectorConfig(),
        post: DetectionFilter = DetectionFilter(),
        device: str | torch.device = "cpu",
    ) -> None:
        self.device = resolve_device(device)  # an unknown or unavailable device: one clear error, at once
        self.model = model.to(self.device).eval()
        self.config = config
        self.post = post
        self.input_width = config.input_width or model.cfg.input_width
        self.input_height = config.input_height or model.cfg.input_height
        #: seconds per frame of the last ``detect`` call (letterbox + network + decoding + filtering)
        self.last_time_per_frame = float("nan")
        self.frames_seen = 0
        self.time_total = 0.0

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        config: DetectorConfig = DetectorConfig(),
        post: DetectionFilter = DetectionFilter(),
        device: str | torch.device = "cpu",
        *,
        trusted: bool = False,
    ) -> CenterNetDetector:
        """From a weights file (``detector.pt``, the bundled file) or, with ``trusted=True``, a ``checkpoint.pt``."""
        model, _ = load_detector_weights(path, trusted=trusted)
        return cls(model, config, post, device)

    @classmethod
    def from_bundled(
        cls,
        config: DetectorConfig = DetectorConfig(),
        post: DetectionFilter = DetectionFilter(),
        device: str | torch.device = "cpu",
    ) -> CenterNetDetector:
        """The tiny weights that ship with corrtrack (trained on SynthTrack v2 only)."""
        ref = resources.files("corrtrack") / "data" / BUNDLED_DETECTOR
        with resources.as_file(ref) as path:
            if not Path(path).is_file():
                raise CorrtrackError(f"the bundled detector weights {BUNDLED_DETECTOR} are missing from the package")
            return cls.from_checkpoint(path, config, post, device)

    @torch.no_grad()
    def detect_raw(self, frames: Sequence[np.ndarray]) -> list[Poses]:
        """Decoded peaks (top-k per frame) before the DetectionFilter: for AP, which needs every score."""
        results: list[Poses] = []
        step = self.config.batch_size
        for start in range(0, len(frames), step):
            chunk = frames[start : start + step]
            batch, scales, sizes = letterbox_batch(chunk, self.input_width, self.input_height)
            images = normalise_images(torch.from_numpy(batch).to(self.device))
            boxes, scores, _ = decode_detections(self.model(images), self.model.cfg.stride, self.config.top_k)
            boxes_np = boxes.cpu().numpy().astype(np.float64)
            scores_np = scores.cpu().numpy().astype(np.float64)
            for i, (w, h) in enumerate(sizes):
                results.append(_to_poses(boxes_np[i] / scales[i], scores_np[i], w, h))
        return results


def _to_poses(boxes: np.ndarray, scores: np.ndarray, width: int, height: int) -> Poses:
    """Boxes clipped to the frame (empty ones dropped), best score first, as box-only ``Poses``."""
    x0 = np.clip(boxes[:, 0], 0, width)
    y0 = np.clip(boxes[:, 1], 0, height)
    x1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, width)
    y1 = np.clip(boxes[:, 1] + boxes[:, 3], 0, height)
    clipped = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
    keep = (clipped[:, 2] > 0) & (clipped[:, 3] > 0)
    clipped, s = clipped[keep], scores[keep]
    order = np.argsort(-s, kind="stable")
    n = len(order)
    return Poses.create(
        np.zeros((n, 17, 3)), boxes=clipped[order], scores=s[order], has_keypoints=np.zeros(n, dtype=bool)
    )
