"""A property-based fuzzer over the command line as a whole.

Every run of ``corrtrack`` on any input must end in one of two ways: exit code 0 with a
result corrtrack itself reads back, or a non-zero exit code (2: bad input, 1: the
environment, 130/143: interrupted) with exactly one line ``error: ...`` on stderr. An
``internal error`` line (an unexpected exception) is always a bug.

Inputs are real files (the shared PoseTrack and MOT samples when present, and files the
test writes in every format) corrupted at random: structure-aware JSON mutations, byte
flips, truncation; options get random values. The corpus below keeps the inputs that broke
earlier versions; they run every time.

    CORRTRACK_FUZZ_EXAMPLES=3000 python -m pytest tests/test_cli_fuzz.py   # a long local run
    CORRTRACK_FUZZ_COMMANDS=eval,convert ...                                # only some commands
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SHARED, make_sequence
from corrtrack.cli import main
from corrtrack.formats import load_sequence, save_sequence

EXAMPLES = int(os.environ.get("CORRTRACK_FUZZ_EXAMPLES", "40"))
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


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    old = sys.argv
    sys.argv = ["corrtrack", *argv]
    try:
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err


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


def _sources(tmp: Path) -> dict[str, Path]:
    seq = make_sequence(num_frames=3, persons=2)
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
