"""SynthTrack configuration: the difficulty knobs and the three presets.

Every knob is a plain number with its unit in the comment; the presets are the
values behind ``--preset easy|medium|hard``. Speeds are displacements per
frame as a fraction of the person's body height, the unit in which tracking
difficulty is usually discussed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = ["PRESETS", "SynthConfig", "parse_knobs", "preset"]


@dataclass(frozen=True)
class SynthConfig:
    width: int = 640
    height: int = 360
    fps: float = 25.0
    #: annotated people present at a time (min, max)
    people: tuple[int, int] = (3, 5)
    #: fraction of people spawned in pairs that walk toward each other and cross
    crossing_rate: float = 0.3
    #: fraction of people who copy another person's body and clothing
    lookalike_fraction: float = 0.2
    #: walking displacement per frame / body height (running is 2.5x)
    speed: float = 0.02
    #: probability that a person runs instead of walking
    run_probability: float = 0.1
    #: per-second probabilities of behaviour changes
    stop_rate: float = 0.1
    turn_rate: float = 0.1
    gesture_rate: float = 0.1
    bend_rate: float = 0.05
    #: camera pan speed in pixels per frame (peak), zoom amplitude (relative), shake std in pixels
    pan_speed: float = 0.0
    zoom_amplitude: float = 0.0
    shake: float = 0.0
    #: static foreground occluders (pillars, signs) per sequence
    occluders: int = 0
    #: unannotated small background people (covered by ignore regions)
    background_people: int = 2
    #: motion blur strength (0 = none; 1 = blur length equals camera motion per frame)
    motion_blur: float = 0.5
    #: relative amplitude of brightness changes over a sequence
    lighting: float = 0.1
    #: sensor noise std in grey levels; JPEG quality range
    noise: float = 2.0
    jpeg_quality: tuple[int, int] = (80, 95)
    #: smallest annotated body height as a fraction of the frame height
    min_height: float = 0.18
    #: annotate a person when at least this many joints are visible
    min_visible_joints: int = 3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, SynthConfig] = {
    "easy": SynthConfig(
        people=(2, 3),
        crossing_rate=0.0,
        lookalike_fraction=0.0,
        speed=0.012,
        run_probability=0.0,
        stop_rate=0.05,
        turn_rate=0.02,
        pan_speed=0.0,
        zoom_amplitude=0.0,
        shake=0.0,
        occluders=0,
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
        speed=0.025,
        run_probability=0.15,
        pan_speed=1.5,
        zoom_amplitude=0.05,
        shake=1.0,
        occluders=1,
        background_people=2,
        motion_blur=0.5,
        lighting=0.12,
        noise=2.5,
        jpeg_quality=(75, 92),
    ),
    "hard": SynthConfig(
        people=(5, 8),
        crossing_rate=0.7,
        lookalike_fraction=0.7,
        speed=0.05,
        run_probability=0.35,
        stop_rate=0.15,
        turn_rate=0.2,
        gesture_rate=0.15,
        bend_rate=0.08,
        pan_speed=6.0,
        zoom_amplitude=0.15,
        shake=5.0,
        occluders=3,
        background_people=3,
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
    """``["speed=0.08", "people=4,7"]`` -> typed overrides of :class:`SynthConfig` (clear error for bad ones)."""
    defaults = SynthConfig()
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in SynthConfig.__dataclass_fields__ or key in ("width", "height"):
            knobs = sorted(k for k in SynthConfig.__dataclass_fields__ if k not in ("width", "height"))
            raise ValueError(f"bad knob {item!r}: use NAME=VALUE with NAME one of {', '.join(knobs)}")
        current = getattr(defaults, key)
        try:
            if isinstance(current, tuple):
                value: Any = tuple(type(current[0])(v) for v in text.split(","))
                if len(value) != len(current):
                    raise ValueError
            else:
                value = type(current)(text)
        except ValueError:
            raise ValueError(f"bad value for knob {key!r}: {text!r} (like {current!r})") from None
        out[key] = value
    return out
