"""People who walk, run, stop, turn, wave and bend on the ground plane of a synthetic scene."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from corrtrack.synth.appearance import Appearance
from corrtrack.synth.body import BodyShape, PoseParams
from corrtrack.synth.config import SynthConfig

__all__ = ["Agent", "Ground"]


@dataclass
class Ground:
    """The walkable floor in world pixels; body height grows linearly below the horizon (a ground-plane camera)."""

    horizon: float
    near: float  # world y where a person of scale 1 is ``ref_height`` tall
    ref_height: float
    y_min: float
    y_max: float

    def height(self, y: float | np.ndarray) -> float | np.ndarray:
        return self.ref_height * (np.asarray(y) - self.horizon) / (self.near - self.horizon)


@dataclass
class Agent:
    pid: int
    shape: BodyShape
    app: Appearance
    scale: float
    x: float
    y: float
    heading: float  # direction on the ground: 0 = to the image right, pi/2 = toward the camera
    speed: float  # displacement per frame / body height
    running: bool
    yaw: float = 0.0
    phase: float = 0.0
    state: str = "walk"
    timer: int = 0
    gesture: int = 0
    gesture_arm: int = 0
    bend: float = 0.0
    t: int = 0
    lookalike_of: int | None = None

    def body_height(self, ground: Ground) -> float:
        return float(ground.height(self.y)) * self.scale

    def target_yaw(self) -> float:
        return math.atan2(math.cos(self.heading), math.sin(self.heading))

    def step(self, ground: Ground, cfg: SynthConfig, rng: np.random.Generator) -> None:
        """Advance one frame: behaviour changes, motion, gait phase, body orientation."""
        per_frame = 1.0 / cfg.fps
        self.t += 1
        if self.timer > 0:
            self.timer -= 1
            if self.timer == 0:
                self.state = "walk"
        elif self.state == "walk":
            u = rng.random()
            if u < cfg.stop_rate * per_frame:
                self.state, self.timer = "stop", int(rng.uniform(0.6, 2.5) * cfg.fps)
            elif u < (cfg.stop_rate + cfg.bend_rate) * per_frame:
                self.state, self.timer = "bend", int(rng.uniform(1.0, 2.0) * cfg.fps)
            elif u < (cfg.stop_rate + cfg.bend_rate + cfg.turn_rate) * per_frame:
                self.heading += rng.choice([-1, 1]) * rng.uniform(math.pi / 4, math.pi)
        if self.gesture > 0:
            self.gesture -= 1
        elif rng.random() < cfg.gesture_rate * per_frame:
            self.gesture, self.gesture_arm = int(rng.uniform(1.0, 2.0) * cfg.fps), int(rng.integers(2))
        self.bend = min(1.0, self.bend + 0.08) if self.state == "bend" else max(0.0, self.bend - 0.08)
        height = self.body_height(ground)
        moving = self.state == "walk"
        if moving:
            disp = self.speed * (2.5 if self.running else 1.0) * height
            self.x += disp * math.cos(self.heading)
            self.y += 0.45 * disp * math.sin(self.heading)  # depth is foreshortened on the ground plane
            if not ground.y_min <= self.y <= ground.y_max:  # keep to the floor: turn back in depth
                self.y = float(np.clip(self.y, ground.y_min, ground.y_max))
                self.heading = -self.heading
            stride = 2.0 if self.running else 1.15
            self.phase += 2 * math.pi * disp / (stride * height)
        dyaw = (self.target_yaw() - self.yaw + math.pi) % (2 * math.pi) - math.pi
        self.yaw += float(np.clip(dyaw, -0.3, 0.3))

    def pose(self) -> PoseParams:
        s = math.sin(self.phase)
        p = PoseParams(yaw=self.yaw)
        if self.state == "walk":
            if self.running:
                amp, arm = 0.6, 0.7
                p.left_knee = 0.25 + 1.1 * max(0.0, -math.sin(self.phase - 0.6))
                p.right_knee = 0.25 + 1.1 * max(0.0, math.sin(self.phase - 0.6))
                p.left_elbow = p.right_elbow = 1.4
                p.lean, p.bob = 0.18, 0.015 * abs(math.sin(2 * self.phase))
            else:
                amp, arm = 0.36, 0.32
                p.left_knee = 0.05 + 0.55 * max(0.0, -math.sin(self.phase - 0.5))
                p.right_knee = 0.05 + 0.55 * max(0.0, math.sin(self.phase - 0.5))
                p.left_elbow = p.right_elbow = 0.25
            p.left_thigh, p.right_thigh = amp * s, -amp * s
            p.left_arm, p.right_arm = -arm * s, arm * s
        else:
            sway = 0.05 * math.sin(self.t * 0.15)
            p.left_arm, p.right_arm = sway, -sway
            p.left_knee = p.right_knee = 0.04
        if self.bend > 0:
            p.lean = 0.95 * self.bend
            p.left_knee += 0.3 * self.bend
            p.right_knee += 0.3 * self.bend
            p.left_thigh += 0.3 * self.bend
            p.right_thigh += 0.3 * self.bend
            p.left_arm = p.right_arm = 0.9 * self.bend
        if self.gesture > 0:
            wave = 0.5 + 0.45 * math.sin(self.t * 0.9)
            if self.gesture_arm == 0:
                p.left_arm_raise, p.left_elbow, p.left_arm = 2.4, wave, 0.2
            else:
                p.right_arm_raise, p.right_elbow, p.right_arm = 2.4, wave, 0.2
        return p
