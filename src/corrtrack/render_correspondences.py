"""A picture of keypoint correspondences for people (issue 15, point 8; the ``show-corr`` command).

Top row: frame A with the query keypoints of every person, frame B with their correspondences
(a filled dot where the confidence reaches ``tau``, a hollow ring below it; the same colour per
person, lines from each person's query centre to its correspondences' centre). Bottom row: the
confidence maps of a few joints of the first person, over the letter-boxed frame B, each with its
arg-max marked, as in the paper's figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corrtrack.errors import CorrtrackError
from corrtrack.fileio import atomic_path
from corrtrack.inference.correspondences import NetworkCorrespondences, letterbox_image
from corrtrack.keypoints import POSETRACK18
from corrtrack.poses import Poses

__all__ = ["render_correspondences"]

DEFAULT_JOINTS = (0, 5, 9, 16)


def _points(poses: Poses | np.ndarray) -> np.ndarray:
    if isinstance(poses, Poses):
        kp = poses.keypoints
        ok = poses.present
        return np.where(ok[..., None], kp[..., :2], np.nan)
    pts = np.asarray(poses, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[1] != 17 or pts.shape[2] not in (2, 3):
        raise CorrtrackError(f"query poses must be (N, 17, 2 or 3), got shape {pts.shape}")
    if pts.shape[2] == 3:
        pts = np.where(pts[..., 2:3] > 0, pts[..., :2], np.nan)
    return pts


def usable_queries(poses: Poses | np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 17) bool: query joints that are present and inside a ``width`` x ``height`` frame A."""
    pts = _points(poses)
    with np.errstate(invalid="ignore"):
        inside = (pts[..., 0] >= 0) & (pts[..., 0] < width) & (pts[..., 1] >= 0) & (pts[..., 1] < height)
    return np.isfinite(pts).all(-1) & inside


def render_correspondences(
    image_a: np.ndarray,
    image_b: np.ndarray,
    poses: Poses | np.ndarray,
    model: NetworkCorrespondences,
    out: str | Path,
    *,
    joints: Sequence[int] = DEFAULT_JOINTS,
    tau: float = 0.3,
    title: str | None = None,
    dpi: int = 80,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Draw the correspondences of ``poses`` (image A) in image B and some confidence maps; write a PNG.

    ``say(message)`` is told which step starts (matching, drawing), e.g. :func:`corrtrack.progress.phase`.
    Returns ``{"path", "correspondences" (N, 17, 3), "kept" (joints with confidence >= tau)}``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = _points(poses)
    if not len(pts):
        raise CorrtrackError("no query poses to draw")
    if not usable_queries(poses, image_a.shape[1], image_a.shape[0]).any():
        raise CorrtrackError(
            f"no usable query keypoint: every joint is absent or outside frame A ({image_a.shape[1]} x "
            f"{image_a.shape[0]})"
        )
    bad = [j for j in joints if not 0 <= j < 17]
    if bad:
        raise CorrtrackError(f"joint indices must be in 0..16, got {bad}")
    if say is not None:
        queries = int(usable_queries(poses, image_a.shape[1], image_a.shape[0]).sum())
        say(f"matching {queries} query keypoints of {len(pts)} people into frame B (correspondence network)")
    ha, hb = model.embed(image_a), model.embed(image_b)
    corr = model.propagate(ha, hb, pts)
    maps = model.confidence_maps(ha, hb, pts[:1])[0]
    if say is not None:
        say(f"drawing {out}")
    canvas_b, lb = letterbox_image(image_b, model.size)
    colours = plt.get_cmap("tab10")(np.arange(len(pts)) % 10)
    ncols = max(2, len(joints))
    fig = plt.figure(figsize=(3.2 * ncols, 6.6), dpi=dpi)
    grid = fig.add_gridspec(2, ncols, height_ratios=[1.25, 1])
    ax_a = fig.add_subplot(grid[0, : ncols // 2])
    ax_b = fig.add_subplot(grid[0, ncols // 2 :])
    ax_a.imshow(image_a)
    ax_b.imshow(image_b)
    for i, c in enumerate(colours):
        q = pts[i]
        ax_a.scatter(q[:, 0], q[:, 1], s=14, color=c, edgecolors="white", linewidths=0.4)
        r = corr[i]
        keep = r[:, 2] >= tau
        ax_b.scatter(r[keep, 0], r[keep, 1], s=14, color=c, edgecolors="white", linewidths=0.4)
        weak = (~keep) & np.isfinite(r[:, 0])
        ax_b.scatter(r[weak, 0], r[weak, 1], s=14, facecolors="none", edgecolors=c, linewidths=0.8)
    ax_a.set_title("A: query keypoints", fontsize=9)
    ax_b.set_title(f"B: correspondences (filled: confidence >= {tau:g})", fontsize=9)
    for ax, img in ((ax_a, image_a), (ax_b, image_b)):
        ax.set_xlim(-0.5, img.shape[1] - 0.5)  # correspondences outside the frame are not drawn
        ax.set_ylim(img.shape[0] - 0.5, -0.5)
        ax.set_axis_off()
    size = model.size
    for k, j in enumerate(joints):
        ax = fig.add_subplot(grid[1, k])
        ax.imshow(canvas_b)
        m = maps[j]
        ax.imshow(m, extent=(0, size, size, 0), cmap="magma", alpha=0.6, vmin=0, vmax=max(float(m.max()), 1e-6))
        c = corr[0, j]
        if np.isfinite(c[0]):
            x, y = c[:2] * np.array([lb[0, 0], lb[1, 1]]) + lb[:, 2]
            ax.scatter([x], [y], s=40, marker="+", color="cyan")
        ax.set_title(f"{POSETRACK18.joints[j]}: peak {c[2]:.2f}", fontsize=8)
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return {"path": Path(out), "correspondences": corr, "kept": int((corr[..., 2] >= tau).sum())}
