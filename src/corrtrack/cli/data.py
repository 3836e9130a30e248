"""Data commands: ``convert``, ``render``, ``info``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from corrtrack.cli.app import app, check_output_file, fail, finite

Format = Literal["posetrack18", "posetrack17", "coco", "coco-results", "mot"]
_SUFFIX = {"posetrack18": ".json", "posetrack17": ".json", "coco": ".json", "coco-results": ".json", "mot": ".txt"}


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="A sequence file, or a folder of them.")],
    output: Annotated[Path, typer.Argument(help="Output file (or folder when SOURCE is a folder).")],
    to: Annotated[Format, typer.Option("--to", help="Output format.")] = "posetrack18",
    from_: Annotated[Optional[Format], typer.Option("--from", help="Input format; detected when omitted.")] = None,
    split: Annotated[
        bool, typer.Option("--split-videos", help="Write one file per video of a merged file into OUTPUT (a folder).")
    ] = False,
) -> None:
    """Convert pose files between PoseTrack 2018, PoseTrack 2017, COCO keypoints (and results lists) and MOT."""
    from tqdm import tqdm

    from corrtrack.formats import load_sequence, save_sequence, split_videos

    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in (".json", ".txt"))
        if not files:
            fail(f"{source}: no .json or .txt files")
        pairs = [(f, output / (f.stem + _SUFFIX[to])) for f in files]
    else:
        pairs = [(source, output)]
    written = 0
    for src, dst in tqdm(pairs, desc="convert", unit="file", leave=False, disable=True if len(pairs) < 2 else None):
        seq = load_sequence(src, from_)
        if split:
            parts = split_videos(seq)
            for part in parts:
                save_sequence(part, (dst if source.is_dir() else output) / (part.name + _SUFFIX[to]), to)
            written += len(parts)
        else:
            save_sequence(seq, dst, to)
            written += 1
    typer.echo(f"wrote {written} file(s) as {to} to {output}")


@app.command()
def render(
    annotations: Annotated[Path, typer.Argument(help="A PoseTrack 2018/2017, COCO or MOT file.")],
    frames: Annotated[Path, typer.Option("--frames", "-f", help="Video file or image folder of the sequence.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .mp4 (or .png for a grid).")],
    fps: Annotated[
        Optional[float],
        typer.Option(
            help="Frame rate; default: the source video's, else 25.", callback=finite("--fps", 0, 1000, strict_low=True)
        ),
    ] = None,
    min_confidence: Annotated[
        float, typer.Option(help="Hide joints with confidence at or below this.", callback=finite("--min-confidence"))
    ] = 0.0,
) -> None:
    """Draw skeletons, boxes and track ids of an annotation file onto its frames."""
    import time

    from corrtrack.formats import load_sequence
    from corrtrack.progress import format_rate, phase
    from corrtrack.render import render_sequence

    check_output_file(output)
    seq = load_sequence(annotations)
    phase(f"drawing {len(seq)} frames of {annotations} into {output}")
    t0 = time.perf_counter()
    out = render_sequence(seq, frames, output, fps=fps, min_confidence=min_confidence, progress=True)
    typer.echo(f"wrote {out} ({format_rate(len(seq), time.perf_counter() - t0)})")


@app.command()
def info(path: Annotated[Path, typer.Argument(help="A sequence file in any supported format.")]) -> None:
    """Summarise a pose file: format, frames, persons, tracks, labelled frames."""
    from corrtrack.fileio import read_json
    from corrtrack.formats import detect_json_format, parse_document, read_mot

    if path.suffix.lower() in (".txt", ".csv"):
        fmt, seq = "mot", read_mot(path)
    else:
        data = read_json(path)
        fmt = detect_json_format(data)
        seq = parse_document(data, str(path), fmt)
    labeled = sum(1 for f in seq.frames if f.is_labeled)
    typer.echo(
        f"{path}: format {fmt}, layout {seq.layout.name}, {len(seq)} frames "
        f"({labeled} labelled), {int(seq.num_persons.sum())} persons, {len(seq.tracks())} tracks"
    )
