"""Where a correspondence map peaks: the arg-max cell, optionally under a motion prior and refined below a cell.

Every query joint of every track has a map on the destination grid (the refined sigmoid map,
or the soft-max affinity map without refinement), possibly a window of the grid at ``(x0, y0)``.
The reference takes the map's arg-max cell and its value. Two options beyond the paper
(docs/method.md; measured in docs/results.md), both off by default:

* ``prior_sigma`` (grid cells): the arg-max is taken of the map times a Gaussian centred on the
  query's own grid position, ``exp(-d^2 / (2 sigma^2))``: a motion prior that prefers, among
  similar-looking places, the one nearest to where the joint was. The confidence stays the
  map's own value at the chosen cell.
* ``subcell``: ``"centroid"``: the position is the centroid of the map's 3x3 neighbourhood of the
  arg-max cell (weights = map values), so it is not quantised to whole cells; ``"off"``: the cell
  itself (the reference). (Carrying the query's own sub-cell offset over to the peak cell was
  tried and measured worse: the query feature is read at the truncated
  cell, so the map cannot know the sub-cell part.)

All queries of a call are handled in one batch.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

__all__ = ["SUBCELL_MODES", "SubcellMode", "gate_by_affinity", "map_peaks"]

SubcellMode = Literal["off", "centroid"]
SUBCELL_MODES: tuple[str, ...] = ("off", "centroid")


def map_peaks(
    maps: torch.Tensor,
    queries: torch.Tensor,
    valid: torch.Tensor,
    x0: torch.Tensor | None = None,
    y0: torch.Tensor | None = None,
    *,
    mass_window: int | None = None,
    prior_sigma: float = 0.0,
    subcell: SubcellMode = "off",
) -> torch.Tensor:
    """``(N, K, 3)`` grid x, y and confidence of the maps ``(N, K, h, w)``; NaN, NaN, 0 where ``valid`` is False.

    ``queries`` ``(N, K, 2)`` are the grid positions the maps were queried from (used by the prior),
    ``x0``/``y0`` ``(N,)`` the window origins (default 0). The confidence is the map value at the
    arg-max, or with ``mass_window`` the map's mass within +-``mass_window`` cells of it (capped at 1).
    """
    n, k, h, w = maps.shape
    dev, dt = maps.device, maps.dtype
    ox = torch.zeros(n, device=dev, dtype=dt) if x0 is None else x0.to(dev, dt)
    oy = torch.zeros(n, device=dev, dtype=dt) if y0 is None else y0.to(dev, dt)
    score = maps
    if prior_sigma > 0:
        gx = torch.arange(w, device=dev, dtype=dt)[None, :] + ox[:, None]  # (N, w)
        gy = torch.arange(h, device=dev, dtype=dt)[None, :] + oy[:, None]  # (N, h)
        q = torch.nan_to_num(queries.to(dev, dt))
        dx2 = (gx[:, None, :] - q[..., 0:1]) ** 2  # (N, K, w)
        dy2 = (gy[:, None, :] - q[..., 1:2]) ** 2  # (N, K, h)
        prior = torch.exp(-(dy2[..., :, None] + dx2[..., None, :]) / (2 * prior_sigma**2))
        score = maps * prior
    flat = maps.flatten(2)
    idx = score.flatten(2).argmax(-1)  # the first maximum in row-major order
    if mass_window:
        side = 2 * mass_window + 1
        summed = F.avg_pool2d(maps.reshape(n * k, 1, h, w), side, 1, mass_window, count_include_pad=True) * side**2
        conf = summed.reshape(n, k, h * w).gather(-1, idx[..., None])[..., 0].clamp(max=1.0)
    else:
        conf = flat.gather(-1, idx[..., None])[..., 0]
    px = (idx % w).to(dt)
    py = torch.div(idx, w, rounding_mode="floor").to(dt)
    if subcell not in SUBCELL_MODES:
        raise ValueError(f"subcell must be one of {', '.join(SUBCELL_MODES)}, got {subcell!r}")
    if subcell == "centroid":
        padded = F.pad(maps, (1, 1, 1, 1)).flatten(2)  # zeros outside the map
        centre = (py.long() + 1) * (w + 2) + px.long() + 1
        total = torch.zeros_like(px)
        sx = torch.zeros_like(px)
        sy = torch.zeros_like(px)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                v = padded.gather(-1, (centre + dy * (w + 2) + dx)[..., None])[..., 0].clamp(min=0)
                total += v
                sx += v * dx
                sy += v * dy
        safe = total > 0
        px = px + torch.where(safe, sx / total.clamp(min=1e-30), torch.zeros_like(sx))
        py = py + torch.where(safe, sy / total.clamp(min=1e-30), torch.zeros_like(sy))
    xy = torch.stack([px + ox[:, None], py + oy[:, None]], -1)
    xy = torch.where(valid[..., None], xy, torch.full_like(xy, float("nan")))
    conf = torch.where(valid, conf, torch.zeros_like(conf))
    return torch.cat([xy, conf[..., None]], -1)


def gate_by_affinity(affinity: torch.Tensor) -> torch.Tensor:
    """The affinity maps ``(N, K, G, G)`` scaled so that each map peaks at 1 (all-zero maps stay zero).

    Times the refined sigmoid maps, it is the ``gated`` refinement (beyond the paper, issue #23): the
    refiner says which region holds the joint and how sure it is, the affinity map where in that
    region, at the embedding's sharpness; where the two disagree the product, and so the confidence, is low.
    """
    peak = affinity.flatten(2).amax(-1)[..., None, None]
    return affinity / peak.clamp_min(torch.finfo(affinity.dtype).tiny)
