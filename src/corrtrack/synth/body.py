"""An articulated 3-D stick body projected to 2-D: the 17 PoseTrack joints plus the points needed to draw.

Units are body heights; the person's own left is +x, up is +y, forward is +z.
A yaw of 0 faces the camera (so the person's left appears on the image right,
as in real images); the projection is orthographic per person.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EXTRA_POINTS", "BodyShape", "PoseParams", "body_points", "project"]

#: indices of drawing-only points appended after the 17 PoseTrack joints
EXTRA_POINTS = {"head_center": 17, "hip_center": 18, "shoulder_center": 19, "left_toe": 20, "right_toe": 21}
NUM_POINTS = 22


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

    @staticmethod
    def random(rng: np.random.Generator) -> BodyShape:
        j = lambda s: float(rng.uniform(1 - s, 1 + s))  # noqa: E731
        return BodyShape(
            0.115 * j(0.12),
            0.085 * j(0.15),
            0.245 * j(0.05),
            0.235 * j(0.05),
            0.29 * j(0.05),
            0.17 * j(0.06),
            0.16 * j(0.06),
            0.13 * j(0.08),
            j(0.25),
        )


@dataclass
class PoseParams:
    """Angles in radians. Leg/arm swing is forward (+) / backward (-) in the sagittal plane."""

    yaw: float = 0.0
    lean: float = 0.0  # torso forward tilt (bending)
    left_thigh: float = 0.0
    right_thigh: float = 0.0
    left_knee: float = 0.0  # flexion >= 0
    right_knee: float = 0.0
    left_arm: float = 0.0  # shoulder swing
    right_arm: float = 0.0
    left_arm_raise: float = 0.15  # abduction (sideways raise)
    right_arm_raise: float = 0.15
    left_elbow: float = 0.1  # flexion >= 0
    right_elbow: float = 0.1
    bob: float = 0.0  # vertical bounce


def _sagittal(angle: np.ndarray | float) -> np.ndarray:
    """Unit vector pointing down, rotated forward by ``angle`` in the y-z plane."""
    return np.array([0.0, -np.cos(angle), np.sin(angle)])


def _arm_dir(swing: float, raise_: float, side: float) -> np.ndarray:
    down = np.array([side * np.sin(raise_), -np.cos(raise_), 0.0])
    c, s = np.cos(swing), np.sin(swing)
    return np.array([down[0], down[1] * c, -down[1] * s])  # rotate about x so the arm swings forward


def body_points(shape: BodyShape, p: PoseParams) -> np.ndarray:
    """(22, 3) body-frame points: the 17 PoseTrack joints then the drawing points."""
    pts = np.zeros((NUM_POINTS, 3))
    leg = shape.thigh + shape.shin
    hip_c = np.array([0.0, leg + 0.03 + p.bob, 0.0])
    lean_dir = np.array([0.0, np.cos(p.lean), np.sin(p.lean)])
    sho_c = hip_c + shape.torso * lean_dir
    for side, hip_i, knee_i, ank_i, toe_i, thigh, knee in (
        (1, 11, 13, 15, 20, p.left_thigh, p.left_knee),
        (-1, 12, 14, 16, 21, p.right_thigh, p.right_knee),
    ):
        hip = hip_c + np.array([side * shape.hip_half, 0, 0])
        kn = hip + shape.thigh * _sagittal(thigh)
        an = kn + shape.shin * _sagittal(thigh - knee)
        pts[hip_i], pts[knee_i], pts[ank_i] = hip, kn, an
        pts[toe_i] = an + np.array([0, -0.02, 0.07])
    for side, sho_i, elb_i, wri_i, swing, raise_, elbow in (
        (1, 5, 7, 9, p.left_arm, p.left_arm_raise, p.left_elbow),
        (-1, 6, 8, 10, p.right_arm, p.right_arm_raise, p.right_elbow),
    ):
        sho = sho_c + np.array([side * shape.shoulder_half, 0, 0])
        elb = sho + shape.upper_arm * _arm_dir(swing, raise_, side)
        wri = elb + shape.forearm * _arm_dir(swing + elbow, raise_ * 0.7, side)
        pts[sho_i], pts[elb_i], pts[wri_i] = sho, elb, wri
    head_bottom = sho_c + 0.035 * lean_dir
    head_top = head_bottom + shape.head * lean_dir
    head_c = 0.5 * (head_bottom + head_top)
    pts[1], pts[2] = head_bottom, head_top
    pts[0] = head_c + np.array([0, -0.01, 0.055])  # nose, on the face side
    pts[3] = head_c + np.array([0.05, 0.0, 0.0])  # left ear
    pts[4] = head_c + np.array([-0.05, 0.0, 0.0])
    pts[EXTRA_POINTS["head_center"]] = head_c
    pts[EXTRA_POINTS["hip_center"]] = hip_c
    pts[EXTRA_POINTS["shoulder_center"]] = sho_c
    return pts


def project(
    points: np.ndarray, yaw: float, foot_xy: tuple[float, float], height_px: float
) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates (N, 2) and depth toward the camera (N,) of body points.

    The ground point under the hips lands on ``foot_xy``; ``height_px`` is the body height in pixels.
    """
    c, s = np.cos(yaw), np.sin(yaw)
    x = points[:, 0] * c + points[:, 2] * s
    z = -points[:, 0] * s + points[:, 2] * c
    xy = np.stack([foot_xy[0] + height_px * x, foot_xy[1] - height_px * points[:, 1]], axis=1)
    return xy, z
