"""The authors' keypoint-correspondence network: Siamese embedding, 3x3 correlation, refinement.

(docs/method.md §3.1-§3.3; ``/work/shared/reference/README.md``, "Correlation".)

Input to :meth:`CorrespondenceNet.embed`: whole frames letter-boxed to a square (512x512 in the
paper), float32 RGB in [0, 1], NCHW, **no mean/std normalisation** (as the reference). Any
side that is a multiple of 32 works; the embedding grid is 1/4 of it (128x128 for 512).

* ``embed(images) -> (N, D, G, G)``: the D = 32-d embedding (stem + one decoder), the same
  weights for every frame (Siamese).
* ``correlate(fA, fB, queries) -> (N, Q, G, G)``: affinity maps. ``queries`` is ``(N, Q, 2)``
  of **(x, y) grid coordinates** (the reference's rows are [y, x, score]; corrtrack is x-first
  everywhere). Coordinates are truncated toward zero; a query outside the grid or NaN gets an
  all-zero map. Both embeddings are normalised per position (``cfg.normalization``), the 3x3
  patch of fA around the query is cross-correlated with fB (zero padding 1) and a softmax over
  all ``G * G`` positions follows. All queries of all persons run as one gather + one matmul.
* ``refine(fA, fB, affinity) -> (N, Q, G, G)``: refined logits (apply a sigmoid) from the
  decoder on ``concat(fA, fB, affinity)``; ``Q`` must be ``cfg.num_queries`` (17).
* Reading a correspondence off the refined map (arg-max cell of its sigmoid, NaN for a query
  outside the grid; a grid cell ``(x, y)`` is at ``(4x, 4y)`` in the letter-boxed frame) is
  :class:`corrtrack.inference.correspondences.NetworkCorrespondences`' job.

``fA``/``fB`` of batch size 1 are shared by all ``N`` query sets (all tracks of a frame pair).

Configs: ``paper`` (512 input, 128 grid, D = 32, the authors' widths) and ``tiny`` (256 input,
64 grid, every channel count x ``width``). ``normalization="squared"`` (divide by the squared
norm) and ``batchnorm="batch_stats"`` reproduce the authors' code and are needed for their
checkpoints and the golden outputs; the defaults (``"l2"``, ``"eval"``) are our choices for
training from scratch and deterministic inference (docs/method.md). ``visibility_head=True`` (not in
``paper``) adds :class:`~corrtrack.models.visibility_head.VisibilityHead` (keys ``visibility.*``).

State-dict keys equal the authors': :class:`SiameseEmbedding` has ``model.*`` (their embedding
model), :class:`CorrespondenceNet` has ``model.model.*`` and ``pd.*`` (their refinement model).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from corrtrack.config import param
from corrtrack.models.backbone import (
    InceptionDecoder,
    ModelInputError,
    add_stem,
    check_images,
    count_parameters,
    run_stem,
    set_batchnorm_stats,
    to_channels_last,
)
from corrtrack.models.visibility_head import VisibilityHead, visibility_features

__all__ = [
    "CORRESPONDENCE_CONFIGS",
    "CorrespondenceNet",
    "CorrespondenceNetConfig",
    "InceptionEmbedding",
    "SiameseEmbedding",
    "correlation_maps",
    "correspondence_config",
    "normalize_embedding",
    "valid_queries",
]

Normalization = Literal["l2", "squared"]

#: floor of the (squared) norm before dividing, so an all-zero embedding vector gives zeros, not NaN
NORM_EPS = 1e-12


@dataclass(frozen=True)
class CorrespondenceNetConfig:
    """Architecture, input size and the two reference quirks of the correspondence network."""

    name: str = param("paper", "our choice: the name of a preset (paper, tiny)")
    input_size: int = param(512, "reference code (run_corrtrack.py, warp_poses.py: 512x512 letterbox)")
    embedding_dim: int = param(32, "reference code (bninception.py: 32-d embedding)")
    num_queries: int = param(17, "reference code (siamese_refinement_model.py: 17 query joints)")
    width: float = param(1.0, "our choice: channel multiplier of stem, inception blocks and heads (1 = authors')")
    normalization: Normalization = param(
        "l2",
        "our choice: true L2 normalisation; the reference divides by the squared norm ('squared', needed for "
        "its checkpoints)",
    )
    batchnorm: Literal["eval", "batch_stats"] = param(
        "eval",
        "our choice: running statistics; 'batch_stats' = the reference tracking scripts, which never call "
        ".eval() (embeddings: statistics of the embedded batch; refiner: per-sample statistics)",
    )
    temperature: float = param(1.0, "reference code (no temperature); our option: logits / temperature")
    refiner_affinity: Literal["raw", "peak"] = param(
        "raw",
        "reference code: the refiner sees the soft-max maps as they are ('raw', values ~1/G^2 beside unit-scale "
        "embeddings); our option 'peak': each map divided by its maximum, so the refiner's input is in [0, 1]",
    )
    visibility_head: bool = param(
        False,
        "our choice (issue #23; the reference has none): a small MLP that says whether a propagated joint is "
        "visible at its found cell (corrtrack.models.visibility_head; keys visibility.*)",
    )

    def __post_init__(self) -> None:
        if self.input_size <= 0 or self.input_size % 32:
            raise ValueError(f"input_size must be a positive multiple of 32, got {self.input_size}")
        if self.embedding_dim < 1 or self.num_queries < 1:
            raise ValueError("embedding_dim and num_queries must be >= 1")
        if not 0 < self.width <= 4:
            raise ValueError(f"width must be in (0, 4], got {self.width}")
        if self.normalization not in ("l2", "squared"):
            raise ValueError(f"normalization must be l2 or squared, got {self.normalization!r}")
        if self.batchnorm not in ("eval", "batch_stats"):
            raise ValueError(f"batchnorm must be eval or batch_stats, got {self.batchnorm!r}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.refiner_affinity not in ("raw", "peak"):
            raise ValueError(f"refiner_affinity must be raw or peak, got {self.refiner_affinity!r}")

    @property
    def grid_size(self) -> int:
        """Side of the embedding grid (input_size / 4; 128 in the paper)."""
        return self.input_size // 4


CORRESPONDENCE_CONFIGS: dict[str, CorrespondenceNetConfig] = {
    "paper": CorrespondenceNetConfig(),
    "tiny": CorrespondenceNetConfig(name="tiny", input_size=256, width=0.125),
}


def correspondence_config(name: str) -> CorrespondenceNetConfig:
    """The named correspondence-net config (``paper`` or ``tiny``)."""
    try:
        return CORRESPONDENCE_CONFIGS[name]
    except KeyError:
        raise ModelInputError(
            f"unknown correspondence-net config {name!r}; known: {', '.join(CORRESPONDENCE_CONFIGS)}"
        ) from None


# --------------------------------------------------------------------------------- correlation


def normalize_embedding(f: torch.Tensor, normalization: Normalization) -> torch.Tensor:
    """Divide each D-vector of ``f`` (N, D, H, W) by its L2 norm (``"l2"``) or squared norm (``"squared"``)."""
    sq = (f * f).sum(1, keepdim=True)
    if normalization == "squared":
        return f / sq.clamp_min(NORM_EPS)
    if normalization == "l2":
        return f / sq.sqrt().clamp_min(NORM_EPS)
    raise ValueError(f"normalization must be l2 or squared, got {normalization!r}")


def valid_queries(queries: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x, y, valid)`` of (x, y) queries: coordinates truncated toward zero (long, 0 where invalid) and the mask.

    A query is valid when both coordinates are finite and the truncated cell lies on the grid
    (so -0.5 becomes 0 and is kept, as ``int()`` in the reference).
    """
    finite = torch.isfinite(queries).all(-1)
    q = torch.where(finite[..., None], queries, torch.zeros((), dtype=queries.dtype, device=queries.device))
    q = torch.trunc(q)
    x, y = q[..., 0], q[..., 1]
    valid = finite & (x >= 0) & (y >= 0) & (x <= width - 1) & (y <= height - 1)
    zero = torch.zeros((), dtype=torch.long, device=queries.device)
    return torch.where(valid, x.long(), zero), torch.where(valid, y.long(), zero), valid


def _check_pair(fA: torch.Tensor, fB: torch.Tensor, n: int) -> None:
    if fA.dim() != 4 or fB.dim() != 4 or fA.shape[1:] != fB.shape[1:]:
        raise ModelInputError(
            f"embeddings must both be (N, D, H, W) alike, got {tuple(fA.shape)} and {tuple(fB.shape)}"
        )
    for name, f in (("fA", fA), ("fB", fB)):
        if f.shape[0] not in (1, n):
            raise ModelInputError(f"{name} has batch size {f.shape[0]}; expected 1 or {n} (the query batch)")


def correlation_maps(
    fA: torch.Tensor,
    fB: torch.Tensor,
    queries: torch.Tensor,
    normalization: Normalization = "l2",
    temperature: float = 1.0,
) -> torch.Tensor:
    """Affinity maps ``(N, Q, H, W)`` of the (x, y) ``queries`` ``(N, Q, 2)`` of ``fA`` in ``fB`` (module docstring).

    ``fA`` and ``fB`` are ``(1 or N, D, H, W)``. Vectorised over all queries of all persons:
    one gather of the 3x3 patches of fA and one matrix product with the unfolded fB.
    """
    queries = torch.as_tensor(queries, device=fA.device)
    if queries.dim() != 3 or queries.shape[-1] < 2:
        raise ModelInputError(f"queries must be (N, Q, 2) of (x, y), got {tuple(queries.shape)}")
    queries = queries[..., :2]
    if not queries.is_floating_point():
        queries = queries.double()
    n, nq = queries.shape[0], queries.shape[1]
    _check_pair(fA, fB, n)
    d, h, w = fA.shape[1], fA.shape[2], fA.shape[3]
    nA = normalize_embedding(fA, normalization)
    nB = normalize_embedding(fB, normalization)
    xi, yi, valid = valid_queries(queries, h, w)

    # 3x3 patches of the zero-padded fA around each query: (N, Q, D*9), ordered (d, ky, kx) like F.unfold
    padded = F.pad(nA, (1, 1, 1, 1)).permute(0, 2, 3, 1)  # (Na, H+2, W+2, D)
    k = torch.arange(3, device=fA.device)
    rows = (yi[..., None] + k)[..., :, None]  # (N, Q, 3, 1); padded row y+k = fA row y-1+k
    cols = (xi[..., None] + k)[..., None, :]  # (N, Q, 1, 3)
    bidx = torch.arange(n, device=fA.device) if fA.shape[0] == n else torch.zeros(n, dtype=torch.long)
    patches = padded[bidx.to(fA.device)[:, None, None, None], rows, cols]  # (N, Q, 3, 3, D)
    patches = patches.permute(0, 1, 4, 2, 3).reshape(n, nq, d * 9)

    unfolded = F.unfold(nB, 3, padding=1)  # (Nb, D*9, H*W)
    if fB.shape[0] == 1:
        logits = (patches.reshape(1, n * nq, d * 9) @ unfolded).reshape(n, nq, h * w)
    else:
        logits = torch.bmm(patches, unfolded)
    if temperature != 1.0:
        logits = logits / temperature
    maps = torch.softmax(logits, dim=-1) * valid[..., None].to(logits.dtype)
    return maps.reshape(n, nq, h, w)


# ---------------------------------------------------------------------------------- networks


class InceptionEmbedding(nn.Module):
    """Stem + one decoder ``pd1`` (the reference ``Inception`` embedding net): (N,3,H,W) -> (N,D,H/4,W/4)."""

    #: run in the channels-last layout (set by ``backbone.prepare_for_inference``): the input is converted on entry
    channels_last: bool = False

    def __init__(self, embedding_dim: int = 32, width: float = 1.0) -> None:
        super().__init__()
        stem = add_stem(self, width)
        self.pd1 = InceptionDecoder(stem, embedding_dim, width)

    def forward(self, images: torch.Tensor, check_range: bool = True) -> torch.Tensor:
        check_images(images, "embedding input", check_range=check_range)
        if self.channels_last:
            images = to_channels_last(images)
        return self.pd1(run_stem(self, images))


class SiameseEmbedding(nn.Module):
    """The shared-weight embedding branch (keys ``model.*``, the authors' embedding model)."""

    def __init__(self, cfg: CorrespondenceNetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg if cfg is not None else CorrespondenceNetConfig()
        self.model = InceptionEmbedding(self.cfg.embedding_dim, self.cfg.width)
        set_batchnorm_stats(self, "batch" if self.cfg.batchnorm == "batch_stats" else "running")

    def forward(self, images: torch.Tensor, check_range: bool = True) -> torch.Tensor:
        """Embeddings ``(N, D, H/4, W/4)`` of a batch of frames (with ``batch_stats``: BN statistics of this batch)."""
        return self.model(images, check_range=check_range)


class CorrespondenceNet(nn.Module):
    """Siamese embedding (``model.model.*``) + refinement decoder (``pd.*``) of the authors' refinement model."""

    def __init__(self, cfg: CorrespondenceNetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg if cfg is not None else CorrespondenceNetConfig()
        c = self.cfg
        self.model = SiameseEmbedding(c)
        self.pd = InceptionDecoder(2 * c.embedding_dim + c.num_queries, c.num_queries, c.width)
        set_batchnorm_stats(self.pd, "sample" if c.batchnorm == "batch_stats" else "running")
        if c.visibility_head:
            self.visibility = VisibilityHead(c.embedding_dim, c.num_queries)

    def embed(self, images: torch.Tensor, check_range: bool = True) -> torch.Tensor:
        """Embeddings ``(N, D, G, G)`` of letter-boxed frames ``(N, 3, S, S)`` (``check_range``: as ``PoseNet``)."""
        return self.model(images, check_range=check_range)

    def correlate(self, fA: torch.Tensor, fB: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """Affinity maps ``(N, Q, G, G)`` of the (x, y) grid ``queries`` ``(N, Q, 2)``."""
        return correlation_maps(fA, fB, queries, self.cfg.normalization, self.cfg.temperature)

    def refine(self, fA: torch.Tensor, fB: torch.Tensor, affinity: torch.Tensor) -> torch.Tensor:
        """Refined logits ``(N, Q, G, G)``; ``fA``/``fB`` of batch 1 are shared by all N affinity sets."""
        if affinity.dim() != 4 or affinity.shape[1] != self.cfg.num_queries:
            raise ModelInputError(f"affinity must be (N, {self.cfg.num_queries}, H, W), got {tuple(affinity.shape)}")
        n = affinity.shape[0]
        _check_pair(fA, fB, n)
        if fA.shape[2:] != affinity.shape[2:]:
            raise ModelInputError(f"affinity grid {tuple(affinity.shape[2:])} != embedding grid {tuple(fA.shape[2:])}")
        x = torch.cat([fA.expand(n, -1, -1, -1), fB.expand(n, -1, -1, -1), self.refiner_affinity(affinity)], 1)
        return self.pd(x)

    def refiner_affinity(self, affinity: torch.Tensor) -> torch.Tensor:
        """The affinity maps as the refiner sees them: unchanged (``raw``) or each divided by its peak (``peak``)."""
        if self.cfg.refiner_affinity == "raw":
            return affinity
        peak = affinity.flatten(2).amax(-1)[..., None, None]
        return affinity / torch.where(peak > 0, peak, torch.ones_like(peak))

    def visibility_logits(
        self,
        fA: torch.Tensor,
        fB: torch.Tensor,
        queries: torch.Tensor,
        found: torch.Tensor,
        refined: torch.Tensor,
        affinity: torch.Tensor,
    ) -> torch.Tensor:
        """``(N, K)`` logits that each query joint is visible at its ``found`` grid cell (``visibility_head`` only)."""
        if not self.cfg.visibility_head:
            raise ModelInputError("this correspondence network has no visibility head (config visibility_head=False)")
        return self.visibility(visibility_features(fA, fB, queries, found, refined, affinity))

    def forward(
        self, images_a: torch.Tensor, images_b: torch.Tensor, queries: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training forward: ``(refined logits, affinity)`` for frame pairs; A and B are embedded as one batch."""
        if images_a.shape != images_b.shape:
            raise ModelInputError(f"image batches differ: {tuple(images_a.shape)} vs {tuple(images_b.shape)}")
        f = self.embed(torch.cat([images_a, images_b], 0))
        fA, fB = f[: images_a.shape[0]], f[images_a.shape[0] :]
        affinity = self.correlate(fA, fB, queries)
        return self.refine(fA, fB, affinity), affinity

    def num_parameters(self) -> int:
        return count_parameters(self)

    def extra_repr(self) -> str:
        return ", ".join(f"{f.name}={getattr(self.cfg, f.name)!r}" for f in dataclasses.fields(self.cfg))
