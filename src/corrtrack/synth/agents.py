"""People who walk, run, stop, turn, wave, bend, crouch, sit, jump and dance on the ground plane of a scene.

Motion is built to be plausible frame to frame: speed changes with a bounded
acceleration, the heading turns with a smallest turning radius (no reversal on
the spot at full speed), and every change of behaviour (stopping, gestures,
bends and the other actions) blends in and out over ``blend_seconds``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from corrtrack.synth.appearance import Appearance
from corrtrack.synth.body import BodyShape, PoseParams, blend
from corrtrack.synth.config import SynthConfig

__all__ = ["ACTIONS", "RUN_FACTOR", "Agent", "Ground"]

#: running speed / walking speed
RUN_FACTOR = 2.2

#: actions besides walking and standing, with their duration range in seconds
ACTIONS: dict[str, tuple[float, float]] = {
    "bend": (1.0, 2.0),
    "crouch": (1.0, 2.5),
    "sit": (2.0, 4.0),
    "jump": (0.9, 1.1),
    "dance": (1.5, 3.5),
}


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


def _clip(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


@dataclass
class Agent:
    pid: int
    shape: BodyShape
    app: Appearance
    scale: float
    x: float
    y: float
    heading: float  # direction on the ground: 0 = to the image right, pi/2 = toward the camera
    speed: float  # cruising displacement per frame / body height
    running: bool
    yaw: float = 0.0
    phase: float = 0.0
    stride: float = 1.15  # stride length / body height (walking; running is longer)
    state: str = "walk"
    timer: int = 0
    duration: int = 1
    #: per arm (left, right): frames left of the current gesture, its kind and its blend weight; each arm
    #: blends on its own, and a new gesture starts only on an arm that is at rest (no snap between gestures)
    gesture: list[int] = field(default_factory=lambda: [0, 0])
    gesture_kind: list[str] = field(default_factory=lambda: ["wave", "wave"])
    gesture_w: list[float] = field(default_factory=lambda: [0.0, 0.0])
    t: int = 0
    look_group: int = 0
    lookalike_of: int | None = None
    target_heading: float = 0.0
    velocity: float = 0.0  # current displacement per frame / body height
    gait_w: float = 1.0
    action_w: dict[str, float] = field(default_factory=dict)
    #: per action: the frame it started and its length (an action fading out keeps its last pose)
    action_clock: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: a companion walking beside this person (the leader), and on which side; hand in hand if ``holding``
    leader: Agent | None = None
    side: float = 1.0
    holding: bool = False
    holding_w: float = 0.0
    #: the depth band (world y) this person walks in; None: the annotated floor (bystanders keep their own)
    floor: tuple[float, float] | None = None
    #: out of view and decided to turn around and come back
    returning: bool = False
    coming_back: bool = False

    def __post_init__(self) -> None:
        self.target_heading = self.heading
        self.holding_w = 1.0 if self.holding else 0.0

    @property
    def bend(self) -> float:
        return self.action_w.get("bend", 0.0)

    def body_height(self, ground: Ground) -> float:
        return float(ground.height(self.y)) * self.scale

    def target_yaw(self) -> float:
        return math.atan2(math.cos(self.heading), math.sin(self.heading))

    def _behave(self, cfg: SynthConfig, rng: np.random.Generator) -> None:
        per_frame = 1.0 / cfg.fps
        if self.timer > 0:
            self.timer -= 1
            if self.timer == 0:
                self.state = "walk"
        elif self.state == "walk" and self.leader is None:
            u = rng.random()
            stop, bend = cfg.stop_rate * per_frame, cfg.bend_rate * per_frame
            action, turn = cfg.action_rate * per_frame, cfg.turn_rate * per_frame
            if u < stop:
                self.state, self.timer = "stop", int(rng.uniform(0.6, 2.5) * cfg.fps)
            elif u < stop + bend:
                self.state = "bend"
                self.timer = int(rng.uniform(*ACTIONS["bend"]) * cfg.fps)
            elif u < stop + bend + action:
                self.state = str(rng.choice(["crouch", "sit", "jump", "dance"]))
                self.timer = int(rng.uniform(*ACTIONS[self.state]) * cfg.fps)
            elif u < stop + bend + action + turn:
                self.target_heading = self.heading + rng.choice([-1, 1]) * rng.uniform(math.pi / 4, math.pi)
            self.duration = max(1, self.timer)
            if self.state in ACTIONS and self.timer > 0:
                self.action_clock[self.state] = (self.t, self.duration)
        for arm in (0, 1):
            if self.gesture[arm] > 0:
                self.gesture[arm] -= 1
        if self.state in ("walk", "stop") and rng.random() < cfg.gesture_rate * per_frame:
            arm = int(rng.integers(2))
            kind = str(rng.choice(["wave", "point", "phone"]))
            duration = int(rng.uniform(1.0, 2.0) * cfg.fps)
            if self.gesture[arm] == 0 and self.gesture_w[arm] == 0.0:  # only an arm at rest starts a gesture
                self.gesture[arm], self.gesture_kind[arm] = duration, kind

    def step(self, ground: Ground, cfg: SynthConfig, rng: np.random.Generator) -> None:
        """Advance one frame: behaviour changes, blended weights, motion, gait phase, body orientation."""
        self.t += 1
        self._behave(cfg, rng)
        rate = 1.0 / max(1.0, cfg.blend_seconds * cfg.fps)
        if self.leader is not None:  # a companion keeps to its leader's pace, direction and state
            lead = self.leader
            self.target_heading, self.state = lead.target_heading, lead.state if lead.state == "stop" else "walk"
        walking = self.state == "walk"
        self.gait_w += _clip((1.0 if walking else 0.0) - self.gait_w, -rate, rate)
        for arm in (0, 1):
            self.gesture_w[arm] += _clip((1.0 if self.gesture[arm] > 0 else 0.0) - self.gesture_w[arm], -rate, rate)
        self.holding_w += _clip((1.0 if self.holding else 0.0) - self.holding_w, -rate, rate)
        for name in ACTIONS:
            w = self.action_w.get(name, 0.0)
            w += _clip((1.0 if self.state == name else 0.0) - w, -rate, rate)
            if w > 0:
                self.action_w[name] = w
            else:
                self.action_w.pop(name, None)
        height = self.body_height(ground)
        # keep to the floor: head back in depth before reaching its edge (a turn, not a bounce)
        lo, hi = self.floor if self.floor is not None else (ground.y_min, ground.y_max)
        margin = 0.08 * (hi - lo)
        if (self.y < lo + margin and math.sin(self.target_heading) < 0) or (
            self.y > hi - margin and math.sin(self.target_heading) > 0
        ):
            self.target_heading = -self.target_heading
        cruise = self.speed * (RUN_FACTOR if self.running else 1.0)
        turn_left = _wrap(self.target_heading - self.heading)
        slow = 1.0 - 0.5 * min(1.0, abs(turn_left) / math.pi)  # people slow down in sharp turns
        target_v = cruise * self.gait_w * slow
        if self.leader is not None:
            target_v = self.leader.velocity * self.leader.scale / self.scale
        accel = cruise / max(1.0, 0.5 * cfg.fps)  # from standing to cruising in half a second
        self.velocity += _clip(target_v - self.velocity, -accel, accel)
        omega = max(self.velocity / cfg.turn_radius, 1.5 / cfg.fps)  # turning in place is slow too
        self.heading += _clip(turn_left, -omega, omega)
        disp = self.velocity * height
        self.x += disp * math.cos(self.heading)
        self.y = _clip(self.y + 0.45 * disp * math.sin(self.heading), lo, hi)
        if self.leader is not None:  # stay beside the leader (soft spring; no jumps)
            lead = self.leader
            gap = self.side * 0.42 * lead.body_height(ground)
            want_x = lead.x - gap * math.sin(lead.heading)
            want_y = _clip(lead.y + 0.45 * gap * math.cos(lead.heading), lo, hi)
            self.x += 0.15 * (want_x - self.x)
            self.y += 0.15 * (want_y - self.y)
            self.phase += 0.1 * _wrap(lead.phase - self.phase)
        stride = self.stride * (1.9 if self.running else 1.0)
        self.phase += 2 * math.pi * disp / (stride * max(height, 1e-6))
        dyaw = _wrap(self.target_yaw() - self.yaw)
        self.yaw += _clip(dyaw, -0.2, 0.2)

    def _gait(self) -> PoseParams:
        s = math.sin(self.phase)
        p = PoseParams(yaw=self.yaw)
        if self.running:
            amp, arm = 0.6, 0.7
            p.left_knee = 0.25 + 0.95 * max(0.0, -math.sin(self.phase - 0.6))
            p.right_knee = 0.25 + 0.95 * max(0.0, math.sin(self.phase - 0.6))
            p.left_elbow = p.right_elbow = 1.4
            p.lean = 0.18
        else:
            amp, arm = 0.36, 0.32
            p.left_knee = 0.05 + 0.55 * max(0.0, -math.sin(self.phase - 0.5))
            p.right_knee = 0.05 + 0.55 * max(0.0, math.sin(self.phase - 0.5))
            p.left_elbow = p.right_elbow = 0.25
        p.left_thigh, p.right_thigh = amp * s, -amp * s
        p.left_arm, p.right_arm = -arm * s, arm * s
        return p

    def _action(self, name: str) -> PoseParams:
        p = PoseParams(yaw=self.yaw)
        if name == "bend":
            p.lean, p.left_knee, p.right_knee = 0.95, 0.3, 0.3
            p.left_thigh = p.right_thigh = 0.3
            p.left_arm = p.right_arm = 0.9
        elif name == "crouch":
            p.lean, p.left_thigh, p.right_thigh = 0.5, 1.6, 1.5
            p.left_knee, p.right_knee = 2.3, 2.2
            p.left_arm = p.right_arm = 0.7
            p.left_elbow = p.right_elbow = 0.9
        elif name == "sit":  # on the ground, legs forward, leaning back on the hands
            p.lean, p.left_thigh, p.right_thigh = -0.2, 1.5, 1.45
            p.left_knee, p.right_knee = 0.1, 0.5
            p.left_arm = p.right_arm = -0.45
            p.left_arm_raise = p.right_arm_raise = 0.3
        elif name == "jump":
            start, duration = self.action_clock.get(name, (self.t - self.duration + self.timer, self.duration))
            u = _clip((self.t - start) / max(1, duration), 0.0, 1.0)
            s = math.sin(math.pi * _clip((u - 0.15) / 0.7, 0, 1))
            p.airborne = 0.18 * max(0.0, math.sin(math.pi * (u - 0.3) / 0.4)) if 0.3 < u < 0.7 else 0.0
            p.left_knee = p.right_knee = 0.9 * (1 - s) + 0.1
            p.left_thigh = p.right_thigh = 0.5 * (1 - s)
            p.lean = 0.3 * (1 - s)
            p.left_arm_raise = p.right_arm_raise = 0.15 + 2.2 * s
        elif name == "dance":
            w = 2 * math.pi * 1.5 * self.t / 25.0
            s, c = math.sin(w), math.cos(w)
            p.side_lean = 0.15 * s
            p.left_arm_raise, p.right_arm_raise = 1.3 + 0.7 * s, 1.3 - 0.7 * s
            p.left_elbow, p.right_elbow = 1.0 + 0.5 * c, 1.0 - 0.5 * c
            p.left_thigh, p.right_thigh = 0.3 * max(0.0, s), 0.3 * max(0.0, -s)
            p.left_knee, p.right_knee = 0.2 + 0.4 * max(0.0, s), 0.2 + 0.4 * max(0.0, -s)
            p.left_leg_out = p.right_leg_out = 0.12
        return p

    def pose(self) -> PoseParams:
        idle = PoseParams(yaw=self.yaw)
        sway = 0.05 * math.sin(self.t * 0.15)
        idle.left_arm, idle.right_arm = sway, -sway
        idle.left_knee = idle.right_knee = 0.04
        p = blend(idle, self._gait(), self.gait_w)
        for name, w in self.action_w.items():
            p = blend(p, self._action(name), w)
        if self.holding_w > 0:  # the inner hand reaches for the companion (blended in and out)
            g = PoseParams.from_array(p.as_array())
            if self.side > 0:
                g.left_arm_raise, g.left_elbow = 0.35, 0.15
            else:
                g.right_arm_raise, g.right_elbow = 0.35, 0.15
            p = blend(p, g, self.holding_w)
        for arm in (0, 1):  # each arm's gesture blends on its own
            if self.gesture_w[arm] <= 0:
                continue
            g = PoseParams.from_array(p.as_array())
            kind = self.gesture_kind[arm]
            if kind == "wave":
                raise_, elbow, swing = 2.4, 0.5 + 0.45 * math.sin(self.t * 0.9), 0.2
            elif kind == "point":
                raise_, elbow, swing = 0.4, 0.1, 1.45
            else:  # phone at the ear
                raise_, elbow, swing = 0.3, 2.5, 0.35
            if arm == 0:
                g.left_arm_raise, g.left_elbow, g.left_arm = raise_, elbow, swing
            else:
                g.right_arm_raise, g.right_elbow, g.right_arm = raise_, elbow, swing
            p = blend(p, g, self.gesture_w[arm])
        return p
