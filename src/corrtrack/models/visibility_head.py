"""The visibility head: is a propagated joint really there, at the cell its map found? (beyond the paper, issue #23)

The refined map's peak says how sure the refiner is of *where* a joint went, not *whether* it is still
visible: a joint hidden in the destination frame is matched to whatever covers it, often with a high
peak (docs/results.md: AUROC 0.58-0.68 for visible vs hidden joints). The head is a small MLP on what
the network already computed for each query joint, read at the found cell:

* the query's embedding in the source frame (``D``, L2-normalised),
* the 3x3 embedding patch of the destination frame around the found cell (``9 D``, normalised,
  zero outside the grid),
* their cosine similarity at the found cell, the refined map's value there, the affinity map's value
  and its peak (both times ``G^2``, log-scaled: 0 = uniform), and the displacement (grid cells / G),
* the joint's index (one-hot over the ``K`` query joints).

It is trained (``train corr --set visibility_steps=N``) with the embedding and refiner frozen, on
SynthTrack video pairs, against "the joint is visible in the destination and the found cell is within
``visibility_radius`` cells of it"; its sigmoid is the ``visibility`` confidence of
:class:`corrtrack.inference.correspondences.NetworkCorrespondences`. The ``paper`` config has no head
(its state dict stays the authors'); a checkpoint without it loads as before.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["VisibilityHead", "visibility_feature_size", "visibility_features"]

#: hidden units of the head's two hidden layers (our choice)
HIDDEN = 64


def visibility_feature_size(embedding_dim: int, num_queries: int) -> int:
    """Length of one joint's feature vector (module docstring)."""
    return 10 * embedding_dim + 5 + num_queries


def _read_patches(f: torch.Tensor, x: torch.Tensor, y: torch.Tensor, radius: int) -> torch.Tensor:
    """``(N, K, (2r+1)^2 * D)`` normalised embedding patches of ``f`` ``(1 or N, D, G, G)`` around cells ``x, y``."""
    n, k = x.shape
    d, g_h, g_w = f.shape[1], f.shape[2], f.shape[3]
    nf = F.pad(F.normalize(f.float(), dim=1), (radius,) * 4).permute(0, 2, 3, 1)  # (1|N, G+2r, G+2r, D)
    side = 2 * radius + 1
    o = torch.arange(side, device=f.device)
    rows = (y.clamp(0, g_h - 1)[..., None] + o)[..., :, None]  # (N, K, side, 1)
    cols = (x.clamp(0, g_w - 1)[..., None] + o)[..., None, :]  # (N, K, 1, side)
    b = torch.arange(n, device=f.device) if f.shape[0] == n else torch.zeros(n, dtype=torch.long, device=f.device)
    return nf[b[:, None, None, None], rows, cols].reshape(n, k, side * side * d)


def visibility_features(
    fA: torch.Tensor,
    fB: torch.Tensor,
    queries: torch.Tensor,
    found: torch.Tensor,
    refined: torch.Tensor,
    affinity: torch.Tensor,
) -> torch.Tensor:
    """``(N, K, F)`` features of each query joint (module docstring).

    ``fA``/``fB``: embeddings ``(1 or N, D, G, G)``; ``queries``/``found``: grid ``(x, y)`` ``(N, K, 2)``
    of the query cells and the found cells (NaN where there is none: zeros); ``refined``: the refined
    maps' values at the found cells ``(N, K)``; ``affinity``: the soft-max affinity maps ``(N, K, G, G)``.
    """
    n, k = queries.shape[:2]
    g_h, g_w = affinity.shape[-2], affinity.shape[-1]
    q = torch.nan_to_num(queries.float(), nan=0.0)
    c = torch.nan_to_num(found.float(), nan=0.0)
    qx, qy = torch.floor(q[..., 0]).long(), torch.floor(q[..., 1]).long()
    cx, cy = torch.floor(c[..., 0]).long(), torch.floor(c[..., 1]).long()
    va = _read_patches(fA, qx, qy, 0)  # (N, K, D)
    vb = _read_patches(fB, cx, cy, 1)  # (N, K, 9 D)
    d = fA.shape[1]
    centre = vb[..., 4 * d : 5 * d]
    cosine = (va * centre).sum(-1)
    flat = affinity.float().flatten(2)
    cells = (cy.clamp(0, g_h - 1) * g_w + cx.clamp(0, g_w - 1))[..., None]
    scale = float(g_h * g_w)
    at_found = torch.log1p(flat.gather(-1, cells)[..., 0] * scale)
    peak = torch.log1p(flat.amax(-1) * scale)
    moved = torch.sqrt(((c - q) ** 2).sum(-1)) / max(g_h, g_w)
    joint = torch.eye(k, device=fA.device).expand(n, k, k)
    scalars = torch.stack([cosine, refined.float(), at_found / math.log1p(scale), peak / math.log1p(scale), moved], -1)
    out = torch.cat([va, vb, scalars, joint], -1)
    ok = torch.isfinite(queries).all(-1) & torch.isfinite(found).all(-1)
    return out * ok[..., None].to(out.dtype)


class VisibilityHead(nn.Module):
    """MLP ``(N, K, F) -> (N, K)`` logits that the joint is visible where it was found (module docstring)."""

    def __init__(self, embedding_dim: int, num_queries: int) -> None:
        super().__init__()
        self.embedding_dim, self.num_queries = embedding_dim, num_queries
        size = visibility_feature_size(embedding_dim, num_queries)
        self.mlp = nn.Sequential(
            nn.Linear(size, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 1)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(features)[..., 0]
