"""A property-based fuzzer over the command line as a whole.

Every run of ``corrtrack`` on any input must end in one of two ways: exit code 0 with a
result corrtrack itself reads back, or a non-zero exit code (2: bad input, 1: the
environment, 130/143: interrupted) with exactly one line ``error: ...`` on stderr. An
``internal error`` line (an unexpected exception) is always a bug.

Inputs are real files (the shared PoseTrack and MOT samples when present, and files the
test writes in every format) corrupted at random: structure-aware JSON mutations, byte
flips, truncation; options get random values. The corpus below keeps the inputs that broke
earlier versions; they run every time.

The runs are seeded: every run tries the same examples (hypothesis derandomised, no example
database), so the suite is deterministic. For an exploratory run with fresh random examples:

    CORRTRACK_FUZZ_RANDOM=1 CORRTRACK_FUZZ_EXAMPLES=3000 python -m pytest tests/test_cli_fuzz.py
    CORRTRACK_FUZZ_COMMANDS=eval,convert ...                                # only some commands
    CORRTRACK_FUZZ_PIPELINE_EXAMPLES=50 ...   # more examples of track, train, experiment, show-corr, synth-export-coco
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SHARED, make_sequence, run_cli
from corrtrack.cli import main
from corrtrack.formats import load_sequence, save_sequence

EXAMPLES = int(os.environ.get("CORRTRACK_FUZZ_EXAMPLES", "40"))
#: examples per command of the slower commands that read frames or run networks
PIPELINE_EXAMPLES = int(os.environ.get("CORRTRACK_FUZZ_PIPELINE_EXAMPLES", "6"))
#: 1: fresh random examples (exploration); default: the same seeded examples every run
RANDOM = os.environ.get("CORRTRACK_FUZZ_RANDOM", "0") == "1"
SEEDED: dict = {} if RANDOM else {"derandomize": True, "database": None}
#: the commands fuzzed (comma-separated), e.g. CORRTRACK_FUZZ_COMMANDS=eval,convert
COMMANDS = os.environ.get("CORRTRACK_FUZZ_COMMANDS", "info,convert,simulate,eval,render,synth-set").split(",")

WEIRD_VALUES = [
    -1,
    0,
    1e300,
    -1e300,
    10**30,
    1.5,
    "",
    "x",
    "../../etc/passwd",
    None,
    True,
    [],
    {},
    [[[]]],
    [1, 2],
    {"a": None},
    "NaN",
]


_run = run_cli  # conftest: corrtrack ARGV in-process


def _error_lines(err: str) -> list[str]:
    """The lines a terminal shows: progress bars (tqdm) redraw and clear their line with carriage returns."""
    visible = (line.rsplit("\r", 1)[-1] for line in err.split("\n"))
    return [line for line in visible if line.strip()]


def _check_outcome(code: int, err: str, argv: list[str]) -> None:
    assert "internal error" not in err, f"{argv}: {err}"
    assert "Traceback" not in err, f"{argv}: {err}"
    if code != 0:
        assert code in (1, 2), f"{argv}: exit {code}: {err}"
        lines = _error_lines(err)
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{argv}: {err!r}"


def _sources(tmp: Path, num_frames: int = 3) -> dict[str, Path]:
    seq = make_sequence(num_frames=num_frames, persons=2)
    files = {}
    for fmt, suffix in (("posetrack18", ".json"), ("posetrack17", ".json"), ("coco", ".json"), ("mot", ".txt")):
        path = tmp / "src" / f"000001_{fmt}{suffix}"
        save_sequence(seq, path, fmt)
        files[fmt] = path
    real = SHARED / "cases" / "poseval_case" / "gt"
    if real.is_dir():
        for path in sorted(real.glob("*.json"))[:1]:
            files["real18"] = path
    mot = SHARED / "data" / "TUD-Stadtmitte"
    for path in sorted(mot.rglob("gt.txt"))[:1] if mot.is_dir() else []:
        files["realmot"] = path
    return files


def _json_nodes(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _json_nodes(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:6]):
            yield from _json_nodes(v, (*prefix, i))


def _mutate_json(doc, path, value):
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        out = dict(doc)
        out[head] = _mutate_json(doc[head], rest, value)
        return out
    out = list(doc)
    out[head] = _mutate_json(doc[head], rest, value)
    return out


@st.composite
def corrupted_file(draw, sources: dict[str, Path], tmp: Path) -> Path:
    name = draw(st.sampled_from(sorted(sources)))
    data = sources[name].read_bytes()
    kind = draw(st.sampled_from(["json", "json", "json", "bytes", "truncate", "lines"]))
    if kind == "json" and sources[name].suffix == ".json":
        doc = json.loads(data)
        nodes = list(_json_nodes(doc))
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(nodes))
            doc = _mutate_json(doc, path, draw(st.sampled_from(WEIRD_VALUES)))
            nodes = list(_json_nodes(doc))
        data = json.dumps(doc).encode()
    elif kind == "bytes" and data:
        arr = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            arr[draw(st.integers(0, len(arr) - 1))] = draw(st.integers(0, 255))
        data = bytes(arr)
    elif kind == "truncate":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif kind == "lines":
        lines = data.decode("utf-8", "replace").splitlines()
        if lines:
            i = draw(st.integers(0, len(lines) - 1))
            lines[i] = draw(st.sampled_from(["", "1,2,3", "1,-5,0,0,1,1,1", "99999999,1,0,0,1,1", "a,b,c,d,e,f"]))
        data = "\n".join(lines).encode()
    out = tmp / f"case{draw(st.integers(0, 10**9))}" / sources[name].name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out


numbers = st.sampled_from(["0", "-1", "1", "0.5", "nan", "inf", "-inf", "1e308", "99999999999999999999", "x", ""])


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    **SEEDED,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_any_command_line_ends_in_a_result_or_one_error_line(data, tmp_path_factory, capsys):
    tmp = tmp_path_factory.mktemp("fuzz")
    sources = _sources(tmp)
    src = data.draw(corrupted_file(sources, tmp))
    out = tmp / "out"
    command = data.draw(st.sampled_from(COMMANDS))
    if command == "info":
        argv = ["info", str(src)]
    elif command == "convert":
        fmt = data.draw(st.sampled_from(["posetrack18", "posetrack17", "coco", "coco-results", "mot"]))
        argv = ["convert", str(src), str(out / f"x.{'txt' if fmt == 'mot' else 'json'}"), "--to", fmt]
    elif command == "simulate":
        field = data.draw(st.sampled_from(["miss_rate", "jitter", "false_positives", "duplicate_rate", "nope"]))
        argv = ["simulate-detections", str(src), str(out), "--set", f"{field}={data.draw(numbers)}"]
        argv += data.draw(st.sampled_from([[], ["--poses"], ["--seed", data.draw(numbers)]]))
    elif command == "eval":
        gt = src.parent
        argv = ["eval", str(gt), str(gt), "--workers", "1"] + data.draw(
            st.sampled_from([[], ["--hota"], ["--no-tracking"], ["--hota-scale", data.draw(numbers)]])
        )
        if src.suffix == ".txt":
            argv = ["eval", "--mot", str(src), str(src)]
    elif command == "render":
        frames = tmp / "frames"
        frames.mkdir(exist_ok=True)
        argv = ["render", str(src), "--frames", str(frames), "-o", str(out / "r.mp4"), "--fps", data.draw(numbers)]
    else:
        field = data.draw(st.sampled_from(["speed", "people", "occluders", "lighting", "width", "nope"]))
        argv = ["synth", str(out), "--frames", "2", "--sequences", "1", "--size", "96x64"]
        argv += ["--set", f"{field}={data.draw(numbers)}", "--seed", data.draw(st.sampled_from(["0", "-1", "x"]))]
    code, _, err = _run(argv, capsys)
    _check_outcome(code, err, argv)
    if code == 0 and command == "convert":
        written = next(out.iterdir())
        load_sequence(written)  # whatever corrtrack writes, it reads back


#: inputs that once ended in a traceback or a silent wrong result: (file name, content, extra argv)
CORPUS = [
    ("deep.json", "[" * 100_000 + "]" * 100_000, ["info"]),
    ("bigint.json", '{"images": [{"id": ' + "9" * 5000 + "}]}", ["info"]),
    ("frame.txt", "100000000,1,0,0,10,10,1,1,1\n", ["info"]),
    ("dup.txt", "1,1,0,0,10,10,1,1,1\n1,1,5,5,10,10,1,1,1\n", ["info"]),
    ("neg.txt", "1,-3,0,0,10,10,1,1,1\n", ["info"]),
    ("bom.json", "\ufeff{}", ["info"]),
    ("binary.json", "\x00\x01\x02", ["info"]),
]


@pytest.mark.parametrize(("name", "content", "argv"), CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus_of_bad_inputs(name, content, argv, tmp_path, capsys):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    code, _, err = _run([*argv, str(path)], capsys)
    assert code == 2
    _check_outcome(code, err, argv)
    assert str(path) in err


@pytest.mark.parametrize(
    "argv",
    [
        ["synth", "{out}", "--seed", "-1"],
        ["synth", "{out}", "--split", "../../x"],
        ["synth", "{out}", "--split", "/abs"],
        ["synth", "{out}", "--set", "speed=nan"],
        ["synth", "{out}", "--size", "10x10"],
        ["render", "{src}", "--frames", "{tmp}", "-o", "{out}/r.mp4", "--fps", "-5"],
        ["render", "{src}", "--frames", "{tmp}", "-o", "{out}/r.mp4", "--fps", "nan"],
        ["simulate-detections", "{src}", "{out}", "--set", "false_positives=inf"],
        ["simulate-detections", "{src}", "{out}", "--set", "jitter=inf"],
        ["convert", "{src}", "{tmp}", "--to", "posetrack18"],
        ["convert", "{src}", "{src}/x.json", "--to", "posetrack18"],
        ["eval", "{tmp}", "{tmp}", "--workers", "0"],
        ["demo", "--frames", "1"],
    ],
)
def test_bad_options_are_one_line(argv, tmp_path, capsys):
    seq = make_sequence(num_frames=2, persons=1)
    src = tmp_path / "a.json"
    save_sequence(seq, src, "posetrack18")
    fill = {"src": str(src), "out": str(tmp_path / "out"), "tmp": str(tmp_path)}
    argv = [a.format(**fill) for a in argv]
    code, _, err = _run(argv, capsys)
    assert code == 2, (argv, err)
    _check_outcome(code, err, argv)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.parent.glob("x"))


# ------------------------------------------------------------------------------------------------------------
# the commands that read frames, train or run networks: track, train, experiment, show-corr, synth-export-coco
PIPELINE_COMMANDS = ("track", "train", "experiment", "show-corr", "synth-export-coco")


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory) -> dict[str, Path]:
    """Two SynthTrack sets of one sequence of 2 frames at 96 x 64 (val, with detections; train)."""
    root = tmp_path_factory.mktemp("tiny")
    sets = {}
    for split in ("val", "train"):
        out = root / split
        argv = ["synth", str(out), "--frames", "2", "--sequences", "1", "--size", "96x64", "--preset", "easy"]
        argv += ["--split", split] + (["--detections"] if split == "val" else [])
        old = sys.argv
        sys.argv = ["corrtrack", *argv]
        try:
            main()
        except SystemExit as exc:
            assert not exc.code, exc.code
        finally:
            sys.argv = old
        sets[split] = out
    return sets


def _copy_set(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _corrupt_image(draw, path: Path) -> None:
    data = bytearray(path.read_bytes())
    kind = draw(st.sampled_from(["bytes", "truncate", "empty", "header"]))
    if kind == "bytes":
        for _ in range(draw(st.integers(1, 16))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "empty":
        data = bytearray()
    else:  # a PNG header declaring enormous dimensions
        data = bytearray(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01\x86\xa0\x00\x01\x86\xa0\x08\x02\x00\x00\x00")
    path.write_bytes(bytes(data))


def _pipeline_argv(data, command: str, sets: dict[str, Path], tmp: Path) -> tuple[list[str], Path]:
    """A command line of ``command`` on tiny real files, some corrupted, with random option values."""
    out = tmp / "out"
    val = _copy_set(sets["val"], tmp / "val")
    ann = next((val / "annotations" / "val").glob("*.json"))
    images = sorted((val / "images" / "val").glob("*/*.jpg"))
    pristine = tmp / "pristine" / ann.name
    pristine.parent.mkdir()
    pristine.write_bytes(ann.read_bytes())
    extra = {"set_gt": pristine, "set_det": next((val / "detections" / "val").glob("*.json"))}
    sources = {**_sources(tmp, num_frames=2), **extra}  # the tiny sets' sequences have 2 frames
    pick = data.draw(st.sampled_from(["none", "none", "annotations", "image", "both"]))
    if pick in ("annotations", "both"):
        bad = data.draw(corrupted_file({"a": ann}, tmp))
        ann.write_bytes(bad.read_bytes())
    if pick in ("image", "both"):
        _corrupt_image(data.draw, data.draw(st.sampled_from(images)))

    def mostly(*valid: str) -> str:
        """One of ``valid`` three times in four, else a random (often invalid) number."""
        return data.draw(st.sampled_from([*valid, *valid, *valid, data.draw(numbers)]))

    if command == "track":
        det = data.draw(st.sampled_from(sorted(sources)))
        det_file = data.draw(corrupted_file({det: sources[det]}, tmp)) if data.draw(st.booleans()) else sources[det]
        field = data.draw(st.sampled_from(["tau_corr", "min_track_length", "lost_track_frames", "merging", "nope"]))
        argv = ["track", str(images[0].parent), "-o", str(out), "--detections", str(det_file), "--no-render"]
        argv += ["--poses", data.draw(st.sampled_from(["detections"] * 4 + ["bundled", "yolo"]))]
        argv += ["--correspondences", data.draw(st.sampled_from(["zero"] * 4 + ["flow", "x"]))]
        argv += ["--tracker", data.draw(st.sampled_from(["corrtrack", "iou", "oks"]))]
        argv += ["--set", f"{field}={mostly('1', '0.3')}", "--det-set", f"score_threshold={mostly('0.1', '0.5')}"]
        argv += ["--device", data.draw(st.sampled_from(["cpu"] * 6 + ["cuda", "cuda:7", "tpu", ""]))]
        argv += data.draw(st.sampled_from([[], [], [], ["--shard", data.draw(st.sampled_from(["0/1", "1/1", "x"]))]]))
    elif command == "train":
        train = _copy_set(sets["train"], tmp / "train")
        t_ann = next((train / "annotations" / "train").glob("*.json"))
        t_ann.write_bytes(data.draw(corrupted_file({"a": t_ann}, tmp)).read_bytes())
        field = data.draw(st.sampled_from(["steps", "batch_size", "lr", "warmup_steps", "device", "nope"]))
        which = data.draw(st.sampled_from(["pose", "detector"]))
        argv = ["train", which, "--data", str(train), "--out", str(out), "--set", f"{field}={mostly('1')}"]
        argv += ["--set", "steps=1", "--set", "batch_size=1"]
    elif command == "experiment":
        name = data.draw(st.sampled_from(["table1", "table2", "nope", ""]))
        argv = ["experiment", name, "--data", str(val), "--out", str(out), "--frames", "2", "--no-cache"]
        argv += ["--sequences", data.draw(st.sampled_from(["easy", "hard", "x", ","]))]
        option, field = data.draw(
            st.sampled_from([("--set", "tau_corr"), ("--det-set", "score_threshold"), ("--sim-set", "miss_rate")])
        )
        argv += [option, f"{field}={mostly('0.1', '0.3')}"]
    elif command == "show-corr":
        name = data.draw(st.sampled_from(sorted(sources)))
        poses = data.draw(corrupted_file({name: sources[name]}, tmp)) if data.draw(st.booleans()) else sources[name]
        argv = ["show-corr", str(images[0]), str(images[-1]), "--poses", str(poses), "-o", str(out / "c.png")]
        argv += ["--frame-index", data.draw(st.sampled_from(["0", "0", "0", "1", "5", "-1", "x"]))]
        argv += ["--tau", mostly("0.3", "0"), "--corr-prior", mostly("0", "2")]
    else:
        argv = ["synth-export-coco", str(val), str(out / "coco.json")]
        argv += ["--split", data.draw(st.sampled_from(["val", "val", "train", "../..", "a/b", ""]))]
        argv += data.draw(st.sampled_from([[], ["--crops", str(out / "crops")], ["--crops", str(ann)]]))
    return argv, out


def _check_result(command: str, argv: list[str], out: Path) -> None:
    """What a successful run wrote, corrtrack reads back."""
    if command == "track":
        manifest = json.loads((out / "manifest.json").read_text())
        for entry in manifest["files"]:
            assert (out / entry["path"]).stat().st_size == entry["bytes"], (argv, entry)
            if entry["path"].endswith((".json", ".txt")) and entry["path"] not in ("config.json", "timings.json"):
                load_sequence(out / entry["path"])
    elif command == "synth-export-coco":
        json.loads((out / "coco.json").read_text())
    elif command == "show-corr":
        assert (out / "c.png").stat().st_size > 0


@pytest.mark.parametrize(
    "command", [c for c in PIPELINE_COMMANDS if c in COMMANDS or "CORRTRACK_FUZZ_COMMANDS" not in os.environ]
)
@settings(
    max_examples=PIPELINE_EXAMPLES,
    deadline=None,
    **SEEDED,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_pipeline_commands_end_in_a_result_or_one_error_line(command, data, tiny_sets, tmp_path_factory, capsys):
    import torch

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp(f"fuzz-{command}")
    argv, out = _pipeline_argv(data, command, tiny_sets, tmp)
    code, _, err = _run(argv, capsys)
    _check_outcome(code, err, argv)
    if code == 0:
        _check_result(command, argv, out)
