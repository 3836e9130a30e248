"""Test reference: the correspondence network's arg-max read-out on the grid, as plain tensor code.

The tracker reads correspondences through :class:`corrtrack.inference.correspondences.NetworkCorrespondences`
(letter-boxing, windowed refinement, sub-cell peaks, motion prior); the tests compare it with this
straightforward form: correlation, full refinement, sigmoid, first arg-max in row-major order.
Not part of the installed package (it was ``CorrespondenceNet.propagate``).
"""

from __future__ import annotations

import torch

from corrtrack.models.backbone import ModelInputError
from corrtrack.models.correspondence_net import CorrespondenceNet, _check_pair, valid_queries


@torch.no_grad()
def propagate(
    net: CorrespondenceNet, fA: torch.Tensor, fB: torch.Tensor, queries: torch.Tensor, max_batch: int | None = None
) -> torch.Tensor:
    """``(N, Q, 3)``: x, y (grid cells) and confidence (peak sigmoid) per query; NaN, NaN, 0 where skipped.

    The N query sets run as one batch, or in chunks of ``max_batch`` to bound memory.
    """
    queries = torch.as_tensor(queries, device=fA.device)
    if queries.dim() != 3:
        raise ModelInputError(f"queries must be (N, Q, 2) of (x, y), got {tuple(queries.shape)}")
    n = queries.shape[0]
    _check_pair(fA, fB, n)
    if n == 0:
        return torch.zeros((0, queries.shape[1], 3), dtype=fA.dtype, device=fA.device)
    step = n if max_batch is None else max(1, max_batch)
    parts = []
    for s in range(0, n, step):
        e = min(n, s + step)
        a = fA if fA.shape[0] == 1 else fA[s:e]
        b = fB if fB.shape[0] == 1 else fB[s:e]
        q = queries[s:e]
        prob = torch.sigmoid(net.refine(a, b, net.correlate(a, b, q)))
        flat = prob.flatten(2)
        idx = flat.argmax(-1)  # the first maximum in row-major order
        conf = flat.gather(-1, idx[..., None])[..., 0]
        g_w = prob.shape[3]
        xy = torch.stack([idx % g_w, torch.div(idx, g_w, rounding_mode="floor")], -1).to(prob.dtype)
        valid = valid_queries(q[..., :2].to(torch.float64), prob.shape[2], g_w)[2]
        xy = torch.where(valid[..., None], xy, torch.full_like(xy, float("nan")))
        conf = torch.where(valid, conf, torch.zeros_like(conf))
        parts.append(torch.cat([xy, conf[..., None]], -1))
    return torch.cat(parts, 0)
