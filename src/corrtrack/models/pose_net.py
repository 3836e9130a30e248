"""The authors' multi-stage BN-Inception pose network (docs/method.md §2.1; supplement Fig. 1).

Input: a batch of person crops, float32 RGB in [0, 1], NCHW, **no mean/std normalisation**
(as the reference: BGR->RGB, /255). The paper crop is 288 wide x 384 high; any height and
width that are multiples of 32 work.

Output of ``PoseNet(cfg)(images)``: a list with one tensor per stage, each
``(N, 3 * K, H/4, W/4)`` with ``K = cfg.num_joints`` (17): channels ``0..K-1`` heatmap logits
(apply a sigmoid), ``K..2K-1`` x offsets, ``2K..3K-1`` y offsets, the offsets in input pixels
(a joint is at ``4 * cell + offset``). Stage 1 sees the stem features; stage ``s > 1`` sees
``concat(stem features, output of stage s-1)``. The reference reads stage index
``cfg.readout_stage`` (1, the second stage, even with three stages); :meth:`PoseNet.predict`
returns that stage and skips the later ones, which do not influence it.

Configs: ``paper`` (2 stages, 288x384, the ECCV net), ``paper3`` (3 stages, the released
PoseTrack21 checkpoint) and ``tiny`` (same topology, every channel count x ``width``, 96x128
input, small enough to train on a CPU). ``paper``/``paper3`` have exactly the state-dict keys,
shapes and order of the authors' ``bn_inception2`` network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from corrtrack.config import param
from corrtrack.models.backbone import (
    InceptionDecoder,
    ModelInputError,
    add_stem,
    check_images,
    count_parameters,
    run_stem,
    to_channels_last,
)

__all__ = ["POSE_CONFIGS", "PoseNet", "PoseNetConfig", "pose_config"]


@dataclass(frozen=True)
class PoseNetConfig:
    """Architecture and input size of the pose network."""

    name: str = param("paper", "our choice: the name of a preset (paper, paper3, tiny)")
    num_stages: int = param(2, "supplement §A, Fig. 1: two stages (the PT21 release uses 3)")
    input_width: int = param(288, "reference code (pose_estimation.py: --output_size_x 288)")
    input_height: int = param(384, "reference code (pose_estimation.py: --output_size_y 384)")
    num_joints: int = param(17, "reference code (bn_inception2.py: out_ch=51 = 3 x 17)")
    width: float = param(1.0, "our choice: channel multiplier of stem, inception blocks and head (1 = authors')")
    readout_stage: int = param(1, "reference code (pose_estimation.py, warp_poses.py read output[1])")

    def __post_init__(self) -> None:
        if self.num_stages < 1:
            raise ValueError(f"num_stages must be >= 1, got {self.num_stages}")
        if not 0 <= self.readout_stage < self.num_stages:
            raise ValueError(f"readout_stage must be in [0, {self.num_stages - 1}], got {self.readout_stage}")
        for side in ("input_width", "input_height"):
            value = getattr(self, side)
            if value <= 0 or value % 32:
                raise ValueError(f"{side} must be a positive multiple of 32, got {value}")
        if self.num_joints < 1:
            raise ValueError(f"num_joints must be >= 1, got {self.num_joints}")
        if not 0 < self.width <= 4:
            raise ValueError(f"width must be in (0, 4], got {self.width}")

    @property
    def out_channels(self) -> int:
        """3 x num_joints: heatmaps, x offsets, y offsets."""
        return 3 * self.num_joints

    @property
    def output_size(self) -> tuple[int, int]:
        """(height, width) of each stage output for the configured input."""
        return self.input_height // 4, self.input_width // 4


POSE_CONFIGS: dict[str, PoseNetConfig] = {
    "paper": PoseNetConfig(),
    "paper3": PoseNetConfig(name="paper3", num_stages=3),
    "tiny": PoseNetConfig(name="tiny", num_stages=2, input_width=96, input_height=128, width=0.125),
}


def pose_config(name: str) -> PoseNetConfig:
    """The named pose-net config (``paper``, ``paper3`` or ``tiny``)."""
    try:
        return POSE_CONFIGS[name]
    except KeyError:
        raise ModelInputError(f"unknown pose-net config {name!r}; known: {', '.join(POSE_CONFIGS)}") from None


class PoseNet(nn.Module):
    """Stem + ``num_stages`` :class:`InceptionDecoder` stages ``pd1``, ``pd2``, ... (authors' key names)."""

    #: run in the channels-last layout (set by ``backbone.prepare_for_inference``): the input is converted on entry
    channels_last: bool = False

    def __init__(self, cfg: PoseNetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg if cfg is not None else PoseNetConfig()
        stem = add_stem(self, self.cfg.width)
        out = self.cfg.out_channels
        for s in range(self.cfg.num_stages):
            cin = stem if s == 0 else stem + out
            self.add_module(f"pd{s + 1}", InceptionDecoder(cin, out, self.cfg.width))

    @property
    def stages(self) -> list[InceptionDecoder]:
        return [getattr(self, f"pd{s + 1}") for s in range(self.cfg.num_stages)]

    def forward(
        self, images: torch.Tensor, num_stages: int | None = None, check_range: bool = True
    ) -> list[torch.Tensor]:
        """All stage outputs (or the first ``num_stages``), each ``(N, 3K, H/4, W/4)``.

        ``check_range=False`` skips the [0, 1] value check (a host sync on a GPU) for inputs made from uint8 / 255.
        """
        check_images(images, "pose net input", check_range=check_range)
        n = self.cfg.num_stages if num_stages is None else num_stages
        if not 1 <= n <= self.cfg.num_stages:
            raise ModelInputError(f"num_stages must be in [1, {self.cfg.num_stages}], got {n}")
        if self.channels_last:
            images = to_channels_last(images)
        feats = run_stem(self, images)
        outputs: list[torch.Tensor] = []
        for decoder in self.stages[:n]:
            x = feats if not outputs else torch.cat([feats, outputs[-1]], 1)
            outputs.append(decoder(x))
        return outputs

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """The output the reference reads, stage ``cfg.readout_stage`` (later stages are not computed)."""
        return self.forward(images, num_stages=self.cfg.readout_stage + 1)[-1]

    def num_parameters(self) -> int:
        return count_parameters(self)

    def extra_repr(self) -> str:
        return ", ".join(f"{f.name}={getattr(self.cfg, f.name)!r}" for f in dataclasses.fields(self.cfg))
