"""Refinement on a window of the grid around each track's query pose (a deviation from the paper, issue 15 point 4).

The authors run the refinement decoder on the whole 128x128 grid once per track, although a
person moves only a few cells between two frames. Here every query set (track) gets a square
window of the grid: the box of its valid query cells grown by ``margin`` cells on every side
(the motion allowance), the side rounded up to a multiple of 8 (the decoder's internal stride)
and equal for all tracks of the call, so the windows run as one batch. ``fA``, ``fB`` and the
affinity maps are cropped to the window (the affinity maps are computed, and soft-maxed, on the
full grid first, so they hold the same values as in the full-frame refiner), the decoder runs
on the crops and the arg-max is taken inside the window. A correspondence farther than the
window from the query pose cannot be found; near the window edges the decoder sees zero
padding where the full-frame decoder saw neighbouring features, so values differ slightly
(measured in docs/results.md). When the window would cover the whole grid, the full-frame
refiner runs instead.
"""

from __future__ import annotations

import torch

from corrtrack.models.correspondence_net import CorrespondenceNet, valid_queries
from corrtrack.models.correspondence_peaks import SubcellMode, map_peaks

__all__ = ["WINDOW_MULTIPLE", "refine_windowed", "refined_windows", "window_origins"]

#: window sides are multiples of this (the refinement decoder downsamples by 8 and upsamples back)
WINDOW_MULTIPLE = 8


def window_origins(
    queries: torch.Tensor, grid: int, margin: int, min_side: int = 16
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Window ``(x0, y0)`` per query set ``(N,)`` and the common side for grid ``queries`` ``(N, Q, 2)``.

    The side is the largest query-box extent plus ``2 * margin`` over all sets, at least
    ``min_side``, rounded up to a multiple of :data:`WINDOW_MULTIPLE` and at most ``grid``.
    Each window is centred on its query box and shifted to lie inside the grid. A set with no
    valid query gets a window at the origin (its maps are ignored anyway).
    """
    xi, yi, valid = valid_queries(queries[..., :2].to(torch.float64), grid, grid)
    big = torch.iinfo(torch.long).max
    xmin = torch.where(valid, xi, torch.full_like(xi, big)).amin(1)
    ymin = torch.where(valid, yi, torch.full_like(yi, big)).amin(1)
    xmax = torch.where(valid, xi, torch.full_like(xi, -1)).amax(1)
    ymax = torch.where(valid, yi, torch.full_like(yi, -1)).amax(1)
    any_valid = valid.any(1)
    extent = torch.where(any_valid, torch.maximum(xmax - xmin, ymax - ymin) + 1, torch.zeros_like(xmax))
    need = int(extent.max()) + 2 * margin if len(extent) else 0
    side = max(need, min_side)
    side = -(-side // WINDOW_MULTIPLE) * WINDOW_MULTIPLE
    side = min(side, grid)
    cx = torch.where(any_valid, (xmin + xmax) // 2, torch.zeros_like(xmin))
    cy = torch.where(any_valid, (ymin + ymax) // 2, torch.zeros_like(ymin))
    x0 = (cx - side // 2).clamp(0, grid - side)
    y0 = (cy - side // 2).clamp(0, grid - side)
    return x0, y0, side


def _crop(f: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor, side: int) -> torch.Tensor:
    """Windows ``(N, C, side, side)`` of ``f`` ``(1 or N, C, H, W)`` at the origins ``x0``, ``y0`` ``(N,)``."""
    n = x0.shape[0]
    k = torch.arange(side, device=f.device)
    rows = (y0.to(f.device)[:, None] + k)[:, :, None]  # (N, side, 1)
    cols = (x0.to(f.device)[:, None] + k)[:, None, :]  # (N, 1, side)
    b = torch.arange(n, device=f.device) if f.shape[0] == n else torch.zeros(n, dtype=torch.long, device=f.device)
    # advanced indexing on dims 0, 2, 3 -> (N, side, side, C)
    return f[b[:, None, None], :, rows, cols].permute(0, 3, 1, 2)


@torch.no_grad()
def refined_windows(
    net: CorrespondenceNet,
    fA: torch.Tensor,
    fB: torch.Tensor,
    queries: torch.Tensor,
    margin: int,
    min_side: int = 16,
    precision: str = "fp32",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """``(prob (N, Q, side, side), x0 (N,), y0 (N,), side)``: the sigmoid refined maps on each set's window.

    ``precision="bf16"`` runs the refinement decoder under bfloat16 autocast; the correlation,
    its soft-max and the sigmoid stay float32.
    """
    grid = fA.shape[-1]
    x0, y0, side = window_origins(queries, grid, margin, min_side)
    affinity = net.correlate(fA, fB, queries)
    with torch.autocast(fA.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        if side >= grid:
            logits = net.refine(fA, fB, affinity)
            x0 = torch.zeros_like(x0)
            y0 = torch.zeros_like(y0)
        else:
            a = _crop(fA, x0, y0, side)
            b = _crop(fB, x0, y0, side)
            m = _crop(net.refiner_affinity(affinity), x0, y0, side)  # normalised on the whole grid, then cropped
            logits = net.pd(torch.cat([a, b, m], 1))
    return torch.sigmoid(logits.float()), x0, y0, side


@torch.no_grad()
def refine_windowed(
    net: CorrespondenceNet,
    fA: torch.Tensor,
    fB: torch.Tensor,
    queries: torch.Tensor,
    margin: int,
    min_side: int = 16,
    prior_sigma: float = 0.0,
    subcell: SubcellMode = "off",
    precision: str = "fp32",
) -> tuple[torch.Tensor, int]:
    """``((N, Q, 3), side)``: grid x, y and sigmoid confidence per query, refined on windows; NaN, NaN, 0 if skipped.

    ``queries`` are ``(N, Q, 2)`` grid (x, y) coordinates as for :meth:`CorrespondenceNet.correlate`;
    ``prior_sigma`` and ``subcell`` as in :func:`~corrtrack.models.correspondence_peaks.map_peaks`;
    ``precision`` as in :func:`refined_windows`.
    """
    grid = fA.shape[-1]
    prob, x0, y0, side = refined_windows(net, fA, fB, queries, margin, min_side, precision)
    valid = valid_queries(queries[..., :2].to(torch.float64), grid, grid)[2].to(prob.device)
    out = map_peaks(prob, queries, valid, x0, y0, prior_sigma=prior_sigma, subcell=subcell)
    return out, side
