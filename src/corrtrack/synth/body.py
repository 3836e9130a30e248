"""An articulated 3-D body projected to 2-D: the 17 PoseTrack joints plus the points needed to draw it.

Units are body heights; the person's own left is +x, up is +y, forward is +z.
A yaw of 0 faces the camera (so the person's left appears on the image right,
as in real images); the projection is orthographic per person. The lowest of the
feet and the seat touches the ground (y = 0) unless the person is airborne, so
crouching and sitting lower the body as they should.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields

import numpy as np

__all__ = ["EXTRA_POINTS", "NUM_POINTS", "BodyShape", "PoseParams", "blend", "body_points", "project"]

#: indices of drawing-only points appended after the 17 PoseTrack joints
EXTRA_POINTS = {
    "head_center": 17,
    "hip_center": 18,
    "shoulder_center": 19,
    "left_toe": 20,
    "right_toe": 21,
    "left_hand": 22,
    "right_hand": 23,
    "chest_front": 24,
    "chest_back": 25,
    "pelvis_front": 26,
    "pelvis_back": 27,
    "left_heel": 28,
    "right_heel": 29,
}
NUM_POINTS = 30


@dataclass
class BodyShape:
    """Proportions of one person (fractions of body height)."""

    shoulder_half: float = 0.115
    hip_half: float = 0.085
    thigh: float = 0.245
    shin: float = 0.235
    torso: float = 0.29
    upper_arm: float = 0.17
    forearm: float = 0.16
    head: float = 0.13  # head height (chin to top)
    girth: float = 1.0  # limb thickness multiplier
    depth: float = 0.065  # half the chest depth (front to back)

    @staticmethod
    def random(rng: np.random.Generator) -> BodyShape:
        j = lambda s: float(rng.uniform(1 - s, 1 + s))  # noqa: E731
        girth = j(0.25)
        return BodyShape(
            0.115 * j(0.12),
            0.085 * j(0.15),
            0.245 * j(0.05),
            0.235 * j(0.05),
            0.29 * j(0.05),
            0.17 * j(0.06),
            0.16 * j(0.06),
            0.13 * j(0.08),
            girth,
            0.065 * girth * j(0.1),
        )

    def varied(self, rng: np.random.Generator, amount: float = 0.06) -> BodyShape:
        """A similar body: every proportion changed by up to ``amount`` (a look-alike's build)."""
        values = np.array(astuple(self)) * rng.uniform(1 - amount, 1 + amount, len(fields(self)))
        return BodyShape(*map(float, values))


@dataclass
class PoseParams:
    """Angles in radians. Leg/arm swing is forward (+) / backward (-) in the sagittal plane."""

    yaw: float = 0.0
    lean: float = 0.0  # torso forward tilt (bending)
    side_lean: float = 0.0  # torso tilt toward the person's left (+)
    left_thigh: float = 0.0
    right_thigh: float = 0.0
    left_leg_out: float = 0.0  # hip abduction (sideways)
    right_leg_out: float = 0.0
    left_knee: float = 0.0  # flexion >= 0
    right_knee: float = 0.0
    left_arm: float = 0.0  # shoulder swing
    right_arm: float = 0.0
    left_arm_raise: float = 0.15  # abduction (sideways raise)
    right_arm_raise: float = 0.15
    left_elbow: float = 0.1  # flexion >= 0
    right_elbow: float = 0.1
    airborne: float = 0.0  # height of the lowest point above the ground (jumping)

    def as_array(self) -> np.ndarray:
        return np.fromiter(vars(self).values(), np.float64, len(vars(self)))

    @staticmethod
    def from_array(values: np.ndarray) -> PoseParams:
        return PoseParams(*map(float, values))


def blend(a: PoseParams, b: PoseParams, weight: float) -> PoseParams:
    """``a`` moved toward ``b`` by ``weight`` in [0, 1] (the yaw stays ``a``'s)."""
    if weight <= 0:
        return a
    out = a.as_array() + min(1.0, weight) * (b.as_array() - a.as_array())
    out[0] = a.yaw
    return PoseParams.from_array(out)


def _sagittal(angle: float, out_angle: float = 0.0, side: float = 1.0) -> np.ndarray:
    """Unit vector pointing down, rotated forward by ``angle`` and outward by ``out_angle``."""
    c = np.cos(out_angle)
    return np.array([side * np.sin(out_angle), -np.cos(angle) * c, np.sin(angle) * c])


def _arm_dir(swing: float, raise_: float, side: float) -> np.ndarray:
    down = np.array([side * np.sin(raise_), -np.cos(raise_), 0.0])
    c, s = np.cos(swing), np.sin(swing)
    return np.array([down[0], down[1] * c, -down[1] * s])  # rotate about x so the arm swings forward


def body_points(shape: BodyShape, p: PoseParams) -> np.ndarray:
    """(NUM_POINTS, 3) body-frame points: the 17 PoseTrack joints then the drawing points."""
    pts = np.zeros((NUM_POINTS, 3))
    leg = shape.thigh + shape.shin
    hip_c = np.array([0.0, leg + 0.03, 0.0])
    up = np.array([-np.sin(p.side_lean) * np.cos(p.lean), np.cos(p.lean) * np.cos(p.side_lean), np.sin(p.lean)])
    up /= np.linalg.norm(up)
    fwd = np.array([0.0, -np.sin(p.lean), np.cos(p.lean)])
    sho_c = hip_c + shape.torso * up
    for side, hip_i, knee_i, ank_i, toe_i, heel_i, thigh, out, knee in (
        (1, 11, 13, 15, 20, 28, p.left_thigh, p.left_leg_out, p.left_knee),
        (-1, 12, 14, 16, 21, 29, p.right_thigh, p.right_leg_out, p.right_knee),
    ):
        hip = hip_c + np.array([side * shape.hip_half, 0, 0])
        kn = hip + shape.thigh * _sagittal(thigh, out, side)
        an = kn + shape.shin * _sagittal(thigh - knee, out, side)
        pts[hip_i], pts[knee_i], pts[ank_i] = hip, kn, an
        pts[toe_i] = an + np.array([0, -0.025, 0.075])
        pts[heel_i] = an + np.array([0, -0.03, -0.02])
    for side, sho_i, elb_i, wri_i, hand_i, swing, raise_, elbow in (
        (1, 5, 7, 9, 22, p.left_arm, p.left_arm_raise, p.left_elbow),
        (-1, 6, 8, 10, 23, p.right_arm, p.right_arm_raise, p.right_elbow),
    ):
        sho = sho_c + np.array([side * shape.shoulder_half, 0, 0])
        elb = sho + shape.upper_arm * _arm_dir(swing, raise_, side)
        fore = _arm_dir(swing + elbow, raise_ * 0.7, side)
        wri = elb + shape.forearm * fore
        pts[sho_i], pts[elb_i], pts[wri_i], pts[hand_i] = sho, elb, wri, wri + 0.06 * fore
    head_bottom = sho_c + 0.035 * up
    head_top = head_bottom + shape.head * up
    head_c = 0.5 * (head_bottom + head_top)
    pts[1], pts[2] = head_bottom, head_top
    pts[0] = head_c - 0.01 * up + 0.055 * fwd  # nose, on the face side
    pts[3] = head_c + np.array([0.05, 0.0, 0.0])  # left ear
    pts[4] = head_c + np.array([-0.05, 0.0, 0.0])
    pts[EXTRA_POINTS["head_center"]] = head_c
    pts[EXTRA_POINTS["hip_center"]] = hip_c
    pts[EXTRA_POINTS["shoulder_center"]] = sho_c
    chest = hip_c + 0.7 * shape.torso * up
    pts[EXTRA_POINTS["chest_front"]] = chest + shape.depth * fwd
    pts[EXTRA_POINTS["chest_back"]] = chest - 0.85 * shape.depth * fwd
    pts[EXTRA_POINTS["pelvis_front"]] = hip_c + 0.8 * shape.depth * fwd
    pts[EXTRA_POINTS["pelvis_back"]] = hip_c - 1.1 * shape.depth * fwd
    # ground contact: the lowest foot point or the seat touches the floor
    feet = pts[[15, 16, 20, 21, 28, 29], 1]
    seat = pts[[11, 12], 1] - 0.06
    pts[:, 1] += p.airborne - min(feet.min(), seat.min())
    return pts


def project(
    points: np.ndarray, yaw: float, foot_xy: tuple[float, float], height_px: float, pitch: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates (N, 2) and depth toward the camera (N,) of body points.

    The ground point under the hips lands on ``foot_xy``; ``height_px`` is the body height in pixels.
    ``pitch`` (radians) is how far the camera looks down at the person: heights are foreshortened by
    its cosine and points nearer the camera drop lower in the image (a person seen from above).
    """
    c, s = np.cos(yaw), np.sin(yaw)
    x = points[:, 0] * c + points[:, 2] * s
    z = -points[:, 0] * s + points[:, 2] * c
    up = points[:, 1] * np.cos(pitch) - z * np.sin(pitch) if pitch else points[:, 1]
    xy = np.stack([foot_xy[0] + height_px * x, foot_xy[1] - height_px * up], axis=1)
    return xy, z
