"""Heatmap + offset targets and their decoding (supplement §A, Eq. 1; docs/method.md §2.3, §2.4).

The pose network predicts, at stride 4 of its input crop, ``K`` heatmap logits followed by
``K`` x offsets and ``K`` y offsets (offsets in input pixels). A keypoint is read as

    (x, y) = (4 * cx + dx[cy, cx], 4 * cy + dy[cy, cx])      (Eq. 1)

at the arg-max cell ``(cx, cy)`` of its heatmap.

Targets (G-RMI style, Papandreou et al. 2017, as method.md §2.4 recommends): the heatmap
target of a joint is a binary disk of radius ``radius`` *input* pixels around the joint,
measured from the cell positions ``4 * (cx, cy)``; the offset targets inside the disk are
``joint - 4 * cell``. The cell nearest to the joint is always inside the disk, so even a
tiny radius gives every annotated joint inside the grid a positive cell.

Everything is batched over persons and joints with torch ops; there is no Python loop
per person or per joint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from corrtrack.config import param
from corrtrack.keypoints import POSETRACK18

__all__ = [
    "CodecConfig",
    "PoseTargets",
    "decode",
    "decode_with_flip",
    "encode",
    "flip_back_heatmaps",
    "split_output",
]


@dataclass(frozen=True)
class CodecConfig:
    """How joints become network targets and back."""

    stride: int = param(4, "supplement §A: heatmaps at 1/4 of the input resolution")
    radius: float = param(
        25.0, "docs/method.md §2.4 proposal: disk radius about 25 px at a 384x288 input (scale it with the input)"
    )

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {self.stride}")
        if not self.radius > 0:
            raise ValueError(f"radius must be > 0, got {self.radius}")


@dataclass
class PoseTargets:
    """Training targets for a batch of crops.

    ``heatmaps`` (N, K, h, w) in {0, 1}; ``offsets`` (N, 2K, h, w): x offsets of the K joints
    then y offsets, in input pixels, 0 outside the disks; ``disk`` (N, K, h, w) bool, where the
    offsets are supervised; ``joint_weights`` (N, K) float, 1 for annotated joints and 0 for
    joints the loss must ignore (unannotated, such as PoseTrack's ears).
    """

    heatmaps: torch.Tensor
    offsets: torch.Tensor
    disk: torch.Tensor
    joint_weights: torch.Tensor

    def to(self, device: torch.device | str) -> PoseTargets:
        return PoseTargets(*(t.to(device) for t in (self.heatmaps, self.offsets, self.disk, self.joint_weights)))


def _grid(h: int, w: int, stride: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    ys = torch.arange(h, device=device, dtype=dtype) * stride
    xs = torch.arange(w, device=device, dtype=dtype) * stride
    return xs, ys


def encode(
    keypoints: torch.Tensor | np.ndarray,
    valid: torch.Tensor | np.ndarray,
    grid_size: tuple[int, int],
    config: CodecConfig = CodecConfig(),
) -> PoseTargets:
    """Targets for ``keypoints`` (N, K, 2) in input-crop pixels; ``valid`` (N, K) marks annotated joints.

    ``grid_size`` is the output grid ``(h, w)`` (the input size divided by the stride).
    Joints that are not valid, or whose coordinates are not finite, get weight 0 and no target.
    A valid joint outside the crop keeps weight 1 with an all-zero heatmap (the network must
    not fire there) and offsets only where its disk reaches into the grid.
    """
    kp = torch.as_tensor(keypoints, dtype=torch.float32)
    ok = torch.as_tensor(valid).to(torch.bool)
    if kp.ndim != 3 or kp.shape[-1] != 2:
        raise ValueError(f"keypoints must be (N, K, 2), got {tuple(kp.shape)}")
    if ok.shape != kp.shape[:2]:
        raise ValueError(f"valid must be {tuple(kp.shape[:2])}, got {tuple(ok.shape)}")
    h, w = grid_size
    ok = ok & torch.isfinite(kp).all(-1)
    kp = torch.where(ok[..., None], kp, torch.zeros_like(kp))
    xs, ys = _grid(h, w, config.stride, kp.device, kp.dtype)
    dx = kp[..., 0, None, None] - xs[None, None, None, :]  # (N, K, 1, w)
    dy = kp[..., 1, None, None] - ys[None, None, :, None]  # (N, K, h, 1)
    dist2 = dx**2 + dy**2  # (N, K, h, w)
    # the nearest cell of a joint inside the grid is always positive (for radii below half a cell diagonal)
    cx = torch.round(kp[..., 0] / config.stride)
    cy = torch.round(kp[..., 1] / config.stride)
    inside = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
    nearest = (dist2 <= dist2.flatten(2).amin(-1)[..., None, None]) & inside[..., None, None]
    disk = ((dist2 <= config.radius**2) | nearest) & ok[..., None, None]
    heat = disk.to(torch.float32)
    offsets = torch.cat([dx.expand_as(heat) * heat, dy.expand_as(heat) * heat], dim=1)
    return PoseTargets(heat, offsets, disk, ok.to(torch.float32))


def split_output(output: torch.Tensor, num_joints: int = POSETRACK18.num_joints) -> tuple[torch.Tensor, ...]:
    """``(heatmap logits, x offsets, y offsets)``, each (N, K, h, w), of one stage output (N, 3K, h, w)."""
    if output.ndim != 4 or output.shape[1] != 3 * num_joints:
        raise ValueError(f"a stage output must be (N, {3 * num_joints}, h, w), got {tuple(output.shape)}")
    k = num_joints
    return output[:, :k], output[:, k : 2 * k], output[:, 2 * k :]


def flip_back_heatmaps(heatmaps: torch.Tensor, flip_permutation: np.ndarray | None = None) -> torch.Tensor:
    """Mirror (N, K, h, w) maps of a horizontally flipped crop back and swap left/right channels."""
    perm = POSETRACK18.flip_permutation if flip_permutation is None else flip_permutation
    index = torch.as_tensor(np.asarray(perm), dtype=torch.long, device=heatmaps.device)
    return heatmaps.flip(-1).index_select(1, index)


def decode(
    probabilities: torch.Tensor,
    x_offsets: torch.Tensor,
    y_offsets: torch.Tensor,
    *,
    stride: int = 4,
    use_offsets: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 1 for every person and joint at once.

    ``probabilities`` (N, K, h, w) are heatmap scores (sigmoids, possibly flip-averaged),
    ``x_offsets``/``y_offsets`` (N, K, h, w) in input pixels. Returns keypoints (N, K, 2) in
    input-crop pixels and scores (N, K): the heatmap value at the arg-max cell. With
    ``use_offsets=False`` the keypoint is the cell position ``stride * cell`` alone.
    """
    n, k, h, w = probabilities.shape
    flat = probabilities.reshape(n, k, h * w)
    scores, index = flat.max(-1)
    cy = torch.div(index, w, rounding_mode="floor")
    cx = index - cy * w
    xy = torch.stack([cx, cy], -1).to(probabilities.dtype) * stride
    if use_offsets:
        gather = index[..., None]
        dx = x_offsets.reshape(n, k, h * w).gather(-1, gather)[..., 0]
        dy = y_offsets.reshape(n, k, h * w).gather(-1, gather)[..., 0]
        xy = xy + torch.stack([dx, dy], -1).to(xy.dtype)
    return xy, scores


def decode_with_flip(
    output: torch.Tensor,
    flipped_output: torch.Tensor | None = None,
    *,
    stride: int = 4,
    use_offsets: bool = True,
    flip_permutation: np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keypoints (N, K, 2) in crop pixels and joint scores (N, K) from one stage output.

    With ``flipped_output`` (the same network stage on the horizontally mirrored crops) the
    heatmap is the mean of the sigmoid and the flipped-back sigmoid of the mirrored crop,
    so the joint score is the mean of the two sigmoid peaks (method.md §2.3; the reference
    sums them and halves the peak). Offsets are always read from the non-flipped output.
    """
    k = output.shape[1] // 3
    logits, ox, oy = split_output(output, k)
    prob = torch.sigmoid(logits)
    if flipped_output is not None:
        if flipped_output.shape != output.shape:
            raise ValueError(f"flipped output {tuple(flipped_output.shape)} != output {tuple(output.shape)}")
        flipped = torch.sigmoid(split_output(flipped_output, k)[0])
        prob = 0.5 * (prob + flip_back_heatmaps(flipped, flip_permutation))
    return decode(prob, ox, oy, stride=stride, use_offsets=use_offsets)
