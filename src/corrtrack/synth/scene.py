"""A SynthTrack sequence: a textured world, a moving camera, people, occluders; frames with exact ground truth.

What makes a frame plausible (docs/synthtrack.md): the camera pans, zooms and shakes
smoothly (sums of slow sinusoids, never a fresh random offset per frame); people enter
only across the frame edges or from behind an occluder; every person who shows at least
one pixel is either annotated or covered by an ignore region traced from its visible
silhouette, and such a region never contains a visible joint of an annotated person.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from corrtrack.keypoints import POSETRACK18
from corrtrack.poses import Poses
from corrtrack.synth.agents import RUN_FACTOR, Agent, Ground
from corrtrack.synth.appearance import Appearance, photo_detail
from corrtrack.synth.body import EXTRA_POINTS, BodyShape, body_points, project
from corrtrack.synth.config import SynthConfig
from corrtrack.synth.person_render import render_person

__all__ = ["OCCLUDER_ID", "SceneFrame", "SyntheticScene", "silhouette_polygons"]

_EARS = [POSETRACK18.index("left_ear"), POSETRACK18.index("right_ear")]
HC = EXTRA_POINTS["head_center"]
HIPC = EXTRA_POINTS["hip_center"]
OCCLUDER_ID = -1
_SCALE_RANGE = (0.85, 1.12)  # a person's height relative to the scene's reference


@dataclass
class SceneFrame:
    """One rendered frame with its ground truth."""

    image: np.ndarray  # RGB uint8
    poses: Poses  # annotated people (ears absent, invisible joints 0,0,0)
    ignore_regions: list[np.ndarray]
    #: per annotated person: joints inside the frame (N, 17) and of those the occluded ones
    in_frame: np.ndarray
    occluded: np.ndarray
    body_heights: np.ndarray  # (N,) pixels
    hip_centers: np.ndarray  # (N, 2) pixels
    lookalike: np.ndarray  # (N,) bool: shares its look group with another person of the sequence
    look_groups: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (N,) outfit group
    areas: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (N,) visible silhouette pixels
    #: per-pixel owner: annotated person i has ``buffer_ids[i]``; bystanders < -1; occluders -1; 0 background
    id_buffer: np.ndarray | None = None
    buffer_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: (M, 4) boxes of person-like structure that is not an annotated person (bystanders, occluders, props)
    distractor_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    #: the world-to-image map of this frame: x_img = zoom * x_world + offset
    camera: np.ndarray = field(default_factory=lambda: np.zeros(3))


def silhouette_polygons(
    mask: np.ndarray, origin: tuple[int, int], avoid: np.ndarray, max_cuts: int = 4
) -> list[np.ndarray]:
    """Polygons (image pixels) that cover the ``True`` pixels of ``mask`` and contain no point of ``avoid``.

    ``mask`` is a crop whose top-left pixel is ``origin`` (x, y). The mask is dilated by one
    pixel so its pixel centres lie strictly inside; a point of ``avoid`` that falls inside (in
    a hole, or in the one-pixel rim) is cut out with a one-pixel channel to the crop's edge,
    the way that crosses the fewest silhouette pixels. Uses the evaluator's test
    (``shapely.contains_xy``). A region is never dropped: a point still inside after
    ``max_cuts`` rounds (one off its pixel centre can stay inside the channel's diagonal
    corners) is cut out of the polygons themselves with a thin slit to the outside.
    """
    import shapely

    # padded so that a silhouette cut by the crop or the frame edge still gets a rim outside its pixels
    m = cv2.dilate(np.pad(mask, 2).astype(np.uint8), np.ones((3, 3), np.uint8))
    avoid = np.asarray(avoid, np.float64).reshape(-1, 2)
    ox, oy = origin[0] - 2, origin[1] - 2
    local = avoid - [ox, oy]
    near = (local[:, 0] > -2) & (local[:, 1] > -2) & (local[:, 0] < m.shape[1] + 1) & (local[:, 1] < m.shape[0] + 1)
    local, avoid = local[near], avoid[near]
    polys: list[np.ndarray] = []
    for _ in range(max_cuts + 1):
        polys = []
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            c = cv2.approxPolyDP(c, 0.5, True).reshape(-1, 2).astype(np.float64) + [ox, oy]
            if len(c) < 3:
                continue
            poly = shapely.Polygon(c)
            if not poly.is_valid:
                fixed = poly.buffer(0)
                parts = list(fixed.geoms) if hasattr(fixed, "geoms") else [fixed]
                polys += [np.asarray(p.exterior.coords)[:-1] for p in parts if p.area > 0]
            else:
                polys.append(c)
        if not len(avoid):
            return polys
        bad = np.zeros(len(avoid), bool)
        for poly in polys:
            bad |= shapely.contains_xy(shapely.Polygon(poly), avoid[:, 0], avoid[:, 1])
        if not bad.any():
            return polys
        for px, py in np.round(local[bad]).astype(int):
            _cut_channel(m, int(px), int(py))
    return _slit(polys, avoid)


def _slit(polys: list[np.ndarray], avoid: np.ndarray) -> list[np.ndarray]:
    """Cut every point of ``avoid`` out of the polygons with a 0.5-pixel slit to the outside (nothing dropped)."""
    import shapely

    out = [shapely.Polygon(p) for p in polys]
    for _ in range(4 * len(avoid) + 4):
        hit = None
        for i, poly in enumerate(out):
            inside = shapely.contains_xy(poly, avoid[:, 0], avoid[:, 1])
            if inside.any():
                hit = (i, avoid[int(np.flatnonzero(inside)[0])])
                break
        if hit is None:
            break
        i, (px, py) = hit
        x0, y0, x1, y1 = out[i].bounds
        slits = (  # to each side of the bounds; keep the cut that loses the least area
            shapely.box(px - 0.25, py - 0.25, px + 0.25, y1 + 1),
            shapely.box(px - 0.25, y0 - 1, px + 0.25, py + 0.25),
            shapely.box(px - 0.25, py - 0.25, x1 + 1, py + 0.25),
            shapely.box(x0 - 1, py - 0.25, px + 0.25, py + 0.25),
        )
        cut = max((out[i].difference(s) for s in slits), key=lambda g: g.area)
        parts = [g for g in getattr(cut, "geoms", [cut]) if isinstance(g, shapely.Polygon) and g.area > 0]
        # a polygon is stored by its outline only: drop holes (a point in a hole is found again and slit out)
        out[i : i + 1] = [shapely.Polygon(g.exterior) for g in parts]
    return [np.asarray(p.exterior.coords)[:-1] for p in out if p.area > 0]


def _cut_channel(m: np.ndarray, px: int, py: int) -> None:
    """Clear a one-pixel channel from (px, py) to the crop's edge, the way that crosses the fewest mask pixels."""
    h, w = m.shape
    px, py = min(max(px, 0), w - 1), min(max(py, 0), h - 1)
    rays = (
        (slice(py, None), slice(px, px + 1)),  # down
        (slice(0, py + 1), slice(px, px + 1)),  # up
        (slice(py, py + 1), slice(px, None)),  # right
        (slice(py, py + 1), slice(0, px + 1)),  # left
    )
    best = min(rays, key=lambda r: int(m[r].sum()))
    m[best] = 0


def _detail_layer(rng: np.random.Generator, h: int, w: int, zoom_range: tuple[float, float] = (1.5, 3.0)) -> np.ndarray:
    """A (h, w) luminance detail layer from a real photograph, tiled, flipped and rescaled (grain, not motifs)."""
    maps = photo_detail()
    m = maps[int(rng.integers(len(maps)))]
    m = m[:: int(rng.choice([-1, 1])), :: int(rng.choice([-1, 1]))]
    if rng.random() < 0.5:
        m = m.T
    zoom = rng.uniform(*zoom_range)
    tile = cv2.resize(m, (max(8, int(m.shape[1] * zoom)), max(8, int(m.shape[0] * zoom))))
    reps = (h // tile.shape[0] + 2, w // tile.shape[1] + 2)
    big = np.tile(tile, reps)
    y, x = int(rng.integers(0, tile.shape[0])), int(rng.integers(0, tile.shape[1]))
    return big[y : y + h, x : x + w]


def _world_image(rng: np.random.Generator, w: int, h: int, true_horizon: float, photo: float) -> np.ndarray:
    """A street-like world: facades with windows and doors above the horizon, paved ground below.

    ``true_horizon`` (world y) may lie above the world's top edge: a camera that looks down sees only ground.
    """
    horizon = int(min(max(true_horizon, 0), h - 1))
    img = np.zeros((h, w, 3), np.float32)
    img[:] = rng.uniform(170, 230) + rng.uniform(-15, 15, 3) * np.array([1.0, 1.0, 1.5])  # pale sky
    x = 0
    while x < w:  # facades, mostly muted colours
        bw = int(rng.uniform(0.08, 0.25) * w)
        top = int(rng.uniform(0.0, 0.6) * horizon)
        grey = rng.uniform(70, 200)
        colour = 0.55 * grey + 0.45 * rng.uniform(60, 210, 3)  # muted: stone, brick, plaster
        img[top:horizon, x : x + bw] = colour
        win = rng.uniform(20, 90, 3)
        step_x, step_y = int(rng.uniform(14, 30)), int(rng.uniform(16, 34))
        for wy in range(top + 8, horizon - 12, step_y):
            for wx in range(x + 6, x + bw - 10, step_x):
                img[wy : wy + step_y // 2, wx : wx + step_x // 2] = win
        if rng.random() < 0.5:  # a door or a shop window at street level
            dw = int(rng.uniform(0.15, 0.5) * bw)
            dx = x + int(rng.uniform(0, max(1, bw - dw)))
            img[horizon - int(0.12 * h) : horizon, dx : dx + dw] = rng.uniform(15, 70, 3)
        x += bw
    if photo > 0 and horizon > 0:  # real photographic grain on walls
        img[:horizon] *= 1 + 0.12 * photo * _detail_layer(rng, horizon, w)[..., None]
    ground = rng.uniform(75, 160) + rng.uniform(-12, 12, 3)  # grey or brownish paving
    img[horizon:] = ground
    low = cv2.resize(
        rng.uniform(-1, 1, (max(2, h // 40), max(2, w // 40))).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
    )
    fine = rng.normal(0, 1, (h, w)).astype(np.float32)
    img[horizon:] += (18 * low[horizon:] + 6 * fine[horizon:])[..., None]
    if photo > 0:
        img[horizon:] *= 1 + 0.06 * photo * _detail_layer(rng, h - horizon, w, (1.0, 2.0))[..., None]
    tile = int(rng.uniform(30, 70))
    for gy in range(horizon, h, tile // 2):  # paving joints, denser toward the horizon
        cv2.line(img, (0, gy), (w, gy), (ground * 0.75).tolist(), 1)
    vanish = int(max(true_horizon, -4 * h))  # the paving's lines converge at the (true) horizon
    for gx in range(-w, 2 * w, tile):
        cv2.line(img, (w // 2 + (gx - w // 2) // 3, vanish), (gx, h), (ground * 0.8).tolist(), 1)
    for _ in range(int(rng.integers(3, 9)) if horizon > 0 else 0):  # bushes and trees along the horizon
        c = (int(rng.uniform(0, w)), int(horizon - rng.uniform(0, 0.1) * h))
        r = int(rng.uniform(0.03, 0.08) * h)
        cv2.circle(img, c, r, rng.uniform(20, 110, 3).tolist() * np.array([0.6, 1.0, 0.5]), -1)
    return img


@dataclass
class Prop:
    """A static prop (bin, bollard, bench, lamp, poster, planter) standing at world point (x, y).

    It is a sprite drawn in depth order with the people (a person behind it is hidden by it, and
    its pixels count as an occluder's), not paint on the background.
    """

    x: float
    y: float
    kind: str
    sprite: np.ndarray  # (h, w, 3) float32 RGB at world scale
    mask: np.ndarray  # (h, w) float32, 1 on the prop
    anchor: tuple[float, float]  # the sprite pixel that stands on (x, y)
    box: np.ndarray  # (4,) x, y, w, h relative to (x, y) at world scale
    _cache: tuple = ()


def _make_prop(world: np.ndarray, rng: np.random.Generator, kind: str, x: float, y: float, h: float) -> Prop:
    """A prop standing at world point (x, y) (``h``: a person's height there); its shadow is painted on ``world``."""
    cw, ch = int(1.0 * h) + 8, int(2.0 * h) + 8
    ax, ay = cw / 2, ch - 4.0
    canvas = np.full((ch, cw, 3), -1.0, np.float32)  # -1: not the prop
    box = _draw_prop(canvas, world, rng, kind, ax, ay, x, y, h)
    canvas[..., 0] = np.where((canvas >= 0).all(-1), canvas[..., 0], -1.0)
    mask = (canvas[..., 0] >= 0).astype(np.float32)
    sprite = np.clip(canvas, 0, 255)
    box = box - np.array([ax, ay, 0.0, 0.0])
    return Prop(x, y, kind, sprite, mask, (ax, ay), box)


def _draw_prop(
    img: np.ndarray,
    world: np.ndarray,
    rng: np.random.Generator,
    kind: str,
    x: float,
    y: float,
    wx: float,
    wy: float,
    h: float,
) -> np.ndarray:
    """Draw a prop standing at (x, y) of ``img`` and its cast shadow at world point (wx, wy). Returns its box."""
    dark = rng.uniform(25, 90, 3)
    shadow = (0.55 * world[int(np.clip(wy, 0, world.shape[0] - 1)), int(np.clip(wx, 0, world.shape[1] - 1))]).tolist()
    cv2.ellipse(world, (int(wx + 0.1 * h), int(wy)), (int(0.25 * h) + 1, int(0.04 * h) + 1), 0, 0, 360, shadow, -1)
    if kind == "bin":
        w, t = 0.22 * h, 0.5 * h
        cv2.rectangle(img, (int(x - w / 2), int(y - t)), (int(x + w / 2), int(y)), dark.tolist(), -1)
        cv2.rectangle(img, (int(x - w / 2), int(y - t)), (int(x + w / 2), int(y - 0.9 * t)), (dark * 1.4).tolist(), -1)
        box = (x - w / 2, y - t, w, t)
    elif kind == "bollard":  # person-like: a post with a round head
        w, t = 0.08 * h, 0.6 * h
        cv2.rectangle(img, (int(x - w / 2), int(y - t)), (int(x + w / 2), int(y)), dark.tolist(), -1)
        cv2.circle(img, (int(x), int(y - t)), int(w * 0.8) + 1, (dark * 1.2).tolist(), -1)
        box = (x - w, y - t - w, 2 * w, t + w)
    elif kind == "bench":
        w, t = 0.9 * h, 0.45 * h
        wood = rng.uniform(60, 140, 3) * np.array([1.0, 0.8, 0.6])
        cv2.rectangle(img, (int(x - w / 2), int(y - 0.25 * h)), (int(x + w / 2), int(y - 0.2 * h)), wood.tolist(), -1)
        cv2.rectangle(img, (int(x - w / 2), int(y - t)), (int(x + w / 2), int(y - 0.36 * h)), wood.tolist(), -1)
        for lx in (x - 0.4 * w, x + 0.4 * w):
            cv2.line(img, (int(lx), int(y - 0.25 * h)), (int(lx), int(y)), dark.tolist(), max(1, int(0.02 * h)))
        box = (x - w / 2, y - t, w, t)
    elif kind == "lamp":  # a tall pole
        t = 1.8 * h
        cv2.line(img, (int(x), int(y)), (int(x), int(y - t)), dark.tolist(), max(1, int(0.03 * h)))
        cv2.ellipse(
            img, (int(x), int(y - t)), (int(0.1 * h) + 1, int(0.04 * h) + 1), 0, 0, 360, (dark * 1.5).tolist(), -1
        )
        box = (x - 0.1 * h, y - t, 0.2 * h, t)
    elif kind == "poster":  # a standing board with a photographic print: person-like texture
        w, t = 0.45 * h, 0.9 * h
        patch = rng.uniform(60, 200, 3)[None, None] * (1 + 0.35 * _detail_layer(rng, int(t) + 1, int(w) + 1)[..., None])
        patch = np.clip(patch, 0, 255)
        x0, y0 = int(x - w / 2), int(y - t)
        ys, xs = (
            slice(max(0, y0), max(0, min(img.shape[0], y0 + patch.shape[0]))),
            slice(max(0, x0), max(0, min(img.shape[1], x0 + patch.shape[1]))),
        )
        sub = patch[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
        img[ys, xs] = sub
        box = (x - w / 2, y - t, w, t)
    else:  # planter
        w, t = 0.6 * h, 0.35 * h
        cv2.rectangle(img, (int(x - w / 2), int(y - t)), (int(x + w / 2), int(y)), dark.tolist(), -1)
        green = rng.uniform(20, 90, 3) * np.array([0.6, 1.2, 0.5])
        cv2.ellipse(img, (int(x), int(y - t)), (int(w / 2), int(0.25 * h)), 0, 180, 360, green.tolist(), -1)
        box = (x - w / 2, y - t - 0.25 * h, w, t + 0.25 * h)
    return np.array(box, np.float64)


@dataclass
class Occluder:
    x: float  # world x of the base centre
    y: float  # world y of the base (depth)
    width: float  # world px
    height: float
    colour: np.ndarray
    kind: str  # pillar | sign | kiosk
    texture: np.ndarray | None = None  # (h, w, 3) float RGB at world scale


class SyntheticScene:
    """Simulates and renders one sequence; iterate with :meth:`frames`."""

    def __init__(self, cfg: SynthConfig, seed: int) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)
        rng = self.rng
        W, H = cfg.width, cfg.height
        self.world_w = int(W * 2.2)
        self.world_h = int(H * 1.25)
        near = self.world_h * 0.96
        ref = H * rng.uniform(*cfg.scale_range)
        cam_y = self.world_h / 2 + rng.uniform(-0.05, 0.05) * H
        # a pinhole camera over a ground plane: a person of scale 1 standing at world y is
        # (y - horizon) / camera_height pixels tall (camera height in body heights). The height is drawn
        # per sequence and lowered where the framing (scale_range) would tilt the camera down more than
        # max_tilt; the tilt follows from where the horizon lies against the image centre.
        self.focal = cfg.focal_length * W
        highest = (near - (cam_y - self.focal * math.tan(math.radians(cfg.max_tilt)))) / ref
        self.camera_height = float(min(rng.uniform(*cfg.camera_height), highest))
        self.horizon = float(near - self.camera_height * ref)
        self.camera_tilt = float(math.degrees(math.atan2(cam_y - self.horizon, self.focal)))
        world = _world_image(rng, self.world_w, self.world_h, self.horizon, cfg.photo_textures)
        # the far edge of the walkable floor: the smallest person there, at the widest zoom, is still
        # annotated; and it lies inside the view (a camera looking down sees no far floor)
        smallest = _SCALE_RANGE[0] * (1 - cfg.zoom_amplitude)
        y_min = self.horizon + cfg.min_height * 1.08 * H / (ref * smallest) * (near - self.horizon)
        y_min = min(y_min, self.horizon + 0.8 * (near - self.horizon))
        view_top = cam_y - H / 2
        y_min = max(y_min, view_top + 0.15 * H)
        self.ground = Ground(self.horizon, near, ref, y_min, near)
        # bystanders keep to a band of their own behind the annotated floor (feet inside the view)
        far = max(self.horizon + 2, view_top + 0.02 * H)
        self.bystander_floor = (min(far, y_min - 1 - 0.05 * H), y_min - 1)
        self.shadow_dir = rng.uniform(-0.4, 0.4)
        self.props: list[Prop] = []
        for _ in range(cfg.clutter):  # props stand in the back half of the floor: people pass in front and behind
            lo = max(self.horizon + 4, view_top + 0.1 * H)
            y = rng.uniform(lo, max(lo + 1, self.horizon + 0.55 * (near - self.horizon)))
            kind = str(rng.choice(["bin", "bollard", "bench", "lamp", "poster", "planter"]))
            x = rng.uniform(0, self.world_w)
            self.props.append(_make_prop(world, rng, kind, x, y, float(self.ground.height(y))))
        self.world = np.clip(world, 0, 255).astype(np.uint8)
        self.cam = np.array([self.world_w / 2, cam_y])
        self.cam_phase = rng.uniform(0, 2 * math.pi, 3)
        # smooth handheld shake: three slow sinusoids per axis (0.3-2 Hz), scaled to std ``shake``
        freqs = rng.uniform(0.3, 2.0, (2, 3))
        amps = 1 / freqs
        amps *= cfg.shake / np.sqrt((amps**2).sum(1, keepdims=True) / 2)
        self.shake_params = (freqs, amps, rng.uniform(0, 2 * math.pi, (2, 3)))
        self.tint = 1 + rng.uniform(-0.08, 0.08, 3)
        self.light_period = rng.uniform(40, 120)
        self.next_pid = 0
        self.next_group = 0
        self.group_members: Counter[int] = Counter()
        self.founders: dict[int, Agent] = {}
        self.agents: list[Agent] = []
        self.background: list[Agent] = []
        self.t = 0
        self.occluders = [self._occluder() for _ in range(cfg.occluders)]
        for _ in range(int(rng.integers(cfg.people[0], cfg.people[1] + 1))):
            self._spawn(inside=True)
        for i in range(cfg.background_people):
            a = self._new_agent(
                self.rng.uniform(0, self.world_w),
                self.rng.uniform(*self.bystander_floor),
                rng.choice([0.0, math.pi]),
                bystander=True,
            )
            a.pid = -100 - i
            a.floor = self.bystander_floor
            if rng.random() < 0.4:  # some bystanders just stand (a crowd waiting)
                a.state, a.timer, a.gait_w, a.velocity = "stop", 10**9, 0.0, 0.0
            self.background.append(a)

    # setup --------------------------------------------------------------
    def _occluder(self) -> Occluder:
        g, rng = self.ground, self.rng
        y = rng.uniform(g.y_min + 0.2 * (g.y_max - g.y_min), g.y_max)
        h = float(g.height(y))
        x = self.cam[0] + rng.uniform(-0.35, 0.35) * self.cfg.width
        kind = str(rng.choice(["pillar", "sign", "kiosk"]))
        # widths and heights in body heights of a person standing at the occluder's depth
        width = (
            h * {"pillar": rng.uniform(0.3, 0.45), "sign": rng.uniform(0.35, 0.6), "kiosk": rng.uniform(0.9, 1.6)}[kind]
        ) * self.cfg.occluder_size
        height = h * (rng.uniform(1.1, 1.3) if kind == "kiosk" else rng.uniform(1.2, 1.6))
        colour = rng.uniform(60, 170, 3) * rng.uniform(0.6, 1.0) + rng.uniform(0, 50)
        th, tw = max(4, int(height)), max(4, int(width))
        tex = colour[None, None] * (1 + 0.18 * self.cfg.photo_textures * _detail_layer(rng, th, tw)[..., None])
        tex *= np.linspace(0.72, 1.12, tw)[None, :, None]  # light from one side
        if kind == "kiosk":  # a dark window band and a poster
            tex[int(0.15 * th) : int(0.45 * th), int(0.08 * tw) : int(0.92 * tw)] *= 0.35
            px0 = int(rng.uniform(0.1, 0.6) * tw)
            tex[int(0.55 * th) : int(0.85 * th), px0 : px0 + max(2, int(0.25 * tw))] = rng.uniform(60, 230, 3)
        elif kind == "pillar":  # edges catch the light
            tex[:, : max(1, tw // 12)] *= 1.25
            tex[:, -max(1, tw // 12) :] *= 0.7
        return Occluder(x, y, width, height, colour, kind, np.clip(tex, 0, 255).astype(np.float32))

    def _view_x(self) -> tuple[float, float]:
        half = self.cfg.width / 2
        return self.cam[0] - half, self.cam[0] + half

    def _new_agent(
        self, x: float, y: float, heading: float, copy_of: Agent | None = None, bystander: bool = False
    ) -> Agent:
        rng, cfg = self.rng, self.cfg
        if copy_of is not None:  # varied from the group's first member, so looks do not drift along a chain
            founder = self.founders[copy_of.look_group]
            shape = founder.shape if cfg.clone_lookalikes else founder.shape.varied(rng)
            app = founder.app.variant(rng, clone=cfg.clone_lookalikes)
            scale = founder.scale * (rng.uniform(0.97, 1.03) if cfg.clone_lookalikes else rng.uniform(0.92, 1.08))
            group = copy_of.look_group
        else:
            shape, scale = BodyShape.random(rng), rng.uniform(*_SCALE_RANGE)
            app = Appearance.random(rng, photo_fraction=cfg.photo_textures)
            group = self.next_group
            self.next_group += 1
        a = Agent(
            self.next_pid,
            shape,
            app,
            scale,
            x,
            y,
            heading,
            cfg.speed * rng.uniform(0.8, 1.2) * (0.5 if bystander else 1.0),
            bool(rng.random() < cfg.run_probability) and not bystander,
            phase=rng.uniform(0, 2 * math.pi),
            stride=1.15 * rng.uniform(0.9, 1.1),
            look_group=group,
            lookalike_of=copy_of.pid if copy_of is not None else None,
        )
        a.yaw = a.target_yaw()
        a.velocity = a.speed * (RUN_FACTOR if a.running else 1.0)
        self.founders.setdefault(group, a)
        if not bystander:
            self.group_members[group] += 1
        self.next_pid += 1
        return a

    def _pick_lookalike(self) -> Agent | None:
        if self.agents and self.rng.random() < self.cfg.lookalike_fraction:
            return self.agents[int(self.rng.integers(len(self.agents)))]
        return None

    def _entry_point(self, inside: bool) -> tuple[float, float, float, bool]:
        """Where a new person starts: anywhere at the start, later only beyond a frame edge or behind an occluder."""
        rng, g = self.rng, self.ground
        left, right = self._view_x()
        y = rng.uniform(g.y_min, g.y_max)
        if inside:
            x = rng.uniform(left + 0.05 * (right - left), right - 0.05 * (right - left))
            return x, y, rng.uniform(-math.pi, math.pi), False
        hiding = [o for o in self.occluders if o.kind in ("kiosk", "pillar")]
        if hiding and rng.random() < 0.3:
            o = hiding[int(rng.integers(len(hiding)))]
            # just behind it (farther away) and small enough to be hidden completely
            y = max(g.y_min, o.y - 0.04 * (g.y_max - g.y_min))
            h = float(g.height(y)) * _SCALE_RANGE[1]
            if o.height >= 1.05 * h and o.width >= 0.42 * h:
                return o.x, y, rng.choice([0.0, math.pi]) + rng.normal(0, 0.15), True
        from_left = rng.random() < 0.5
        x = left - 0.15 * (right - left) if from_left else right + 0.15 * (right - left)
        return x, y, rng.normal(0 if from_left else math.pi, 0.3), False

    def _spawn(self, inside: bool) -> None:
        rng, g = self.rng, self.ground
        left, right = self._view_x()
        if rng.random() < self.cfg.crossing_rate:  # a pair that walks toward each other at nearly the same depth
            y = rng.uniform(g.y_min, g.y_max)
            dy = rng.uniform(0.02, 0.08) * (g.y_max - g.y_min) * rng.choice([-1, 1])
            span = rng.uniform(0.5, 0.9) * (right - left) if inside else (right - left) * 1.6
            mid = rng.uniform(left + 0.35 * (right - left), right - 0.35 * (right - left))
            first = self._new_agent(mid - span / 2, y, rng.normal(0, 0.08), self._pick_lookalike())
            self.agents.append(first)
            copy = first if rng.random() < self.cfg.lookalike_fraction else self._pick_lookalike()
            second = self._new_agent(
                mid + span / 2, float(np.clip(y + dy, g.y_min, g.y_max)), math.pi + rng.normal(0, 0.08), copy
            )
            self.agents.append(second)
            return
        x, y, heading, behind = self._entry_point(inside)
        leader = self._new_agent(x, y, heading, self._pick_lookalike())
        self.agents.append(leader)
        if not behind and rng.random() < self.cfg.group_rate:  # a companion beside the leader, sometimes hand in hand
            copy = leader if rng.random() < self.cfg.lookalike_fraction else None
            side = float(rng.choice([-1.0, 1.0]))
            gap = side * 0.42 * leader.body_height(g)
            mate = self._new_agent(
                x - gap * math.sin(heading),
                float(np.clip(y + 0.45 * gap * math.cos(heading), g.y_min, g.y_max)),
                heading,
                copy,
            )
            mate.leader, mate.side, mate.running = leader, side, leader.running
            mate.speed, mate.velocity, mate.phase = leader.speed, leader.velocity, leader.phase
            mate.holding = leader.holding = bool(rng.random() < 0.5)
            mate.holding_w = leader.holding_w = float(mate.holding)
            leader.side = -side
            self.agents.append(mate)

    # simulation -----------------------------------------------------------
    def _camera(self, t: int) -> tuple[np.ndarray, float, np.ndarray]:
        cfg = self.cfg
        vx = cfg.pan_speed * math.sin(2 * math.pi * t / 90 + self.cam_phase[0])
        vy = 0.25 * cfg.pan_speed * math.sin(2 * math.pi * t / 70 + self.cam_phase[1])
        self.cam += (vx, vy)
        half = np.array([cfg.width, cfg.height]) / 2
        self.cam = np.clip(self.cam, half, np.array([self.world_w, self.world_h]) - half)
        zoom = 1 + cfg.zoom_amplitude * math.sin(2 * math.pi * t / 110 + self.cam_phase[2])
        freqs, amps, phases = self.shake_params
        shake = (amps * np.sin(2 * math.pi * freqs * t / cfg.fps + phases)).sum(1)
        return self.cam.copy(), zoom, shake

    def _update_agents(self) -> None:
        cfg = self.cfg
        for a in self.agents + self.background:
            x, y = a.x, a.y
            a.step(self.ground, cfg, self.rng)
            self._no_walking_through(a, x, y)
        left, right = self._view_x()
        margin = 0.3 * (right - left)
        for a in self.agents:  # out of view: some turn around (with their turning radius) and come back later
            outside = a.x < left - 0.12 * (right - left) or a.x > right + 0.12 * (right - left)
            leaving = (a.x < left and math.cos(a.heading) < 0) or (a.x > right and math.cos(a.heading) > 0)
            if outside and leaving and not a.returning and a.leader is None:
                a.returning = True
                if self.rng.random() < cfg.return_rate:
                    a.target_heading = math.pi - a.heading + self.rng.normal(0, 0.3)
                    a.state, a.timer, a.coming_back = "stop", int(self.rng.uniform(0.3, 2.0) * cfg.fps), True
            elif not outside:
                a.returning = a.coming_back = False
        far = 3 * margin  # room for the ones coming back to slow down and turn
        self.agents = [
            a
            for a in self.agents
            if left - (far if a.coming_back else margin) < a.x < right + (far if a.coming_back else margin)
        ]
        alive = {id(a) for a in self.agents}
        for a in self.agents:
            if a.leader is not None and id(a.leader) not in alive:
                a.leader, a.holding = None, False
        for a in self.background:  # out of view on one side: walks in on the other (depth kept)
            if not left - margin < a.x < right + margin:
                a.x = right + margin * 0.5 if a.x < left else left - margin * 0.5
        while len(self.agents) < cfg.people[0]:
            self._spawn(inside=False)
        if len(self.agents) < cfg.people[1] and self.rng.random() < 0.02:
            self._spawn(inside=False)

    def _no_walking_through(self, a: Agent, x: float, y: float) -> None:
        """Occluders and props have a footprint: a person does not cross one's depth inside its width (slides along)."""
        half = 0.12 * a.body_height(self.ground)
        for ox, oy, ow in self._footprints:
            if (y - oy) * (a.y - oy) <= 0 and a.y != y and abs(a.x - ox) < ow / 2 + half:
                a.y = y
                return

    @property
    def _footprints(self) -> list[tuple[float, float, float]]:
        return [(o.x, o.y, o.width) for o in self.occluders] + [(p.x, p.y, float(p.box[2])) for p in self.props]

    def _shadow(self, image: np.ndarray, foot: tuple[float, float], h_px: float, lift: float) -> None:
        strength = self.cfg.shadows * max(0.0, 1 - 3 * lift)
        if strength <= 0 or h_px < 4:
            return
        ax, ay = 0.22 * h_px, 0.045 * h_px
        cx, cy = foot[0] + self.shadow_dir * h_px * 0.2, foot[1]
        x0, x1 = int(cx - 1.6 * ax), int(cx + 1.6 * ax) + 1
        y0, y1 = int(cy - 2.5 * ay), int(cy + 2.5 * ay) + 1
        H, W = image.shape[:2]
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
        if cx1 <= cx0 or cy1 <= cy0:
            return
        disc = np.zeros((y1 - y0, x1 - x0), np.float32)
        cv2.ellipse(disc, (int(cx - x0), int(cy - y0)), (max(1, int(ax)), max(1, int(ay))), 0, 0, 360, 1.0, -1)
        mask: np.ndarray = cv2.GaussianBlur(disc, (0, 0), max(0.8, 0.3 * ay))
        sub = mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        region = image[cy0:cy1, cx0:cx1]
        region[:] = (region * (1 - strength * sub)[..., None]).astype(np.uint8)

    def frames(self, num_frames: int, start: int = 0) -> Iterator[SceneFrame]:
        """Render ``num_frames`` frames after simulating (not rendering) ``start`` frames first."""
        cfg = self.cfg
        W, H = cfg.width, cfg.height
        prev_offset = None
        for t in range(start):
            if t > 0:
                self._update_agents()
            self._camera(t)
        for t in range(start, start + num_frames):
            if t > 0:
                self._update_agents()
            self.t = t
            cam, zoom, shake = self._camera(t)
            offset = np.array([W / 2, H / 2]) - zoom * cam + shake
            M = np.array([[zoom, 0, offset[0]], [0, zoom, offset[1]]], np.float32)
            image = cv2.warpAffine(self.world, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            id_buffer = np.zeros((H, W), np.int32)
            light = 1 + cfg.lighting * math.sin(2 * math.pi * t / self.light_period)
            # far to near: people, occluders and props hide what stands behind them
            entities: list[tuple[float, Agent | Occluder | Prop]] = [(a.y, a) for a in self.agents + self.background]
            entities += [(o.y, o) for o in self.occluders]
            entities += [(p.y, p) for p in self.props]
            entities.sort(key=lambda e: e[0])
            projected = {}
            distractors = []
            for _, ent in entities:
                if isinstance(ent, Occluder):
                    distractors.append(self._draw_occluder(image, id_buffer, ent, zoom, offset))
                    continue
                if isinstance(ent, Prop):
                    box = self._draw_prop_sprite(image, id_buffer, ent, zoom, offset)
                    if box is not None:
                        distractors.append(box)
                    continue
                h_px = ent.body_height(self.ground) * zoom
                foot = (zoom * ent.x + offset[0], zoom * ent.y + offset[1])
                pose = ent.pose()
                pts = body_points(ent.shape, pose)
                pitch = self.pitch(ent.y, ent.body_height(self.ground))
                xy, depth = project(pts, ent.yaw, foot, h_px, pitch)
                self._shadow(image, foot, h_px, pose.airborne)
                bid = ent.pid + 1 if ent.pid >= 0 else ent.pid
                render_person(image, id_buffer, bid, xy, depth, ent.yaw, h_px, ent.app, girth=ent.shape.girth)
                projected[ent.pid] = (xy, h_px)
            image = self._photometric(image, light, offset, prev_offset)
            prev_offset = offset
            yield self._annotate(image, id_buffer, projected, np.array(distractors).reshape(-1, 4), offset, zoom)

    def pitch(self, y: float, height: float) -> float:
        """How far the camera looks down (radians) at something ``height`` tall standing at world y (its middle)."""
        return min(max(math.atan2(y - self.horizon - 0.55 * height, self.focal), -0.3), 1.2)

    def _draw_prop_sprite(
        self, image: np.ndarray, id_buffer: np.ndarray, prop: Prop, zoom: float, offset: np.ndarray
    ) -> np.ndarray | None:
        """Composite a prop (foreshortened like a person there), mark its pixels as an occluder's; its image box."""
        fore = math.cos(self.pitch(prop.y, float(self.ground.height(prop.y))))
        sx, sy = zoom, zoom * fore
        key = (round(sx, 4), round(sy, 4))
        if prop._cache and prop._cache[0] == key:
            sprite, mask = prop._cache[1], prop._cache[2]
        else:
            h, w = prop.mask.shape
            size = (max(1, round(w * sx)), max(1, round(h * sy)))
            sprite = cv2.resize(prop.sprite, size, interpolation=cv2.INTER_LINEAR)
            mask = cv2.resize(prop.mask, size, interpolation=cv2.INTER_LINEAR) > 0.5
            prop._cache = (key, sprite, mask)
        fx, fy = zoom * prop.x + offset[0], zoom * prop.y + offset[1]
        x0, y0 = round(fx - prop.anchor[0] * sx), round(fy - prop.anchor[1] * sy)
        H, W = image.shape[:2]
        cx0, cy0 = max(x0, 0), max(y0, 0)
        cx1, cy1 = min(x0 + mask.shape[1], W), min(y0 + mask.shape[0], H)
        bx, by, bw, bh = prop.box
        box = np.array([fx + sx * bx, fy + sy * by, sx * bw, sy * bh])
        if cx1 <= cx0 or cy1 <= cy0:
            return box
        m = mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        region = image[cy0:cy1, cx0:cx1]
        region[m] = sprite[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0][m].astype(np.uint8)
        id_buffer[cy0:cy1, cx0:cx1][m] = OCCLUDER_ID
        return box

    def _draw_occluder(
        self, image: np.ndarray, id_buffer: np.ndarray, o: Occluder, zoom: float, offset: np.ndarray
    ) -> np.ndarray:
        """Paint a static occluder (shaded boxes), mark its pixels in the id buffer, return its image box."""
        bx, by = zoom * o.x + offset[0], zoom * o.y + offset[1]
        fore = math.cos(self.pitch(o.y, float(self.ground.height(o.y))))  # foreshortened like a person there
        w, h = zoom * o.width, zoom * o.height * fore
        if o.kind == "sign":  # a pole and a board
            pole = max(2.0, 0.06 * w)
            boxes = [
                (bx - pole / 2, bx + pole / 2, by - 0.7 * h, by, 0.5),
                (bx - w / 2, bx + w / 2, by - h, by - 0.55 * h, 1.0),
            ]
        else:  # pillar (tall, narrow) or kiosk (wide, about head high): one shaded box
            boxes = [(bx - w / 2, bx + w / 2, by - h, by, 1.0)]
        for x0, x1, y0, y1, tone in boxes:
            region = (
                slice(max(0, int(y0)), max(0, min(image.shape[0], int(y1)))),
                slice(max(0, int(x0)), max(0, min(image.shape[1], int(x1)))),
            )
            sub = image[region]
            if not sub.size:
                continue
            full_w, full_h = max(1, int(x1) - int(x0)), max(1, int(y1) - int(y0))
            if o.texture is not None and tone == 1.0:
                tex = cv2.resize(o.texture, (full_w, full_h), interpolation=cv2.INTER_AREA)
            else:
                tex = np.broadcast_to(o.colour * tone * np.linspace(0.7, 1.15, full_w)[:, None], (full_h, full_w, 3))
            sx, sy = region[1].start - int(x0), region[0].start - int(y0)
            sub[:] = np.clip(tex[sy : sy + sub.shape[0], sx : sx + sub.shape[1]], 0, 255).astype(np.uint8)
            id_buffer[region] = OCCLUDER_ID
        return np.array([bx - w / 2, by - h, w, h])

    def _photometric(
        self, image: np.ndarray, light: float, offset: np.ndarray, prev_offset: np.ndarray | None
    ) -> np.ndarray:
        cfg = self.cfg
        out = image
        if cfg.optics_blur > 0:
            out = cv2.GaussianBlur(out, (0, 0), cfg.optics_blur)
        if cfg.motion_blur > 0 and prev_offset is not None:
            motion = offset - prev_offset
            length = cfg.motion_blur * float(np.hypot(*motion))
            if length >= 2:
                k = int(min(25, round(length))) | 1
                kernel = np.zeros((k, k), np.float32)
                c = k // 2
                d = motion / (np.hypot(*motion) + 1e-9)
                cv2.line(
                    kernel,
                    (round(c - d[0] * c), round(c - d[1] * c)),
                    (round(c + d[0] * c), round(c + d[1] * c)),
                    1.0,
                    1,
                )
                out = cv2.filter2D(out, -1, kernel / kernel.sum())
        out = out.astype(np.float32)
        out *= (light * self.tint).astype(np.float32)
        if cfg.noise > 0:
            out += cfg.noise * self.rng.standard_normal(out.shape[:2] + (1,), dtype=np.float32)
        np.clip(out, 0, 255, out=out)
        return out.astype(np.uint8)

    def _annotate(
        self,
        image: np.ndarray,
        id_buffer: np.ndarray,
        projected: dict,
        distractors: np.ndarray,
        offset: np.ndarray,
        zoom: float,
    ) -> SceneFrame:
        cfg = self.cfg
        H, W = image.shape[:2]
        rows, hidden = [], []
        for a in self.agents + self.background:
            if a.pid not in projected:
                continue
            xy, h_px = projected[a.pid]
            bid = a.pid + 1 if a.pid >= 0 else a.pid
            margin = 0.2 * h_px + 3
            (lx, ly), (hx, hy) = xy.min(0).tolist(), xy.max(0).tolist()
            x0 = min(max(math.floor(lx - margin), 0), W)
            x1 = min(max(math.ceil(hx + margin), 0), W)
            y0 = min(max(math.floor(ly - margin), 0), H)
            y1 = min(max(math.ceil(hy + margin), 0), H)
            crop = id_buffer[y0:y1, x0:x1] == bid
            area = int(crop.sum())
            if area == 0:
                continue
            joints = xy[:17]
            inside = (joints[:, 0] >= 0) & (joints[:, 0] < W) & (joints[:, 1] >= 0) & (joints[:, 1] < H)
            inside[_EARS] = False
            ix = np.clip(np.round(joints[:, 0]).astype(int), 0, W - 1)
            iy = np.clip(np.round(joints[:, 1]).astype(int), 0, H - 1)
            visible = inside & (id_buffer[iy, ix] == bid)
            if a.pid >= 0 and h_px >= cfg.min_height * H and visible.sum() >= cfg.min_visible_joints:
                rows.append((a, xy, h_px, inside, visible, crop, (x0, y0), area, bid))
            else:  # visible but not annotated: an ignore region traced from its silhouette
                hidden.append((crop, (x0, y0)))
                if a.pid < 0 or h_px < cfg.min_height * H:
                    ys, xs = np.nonzero(crop)
                    distractors = np.concatenate(
                        [distractors, [[xs.min() + x0, ys.min() + y0, np.ptp(xs) + 1, np.ptp(ys) + 1]]]
                    )
        # an ignore region must not swallow annotated joints (the evaluator deletes every point inside)
        annotated_xy = np.concatenate([r[1][:17][r[4]] for r in rows]) if rows else np.zeros((0, 2))
        ignore = []
        for crop, origin in hidden:
            ignore += silhouette_polygons(crop, origin, annotated_xy)
        n = len(rows)
        kps = np.zeros((n, 17, 3))
        boxes = np.zeros((n, 4))
        heads = np.zeros((n, 4))
        in_frame = np.zeros((n, 17), bool)
        occluded = np.zeros((n, 17), bool)
        for i, (_a, xy, h_px, inside, visible, crop, (x0, y0), _, _) in enumerate(rows):
            kps[i, visible, :2] = xy[:17][visible]
            kps[i, visible, 2] = 1
            ys, xs = np.nonzero(crop)
            boxes[i] = (xs.min() + x0, ys.min() + y0, np.ptp(xs) + 1, np.ptp(ys) + 1)
            hc = xy[HC]
            heads[i] = (hc[0] - 0.075 * h_px, hc[1] - 0.09 * h_px, 0.15 * h_px, 0.18 * h_px)
            in_frame[i], occluded[i] = inside, inside & ~visible
        agents = [r[0] for r in rows]
        groups = np.array([a.look_group for a in agents], np.int64)
        return SceneFrame(
            image=image,
            poses=Poses.create(kps, boxes=boxes, head_boxes=heads, track_ids=[a.pid for a in agents]),
            ignore_regions=ignore,
            in_frame=in_frame,
            occluded=occluded,
            body_heights=np.array([r[2] for r in rows]),
            hip_centers=np.array([r[1][HIPC] for r in rows]).reshape(-1, 2),
            lookalike=np.array([self.group_members[g] > 1 for g in groups.tolist()], bool),
            look_groups=groups,
            areas=np.array([r[7] for r in rows], np.float64),
            id_buffer=id_buffer,
            buffer_ids=np.array([r[8] for r in rows], np.int64),
            distractor_boxes=distractors,
            camera=np.array([offset[0], offset[1], zoom]),
        )
