"""Losses of the pose network (supplement §A: "L1 loss ... for the joint offset maps and ... binary
cross entropy loss for the pose heatmaps"; docs/method.md §2.4).

* Heatmaps: sigmoid binary cross-entropy against the binary disk targets, averaged over the
  cells of every *annotated* joint (unannotated joints, such as PoseTrack's ears, have weight 0).
* Offsets: L1 between predicted and target offsets, only inside the disks of annotated joints,
  averaged over those cells; the difference is divided by the disk radius so that both terms
  are of order one (offsets are up to ``radius`` pixels long).
* Every stage of the network is supervised with the same targets (intermediate supervision);
  the total is the sum over stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from corrtrack.config import param
from corrtrack.models.heatmap_codec import PoseTargets, split_output

__all__ = ["PoseLossConfig", "pose_loss", "stage_loss"]


@dataclass(frozen=True)
class PoseLossConfig:
    offset_weight: float = param(1.0, "docs/method.md §2.4 proposal: offset loss weight about 1 relative to the BCE")
    positive_weight: float = param(
        1.0, "our choice: weight of positive heatmap cells in the BCE (1 = plain BCE as in the supplement)"
    )
    offset_scale: float = param(25.0, "our choice: offsets are divided by this (the disk radius) inside the L1")

    def __post_init__(self) -> None:
        if self.offset_weight < 0 or self.positive_weight <= 0 or self.offset_scale <= 0:
            raise ValueError("offset_weight must be >= 0, positive_weight and offset_scale > 0")


def stage_loss(
    output: torch.Tensor, targets: PoseTargets, config: PoseLossConfig = PoseLossConfig()
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(heatmap BCE, offset L1)`` of one stage output (N, 3K, h, w)."""
    k = targets.heatmaps.shape[1]
    logits, ox, oy = split_output(output, k)
    if logits.shape != targets.heatmaps.shape:
        raise ValueError(f"output heatmaps {tuple(logits.shape)} do not match targets {tuple(targets.heatmaps.shape)}")
    jw = targets.joint_weights[..., None, None].to(logits.dtype)  # (N, K, 1, 1)
    pos_weight = None
    if config.positive_weight != 1.0:
        pos_weight = torch.tensor(config.positive_weight, dtype=logits.dtype, device=logits.device)
    bce = F.binary_cross_entropy_with_logits(logits, targets.heatmaps, reduction="none", pos_weight=pos_weight)
    cells = logits.shape[-1] * logits.shape[-2]
    heat = (bce * jw).sum() / (jw.sum() * cells).clamp_min(1.0)
    mask = targets.disk.to(logits.dtype) * jw
    pred = torch.cat([ox, oy], 1)
    l1 = (pred - targets.offsets).abs() / config.offset_scale
    offset = (l1 * torch.cat([mask, mask], 1)).sum() / (2 * mask.sum()).clamp_min(1.0)
    return heat, offset


def pose_loss(
    outputs: Sequence[torch.Tensor] | torch.Tensor, targets: PoseTargets, config: PoseLossConfig = PoseLossConfig()
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss over all stage outputs and a dict of its parts (floats, for logging)."""
    if isinstance(outputs, torch.Tensor):
        outputs = [outputs]
    if not outputs:
        raise ValueError("pose_loss needs at least one stage output")
    total = outputs[0].new_zeros(())
    parts: dict[str, float] = {}
    for s, out in enumerate(outputs):
        heat, offset = stage_loss(out, targets, config)
        total = total + heat + config.offset_weight * offset
        parts[f"heatmap_{s}"] = float(heat.detach())
        parts[f"offset_{s}"] = float(offset.detach())
    return total, parts
