"""benchmarks/bench_real_speed.py without the yolo extra: the clip it writes, its profile split, its bad input."""

from __future__ import annotations

import cProfile
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_real_speed as bench


def test_clip_holds_the_first_frames_of_an_image_folder(tmp_path: Path) -> None:
    from corrtrack.video import FrameSource, write_image

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(5):
        write_image(folder / f"{i:03d}.png", np.full((48, 64, 3), 40 * i, np.uint8))
    clip, count, size = bench.make_clip(folder, 3, tmp_path)
    assert count == 3 and size == (64, 48) and clip.is_file()
    frames = list(FrameSource(clip))
    assert len(frames) == 3 and frames[0].shape == (48, 64, 3)
    assert [round(float(f.mean()) / 40) for f in frames] == [0, 1, 2]  # the first three, in order (lossy codec)


def _module(root: Path, rel: str, code: str) -> object:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(code)
    spec = importlib.util.spec_from_file_location(rel.replace("/", "_")[:-3], path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_profile_split_makes_the_parts_disjoint(tmp_path: Path) -> None:
    spin = "def spin(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"
    flow = _module(
        tmp_path, "corrtrack/inference/flow_correspondences.py", spin + "def flow():\n    return spin(200000)\n"
    )
    tracker = _module(
        tmp_path,
        "corrtrack/tracking/corrtrack_tracker.py",
        spin + "def step(flow):\n    flow()\n    return spin(100000)\n",
    )
    pipe = _module(
        tmp_path,
        "corrtrack/pipeline.py",
        spin + "def track_sequence(step, flow):\n    for _ in range(3):\n        step(flow)\n    return spin(50000)\n",
    )
    prof = cProfile.Profile()
    prof.enable()
    pipe.track_sequence(tracker.step, flow.flow)  # type: ignore[attr-defined]
    prof.disable()
    prof.dump_stats(tmp_path / "p.prof")
    parts = bench.profile_split(tmp_path / "p.prof")
    assert parts["DIS flow"] > parts["tracker (matching, merging, sampling)"] > 0  # the step less its flow
    assert parts["YOLO forward"] == 0 and parts["rendering (draw + encode)"] == 0
    total = parts.pop("total (profiled)")
    assert sum(parts.values()) == pytest.approx(total)  # "other" closes the sum: no part counted twice


def test_bad_input_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main([str(tmp_path / "missing.mp4")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing.mp4'}: no such file or folder"
    assert bench.main([str(tmp_path), "--frames", "0"]) == 2
    assert "error: --frames and --repeats must be >= 1" in capsys.readouterr().err
    assert bench.main([str(tmp_path), "--ultralytics-imgsz", "1000"]) == 2
    assert "--ultralytics-imgsz a multiple of 32" in capsys.readouterr().err
