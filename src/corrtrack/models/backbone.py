"""BN-Inception building blocks of the authors' networks: the stem, the inception blocks and the decoder.

Both CorrTrack networks are made of two parts (``/work/shared/reference/README.md``,
"Architecture facts"; docs/method.md §2.1, §3.1, §3.3):

* the **stem** (conv 7x7/2 + BN + ReLU, max-pool 3x3/2 (ceil), conv 1x1 + BN + ReLU,
  conv 3x3 + BN + ReLU): 3 -> 192 channels at 1/4 of the input resolution;
* the **decoder** (``PoseDecoder`` in the reference, :class:`InceptionDecoder` here): max-pool
  3x3/2, BN-Inception blocks 3a (named ``inception_31``), 3b, 3c (stride 2), 4a-4e (4e stride 2),
  5a, 5b, then ``Conv2dT_1`` (ConvTranspose 2x2/2 + BN(eps 1e-3) + ReLU), concatenation of
  [``Conv2dT_1`` output, 4d output] and ``Conv2dT_2`` (ConvTranspose 8x8/4, pad 2, no BN or
  activation). The decoder keeps its input's spatial size, which must be a multiple of 8.

Every module is registered under the authors' attribute name, in the authors' order, so the
state-dict keys, shapes and order equal the reference layouts and their checkpoints load
strictly. ReLU and pooling modules are registered too (with the authors' names), so the
module list matches as well.

``width`` scales every channel count (stem, inception blocks, transposed convolutions) for the
small ``tiny`` configurations; ``width=1`` is the authors' network.

BatchNorm: all BNs are :class:`StatsBatchNorm2d`, a ``BatchNorm2d`` whose statistics at
inference (``module.eval()``) can be the running ones (``"running"``, normal eval mode), the
statistics of the current batch (``"batch"``) or per-sample statistics (``"sample"``, what the
reference gets by running a train-mode BN at batch size 1). See :func:`set_batchnorm_stats`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from corrtrack.errors import CorrtrackError

__all__ = [
    "BLOCKS",
    "BasicConvTranspose2d",
    "BlockSpec",
    "InceptionDecoder",
    "ModelInputError",
    "StatsBatchNorm2d",
    "add_stem",
    "check_images",
    "count_parameters",
    "fold_batchnorm",
    "is_channels_last",
    "prepare_for_inference",
    "resolve_device",
    "run_stem",
    "scaled",
    "set_batchnorm_stats",
    "stem_channels",
    "to_channels_last",
]

BatchNormStats = Literal["running", "batch", "sample"]


class ModelInputError(CorrtrackError, ValueError):
    """A tensor given to a network has the wrong shape, dtype or value range."""


def scaled(channels: int, width: float) -> int:
    """A channel count multiplied by ``width`` (at least 4); ``width=1`` keeps it."""
    if width == 1.0:
        return channels
    return max(4, round(channels * width))


class StatsBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose eval-mode statistics are selectable (same parameters and state-dict keys).

    In training mode it is a plain ``BatchNorm2d``. In eval mode, ``stats`` decides:

    * ``"running"``: the running mean and variance (the usual eval mode);
    * ``"batch"``: mean and biased variance of the current batch, as a train-mode BN computes
      them, without updating the running statistics;
    * ``"sample"``: the same, per sample (identical to running each sample alone through a
      train-mode BN), so a result does not depend on what else is in the batch.
    """

    stats: BatchNormStats

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.stats = "running"

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.training or self.stats == "running":
            return super().forward(input)
        if self.stats == "batch":
            return F.batch_norm(input, None, None, self.weight, self.bias, True, 0.0, self.eps)
        n, c, h, w = input.shape
        out = F.batch_norm(
            input.reshape(1, n * c, h, w), None, None, self.weight.repeat(n), self.bias.repeat(n), True, 0.0, self.eps
        )
        return out.reshape(n, c, h, w)


def set_batchnorm_stats(module: nn.Module, stats: BatchNormStats) -> None:
    """Set ``stats`` of every :class:`StatsBatchNorm2d` inside ``module``."""
    if stats not in ("running", "batch", "sample"):
        raise ValueError(f"batchnorm stats must be running, batch or sample, not {stats!r}")
    for m in module.modules():
        if isinstance(m, StatsBatchNorm2d):
            m.stats = stats


def count_parameters(module: nn.Module) -> int:
    """Number of parameter elements (not buffers)."""
    return sum(p.numel() for p in module.parameters())


def check_images(images: torch.Tensor, what: str, multiple: int = 32, check_range: bool = True) -> None:
    """Raise :class:`ModelInputError` unless ``images`` is float ``(N, 3, H, W)`` in [0, 1], H and W multiples.

    ``check_range=False`` skips the value-range check, the only one that reads the tensor (a host
    sync on a GPU): for callers that made the tensor themselves from uint8 pixels / 255.
    """
    if not isinstance(images, torch.Tensor):
        raise ModelInputError(f"{what}: expected a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ModelInputError(f"{what}: expected images of shape (N, 3, H, W), got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ModelInputError(f"{what}: expected float RGB in [0, 1], got dtype {images.dtype}")
    h, w = images.shape[2], images.shape[3]
    if h % multiple or w % multiple or h == 0 or w == 0:
        raise ModelInputError(f"{what}: height and width must be positive multiples of {multiple}, got {h}x{w}")
    if check_range and images.numel() and float(images.detach().amax()) > 2.0:
        raise ModelInputError(
            f"{what}: values up to {float(images.amax()):g}; the networks take RGB in [0, 1], not 0-255"
        )


# ----------------------------------------------------------------------------------------- stem


def _conv_bn_relu(
    owner: nn.Module,
    conv: str,
    relu: str,
    cin: int,
    cout: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
) -> None:
    owner.add_module(conv, nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding))
    owner.add_module(conv + "_bn", StatsBatchNorm2d(cout))
    owner.add_module(relu, nn.ReLU(inplace=True))


def _apply_cbr(owner: nn.Module, conv: str, relu: str, x: torch.Tensor) -> torch.Tensor:
    x = getattr(owner, conv)(x)
    x = getattr(owner, conv + "_bn")(x)
    return getattr(owner, relu)(x)


def stem_channels(width: float = 1.0) -> int:
    """Channels of the stem output (192 for the authors' network)."""
    return scaled(192, width)


def add_stem(owner: nn.Module, width: float = 1.0) -> int:
    """Register the BN-Inception stem directly on ``owner`` (keys ``conv1_7x7_s2.*`` ...); returns its channels."""
    c1, c2, c3 = scaled(64, width), scaled(64, width), stem_channels(width)
    _conv_bn_relu(owner, "conv1_7x7_s2", "conv1_relu_7x7", 3, c1, 7, stride=2, padding=3)
    owner.add_module("pool1_3x3_s2", nn.MaxPool2d(3, stride=2, ceil_mode=True))
    _conv_bn_relu(owner, "conv2_3x3_reduce", "conv2_relu_3x3_reduce", c1, c2, 1)
    _conv_bn_relu(owner, "conv2_3x3", "conv2_relu_3x3", c2, c3, 3, padding=1)
    return c3


def run_stem(owner: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The stem forward of a module built with :func:`add_stem`: (N,3,H,W) -> (N,192,H/4,W/4)."""
    x = _apply_cbr(owner, "conv1_7x7_s2", "conv1_relu_7x7", x)
    x = owner.get_submodule("pool1_3x3_s2")(x)
    x = _apply_cbr(owner, "conv2_3x3_reduce", "conv2_relu_3x3_reduce", x)
    return _apply_cbr(owner, "conv2_3x3", "conv2_relu_3x3", x)


# ---------------------------------------------------------------------------------- inception


@dataclass(frozen=True)
class BlockSpec:
    """Channel counts of one BN-Inception block (``c1x1 == 0`` and ``proj == 0`` for the strided blocks)."""

    name: str
    c1x1: int
    c3x3_reduce: int
    c3x3: int
    double_reduce: int
    double: int
    proj: int
    pool: Literal["avg", "max", "max_s2"]
    stride: int = 1

    def out_channels(self, cin: int, width: float) -> int:
        out = scaled(self.c3x3, width) + scaled(self.double, width)
        if self.stride == 2:
            return out + cin
        return out + scaled(self.c1x1, width) + scaled(self.proj, width)


#: the BN-Inception blocks of a decoder, in order (Ioffe & Szegedy 2015; names as in the reference)
BLOCKS: tuple[BlockSpec, ...] = (
    BlockSpec("inception_31", 64, 64, 64, 64, 96, 32, "avg"),
    BlockSpec("inception_3b", 64, 64, 96, 64, 96, 64, "avg"),
    BlockSpec("inception_3c", 0, 128, 160, 64, 96, 0, "max_s2", stride=2),
    BlockSpec("inception_4a", 224, 64, 96, 96, 128, 128, "avg"),
    BlockSpec("inception_4b", 192, 96, 128, 96, 128, 128, "avg"),
    BlockSpec("inception_4c", 160, 128, 160, 128, 160, 128, "avg"),
    BlockSpec("inception_4d", 96, 128, 192, 160, 192, 128, "avg"),
    BlockSpec("inception_4e", 0, 128, 192, 192, 256, 0, "max_s2", stride=2),
    BlockSpec("inception_5a", 352, 192, 320, 160, 224, 128, "avg"),
    BlockSpec("inception_5b", 352, 192, 320, 192, 224, 128, "max"),
)

_SKIP_BLOCK = "inception_4d"


def _add_block(owner: nn.Module, spec: BlockSpec, cin: int, width: float) -> int:
    n = spec.name
    s = spec.stride
    if spec.stride == 1:
        _conv_bn_relu(owner, f"{n}_1x1", f"{n}_relu_1x1", cin, scaled(spec.c1x1, width), 1)
    r3, c3 = scaled(spec.c3x3_reduce, width), scaled(spec.c3x3, width)
    _conv_bn_relu(owner, f"{n}_3x3_reduce", f"{n}_relu_3x3_reduce", cin, r3, 1)
    _conv_bn_relu(owner, f"{n}_3x3", f"{n}_relu_3x3", r3, c3, 3, stride=s, padding=1)
    rd, cd = scaled(spec.double_reduce, width), scaled(spec.double, width)
    _conv_bn_relu(owner, f"{n}_double_3x3_reduce", f"{n}_relu_double_3x3_reduce", cin, rd, 1)
    _conv_bn_relu(owner, f"{n}_double_3x3_1", f"{n}_relu_double_3x3_1", rd, cd, 3, padding=1)
    _conv_bn_relu(owner, f"{n}_double_3x3_2", f"{n}_relu_double_3x3_2", cd, cd, 3, stride=s, padding=1)
    if spec.pool == "avg":
        owner.add_module(f"{n}_pool", nn.AvgPool2d(3, stride=1, padding=1, ceil_mode=True, count_include_pad=True))
    elif spec.pool == "max":
        owner.add_module(f"{n}_pool", nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True))
    else:
        owner.add_module(f"{n}_pool", nn.MaxPool2d(3, stride=2, ceil_mode=True))
    if spec.stride == 1:
        _conv_bn_relu(owner, f"{n}_pool_proj", f"{n}_relu_pool_proj", cin, scaled(spec.proj, width), 1)
    return spec.out_channels(cin, width)


def _run_block(owner: nn.Module, spec: BlockSpec, x: torch.Tensor) -> torch.Tensor:
    n = spec.name
    branches = []
    if spec.stride == 1:
        branches.append(_apply_cbr(owner, f"{n}_1x1", f"{n}_relu_1x1", x))
    b = _apply_cbr(owner, f"{n}_3x3_reduce", f"{n}_relu_3x3_reduce", x)
    branches.append(_apply_cbr(owner, f"{n}_3x3", f"{n}_relu_3x3", b))
    b = _apply_cbr(owner, f"{n}_double_3x3_reduce", f"{n}_relu_double_3x3_reduce", x)
    b = _apply_cbr(owner, f"{n}_double_3x3_1", f"{n}_relu_double_3x3_1", b)
    branches.append(_apply_cbr(owner, f"{n}_double_3x3_2", f"{n}_relu_double_3x3_2", b))
    pooled = getattr(owner, f"{n}_pool")(x)
    if spec.stride == 1:
        pooled = _apply_cbr(owner, f"{n}_pool_proj", f"{n}_relu_pool_proj", pooled)
    branches.append(pooled)
    return torch.cat(branches, 1)


class BasicConvTranspose2d(nn.Module):
    """ConvTranspose2d, optionally followed by BN (eps 1e-3) and ReLU (keys ``conv.*``, ``bn.*``)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int,
        stride: int,
        padding: int = 0,
        batch_norm: bool = True,
        relu: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, kernel, stride=stride, padding=padding)
        self.bn = StatsBatchNorm2d(cout, eps=1e-3) if batch_norm else None
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.relu:
            x = F.relu(x, inplace=True)
        return x


class InceptionDecoder(nn.Module):
    """The reference ``PoseDecoder``: (N, in_channels, H, W) -> (N, out_channels, H, W); H, W multiples of 8.

    Max-pool /2, blocks 3a..5b (/8 in all), ``Conv2dT_1`` (x2) concatenated before the 4d output,
    ``Conv2dT_2`` (x4). The output is linear (no BN, no activation).
    """

    #: run in the channels-last layout (set by :func:`prepare_for_inference`): the input is converted on entry
    channels_last: bool = False

    def __init__(self, in_channels: int, out_channels: int, width: float = 1.0) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.pool2_3x3_s2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        c = in_channels
        skip = 0
        for spec in BLOCKS:
            c = _add_block(self, spec, c, width)
            if spec.name == _SKIP_BLOCK:
                skip = c
        self.Conv2dT_1 = BasicConvTranspose2d(c, c, 2, stride=2)
        self.Conv2dT_2 = BasicConvTranspose2d(
            c + skip, out_channels, 8, stride=4, padding=2, batch_norm=False, relu=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ModelInputError(f"decoder: expected (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if x.shape[2] % 8 or x.shape[3] % 8:
            raise ModelInputError(f"decoder: height and width must be multiples of 8, got {x.shape[2]}x{x.shape[3]}")
        if self.channels_last:
            x = to_channels_last(x)  # e.g. the refiner's concat with the (NCHW) affinity maps
        x = self.pool2_3x3_s2(x)
        skip = x
        for spec in BLOCKS:
            x = _run_block(self, spec, x)
            if spec.name == _SKIP_BLOCK:
                skip = x
        x = self.Conv2dT_1(x)
        return self.Conv2dT_2(torch.cat([x, skip], 1))


# ------------------------------------------------------------------------------ inference form

M = TypeVar("M", bound=nn.Module)


def resolve_device(name: str | torch.device) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N`` as a torch device for inference; an unknown or unavailable one is refused.

    The same rule as the training loop's and the CLI's ``--device`` check: one
    :class:`~corrtrack.errors.CorrtrackError` line before any work, never a torch traceback later.
    """
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise CorrtrackError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        if device.index not in (None, 0):
            raise CorrtrackError(f"unknown device {name!r}; use cpu, cuda or cuda:N")
        return device
    if device.type != "cuda":
        raise CorrtrackError(f"device {name!r} is not supported; use cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise CorrtrackError(f"device {name!r}: torch sees no CUDA device on this machine; use cpu")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise CorrtrackError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def _bn_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(scale, shift)`` with ``bn(x) == x * scale + shift`` in eval mode (running statistics)."""
    assert bn.running_mean is not None and bn.running_var is not None
    inv = torch.rsqrt(bn.running_var.double() + bn.eps)
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(inv)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(inv)
    scale = gamma * inv
    return scale, beta - bn.running_mean.double() * scale


def _foldable(bn: object) -> bool:
    return (
        isinstance(bn, StatsBatchNorm2d)
        and bn.stats == "running"
        and bn.track_running_stats
        and bn.running_mean is not None
        and bn.running_var is not None
    )


@torch.no_grad()
def _fold_into(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> None:
    scale, shift = _bn_scale_shift(bn)
    w = conv.weight.double()
    # Conv2d weights are (out, in, kh, kw); ConvTranspose2d weights are (in, out, kh, kw)
    shape = (-1, 1, 1, 1) if isinstance(conv, nn.Conv2d) else (1, -1, 1, 1)
    conv.weight.copy_((w * scale.reshape(shape)).to(conv.weight.dtype))
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(shift)
    new_bias = (bias * scale + shift).to(conv.weight.dtype)
    if conv.bias is None:
        conv.bias = nn.Parameter(new_bias, requires_grad=False)
    else:
        conv.bias.copy_(new_bias)


def fold_batchnorm(module: nn.Module) -> int:
    """Fold every eval-mode BN that uses running statistics into the convolution before it, **in place**.

    Each ``<conv>`` + ``<conv>_bn`` pair of the stem and the inception blocks becomes one
    convolution (``<conv>_bn`` is replaced by ``nn.Identity``), and so does the ConvTranspose + BN
    of :class:`BasicConvTranspose2d` (``bn`` becomes ``None``): ``conv(x) * scale + shift`` with the
    BN's per-channel ``scale = gamma / sqrt(var + eps)`` and ``shift = beta - mean * scale``,
    computed in float64. BNs that use batch or per-sample statistics (``stats`` other than
    ``running``, the reference's ``batch_stats`` mode) cannot be folded and are kept. The state-dict
    keys change, so fold a copy (:func:`prepare_for_inference`), never a network being trained or
    saved. Returns the number of BNs folded.
    """
    if module.training:
        raise ValueError("fold_batchnorm needs a module in eval mode (call .eval() first)")
    folded = 0
    for owner in list(module.modules()):
        if isinstance(owner, BasicConvTranspose2d):
            if _foldable(owner.bn):
                assert owner.bn is not None
                _fold_into(owner.conv, owner.bn)
                owner.bn = None
                folded += 1
            continue
        for name, child in list(owner.named_children()):
            if not (name.endswith("_bn") and _foldable(child)):
                continue
            conv = getattr(owner, name[: -len("_bn")], None)
            if isinstance(conv, nn.Conv2d):
                assert isinstance(child, nn.BatchNorm2d)
                _fold_into(conv, child)
                owner.add_module(name, nn.Identity())
                folded += 1
    return folded


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """A 4-d tensor in the channels-last (NHWC) memory layout the inference networks run in (no copy if it is)."""
    return x.contiguous(memory_format=torch.channels_last)


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether a 4-d tensor is stored channels-last (NHWC strides)."""
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)


def prepare_for_inference(
    model: M, device: torch.device | str = "cpu", *, fold: bool = True, channels_last: bool = True
) -> M:
    """An inference copy of ``model``: eval mode, no gradients, BN folded (``fold``), weights channels-last.

    The original module is not changed (it keeps its BNs and state-dict keys). With
    ``channels_last`` every 4-d weight is stored NHWC; the callers then give the networks
    channels-last activations (:func:`to_channels_last`), and convolution outputs stay
    channels-last through the whole network.
    """
    runner = copy.deepcopy(model).eval()
    runner.requires_grad_(False)
    if fold:
        fold_batchnorm(runner)
    runner = runner.to(resolve_device(device))
    if channels_last:
        runner = runner.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        for m in runner.modules():
            if hasattr(type(m), "channels_last"):
                m.channels_last = True
    return runner
