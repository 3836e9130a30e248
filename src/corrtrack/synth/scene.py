"""A SynthTrack sequence: a textured world, a moving camera, people, occluders; frames with exact ground truth."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from corrtrack.keypoints import POSETRACK18
from corrtrack.poses import Poses
from corrtrack.synth.agents import Agent, Ground
from corrtrack.synth.appearance import Appearance
from corrtrack.synth.body import EXTRA_POINTS, BodyShape, body_points, project
from corrtrack.synth.config import SynthConfig
from corrtrack.synth.person_render import render_person

__all__ = ["SceneFrame", "SyntheticScene"]

_EARS = [POSETRACK18.index("left_ear"), POSETRACK18.index("right_ear")]
_BODY = np.setdiff1d(np.arange(17), _EARS)
HC = EXTRA_POINTS["head_center"]
HIPC = EXTRA_POINTS["hip_center"]
OCCLUDER_ID = -1


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
    lookalike: np.ndarray  # (N,) bool: shares its appearance with another person of the sequence


def _world_image(rng: np.random.Generator, w: int, h: int, horizon: int) -> np.ndarray:
    """A street-like world: facades with windows above the horizon, paved ground with texture below."""
    img = np.zeros((h, w, 3), np.float32)
    sky = rng.uniform(150, 230, 3)
    img[:] = sky
    x = 0
    while x < w:  # facades
        bw = int(rng.uniform(0.08, 0.25) * w)
        top = int(rng.uniform(0.0, 0.6) * horizon)
        colour = rng.uniform(60, 200, 3)
        img[top:horizon, x : x + bw] = colour
        win = rng.uniform(20, 90, 3)
        step_x, step_y = int(rng.uniform(14, 30)), int(rng.uniform(16, 34))
        for wy in range(top + 8, horizon - 12, step_y):
            for wx in range(x + 6, x + bw - 10, step_x):
                img[wy : wy + step_y // 2, wx : wx + step_x // 2] = win
        x += bw
    ground = rng.uniform(70, 170, 3)
    img[horizon:] = ground
    low = cv2.resize(
        rng.uniform(-1, 1, (max(2, h // 40), max(2, w // 40))).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
    )
    fine = rng.normal(0, 1, (h, w)).astype(np.float32)
    img[horizon:] += (18 * low[horizon:] + 6 * fine[horizon:])[..., None]
    tile = int(rng.uniform(30, 70))
    for gy in range(horizon, h, tile // 2):  # paving joints, denser toward the horizon
        cv2.line(img, (0, gy), (w, gy), (ground * 0.75).tolist(), 1)
    for gx in range(-w, 2 * w, tile):
        cv2.line(img, (w // 2 + (gx - w // 2) // 3, horizon), (gx, h), (ground * 0.8).tolist(), 1)
    for _ in range(int(rng.integers(3, 9))):  # bushes and trees along the horizon
        c = (int(rng.uniform(0, w)), int(horizon - rng.uniform(0, 0.1) * h))
        r = int(rng.uniform(0.03, 0.08) * h)
        cv2.circle(img, c, r, rng.uniform(20, 110, 3).tolist() * np.array([0.6, 1.0, 0.5]), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def _clip_region(shape: tuple[int, ...], x0: int, x1: int, y0: int, y1: int) -> tuple[slice, slice]:
    return slice(max(0, y0), max(0, min(shape[0], y1))), slice(max(0, x0), max(0, min(shape[1], x1)))


@dataclass
class Occluder:
    x: float  # world x of the base centre
    y: float  # world y of the base (depth)
    width: float  # world px
    height: float
    colour: np.ndarray
    kind: str  # pillar | sign


class SyntheticScene:
    """Simulates and renders one sequence; iterate with :meth:`frames`."""

    def __init__(self, cfg: SynthConfig, seed: int) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)
        rng = self.rng
        W, H = cfg.width, cfg.height
        self.world_w = int(W * 2.2)
        self.world_h = int(H * 1.25)
        self.horizon = int(self.world_h * rng.uniform(0.28, 0.38))
        self.world = _world_image(rng, self.world_w, self.world_h, self.horizon)
        near = self.world_h * 0.96
        ref = H * rng.uniform(0.62, 0.75)
        y_min = self.horizon + cfg.min_height * 1.05 * H / ref * (near - self.horizon)
        self.ground = Ground(self.horizon, near, ref, y_min, near)
        self.cam = np.array([self.world_w / 2, self.world_h / 2 + rng.uniform(-0.05, 0.05) * H])
        self.cam_phase = rng.uniform(0, 2 * math.pi, 3)
        self.tint = 1 + rng.uniform(-0.08, 0.08, 3)
        self.light_period = rng.uniform(40, 120)
        self.next_pid = 0
        self.agents: list[Agent] = []
        self.background: list[Agent] = []
        self.occluders = [self._occluder() for _ in range(cfg.occluders)]
        for _ in range(int(rng.integers(cfg.people[0], cfg.people[1] + 1))):
            self._spawn(inside=True)
        for _ in range(cfg.background_people):
            a = self._new_agent(
                self.rng.uniform(0, self.world_w),
                self.rng.uniform(self.horizon + 2, y_min - 1),
                rng.choice([0.0, math.pi]),
            )
            a.pid = -100 - len(self.background)
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
            h * {"pillar": rng.uniform(0.22, 0.4), "sign": rng.uniform(0.35, 0.6), "kiosk": rng.uniform(0.9, 1.6)}[kind]
        )
        height = h * (rng.uniform(0.85, 1.05) if kind == "kiosk" else rng.uniform(1.1, 1.6))
        return Occluder(x, y, width, height, rng.uniform(60, 200, 3), kind)

    def _view_x(self) -> tuple[float, float]:
        half = self.cfg.width / 2
        return self.cam[0] - half, self.cam[0] + half

    def _new_agent(self, x: float, y: float, heading: float, copy_of: Agent | None = None) -> Agent:
        rng, cfg = self.rng, self.cfg
        if copy_of is not None:
            shape, app, scale = copy_of.shape, copy_of.app, copy_of.scale * rng.uniform(0.97, 1.03)
        else:
            shape, app, scale = BodyShape.random(rng), Appearance.random(rng), rng.uniform(0.85, 1.12)
        a = Agent(
            self.next_pid,
            shape,
            app,
            scale,
            x,
            y,
            heading,
            cfg.speed * rng.uniform(0.7, 1.3),
            bool(rng.random() < cfg.run_probability),
            phase=rng.uniform(0, 2 * math.pi),
            lookalike_of=copy_of.pid if copy_of is not None else None,
        )
        a.yaw = a.target_yaw()
        self.next_pid += 1
        return a

    def _pick_lookalike(self) -> Agent | None:
        if self.agents and self.rng.random() < self.cfg.lookalike_fraction:
            return self.agents[int(self.rng.integers(len(self.agents)))]
        return None

    def _spawn(self, inside: bool) -> None:
        rng, g = self.rng, self.ground
        left, right = self._view_x()
        y = rng.uniform(g.y_min, g.y_max)
        if rng.random() < self.cfg.crossing_rate:  # a pair that walks toward each other at nearly the same depth
            dy = rng.uniform(0.02, 0.08) * (g.y_max - g.y_min) * rng.choice([-1, 1])
            span = rng.uniform(0.5, 0.9) * (right - left) if inside else (right - left) * 1.1
            mid = rng.uniform(left + 0.35 * (right - left), right - 0.35 * (right - left))
            first = self._new_agent(mid - span / 2, y, rng.normal(0, 0.08), self._pick_lookalike())
            self.agents.append(first)
            copy = first if rng.random() < self.cfg.lookalike_fraction else self._pick_lookalike()
            second = self._new_agent(
                mid + span / 2, float(np.clip(y + dy, g.y_min, g.y_max)), math.pi + rng.normal(0, 0.08), copy
            )
            self.agents.append(second)
            return
        if inside:
            x = rng.uniform(left + 0.05 * (right - left), right - 0.05 * (right - left))
            heading = rng.uniform(-math.pi, math.pi)
        else:
            from_left = rng.random() < 0.5
            x = left - 0.1 * (right - left) if from_left else right + 0.1 * (right - left)
            heading = rng.normal(0 if from_left else math.pi, 0.3)
        self.agents.append(self._new_agent(x, y, heading, self._pick_lookalike()))

    # simulation -----------------------------------------------------------
    def _camera(self, t: int) -> tuple[np.ndarray, float]:
        cfg = self.cfg
        vx = cfg.pan_speed * math.sin(2 * math.pi * t / 90 + self.cam_phase[0])
        vy = 0.25 * cfg.pan_speed * math.sin(2 * math.pi * t / 70 + self.cam_phase[1])
        self.cam += (vx, vy)
        half = np.array([cfg.width, cfg.height]) / 2
        self.cam = np.clip(self.cam, half, np.array([self.world_w, self.world_h]) - half)
        zoom = 1 + cfg.zoom_amplitude * math.sin(2 * math.pi * t / 110 + self.cam_phase[2])
        return self.cam.copy(), zoom

    def _update_agents(self) -> None:
        cfg = self.cfg
        for a in self.agents + self.background:
            a.step(self.ground, cfg, self.rng)
        left, right = self._view_x()
        margin = 0.3 * (right - left)
        self.agents = [a for a in self.agents if left - margin < a.x < right + margin]
        for a in self.background:
            a.y = float(np.clip(a.y, self.horizon + 2, self.ground.y_min - 1))
            if not left - margin < a.x < right + margin:
                a.x = right + margin * 0.5 if a.x < left else left - margin * 0.5
        while len(self.agents) < cfg.people[0]:
            self._spawn(inside=False)
        if len(self.agents) < cfg.people[1] and self.rng.random() < 0.02:
            self._spawn(inside=False)

    def frames(self, num_frames: int) -> Iterator[SceneFrame]:
        cfg = self.cfg
        W, H = cfg.width, cfg.height
        prev_offset = None
        for t in range(num_frames):
            if t > 0:
                self._update_agents()
            cam, zoom = self._camera(t)
            shake = self.rng.normal(0, cfg.shake, 2) if cfg.shake > 0 else np.zeros(2)
            offset = np.array([W / 2, H / 2]) - zoom * cam + shake
            M = np.array([[zoom, 0, offset[0]], [0, zoom, offset[1]]], np.float32)
            image = cv2.warpAffine(self.world, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            id_buffer = np.zeros((H, W), np.int32)
            light = 1 + cfg.lighting * math.sin(2 * math.pi * t / self.light_period)
            entities = [(a.y, "agent", a) for a in self.agents + self.background]
            entities += [(o.y, "occluder", o) for o in self.occluders]
            entities.sort(key=lambda e: e[0])
            projected = {}
            for _, kind, ent in entities:
                if kind == "occluder":
                    self._draw_occluder(image, id_buffer, ent, zoom, offset)
                    continue
                h_px = ent.body_height(self.ground) * zoom
                foot = (zoom * ent.x + offset[0], zoom * ent.y + offset[1])
                pts = body_points(ent.shape, ent.pose())
                xy, depth = project(pts, ent.yaw, foot, h_px)
                render_person(
                    image, id_buffer, ent.pid + 1 if ent.pid >= 0 else ent.pid, xy, depth, ent.yaw, h_px, ent.app
                )
                projected[ent.pid] = (xy, h_px)
            image = self._photometric(image, light, offset, prev_offset)
            prev_offset = offset
            yield self._annotate(image, id_buffer, projected)

    def _draw_occluder(
        self, image: np.ndarray, id_buffer: np.ndarray, o: Occluder, zoom: float, offset: np.ndarray
    ) -> None:
        """Paint a static occluder (shaded boxes) and mark its pixels in the id buffer."""
        bx, by = zoom * o.x + offset[0], zoom * o.y + offset[1]
        w, h = zoom * o.width, zoom * o.height
        if o.kind == "sign":  # a pole and a board
            pole = max(2.0, 0.06 * w)
            boxes = [
                (bx - pole / 2, bx + pole / 2, by - 0.7 * h, by, 0.5),
                (bx - w / 2, bx + w / 2, by - h, by - 0.55 * h, 1.0),
            ]
        else:  # pillar (tall, narrow) or kiosk (wide, about head high): one shaded box
            boxes = [(bx - w / 2, bx + w / 2, by - h, by, 1.0)]
        for x0, x1, y0, y1, tone in boxes:
            region = _clip_region(image.shape, int(x0), int(x1), int(y0), int(y1))
            sub = image[region]
            if not sub.size:
                continue
            across = np.linspace(0.7, 1.15, max(1, int(x1) - int(x0)))  # light from one side
            start = region[1].start - int(x0)
            shade = across[start : start + sub.shape[1]][None, :, None]
            sub[:] = np.clip(o.colour[None, None] * tone * shade, 0, 255).astype(np.uint8)
            id_buffer[region] = OCCLUDER_ID

    def _photometric(
        self, image: np.ndarray, light: float, offset: np.ndarray, prev_offset: np.ndarray | None
    ) -> np.ndarray:
        cfg = self.cfg
        out = image
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
        out = out.astype(np.float32) * (light * self.tint)[None, None]
        if cfg.noise > 0:
            out += self.rng.normal(0, cfg.noise, out.shape[:2] + (1,)).astype(np.float32)
        return np.clip(out, 0, 255).astype(np.uint8)

    def _annotate(self, image: np.ndarray, id_buffer: np.ndarray, projected: dict) -> SceneFrame:
        cfg = self.cfg
        H, W = image.shape[:2]
        rows, ignore = [], []
        for a in self.agents + self.background:
            if a.pid not in projected:
                continue
            xy, h_px = projected[a.pid]
            joints = xy[:17]
            inside = (joints[:, 0] >= 0) & (joints[:, 0] < W) & (joints[:, 1] >= 0) & (joints[:, 1] < H)
            inside[_EARS] = False
            ix = np.clip(np.round(joints[:, 0]).astype(int), 0, W - 1)
            iy = np.clip(np.round(joints[:, 1]).astype(int), 0, H - 1)
            own = id_buffer[iy, ix] == (a.pid + 1 if a.pid >= 0 else a.pid)
            visible = inside & own
            big_enough = a.pid >= 0 and h_px >= cfg.min_height * H
            if big_enough and visible.sum() >= cfg.min_visible_joints:
                rows.append((a, xy, h_px, inside, visible))
            elif not big_enough and visible.any():  # a small person we do not annotate: an ignore region
                x0, y0 = np.clip(xy.min(0) - 0.06 * h_px, 0, [W - 1, H - 1])
                x1, y1 = np.clip(xy.max(0) + 0.06 * h_px, 0, [W - 1, H - 1])
                if x1 - x0 > 1 and y1 - y0 > 1:
                    ignore.append(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
        # an ignore region must not swallow annotated joints (the evaluator deletes every point inside)
        annotated_xy = np.concatenate([r[1][:17][r[4]] for r in rows]) if rows else np.zeros((0, 2))
        ignore = [poly for poly in ignore if not ((annotated_xy >= poly[0]) & (annotated_xy <= poly[2])).all(1).any()]
        n = len(rows)
        kps = np.zeros((n, 17, 3))
        boxes = np.zeros((n, 4))
        heads = np.zeros((n, 4))
        in_frame = np.zeros((n, 17), bool)
        occluded = np.zeros((n, 17), bool)
        for i, (a, xy, h_px, inside, visible) in enumerate(rows):
            kps[i, visible, :2] = xy[:17][visible]
            kps[i, visible, 2] = 1
            mask_y, mask_x = np.nonzero(id_buffer == a.pid + 1)
            boxes[i] = (mask_x.min(), mask_y.min(), mask_x.max() - mask_x.min() + 1, mask_y.max() - mask_y.min() + 1)
            hc = xy[HC]
            heads[i] = (hc[0] - 0.075 * h_px, hc[1] - 0.09 * h_px, 0.15 * h_px, 0.18 * h_px)
            in_frame[i], occluded[i] = inside, inside & ~visible
        agents = [r[0] for r in rows]
        lookalike_ids = {a.lookalike_of for a in self.agents if a.lookalike_of is not None}
        return SceneFrame(
            image=image,
            poses=Poses.create(kps, boxes=boxes, head_boxes=heads, track_ids=[a.pid for a in agents]),
            ignore_regions=ignore,
            in_frame=in_frame,
            occluded=occluded,
            body_heights=np.array([r[2] for r in rows]),
            hip_centers=np.array([r[1][HIPC] for r in rows]).reshape(-1, 2),
            lookalike=np.array([a.lookalike_of is not None or a.pid in lookalike_ids for a in agents], bool),
        )
