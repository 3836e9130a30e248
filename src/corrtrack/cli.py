"""The ``corrtrack`` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from corrtrack.errors import CorrtrackError

app = typer.Typer(
    name="corrtrack",
    help="Multi-person pose estimation and tracking with keypoint correspondences (CorrTrack).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_SUFFIX = {"posetrack18": ".json", "posetrack17": ".json", "coco": ".json", "mot": ".txt"}


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="A sequence file, or a folder of them.")],
    output: Annotated[Path, typer.Argument(help="Output file (or folder when SOURCE is a folder).")],
    to: Annotated[str, typer.Option("--to", help="posetrack18 | posetrack17 | coco | mot")] = "posetrack18",
    from_: Annotated[
        Optional[str], typer.Option("--from", help="Input format; detected from the file when omitted.")
    ] = None,
    split: Annotated[
        bool, typer.Option("--split-videos", help="Write one file per video of a merged file into OUTPUT (a folder).")
    ] = False,
) -> None:
    """Convert pose files between PoseTrack 2018, PoseTrack 2017, COCO keypoints and MOTChallenge."""
    from tqdm import tqdm

    from corrtrack.formats import FORMATS, load_sequence, save_sequence, split_videos

    for fmt in (to, from_):
        if fmt is not None and fmt not in FORMATS:
            _fail(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in (".json", ".txt"))
        if not files:
            _fail(f"{source}: no .json or .txt files")
        pairs = [(f, output / (f.stem + _SUFFIX[to])) for f in files]
    else:
        pairs = [(source, output)]
    written = 0
    for src, dst in tqdm(pairs, desc="convert", unit="file", disable=len(pairs) < 2):
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
    fps: Annotated[Optional[float], typer.Option(help="Frame rate; default: the source video's, else 25.")] = None,
    min_confidence: Annotated[float, typer.Option(help="Hide joints with confidence at or below this.")] = 0.0,
) -> None:
    """Draw skeletons, boxes and track ids of an annotation file onto its frames."""
    from corrtrack.formats import load_sequence
    from corrtrack.render import render_sequence

    seq = load_sequence(annotations)
    out = render_sequence(seq, frames, output, fps=fps, min_confidence=min_confidence, progress=True)
    typer.echo(f"wrote {out}")


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


@app.command("eval")
def eval_(
    gt: Annotated[Path, typer.Argument(help="Ground-truth folder (one PoseTrack JSON per sequence), or a MOT gt.txt.")],
    pred: Annotated[Path, typer.Argument(help="Prediction folder with files of the same names, or a MOT file.")],
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write every value to this JSON file.")] = None,
    hota: Annotated[bool, typer.Option("--hota", help="Also compute PoseTrack21 keypoint HOTA.")] = False,
    mot: Annotated[bool, typer.Option("--mot", help="GT and PRED are MOTChallenge box files.")] = False,
    frames: Annotated[
        str, typer.Option(help="annotated: frames with a GT person (official); labeled: frames with is_labeled.")
    ] = "annotated",
    motp: Annotated[str, typer.Option(help="MOTP accounting: motmetrics (official print) or classic.")] = "motmetrics",
    no_tracking: Annotated[bool, typer.Option("--no-tracking", help="Only pose estimation AP.")] = False,
    output_dir: Annotated[
        Optional[Path],
        typer.Option(help="Also write the official evaluator's JSON files (total and per sequence) here."),
    ] = None,
    workers: Annotated[
        Optional[int], typer.Option(min=1, help="Processes for the MOT accumulation (default: all CPU cores).")
    ] = None,
    hota_scale: Annotated[
        float, typer.Option(min=0.01, help="Keypoint HOTA similarity max(0, 1 - d / scale); PoseTrack21 uses 0.5001.")
    ] = 0.5001,
) -> None:
    """Evaluate predictions: PoseTrack AP and MOTA as the official evaluator, keypoint HOTA, or box MOT metrics."""
    from corrtrack.fileio import write_json

    if mot:
        from corrtrack.evaluate.boxes import evaluate_mot_files, format_box_metrics

        box = evaluate_mot_files(gt, pred)
        typer.echo(format_box_metrics(box))
        if json_out:
            write_json(json_out, box, indent=1)
        return
    if frames not in ("annotated", "labeled"):
        _fail(f"--frames must be 'annotated' or 'labeled', got {frames!r}")
    if motp not in ("motmetrics", "classic"):
        _fail(f"--motp must be 'motmetrics' or 'classic', got {motp!r}")
    import os

    from corrtrack.evaluate import evaluate_dirs
    from corrtrack.evaluate.report import format_tables

    result = evaluate_dirs(
        gt,
        pred,
        tracking=not no_tracking,
        hota=hota,
        frames=frames,
        motp=motp,
        workers=workers or os.cpu_count() or 1,
        hota_scale=hota_scale,
    )
    typer.echo(format_tables(result))
    if json_out:
        write_json(json_out, result.to_json(), indent=1)
        typer.echo(f"wrote {json_out}")
    if output_dir:
        for name, doc in result.official_files().items():
            write_json(output_dir / name, doc)
        typer.echo(f"wrote the official JSON files to {output_dir}")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        _fail(f"--size must look like 640x360, got {text!r}")
    if w < 64 or h < 64:
        _fail(f"--size {text} is too small (at least 64x64)")
    return w, h


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="Output folder (PoseTrack 2018 layout).")],
    preset: Annotated[str, typer.Option(help="easy | medium | hard (or several, comma-separated, cycled).")] = "medium",
    sequences: Annotated[int, typer.Option(min=1, help="Number of sequences.")] = 4,
    frames: Annotated[int, typer.Option(min=1, help="Frames per sequence.")] = 60,
    size: Annotated[str, typer.Option(help="Frame size WxH.")] = "640x360",
    seed: Annotated[int, typer.Option(help="Seed; the data set is a pure function of its options.")] = 0,
    split: Annotated[str, typer.Option(help="Split name used in the paths.")] = "val",
    labeled: Annotated[str, typer.Option(help="all | posetrack (dense middle block plus every 4th frame).")] = "all",
    standard: Annotated[
        Optional[str], typer.Option(help="Write a documented standard data set instead, e.g. synthtrack-v1.")
    ] = None,
    knob: Annotated[
        Optional[list[str]],
        typer.Option(help="Override a difficulty knob of the preset, e.g. --knob speed=0.08 --knob people=4,7."),
    ] = None,
    detections: Annotated[bool, typer.Option(help="Also write SIMULATED detections (detections/<split>/).")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output folder.")] = False,
) -> None:
    """Render a SynthTrack data set: multi-person videos with exact PoseTrack 2018 ground truth."""
    from tqdm import tqdm

    from corrtrack.synth import PRESETS, SimulatedDetectorConfig, generate_dataset, generate_standard, make_specs
    from corrtrack.synth.config import parse_knobs

    try:
        overrides = parse_knobs(knob or [])
    except ValueError as exc:
        _fail(str(exc))

    det = SimulatedDetectorConfig() if detections else None
    bar = tqdm(desc="synth", unit="seq")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    if standard:
        stats = generate_standard(out, standard, detections=det, overwrite=overwrite, progress=progress)
    else:
        presets = [p.strip() for p in preset.split(",")]
        for p in presets:
            if p not in PRESETS:
                _fail(f"unknown preset {p!r}; choose from {', '.join(PRESETS)}")
        if labeled not in ("all", "posetrack"):
            _fail(f"--labeled must be 'all' or 'posetrack', got {labeled!r}")
        w, h = _size(size)
        specs = make_specs(split, presets, sequences, frames, seed, labeled, w, h, overrides)
        stats = generate_dataset(
            out,
            specs,
            detections=det,
            overwrite=overwrite,
            progress=progress,
            description={"presets": presets, "seed": seed, "knobs": overrides},
        )
    bar.close()
    s = stats["all"]
    typer.echo(
        f"wrote {s['sequences']} sequences, {s['frames']} frames to {out}: {s['persons_per_frame']:.1f} persons/frame, "
        f"{100 * s['occluded_joint_fraction']:.1f}% joints occluded, {s['crossings']} crossings, "
        f"displacement {s['displacement_per_frame_over_height']:.3f} body heights/frame"
    )


@app.command("simulate-detections")
def simulate_detections_cmd(
    gt: Annotated[Path, typer.Argument(help="Ground-truth file or folder (PoseTrack 2018/2017, COCO, MOT).")],
    out: Annotated[Path, typer.Argument(help="Output folder for the detection files (COCO results lists).")],
    miss_rate: Annotated[float, typer.Option(min=0, max=1, help="Miss probability of a fully visible person.")] = 0.05,
    occlusion_miss: Annotated[float, typer.Option(min=0, max=1, help="Extra miss probability when occluded.")] = 0.6,
    duplicate_rate: Annotated[float, typer.Option(min=0, max=1, help="Probability of a duplicate box.")] = 0.03,
    jitter: Annotated[float, typer.Option(min=0, help="Box jitter std, fraction of the box size.")] = 0.05,
    false_positives: Annotated[float, typer.Option(min=0, help="False positives per frame (Poisson mean).")] = 0.2,
    poses: Annotated[bool, typer.Option(help="Also report noisy poses with scores.")] = False,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
) -> None:
    """Write SIMULATED detections derived from ground truth, for controlled tracker studies (not a detector)."""
    from corrtrack.formats import load_sequence, save_sequence
    from corrtrack.synth import SimulatedDetectorConfig, simulate_detections

    cfg = SimulatedDetectorConfig(miss_rate, occlusion_miss, duplicate_rate, jitter, false_positives, poses)
    files = sorted(p for p in gt.iterdir() if p.suffix in (".json", ".txt")) if gt.is_dir() else [gt]
    if not files:
        _fail(f"{gt}: no .json or .txt files")
    for i, path in enumerate(files):
        det = simulate_detections(load_sequence(path), cfg, seed=seed + i)
        save_sequence(det, out / f"{path.stem}.json", "coco-results")
    typer.echo(f"wrote SIMULATED detections for {len(files)} sequence(s) to {out}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("corrtrack-demo"),
    preset: Annotated[str, typer.Option(help="SynthTrack preset: easy | medium | hard.")] = "medium",
    frames: Annotated[int, typer.Option(min=2, help="Frames to render.")] = 80,
    seed: Annotated[int, typer.Option(help="Seed of the scene and of the simulated detector.")] = 0,
) -> None:
    """Run the main job on bundled defaults: SynthTrack scene -> simulated detections -> tracking -> eval -> video."""
    from corrtrack.demo import run_demo
    from corrtrack.synth import PRESETS

    if preset not in PRESETS:
        _fail(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    result = run_demo(out, preset, frames, seed)
    typer.echo(result.report)
    typer.echo(f"wrote {result.video}, {result.predictions} and {out / 'evaluation.json'}")


def main() -> None:
    """Console entry point: user errors are printed in one line, without a traceback."""
    try:
        app()
    except CorrtrackError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
