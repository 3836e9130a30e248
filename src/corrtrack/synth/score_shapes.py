"""Where the simulated detector's score shapes come from: a real detector's scores on real footage.

Usage::

    python -m corrtrack.synth.score_shapes MOT_SEQUENCE_DIR [MOT_SEQUENCE_DIR ...]

Each folder holds MOTChallenge ``gt/gt.txt`` and ``det/det.txt`` (e.g. ``../shared/data/PETS09-S2L1``
and ``../shared/data/TUD-Stadtmitte``: the public Faster R-CNN detections). Per frame, detections
are matched one to one to annotated people (box IoU >= 0.5, Hungarian); a detection that
overlaps an ignore row (flag 0) instead is left out; the others are false positives. Prints the
score quantiles of true and false detections, the fraction of false ones above 0.75, the
fraction of true ones a threshold at the highest false score removes, and the Beta shape that
:mod:`corrtrack.synth.simulated_detections` uses for false positives on person-like structure,
fitted to the false scores of the sequences where they are not people (the published files
keep detections scoring > 0.5 only, so the fit matches the quantiles above 0.5).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from corrtrack.geometry import box_iou

__all__ = ["QUANTILES", "fit_structure_beta", "main", "true_and_false_scores"]

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
#: the simulated structure scores are ``LOW + (1 - LOW) * Beta(a, b)``
LOW = 0.3


def _read(path: Path) -> np.ndarray:
    try:
        rows = np.loadtxt(path, delimiter=",", ndmin=2)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read a MOTChallenge file ({exc})") from None
    if rows.shape[1] < 7:
        raise ValueError(f"{path}: expected at least 7 comma-separated columns, got {rows.shape[1]}")
    return rows


def true_and_false_scores(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Scores of the detections in ``folder/det/det.txt`` that match an annotated person, and of the others."""
    from scipy.optimize import linear_sum_assignment

    folder = Path(folder)
    det, gt = _read(folder / "det" / "det.txt"), _read(folder / "gt" / "gt.txt")
    tp: list[float] = []
    fp: list[float] = []
    for f in np.unique(det[:, 0]):
        d = det[det[:, 0] == f]
        g = gt[(gt[:, 0] == f) & (gt[:, 6] != 0)]
        ign = gt[(gt[:, 0] == f) & (gt[:, 6] == 0)]
        matched = np.zeros(len(d), bool)
        if len(g):
            iou = box_iou(d[:, 2:6], g[:, 2:6])
            r, c = linear_sum_assignment(-iou)
            ok = iou[r, c] >= 0.5
            matched[r[ok]] = True
        ignored = np.zeros(len(d), bool)
        if len(ign):
            ignored = (box_iou(d[:, 2:6], ign[:, 2:6]).max(1) >= 0.5) & ~matched
        tp += d[matched, 6].tolist()
        fp += d[~matched & ~ignored, 6].tolist()
    return np.array(tp), np.array(fp)


def fit_structure_beta(false_scores: np.ndarray, floor: float = 0.5) -> tuple[float, float]:
    """(a, b) of ``LOW + (1 - LOW) * Beta(a, b)`` whose quantiles above ``floor`` match ``false_scores``'."""
    from scipy import optimize, stats

    q = np.array(QUANTILES)
    target = np.quantile(false_scores[false_scores > floor], q)

    def loss(x: np.ndarray) -> float:
        d = stats.beta(*np.exp(x))
        p0 = d.cdf((floor - LOW) / (1 - LOW))
        return float(((LOW + (1 - LOW) * d.ppf(p0 + q * (1 - p0)) - target) ** 2).sum())

    res = optimize.minimize(loss, np.zeros(2), method="Nelder-Mead")
    a, b = np.exp(res.x)
    return float(a), float(b)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path, help="MOTChallenge sequence folders with gt/ and det/")
    ap.add_argument("--fit", type=Path, help="fit the structure shape to this folder's false positives")
    args = ap.parse_args(argv)
    names = ", ".join(f"q{round(100 * q)}" for q in QUANTILES)
    for folder in args.folders:
        tp, fp = true_and_false_scores(folder)
        if not len(tp) or not len(fp):
            raise SystemExit(f"error: {folder}: no true or no false detections")
        print(f"{folder.name}: {len(tp)} true, {len(fp)} false detections (lowest score {min(tp.min(), fp.min()):.3f})")
        print(f"  true  ({names}): {np.round(np.quantile(tp, QUANTILES), 3).tolist()}")
        print(f"  false ({names}): {np.round(np.quantile(fp, QUANTILES), 3).tolist()}")
        print(
            f"  false above 0.75: {(fp > 0.75).mean():.2f}; true at or below the highest false score "
            f"({fp.max():.3f}): {(tp <= fp.max()).mean():.2f}"
        )
    if args.fit:
        a, b = fit_structure_beta(true_and_false_scores(args.fit)[1])
        print(f"structure false positives: {LOW} + {1 - LOW} * Beta({a:.2f}, {b:.2f}) (fitted to {args.fit.name})")


if __name__ == "__main__":
    main()
