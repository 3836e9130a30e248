"""Rasterise one synthetic person into a frame: shaded limbs, textured clothes, head with hair and face.

Parts are painted far to near (by depth), each as a capsule or polygon into a
small crop around the person; the crop is then composited onto the frame and
into an id buffer, from which joint visibility is read. Clothing textures are
mapped in each part's own frame (along and across the limb, from its first joint),
so a pattern moves with the limb it is on.
"""

from __future__ import annotations

import cv2
import numpy as np

from corrtrack.synth.appearance import Appearance
from corrtrack.synth.body import EXTRA_POINTS

__all__ = ["render_person"]

SHIRT, PANTS, SKIN, HAIR, SHOES, FACE = 1, 2, 3, 4, 5, 6
HC, HIPC, SHOC = EXTRA_POINTS["head_center"], EXTRA_POINTS["hip_center"], EXTRA_POINTS["shoulder_center"]
LTOE, RTOE, LHEEL, RHEEL = (EXTRA_POINTS[k] for k in ("left_toe", "right_toe", "left_heel", "right_heel"))
LHAND, RHAND = EXTRA_POINTS["left_hand"], EXTRA_POINTS["right_hand"]
#: the torso's outline: shoulders, hips and the front and back of chest and pelvis (its volume in profile)
TORSO = (5, 6, 12, 11, *(EXTRA_POINTS[k] for k in ("chest_front", "chest_back", "pelvis_front", "pelvis_back")))


def _parts(app: Appearance, yaw: float) -> list[tuple[str, tuple[int, ...], float, int]]:
    """(kind, points, width as fraction of height, class) for every body part."""
    shin = SKIN if app.shorts else PANTS
    fore = SHIRT if app.long_sleeves else SKIN
    return [
        ("cap", (11, 13), 0.09, PANTS),
        ("cap", (13, 15), 0.066, shin),
        ("cap", (LHEEL, LTOE), 0.045, SHOES),
        ("cap", (12, 14), 0.09, PANTS),
        ("cap", (14, 16), 0.066, shin),
        ("cap", (RHEEL, RTOE), 0.045, SHOES),
        ("cap", (11, 12), 0.11, PANTS),
        ("torso", TORSO, 0.05, SHIRT),
        ("cap", (1, SHOC), 0.05, SKIN),
        ("cap", (5, 7), 0.062, SHIRT),
        ("cap", (7, 9), 0.05, fore),
        ("cap", (9, LHAND), 0.036, SKIN),
        ("cap", (6, 8), 0.062, SHIRT),
        ("cap", (8, 10), 0.05, fore),
        ("cap", (10, RHAND), 0.036, SKIN),
        ("head", (HC,), 0.0, SKIN),
    ]


def render_person(
    frame: np.ndarray,
    id_buffer: np.ndarray,
    person_id: int,
    xy: np.ndarray,
    depth: np.ndarray,
    yaw: float,
    height_px: float,
    app: Appearance,
    light: float = 1.0,
    girth: float = 1.0,
) -> int:
    """Draw the person (``xy``: body points in image pixels) onto ``frame`` and ``id_buffer`` in place.

    Returns the number of pixels drawn (the visible silhouette's area so far).
    """
    h_img, w_img = frame.shape[:2]
    margin = int(0.12 * height_px) + 3
    x0 = int(np.floor(xy[:, 0].min())) - margin
    y0 = int(np.floor(xy[:, 1].min())) - margin
    x1 = int(np.ceil(xy[:, 0].max())) + margin
    y1 = int(np.ceil(xy[:, 1].max())) + margin
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w_img), min(y1, h_img)
    if cx1 <= cx0 or cy1 <= cy0:
        return 0
    cw, ch = x1 - x0, y1 - y0
    shift = 4
    scale = 1 << shift
    pts = np.round((xy - [x0, y0]) * scale).astype(np.int32)
    label = np.zeros((ch, cw), np.uint8)
    part = np.zeros((ch, cw), np.uint8)  # which part (1-based index into _parts) owns a pixel
    shade = np.zeros((ch, cw), np.float32)
    H = height_px

    def cap(a: int, b: int, width: float, cls: int, k: int) -> None:
        w = max(1, round(width * H * girth))
        pa, pb = tuple(map(int, pts[a])), tuple(map(int, pts[b]))
        cv2.line(label, pa, pb, cls, w, cv2.LINE_8, shift)
        cv2.line(part, pa, pb, k, w, cv2.LINE_8, shift)
        cv2.line(shade, pa, pb, 0.62, w, cv2.LINE_8, shift)
        cv2.line(shade, pa, pb, 0.92, max(1, int(w * 0.6)), cv2.LINE_8, shift)
        cv2.line(shade, pa, pb, 1.08, max(1, int(w * 0.22)), cv2.LINE_8, shift)

    parts = _parts(app, yaw)
    # each part's texture frame: an origin and a unit axis along the part (image pixels); row 0: no part
    ends = np.array([(0, 0)] + [(HIPC, SHOC) if kind == "torso" else (idx[0], idx[-1]) for kind, idx, _, _ in parts])
    origin = xy[ends[:, 0]]
    d = xy[ends[:, 1]] - origin
    n = np.hypot(d[:, 0], d[:, 1])[:, None]
    axis = np.where(n > 1e-6, d / np.maximum(n, 1e-6), [0.0, 1.0])
    z = depth.tolist()
    order = [
        (sum(z[i] for i in idx) / len(idx), kind, idx, width, cls, k)
        for k, (kind, idx, width, cls) in enumerate(parts, 1)
    ]
    order.sort(key=lambda t: t[0])
    facing = np.cos(yaw)
    for _, kind, idx, width, cls, k in order:
        if kind == "cap":
            cap(idx[0], idx[1], width, cls, k)
        elif kind == "dot":
            r = max(1, int(width * H * scale))
            cv2.circle(label, tuple(map(int, pts[idx[0]])), r, cls, -1, cv2.LINE_8, shift)
            cv2.circle(shade, tuple(map(int, pts[idx[0]])), r, 0.9, -1, cv2.LINE_8, shift)
        elif kind == "torso":
            poly = cv2.convexHull(pts[list(idx)])
            w = max(1, int(width * H * girth))
            cv2.fillPoly(label, [poly], cls, cv2.LINE_8, shift)
            cv2.polylines(label, [poly], True, cls, w, cv2.LINE_8, shift)
            cv2.fillPoly(part, [poly], k, cv2.LINE_8, shift)
            cv2.polylines(part, [poly], True, k, w, cv2.LINE_8, shift)
            cv2.fillPoly(shade, [poly], 0.95, cv2.LINE_8, shift)
            cv2.polylines(shade, [poly], True, 0.7, w, cv2.LINE_8, shift)
            # a darker centre line suggests the torso's roundness in profile
            mid_top, mid_bot = (pts[idx[0]] + pts[idx[1]]) // 2, (pts[idx[2]] + pts[idx[3]]) // 2
            mid_top = mid_top + (pts[idx[4]] - mid_top) // 3
            cv2.line(shade, tuple(map(int, mid_top)), tuple(map(int, mid_bot)), 1.05, max(1, w // 2), cv2.LINE_8, shift)
        elif kind == "head":
            c = tuple(map(int, pts[HC]))
            ax = (int(0.055 * H * scale), int(0.072 * H * scale))
            if app.hair_long:
                back = tuple(map(int, pts[HC] + np.array([0, 0.025 * H * scale])))
                axes = (int(ax[0] * 1.2), int(ax[1] * 0.92))
                cv2.ellipse(label, back, axes, 0, 0, 360, HAIR, -1, cv2.LINE_8, shift)
                cv2.ellipse(shade, back, axes, 0, 0, 360, 0.85, -1, cv2.LINE_8, shift)
            cv2.ellipse(label, c, ax, 0, 0, 360, SKIN, -1, cv2.LINE_8, shift)
            cv2.ellipse(shade, c, ax, 0, 0, 360, 0.8, -1, cv2.LINE_8, shift)
            cv2.ellipse(shade, c, (int(ax[0] * 0.7), int(ax[1] * 0.7)), 0, 0, 360, 1.0, -1, cv2.LINE_8, shift)
            if facing < -0.1 and not app.bald:  # seen from behind: hair covers the head
                cv2.ellipse(label, c, ax, 0, 0, 360, HAIR, -1, cv2.LINE_8, shift)
            elif facing >= -0.1:  # hair cap, shifted to the back of the head in profile
                side = -np.sin(yaw) * 0.25 * ax[0]
                cap_c = (int(c[0] + side), c[1])
                if not app.bald:
                    cv2.ellipse(
                        label, cap_c, (int(ax[0] * 1.05), int(ax[1] * 1.02)), 0, 180, 360, HAIR, -1, cv2.LINE_8, shift
                    )
                if facing > 0.2:  # eyes and mouth
                    ex = np.sin(yaw) * 0.4 * ax[0]
                    for dx in (-0.4, 0.4):
                        e = (int(c[0] + ex + dx * ax[0] * facing), int(c[1] + 0.05 * ax[1]))
                        cv2.circle(label, e, max(scale, int(0.012 * H * scale)), FACE, -1, cv2.LINE_8, shift)
                    m = (int(c[0] + ex), int(c[1] + 0.5 * ax[1]))
                    cv2.ellipse(
                        label,
                        m,
                        (int(0.22 * ax[0] * facing), max(scale // 2, int(0.04 * ax[1]))),
                        0,
                        0,
                        360,
                        FACE,
                        -1,
                        cv2.LINE_8,
                        shift,
                    )
    # colours
    sub = label[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    mask = sub > 0
    if not mask.any():
        return 0
    yy, xx = np.nonzero(mask)
    classes = sub[yy, xx]
    tile = app.shirt.shape[0]
    scale_tex = tile / max(4.0, 0.18 * H)
    owner = part[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0][yy, xx]
    rx, ry = xx + cx0 - origin[owner, 0], yy + cy0 - origin[owner, 1]
    ax_x, ax_y = axis[owner, 0], axis[owner, 1]
    # along the part (texture rows) and across it (texture columns)
    ty = np.floor((rx * ax_x + ry * ax_y) * scale_tex).astype(np.int64) % tile
    tx = np.floor((ry * ax_x - rx * ax_y) * scale_tex).astype(np.int64) % tile
    # plain parts from a table by class; shirt and trousers from their textures (one gather for both)
    table = np.zeros((FACE + 1, 3))
    table[SKIN], table[HAIR], table[SHOES], table[FACE] = app.skin, app.hair, app.shoes, app.skin * 0.35
    colour = table[classes]
    cloth = np.flatnonzero(classes <= PANTS)
    textures = np.stack([app.shirt, app.pants])
    colour[cloth] = textures[classes[cloth] - SHIRT, ty[cloth], tx[cloth]]
    s = shade[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0][yy, xx]
    s = np.where(s == 0, 0.9, s)
    colour *= (s * light)[:, None]
    frame[yy + cy0, xx + cx0] = np.clip(colour, 0, 255).astype(np.uint8)
    id_buffer[yy + cy0, xx + cx0] = person_id
    return len(yy)
