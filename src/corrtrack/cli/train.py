"""``corrtrack train pose|...``: the training commands (single process, or under torchrun for several)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from corrtrack.cli.app import CorrtrackApp, app, check_device, check_output_folder

train_app = CorrtrackApp(
    help="Train the networks (runs under `torchrun --nproc_per_node N -m corrtrack train ...` too).",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")

_SETTINGS_HELP = "Override a training/loop/augmentation field, e.g. --set steps=2000 --set lr=1e-3."


@train_app.command("pose")
def train_pose_cmd(
    data: Annotated[Path, typer.Option(help="A SynthTrack/PoseTrack 2018 folder or a COCO keypoints data set.")],
    out: Annotated[Path, typer.Option(help="Output folder (checkpoints, curves, config, pose.pt).")],
    config: Annotated[str, typer.Option(help="Network config: tiny | paper | paper3.")] = "tiny",
    settings: Annotated[Optional[list[str]], typer.Option("--set", help=_SETTINGS_HELP)] = None,
) -> None:
    """Train the two-stage pose estimator (heatmaps + offsets); resumes from OUT's last checkpoint."""
    from corrtrack.models.pose_net import pose_config
    from corrtrack.training.pose_train import run_train_pose

    try:
        pose_config(config)
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc).strip("'\""), param_hint="--config") from None
    check_output_folder(out)
    raise typer.Exit(run_train_pose(config, data, out, settings or []))


@train_app.command("corr")
def train_corr_cmd(
    data: Annotated[
        str, typer.Option(help="'synth' (SynthTrack stills rendered on the fly), a data set folder, or images.")
    ],
    out: Annotated[Path, typer.Option(help="Output folder (phase checkpoints, curves, config, corr.pt).")],
    config: Annotated[str, typer.Option(help="Network config: tiny | paper.")] = "tiny",
    settings: Annotated[Optional[list[str]], typer.Option("--set", help=_SETTINGS_HELP)] = None,
) -> None:
    """Train the correspondence network self-supervised on still images (embedding, then refiner)."""
    from corrtrack.models.correspondence_net import correspondence_config
    from corrtrack.training.corr_train import run_train_corr

    try:
        correspondence_config(config)
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc).strip("'\""), param_hint="--config") from None
    check_output_folder(out)
    raise typer.Exit(run_train_corr(config, data, out, settings or []))


@train_app.command("detector")
def train_detector_cmd(
    data: Annotated[Path, typer.Option(help="A SynthTrack / PoseTrack 2018 folder or a COCO data set.")],
    out: Annotated[Path, typer.Option(help="Output folder (checkpoints, curves, config, detector.pt).")],
    config: Annotated[str, typer.Option(help="Network config (tiny).")] = "tiny",
    settings: Annotated[Optional[list[str]], typer.Option("--set", help=_SETTINGS_HELP)] = None,
) -> None:
    """Train the CenterNet-style person detector."""
    from corrtrack.training.detector_train import run_train_detector

    check_output_folder(out)
    raise typer.Exit(run_train_detector(config, data, out, settings or []))


@train_app.command("all")
def train_all_cmd(
    data: Annotated[Path, typer.Option(help="SynthTrack folder (train + val); rendered here on all cores if empty.")],
    out: Annotated[Path, typer.Option(help="Output folder (shards, one folder per network, bundled/, report.json).")],
    device: Annotated[
        str, typer.Option(callback=check_device, help="cpu, cuda or cuda:N (refused at once if not available).")
    ] = "cpu",
    scale: Annotated[str, typer.Option(help="full (about 10 min on one data-centre GPU), tiny, or a factor.")] = "full",
    workers: Annotated[Optional[int], typer.Option(min=1, max=256, help="Processes for rendering/sharding.")] = None,
    threads: Annotated[int, typer.Option(min=0, max=256, help="Torch threads (0 = torch's default).")] = 0,
) -> None:
    """Train the three bundled networks end to end (data, training, evaluation, weights with metadata)."""
    from corrtrack.training.train_all import train_all

    check_output_folder(out)
    report = train_all(data, out, device=device, scale=scale, workers=workers, threads=threads)
    print(f"report: {out / 'report.json'}; weights: {out / 'bundled'} ({len(report['networks'])} networks)")
