"""``corrtrack demo``: the main job on bundled defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from corrtrack.cli.app import app, apply_settings, check_output_folder


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("corrtrack-demo"),
    preset: Annotated[Optional[str], typer.Option(help="SynthTrack preset: easy | medium | hard.")] = None,
    frames: Annotated[Optional[int], typer.Option(min=2, max=100_000, help="Frames to render.")] = None,
    seed: Annotated[Optional[int], typer.Option(min=0, max=2**31 - 1, help="Seed of the scene and detector.")] = None,
    settings: Annotated[
        Optional[list[str]], typer.Option("--set", help="Override any field of DemoConfig (NAME=VALUE).")
    ] = None,
) -> None:
    """The main job on bundled defaults: SynthTrack clip -> detection -> poses -> CorrTrack -> evaluation -> video."""
    from corrtrack.demo import DemoConfig, run_demo

    check_output_folder(out)
    given = {"preset": preset, "frames": frames, "seed": seed}
    items = list(settings or []) + [f"{k}={v}" for k, v in given.items() if v is not None]
    cfg = apply_settings(DemoConfig(), items)
    result = run_demo(out, cfg)
    typer.echo(result.report)
    video = f"{result.video}, " if result.video else ""
    picture = f"{result.picture}, " if result.picture else ""
    typer.echo(f"wrote {video}{result.predictions}, {picture}{out / 'evaluation.json'} and {out / 'report.md'}")
