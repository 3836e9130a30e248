"""``corrtrack show-corr``: a picture of keypoint correspondences between two frames."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from corrtrack.cli.app import (
    CorrPriorOption,
    CorrSubcellOption,
    RefinementOption,
    app,
    check_output_file,
    fail,
    finite,
)


@app.command("show-corr")
def show_corr(
    frame_a: Annotated[Path, typer.Argument(help="The first image (the query poses are in it).")],
    frame_b: Annotated[Path, typer.Argument(help="The second image.")],
    poses: Annotated[Path, typer.Option(help="A pose file (PoseTrack/COCO/MOT) holding frame A's people.")],
    frame_index: Annotated[int, typer.Option(min=0, help="Which frame of the pose file is frame A.")] = 0,
    weights: Annotated[Optional[Path], typer.Option(help="Correspondence weights (default: bundled).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output PNG.")] = Path("correspondences.png"),
    tau: Annotated[
        float, typer.Option(help="tau_corr: correspondences below are drawn faded.", callback=finite("--tau", 0, 1))
    ] = 0.3,
    refinement: RefinementOption = "full",
    corr_prior: CorrPriorOption = 0.0,
    corr_subcell: CorrSubcellOption = "off",
) -> None:
    """Draw the query keypoints of frame A, their correspondences in frame B and some confidence maps."""
    import time

    import numpy as np

    from corrtrack.formats import load_sequence
    from corrtrack.inference.correspondences import NetworkCorrespondenceConfig, NetworkCorrespondences
    from corrtrack.progress import phase
    from corrtrack.render_correspondences import render_correspondences, usable_queries
    from corrtrack.video import read_image

    check_output_file(out)
    seq = load_sequence(poses)
    if frame_index >= len(seq):
        fail(f"{poses}: has {len(seq)} frames, --frame-index {frame_index} is beyond")
    people = seq.frames[frame_index].poses
    if len(people) == 0:
        fail(f"{poses}: frame {frame_index} has no people to query")
    image_a, image_b = read_image(frame_a), read_image(frame_b)
    if not usable_queries(people, image_a.shape[1], image_a.shape[0]).any():
        fail(
            f"{poses}: frame {frame_index} has no usable query keypoint: every joint is absent or outside "
            f"{frame_a} ({image_a.shape[1]} x {image_a.shape[0]})"
        )
    config = NetworkCorrespondenceConfig(refinement=refinement, prior_sigma=corr_prior, subcell=corr_subcell)
    t0 = time.perf_counter()
    phase(f"loading the correspondence network ({weights or 'bundled corr_tiny.pt'})")
    if weights:
        model = NetworkCorrespondences.from_checkpoint(weights, config)
    else:
        model = NetworkCorrespondences.from_bundled(config)
    info = render_correspondences(image_a, image_b, people, model, out, tau=tau, say=phase)
    kept = int(np.count_nonzero(info["kept"])) if np.ndim(info["kept"]) else int(info["kept"])
    total = int(np.prod(np.shape(info["correspondences"])[:2]))
    typer.echo(
        f"wrote {info['path']}: {kept} of {total} correspondences at or above tau {tau} "
        f"({time.perf_counter() - t0:.1f} s)"
    )
