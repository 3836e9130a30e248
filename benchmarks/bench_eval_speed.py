"""``corrtrack eval`` against the official PoseTrack evaluator (poseval), both run here, in one run.

Usage:
    python benchmarks/bench_eval_speed.py DATA --poseval RUN_POSEVAL [--sequences 50] [--frames 100]
        [--repeats 3] [--case CASE_DIR] [--variant NAME=PYTHONPATH ...]

``DATA`` is a folder with ``gt/`` and ``pred/`` (one PoseTrack 2018 file per
sequence, same names). If it has no ``pred/`` yet, it is written first:
SynthTrack ``medium`` at 320x180, ``--sequences`` x ``--frames`` of ground truth
(about 5 people per frame) and predictions from corrtrack's simulated detector
(noisy poses, misses, duplicates, false positives) linked by the OKS
frame-to-frame tracker.

``RUN_POSEVAL`` is a command that runs the unmodified official evaluator as
``RUN_POSEVAL GT PRED OUT [--ap-only]`` (in this project
``../shared/tools/run-poseval``); it is run as a program, never imported.

Two cases, AP alone and AP + MOTA. Each run is one fresh process, as a user
runs the tools: ``python -m corrtrack eval GT PRED --workers 1 --output-dir OUT``
(``--no-tracking`` for AP alone) and ``RUN_POSEVAL GT PRED OUT`` (``--ap-only``).
CPU seconds (user + sys of the process and everything it waited for) and peak
resident memory (``wait4``'s ``ru_maxrss``) are measured from outside; one
untimed warm-up run of each corrtrack row per case (poseval runs a minute or
more; the warm-up has brought the files into the cache), then ``--repeats`` timed
runs, alternating the tools; medians. CPU seconds are the figure to compare on a shared
machine (wall time depends on the other jobs); the load average is printed
before and after.

Equality: both tools write the official JSON files (totals and per sequence);
every number of every file is compared (NaN equals NaN) and the count of
numbers that differ and the largest difference are printed.

``--case`` also measures the peak memory of ``corrtrack eval`` (AP + MOTA,
default options) on a small case folder such as ``../shared/cases/poseval_case``.
``--profile N`` prints instead a cProfile (CPU-time timer) of ``corrtrack eval
--no-tracking --workers 1`` on ``DATA`` for each corrtrack row: the top ``N``
functions by own time and the evaluation's main steps by cumulative time.
The profiler's own cost inflates Python-level calls several times over;
compare rows with each other, not with the CPU seconds of the timed runs.

``--variant NAME=PATH`` adds a row for ``corrtrack eval`` run with ``PATH``
first on ``PYTHONPATH``: another corrtrack source tree (an older commit's
``src``, e.g. from ``git archive``), or a folder with an optional package such as
orjson (``pip install --target PATH orjson``); measured and compared the same way.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: runs argv[1:] with stdout to /dev/null and prints its exit code, CPU seconds (user + sys, with waited-for
#: children) and peak resident KB; small, so that its own memory, which the measured process keeps in
#: ru_maxrss until exec, stays far below anything measured
LAUNCHER = """
import json, os, sys
out = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ, file_actions=out)
_, status, ru = os.wait4(pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), ru.ru_utime + ru.ru_stime, ru.ru_maxrss]))
"""

#: (label, poseval flag, corrtrack flags)
CASES = (
    ("AP alone", ["--ap-only"], ["--no-tracking"]),
    ("AP + MOTA", [], []),
)


def make_data(folder: Path, sequences: int, frames: int) -> None:
    """SynthTrack medium ground truth and simulated-detector predictions linked by the OKS tracker."""
    from corrtrack.formats import save_sequence
    from corrtrack.poses import PoseSequence
    from corrtrack.synth import SimulatedDetectorConfig, make_specs, simulate_detections
    from corrtrack.synth.dataset import render_sequence
    from corrtrack.tracking import associate_frame_to_frame

    for spec in make_specs("val", ["medium"], sequences, frames, 0, "all", 320, 180):
        gt = render_sequence(spec, on_image=lambda t, image: None).sequence  # images are not needed
        det = simulate_detections(gt, SimulatedDetectorConfig(with_poses=True), seed=spec.seed)
        pred = associate_frame_to_frame(PoseSequence(gt.name, det.frames), "oks", 0.2)
        save_sequence(gt, folder / "gt" / f"{gt.name}.json", "posetrack18")
        save_sequence(pred, folder / "pred" / f"{gt.name}.json", "posetrack18")


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak resident MB of one command (its stdout discarded)."""
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


def numbers(doc: object, path: str = "") -> dict[str, float | str]:
    """Every leaf of a JSON document by its path (numbers as floats, anything else as text)."""
    if isinstance(doc, dict):
        return {k: v for key, value in doc.items() for k, v in numbers(value, f"{path}/{key}").items()}
    if isinstance(doc, list):
        return {k: v for i, value in enumerate(doc) for k, v in numbers(value, f"{path}[{i}]").items()}
    if isinstance(doc, (int, float)) and not isinstance(doc, bool):
        return {path: float(doc)}
    return {path: str(doc)}


def compare_folders(ours: Path, official: Path) -> tuple[int, int, float, list[str]]:
    """(numbers compared, numbers that differ, largest absolute difference, problems) over the JSON files."""
    names_ours = {p.name for p in ours.glob("*.json")}
    names_official = {p.name for p in official.glob("*.json")}
    problems = [f"only corrtrack wrote {n}" for n in sorted(names_ours - names_official)]
    problems += [f"only poseval wrote {n}" for n in sorted(names_official - names_ours)]
    compared = differ = 0
    largest = 0.0
    for name in sorted(names_ours & names_official):
        a = numbers(json.loads((ours / name).read_text()))
        b = numbers(json.loads((official / name).read_text()))
        if set(a) != set(b):
            problems.append(f"{name}: different fields")
        for key in set(a) & set(b):
            x, y = a[key], b[key]
            if isinstance(x, float) and isinstance(y, float):
                compared += 1
                if (math.isnan(x) and math.isnan(y)) or x == y:
                    continue
                differ += 1
                largest = max(largest, abs(x - y) if not (math.isnan(x) or math.isnan(y)) else math.inf)
            elif x != y:
                differ += 1
                problems.append(f"{name}{key}: {x!r} vs {y!r}")
    if not names_ours & names_official:
        problems.append("no file to compare")
    return compared, differ, largest, problems


#: cProfile of one ``corrtrack eval`` in this process (argv: N, then the eval arguments), CPU-time timer
PROFILER = """
import cProfile, contextlib, io, pstats, sys, time
from corrtrack.cli import main
top = int(sys.argv[1])
sys.argv = ["corrtrack", "eval", *sys.argv[2:]]
profile = cProfile.Profile(time.process_time)
profile.enable()
try:
    with contextlib.redirect_stdout(io.StringIO()):
        main()
except SystemExit:
    pass
profile.disable()
stats = pstats.Stats(profile, stream=sys.stdout)
stats.sort_stats("tottime").print_stats(top)
stats.sort_stats("cumulative").print_stats(
    r"read_for_evaluation|plain_posetrack18|parse_document|read_json|prepare_sequence|sequence_pairs|ap_samples"
    r"|compute_ap|mot_counts|evaluate_dirs"
)
"""


def print_profiles(tools: list[tuple[str, str | None]], gt: Path, pred: Path, top: int) -> None:
    for name, src in tools:
        cmd = [sys.executable, "-c", PROFILER, str(top), str(gt), str(pred), "--no-tracking", "--workers", "1"]
        proc = subprocess.run(cmd, env=env_for(src), capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        print(f"\n## {name}: cProfile of corrtrack eval --no-tracking --workers 1 on {gt.parent}\n")
        print("\n".join(lines))


def corrtrack_cmd(gt: Path, pred: Path, out: Path | None, flags: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "corrtrack", "eval", str(gt), str(pred), "--workers", "1", *flags]
    return cmd + (["--output-dir", str(out)] if out is not None else [])


def env_for(src: str | None) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "model unknown"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "model unknown")


def _persons_per_frame(data: Path) -> tuple[int, int, float, float]:
    files = sorted((data / "gt").glob("*.json"))
    frames = gt_persons = pred_persons = 0
    for path in files:
        doc = json.loads(path.read_text())
        gt_persons += len(doc.get("annotations", []))
        frames += len(doc.get("images", []))
        pred_persons += len(json.loads((data / "pred" / path.name).read_text()).get("annotations", []))
    return len(files), frames, gt_persons / max(frames, 1), pred_persons / max(frames, 1)


def tools_of(variants: list[str]) -> list[tuple[str, str | None]]:
    """The corrtrack rows: the installed one, then each ``NAME=PATH`` variant."""
    tools: list[tuple[str, str | None]] = [("corrtrack", None)]
    for text in variants:
        name, sep, path = text.partition("=")
        if not sep or not name or not Path(path).is_dir() or name in ("corrtrack", "poseval"):
            raise SystemExit(f"error: --variant {text}: give NAME=FOLDER with an existing folder")
        tools.append((name, str(Path(path).resolve())))
    return tools


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="folder with gt/ and pred/ (written first if it has no pred/)")
    ap.add_argument("--poseval", help="command running the official evaluator: CMD GT PRED OUT (required to time)")
    ap.add_argument("--sequences", type=int, default=50, help="sequences of a data set written here")
    ap.add_argument("--frames", type=int, default=100, help="frames per sequence of a data set written here")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--case", type=Path, help="small case folder (gt/, pred/): peak memory of corrtrack eval on it")
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also run corrtrack eval with PATH first on PYTHONPATH (an older src tree, an optional package)",
    )
    ap.add_argument("--cases", default="all", help="'all', 'ap' (AP alone) or 'mota' (AP + MOTA)")
    ap.add_argument("--profile", type=int, metavar="N", help="print cProfiles (top N functions) instead of timing")
    args = ap.parse_args()
    data: Path = args.data
    if not (data / "pred").is_dir():
        print(f"writing the data set to {data} ...", flush=True)
        make_data(data, args.sequences, args.frames)
    gt, pred = data / "gt", data / "pred"
    if args.profile:
        print_profiles(tools_of(args.variant), gt, pred, args.profile)
        return
    if not args.poseval:
        raise SystemExit("error: --poseval CMD is required (e.g. ../shared/tools/run-poseval)")
    official = shlex.split(args.poseval)
    cases = {"all": CASES, "ap": CASES[:1], "mota": CASES[1:]}[args.cases]
    tools = tools_of(args.variant)
    load_before = load()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, official_flags, our_flags in cases:
            outs = {name: Path(tmp) / f"{label.replace(' ', '')}-{name}" for name, _ in tools + [("poseval", "")]}
            cmds: dict[str, tuple[list[str], dict[str, str]]] = {
                name: (corrtrack_cmd(gt, pred, outs[name], our_flags), env_for(src)) for name, src in tools
            }
            cmds["poseval"] = ([*official, str(gt), str(pred), str(outs["poseval"]), *official_flags], env_for(None))
            for name, (cmd, env) in cmds.items():  # warm-up (file cache); poseval's first timed run is its own
                if name != "poseval":
                    measure(cmd, env)
            runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in cmds}
            for _ in range(args.repeats):
                for name, (cmd, env) in cmds.items():
                    runs[name].append(measure(cmd, env))
            for name, measured in runs.items():
                row = {
                    "case": label,
                    "tool": name,
                    "wall": statistics.median(m[0] for m in measured),
                    "cpu": statistics.median(m[1] for m in measured),
                    "mb": max(m[2] for m in measured),
                    "out": outs[name],
                }
                rows.append(row)
                cpus = ", ".join(f"{m[1]:.2f}" for m in measured)
                print(
                    f"{label:10s} {name:12s} CPU {row['cpu']:7.2f} s  wall {row['wall']:7.2f} s  "
                    f"peak {row['mb']:5.0f} MB  (CPU of each run: {cpus})",
                    flush=True,
                )
            for name, _ in tools:
                compared, differ, largest, problems = compare_folders(outs[name], outs["poseval"])
                by = {r["tool"]: r for r in rows if r["case"] == label}
                by[name]["equal"] = (compared, differ, largest, problems)
        case_mb = None
        if args.case is not None:
            case_mb = max(
                measure(corrtrack_cmd(args.case / "gt", args.case / "pred", None, []), env_for(None))[2]
                for _ in range(3)
            )
    report(rows, args, data, load_before, load(), case_mb)


def report(
    rows: list[dict], args: argparse.Namespace, data: Path, load_before: str, load_after: str, case_mb: float | None
) -> None:
    sequences, frames, gt_pp, pred_pp = _persons_per_frame(data)
    print(
        f"\n{sequences} sequences, {frames} frames, {gt_pp:.1f} GT and {pred_pp:.1f} predicted persons per frame; "
        f"medians of {args.repeats} runs, one process each (corrtrack --workers 1); "
        f"load average {load_before} before, {load_after} after; {os.cpu_count()} CPUs ({_cpu_model()})\n"
    )
    print("| case | tool | CPU s | wall s | peak MB | CPU ratio poseval / tool | numbers equal to poseval |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        off = next(x for x in rows if x["case"] == r["case"] and x["tool"] == "poseval")
        ratio = f"{off['cpu'] / r['cpu']:.1f}x" if r["tool"] != "poseval" else ""
        equal = ""
        if "equal" in r:
            compared, differ, largest, problems = r["equal"]
            equal = f"all {compared} equal" if not differ and not problems else f"{differ} of {compared} differ"
            if differ:
                equal += f" (max {largest:.1e})"
            if problems:
                equal += "; " + "; ".join(problems[:3])
        print(f"| {r['case']} | {r['tool']} | {r['cpu']:.2f} | {r['wall']:.2f} | {r['mb']:.0f} | {ratio} | {equal} |")
    if case_mb is not None:
        print(f"\ncorrtrack eval on {args.case} (AP + MOTA, default options): peak {case_mb:.1f} MB (max of 3 runs)")


if __name__ == "__main__":
    main()
