"""Does the correspondence network trained on stills transfer to video? (issue 15, point 7)

Two sets of frame pairs, every query a visible joint of a person in the source frame:

* **affine**: held-out SynthTrack stills (scene seeds never used in training), letter-boxed to the
  network's canvas, and a second image made by the training-pair generator
  (``corrtrack.training.corr_data.make_pair``: random affine warp, colour change, blur, an
  occluding rectangle); the ground truth is the warped point, known also under the occluder.
* **video, gap 1 / gap 4**: true temporal pairs of the SynthTrack v2 ``val`` sequences (seed 2 of
  the standard split; rendered in memory, first ``--frames`` frames of the first ``--sequences``
  sequences), the same person's joint ``g`` frames later as ground truth (joints annotated in both
  frames).

Splits: ``all``; ``occluded`` (affine: the target lies under the occluder; video: the person has
an occluded joint in either frame); ``lookalike`` (video: another person of the same look group is
within 1.5 body heights in the source frame). Errors are in body heights of the person in the
destination frame (SynthTrack's ``body_heights``, times the warp's scale for affine pairs).

Methods (all through the ``CorrespondenceModel`` interface): the network with full-grid refinement,
windowed refinement, without refinement (affinity arg-max), zero motion, and DIS optical flow
sampled at the keypoints (``FlowCorrespondences``, preset fast, forward-backward confidence).
With ``--subcell MODE ... [--priors S ...]`` also the windowed and unrefined network with each
sub-cell peak mode, alone and under a motion prior of width S grid cells
(``NetworkCorrespondenceConfig.subcell`` / ``prior_sigma``, beyond the paper).

Metrics: PCK at 0.05 / 0.1 / 0.2 body heights, mean error (body heights), and for tau_corr in
0.1..0.5 the fraction of correspondences with confidence >= tau that are correct (error <= 0.1
body heights) together with the fraction of queries kept. Also the mean confidence of joints that
are hidden in the destination frame (video) or under the occluder (affine), beside that of visible
ones, and the AUROC of the confidence separating visible from hidden target joints (issue #23 point
2: 1 = the confidence always says when a joint is gone, 0.5 = it says nothing). ``--presets hard``
restricts the video pairs to the val split's sequences of those presets. ``--pose-reference`` adds,
for scale, the same AUROC of the bundled pose net's own joint scores in the destination frame (run
on the true boxes): how well a network made to find joints tells a hidden one from a visible one.

Usage::

    python benchmarks/correspondence_accuracy.py [--weights corr.pt] [--sequences 3] [--frames 24]
        [--affine 150] [--presets hard] [--gaps 1 4] [--pose-reference] [--json out.json]
        [--picture docs/show-corr.png]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corrtrack.inference.correspondences import NetworkCorrespondences
from corrtrack.inference.flow_correspondences import FlowCorrespondences
from corrtrack.interfaces import CorrespondenceModel
from corrtrack.synth.config import preset
from corrtrack.synth.dataset import STANDARD_SPLITS, make_specs
from corrtrack.synth.scene import SceneFrame, SyntheticScene
from corrtrack.testing import ZeroMotionCorrespondences
from corrtrack.training.corr_data import PairConfig, make_pair

RADII = (0.05, 0.1, 0.2)
TAUS = (0.1, 0.2, 0.3, 0.4, 0.5)
CORRECT = 0.1


class Records:
    """Per query joint: error (body heights), confidence, split flags; or hidden-joint confidences."""

    def __init__(self) -> None:
        self.err: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
        self.conf: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
        self.hidden: dict[str, list[np.ndarray]] = defaultdict(list)
        self.visible_conf: dict[str, list[np.ndarray]] = defaultdict(list)

    def add(self, method: str, split: str, err: np.ndarray, conf: np.ndarray) -> None:
        self.err[(method, split)].append(err)
        self.conf[(method, split)].append(conf)

    def table(self) -> list[dict[str, Any]]:
        rows = []
        for (method, split), errs in self.err.items():
            e = np.concatenate(errs)
            c = np.concatenate(self.conf[(method, split)])
            if not len(e):
                continue
            row: dict[str, Any] = {"method": method, "split": split, "queries": len(e)}
            for r in RADII:
                row[f"pck@{r}"] = float(np.mean(e <= r))
            row["mean_error"] = float(np.mean(np.minimum(e, 10.0)))
            for t in TAUS:
                keep = c >= t
                row[f"prec@{t}"] = float(np.mean(e[keep] <= CORRECT)) if keep.any() else float("nan")
                row[f"kept@{t}"] = float(np.mean(keep))
            rows.append(row)
        return rows


def errors(pred: np.ndarray, gt: np.ndarray, height: np.ndarray) -> np.ndarray:
    d = np.linalg.norm(pred[..., :2] - gt, axis=-1)
    d = np.where(np.isfinite(d), d, np.inf)
    return d / height


def make_models(
    weights: str | None, priors: tuple[float, ...] = (), subcell: tuple[str, ...] = ()
) -> dict[str, CorrespondenceModel]:
    """The methods; with ``subcell`` modes, also the windowed and unrefined network with each, alone and under
    each motion prior of ``priors``."""
    net = (NetworkCorrespondences.from_checkpoint(weights) if weights else NetworkCorrespondences.from_bundled()).net
    models: dict[str, CorrespondenceModel] = {
        "network (full refinement)": NetworkCorrespondences(net, refinement="full"),
        "network (windowed refinement)": NetworkCorrespondences(net, refinement="windowed"),
        "network without refinement": NetworkCorrespondences(net, refinement="none"),
        "network (gated refinement)": NetworkCorrespondences(net, refinement="gated"),
        "network (full refinement), cycle confidence": NetworkCorrespondences(
            net, refinement="full", confidence="cycle"
        ),
        "network without refinement, cycle confidence": NetworkCorrespondences(
            net, refinement="none", confidence="cycle"
        ),
        "network (full refinement), similarity confidence": NetworkCorrespondences(
            net, refinement="full", confidence="similarity"
        ),
        "network without refinement, similarity confidence": NetworkCorrespondences(
            net, refinement="none", confidence="similarity"
        ),
        "zero motion": ZeroMotionCorrespondences(),
        "DIS optical flow": FlowCorrespondences(),
    }
    if net.cfg.visibility_head:
        for refinement in ("full", "gated"):
            models[f"network ({refinement} refinement), visibility confidence"] = NetworkCorrespondences(
                net, refinement=refinement, confidence="visibility"
            )
    for refinement, label in (("windowed", "network (windowed refinement)"), ("none", "network without refinement")):
        for mode in subcell:
            models[f"{label}, sub-cell {mode}"] = NetworkCorrespondences(net, refinement=refinement, subcell=mode)
            for sigma in priors:
                models[f"{label}, sub-cell {mode}, prior {sigma:g} cells"] = NetworkCorrespondences(
                    net, refinement=refinement, subcell=mode, prior_sigma=sigma
                )
    return models


def affine_pairs(models: dict[str, CorrespondenceModel], n: int, size: int, rec: Records, seed: int) -> None:
    cfg = PairConfig()
    rng = np.random.default_rng(seed)
    presets = ("easy", "medium", "hard")
    done = 0
    i = 0
    while done < n:
        i += 1
        scene_cfg = preset(presets[i % 3], width=320, height=180)
        fr = next(iter(SyntheticScene(scene_cfg, seed * 100003 + i).frames(1, start=int(rng.integers(0, 30)))))
        kps = fr.poses.keypoints
        ok = np.flatnonzero((kps[..., 2] > 0).sum(1) >= 3)
        if not len(ok):
            continue
        p = int(ok[rng.integers(len(ok))])
        s = make_pair(fr.image, kps[p], size, cfg, rng)
        lb_scale = size / max(fr.image.shape[:2])
        height = fr.body_heights[p] * lb_scale * float(s["scale"])
        q = s["points_a"][None].astype(np.float64)
        gt = s["points_b"].astype(np.float64)
        ann = np.isfinite(gt).all(1) & (gt >= 0).all(1) & (gt <= size - 1).all(1)
        hidden = ann & ~s["visible_b"]
        for name, m in models.items():
            ha, hb = m.embed(s["image_a"]), m.embed(s["image_b"])
            out = m.propagate(ha, hb, q)[0]
            e = errors(out, gt, height)
            rec.add(name, "affine/all", e[ann], out[ann, 2])
            rec.add(name, "affine/occluded", e[hidden], out[hidden, 2])
            rec.hidden[f"{name}|affine"].append(out[hidden, 2])
            rec.visible_conf[f"{name}|affine"].append(out[s["visible_b"], 2])
        done += 1


def near_lookalike(fr: SceneFrame) -> np.ndarray:
    g, c, h = fr.look_groups, fr.hip_centers, fr.body_heights
    n = len(g)
    if n < 2 or len(g) != n:
        return np.zeros(n, bool)
    same = (g[:, None] == g[None, :]) & ~np.eye(n, dtype=bool)
    dist = np.linalg.norm(c[:, None] - c[None, :], axis=-1)
    return (same & (dist <= 1.5 * h[:, None])).any(1)


def draw_pair(model: CorrespondenceModel, seq: list[SceneFrame], path: str, name: str) -> None:
    """The show-corr picture of the frame pair (middle, middle + 4) of a sequence, ground-truth poses as queries."""
    from corrtrack.render_correspondences import render_correspondences

    assert isinstance(model, NetworkCorrespondences)
    t = max(0, len(seq) // 2 - 2)
    a, b = seq[t], seq[min(len(seq) - 1, t + 4)]
    kp = a.poses.keypoints
    big = np.argsort(-a.body_heights)[:6]
    res = render_correspondences(
        a.image, b.image, kp[big], model, path, title=f"SynthTrack v2 val {name}, frames {t} -> {t + 4}"
    )
    print(f"picture: {path} ({Path(path).stat().st_size // 1024} KB, {res['kept']} joints >= 0.3)")


#: the AUROC reference row of ``--pose-reference``
POSE_REFERENCE = "bundled pose net's joint score on the true box (reference)"


def video_pairs(
    models: dict[str, CorrespondenceModel],
    sequences: int,
    frames: int,
    gaps: tuple[int, ...],
    rec: Records,
    picture: str | None = None,
    presets: tuple[str, ...] = (),
    estimator: Any = None,
) -> dict[str, float]:
    split = STANDARD_SPLITS["synthtrack-v2.1"]["val"]
    specs = make_specs("val", split["presets"], split["sequences"], split["frames"], split["seed"], split["labeled"])
    if presets:
        specs = [s for s in specs if s.preset in presets]
    specs = specs[:sequences]
    timing: dict[str, float] = defaultdict(float)
    for k, spec in enumerate(specs):
        scene = SyntheticScene(spec.config(), spec.seed)
        seq = list(scene.frames(frames))
        if picture is not None and k == len(specs) - 1:
            draw_pair(models["network (full refinement)"], seq, picture, spec.name)
        scores = []  # the pose net's joint scores on each frame's true boxes (a reference for the AUROC)
        if estimator is not None:
            scores = [estimator.estimate(fr.image, fr.poses.boxes).confidences if len(fr.poses) else None for fr in seq]
        handles = {}
        for name, m in models.items():
            t0 = time.perf_counter()
            handles[name] = [m.embed(fr.image) for fr in seq]
            timing[name] += time.perf_counter() - t0
        for gap in gaps:
            for t in range(0, frames - gap):
                a, b = seq[t], seq[t + gap]
                ids_a, ids_b = a.poses.track_ids.tolist(), b.poses.track_ids.tolist()
                common = [(i, ids_b.index(tid)) for i, tid in enumerate(ids_a) if tid in ids_b]
                if not common:
                    continue
                ia = np.array([i for i, _ in common])
                ib = np.array([j for _, j in common])
                ka, kb = a.poses.keypoints[ia], b.poses.keypoints[ib]
                vis_a = ka[..., 2] > 0
                vis_b = kb[..., 2] > 0
                q = np.where(vis_a[..., None], ka[..., :2], np.nan)
                both = vis_a & vis_b
                hidden = vis_a & b.in_frame[ib] & b.occluded[ib]
                occl = (a.occluded[ia].any(1) | b.occluded[ib].any(1))[:, None] & both
                look = near_lookalike(a)[ia][:, None] & both
                height = b.body_heights[ib][:, None]
                for name, m in models.items():
                    t0 = time.perf_counter()
                    out = m.propagate(handles[name][t], handles[name][t + gap], q)
                    timing[name] += time.perf_counter() - t0
                    e = errors(out, kb[..., :2], height)
                    tag = f"video gap {gap}"
                    rec.add(name, f"{tag}/all", e[both], out[..., 2][both])
                    rec.add(name, f"{tag}/occluded", e[occl], out[..., 2][occl])
                    rec.add(name, f"{tag}/lookalike", e[look], out[..., 2][look])
                    rec.hidden[f"{name}|{tag}"].append(out[..., 2][hidden])
                    rec.visible_conf[f"{name}|{tag}"].append(out[..., 2][both])
                if scores:
                    key = f"{POSE_REFERENCE}|video gap {gap}"
                    rec.hidden[key].append(scores[t + gap][ib][hidden])
                    rec.visible_conf[key].append(scores[t + gap][ib][both])
    return dict(timing)


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counted half (the Mann-Whitney statistic); NaN if a side is empty."""
    from scipy.stats import rankdata

    n_p, n_n = len(positive), len(negative)
    if not n_p or not n_n:
        return float("nan")
    ranks = rankdata(np.concatenate([positive, negative]))
    return float((ranks[:n_p].sum() - n_p * (n_p + 1) / 2) / (n_p * n_n))


def fmt(v: float) -> str:
    return "–" if not np.isfinite(v) else f"{v:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="corr.pt of train corr (default: the bundled tiny weights)")
    ap.add_argument("--sequences", type=int, default=3)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--affine", type=int, default=150)
    ap.add_argument("--seed", type=int, default=77, help="seed of the held-out affine stills (training uses 1000)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--subcell",
        nargs="*",
        default=[],
        choices=["centroid"],
        help="also the windowed and unrefined network with these sub-cell peak modes",
    )
    ap.add_argument(
        "--priors", type=float, nargs="*", default=[], help="and each of those under a motion prior (grid cells)"
    )
    ap.add_argument("--presets", nargs="*", default=[], help="video pairs of these presets only (e.g. hard)")
    ap.add_argument("--gaps", type=int, nargs="+", default=[1, 4], help="frame gaps of the video pairs")
    ap.add_argument(
        "--pose-reference",
        action="store_true",
        help="also the AUROC of the bundled pose net's joint scores (destination frame, true boxes)",
    )
    ap.add_argument("--json", default=None)
    ap.add_argument("--picture", default=None, help="also draw the show-corr picture of a val pair to this PNG")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    models = make_models(args.weights, tuple(args.priors), tuple(args.subcell))
    size = models["network (full refinement)"].size  # type: ignore[attr-defined]
    rec = Records()
    affine_pairs(models, args.affine, size, rec, args.seed)
    estimator = None
    if args.pose_reference:
        from corrtrack.inference.pose_estimator import TopDownPoseEstimator

        estimator = TopDownPoseEstimator.from_bundled()
    timing = video_pairs(
        models, args.sequences, args.frames, tuple(args.gaps), rec, args.picture, tuple(args.presets), estimator
    )
    rows = rec.table()
    hidden = {
        k: {
            "hidden": float(np.mean(np.concatenate(v))) if sum(map(len, v)) else float("nan"),
            "visible": float(np.mean(np.concatenate(rec.visible_conf[k]))),
            "hidden_count": int(sum(map(len, v))),
            "auroc": auroc(np.concatenate(rec.visible_conf[k]), np.concatenate(v))
            if sum(map(len, v))
            else float("nan"),
        }
        for k, v in rec.hidden.items()
    }
    cols = ["queries", *[f"pck@{r}" for r in RADII], "mean_error", *[f"prec@{t}" for t in TAUS]]
    print(f"# correspondence accuracy ({time.time() - t0:.0f} s)\n")
    print("| set / split | method | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for row in sorted(rows, key=lambda r: (r["split"], r["method"])):
        cells = [str(row[c]) if c == "queries" else fmt(row[c]) for c in cols]
        print(f"| {row['split']} | {row['method']} | " + " | ".join(cells) + " |")
    print(
        "\n| method / set | mean confidence, visible | mean confidence, hidden in destination | hidden joints "
        "| AUROC visible vs hidden |"
    )
    print("|---|---|---|---|---|")
    for k, v in sorted(hidden.items()):
        print(f"| {k} | {fmt(v['visible'])} | {fmt(v['hidden'])} | {v['hidden_count']} | {fmt(v['auroc'])} |")
    print(
        "\nkept fraction at tau (video gap 1/all): "
        + ", ".join(
            f"{r['method']}: " + "/".join(fmt(r[f"kept@{t}"]) for t in TAUS)
            for r in rows
            if r["split"] == "video gap 1/all"
        )
    )
    print("\ntime in embed+propagate over the video pairs (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timing.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "hidden": hidden}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
