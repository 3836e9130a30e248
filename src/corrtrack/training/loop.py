"""A small, generic training loop: step-based, resumable, reproducible, DDP-capable on CPU.

Used by the pose trainer (and meant for the correspondence and detector trainers):

* **Data** come from a :class:`TrainDataset`: ``len()`` samples and ``get(index, rng)``, which
  returns one sample (a dict of arrays) using only the given ``rng`` for its randomness
  (augmentation). The loop draws a fresh permutation per epoch from ``(seed, epoch)`` and
  gives every sample an rng seeded by ``(seed, epoch, position)``. The batches of step ``s``
  are therefore a pure function of ``s``: a resumed run sees exactly the samples an
  uninterrupted one would, whatever the number of DataLoader workers.
* **Distributed**: under ``torchrun`` (``WORLD_SIZE`` > 1) the process group is initialised
  with the ``gloo`` backend (CPU), the model is wrapped in ``DistributedDataParallel``, and
  rank ``r`` takes every ``world_size``-th sample of each epoch's permutation. Only rank 0
  writes files.
* **Checkpoints**: ``checkpoint.pt`` in the output folder (model, optimizer, scheduler, step,
  RNG states, loss history) every ``checkpoint_every`` steps and at the end, written
  atomically; a new run in the same folder resumes from it.
* **Outputs**: ``config.json`` (all configs, with their sources), ``history.json`` (loss per
  logged step), ``loss.png`` (the curve) and a tqdm progress bar on rank 0.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
import torch.distributed as dist

from corrtrack.config import config_to_dict, dump_config, override_routed, param
from corrtrack.errors import CorrtrackError
from corrtrack.fileio import atomic_path, write_json

__all__ = [
    "CHECKPOINT_NAME",
    "LoopConfig",
    "StepFn",
    "TrainDataset",
    "TrainResult",
    "distributed_context",
    "load_checkpoint",
    "plot_history",
    "train_loop",
]

CHECKPOINT_NAME = "checkpoint.pt"


class TrainDataset(Protocol):
    """What the loop needs from a data set."""

    def __len__(self) -> int: ...

    def get(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        """Sample ``index``; all of its randomness must come from ``rng``."""
        ...


#: ``step_fn(model, batch) -> (loss, parts)``: the scalar loss to minimise and floats to log
StepFn = Callable[[torch.nn.Module, dict[str, Any]], tuple[torch.Tensor, dict[str, float]]]


@dataclass(frozen=True)
class LoopConfig:
    steps: int = param(1000, "our choice: optimisation steps")
    batch_size: int = param(16, "our choice: samples per step and process")
    lr: float = param(1e-3, "our choice (method.md §2.4 proposes Adam 1e-4 for the full net; small nets train faster)")
    final_lr_fraction: float = param(0.01, "our choice: the cosine schedule ends at lr * this")
    warmup_steps: int = param(50, "our choice: linear warm-up")
    schedule: Literal["cosine", "constant"] = param("cosine", "our choice")
    weight_decay: float = param(1e-4, "our choice (AdamW)")
    grad_clip: float = param(0.0, "our choice: gradient-norm clip, 0 = off")
    seed: int = param(0, "our choice: seeds data order, augmentation and initialisation")
    checkpoint_every: int = param(200, "our choice: steps between checkpoints")
    log_every: int = param(10, "our choice: steps between loss-history entries")
    workers: int = param(0, "our choice: DataLoader worker processes per rank")

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.warmup_steps < 0 or self.workers < 0 or self.grad_clip < 0:
            raise ValueError("lr must be > 0; warmup_steps, workers and grad_clip >= 0")
        if not 0 <= self.final_lr_fraction <= 1:
            raise ValueError(f"final_lr_fraction must be in [0, 1], got {self.final_lr_fraction}")


@dataclass
class TrainResult:
    out_dir: Path
    #: steps done in total (including those of earlier, resumed runs)
    step: int
    #: steps done by this call
    steps_this_run: int
    wall_time_s: float
    final_loss: float
    history: list[dict[str, float]] = field(default_factory=list)
    rank: int = 0
    world_size: int = 1

    @property
    def checkpoint(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_world_size: int
    initialised_here: bool

    @property
    def main(self) -> bool:
        return self.rank == 0


def training_configs(
    options: Mapping[str, Any], settings: Iterable[str] | None, defaults: dict[str, Any]
) -> dict[str, Any]:
    """A trainer's configs: ``defaults`` with typed ``options`` then ``NAME=VALUE`` ``settings`` routed to them.

    The torch thread count is set from the ``train`` config's ``threads`` field when it is non-zero.
    """
    configs = override_routed(dict(options), defaults)
    configs = override_routed(settings or [], configs)
    threads = getattr(configs.get("train"), "threads", 0)
    if threads:
        torch.set_num_threads(threads)
    return configs


def distributed_context() -> DistContext:
    """Join the torchrun process group (gloo) when ``WORLD_SIZE`` > 1; a single-process context otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(0, 1, 1, False)
    here = False
    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")
        here = True
    local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    return DistContext(dist.get_rank(), dist.get_world_size(), local, here)


class _Keys:
    """Deterministic per-rank sample keys ``(index, epoch, position)``; step ``s`` is a pure function of ``s``."""

    def __init__(self, n: int, seed: int, rank: int, world: int) -> None:
        if n < world:
            raise CorrtrackError(f"the data set has {n} samples, fewer than the {world} processes")
        self.n, self.seed, self.rank, self.world = n, seed, rank, world
        self.per_rank = n // world
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n)}
        return self._perms[epoch]

    def key(self, i: int) -> tuple[int, int, int]:
        epoch, pos = divmod(i, self.per_rank)
        position = pos * self.world + self.rank
        return int(self._perm(epoch)[position]), epoch, position

    def batches(self, start_step: int, end_step: int, batch: int) -> Iterator[list[tuple[int, int, int]]]:
        for s in range(start_step, end_step):
            yield [self.key(s * batch + b) for b in range(batch)]


class _KeyedDataset(torch.utils.data.Dataset):
    def __init__(self, dataset: TrainDataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int, int]) -> dict[str, Any]:
        index, epoch, position = key
        return self.dataset.get(index, np.random.default_rng([self.seed, epoch, position, 1]))


def _lr_factor(config: LoopConfig) -> Callable[[int], float]:
    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
        if config.schedule == "constant":
            return warm
        t = min(1.0, step / max(1, config.steps - 1))
        f = config.final_lr_fraction
        return warm * (f + (1 - f) * 0.5 * (1 + math.cos(math.pi * t)))

    return factor


def _rng_state() -> dict[str, Any]:
    """The global RNG states as plain types and tensors (a checkpoint stays loadable with ``weights_only``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    numpy_state = [str(kind), torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), cached]
    return {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]  # keys: a tensor (or an array in older checkpoints)
    keys = keys.numpy() if isinstance(keys, torch.Tensor) else np.asarray(keys)
    np.random.set_state((kind, keys.astype(np.uint32), pos, has_gauss, cached))
    random.setstate(state["python"])


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A loop checkpoint as a dict (``model``, ``optimizer``, ``scheduler``, ``step``, ``history``, ``config``)."""
    path = Path(path)
    if not path.is_file():
        raise CorrtrackError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CorrtrackError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None


def plot_history(history: list[dict[str, float]], path: str | Path, title: str = "training loss") -> None:
    """The loss curve (total and each part) as a PNG, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if history:
        steps = [h["step"] for h in history]
        for key in history[0]:
            if key in ("step", "lr", "time_s"):
                continue
            values = [h.get(key, np.nan) for h in history]
            ax.plot(steps, values, label=key, lw=2.0 if key == "loss" else 0.8)
        ax.set_yscale("log")
        ax.legend(fontsize=7, ncol=2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _save(
    out_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    history: list[dict[str, float]],
    config: LoopConfig,
    extra: Mapping[str, Any],
) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": step,
        "history": history,
        "rng": _rng_state(),
        "loop_config": config_to_dict(config),
        **extra,
    }
    with atomic_path(out_dir / CHECKPOINT_NAME) as tmp:
        torch.save(state, tmp)
    write_json(out_dir / "history.json", history)
    plot_history(history, out_dir / "loss.png")


def train_loop(
    model: torch.nn.Module,
    dataset: TrainDataset,
    step_fn: StepFn,
    config: LoopConfig,
    out_dir: str | Path,
    *,
    configs: Mapping[str, Any] | None = None,
    checkpoint_extra: Mapping[str, Any] | None = None,
    resume: bool = True,
    max_steps_this_run: int | None = None,
    progress: bool = True,
    collate: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None,
) -> TrainResult:
    """Train ``model`` for ``config.steps`` steps (in total, across resumed runs).

    ``step_fn(model, batch)`` computes the loss of one batch (the model is the DDP wrapper
    when distributed). ``configs`` are dumped to ``config.json`` beside the checkpoint;
    ``checkpoint_extra`` adds entries (e.g. the network config) to every checkpoint.
    ``max_steps_this_run`` stops early (after saving a checkpoint), e.g. to split a long
    run into time-boxed pieces. An existing checkpoint in ``out_dir`` is resumed unless
    ``resume=False``, which refuses to overwrite it.
    """
    ctx = distributed_context()
    out = Path(out_dir)
    ckpt_path = out / CHECKPOINT_NAME
    if ckpt_path.exists() and not resume:
        raise CorrtrackError(f"{ckpt_path} exists: resume it, or choose another output folder")
    if ctx.world_size > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // ctx.local_world_size))
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)
    random.seed(config.seed)

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(config))
    step = 0
    history: list[dict[str, float]] = []
    if ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = int(state["step"])
        history = list(state["history"])
        _set_rng_state(state["rng"])
    if ctx.main:
        out.mkdir(parents=True, exist_ok=True)
        dump_config(out / "config.json", loop=config, **dict(configs or {}))

    net: torch.nn.Module = model
    if ctx.world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(model)
    keys = _KeyedDataset(dataset, config.seed)
    sampler = _Keys(len(dataset), config.seed, ctx.rank, ctx.world_size)
    end = config.steps if max_steps_this_run is None else min(config.steps, step + max_steps_this_run)
    start_step = step
    loader = torch.utils.data.DataLoader(
        keys,
        batch_sampler=list(sampler.batches(step, end, config.batch_size)),
        num_workers=config.workers,
        collate_fn=collate,
        persistent_workers=False,
    )
    extra = dict(checkpoint_extra or {})
    t0 = time.perf_counter()
    last_loss = math.nan
    window: list[dict[str, float]] = []
    bar = None
    if progress and ctx.main:
        from tqdm import tqdm

        bar = tqdm(total=end, initial=step, desc="train", unit="step", dynamic_ncols=True)
    model.train()
    for batch in loader:
        loss, parts = step_fn(net, batch)
        if not torch.isfinite(loss):
            raise CorrtrackError(f"training diverged at step {step}: loss is {float(loss)}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        step += 1
        record = {"loss": float(loss.detach()), **parts}
        if ctx.world_size > 1:
            values = torch.tensor([record[k] for k in record], dtype=torch.float64)
            dist.all_reduce(values)
            record = dict(zip(record, (values / ctx.world_size).tolist()))
        window.append(record)
        last_loss = record["loss"]
        if step % config.log_every == 0 or step == end:
            mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
            lr = float(scheduler.get_last_lr()[0])
            history.append({"step": step, **mean, "lr": lr, "time_s": time.perf_counter() - t0})
            window = []
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{last_loss:.4f}")
        if ctx.main and (step % config.checkpoint_every == 0 or step == end):
            _save(out, model, optimizer, scheduler, step, history, config, extra)
    if bar is not None:
        bar.close()
    if ctx.main and step == start_step and not ckpt_path.exists():
        _save(out, model, optimizer, scheduler, step, history, config, extra)
    if ctx.world_size > 1:
        dist.barrier()
    result = TrainResult(
        out, step, step - start_step, time.perf_counter() - t0, last_loss, history, ctx.rank, ctx.world_size
    )
    if ctx.initialised_here:
        dist.destroy_process_group()
    return result
