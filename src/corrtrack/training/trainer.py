"""The one training entry point: :func:`train_network` trains the pose, detector or correspondence network.

Each network module describes its training as a :class:`TrainTask` (the network, the data set, the
configs and one or more :class:`Phase` s, each a module to optimise with its step function);
:func:`run_task` runs the phases in order with :func:`corrtrack.training.loop.train_loop` (so every
network gets the same resumable, reproducible, DDP-capable loop with the same outputs:
``checkpoint.pt``, ``config.json``, ``history.json``, ``loss.png``), and when every phase is done
writes the weights with their metadata and ``train_summary.json``.

Python::

    from corrtrack.training.trainer import train_network
    train_network("pose", "tiny", "/data/synthtrack-v2.1", "runs/pose", steps=2000, batch_size=32)
    train_network("detector", "tiny", "/data/synthtrack-v2.1", "runs/det", steps=800)
    train_network("correspondence", "tiny", "/data/synthtrack-v2.1", "runs/corr", embedding_steps=400)

``train_pose``, ``train_detector`` and ``train_corr`` are this function with the network fixed.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from corrtrack.config import config_to_dict
from corrtrack.errors import CorrtrackError
from corrtrack.fileio import write_json
from corrtrack.training.loop import LoopConfig, StepFn, TrainDataset, TrainResult, resolve_device, train_loop

__all__ = [
    "NETWORK_NAMES",
    "Phase",
    "TaskResult",
    "TrainTask",
    "describe_device",
    "run_task",
    "train_network",
    "use_shards",
]

NetworkName = Literal["pose", "detector", "correspondence"]
NETWORK_NAMES: tuple[str, ...] = ("pose", "detector", "correspondence")


@dataclass
class Phase:
    """One optimisation phase: ``build()`` (the module to train, made when the phase starts: a phase may
    freeze parameters) trained by ``step_fn`` for ``steps`` steps in ``OUT/folder``."""

    folder: str
    build: Callable[[], torch.nn.Module]
    step_fn: StepFn
    steps: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainTask:
    """What :func:`run_task` needs to train one network."""

    network: str
    model: torch.nn.Module
    dataset: TrainDataset
    phases: list[Phase]
    loop: LoopConfig
    #: configs dumped to each phase's config.json (beside ``loop``)
    configs: dict[str, Any]
    training_data: str
    #: ``(out_dir, metadata) -> weights path``: writes the final weights (rank 0, after the last phase)
    write_weights: Callable[[Path, dict[str, Any]], Path]
    #: entries added to the weights' metadata
    meta: dict[str, Any] = field(default_factory=dict)
    weights_name: str = "weights.pt"


@dataclass
class TaskResult:
    """The phases run (by folder), whether all finished, and the weights written (rank 0, when finished)."""

    out_dir: Path
    phases: dict[str, TrainResult]
    finished: bool
    weights: Path | None

    @property
    def last(self) -> TrainResult:
        return list(self.phases.values())[-1]

    @property
    def step(self) -> int:
        return self.last.step

    @property
    def steps_this_run(self) -> int:
        return sum(r.steps_this_run for r in self.phases.values())

    @property
    def final_loss(self) -> float:
        return self.last.final_loss

    @property
    def wall_time_s(self) -> float:
        return sum(r.wall_time_s for r in self.phases.values())

    @property
    def history(self) -> list[dict[str, float]]:
        return self.last.history

    @property
    def rank(self) -> int:
        return self.last.rank

    @property
    def world_size(self) -> int:
        return self.last.world_size

    @property
    def checkpoint(self) -> Path:
        return self.last.checkpoint


def use_shards(dataset: Any, images: list[str], loop: LoopConfig) -> None:
    """Read ``dataset``'s frames from decoded shards in ``loop.shards`` (written first, on all cores, if missing)."""
    if not loop.shards:
        return
    from corrtrack.synth.training_data import write_frame_shards

    dataset.reader = write_frame_shards(images, loop.shards, workers=os.cpu_count() or 1).read


def describe_device(name: str, threads: int | None = None) -> str:
    """The device a run used, in words (for the weights' metadata)."""
    device = resolve_device(name)
    if device.type == "cuda":
        return f"{name}: {torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"cpu: {os.cpu_count()} cores, {threads or torch.get_num_threads()} torch threads "
        f"(load average {load:.1f} at the end; torch {torch.__version__})"
    )


def run_task(
    task: TrainTask,
    out_dir: str | Path,
    *,
    resume: bool = True,
    max_steps_this_run: int | None = None,
    progress: bool = True,
    command: str | None = None,
) -> TaskResult:
    """Run the task's phases (each resumable in its folder) and write the weights when all are done."""
    out = Path(out_dir)
    budget = max_steps_this_run
    results: dict[str, TrainResult] = {}
    finished = True
    for i, phase in enumerate(task.phases):
        cfg = dataclasses.replace(task.loop, steps=max(1, phase.steps))
        res = train_loop(
            phase.build(),
            task.dataset,
            phase.step_fn,
            cfg,
            out / phase.folder if phase.folder else out,
            configs=task.configs,
            checkpoint_extra={"network": task.network, **phase.extra},
            resume=resume,
            max_steps_this_run=budget,
            progress=progress,
        )
        results[phase.folder or "train"] = res
        if budget is not None:
            budget -= res.steps_this_run
        if res.step < cfg.steps or (budget is not None and budget <= 0 and i < len(task.phases) - 1):
            finished = False
            break
    result = TaskResult(out, results, finished, None)
    if not finished or result.rank != 0:
        return result
    summary = {
        name: {
            "steps": r.step,
            "final_loss": r.history[-1]["loss"] if r.history else None,
            "wall_s": r.history[-1].get("wall_s") if r.history else None,
            "cpu_s": r.history[-1].get("cpu_s") if r.history else None,
            "world_size": r.world_size,
        }
        for name, r in results.items()
    }
    wall = sum(float(s["wall_s"] or 0.0) for s in summary.values())
    cmd = command if command is not None else " ".join(shlex.quote(a) for a in sys.argv)
    meta = {
        "network": task.network,
        "steps": result.step,
        "batch_size": task.loop.batch_size,
        "world_size": result.world_size,
        "training_data": task.training_data,
        "command": cmd,
        "wall_time_s": round(wall, 1),
        "device": describe_device(task.loop.device),
        "final_loss": result.final_loss,
        "phases": summary,
        "loop_config": config_to_dict(task.loop),
        **task.meta,
    }
    result.weights = task.write_weights(out, meta)
    write_json(out / "train_summary.json", {"weights": str(result.weights), **summary}, indent=1)
    return result


def train_network(
    network: str,
    config_name: Any,
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    resume: bool = True,
    max_steps_this_run: int | None = None,
    progress: bool = True,
    settings: Iterable[str] | None = None,
    command: str | None = None,
    **options: Any,
) -> TaskResult:
    """Train ``network`` (``pose``, ``detector`` or ``correspondence``) config ``config_name`` on ``data_dir``.

    ``options`` (or ``settings`` as ``NAME=VALUE`` strings) set fields of the network's training,
    loop and augmentation configs (e.g. ``steps=2000, batch_size=32, lr=1e-3, device="cuda"``);
    ``max_steps_this_run`` bounds this call's steps (rerun to continue).
    """
    builders: Mapping[str, Callable[..., TrainTask]]
    from corrtrack.training.corr_train import corr_task
    from corrtrack.training.detector_train import detector_task
    from corrtrack.training.pose_train import pose_task

    builders = {"pose": pose_task, "detector": detector_task, "correspondence": corr_task}
    if network not in builders:
        raise CorrtrackError(f"unknown network {network!r}; choose from {', '.join(NETWORK_NAMES)}")
    task = builders[network](config_name, data_dir, options, settings)
    return run_task(
        task, out_dir, resume=resume, max_steps_this_run=max_steps_this_run, progress=progress, command=command
    )
