"""Clothing, skin and hair for synthetic people, the textures of their clothes, and detail from real photographs.

Clothes are drawn from a palette weighted toward the dark and plain colours of real street
clothing (black, charcoal, navy, denim, brown, khaki) with some bright ones; patterns are
solid, stripes, checks, mottled noise or *photo*: the fine luminance detail of a real
photograph (the samples that ship with matplotlib, a declared dependency, so every machine
renders the same pixels) under the garment's colour.

A look-alike (:meth:`Appearance.variant`) keeps the outfit's style and palette but varies the
shade, the pattern's scale and phase, the hair and the shoes, as in a team or a crowd in dark
coats; only ``clone=True`` gives a pixel-identical copy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

__all__ = ["PALETTE", "PATTERNS", "Appearance", "ClothStyle", "make_texture", "photo_detail"]

PATTERNS = ("solid", "stripes", "checks", "noise", "photo")
_SKIN = np.array([[255, 224, 189], [234, 192, 134], [198, 134, 66], [141, 85, 36], [95, 60, 35], [241, 194, 160]])
_HAIR = np.array([[20, 15, 10], [60, 40, 20], [120, 80, 40], [200, 170, 110], [140, 140, 140], [90, 30, 20]])
#: (RGB, weight): dark and plain colours dominate, as in real street footage
PALETTE: tuple[tuple[tuple[int, int, int], float], ...] = (
    ((22, 22, 26), 0.12),  # black
    ((52, 53, 58), 0.1),  # charcoal
    ((32, 38, 70), 0.08),  # navy
    ((62, 46, 36), 0.06),  # dark brown
    ((70, 74, 52), 0.04),  # olive
    ((36, 60, 46), 0.03),  # dark green
    ((88, 32, 40), 0.03),  # burgundy
    ((118, 118, 122), 0.08),  # grey
    ((68, 92, 138), 0.1),  # denim
    ((168, 150, 112), 0.06),  # khaki
    ((200, 186, 160), 0.05),  # beige
    ((150, 178, 208), 0.04),  # light blue
    ((222, 222, 216), 0.06),  # white
    ((186, 42, 40), 0.03),  # red
    ((218, 188, 62), 0.02),  # yellow
    ((216, 118, 42), 0.02),  # orange
    ((62, 146, 72), 0.02),  # green
    ((214, 140, 168), 0.02),  # pink
    ((108, 70, 138), 0.04),  # purple
)
_COLOURS = np.array([c for c, _ in PALETTE], np.float64)
_WEIGHTS = np.array([w for _, w in PALETTE]) / sum(w for _, w in PALETTE)


@lru_cache(maxsize=1)
def photo_detail() -> tuple[np.ndarray, ...]:
    """Zero-mean, unit-std luminance detail maps of real photographs shipped with matplotlib."""
    import importlib.util

    spec = importlib.util.find_spec("matplotlib")  # its files only: importing matplotlib costs 0.4 s
    locations = list(spec.submodule_search_locations or []) if spec else []
    folder = Path(locations[0] if locations else ".") / "mpl-data" / "sample_data"
    maps = []
    for name in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png"):
        img = cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE)
        if img is None:
            continue
        g = img.astype(np.float32)
        detail = g - cv2.GaussianBlur(g, (0, 0), 6)
        maps.append((detail - detail.mean()) / (detail.std() + 1e-6))
    if not maps:  # matplotlib without its sample data: fall back to smooth noise (recorded, never silent)
        rng = np.random.default_rng(0)
        noise = cv2.GaussianBlur(rng.normal(0, 1, (256, 256)).astype(np.float32), (0, 0), 1.5)
        maps.append(noise / noise.std())
    return tuple(maps)


def _photo_patch(rng: np.random.Generator, size: int, source: int, zoom: float) -> np.ndarray:
    maps = photo_detail()
    m = maps[source % len(maps)]
    crop = max(8, min(int(size / zoom), min(m.shape) - 1))
    y = int(rng.integers(0, m.shape[0] - crop))
    x = int(rng.integers(0, m.shape[1] - crop))
    patch = cv2.resize(m[y : y + crop, x : x + crop], (size, size), interpolation=cv2.INTER_LINEAR)
    return patch / (patch.std() + 1e-6)


@dataclass(frozen=True)
class ClothStyle:
    """What a garment looks like, before it becomes a texture."""

    pattern: str
    a: tuple[float, float, float]
    b: tuple[float, float, float]
    period: int = 8
    vertical: bool = False
    source: int = 0  # photo detail map
    seed: int = 0  # phase of the pattern / crop of the photo

    @staticmethod
    def random(rng: np.random.Generator, photo_fraction: float, dark_bias: float = 0.0) -> ClothStyle:
        plain = 1.0 - photo_fraction
        probs = np.array([0.55 * plain, 0.15 * plain, 0.1 * plain, 0.2 * plain, photo_fraction])
        pattern = str(rng.choice(PATTERNS, p=probs / probs.sum()))
        weights = _WEIGHTS * np.where(_COLOURS.mean(1) < 100, 1 + dark_bias, 1.0)
        i, j = rng.choice(len(_COLOURS), 2, p=weights / weights.sum())
        shade = rng.uniform(0.85, 1.15)
        return ClothStyle(
            pattern,
            tuple(np.clip(_COLOURS[i] * shade, 0, 255)),
            tuple(np.clip(_COLOURS[j] * rng.uniform(0.85, 1.15), 0, 255)),
            int(rng.choice([4, 6, 8, 12, 16])),
            bool(rng.random() < 0.3),
            int(rng.integers(0, 1 << 16)),
            int(rng.integers(0, 1 << 30)),
        )

    def varied(self, rng: np.random.Generator) -> ClothStyle:
        """The same style and palette in another shade, scale and phase (and now and then solid <-> noise)."""
        pattern = self.pattern
        if pattern in ("solid", "noise") and rng.random() < 0.3:
            pattern = "noise" if pattern == "solid" else "solid"
        shade = rng.uniform(0.82, 1.18)
        tint = rng.uniform(0.93, 1.07, 3)
        return replace(
            self,
            pattern=pattern,
            a=tuple(np.clip(np.array(self.a) * shade * tint, 0, 255)),
            b=tuple(np.clip(np.array(self.b) * rng.uniform(0.85, 1.15) * tint, 0, 255)),
            period=int(max(3, round(self.period * rng.uniform(0.7, 1.4)))),
            seed=int(rng.integers(0, 1 << 30)),
        )


def make_texture(style: ClothStyle, tile: int = 32) -> np.ndarray:
    """A seamless-enough ``tile x tile`` RGB float texture for ``style``."""
    rng = np.random.default_rng(style.seed)
    yy, xx = np.mgrid[0:tile, 0:tile]
    a, b = np.array(style.a), np.array(style.b)
    half = max(1, style.period // 2)
    detail: np.ndarray | float = 0.0
    if style.pattern == "solid":
        mix = np.zeros((tile, tile))
        detail = 0.05 * rng.normal(0, 1, (tile, tile))  # weave
    elif style.pattern == "stripes":
        mix = (((xx if style.vertical else yy) // half) % 2).astype(float)
    elif style.pattern == "checks":
        mix = (((yy // half) + (xx // half)) % 2).astype(float)
    elif style.pattern == "noise":
        coarse = rng.uniform(0, 1, (4, 4))
        mix = cv2.resize(coarse, (tile, tile), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 0.35
        detail = 0.08 * rng.normal(0, 1, (tile, tile))
    elif style.pattern == "photo":
        mix = np.zeros((tile, tile))
        detail = 0.22 * _photo_patch(rng, tile, style.source, rng.uniform(0.5, 2.0))
    else:
        raise ValueError(f"unknown pattern {style.pattern!r}; choose from {PATTERNS}")
    colour = a[None, None] * (1 - mix[..., None]) + b[None, None] * mix[..., None]
    if np.ndim(detail):
        colour = colour * (1 + np.asarray(detail)[..., None])
    return np.clip(colour, 0, 255)


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
    shirt_style: ClothStyle | None = None
    pants_style: ClothStyle | None = None
    bald: bool = False

    @staticmethod
    def random(rng: np.random.Generator, tile: int = 32, photo_fraction: float = 0.3) -> Appearance:
        shirt = ClothStyle.random(rng, photo_fraction, dark_bias=0.5)
        pants = ClothStyle.random(rng, photo_fraction * 0.5, dark_bias=1.5)
        if pants.pattern in ("stripes", "checks") and rng.random() < 0.7:
            pants = replace(pants, pattern="solid")
        return Appearance(
            skin=_SKIN[rng.integers(len(_SKIN))].astype(float) * rng.uniform(0.9, 1.05),
            hair=_HAIR[rng.integers(len(_HAIR))].astype(float),
            hair_long=bool(rng.random() < 0.35),
            shirt=make_texture(shirt, tile),
            pants=make_texture(pants, tile),
            shoes=np.array([30.0, 30.0, 30.0]) + rng.uniform(0, 60),
            long_sleeves=bool(rng.random() < 0.6),
            shorts=bool(rng.random() < 0.15),
            shirt_style=shirt,
            pants_style=pants,
            bald=bool(rng.random() < 0.05),
        )

    def variant(self, rng: np.random.Generator, clone: bool = False, tile: int = 32) -> Appearance:
        """A look-alike: same outfit style and palette, varied shade, pattern, hair and shoes (``clone``: identical)."""
        if clone or self.shirt_style is None or self.pants_style is None:
            return self
        shirt, pants = self.shirt_style.varied(rng), self.pants_style.varied(rng)
        hair = self.hair if rng.random() < 0.5 else _HAIR[rng.integers(len(_HAIR))].astype(float)
        return Appearance(
            skin=self.skin * rng.uniform(0.93, 1.07) if rng.random() < 0.7 else _SKIN[rng.integers(len(_SKIN))] * 1.0,
            hair=hair,
            hair_long=self.hair_long if rng.random() < 0.7 else not self.hair_long,
            shirt=make_texture(shirt, tile),
            pants=make_texture(pants, tile),
            shoes=np.clip(self.shoes * rng.uniform(0.7, 1.3), 0, 255),
            long_sleeves=self.long_sleeves,
            shorts=self.shorts,
            shirt_style=shirt,
            pants_style=pants,
            bald=self.bald if rng.random() < 0.8 else not self.bald,
        )
