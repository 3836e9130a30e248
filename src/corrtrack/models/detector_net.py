"""A compact single-class (person) detector, CenterNet-style: a centre heatmap plus box size and offset.

The network is a light backbone of depthwise-separable blocks (strides 4, 8, 16, 32) with a small
top-down feature pyramid that brings everything back to stride 4. Three heads read that map:

* ``heatmap`` (1 channel, logits): a person's box centre is a peak;
* ``size`` (2 channels): ``log(w / stride), log(h / stride)`` of the box in input pixels;
* ``offset`` (2 channels): the sub-cell position of the centre, in cells (0..1).

:func:`decode_detections` turns the outputs into boxes (3x3 max-pool peak NMS, top-k), in input
pixels. The network is fully convolutional: any input whose sides are multiples of 32 works, so a
detector may run at a larger input than it was trained at (small people in real footage).

Weights files (:func:`save_detector_weights` / :func:`load_detector_weights`) hold the config, the
normalisation and metadata beside the state dict (optionally float16).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from corrtrack.config import config_to_dict, param
from corrtrack.errors import CorrtrackError
from corrtrack.fileio import atomic_path

__all__ = [
    "DETECTOR_CONFIGS",
    "DETECTOR_MEAN",
    "DETECTOR_STD",
    "DETECTOR_WEIGHTS_FORMAT",
    "NORMALISATION",
    "PAD_VALUE",
    "DetectorNet",
    "DetectorNetConfig",
    "decode_detections",
    "detector_config",
    "letterbox_scale",
    "load_detector_weights",
    "normalise_images",
    "save_detector_weights",
]

DETECTOR_WEIGHTS_FORMAT = "corrtrack-detector-weights-v1"
DETECTOR_MEAN = (0.485, 0.456, 0.406)
DETECTOR_STD = (0.229, 0.224, 0.225)
#: grey of the letterbox padding (RGB)
PAD_VALUE = 114
NORMALISATION = "RGB / 255, minus mean (0.485, 0.456, 0.406), divided by std (0.229, 0.224, 0.225)"


@dataclass(frozen=True)
class DetectorNetConfig:
    name: str = param("tiny", "our choice: the config's name")
    widths: tuple[int, ...] = param(
        (16, 24, 40, 64, 96), "our choice: channels at strides 2, 4, 8, 16 and 32 (light, CPU-trainable)"
    )
    blocks: tuple[int, ...] = param((1, 1, 2, 2), "our choice: separable blocks at strides 4, 8, 16 and 32")
    neck_channels: int = param(32, "our choice: channels of the top-down pyramid (output at stride 4)")
    head_channels: int = param(32, "our choice: hidden channels of the shared head layer")
    input_width: int = param(320, "our choice: training input width (640x360 frames letterboxed at half size)")
    input_height: int = param(192, "our choice: training input height (multiple of 32)")
    heatmap_prior: float = param(0.01, "CenterNet (Zhou et al. 2019): initial heatmap probability, bias -log(99)")

    stride: int = 4

    def __post_init__(self) -> None:
        if len(self.widths) != 5 or len(self.blocks) != 4 or min(self.widths) < 1 or min(self.blocks) < 1:
            raise ValueError("widths must have 5 positive entries and blocks 4")
        if self.input_width % 32 or self.input_height % 32 or self.input_width < 32 or self.input_height < 32:
            raise ValueError(f"input size must be multiples of 32, got {self.input_width}x{self.input_height}")
        if not 0 < self.heatmap_prior < 1 or self.neck_channels < 1 or self.head_channels < 1:
            raise ValueError("heatmap_prior must be in (0, 1); neck_channels and head_channels >= 1")


DETECTOR_CONFIGS: dict[str, DetectorNetConfig] = {
    "tiny": DetectorNetConfig(),
    # for tests: a few thousand parameters
    "micro": DetectorNetConfig(
        name="micro",
        widths=(4, 8, 8, 8, 8),
        blocks=(1, 1, 1, 1),
        neck_channels=8,
        head_channels=8,
        input_width=64,
        input_height=64,
    ),
}


def detector_config(name: str) -> DetectorNetConfig:
    """The named config (``tiny`` or ``micro``)."""
    if name not in DETECTOR_CONFIGS:
        raise CorrtrackError(f"unknown detector config {name!r}; known: {', '.join(DETECTOR_CONFIGS)}")
    return DETECTOR_CONFIGS[name]


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class _Separable(nn.Module):
    """Depthwise 3x3 then pointwise 1x1, with a residual connection when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.dw = _conv_bn(cin, cin, 3, stride, groups=cin)
        self.pw = _conv_bn(cin, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw(self.dw(x))
        return x + y if self.residual else y


class DetectorNet(nn.Module):
    """Image batch ``(B, 3, H, W)`` (normalised) -> dict of ``heatmap`` (B,1,H/4,W/4), ``size``, ``offset`` (B,2,..)."""

    def __init__(self, cfg: DetectorNetConfig = DetectorNetConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.widths
        self.stem = _conv_bn(3, w[0], 3, 2)
        stages = []
        for i, n in enumerate(cfg.blocks):
            layers: list[nn.Module] = [_Separable(w[i], w[i + 1], 2)]
            layers += [_Separable(w[i + 1], w[i + 1], 1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        c = cfg.neck_channels
        self.lateral = nn.ModuleList([nn.Conv2d(w[i + 1], c, 1) for i in range(4)])
        self.smooth = nn.ModuleList([_Separable(c, c, 1) for _ in range(3)])
        h = cfg.head_channels
        # one shared 3x3 layer, then 1x1 outputs: channel 0 heatmap, 1-2 log size, 3-4 offset
        self.head = nn.Sequential(nn.Conv2d(c, h, 3, 1, 1), nn.ReLU(inplace=True))
        self.out = nn.Conv2d(h, 5, 1)
        bias = torch.zeros(5)
        bias[0] = -math.log((1 - cfg.heatmap_prior) / cfg.heatmap_prior)
        bias[1:3] = math.log(8.0)
        self.out.bias = nn.Parameter(bias)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] % 32 or images.shape[3] % 32:
            raise CorrtrackError(
                f"detector input must be (B, 3, H, W) with H, W multiples of 32, got {tuple(images.shape)}"
            )
        x = self.stem(images)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        y = self.lateral[3](feats[3])
        for i in (2, 1, 0):
            y = F.interpolate(y, size=feats[i].shape[-2:], mode="nearest") + self.lateral[i](feats[i])
            y = self.smooth[i](y)
        out = self.out(self.head(y))
        return {"heatmap": out[:, :1], "size": out[:, 1:3], "offset": out[:, 3:5]}

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def letterbox_scale(width: int, height: int, input_width: int, input_height: int) -> float:
    """The scale that fits a ``width`` x ``height`` image into the input (aspect kept, placed top-left, padded)."""
    if width < 1 or height < 1:
        raise CorrtrackError(f"image size must be positive, got {width}x{height}")
    return min(input_width / width, input_height / height)


def normalise_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` RGB -> normalised float ``(B, 3, H, W)``."""
    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(DETECTOR_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(DETECTOR_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def decode_detections(
    outputs: Mapping[str, torch.Tensor], stride: int = 4, top_k: int = 100, min_score: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Boxes from the heads: 3x3 max-pool peaks, the ``top_k`` best per image.

    Returns ``boxes`` (B, K, 4) ``[x, y, w, h]`` in input pixels, ``scores`` (B, K) (sigmoid of the
    heatmap) and ``valid`` (B, K) bool (peak scores above ``min_score``; fewer cells than ``top_k``).
    """
    heat = torch.sigmoid(outputs["heatmap"].float())
    b, _, h, w = heat.shape
    peaks = heat * (F.max_pool2d(heat, 3, 1, 1) == heat)
    k = min(top_k, h * w)
    scores, index = peaks.view(b, -1).topk(k, dim=1)
    ys = torch.div(index, w, rounding_mode="floor")
    xs = index - ys * w
    size = outputs["size"].float().view(b, 2, -1)
    offset = outputs["offset"].float().view(b, 2, -1)
    gather = index.unsqueeze(1).expand(b, 2, k)
    wh = torch.exp(torch.gather(size, 2, gather).clamp(max=10.0)) * stride
    off = torch.gather(offset, 2, gather)
    cx = (xs.float() + off[:, 0]) * stride
    cy = (ys.float() + off[:, 1]) * stride
    boxes = torch.stack([cx - wh[:, 0] / 2, cy - wh[:, 1] / 2, wh[:, 0], wh[:, 1]], dim=2)
    return boxes, scores, scores > min_score


def save_detector_weights(
    path: str | Path, model: DetectorNet, meta: Mapping[str, Any] | None = None, half: bool = False
) -> str:
    """Write the weights, the net config and ``meta`` atomically (``half``: float16); returns the file's sha256."""
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
        for k, v in model.state_dict().items()
    }
    doc = {
        "format": DETECTOR_WEIGHTS_FORMAT,
        "net_config": config_to_dict(model.cfg),
        "normalisation": NORMALISATION,
        "meta": dict(meta or {}),
        "state_dict": state,
    }
    with atomic_path(path) as tmp:
        torch.save(doc, tmp)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _config_from(doc: Any, source: str) -> DetectorNetConfig:
    values = doc.get("values") if isinstance(doc, Mapping) else None
    if not isinstance(values, Mapping):
        raise CorrtrackError(f"{source}: no detector config in the weights file")
    known = {f for f in DetectorNetConfig.__dataclass_fields__ if f != "stride"}
    try:
        kwargs: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items() if k in known}
        return DetectorNetConfig(**kwargs)
    except (TypeError, ValueError) as exc:
        raise CorrtrackError(f"{source}: bad detector config ({exc})") from None


def load_detector_weights(path: str | Path, *, trusted: bool = False) -> tuple[DetectorNet, dict[str, Any]]:
    """A float32 :class:`DetectorNet` in eval mode and its metadata, from a weights file or a training checkpoint.

    Weights files load with ``weights_only=True``; a training checkpoint (``checkpoint.pt``) also holds
    RNG states and needs ``trusted=True`` (full unpickling: only for files you trust).
    """
    path = Path(path)
    if not path.is_file():
        raise CorrtrackError(f"{path}: detector weights not found")
    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if not trusted:
            raise CorrtrackError(
                f"{path}: not a plain weights file ({type(exc).__name__}); a training checkpoint needs trusted=True"
            ) from None
        try:
            doc = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc2:
            raise CorrtrackError(f"{path}: not a readable torch file ({type(exc2).__name__})") from None
    if not isinstance(doc, Mapping):
        raise CorrtrackError(f"{path}: not a corrtrack detector weights file")
    if doc.get("format") == DETECTOR_WEIGHTS_FORMAT:
        cfg = _config_from(doc.get("net_config"), str(path))
        state, meta = doc["state_dict"], dict(doc.get("meta", {}))
    elif "model" in doc and "net_config" in doc:
        cfg = _config_from(doc["net_config"], str(path))
        state, meta = doc["model"], {"step": doc.get("step")}
    else:
        raise CorrtrackError(f"{path}: not a corrtrack detector weights file or detector training checkpoint")
    model = DetectorNet(cfg)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorrtrackError(f"{path}: weights do not fit the detector config ({first})") from None
    return model.eval(), meta
