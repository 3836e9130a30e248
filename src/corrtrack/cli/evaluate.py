"""``corrtrack eval``: PoseTrack AP / MOTA as the official evaluator, keypoint HOTA, box MOT metrics."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from corrtrack.cli.app import app, check_output_file, check_output_folder, fail, finite

#: whether the progress line is open (no newline yet): an error must then start on a line of its own
_PROGRESS_OPEN = [False]


def _progress(done: int, total: int) -> None:
    if total >= 10:  # long evaluations only
        typer.echo(f"\r{done}/{total} sequences", nl=done == total, err=True)
        _PROGRESS_OPEN[0] = done != total


@contextlib.contextmanager
def _line_closed() -> Iterator[None]:
    """Within: an error ends an open progress line first, so that its ``error:`` line is a line of its own."""
    _PROGRESS_OPEN[0] = False
    try:
        yield
    finally:
        if _PROGRESS_OPEN[0]:
            typer.echo("", err=True)
            _PROGRESS_OPEN[0] = False


@app.command("eval")
def eval_(
    gt: Annotated[Path, typer.Argument(help="Ground-truth folder (one PoseTrack JSON per sequence), or a MOT gt.txt.")],
    pred: Annotated[Path, typer.Argument(help="Prediction folder with files of the same names, or a MOT file.")],
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write every value to this JSON file.")] = None,
    hota: Annotated[bool, typer.Option("--hota", help="Also compute PoseTrack21 keypoint HOTA.")] = False,
    mot: Annotated[bool, typer.Option("--mot", help="GT and PRED are MOTChallenge box files.")] = False,
    frames: Annotated[
        Literal["annotated", "labeled"],
        typer.Option(help="annotated: frames with a GT person (official); labeled: frames with is_labeled."),
    ] = "annotated",
    motp: Annotated[
        Literal["motmetrics", "classic"], typer.Option(help="MOTP accounting: motmetrics (official print) or classic.")
    ] = "motmetrics",
    no_tracking: Annotated[bool, typer.Option("--no-tracking", help="Only pose estimation AP.")] = False,
    output_dir: Annotated[
        Optional[Path],
        typer.Option(help="Also write the official evaluator's JSON files (total and per sequence) here."),
    ] = None,
    workers: Annotated[
        Optional[int],
        typer.Option(min=1, max=256, help="Processes for the MOT accumulation (default: all CPU cores)."),
    ] = None,
    order: Annotated[
        Literal["listing", "sorted"],
        typer.Option(
            help="Pool sequences in the order the folder lists them (as the official tool; AP can depend on it "
            "when scores tie) or sorted by name (machine-independent)."
        ),
    ] = "listing",
    hota_scale: Annotated[
        float,
        typer.Option(
            help="Keypoint HOTA similarity max(0, 1 - d / scale); PoseTrack21 uses 0.5001.",
            callback=finite("--hota-scale", 0.01, 100.0),
        ),
    ] = 0.5001,  # corrtrack.evaluate.hota.KEYPOINT_SIM_SCALE (a test keeps them equal; imported lazily)
) -> None:
    """Evaluate predictions: PoseTrack AP and MOTA as the official evaluator, keypoint HOTA, or box MOT metrics.

    ``--json`` writes NaN (a metric without data, e.g. a joint no one annotated) as ``null``;
    ``--output-dir`` writes the official evaluator's files as it writes them (``NaN``). Both are
    encoded before anything is printed and written all or none.
    """
    from corrtrack.fileio import atomic_write_texts, json_text, nan_to_null

    check_output_file(json_out)
    check_output_folder(output_dir)
    if mot:
        from corrtrack.evaluate.boxes import evaluate_mot_files, format_box_metrics

        box = evaluate_mot_files(gt, pred)
        box_files = {json_out: json_text(json_out, nan_to_null(box), indent=1)} if json_out else {}
        typer.echo(format_box_metrics(box))
        atomic_write_texts(box_files)
        return
    from corrtrack.evaluate import evaluate_dirs
    from corrtrack.evaluate.leniency import warnings_as_lines
    from corrtrack.evaluate.report import format_tables

    def say(line: str) -> None:
        typer.echo(("\n" if _PROGRESS_OPEN[0] else "") + line, err=True)
        _PROGRESS_OPEN[0] = False

    # inputs the official tool grades but that look wrong: one "warning: FILE: ..." line each
    with warnings_as_lines(say), _line_closed():
        result = evaluate_dirs(
            gt,
            pred,
            tracking=not no_tracking,
            hota=hota,
            frames=frames,
            motp=motp,
            workers=workers or os.cpu_count() or 1,
            hota_scale=hota_scale,
            order=order,
            progress=_progress,
        )
    problem = result.problem()
    if problem is not None and problem[0] == "error":
        fail(f"{pred if problem[1] == 'pred' else gt}: {problem[2]}")
    # every output encoded before anything is printed or written: nothing can fail after the tables
    files: dict[Path, str] = {}
    if json_out:
        files[json_out] = json_text(json_out, nan_to_null(result.to_json()), indent=1)
    if output_dir:
        for name, doc in result.official_files().items():
            files[output_dir / name] = json_text(output_dir / name, doc, allow_nan=True)
    if problem is not None:
        typer.echo(f"warning: {pred if problem[1] == 'pred' else gt}: {problem[2]}", err=True)
    typer.echo(format_tables(result))
    atomic_write_texts(files)
    if json_out:
        typer.echo(f"wrote {json_out}")
    if output_dir:
        typer.echo(f"wrote the official JSON files to {output_dir}")
