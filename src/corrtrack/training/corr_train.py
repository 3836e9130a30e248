"""``train corr``: self-supervised training of the correspondence network on still images (docs/method.md §3.3-3.4).

Python::

    from corrtrack.training.corr_train import train_corr
    result = train_corr("tiny", "synth", "runs/corr_tiny", embedding_steps=400, refiner_steps=300)

Command line (to be wired as ``corrtrack train corr --config tiny --data DIR --out DIR --set NAME=VALUE``)::

    run_train_corr("tiny", "DIR", "OUT", ["embedding_steps=400", "lr=2e-3"])

``data`` is ``synth`` (SynthTrack stills rendered on the fly), a PoseTrack 2018 or written SynthTrack
folder, a COCO keypoints file or folder, or (``data_format=images``, with a pose estimator) any folder
of unlabelled images. Pairs and targets: :mod:`corrtrack.training.corr_data`.

Losses: soft-max cross-entropy of the affinity maps against the target cell (masked to joints that are
annotated, inside B and not occluded) and binary cross-entropy of the refined maps against a Gaussian
peak at the target (all-zero where the target is occluded or outside B), positive cells weighted by
``positive_weight``.

``schedule``:

* ``two_phase`` (default; method.md §3.3): phase 1 trains the embedding with the affinity loss
  (``embedding_steps``, folder ``OUT/phase1``), phase 2 freezes it (no gradients, BatchNorm in eval
  mode) and trains the refiner with the refined-map loss (``refiner_steps``, ``OUT/phase2``).
* ``joint``: both parts and both losses at once for ``steps`` steps (``OUT/joint``).

Each phase runs :func:`corrtrack.training.loop.train_loop` (checkpoint.pt with resume, config.json,
history.json, loss.png, torchrun DDP with gloo); a rerun in the same folder resumes where it stopped.
At the end ``OUT/corr.pt`` holds the weights in our checkpoint format (loadable with
``NetworkCorrespondences.from_checkpoint``) and ``OUT/train_summary.json`` the phases' times and losses.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from corrtrack.config import config_to_dict, param
from corrtrack.errors import CorrtrackError
from corrtrack.interfaces import PersonDetector, PoseEstimator
from corrtrack.models.checkpoints import checkpoint_metadata, model_from_checkpoint, save_checkpoint
from corrtrack.models.correspondence_net import (
    CorrespondenceNet,
    CorrespondenceNetConfig,
    correlation_maps,
    correspondence_config,
    valid_queries,
)
from corrtrack.models.correspondence_peaks import map_peaks
from corrtrack.training.corr_data import (
    CorrPairDataset,
    MixedPairs,
    PairConfig,
    RecordStills,
    StillSource,
    SynthStills,
    VideoPairDataset,
    estimated_records,
    video_persons,
)
from corrtrack.training.loop import LoopConfig, training_configs
from corrtrack.training.metadata import weights_metadata, write_weights_metadata
from corrtrack.training.pose_data import load_records
from corrtrack.training.trainer import Phase, TaskResult, TrainTask, run_task, use_shards

__all__ = [
    "CorrObjective",
    "CorrTrainConfig",
    "CorrTrainResult",
    "affinity_loss",
    "corr_task",
    "export_bundled",
    "refined_loss",
    "run_train_corr",
    "train_corr",
]


@dataclass(frozen=True)
class CorrTrainConfig:
    schedule: Literal["two_phase", "joint"] = param(
        "two_phase", "docs/method.md §3.3 (embedding, then refiner with the embedding frozen); joint = our option"
    )
    embedding_steps: int = param(2000, "our choice: phase-1 steps")
    refiner_steps: int = param(2000, "our choice: phase-2 steps")
    data_format: Literal["auto", "posetrack18", "synthtrack", "coco", "images"] = param(
        "auto", "our choice: layout of --data (auto: 'synth' = on-the-fly stills, else detect)"
    )
    split: str = param("train", "our choice: split of a data folder")
    synth_scenes: int = param(100000, "our choice: number of distinct on-the-fly SynthTrack scenes")
    synth_seed: int = param(1000, "our choice: seed of the on-the-fly scenes (not a standard split's seed)")
    synth_width: int = param(320, "our choice: rendered still width (height = width * 9 / 16)")
    sigma: float = param(1.0, "our choice: Gaussian target sigma of the refined maps (grid cells)")
    positive_weight: float = param(5.0, "our choice: BCE weight of the target peak (1 = plain BCE)")
    refined_weight: float = param(1.0, "our choice: weight of the refined-map loss in joint training")
    threads: int = param(0, "our choice: torch threads per process (0 = torch default)")
    half_export: bool = param(False, "our choice: store corr.pt in float16")
    pairs: Literal["stills", "video", "mix"] = param(
        "stills",
        "docs/method.md §3.4 (still images, self-supervised); video = SynthTrack frame pairs with true "
        "correspondences (issue #23); mix = both",
    )
    video_fraction: float = param(0.5, "our choice: share of video pairs with pairs=mix")
    max_gap: int = param(8, "our choice: video pairs are 1..max_gap frames apart (forward or backward)")
    init_weights: str = param(
        "", "our choice: '' = random initialisation; else a corr.pt of the same architecture to fine-tune from"
    )
    visibility_steps: int = param(
        0,
        "our choice (issue #23): steps of a third phase that trains the visibility head (embedding and refiner "
        "frozen); > 0 gives the network the head",
    )
    visibility_radius: float = param(
        2.0, "our choice: a found joint counts as visible when the true joint is visible within this many cells"
    )

    def __post_init__(self) -> None:
        if self.schedule not in ("two_phase", "joint"):
            raise ValueError(f"schedule must be two_phase or joint, got {self.schedule!r}")
        if self.embedding_steps < 0 or self.refiner_steps < 0 or self.synth_scenes < 1 or self.threads < 0:
            raise ValueError("steps and threads must be >= 0, synth_scenes >= 1")
        if self.pairs not in ("stills", "video", "mix") or not 0 <= self.video_fraction <= 1 or self.max_gap < 1:
            raise ValueError("pairs must be stills/video/mix, video_fraction in [0, 1] and max_gap >= 1")
        if self.visibility_steps < 0 or self.visibility_radius <= 0:
            raise ValueError("visibility_steps must be >= 0 and visibility_radius > 0")
        if self.sigma <= 0 or self.positive_weight <= 0 or self.refined_weight < 0 or self.synth_width < 64:
            raise ValueError("sigma and positive_weight must be > 0, refined_weight >= 0, synth_width >= 64")


# ------------------------------------------------------------------------------------- losses


def affinity_loss(affinity: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean soft-max cross-entropy ``-log A_j[target_j]`` over masked joints (``affinity`` holds probabilities)."""
    g = affinity.shape[-1]
    flat = affinity.flatten(2)
    idx = (target[..., 1] * g + target[..., 0]).long()
    p = flat.gather(-1, idx[..., None])[..., 0]
    nll = -torch.log(p.clamp_min(1e-30))
    m = mask.to(nll.dtype)
    return (nll * m).sum() / m.sum().clamp_min(1.0)


def gaussian_targets(target: torch.Tensor, visible: torch.Tensor, grid: int, sigma: float) -> torch.Tensor:
    """``(B, Q, G, G)`` Gaussian peaks (1 at the target cell) for visible joints, zeros otherwise."""
    r = torch.arange(grid, dtype=torch.float32, device=target.device)
    dx = (r[None, None, :] - target[..., 0:1].float()) ** 2  # (B, Q, G)
    dy = (r[None, None, :] - target[..., 1:2].float()) ** 2
    g = torch.exp(-(dy[..., :, None] + dx[..., None, :]) / (2 * sigma**2))
    return g * visible[..., None, None].to(g.dtype)


def refined_loss(
    logits: torch.Tensor, target: torch.Tensor, visible: torch.Tensor, mask: torch.Tensor, sigma: float, pos: float
) -> torch.Tensor:
    """Per-pixel BCE of the refined logits vs Gaussian targets, averaged over the masked maps."""
    t = gaussian_targets(target, visible, logits.shape[-1], sigma)
    weight = 1.0 + (pos - 1.0) * t
    bce = F.binary_cross_entropy_with_logits(logits, t, weight=weight, reduction="none").mean((-1, -2))
    m = mask.to(bce.dtype)
    return (bce * m).sum() / m.sum().clamp_min(1.0)


class CorrObjective(nn.Module):
    """The trained part of the network for one phase; ``forward(batch tensors) -> (loss, parts)``.

    ``embedding``: only the Siamese embedding is a submodule (so DDP sees no unused parameters);
    ``refiner``: the embedding is frozen (no gradients, BatchNorm kept in eval mode); ``joint``: all;
    ``visibility``: only the visibility head trains (:mod:`corrtrack.models.visibility_head`).
    """

    def __init__(self, net: CorrespondenceNet, phase: str, train_cfg: CorrTrainConfig) -> None:
        super().__init__()
        if phase not in ("embedding", "refiner", "joint", "visibility"):
            raise ValueError(f"phase must be embedding, refiner, joint or visibility, got {phase!r}")
        if phase == "visibility" and not net.cfg.visibility_head:
            raise ValueError("the visibility phase needs a network with visibility_head=True")
        self.phase, self.train_cfg, self.net_cfg = phase, train_cfg, net.cfg
        if phase == "embedding":
            self.embedding = net.model
        else:
            self.net = net
            parts: dict[str, list[nn.Module]] = {"refiner": [net.model], "visibility": [net.model, net.pd]}
            frozen = parts.get(phase, [])
            for part in frozen:
                for p in part.parameters():
                    p.requires_grad_(False)

    def train(self, mode: bool = True) -> CorrObjective:
        super().train(mode)
        if self.phase in ("refiner", "visibility"):
            self.net.model.eval()
        if self.phase == "visibility":
            self.net.pd.eval()
        return self

    def forward(
        self,
        image_a: torch.Tensor,
        image_b: torch.Tensor,
        queries: torch.Tensor,
        target: torch.Tensor,
        affinity_mask: torch.Tensor,
        refine_mask: torch.Tensor,
        visible_b: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        c, t = self.net_cfg, self.train_cfg
        n = image_a.shape[0]
        if self.phase == "embedding":
            f = self.embedding(torch.cat([image_a, image_b], 0))
            affinity = correlation_maps(f[:n], f[n:], queries, c.normalization, c.temperature)
            loss = affinity_loss(affinity, target, affinity_mask)
            return loss, {"affinity": float(loss.detach())}
        if self.phase == "refiner":
            with torch.no_grad():
                f = self.net.embed(torch.cat([image_a, image_b], 0))
                affinity = self.net.correlate(f[:n], f[n:], queries)
            logits = self.net.refine(f[:n], f[n:], affinity)
            loss = refined_loss(logits, target, visible_b, refine_mask, t.sigma, t.positive_weight)
            return loss, {"refined": float(loss.detach())}
        if self.phase == "visibility":
            return self._visibility_loss(image_a, image_b, queries, target, refine_mask, visible_b)
        logits, affinity = self.net(image_a, image_b, queries)
        la = affinity_loss(affinity, target, affinity_mask)
        lr = refined_loss(logits, target, visible_b, refine_mask, t.sigma, t.positive_weight)
        return la + t.refined_weight * lr, {"affinity": float(la.detach()), "refined": float(lr.detach())}

    def _visibility_loss(
        self,
        image_a: torch.Tensor,
        image_b: torch.Tensor,
        queries: torch.Tensor,
        target: torch.Tensor,
        refine_mask: torch.Tensor,
        visible_b: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """BCE of the head's logits against "visible within ``visibility_radius`` cells of the found cell"."""
        n = image_a.shape[0]
        with torch.no_grad():
            f = self.net.embed(torch.cat([image_a, image_b], 0))
            fA, fB = f[:n], f[n:]
            affinity = self.net.correlate(fA, fB, queries)
            prob = torch.sigmoid(self.net.refine(fA, fB, affinity))
            valid = valid_queries(queries, prob.shape[2], prob.shape[3])[2]
            peaks = map_peaks(prob, queries, valid)
            found = peaks[..., :2]
            near = ((torch.nan_to_num(found, nan=-1e6) - target.to(found.dtype)) ** 2).sum(-1)
            label = (visible_b & (near <= self.train_cfg.visibility_radius**2)).float()
        logits = self.net.visibility_logits(fA, fB, queries, found, peaks[..., 2], affinity)
        mask = (refine_mask & valid).float()
        bce = F.binary_cross_entropy_with_logits(logits, label, reduction="none")
        loss = (bce * mask).sum() / mask.sum().clamp_min(1.0)
        return loss, {
            "visibility": float(loss.detach()),
            "visible_share": float((label * mask).sum() / mask.sum().clamp_min(1)),
        }


def _to_tensors(batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    def img(x: Any) -> torch.Tensor:
        return torch.as_tensor(x).permute(0, 3, 1, 2).float().div(255.0)

    return {
        "image_a": img(batch["image_a"]),
        "image_b": img(batch["image_b"]),
        "queries": torch.as_tensor(batch["queries"]).double(),
        "target": torch.as_tensor(batch["target"]).long(),
        "affinity_mask": torch.as_tensor(batch["affinity_mask"]).bool(),
        "refine_mask": torch.as_tensor(batch["refine_mask"]).bool(),
        "visible_b": torch.as_tensor(batch["visible_b"]).bool(),
    }


def _step(model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
    t = _to_tensors(batch)
    loss, parts = model(**t)
    return loss, parts


# ------------------------------------------------------------------------------------ settings


def make_source(
    data: str | Path,
    cfg: CorrTrainConfig,
    estimator: PoseEstimator | None = None,
    detector: PersonDetector | None = None,
) -> StillSource:
    """The stills ``data`` names (module docstring)."""
    if str(data) == "synth":
        w = cfg.synth_width
        return SynthStills(cfg.synth_scenes, cfg.synth_seed, (w, (w * 9 // 16) // 2 * 2))
    if cfg.data_format == "images":
        if estimator is None:
            raise CorrtrackError("data_format=images needs a pose estimator for the unlabelled images")
        return RecordStills(estimated_records(data, estimator, detector))
    return RecordStills(load_records(data, cfg.split, cfg.data_format, min_joints=1))


#: what ``train_corr`` returns (the phases by folder, ``finished``, ``weights``)
CorrTrainResult = TaskResult


def corr_task(
    config_name: str | CorrespondenceNetConfig,
    data_dir: str | Path,
    options: Mapping[str, Any],
    settings: Iterable[str] | None,
    estimator: PoseEstimator | None = None,
    detector: PersonDetector | None = None,
) -> TrainTask:
    """The correspondence net's :class:`~corrtrack.training.trainer.TrainTask`: two phases or one joint phase."""
    net_cfg = correspondence_config(config_name) if isinstance(config_name, str) else config_name
    defaults = {"train": CorrTrainConfig(), "loop": LoopConfig(), "pairs": PairConfig()}
    configs = training_configs(options, settings, defaults)
    train_cfg: CorrTrainConfig = configs["train"]
    if train_cfg.init_weights:
        net_cfg = _fine_tuned_config(net_cfg, train_cfg.init_weights, explicit=not isinstance(config_name, str))
    if train_cfg.visibility_steps and not net_cfg.visibility_head:
        net_cfg = dataclasses.replace(net_cfg, visibility_head=True)
    loop_cfg: LoopConfig = configs["loop"]
    pair_cfg: PairConfig = configs["pairs"]
    source = make_source(data_dir, train_cfg, estimator, detector)
    if isinstance(source, RecordStills):
        use_shards(source, source.records.images, loop_cfg)
    stills = CorrPairDataset(source, net_cfg.input_size, pair_cfg)
    dataset: Any = stills
    training_data = source.describe()
    if train_cfg.pairs != "stills":
        if str(data_dir) == "synth" or train_cfg.data_format in ("coco", "images"):
            raise CorrtrackError(f"pairs={train_cfg.pairs} needs a SynthTrack / PoseTrack video folder as --data")
        video = VideoPairDataset(
            video_persons(data_dir, train_cfg.split, pair_cfg.min_joints), net_cfg.input_size, train_cfg.max_gap
        )
        use_shards(video, [p for seq in video.persons.images for p in seq], loop_cfg)
        dataset = video if train_cfg.pairs == "video" else MixedPairs(stills, video, train_cfg.video_fraction)
        training_data = f"{video.persons.source}, 1..{train_cfg.max_gap} frames apart" + (
            f"; mixed {train_cfg.video_fraction:g} with {training_data}" if train_cfg.pairs == "mix" else ""
        )
    torch.manual_seed(loop_cfg.seed)
    net = CorrespondenceNet(net_cfg)
    if train_cfg.init_weights:
        init_from(net, train_cfg.init_weights)
    if train_cfg.schedule == "two_phase":
        plan = [("phase1", "embedding", train_cfg.embedding_steps), ("phase2", "refiner", train_cfg.refiner_steps)]
    else:
        plan = [("joint", "joint", loop_cfg.steps)]
    if train_cfg.visibility_steps:
        plan.append(("phase3", "visibility", train_cfg.visibility_steps))
    if any(steps > 0 for *_, steps in plan):
        plan = [p for p in plan if p[2] > 0]  # 0 steps = skip the phase (e.g. a head trained on a finished net)
    extra = {"net_config": config_to_dict(net_cfg)}
    phases = [
        Phase(folder, functools.partial(CorrObjective, net, phase, train_cfg), _step, steps, {**extra, "phase": phase})
        for folder, phase, steps in plan
    ]

    def write(out: Path, meta: dict[str, Any]) -> Path:
        for p in net.parameters():
            p.requires_grad_(True)
        weights = out / "corr.pt"
        info = {k: v for k, v in meta.items() if k not in ("training_data", "command")}
        metadata = checkpoint_metadata(
            net_cfg,
            joint_layout="posetrack18",
            training_data=meta["training_data"],
            command=meta["command"],
            schedule=train_cfg.schedule,
            train_config=config_to_dict(train_cfg),
            pair_config=config_to_dict(pair_cfg),
            **info,
        )
        save_checkpoint(weights, net.cpu().eval(), metadata, half=train_cfg.half_export)
        return weights

    return TrainTask(
        network="correspondence",
        model=net,
        dataset=dataset,
        phases=phases,
        loop=loop_cfg,
        configs={"net": net_cfg, "train": train_cfg, "pairs": pair_cfg},
        training_data=training_data,
        write_weights=write,
        weights_name="corr.pt",
    )


def train_corr(
    config_name: str | CorrespondenceNetConfig,
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    resume: bool = True,
    max_steps_this_run: int | None = None,
    progress: bool = True,
    settings: Iterable[str] | None = None,
    estimator: PoseEstimator | None = None,
    detector: PersonDetector | None = None,
    command: str | None = None,
    **options: Any,
) -> TaskResult:
    """Train correspondence net ``config_name`` (``tiny``, ``paper`` or a config) on the stills of ``data_dir``.

    :func:`corrtrack.training.trainer.run_task` on :func:`corr_task`: ``options`` (or ``settings`` as
    ``NAME=VALUE``) set fields of :class:`CorrTrainConfig`, :class:`~corrtrack.training.loop.LoopConfig`
    (``steps`` is the joint schedule's step count) and :class:`~corrtrack.training.corr_data.PairConfig`.
    ``max_steps_this_run`` bounds the steps of this call (all phases together); call again to continue.
    ``estimator``/``detector`` label the images of ``data_format=images``.
    """
    task = corr_task(config_name, data_dir, options, settings, estimator, detector)
    return run_task(
        task, out_dir, resume=resume, max_steps_this_run=max_steps_this_run, progress=progress, command=command
    )


def _fine_tuned_config(
    named: CorrespondenceNetConfig, path: str | Path, explicit: bool = False
) -> CorrespondenceNetConfig:
    """The network config of checkpoint ``path``, the network that fine-tuning continues.

    Fine-tuning keeps the checkpoint's non-tensor settings too (e.g. the refiner's ``refiner_affinity``):
    building a preset's defaults instead would load the weights into a network that computes something else.
    A preset name must match the checkpoint's; an ``explicit`` config must equal it.
    """
    source = model_from_checkpoint(path)
    if not isinstance(source, CorrespondenceNet):
        raise CorrtrackError(f"{path}: holds a {type(source).__name__}, not a correspondence network")
    if source.cfg.name != named.name or (explicit and source.cfg != named):
        raise CorrtrackError(f"{path}: its network does not match config {named.name!r} ({source.cfg} vs {named})")
    return source.cfg


def init_from(net: CorrespondenceNet, path: str | Path) -> None:
    """Load the weights of the correspondence checkpoint ``path`` into ``net`` (same architecture, every tensor).

    A visibility head that ``path`` lacks keeps its fresh initialisation (it is trained by its own phase).
    """
    source = model_from_checkpoint(path)
    if not isinstance(source, CorrespondenceNet):
        raise CorrtrackError(f"{path}: holds a {type(source).__name__}, not a correspondence network")
    mine, theirs = net.state_dict(), source.state_dict()
    if not source.cfg.visibility_head:
        mine = {k: v for k, v in mine.items() if not k.startswith("visibility.")}
    wrong = sorted(k for k in mine if k not in theirs or theirs[k].shape != mine[k].shape)
    if wrong or set(theirs) - set(mine):
        raise CorrtrackError(
            f"{path}: its network does not match config {net.cfg.name!r} (first differing tensor: "
            f"{(wrong or sorted(set(theirs) - set(mine)))[0]})"
        )
    net.load_state_dict({k: v.to(mine[k].dtype) for k, v in theirs.items()}, strict=False)


def run_train_corr(config: str, data: str | Path, out: str | Path, settings: Iterable[str] = ()) -> int:
    """The ``corrtrack train corr`` command: prints a summary line, returns the exit status."""
    result = train_corr(config, data, out, settings=list(settings))
    if result.rank == 0:
        steps = ", ".join(f"{k} {r.step} steps (loss {r.final_loss:.4f})" for k, r in result.phases.items())
        where = f"weights: {result.weights}" if result.weights else "not finished; rerun to resume"
        print(f"trained correspondence net {config}: {steps}; {where}")
    return 0


def export_bundled(source: str | Path, weights: str | Path, metadata: str | Path, **info: Any) -> dict[str, Any]:
    """Write ``source`` (a ``corr.pt``) as float16 weights plus its metadata JSON (:mod:`corrtrack.training.metadata`).

    ``info`` may give ``training_data``, ``command``, ``wall_time_s`` and ``device``; every other
    entry goes under ``training``.
    """
    model = model_from_checkpoint(source)
    if not isinstance(model, CorrespondenceNet):
        raise CorrtrackError(f"{source}: not a full correspondence network")
    from corrtrack.models.checkpoints import load_checkpoint

    _, meta = load_checkpoint(source)
    meta = {**meta, **info}
    meta.pop("sha256", None)
    save_checkpoint(weights, model, meta, half=True)
    cfg = model.cfg
    skip = {"config", "config_type", "config_name", "dtype", "joint_layout", "input_size", "normalization"}
    doc = weights_metadata(
        "correspondence",
        model,
        weights,
        input_size=(cfg.input_size, cfg.input_size),
        normalisation=f"RGB / 255 in [0, 1], no mean/std (embedding normalization: {cfg.normalization})",
        training_data=str(meta.pop("training_data", "unknown")),
        command=str(meta.pop("command", "unknown")),
        wall_time_s=float(meta.pop("wall_time_s", meta.get("wall_time_s_last_call", 0.0)) or 1e-3),
        device=str(meta.pop("device", "unknown")),
        training={k: v for k, v in meta.items() if k not in skip},
        notes={
            "input": "whole frame letter-boxed (docs/method.md §3.1), RGB in [0, 1], no mean/std",
            "grid_size": cfg.grid_size,
        },
    )
    return write_weights_metadata(metadata, doc)
