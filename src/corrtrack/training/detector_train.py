"""``train detector``: train the CenterNet-style person detector on SynthTrack (or any PoseTrack-style folder).

Python::

    from corrtrack.training.detector_train import train_detector
    result = train_detector("tiny", "/data/synthtrack-v2.1", "runs/detector_tiny", steps=800, batch_size=16)

Command line (wired by the CLI as ``corrtrack train detector --config tiny --data DIR --out DIR --set NAME=VALUE``)::

    run_train_detector("tiny", "DIR", "OUT", ["steps=800", "lr=2e-3"])

Every ``NAME=VALUE`` goes to whichever of :class:`DetectorTrainConfig`,
:class:`~corrtrack.training.loop.LoopConfig` or
:class:`~corrtrack.training.detector_data.DetectorAugmentConfig` has that field. The output folder
gets ``checkpoint.pt`` (resumable), ``config.json``, ``history.json``, ``loss.png`` and, at the end,
``detector.pt``: the weights with their metadata, loadable with
``corrtrack.inference.detector.CenterNetDetector.from_checkpoint``. Under ``torchrun`` the run is
data-parallel (DDP, gloo), as for the pose trainer.

The loss (CenterNet, Zhou et al. 2019): the penalty-reduced focal loss on the centre heatmap
(alpha 2, beta 4; cells in ignore regions count for nothing), normalised by the number of boxes,
plus L1 losses on ``log`` box size and on the centre offset at the centre cells.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from corrtrack.config import config_to_dict, param
from corrtrack.models.detector_net import (
    NORMALISATION,
    DetectorNet,
    DetectorNetConfig,
    detector_config,
    load_detector_weights,
    save_detector_weights,
)
from corrtrack.training.detector_data import DetectorAugmentConfig, DetectorDataset, box_records
from corrtrack.training.loop import LoopConfig, training_configs
from corrtrack.training.metadata import weights_metadata, write_weights_metadata
from corrtrack.training.trainer import Phase, TaskResult, TrainTask, train_network, use_shards

__all__ = [
    "DetectorTrainConfig",
    "detector_loss",
    "detector_task",
    "export_detector_weights",
    "run_train_detector",
    "train_detector",
]


@dataclass(frozen=True)
class DetectorTrainConfig:
    split: str = param("train", "our choice: the split to train on")
    focal_alpha: float = param(2.0, "CenterNet (Zhou et al. 2019): focal loss exponent alpha")
    focal_beta: float = param(4.0, "CenterNet (Zhou et al. 2019): penalty reduction exponent beta")
    size_weight: float = param(1.0, "our choice: weight of the L1 loss on log box size")
    offset_weight: float = param(1.0, "CenterNet (Zhou et al. 2019): weight of the offset L1 loss")
    threads: int = param(0, "our choice: torch threads per process (0 = leave torch's default)")

    def __post_init__(self) -> None:
        if self.size_weight < 0 or self.offset_weight < 0 or self.threads < 0:
            raise ValueError("size_weight, offset_weight and threads must be >= 0")


def detector_loss(
    outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], cfg: DetectorTrainConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """The CenterNet loss of one batch; returns the total and its parts."""
    logits = outputs["heatmap"].float()
    target = batch["heatmap"].to(logits)
    weight = batch["weight"].to(logits)
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    log_p = torch.nn.functional.logsigmoid(logits)
    log_1p = torch.nn.functional.logsigmoid(-logits)
    pos = (target >= 1.0).to(logits)
    pos_loss = -log_p * (1 - p) ** cfg.focal_alpha * pos
    neg_loss = -log_1p * p**cfg.focal_alpha * (1 - target) ** cfg.focal_beta * (1 - pos) * weight
    mask = batch["mask"].to(logits)
    num = mask.sum().clamp(min=1.0)
    heat = (pos_loss.sum() + neg_loss.sum()) / num
    b = logits.shape[0]
    idx = batch["centres"].long().unsqueeze(1).expand(b, 2, -1)
    size = torch.gather(outputs["size"].float().flatten(2), 2, idx).transpose(1, 2)
    offset = torch.gather(outputs["offset"].float().flatten(2), 2, idx).transpose(1, 2)
    m = mask.unsqueeze(2)
    size_l = ((size - batch["size"].to(logits)).abs() * m).sum() / (2 * num)
    off_l = ((offset - batch["offset"].to(logits)).abs() * m).sum() / (2 * num)
    total = heat + cfg.size_weight * size_l + cfg.offset_weight * off_l
    return total, {"heatmap": float(heat.detach()), "size": float(size_l.detach()), "offset": float(off_l.detach())}


def _make_step(cfg: DetectorTrainConfig) -> Any:
    def step(model: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        return detector_loss(model(batch["image"]), batch, cfg)

    return step


def detector_task(
    config_name: str | DetectorNetConfig,
    data_dir: str | Path,
    options: Mapping[str, Any],
    settings: Iterable[str] | None,
) -> TrainTask:
    """The detector's :class:`~corrtrack.training.trainer.TrainTask` (one phase, weights ``detector.pt``)."""
    net_cfg = detector_config(config_name) if isinstance(config_name, str) else config_name
    # typed values; tuples such as zoom_range=(0.5, 1.0) are fine (override_routed)
    configs = training_configs(
        options, settings, {"train": DetectorTrainConfig(), "loop": LoopConfig(), "augment": DetectorAugmentConfig()}
    )
    train_cfg: DetectorTrainConfig = configs["train"]
    loop_cfg: LoopConfig = configs["loop"]
    aug_cfg: DetectorAugmentConfig = configs["augment"]
    records = box_records(data_dir, train_cfg.split)
    dataset = DetectorDataset(records, (net_cfg.input_width, net_cfg.input_height), aug_cfg, net_cfg.stride)
    use_shards(dataset, records.images, loop_cfg)
    torch.manual_seed(loop_cfg.seed)
    model = DetectorNet(net_cfg)
    extra = config_to_dict(net_cfg)

    def write(out: Path, meta: dict[str, Any]) -> Path:
        path = out / "detector.pt"
        save_detector_weights(path, model, {**meta, "net": net_cfg.name})
        return path

    return TrainTask(
        network="detector",
        model=model,
        dataset=dataset,
        phases=[Phase("", lambda: model, _make_step(train_cfg), loop_cfg.steps, {"net_config": extra})],
        loop=loop_cfg,
        configs={"net": net_cfg, "train": train_cfg, "augment": aug_cfg},
        training_data=f"{records.source}; {len(records)} frames, {records.num_boxes} boxes",
        write_weights=write,
        weights_name="detector.pt",
    )


def train_detector(
    config_name: str | DetectorNetConfig,
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
    """Train detector ``config_name`` (``tiny``, ``micro`` or a config) on the boxes of ``data_dir``.

    :func:`corrtrack.training.trainer.train_network` with ``network="detector"``: ``options`` (or
    ``settings`` as ``NAME=VALUE`` strings) set fields of :class:`DetectorTrainConfig`,
    :class:`LoopConfig` and :class:`DetectorAugmentConfig`, e.g. ``steps=800, batch_size=16, lr=2e-3``.
    The final weights go to ``out_dir/detector.pt``.
    """
    return train_network(
        "detector",
        config_name,
        data_dir,
        out_dir,
        resume=resume,
        max_steps_this_run=max_steps_this_run,
        progress=progress,
        settings=settings,
        command=command,
        **options,
    )


def run_train_detector(config: str, data: str | Path, out: str | Path, settings: Iterable[str] = ()) -> int:
    """The ``corrtrack train detector`` command: prints a summary line, returns the exit status."""
    result = train_detector(config, data, out, settings=list(settings))
    if result.rank == 0:
        print(
            f"trained detector {config} for {result.step} steps ({result.steps_this_run} in this run, "
            f"{result.wall_time_s:.0f} s); final loss {result.final_loss:.4f}; weights: {Path(out) / 'detector.pt'}"
        )
    return 0


def export_detector_weights(
    source: str | Path, weights: str | Path, metadata: str | Path, **info: Any
) -> dict[str, Any]:
    """Write ``source`` (a ``detector.pt`` or a trusted checkpoint) as float16 weights plus its metadata JSON.

    The JSON follows :mod:`corrtrack.training.metadata`; ``info`` may give ``training_data``,
    ``command``, ``wall_time_s`` and ``device``; every other entry goes under ``training``.
    """
    model, meta = load_detector_weights(source, trusted=True)
    merged = {**meta, **info}
    save_detector_weights(weights, model, merged, half=True)
    cfg = model.cfg
    doc = weights_metadata(
        "detector",
        model,
        weights,
        input_size=(cfg.input_width, cfg.input_height),
        normalisation=NORMALISATION,
        training_data=str(merged.pop("training_data", "unknown")),
        command=str(merged.pop("command", "unknown")),
        wall_time_s=float(merged.pop("wall_time_s", merged.get("wall_time_s_last_run", 0.0)) or 1e-3),
        device=str(merged.pop("device", "unknown")),
        training=merged,
        notes={
            "letterbox": "aspect kept, image at the top-left, grey (114) padding",
            "output": "stride 4: centre heatmap logit, log(w/4), log(h/4), centre offset in cells",
        },
    )
    return write_weights_metadata(metadata, doc)
