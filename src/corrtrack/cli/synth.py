"""SynthTrack commands: ``synth`` (render a data set) and ``simulate-detections``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from corrtrack.cli.app import app, apply_settings, check_output_file, check_output_folder, fail, parse_size

_FIXED = ("width", "height")  # set with --size


def _check_split(split: str) -> None:
    """A split is one plain path component: ``--split ../..`` must not reach outside the data set."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", split):
        fail(f"--split must be a plain name (letters, digits, - and _), got {split!r}")


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="Output folder (PoseTrack 2018 layout).")],
    preset: Annotated[str, typer.Option(help="easy | medium | hard (or several, comma-separated, cycled).")] = "medium",
    sequences: Annotated[int, typer.Option(min=1, max=100_000, help="Number of sequences.")] = 4,
    frames: Annotated[int, typer.Option(min=1, max=100_000, help="Frames per sequence.")] = 60,
    size: Annotated[str, typer.Option(help="Frame size WxH.")] = "640x360",
    seed: Annotated[
        int, typer.Option(min=0, max=2**31 - 1, help="Seed; the data set is a pure function of its options.")
    ] = 0,
    split: Annotated[str, typer.Option(help="Split name used in the paths (letters, digits, - and _).")] = "val",
    labeled: Annotated[
        Literal["all", "posetrack"], typer.Option(help="all | posetrack (dense middle block plus every 4th frame).")
    ] = "all",
    standard: Annotated[
        Optional[str], typer.Option(help="Write a documented standard data set instead: synthtrack-v2.")
    ] = None,
    settings: Annotated[
        Optional[list[str]],
        typer.Option("--set", help="Override a field of the preset's SynthConfig: --set speed=0.08 --set people=4,7."),
    ] = None,
    knob: Annotated[Optional[list[str]], typer.Option(hidden=True, help="Old name of --set.")] = None,
    detections: Annotated[bool, typer.Option(help="Also write SIMULATED detections (detections/<split>/).")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output folder.")] = False,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processes rendering sequences (same output).")] = 1,
) -> None:
    """Render a SynthTrack data set: multi-person videos with exact PoseTrack 2018 ground truth."""
    import time

    from tqdm import tqdm

    from corrtrack.progress import format_rate, phase
    from corrtrack.synth import (
        PRESETS,
        SimulatedDetectorConfig,
        SynthConfig,
        generate_dataset,
        generate_standard,
        make_specs,
    )

    items = list(settings or []) + list(knob or [])
    changed = apply_settings(SynthConfig(), items, fixed=_FIXED)
    overrides = {
        name: getattr(changed, name) for name in (i.partition("=")[0].strip().replace("-", "_") for i in items)
    }
    _check_split(split)
    check_output_folder(out)

    presets = [p.strip() for p in preset.split(",")]
    for p in presets:
        if p not in PRESETS:
            fail(f"unknown preset {p!r}; choose from {', '.join(PRESETS)}")
    w, h = parse_size(size)
    det = SimulatedDetectorConfig() if detections else None
    if standard:
        phase(f"rendering the standard SynthTrack data set {standard} into {out} (workers: {workers})")
    else:
        phase(f"rendering {sequences} SynthTrack sequence(s) of {frames} frames at {w}x{h} into {out}")
    bar = tqdm(desc="synth", unit="frame", leave=False, disable=None)  # no bar unless stderr is a terminal

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    t0 = time.perf_counter()
    try:
        if standard:
            stats = generate_standard(
                out, standard, detections=det, overwrite=overwrite, frame_progress=progress, workers=workers
            )
        else:
            specs = make_specs(split, presets, sequences, frames, seed, labeled, w, h, overrides)
            stats = generate_dataset(
                out,
                specs,
                detections=det,
                overwrite=overwrite,
                frame_progress=progress,
                description={"presets": presets, "seed": seed, "knobs": overrides},
                workers=workers,
            )
    finally:
        bar.close()
    s = stats["all"]
    rate = format_rate(s["frames"], time.perf_counter() - t0)
    typer.echo(
        f"wrote {s['sequences']} sequences, {s['frames']} frames ({rate}) to {out}: "
        f"{s['persons_per_frame']:.1f} persons/frame, "
        f"{100 * s['occluded_joint_fraction']:.1f}% joints occluded, {s['crossings']} crossings, "
        f"displacement {s['displacement_per_frame_over_height']:.3f} body heights/frame"
    )


@app.command("simulate-detections")
def simulate_detections_cmd(
    gt: Annotated[Path, typer.Argument(help="Ground-truth file or folder (PoseTrack 2018/2017, COCO, MOT).")],
    out: Annotated[Path, typer.Argument(help="Output folder for the detection files (COCO results lists).")],
    poses: Annotated[bool, typer.Option(help="Also report noisy poses with scores.")] = False,
    settings: Annotated[
        Optional[list[str]],
        typer.Option("--set", help="Override a field of SimulatedDetectorConfig, e.g. --set miss_rate=0.1."),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, max=2**31 - 1, help="Seed.")] = 0,
) -> None:
    """Write SIMULATED detections derived from ground truth, for controlled tracker studies (not a detector).

    Every field of ``SimulatedDetectorConfig`` (miss rates, duplicates, jitter, false
    positives, keypoint noise) is set with ``--set NAME=VALUE``; the config used is
    written to OUT/config.json.
    """
    from dataclasses import replace

    from corrtrack.config import dump_config
    from corrtrack.formats import load_sequence, save_sequence
    from corrtrack.synth import SimulatedDetectorConfig, simulate_detections

    check_output_folder(out)
    cfg = apply_settings(SimulatedDetectorConfig(), settings)
    if poses:
        cfg = replace(cfg, with_poses=True)
    files = sorted(p for p in gt.iterdir() if p.suffix in (".json", ".txt")) if gt.is_dir() else [gt]
    if not files:
        fail(f"{gt}: no .json or .txt files")
    for i, path in enumerate(files):
        det = simulate_detections(load_sequence(path), cfg, seed=seed + i)
        save_sequence(det, out / f"{path.stem}.json", "coco-results")
    dump_config(out / "config.json", simulated_detector=cfg)
    typer.echo(f"wrote SIMULATED detections for {len(files)} sequence(s) to {out}")


@app.command("synth-export-coco")
def synth_export_coco(
    root: Annotated[Path, typer.Argument(help="A SynthTrack data set (as `corrtrack synth` writes it).")],
    output: Annotated[Path, typer.Argument(help="The merged COCO keypoints JSON to write.")],
    split: Annotated[str, typer.Option(help="Split to export.")] = "train",
    crops: Annotated[
        Optional[Path], typer.Option(help="Also write one image crop per person into this folder.")
    ] = None,
) -> None:
    """Export a SynthTrack split as one COCO keypoints file (area, iscrowd, num_keypoints) for common trainers."""
    from corrtrack.synth.training_data import export_coco

    _check_split(split)
    check_output_file(output)
    check_output_folder(crops)
    export_coco(root, split, output, crops=crops)
    typer.echo(f"wrote {output}")
