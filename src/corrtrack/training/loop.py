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
import signal
import threading
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
from corrtrack.models.backbone import resolve_device  # the one --device rule of every command

__all__ = [
    "CHECKPOINT_NAME",
    "LoopConfig",
    "StepFn",
    "TrainDataset",
    "TrainResult",
    "TrainingInterruptedError",
    "distributed_context",
    "load_checkpoint",
    "plot_history",
    "resolve_device",
    "schedule_segments",
    "train_loop",
]

CHECKPOINT_NAME = "checkpoint.pt"
#: the entries every loop checkpoint has
CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "step", "history", "rng")
#: history entries that are timings, not losses
TIMING_KEYS = ("step", "lr", "time_s", "wall_s", "cpu_s", "t_data", "t_forward", "t_backward", "t_optim")


class TrainingInterruptedError(CorrtrackError):
    """SIGTERM stopped the training; the last finished step is in the checkpoint. Exit code 143."""

    exit_code = 143


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
    shards: str = param(
        "", "our choice: folder of decoded-frame shards, made on first use ('' = decode the JPEGs in every step)"
    )
    device: str = param("cpu", "our choice: cpu, cuda or cuda:N (refused at once when not available)")
    extend: Literal["stretch", "restart"] = param(
        "stretch",
        "our choice: what a larger `steps` than the checkpoint's schedule does (docs/training.md): stretch = the "
        "cosine is redefined over the new total (as if planned so from step 0); restart = a new warm-up + cosine "
        "over the added steps",
    )
    channels_last: bool = param(
        False, "our choice: channels_last memory format for the whole model and the images (measured per network)"
    )
    foreach: bool = param(True, "our choice: the multi-tensor (foreach) AdamW; fused on CUDA")
    precision: Literal["fp32", "bf16"] = param(
        "fp32",
        "measured (docs/training.md): bf16 autocast ran 7x slower than fp32 on the 2-core CPU; bf16 for CUDA",
    )

    def __post_init__(self) -> None:
        if self.extend not in ("stretch", "restart") or self.precision not in ("fp32", "bf16"):
            raise ValueError(
                f"extend must be stretch/restart and precision fp32/bf16, got {self.extend}, {self.precision}"
            )
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
    loop = configs.get("loop")
    if isinstance(loop, LoopConfig):
        resolve_device(loop.device)  # an unknown or unavailable device is refused before any data is read
    threads = getattr(configs.get("train"), "threads", 0)
    if threads:
        torch.set_num_threads(threads)
    return configs


def distributed_context() -> DistContext:
    """Join the torchrun process group (gloo) when ``WORLD_SIZE`` > 1; a single-process context otherwise."""
    world = _env_int("WORLD_SIZE", 1, 1)
    rank = _env_int("RANK", 0, 0)
    local = _env_int("LOCAL_WORLD_SIZE", world, 1)
    if rank >= world:
        raise CorrtrackError(f"environment: RANK={rank} is not below WORLD_SIZE={world}")
    if world <= 1:
        return DistContext(0, 1, 1, False)
    here = False
    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")
        here = True
    return DistContext(dist.get_rank(), dist.get_world_size(), local, here)


def _env_int(name: str, default: int, minimum: int) -> int:
    """An integer environment variable (torchrun's RANK, WORLD_SIZE...) or one clear error line."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise CorrtrackError(f"environment: {name}={raw!r} is not an integer") from None
    if value < minimum:
        raise CorrtrackError(f"environment: {name}={value} must be >= {minimum}")
    return value


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


def _lr_factor(config: LoopConfig, segments: list[list[int]]) -> Callable[[int], float]:
    """The learning-rate factor of ``step``: warm-up then cosine within the segment ``[start, end)`` holding it.

    A run has one segment ``[0, steps)``; ``extend="restart"`` appends one per extension (``segments``
    is read at call time, so extending it changes the schedule from then on).
    """

    def factor(step: int) -> float:
        start, end = next(((a, b) for a, b in reversed(segments) if a <= step), segments[0])
        local = step - start
        warm = min(1.0, (local + 1) / config.warmup_steps) if config.warmup_steps else 1.0
        if config.schedule == "constant":
            return warm
        t = min(1.0, local / max(1, end - start - 1))
        f = config.final_lr_fraction
        return warm * (f + (1 - f) * 0.5 * (1 + math.cos(math.pi * t)))

    return factor


def schedule_segments(previous: list[list[int]] | None, step: int, steps: int, extend: str) -> list[list[int]]:
    """The schedule's segments after resuming at ``step`` with a total of ``steps`` (see ``LoopConfig.extend``)."""
    if not previous:
        return [[0, steps]]
    segments = [list(map(int, s)) for s in previous]
    if steps == segments[-1][1]:
        return segments
    if extend == "restart" and steps > segments[-1][1]:
        return [*segments, [step, steps]]
    segments[-1][1] = steps  # stretch (or shorten): the last cosine is redefined over the new total
    return segments


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
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CorrtrackError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not isinstance(state, Mapping):
        raise CorrtrackError(f"{path}: not a training checkpoint (a {type(state).__name__}, not a dict)")
    missing = [k for k in CHECKPOINT_KEYS if k not in state]
    if missing:
        raise CorrtrackError(f"{path}: not a training checkpoint (no {', '.join(repr(k) for k in missing)} entry)")
    return dict(state)


def plot_history(history: list[dict[str, float]], path: str | Path, title: str = "training loss") -> None:
    """The loss curve (total and each part) as a PNG, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if history:
        steps = [h["step"] for h in history]
        for key in history[0]:
            if key in TIMING_KEYS:
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
    segments: list[list[int]],
    elapsed: Mapping[str, float],
    plot: bool = True,
) -> None:
    state = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": step,
        "history": history,
        "rng": _rng_state(),
        "loop_config": config_to_dict(config),
        "schedule_segments": segments,
        "elapsed": dict(elapsed),
        **extra,
    }
    with atomic_path(out_dir / CHECKPOINT_NAME) as tmp:
        torch.save(state, tmp)
    write_json(out_dir / "history.json", history)
    if plot:  # (not on SIGTERM: importing matplotlib alone can take seconds)
        plot_history(history, out_dir / "loss.png")


class _StopFlag:
    """SIGTERM while training: stop at once where that is safe (raise), else after the optimizer step."""

    def __init__(self) -> None:
        self.requested = False
        self.interruptible = False
        self.previous: Any = None
        self.installed = False

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._handler)
            self.installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.installed:
            signal.signal(signal.SIGTERM, self.previous)

    def _handler(self, signum: int, frame: object) -> None:
        self.requested = True
        if self.interruptible:
            raise _Stop()


class _Stop(BaseException):
    """Raised inside a batch by SIGTERM (the parameters are those of the last finished step)."""


def _to_device(batch: Any, device: torch.device, channels_last: bool) -> Any:
    if isinstance(batch, torch.Tensor):
        t = batch.to(device, non_blocking=True)
        return t.contiguous(memory_format=torch.channels_last) if channels_last and t.dim() == 4 else t
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device, channels_last) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device, channels_last) for v in batch)
    return batch


def _optimizer(model: torch.nn.Module, config: LoopConfig, device: torch.device) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:  # a phase whose every parameter is frozen still gets a (no-op) optimizer
        params = list(model.parameters())[:1]
    kwargs: dict[str, Any] = {"lr": config.lr, "weight_decay": config.weight_decay}
    if config.foreach and device.type == "cuda":
        kwargs["fused"] = True
    else:
        kwargs["foreach"] = config.foreach
    return torch.optim.AdamW(params, **kwargs)


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
    when distributed; the batch's tensors are on ``config.device``). ``configs`` are dumped to
    ``config.json`` beside the checkpoint; ``checkpoint_extra`` adds entries (e.g. the network
    config) to every checkpoint. ``max_steps_this_run`` stops early (after saving a checkpoint),
    e.g. to split a long run into time-boxed pieces. An existing checkpoint in ``out_dir`` is
    resumed unless ``resume=False``, which refuses to overwrite it; a resumed run gives the
    weights an uninterrupted one would (same data order, augmentation, schedule and RNG states).

    The history (``history.json``) logs per entry the mean losses, the lr, the cumulative wall and
    CPU seconds over every piece of the run (``wall_s``, ``cpu_s``: this process's CPU time) and the
    mean split of a step's wall time in seconds: ``t_data`` (waiting for the batch and moving it to
    the device), ``t_forward`` (forward and loss), ``t_backward`` and ``t_optim``.

    SIGTERM stops the run within about a second: a batch in progress is abandoned (an optimizer
    step is finished first), a checkpoint of the last finished step is written and
    :class:`TrainingInterruptedError` (exit code 143) is raised.
    """
    device = resolve_device(config.device)
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

    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = _optimizer(model, config, device)
    segments: list[list[int]] = [[0, config.steps]]
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(config, segments))
    step = 0
    history: list[dict[str, float]] = []
    elapsed = {"wall_s": 0.0, "cpu_s": 0.0}
    if ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        except (RuntimeError, ValueError, KeyError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise CorrtrackError(f"{ckpt_path}: does not fit this network or optimizer ({first})") from None
        step = int(state["step"])
        history = list(state["history"])
        elapsed = {k: float(state.get("elapsed", {}).get(k, 0.0)) for k in elapsed}
        previous = state.get("schedule_segments") or [
            [0, int(state.get("loop_config", {}).get("values", {}).get("steps", config.steps))]
        ]
        segments[:] = schedule_segments(previous, step, config.steps, config.extend)
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
        pin_memory=device.type == "cuda",
        # its own generator: starting an iterator draws a base seed, which must not advance the global RNG
        # (dropout), or a run resumed in pieces would differ from an uninterrupted one
        generator=torch.Generator().manual_seed(config.seed),
    )
    extra = dict(checkpoint_extra or {})
    t0, c0 = time.perf_counter(), time.process_time()
    base = dict(elapsed)

    def now() -> dict[str, float]:
        return {"wall_s": base["wall_s"] + time.perf_counter() - t0, "cpu_s": base["cpu_s"] + time.process_time() - c0}

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def save(plot: bool = True) -> None:
        if ctx.main:
            _save(out, model, optimizer, scheduler, step, history, config, extra, segments, now(), plot)

    last_loss = float(history[-1]["loss"]) if history else math.nan
    window: list[dict[str, float]] = []
    bar = None
    if progress and ctx.main:
        from tqdm import tqdm

        bar = tqdm(total=end, initial=step, desc="train", unit="step", dynamic_ncols=True)
    model.train()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")
    stop = _StopFlag()
    try:
        with stop:
            batches = iter(loader)
            while step < end:
                tick = time.perf_counter()
                stop.interruptible = True
                if stop.requested:
                    raise _Stop()
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                batch = _to_device(batch, device, config.channels_last)
                sync()
                t_data = time.perf_counter()
                with autocast:
                    loss, parts = step_fn(net, batch)
                if not torch.isfinite(loss):
                    raise CorrtrackError(f"training diverged at step {step}: loss is {float(loss)}")
                sync()
                t_fwd = time.perf_counter()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                sync()
                t_bwd = time.perf_counter()
                stop.interruptible = False
                if config.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                scheduler.step()
                sync()
                t_opt = time.perf_counter()
                step += 1
                record = {"loss": float(loss.detach()), **parts}
                if ctx.world_size > 1:
                    values = torch.tensor([record[k] for k in record], dtype=torch.float64)
                    dist.all_reduce(values)
                    record = dict(zip(record, (values / ctx.world_size).tolist()))
                record.update(
                    t_data=t_data - tick, t_forward=t_fwd - t_data, t_backward=t_bwd - t_fwd, t_optim=t_opt - t_bwd
                )
                window.append(record)
                last_loss = record["loss"]
                if step % config.log_every == 0 or step == end:
                    mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
                    lr = float(scheduler.get_last_lr()[0])
                    history.append({"step": step, **mean, "lr": lr, **now()})
                    window = []
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{last_loss:.4f}")
                if step % config.checkpoint_every == 0 or step == end:
                    save()
    except _Stop:
        stop.requested = True
    finally:
        if bar is not None:
            bar.close()
    if stop.requested:
        del loader
        save(plot=False)
        raise TrainingInterruptedError(
            f"training stopped by SIGTERM at step {step} of {config.steps}; "
            f"checkpoint {ckpt_path} written (rerun the same command to resume)"
        )
    if step == start_step and not ckpt_path.exists():
        save()
    if ctx.world_size > 1:
        dist.barrier()
    result = TrainResult(
        out, step, step - start_step, now()["wall_s"] - base["wall_s"], last_loss, history, ctx.rank, ctx.world_size
    )
    if ctx.initialised_here:
        dist.destroy_process_group()
    return result
