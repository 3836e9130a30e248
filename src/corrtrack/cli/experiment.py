"""``corrtrack experiment NAME``: the paper's experiments on SynthTrack val, one command each."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from corrtrack.cli.app import app, apply_settings, check_output_folder, fail


@app.command()
def experiment(
    name: Annotated[
        str,
        typer.Argument(
            help="table1 (tau_corr 0.1..0.5) | table2 (full, no refinement, no duplicate removal) | "
            "ablations (no recovery, no merging, Hungarian) | baselines (IoU, OKS, ByteTrack-class, zero motion, "
            "DIS flow, oracle) | recovery (paper rule, none, agreement rule) | reid (merging and lost tracks on/off) "
            "| all (every one, sharing one cache); several as a comma-separated list."
        ),
    ],
    data: Annotated[Path, typer.Option(help="A SynthTrack data set (corrtrack synth DIR --standard synthtrack-v2).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (markdown table, JSON, plot).")],
    detector: Annotated[
        Literal["simulated", "synth"],
        typer.Option(help="simulated: boxes derived from ground truth; synth: the bundled detector."),
    ] = "simulated",
    poses: Annotated[
        Literal["estimated", "detections"],
        typer.Option(
            help="estimated: the bundled pose net on every box; detections: the simulated detector's own "
            "keypoints (pose quality held fixed; recovery still re-estimates with the pose net)."
        ),
    ] = "estimated",
    preset: Annotated[
        Literal["paper", "synthtrack", "real"],
        typer.Option(
            help="The tracker settings every row starts from (the preset's tracker and detection-filter "
            "overrides; the rows choose correspondences and poses themselves): paper = the reference rule."
        ),
    ] = "paper",
    split: Annotated[str, typer.Option(help="Split of the data set.")] = "val",
    sequences: Annotated[
        str, typer.Option(help="Comma-separated presets (easy, medium, hard), sequence names or name prefixes.")
    ] = "hard",
    frames: Annotated[
        Optional[int], typer.Option(min=2, max=100_000, help="Only the first N frames of each sequence.")
    ] = None,
    settings: Annotated[
        Optional[list[str]],
        typer.Option("--set", help="Override a CorrTrackConfig field for every row, e.g. --set merge_threshold=0.3."),
    ] = None,
    detection_settings: Annotated[
        Optional[list[str]],
        typer.Option("--det-set", help="Override a DetectionFilter field, e.g. --det-set score_threshold=0.3."),
    ] = None,
    simulated_settings: Annotated[
        Optional[list[str]],
        typer.Option("--sim-set", help="Override a SimulatedDetectorConfig field, e.g. --sim-set miss_rate=0.1."),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Sequences tracked in parallel processes.")] = 1,
    threads: Annotated[int, typer.Option(min=1, max=256, help="Torch threads per process.")] = 1,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Recompute detections, poses and embeddings for every row.")
    ] = False,
) -> None:
    """Run one of the paper's experiments on SynthTrack and write a table, a JSON file and a plot per experiment."""
    import torch

    from corrtrack.experiments import (
        EXPERIMENTS,
        ExperimentSettings,
        make_runner,
        markdown,
        run_experiments,
        write_outputs,
    )
    from corrtrack.inference.file_detections import DetectionFilter
    from corrtrack.presets import resolve_preset
    from corrtrack.synth import SimulatedDetectorConfig
    from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig

    check_output_folder(out)
    torch.set_num_threads(threads)
    picked = tuple(s.strip() for s in sequences.split(",") if s.strip())
    if not picked:
        fail("--sequences is empty")
    chosen, _ = resolve_preset(preset)
    base = apply_settings(CorrTrackConfig(**chosen.tracker), settings)
    det_filter = apply_settings(DetectionFilter(**chosen.detection_filter), detection_settings, option="--det-set")
    simulated = apply_settings(SimulatedDetectorConfig(), simulated_settings, option="--sim-set")
    exp = ExperimentSettings(
        split=split, sequences=picked, frames=frames, detector=detector, cache=not no_cache, poses=poses
    )
    names = EXPERIMENTS if name == "all" else tuple(n.strip() for n in name.split(",") if n.strip())
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown or not names:
        fail(f"unknown experiment {name!r}; choose {', '.join(EXPERIMENTS)}, all, or a comma-separated list")
    runner = make_runner(data, exp, base, det_filter, simulated)
    record = {
        "detector": detector,
        "poses": poses,
        "preset": preset,
        "tracker_overrides": {
            f.name: getattr(base, f.name)
            for f in dataclasses.fields(base)
            if getattr(base, f.name) != getattr(CorrTrackConfig(), f.name)
        },
        "data": str(data),
        "split": split,
        "sequences": list(picked),
        "frames": frames,
        "workers": workers,
        "threads": threads,
        "cache": not no_cache,
        "set": list(settings or []),
        "det_set": list(detection_settings or []),
        "sim_set": list(simulated_settings or []),
    }

    def say(message: str) -> None:
        typer.echo(f"{name}: {message}", err=True)

    from corrtrack.progress import phase

    phase(
        f"{name}: {len(runner.sequences)} sequence(s) of {data} ({split}), {workers} worker(s); "
        "a line as each sequence's rows finish"
    )

    for result in run_experiments(names, runner, workers, settings=record, progress=say):
        paths = write_outputs(result, out)
        typer.echo(markdown(result))
        typer.echo(f"wrote {paths['markdown']}, {paths['json']} and {paths['plot']}")
