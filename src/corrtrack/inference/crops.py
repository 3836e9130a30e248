"""Isotropic affine crops around person boxes and the inverse mapping (docs/method.md §2.2).

For a box ``[x, y, w, h]`` the crop of size ``out_w x out_h`` is centred on the box centre
and scaled *isotropically* by ``out_w / max(w, h)`` (the reference reuses the x scale for y),
so it covers ``max(w, h)`` wide and ``max(w, h) * out_h / out_w`` high. No rotation, no
extra context; pixels outside the image are black.

All boxes of a frame are handled at once: :func:`crop_transforms` builds the (N, 2, 3)
matrices with array ops, :func:`crop_images` warps the image once per box (OpenCV) into one
(N, out_h, out_w, 3) batch, and :func:`to_image` / :func:`to_crop` map (N, K, 2) points.
"""

from __future__ import annotations

import numpy as np

__all__ = ["crop_images", "crop_transforms", "invert_transforms", "to_crop", "to_image"]


def crop_transforms(boxes: np.ndarray, out_size: tuple[int, int], *, scale_by: str = "width") -> np.ndarray:
    """(N, 2, 3) affine matrices image -> crop for ``boxes`` (N, 4) ``[x, y, w, h]``.

    ``out_size`` is ``(width, height)`` of the crop. ``scale_by="width"`` is the reference
    (scale = out_w / max(w, h)); ``"fit"`` scales by min(out_w / w, out_h / h) instead, so the
    whole box fits with the least context (an option for ablations).
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) [x, y, w, h], got shape {boxes.shape}")
    if not np.isfinite(boxes).all():
        raise ValueError("boxes must be finite (got NaN or inf)")
    if (boxes[:, 2:] <= 0).any():
        bad = int(np.flatnonzero((boxes[:, 2:] <= 0).any(1))[0])
        raise ValueError(f"box {bad} has a non-positive size: {boxes[bad].tolist()}")
    out_w, out_h = out_size
    cx = boxes[:, 0] + boxes[:, 2] / 2
    cy = boxes[:, 1] + boxes[:, 3] / 2
    if scale_by == "width":
        s = out_w / np.maximum(boxes[:, 2], boxes[:, 3])
    elif scale_by == "fit":
        s = np.minimum(out_w / boxes[:, 2], out_h / boxes[:, 3])
    else:
        raise ValueError(f"scale_by must be 'width' or 'fit', got {scale_by!r}")
    m = np.zeros((len(boxes), 2, 3))
    m[:, 0, 0] = s
    m[:, 1, 1] = s
    m[:, 0, 2] = out_w / 2 - s * cx
    m[:, 1, 2] = out_h / 2 - s * cy
    return m


def invert_transforms(matrices: np.ndarray) -> np.ndarray:
    """(N, 2, 3) inverses of (N, 2, 3) affine matrices."""
    m = np.asarray(matrices, dtype=np.float64)
    a = m[:, :, :2]
    inv = np.linalg.inv(a)
    t = -np.einsum("nij,nj->ni", inv, m[:, :, 2])
    return np.concatenate([inv, t[:, :, None]], axis=2)


def _apply(matrices: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[-1] != 2 or pts.shape[0] != len(matrices):
        raise ValueError(f"points must be (N, K, 2) with N = {len(matrices)}, got {pts.shape}")
    return np.einsum("nij,nkj->nki", matrices[:, :, :2], pts) + matrices[:, None, :, 2]


def to_crop(matrices: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (N, K, 2) image points into crop ``n``'s pixels."""
    return _apply(np.asarray(matrices, dtype=np.float64), points)


def to_image(matrices: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (N, K, 2) points of crop ``n`` back to image pixels (the inverse of :func:`to_crop`)."""
    return _apply(invert_transforms(matrices), points)


def crop_images(image: np.ndarray, matrices: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """(N, out_h, out_w, C) crops of ``image`` (H, W, C) by the (N, 2, 3) image -> crop matrices.

    Bilinear sampling, black outside the image (as OpenCV's ``warpAffine`` in the reference).
    The pixel convention is OpenCV's: crop pixel (u, v) samples image point ``M^-1 (u, v)``.
    """
    import cv2

    if image.ndim != 3:
        raise ValueError(f"image must be (H, W, C), got shape {image.shape}")
    out_w, out_h = out_size
    out = np.zeros((len(matrices), out_h, out_w, image.shape[2]), dtype=image.dtype)
    for i, m in enumerate(np.asarray(matrices, dtype=np.float64)):
        warped = cv2.warpAffine(
            image,
            m,
            (out_w, out_h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
        out[i] = warped.reshape(out_h, out_w, -1)
    return out
