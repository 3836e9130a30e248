"""Evaluator speed and memory on folders of files, one process per run, as a user runs it (issue 14).

Usage:
    python benchmarks/bench_eval_speed.py [--data DIR] [--sequences 50] [--frames 100] [--repeats 5]
        [--baseline-src OLD_CHECKOUT/src] [--official "CMD {gt} {pred}"]

The data set (written to ``--data`` once, reused afterwards) is SynthTrack
``medium`` at 320x180: ground truth of ``--sequences`` x ``--frames`` (about 5
people per frame) and predictions from the simulated detector (noisy poses,
misses, duplicates, false positives) linked by the OKS baseline, one PoseTrack
2018 file per sequence.

Every run is a fresh Python process that reads the two folders and evaluates
(``evaluate_dirs``), as the official tool and the CLI do: wall seconds, CPU
seconds (user + sys of the process and its workers) and peak memory (largest
resident set of the process or one worker) are measured from outside; medians
over ``--repeats``. CPU seconds are the figure to compare on a shared machine,
where wall time depends on the other jobs.

``--baseline-src`` runs the same measurements with another corrtrack source
tree (e.g. the previous implementation checked out with ``git worktree add``)
and checks that both give the same numbers. ``--official`` times the official
evaluator: a command with ``{gt}``, ``{pred}``, ``{out}`` and ``{mode}``
placeholders (``{mode}`` becomes ``-e`` for AP alone, ``-e -t`` for AP + MOTA);
by default ``python -m poseval.evaluate -g {gt} -p {pred}/ -o {out} {mode}``
when the ``poseval`` package is importable. Without it the issue's figures
for the official tool are scaled to this machine by the baseline's times.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: one evaluation in a fresh process: argv = gt, pred, tracking, hota, workers, json_out
RUNNER = """
import inspect, json, sys
from corrtrack.evaluate import evaluate_dirs
gt, pred, tracking, hota, workers, out = sys.argv[1:7]
kw = dict(tracking=tracking == "1", hota=hota == "1", workers=int(workers))
if "order" in inspect.signature(evaluate_dirs).parameters:
    kw["order"] = "sorted"  # the previous implementation pooled sequences sorted by name
result = evaluate_dirs(gt, pred, **kw)
if out:
    json.dump(result.to_json(), open(out, "w"))
"""

#: (label, tracking, hota, workers)
CASES = (
    ("AP only", False, False, 1),
    ("AP + MOTA", True, False, 1),
    ("AP + MOTA, 2 workers", True, False, 2),
    ("AP + MOTA + keypoint HOTA", True, True, 1),
)

#: the official evaluator as measured by the issue author (issue 14), 50 x 100 frames, medians of 5
OFFICIAL_REFERENCE = {"AP only": 29.9, "AP + MOTA": 85.5}
OFFICIAL_REFERENCE_MB = 760
#: corrtrack before this work, same measurement by the same author, for scaling to this machine
ISSUE_BASELINE = {"AP only": 6.4, "AP + MOTA": 32.9}


def make_data(folder: Path, sequences: int, frames: int) -> None:
    from corrtrack.formats import save_sequence
    from corrtrack.poses import PoseSequence
    from corrtrack.synth import SimulatedDetectorConfig, make_specs, render_sequence_frames, simulate_detections
    from corrtrack.tracking import associate_frame_to_frame

    for spec in make_specs("val", ["medium"], sequences, frames, 0, "all", 320, 180):
        gt = render_sequence_frames(spec)[1]
        det = simulate_detections(gt, SimulatedDetectorConfig(with_poses=True), seed=spec.seed)
        pred = associate_frame_to_frame(PoseSequence(gt.name, det.frames), "oks", 0.2)
        save_sequence(gt, folder / "gt" / f"{gt.name}.json", "posetrack18")
        save_sequence(pred, folder / "pred" / f"{gt.name}.json", "posetrack18")


#: runs argv[1:] and reports its CPU time and peak memory; small, so that its own memory, which the measured
#: process inherits until exec (ru_maxrss keeps it), stays far below anything measured
LAUNCHER = """
import json, os, sys
out = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ, file_actions=out)
_, status, ru = os.wait4(pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), ru.ru_utime + ru.ru_stime, ru.ru_maxrss]))
"""


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak resident MB of one command.

    CPU covers the process and its worker processes; the peak is the largest
    resident set of the process or of one worker (``wait4``'s ``ru_maxrss``).
    """
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    try:
        status, cpu, maxrss_kb = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        status, cpu, maxrss_kb = proc.returncode or 1, 0.0, 0
    if status or proc.returncode:
        raise SystemExit(f"{shlex.join(cmd)} failed ({status}):\n{proc.stderr[-2000:]}")
    return wall, cpu, maxrss_kb / 1024


def run_case(tool: str, cmd: list[str], env: dict[str, str], repeats: int) -> dict[str, float]:
    walls, cpus, mems = [], [], []
    for _ in range(repeats):
        wall, cpu, mem = measure(cmd, env)
        walls.append(wall)
        cpus.append(cpu)
        mems.append(mem)
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "mb": max(mems), "tool": tool}


def corrtrack_cmd(data: Path, tracking: bool, hota: bool, workers: int, out: str = "") -> list[str]:
    return [
        sys.executable,
        "-c",
        RUNNER,
        str(data / "gt"),
        str(data / "pred"),
        str(int(tracking)),
        str(int(hota)),
        str(workers),
        out,
    ]


def env_for(src: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def max_difference(a: object, b: object) -> float:
    """Largest absolute difference between two JSON documents of numbers (inf if their structure differs)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return float("inf")
        return max((max_difference(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return float("inf")
        return max((max_difference(x, y) for x, y in zip(a, b)), default=0.0)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if a != a and b != b:  # both NaN
            return 0.0
        return abs(a - b)
    return 0.0 if a == b else float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "corrtrack-bench-eval")
    ap.add_argument("--sequences", type=int, default=50)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--baseline-src", help="src folder of another corrtrack checkout to compare with")
    ap.add_argument("--official", help="official evaluator command with {gt} and {pred} placeholders")
    ap.add_argument("--cases", default="all", help="comma-separated case numbers (1-4) or 'all'")
    args = ap.parse_args()
    data = args.data / f"{args.sequences}x{args.frames}"
    if not (data / "pred").is_dir():
        print(f"writing the data set to {data} ...", flush=True)
        make_data(data, args.sequences, args.frames)
    official = args.official
    if official is None and importlib.util.find_spec("poseval") is not None:
        official = f"{shlex.quote(sys.executable)} -m poseval.evaluate -g {{gt}} -p {{pred}}/ -o {{out}} {{mode}}"
    cases = CASES if args.cases == "all" else [CASES[int(i) - 1] for i in args.cases.split(",")]

    tools = [("corrtrack", None)] + ([("baseline", args.baseline_src)] if args.baseline_src else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, tracking, hota, workers in cases:
            for tool, src in tools:
                out = str(Path(tmp) / f"{tool}-{len(rows)}.json")
                env = env_for(src)
                measure(corrtrack_cmd(data, tracking, hota, workers, out), env)  # warm the file cache, keep numbers
                res = run_case(tool, corrtrack_cmd(data, tracking, hota, workers), env, args.repeats)
                res["label"], res["json"] = label, out
                rows.append(res)
                print(
                    f"{label:28s} {tool:10s} wall {res['wall']:7.2f} s  cpu {res['cpu']:7.2f} s  "
                    f"peak {res['mb']:6.0f} MB",
                    flush=True,
                )
            if official and not hota and workers == 1:
                mode = "-e -t" if tracking else "-e"
                text = official.format(gt=data / "gt", pred=data / "pred", out=Path(tmp) / "official", mode=mode)
                cmd = shlex.split(text)
                res = run_case("official", cmd, env_for(None), args.repeats)
                res["label"], res["json"] = label, ""
                rows.append(res)
                print(f"{label:28s} official   wall {res['wall']:7.2f} s  cpu {res['cpu']:7.2f} s", flush=True)
        report(rows, args, data, official is not None)


def report(rows: list[dict], args: argparse.Namespace, data: Path, official_measured: bool) -> None:
    persons = _persons_per_frame(data)
    print(
        f"\n{args.sequences} sequences x {args.frames} frames, {persons:.1f} GT persons per frame, "
        f"medians of {args.repeats} runs, one process per run\n"
    )
    print("| case | tool | wall s | CPU s | peak MB |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['label']} | {r['tool']} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['mb']:.0f} |")
    by = {(r["label"], r["tool"]): r for r in rows}
    if args.baseline_src:
        print("\n| case | speed-up vs baseline (CPU) | speed-up (wall) | same numbers (max abs difference) |")
        print("|---|---|---|---|")
        for label, *_ in CASES:
            new, old = by.get((label, "corrtrack")), by.get((label, "baseline"))
            if new and old:
                diff = max_difference(
                    json.loads(Path(new["json"]).read_text()), json.loads(Path(old["json"]).read_text())
                )
                print(f"| {label} | {old['cpu'] / new['cpu']:.1f}x | {old['wall'] / new['wall']:.1f}x | {diff:.1e} |")
    print()
    for label in OFFICIAL_REFERENCE:
        new = by.get((label, "corrtrack"))
        if new is None:
            continue
        if official_measured and (label, "official") in by:
            off = by[(label, "official")]
            print(
                f"{label}: official {off['wall']:.1f} s / {off['mb']:.0f} MB measured here; corrtrack "
                f"{off['wall'] / new['wall']:.1f}x faster (wall), {off['mb'] / new['mb']:.1f}x less memory"
            )
        elif (label, "baseline") in by:
            # official time on this machine estimated from the issue's official/baseline ratio
            old = by[(label, "baseline")]
            est = old["wall"] * OFFICIAL_REFERENCE[label] / ISSUE_BASELINE[label]
            est_cpu = old["cpu"] * OFFICIAL_REFERENCE[label] / ISSUE_BASELINE[label]
            print(
                f"{label}: official not installed; issue reference {OFFICIAL_REFERENCE[label]} s "
                f"= {OFFICIAL_REFERENCE[label] / ISSUE_BASELINE[label]:.2f} x the baseline, so about "
                f"{est:.1f} s wall / {est_cpu:.1f} s CPU here: corrtrack {est / new['wall']:.1f}x (wall), "
                f"{est_cpu / new['cpu']:.1f}x (CPU) faster; memory {new['mb']:.0f} MB vs the official "
                f"{OFFICIAL_REFERENCE_MB} MB"
            )
        else:
            print(
                f"{label}: official not installed; the issue's reference is {OFFICIAL_REFERENCE[label]} s, "
                f"{OFFICIAL_REFERENCE_MB} MB (another machine); run with --baseline-src to scale it here"
            )


def _persons_per_frame(data: Path) -> float:
    persons = frames = 0
    for path in sorted((data / "gt").glob("*.json")):
        doc = json.loads(path.read_text())
        persons += len(doc.get("annotations", []))
        frames += len(doc.get("images", []))
    return persons / max(frames, 1)


if __name__ == "__main__":
    main()
