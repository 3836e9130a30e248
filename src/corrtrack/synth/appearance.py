"""Clothing, skin and hair for synthetic people, and the procedural textures of their clothes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PATTERNS", "Appearance", "make_texture"]

PATTERNS = ("solid", "stripes", "checks", "noise")
_SKIN = np.array([[255, 224, 189], [234, 192, 134], [198, 134, 66], [141, 85, 36], [95, 60, 35], [241, 194, 160]])
_HAIR = np.array([[20, 15, 10], [60, 40, 20], [120, 80, 40], [200, 170, 110], [140, 140, 140], [90, 30, 20]])


@dataclass
class Appearance:
    skin: np.ndarray
    hair: np.ndarray
    hair_long: bool
    shirt: np.ndarray  # (tile, tile, 3) texture
    pants: np.ndarray
    shoes: np.ndarray
    long_sleeves: bool
    shorts: bool

    @staticmethod
    def random(rng: np.random.Generator, tile: int = 32) -> Appearance:
        def colour() -> np.ndarray:
            hue_pick = rng.uniform(0, 1, 3)
            return (40 + 200 * hue_pick ** rng.uniform(0.6, 1.6)).astype(np.float64)

        return Appearance(
            skin=_SKIN[rng.integers(len(_SKIN))].astype(float),
            hair=_HAIR[rng.integers(len(_HAIR))].astype(float),
            hair_long=bool(rng.random() < 0.35),
            shirt=make_texture(str(rng.choice(PATTERNS)), colour(), colour(), rng, tile),
            pants=make_texture(
                str(rng.choice(PATTERNS, p=[0.55, 0.15, 0.15, 0.15])), colour() * 0.7, colour(), rng, tile
            ),
            shoes=np.array([30.0, 30.0, 30.0]) + rng.uniform(0, 60),
            long_sleeves=bool(rng.random() < 0.5),
            shorts=bool(rng.random() < 0.25),
        )


def make_texture(pattern: str, a: np.ndarray, b: np.ndarray, rng: np.random.Generator, tile: int = 32) -> np.ndarray:
    """A seamless ``tile x tile`` RGB texture: solid, stripes, checks or noise in colours ``a`` and ``b``."""
    yy, xx = np.mgrid[0:tile, 0:tile]
    if pattern == "solid":
        mix = np.zeros((tile, tile))
    elif pattern == "stripes":
        period = int(rng.choice([4, 8, 16]))
        mix = ((yy // (period // 2)) % 2).astype(float) if rng.random() < 0.7 else ((xx // (period // 2)) % 2) * 1.0
    elif pattern == "checks":
        period = int(rng.choice([8, 16]))
        mix = (((yy // (period // 2)) + (xx // (period // 2))) % 2).astype(float)
    elif pattern == "noise":
        coarse = rng.uniform(0, 1, (4, 4))
        mix = np.kron(coarse, np.ones((tile // 4, tile // 4)))
        mix = 0.6 * mix + 0.4 * rng.uniform(0, 1, (tile, tile))
    else:
        raise ValueError(f"unknown pattern {pattern!r}; choose from {PATTERNS}")
    return a[None, None] * (1 - mix[..., None]) + b[None, None] * mix[..., None]
