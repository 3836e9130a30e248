"""SynthTrack configuration: the difficulty knobs and the three presets.

Every knob is a field declared with :func:`corrtrack.config.param` (its default and where
that default comes from); the presets are the values behind ``--preset easy|medium|hard``.
Speeds are displacements per frame as a fraction of the person's body height, the unit in
which tracking difficulty is usually discussed. None of these numbers comes from the paper
(the paper uses real data sets); each says why it was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from corrtrack.config import ConfigError, config_to_dict, override, param

__all__ = ["PRESETS", "SynthConfig", "parse_knobs", "preset"]

_FIXED = ("width", "height")


@dataclass(frozen=True)
class SynthConfig:
    width: int = param(640, "our choice: 640x360 renders fast on 2 cores and keeps PoseTrack's 16:9")
    height: int = param(360, "our choice: see width")
    fps: float = param(25.0, "our choice: the frame rate of most PoseTrack videos")
    people: tuple[int, int] = param((3, 5), "our choice: annotated people present at a time (min, max)")
    crossing_rate: float = param(0.3, "our choice: fraction of people spawned in pairs that walk toward each other")
    lookalike_fraction: float = param(
        0.2, "our choice: fraction of people dressed like another person (same style and palette, varied)"
    )
    clone_lookalikes: bool = param(False, "our choice: look-alikes are pixel-identical copies only when asked")
    group_rate: float = param(
        0.1, "our choice: fraction of people who walk side by side with a companion (some hand in hand)"
    )
    speed: float = param(0.02, "our choice: walking displacement per frame / body height (running is 2.2x)")
    run_probability: float = param(0.1, "our choice: probability that a person runs instead of walking")
    stop_rate: float = param(0.1, "our choice: per-second probability to stop for a while")
    turn_rate: float = param(0.1, "our choice: per-second probability to change direction")
    return_rate: float = param(
        0.2, "our choice: probability that a person who walks out of view turns around and comes back"
    )
    turn_radius: float = param(0.6, "our choice: smallest turning radius in body heights (about 1 m)")
    gesture_rate: float = param(0.1, "our choice: per-second probability to wave or point with one arm")
    bend_rate: float = param(0.05, "our choice: per-second probability to bend forward")
    action_rate: float = param(0.04, "our choice: per-second probability to crouch, sit, jump or dance")
    blend_seconds: float = param(0.4, "our choice: time over which gait, gestures and actions blend in and out")
    pan_speed: float = param(0.0, "our choice: peak camera pan in pixels per frame (smooth, slowly varying)")
    zoom_amplitude: float = param(0.0, "our choice: relative zoom amplitude (slow sinusoid)")
    shake: float = param(0.0, "our choice: handheld shake std in pixels, smooth (0.3-2 Hz)")
    occluders: int = param(0, "our choice: static foreground occluders (pillars, signs, kiosks) per sequence")
    occluder_size: float = param(1.0, "our choice: width multiplier of occluders (wider ones hide people longer)")
    clutter: int = param(4, "our choice: small static props (bins, bollards, benches, posters) per sequence")
    background_people: int = param(2, "our choice: small bystanders, never annotated (covered by ignore regions)")
    scale_range: tuple[float, float] = param(
        (0.6, 0.75), "our choice: body height at the bottom of the frame / frame height (closer is larger)"
    )
    camera_height: tuple[float, float] = param(
        (1.0, 2.6),
        "our choice: camera height range in body heights (1.7-4.4 m for a 1.7 m person): eye level to the "
        "first-floor and tripod views of PoseTrack's street and sports videos",
    )
    max_tilt: float = param(
        35.0, "our choice: steepest downward camera tilt in degrees (a higher camera is lowered to keep to it)"
    )
    focal_length: float = param(
        1.0, "our choice: focal length / frame width (a 53 degree horizontal field of view, a usual camcorder one)"
    )
    shadows: float = param(0.35, "our choice: darkening of the cast shadow under a person (0 = none)")
    photo_textures: float = param(
        0.3, "our choice: fraction of clothes and walls textured with detail from real photographs"
    )
    optics_blur: float = param(0.6, "our choice: Gaussian lens blur std in pixels (real lenses never give hard edges)")
    motion_blur: float = param(0.5, "our choice: blur length / camera motion per frame (0 = none)")
    lighting: float = param(0.1, "our choice: relative amplitude of brightness changes over a sequence")
    noise: float = param(2.0, "our choice: sensor noise std in grey levels")
    jpeg_quality: tuple[int, int] = param((80, 95), "our choice: JPEG quality range")
    min_height: float = param(0.18, "our choice: smallest annotated body height as a fraction of the frame height")
    min_visible_joints: int = param(3, "our choice: annotate a person when at least this many joints are visible")

    def __post_init__(self) -> None:
        if self.width < 32 or self.height < 32:
            raise ValueError(f"frame size {self.width}x{self.height} is too small (at least 32x32)")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if not 0 <= self.people[0] <= self.people[1]:
            raise ValueError(f"people must be (min, max) with 0 <= min <= max, got {self.people}")
        if not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {self.scale_range}")
        if not 0.3 <= self.camera_height[0] <= self.camera_height[1]:
            raise ValueError(f"camera_height must be (low, high) with 0.3 <= low <= high, got {self.camera_height}")
        if not 0 <= self.max_tilt <= 80:
            raise ValueError(f"max_tilt must be within 0..80 degrees, got {self.max_tilt}")
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ValueError(f"jpeg_quality must be (low, high) within 1..100, got {self.jpeg_quality}")
        for name in (
            "crossing_rate",
            "lookalike_fraction",
            "group_rate",
            "run_probability",
            "photo_textures",
            "shadows",
            "return_rate",
        ):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be within 0..1, got {getattr(self, name)}")
        for name in ("speed", "turn_radius", "blend_seconds", "occluder_size", "focal_length"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        # upper limits: a setting may not ask for unbounded work or memory (docs/synthtrack.md)
        for name, high in _LIMITS.items():
            value = getattr(self, name)
            for v in value if isinstance(value, tuple) else (value,):
                if not -high <= v <= high:
                    raise ValueError(f"{name} must be within -{high}..{high}, got {v}")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def describe(self) -> dict[str, Any]:
        """Values and sources (what ``synthtrack.json`` records)."""
        return config_to_dict(self)


#: the largest magnitude each field accepts (counts, sizes and rates that could ask for unbounded work)
_LIMITS: dict[str, float] = {
    "width": 8192,
    "height": 8192,
    "fps": 1000,
    "people": 200,
    "speed": 2.0,
    "stop_rate": 100,
    "turn_rate": 100,
    "gesture_rate": 100,
    "bend_rate": 100,
    "action_rate": 100,
    "turn_radius": 100,
    "blend_seconds": 60,
    "pan_speed": 1000,
    "zoom_amplitude": 0.9,
    "shake": 1000,
    "occluders": 100,
    "occluder_size": 20,
    "clutter": 500,
    "background_people": 500,
    "scale_range": 20,
    "camera_height": 50,
    "focal_length": 20,
    "optics_blur": 50,
    "motion_blur": 10,
    "lighting": 1,
    "noise": 255,
    "min_height": 10,
    "min_visible_joints": 17,
}


PRESETS: dict[str, SynthConfig] = {
    "easy": SynthConfig(
        people=(2, 3),
        crossing_rate=0.0,
        lookalike_fraction=0.0,
        group_rate=0.0,
        speed=0.012,
        run_probability=0.0,
        stop_rate=0.05,
        turn_rate=0.02,
        action_rate=0.02,
        occluders=0,
        clutter=3,
        background_people=1,
        motion_blur=0.0,
        lighting=0.05,
        noise=1.0,
        jpeg_quality=(90, 95),
    ),
    "medium": SynthConfig(
        people=(3, 6),
        crossing_rate=0.35,
        lookalike_fraction=0.3,
        group_rate=0.15,
        speed=0.025,
        run_probability=0.15,
        pan_speed=1.5,
        zoom_amplitude=0.05,
        shake=1.0,
        occluders=1,
        clutter=5,
        background_people=5,
        scale_range=(0.55, 0.85),
        motion_blur=0.5,
        lighting=0.12,
        noise=2.5,
        jpeg_quality=(75, 92),
    ),
    "hard": SynthConfig(
        people=(9, 12),
        crossing_rate=0.7,
        lookalike_fraction=0.15,
        group_rate=0.4,
        return_rate=0.9,
        speed=0.04,
        run_probability=0.35,
        stop_rate=0.3,
        turn_rate=0.4,
        gesture_rate=0.15,
        bend_rate=0.08,
        action_rate=0.06,
        pan_speed=6.0,
        zoom_amplitude=0.15,
        shake=3.0,
        occluders=4,
        clutter=7,
        background_people=10,
        scale_range=(0.5, 1.1),
        motion_blur=0.8,
        lighting=0.2,
        noise=4.0,
        jpeg_quality=(55, 85),
    ),
}


def preset(name: str, **overrides: Any) -> SynthConfig:
    try:
        base = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
    return replace(base, **overrides)


def parse_knobs(items: list[str]) -> dict[str, Any]:
    """``["speed=0.08", "people=4,7"]`` -> typed overrides of :class:`SynthConfig` (clear error for bad ones).

    Parsing is :func:`corrtrack.config.override`'s; the frame size is set by ``--size``, not by a knob.
    """
    defaults = SynthConfig()
    knobs = sorted(f.name for f in fields(SynthConfig) if f.name not in _FIXED)
    out: dict[str, Any] = {}
    for item in items:
        key, sep, _ = item.partition("=")
        name = key.strip().replace("-", "_")
        if not sep or name not in knobs:
            raise ValueError(f"bad knob {item!r}: use NAME=VALUE with NAME one of {', '.join(knobs)}")
        try:
            changed = override(defaults, [item], fixed=_FIXED)
        except ConfigError as exc:
            raise ValueError(f"bad value for knob {name!r}: {exc}") from None
        out[name] = getattr(changed, name)
    return out
