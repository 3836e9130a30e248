"""benchmarks/bench_pipeline.py: its helpers run on a tiny clip with tiny networks and give positive timings."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_pipeline", BENCH / "bench_pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_pipeline"] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_own_work_positive(bench):
    rows = bench.own_work([1, 5], frames=8, repeats=1)
    assert [r["people"] for r in rows] == [1, 5]
    assert all(r["median_ms"] > 0 and r["p90_ms"] >= r["median_ms"] for r in rows)


def test_pipeline_on_tiny_clip(bench, tmp_path):
    clip = bench.make_clip(tmp_path / "clip", frames=4, people=2, size=(320, 192))
    assert clip.frames == 4 and clip.persons_per_frame > 0
    out = tmp_path / "out"
    out.mkdir()
    # threshold 0: the tiny clip's people are too small for the bundled detector's scores; every peak counts
    run = bench.pipeline_run(clip, out, "flow", "full", score_threshold=0.0)
    assert run.fps > 0 and run.wall_fps > 0 and run.cpu_per_frame > 0
    assert run.per_frame["detection"] > 0 and run.per_frame["pose"] > 0
    assert all(v >= 0 for v in run.per_frame.values())
    table = bench.pipeline_table({"DIS flow": [run]})
    assert table.count("\n") == 2 and "| DIS flow |" in table


def test_paper_run_tiny_networks(bench):
    runs = [bench.paper_run(3, v, warmup=1, frames=2, nets=("tiny", "tiny")) for v in ("full", "windowed")]
    for r in runs:
        assert len(r.seconds) == len(r.cpu) == 2 and min(r.seconds) > 0 and min(r.cpu) > 0
        assert r.stages["embed"] > 0 and r.stages["propagate"] > 0 and r.stages["estimate"] > 0
        # the oracles' answers keep every person one track: 3 propagated and re-estimated per frame
        assert r.tracks == pytest.approx(3, abs=1) and r.reestimated == pytest.approx(3, abs=1)
    assert "| 3 | full |" in bench.paper_table(runs)


def test_paper_run_counts_flops_and_fast_modes_skip_reestimation(bench):
    exact = bench.paper_run(3, "full", warmup=1, frames=1, nets=("tiny", "tiny"), flops=True)
    fast = bench.paper_run(3, "windowed, skip explained", warmup=1, frames=1, nets=("tiny", "tiny"), flops=True)
    assert exact.flops is not None and fast.flops is not None
    # windowed refinement runs the refiner on windows, and explained poses are not re-estimated: fewer FLOP
    assert 0 < fast.flops < exact.flops
    assert fast.reestimated < exact.reestimated
    assert "GFLOP/s" in bench.paper_table([exact, fast])
    assert bench.paper_run(3, "full", warmup=1, frames=1, nets=("tiny", "tiny")).flops is None


def test_metrics_table_marks_modes_within_tolerance(bench):
    rows = {
        "full": {"MOTA": 50.0, "IDSW": 10, "mAP": 60.0, "HOTA": 40.0, "skipped": 0},
        "close": {"MOTA": 50.1, "IDSW": 10, "mAP": 59.9, "HOTA": 40.2, "skipped": 5},
        "far": {"MOTA": 50.0, "IDSW": 12, "mAP": 60.0, "HOTA": 40.0, "skipped": 5},
    }
    table = bench.metrics_table(rows, sequences=2).splitlines()
    assert table[2].startswith("| full |") and "| yes |" in table[2]
    assert "| yes |" in table[3] and "+0.10" in table[3]
    assert "| no |" in table[4] and "+2" in table[4]  # 2 more switches over 2 sequences: 1 per sequence


def test_guided_models_run_the_network_and_return_the_oracle(bench):
    calls = []

    class Net:
        def embed(self, image):
            calls.append("embed")
            return "n"

        def propagate(self, src, dst, points):
            calls.append(("propagate", src, dst))
            return np.full(points.shape[:2] + (3,), 7.0)

    class Oracle:
        def embed(self, image):
            return "o"

        def propagate(self, src, dst, points):
            return np.zeros(points.shape[:2] + (3,))

    g = bench.GuidedCorrespondences(Net(), Oracle())
    a, b = g.embed(None), g.embed(None)
    out = g.propagate(a, b, np.zeros((2, 17, 2)))
    assert calls == ["embed", "embed", ("propagate", "n", "n")]
    assert out.shape == (2, 17, 3) and not out.any()
    with pytest.raises(ValueError, match="timed frame"):
        bench.paper_run(1, "full", warmup=1, frames=0, nets=("tiny", "tiny"))
