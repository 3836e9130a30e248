"""Per-frame time of the person detectors on SynthTrack frames (640x360) and real PETS09 frames (768x576).

Detectors: the CenterNet-style tiny detector (bundled weights, or ``--weights``) at its training
input and at larger inputs, and the detections-from-file detector (``FileDetections`` on PETS's
public ``det.txt``). The time covers what ``detect`` does: letterbox, network, decoding and the
DetectionFilter (frames are decoded beforehand). The optional YOLO11n-pose backend
(``corrtrack.inference.yolo.YoloPose``: ultralytics' letterbox, network, NMS, keypoint mapping, the
DetectionFilter) is timed at the input sizes of ``--yolo-imgsz`` when the 'yolo' extra is
installed (run with that environment's interpreter); ``--yolo-imgsz ''`` skips it. Each row is the
median over ``--repeats`` passes, by wall clock and by the process's CPU time; the torch thread
count and the load average are printed (on a shared machine the wall clock is inflated by the load).

    python benchmarks/bench_detector.py --synth DIR [--weights W] [--threads 2] [--json OUT]
    .venv-yolo/bin/python benchmarks/bench_detector.py --yolo-imgsz 640,1280 [--inputs train,768x576]

``--synth`` is a written SynthTrack data set (its first images are used); without it, rendered
640x360 SynthTrack stills are used. PETS frames need ``bash tools/fetch_pets_video.sh``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corrtrack.inference.detector import CenterNetDetector, DetectorConfig
from corrtrack.inference.file_detections import FileDetections
from corrtrack.interfaces import PersonDetector
from corrtrack.video import FrameSource, read_image

ROOT = Path(__file__).resolve().parents[1]
PETS_VIDEO = ROOT / "data-cache" / "PETS09-S2L1" / "vtest.avi"
PETS_DET = ROOT.parent / "shared" / "data" / "PETS09-S2L1" / "det" / "det.txt"


def synth_frames(folder: Path | None, count: int) -> list[np.ndarray]:
    if folder is not None:
        paths = sorted((folder / "images").rglob("*.jpg"))
        paths = paths[:: max(1, len(paths) // count)]
        return [read_image(p) for p in paths[:count]]
    from corrtrack.synth.training_data import SynthTrackSamples

    samples = SynthTrackSamples(count, ["easy", "medium", "hard"], mode="still", size=(640, 360), seed=0)
    return [samples[i]["image"] for i in range(count)]


def pets_frames(count: int) -> list[np.ndarray]:
    if not PETS_VIDEO.is_file():
        print(f"# PETS09 frames skipped: {PETS_VIDEO} missing (bash tools/fetch_pets_video.sh)", file=sys.stderr)
        return []
    out = []
    for frame in FrameSource(PETS_VIDEO):
        out.append(frame)
        if len(out) == count:
            break
    return out


def time_detector(detector: PersonDetector, frames: list[np.ndarray], batch: int, repeats: int) -> dict[str, float]:
    detector.detect(frames[:batch])  # warm-up
    per_frame, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for start in range(0, len(frames), batch):
            detector.detect(frames[start : start + batch])
        per_frame.append((time.perf_counter() - t0) / len(frames))
        cpu.append((time.process_time() - c0) / len(frames))
    return {
        "ms_per_frame": round(1000 * float(np.median(per_frame)), 2),
        "cpu_ms_per_frame": round(1000 * float(np.median(cpu)), 2),
        "batch": batch,
        "frames": len(frames),
    }


def time_yolo(sizes: str, sets: dict[str, list[np.ndarray]], batches: list[int], repeats: int) -> list[dict[str, Any]]:
    """YOLO11n-pose rows (boxes and keypoints), or none when the extra is missing."""
    if not sizes:
        return []
    from corrtrack.errors import CorrtrackError
    from corrtrack.inference.yolo import YoloPose, YoloPoseConfig

    rows: list[dict[str, Any]] = []
    for size in (int(v) for v in sizes.split(",")):
        try:
            det = YoloPose(YoloPoseConfig(imgsz=size))
        except CorrtrackError as exc:
            print(f"# YOLO skipped: {exc}", file=sys.stderr)
            return rows
        for name, frames in sets.items():
            for batch in batches:
                if frames:
                    r = {"detector": "yolo11n-pose", "input": f"imgsz {size}", "frames_of": name}
                    rows.append({**r, **time_detector(det, frames, batch, repeats)})
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synth", type=Path, help="a written SynthTrack data set (default: rendered stills)")
    ap.add_argument("--weights", type=Path, help="detector weights (default: the bundled tiny weights)")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--inputs", default="train,640x352,768x576", help="comma list of network input sizes")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--yolo-imgsz", default="640,1280", help="YOLO11n-pose input sizes ('' skips YOLO)")
    ap.add_argument("--batches", default="1,8", help="comma list of frames per detect call")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {load:.1f} (1 min)",
        flush=True,
    )
    sets = {"synthtrack_640x360": synth_frames(args.synth, args.frames), "pets09_768x576": pets_frames(args.frames)}
    rows: list[dict[str, Any]] = []
    for size in [v for v in args.inputs.split(",") if v]:
        cfg = DetectorConfig()
        if size != "train":
            w, h = (int(v) for v in size.lower().split("x"))
            cfg = DetectorConfig(input_width=w, input_height=h)
        det = (
            CenterNetDetector.from_checkpoint(args.weights, cfg)
            if args.weights
            else CenterNetDetector.from_bundled(cfg)
        )
        for name, frames in sets.items():
            for batch in batches:
                if frames:
                    r = {
                        "detector": "centernet-tiny",
                        "input": f"{det.input_width}x{det.input_height}",
                        "frames_of": name,
                    }
                    rows.append({**r, **time_detector(det, frames, batch, args.repeats)})
                    print(json.dumps(rows[-1]), flush=True)
    rows += time_yolo(args.yolo_imgsz, sets, batches, args.repeats)
    if PETS_DET.is_file() and sets["pets09_768x576"]:
        files = FileDetections(PETS_DET)
        r = {"detector": "file (det.txt)", "input": "-", "frames_of": "pets09_768x576"}
        rows.append({**r, **time_detector(files, sets["pets09_768x576"], 1, 1)})
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        from corrtrack.fileio import write_json

        write_json(args.json, {"threads": args.threads, "load_average": round(load, 1), "rows": rows}, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
