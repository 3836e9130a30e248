"""The generic training loop: resume = uninterrupted, schedule extension, cumulative times, SIGTERM, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from corrtrack.errors import CorrtrackError
from corrtrack.training.loop import (
    LoopConfig,
    distributed_context,
    load_checkpoint,
    resolve_device,
    schedule_segments,
    train_loop,
)

torch.set_num_threads(1)


class Points:
    """A tiny regression data set whose samples use the loop's rng (augmentation noise)."""

    def __len__(self) -> int:
        return 10

    def get(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        x = np.full(4, index / 10, np.float32) + rng.normal(0, 0.1, 4).astype(np.float32)
        return {"x": x, "y": np.float32(index % 3)}


def small_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.2), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def step_fn(model: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
    loss = ((model(batch["x"])[:, 0] - batch["y"]) ** 2).mean()
    return loss, {"mse": float(loss.detach())}


def run(out: Path, steps: int, pieces: int | None = None, **cfg: Any) -> Any:
    config = LoopConfig(**{"steps": steps, "batch_size": 3, "log_every": 1, "warmup_steps": 2, **cfg})
    return train_loop(small_model(), Points(), step_fn, config, out, max_steps_this_run=pieces, progress=False)


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(out / "checkpoint.pt")["model"]


def test_resumed_pieces_equal_an_uninterrupted_run(tmp_path: Path) -> None:
    full = run(tmp_path / "full", 7, checkpoint_every=100)
    for _ in range(3):  # 3 + 3 + 1 steps, each piece a fresh process state (new model object)
        run(tmp_path / "split", 7, pieces=3, checkpoint_every=100)
    a, b = weights(tmp_path / "full"), weights(tmp_path / "split")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    ha = json.loads((tmp_path / "full" / "history.json").read_text())
    hb = json.loads((tmp_path / "split" / "history.json").read_text())
    assert [h["loss"] for h in ha] == [h["loss"] for h in hb] and [h["lr"] for h in ha] == [h["lr"] for h in hb]
    assert full.step == 7 and [h["step"] for h in hb] == list(range(1, 8))
    # cumulative wall and CPU time across the pieces, and the split of each step's time
    walls = [h["wall_s"] for h in hb]
    assert walls == sorted(walls) and all(h["cpu_s"] >= 0 for h in hb)
    assert all(h[k] >= 0 for h in hb for k in ("t_data", "t_forward", "t_backward", "t_optim"))
    state = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert state["elapsed"]["wall_s"] >= walls[-1] - 1e-9


def lrs(out: Path) -> list[float]:
    return [h["lr"] for h in json.loads((out / "history.json").read_text())]


def test_extension_stretch_and_restart(tmp_path: Path) -> None:
    run(tmp_path / "long", 10)
    run(tmp_path / "stretch", 6)
    run(tmp_path / "stretch", 10)  # stretch: from step 6 on, the lr of a run planned for 10 steps
    assert lrs(tmp_path / "stretch")[6:] == pytest.approx(lrs(tmp_path / "long")[6:])
    run(tmp_path / "restart", 6)
    run(tmp_path / "restart", 10, extend="restart")  # restart: warm-up + cosine over steps 6..9
    restart = lrs(tmp_path / "restart")
    assert restart[:6] == pytest.approx(lrs(tmp_path / "stretch")[:6])
    # the logged lr is the next step's: step 7 is the restart's step 1 of 4 (warm-up done, cosine at 1/3)
    assert restart[5] == pytest.approx(1e-3 * 0.01) and restart[6] == pytest.approx(1e-3 * (0.01 + 0.99 * 0.75))
    assert restart[-1] == pytest.approx(1e-3 * 0.01)
    assert load_checkpoint(tmp_path / "restart" / "checkpoint.pt")["schedule_segments"] == [[0, 6], [6, 10]]
    assert schedule_segments([[0, 6], [6, 10]], 10, 10, "restart") == [[0, 6], [6, 10]]
    assert schedule_segments([[0, 6]], 6, 12, "stretch") == [[0, 12]]


def test_bad_checkpoint_device_and_environment_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bad").mkdir()
    torch.save({"step": 3, "weights": {}}, tmp_path / "bad" / "checkpoint.pt")
    with pytest.raises(CorrtrackError, match=r"checkpoint.pt: not a training checkpoint \(no 'model'"):
        run(tmp_path / "bad", 4)
    (tmp_path / "bad" / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(CorrtrackError, match=r"checkpoint\.pt: not a readable checkpoint"):
        run(tmp_path / "bad", 4)
    run(tmp_path / "other", 2)
    state = load_checkpoint(tmp_path / "other" / "checkpoint.pt")
    state["model"] = {"0.weight": torch.zeros(3, 3)}
    torch.save(state, tmp_path / "other" / "checkpoint.pt")
    with pytest.raises(CorrtrackError, match="does not fit this network"):
        run(tmp_path / "other", 4)
    for name in ("tpu", "cuda:x", "banana"):
        with pytest.raises(CorrtrackError, match=name.split(":")[0]):
            resolve_device(name)
    if not torch.cuda.is_available():
        with pytest.raises(CorrtrackError, match="no CUDA device"):
            run(tmp_path / "cuda", 2, device="cuda")
    for env, problem in (
        ({"WORLD_SIZE": "two"}, "not an integer"),
        ({"RANK": "-1"}, ">= 0"),
        ({"WORLD_SIZE": "2", "RANK": "5"}, "not below"),
    ):
        with monkeypatch.context() as m:
            for k, v in env.items():
                m.setenv(k, v)
            with pytest.raises(CorrtrackError, match=problem):
                distributed_context()


SLOW = """
import sys, time, numpy as np, torch
sys.path.insert(0, sys.argv[2])
from test_loop import Points, small_model, step_fn
from corrtrack.training.loop import LoopConfig, train_loop, TrainingInterruptedError

class Slow(Points):
    calls = 0

    def get(self, index, rng):
        Slow.calls += 1
        if Slow.calls == 5:
            print("training", flush=True)
        time.sleep(0.3)
        return super().get(index, rng)

try:
    train_loop(small_model(), Slow(), step_fn, LoopConfig(steps=1000, batch_size=2, checkpoint_every=1000),
               sys.argv[1], progress=False)
except TrainingInterruptedError as exc:
    print(f"{time.time()!r}", flush=True)
    print(exc, flush=True)
    sys.exit(exc.exit_code)
"""


def test_sigterm_stops_within_a_second_with_a_checkpoint(tmp_path: Path) -> None:
    script = tmp_path / "slow.py"
    script.write_text(SLOW)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "out"), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "training"  # two steps done
    time.sleep(0.5)  # the loop is waiting for a (slow) batch
    t = time.time()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err[-2000:]
    stopped = float(out.splitlines()[0]) - t  # the batch abandoned and the checkpoint written
    assert stopped < 1.0, stopped
    assert time.time() - t < 10  # and the process gone (interpreter shutdown included)
    assert "stopped by SIGTERM at step" in out
    step = load_checkpoint(tmp_path / "out" / "checkpoint.pt")["step"]
    assert 1 <= step < 1000
