"""``corrtrack demo``: the main job on bundled defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from corrtrack.cli.app import app, apply_settings
from corrtrack.demo import DemoConfig


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
    """Run the main job on bundled defaults: SynthTrack scene -> detections -> tracking -> eval -> video."""
    from corrtrack.demo import run_demo

    given = {"preset": preset, "frames": frames, "seed": seed}
    items = list(settings or []) + [f"{k}={v}" for k, v in given.items() if v is not None]
    cfg = apply_settings(DemoConfig(), items)
    result = run_demo(out, cfg)
    typer.echo(result.report)
    typer.echo(f"wrote {result.video}, {result.predictions} and {out / 'evaluation.json'}")
