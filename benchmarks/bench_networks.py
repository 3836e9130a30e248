"""Forward time of the networks: pose net (tiny/paper/paper3, batch 1 and 8) and correspondence net.

Usage: python benchmarks/bench_networks.py [--threads 2] [--repeats 5] [--only pose|corr] [--configs tiny,paper]
       python benchmarks/bench_networks.py --forms [--bf16] [--configs paper] [--batches 4]
       python benchmarks/bench_networks.py --golden [--reference ../shared/reference]

Wall time (median / min of ``--repeats`` runs after one warm-up) and the process CPU time
(median), in eval mode under ``torch.inference_mode()``, random weights (time does not depend
on the values). On cores shared with other jobs, wall times are inflated and 2 threads stall
(each waits for the other at every op); with ``--threads 1`` the CPU time is then the best
estimate of the time on a quiet machine. Pose: one
forward through all stages, and ``predict`` (the stages up to the read-out stage only).
Correspondence: the embedding of one letter-boxed frame, then for 1, 5 and 20 tracks
(17 queries each) on one frame pair: the batched correlation alone, and correlation +
refinement (all tracks in one batch). For scale, the authors' code on this machine: one
512x512 embedding 257 ms; one track's affinity + refinement 200-220 ms.

``--forms`` instead times the pose net as given (NCHW input, BN modules) beside its inference form
(``backbone.prepare_for_inference``: BN folded, channels-last weights and input), and with ``--bf16``
the inference form under bfloat16 autocast too, back to back in one process (issue 25).

``--golden`` instead prints, for every golden array of the reference fixtures, the relative
error ``max|ours - golden| / max|golden|`` of our networks with the rule's weights (the test
suite asserts the README's tolerances; this prints the measured values for the docs).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from corrtrack.models.correspondence_net import (
    CorrespondenceNet,
    CorrespondenceNetConfig,
    SiameseEmbedding,
    correspondence_config,
)
from corrtrack.models.pose_net import PoseNet, pose_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the reference test scaffolding
from reference_propagate import propagate
from reference_weights import (
    POSE_INPUT_SEED,
    SIAMESE_INPUT_A_SEED,
    SIAMESE_INPUT_B_SEED,
    fill_layout,
    load_layout,
    reference_input,
    reference_queries_xy,
)


def timed(repeats: int, fn: Callable[..., object], *args: object) -> str:
    """ "wall median / wall min (CPU median)" in milliseconds of ``fn(*args)`` after one warm-up."""
    fn(*args)
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn(*args)
        wall.append(1000 * (time.perf_counter() - t))
        cpu.append(1000 * (time.process_time() - c))

    def f(v: float) -> str:
        return f"{v:.0f}" if v >= 100 else f"{v:.1f}"

    return f"{f(statistics.median(wall))} / {f(min(wall))} ({f(statistics.median(cpu))})"


def bench_pose(names: list[str], repeats: int) -> None:
    print("| pose net | input (w x h) | params | batch | all stages, ms: wall median / min (CPU) | predict |")
    print("|---|---|---|---|---|---|")
    for name in names:
        cfg = pose_config(name)
        net = PoseNet(cfg).eval()
        for batch in (1, 8):
            x = torch.rand(batch, 3, cfg.input_height, cfg.input_width)
            with torch.inference_mode():
                full = timed(repeats, net, x)
                pred = timed(repeats, net.predict, x)
            print(
                f"| {name} ({cfg.num_stages} stages) | {cfg.input_width} x {cfg.input_height} | "
                f"{net.num_parameters() / 1e6:.2f} M | {batch} | {full} | {pred} |"
            )


def bench_forms(names: list[str], batches: list[int], repeats: int, bf16: bool, compiled: bool = False) -> None:
    """The pose net as given vs its inference form (and bf16, and ``torch.compile`` of the inference form, its
    compile time excluded: the first call compiles), ``all stages`` forward, back to back."""
    from corrtrack.models.backbone import prepare_for_inference, to_channels_last

    cols = ["as given (NCHW, BN)", "inference form (BN folded, channels-last)"] + (
        ["inference form, bf16"] if bf16 else []
    )
    cols += ["inference form, torch.compile"] if compiled else []
    print("| pose net | batch | " + " | ".join(f"{c}, ms: wall median / min (CPU)" for c in cols) + " |")
    print("|---" * (2 + len(cols)) + "|")
    for name in names:
        cfg = pose_config(name)
        net = PoseNet(cfg).eval()
        run = prepare_for_inference(net)
        for batch in batches:
            x = torch.rand(batch, 3, cfg.input_height, cfg.input_width)
            xc = to_channels_last(x)
            with torch.inference_mode():
                cells = [timed(repeats, net, x), timed(repeats, run, xc)]
                if bf16:
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        cells.append(timed(repeats, run, xc))
            if compiled:
                fast = torch.compile(run, dynamic=False)
                t0 = time.perf_counter()
                with torch.inference_mode():
                    fast(xc)
                    print(f"compile + first call, batch {batch}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
                    got, want = fast(xc)[-1], run(xc)[-1]  # the last stage's maps
                    rel = float(((got - want).abs().max() / want.abs().max()).item())
                    cells.append(timed(repeats, fast, xc) + f" (rel. diff {rel:.1e})")
            print(f"| {name} ({cfg.num_stages} stages) | {batch} | " + " | ".join(cells) + " |")


def bench_corr(names: list[str], repeats: int) -> None:
    print("| correspondence net | input | grid | params | part | tracks | ms: wall median / min (CPU) |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        cfg = correspondence_config(name)
        net = CorrespondenceNet(cfg).eval()
        s, g = cfg.input_size, cfg.grid_size
        head = f"| {name} | {s} x {s} | {g} x {g} | {net.num_parameters() / 1e6:.2f} M"
        frames = torch.rand(2, 3, s, s)
        with torch.inference_mode():
            print(f"{head} | embedding, 1 frame | - | {timed(repeats, net.embed, frames[:1])} |")
            f = net.embed(frames)
            fA, fB = f[:1], f[1:]
            for tracks in (1, 5, 20):
                q = torch.rand(tracks, cfg.num_queries, 2) * g
                print(f"{head} | correlation | {tracks} | {timed(repeats, net.correlate, fA, fB, q)} |")
                full = timed(repeats, propagate, net, fA, fB, q)
                print(f"{head} | correlation + refinement + arg-max | {tracks} | {full} |")


def golden_report(ref: Path) -> None:
    """Relative error of every golden array (README tolerances: 1e-4 eval, 2e-4 train-mode emb., 5e-3 refined)."""

    def rel(ours: torch.Tensor, golden: np.ndarray) -> str:
        return f"{float(np.abs(ours.numpy() - golden).max() / np.abs(golden).max()):.2e}"

    def gold(name: str) -> dict[str, np.ndarray]:
        return dict(np.load(ref / "golden" / name))

    rows: list[tuple[str, str, str]] = []
    with torch.inference_mode():
        x = reference_input(POSE_INPUT_SEED, (1, 3, 384, 288))
        for name, layout in (("paper", "pose_net_2stage"), ("paper3", "pose_net_3stage")):
            net = PoseNet(pose_config(name))
            net.load_state_dict(fill_layout(load_layout(ref / "layouts" / f"{layout}.json")), strict=True)
            out = net.eval()(x)
            g2 = gold("pose_2stage.npz")
            for k in range(len(out)):
                g = g2[f"stage{k}"] if k < 2 else gold("pose_3stage.npz")["stage2"]
                rows.append((f"pose {name} stage{k}", "1e-4", rel(out[k], g)))
            del net
        a = reference_input(SIAMESE_INPUT_A_SEED, (1, 3, 512, 512))
        b = reference_input(SIAMESE_INPUT_B_SEED, (1, 3, 512, 512))
        q = reference_queries_xy()
        emb = SiameseEmbedding(CorrespondenceNetConfig(normalization="squared"))
        emb.load_state_dict(fill_layout(load_layout(ref / "layouts" / "siamese_embedding.json")), strict=True)
        rows.append(("embedding emb_A", "1e-4", rel(emb.eval()(a), gold("embedding.npz")["emb_A"])))
        del emb
        weights = fill_layout(load_layout(ref / "layouts" / "siamese_refinement.json"))
        net = CorrespondenceNet(CorrespondenceNetConfig(normalization="squared"))
        net.load_state_dict(weights, strict=True)
        net.eval()
        eA, eB = net.embed(a), net.embed(b)
        g = gold("siamese_embeddings.npz")
        rows += [("siamese eA", "1e-4", rel(eA, g["eA"])), ("siamese eB", "1e-4", rel(eB, g["eB"]))]
        corr = net.correlate(eA, eB, q)
        g = gold("siamese_corr_refined.npz")
        rows.append(("corr", "1e-4", rel(corr, g["corr"])))
        rows.append(("refined", "1e-4", rel(net.refine(eA, eB, corr), g["refined"])))
        s = 0.0625
        corr_s = net.correlate(eA * s, eB * s, q)
        g = gold("siamese_corr_scaled.npz")
        rows.append(("corr_scaled", "1e-4", rel(corr_s, g["corr_scaled"])))
        rows.append(("refined_scaled", "1e-4", rel(net.refine(eA * s, eB * s, corr_s), g["refined_scaled"])))
        train = CorrespondenceNet(CorrespondenceNetConfig(normalization="squared", batchnorm="batch_stats"))
        train.load_state_dict(weights, strict=True)
        train.eval()
        f = train.embed(torch.cat([a, b]))
        refined = train.refine(f[:1], f[1:], train.correlate(f[:1], f[1:], q))
        g = gold("train_mode_subsampled.npz")
        rows.append(("train-mode emb_batch_AB (sub4)", "2e-4", rel(f[:, :, ::4, ::4], g["emb_batch_AB_sub4"])))
        rows.append(("train-mode refined (sub4)", "5e-3", rel(refined[:, :, ::4, ::4], g["refined_sub4"])))
    print("| golden array | tolerance (rel) | measured rel |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", choices=["pose", "corr"], default=None)
    ap.add_argument("--configs", default=None, help="comma-separated config names (default: all)")
    ap.add_argument("--golden", action="store_true", help="print the errors against the reference golden arrays")
    ap.add_argument("--forms", action="store_true", help="pose net as given vs its inference form (issue 25)")
    ap.add_argument("--bf16", action="store_true", help="with --forms: the inference form under bf16 autocast too")
    ap.add_argument("--compile", action="store_true", help="with --forms: torch.compile of the inference form too")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4], help="with --forms: batch sizes")
    ap.add_argument("--reference", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "reference")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.golden:
        golden_report(args.reference)
        return
    chosen = args.configs.split(",") if args.configs else None
    if args.forms:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats} runs + warm-up")
        bench_forms(chosen or ["paper"], args.batches, args.repeats, args.bf16, args.compile)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats} runs + warm-up")
    if args.only in (None, "pose"):
        bench_pose(chosen or ["tiny", "paper", "paper3"], args.repeats)
    if args.only in (None, "corr"):
        bench_corr([n for n in (chosen or ["tiny", "paper"]) if n in ("tiny", "paper")], args.repeats)


if __name__ == "__main__":
    main()
