"""A contact sheet of SynthTrack frames beside real frames, for judging realism by eye.

Usage::

    python -m corrtrack.synth.contact OUT.png --real IMAGE_OR_VIDEO [--real ...] [--cell-width 300]

Each ``--real`` is an image or a video (its middle frame is taken); real frames are
centre-cropped to the synthetic frames' 16:9 and shown in the first row; the rows below show
SynthTrack frames (the current renderer, v2.1) of every preset. Nothing of the real data is stored but this figure.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from corrtrack.synth.config import preset
from corrtrack.synth.dataset import SYNTHTRACK_VERSION
from corrtrack.synth.scene import SyntheticScene

__all__ = ["comparison_sheet", "main"]

_SYNTH = (("easy", 11), ("medium", 12), ("medium", 13), ("hard", 14), ("hard", 15), ("hard", 16), ("hard", 17))


def _crop_to(img: np.ndarray, aspect: float) -> np.ndarray:
    h, w = img.shape[:2]
    if w / h > aspect:
        nw = round(h * aspect)
        return img[:, (w - nw) // 2 : (w - nw) // 2 + nw]
    nh = round(w / aspect)
    return img[(h - nh) // 2 : (h - nh) // 2 + nh]


def _read(path: Path) -> np.ndarray:
    from corrtrack.video import FrameSource, read_image

    if path.suffix.lower() in (".mp4", ".avi", ".mov", ".mkv"):
        src = FrameSource(path)
        middle = len(src) // 2
        for t, frame in enumerate(src):
            if t == middle:
                return frame
        raise ValueError(f"{path}: no frames")
    return read_image(path)


def comparison_sheet(
    out: str | Path,
    real: Sequence[tuple[str, np.ndarray]],
    synth: Sequence[tuple[str, int]] = _SYNTH,
    cell_width: int = 300,
    frame: int = 30,
) -> None:
    """Write a PNG: the ``(title, RGB image)`` real frames first, then frame ``frame`` of each synthetic scene."""
    from corrtrack.render import save_grid

    images, titles = [], []
    for title, img in real:
        images.append(_crop_to(img, 16 / 9))
        titles.append(f"REAL {title}")
    for name, seed in synth:
        cfg = preset(name)
        fr = next(iter(SyntheticScene(cfg, seed).frames(1, start=frame)))
        images.append(fr.image)
        titles.append(f"SynthTrack v{SYNTHTRACK_VERSION} {name} (seed {seed})")
    if not images:
        raise ValueError("nothing to show")
    save_grid(out, images, cols=4, titles=titles, cell_width=cell_width)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--real", type=Path, action="append", default=[], help="real image or video (repeatable)")
    ap.add_argument("--cell-width", type=int, default=300)
    args = ap.parse_args(argv)
    real = [(p.parent.name if p.suffix.lower() in (".jpg", ".png") else p.stem, _read(p)) for p in args.real]
    comparison_sheet(args.out, real, cell_width=args.cell_width)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
