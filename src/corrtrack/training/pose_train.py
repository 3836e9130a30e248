"""``train pose``: train the top-down pose network on SynthTrack, PoseTrack 2018 or COCO keypoints.

Python::

    from corrtrack.training.pose_train import train_pose
    result = train_pose("tiny", "/data/synthtrack-v1", "runs/pose_tiny", steps=4000, batch_size=32)

Command line (wired by the CLI as ``corrtrack train pose --config tiny --data DIR --out DIR --set NAME=VALUE``)::

    run_train_pose("tiny", "DIR", "OUT", ["steps=4000", "lr=2e-3"])

Every ``NAME=VALUE`` goes to whichever of :class:`PoseTrainConfig`, :class:`~corrtrack.training.loop.LoopConfig`
or :class:`~corrtrack.training.pose_data.AugmentConfig` has that field. The output folder gets
``checkpoint.pt`` (resumable), ``config.json``, ``history.json``, ``loss.png`` and, at the end, ``pose.pt``:
the weights with their metadata, loadable with ``corrtrack.inference.pose_estimator.load_pose_weights`` and
``TopDownPoseEstimator.from_checkpoint``. Under ``torchrun`` the run is data-parallel (DDP, gloo).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from corrtrack.config import config_to_dict, param
from corrtrack.inference.pose_estimator import NORMALISATION, load_pose_weights, save_pose_weights
from corrtrack.models.heatmap_codec import CodecConfig, encode
from corrtrack.models.pose_losses import PoseLossConfig, pose_loss
from corrtrack.models.pose_net import PoseNet, PoseNetConfig, pose_config
from corrtrack.training.loop import LoopConfig, training_configs
from corrtrack.training.metadata import weights_metadata, write_weights_metadata
from corrtrack.training.pose_data import AugmentConfig, PoseCropDataset, load_records
from corrtrack.training.trainer import Phase, TaskResult, TrainTask, train_network, use_shards

__all__ = [
    "PoseTrainConfig",
    "export_weights",
    "make_step_fn",
    "pose_task",
    "run_train_pose",
    "train_pose",
]


@dataclass(frozen=True)
class PoseTrainConfig:
    data_format: Literal["auto", "posetrack18", "synthtrack", "coco"] = param(
        "auto", "our choice: the layout of the data folder (auto = detect)"
    )
    split: str = param("train", "our choice: the split to train on (COCO: e.g. train2017)")
    min_joints: int = param(3, "our choice: persons with fewer annotated joints are skipped")
    radius: float = param(
        25.0, "docs/method.md §2.4 proposal: target disk radius in pixels at a 288-wide input, scaled with the width"
    )
    offset_weight: float = param(1.0, "docs/method.md §2.4 proposal: offset loss weight about 1")
    positive_weight: float = param(1.0, "our choice: BCE weight of positive heatmap cells (1 = plain BCE)")
    threads: int = param(0, "our choice: torch threads per process (0 = leave torch's default)")

    def __post_init__(self) -> None:
        if self.min_joints < 1 or self.radius <= 0 or self.threads < 0:
            raise ValueError("min_joints must be >= 1, radius > 0 and threads >= 0")

    def radius_for(self, net: PoseNetConfig) -> float:
        """The disk radius in input pixels of ``net`` (``radius`` is given for a 288-wide input)."""
        return self.radius * net.input_width / 288.0


def make_step_fn(net_cfg: PoseNetConfig, codec: CodecConfig, loss_cfg: PoseLossConfig) -> Any:
    """The loop's ``step_fn``: encode the batch's targets and sum the loss over every stage."""
    grid = net_cfg.output_size

    def step(model: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        targets = encode(batch["keypoints"], batch["valid"], grid, codec)
        outputs = model(batch["image"])
        return pose_loss(outputs, targets, loss_cfg)

    return step


def pose_task(
    config_name: str | PoseNetConfig, data_dir: str | Path, options: Mapping[str, Any], settings: Iterable[str] | None
) -> TrainTask:
    """The pose network's :class:`~corrtrack.training.trainer.TrainTask` (one phase, weights ``pose.pt``)."""
    net_cfg = pose_config(config_name) if isinstance(config_name, str) else config_name
    configs = training_configs(
        options, settings, {"train": PoseTrainConfig(), "loop": LoopConfig(), "augment": AugmentConfig()}
    )
    train_cfg: PoseTrainConfig = configs["train"]
    loop_cfg: LoopConfig = configs["loop"]
    aug_cfg: AugmentConfig = configs["augment"]
    records = load_records(data_dir, train_cfg.split, train_cfg.data_format, train_cfg.min_joints)
    dataset = PoseCropDataset(records, (net_cfg.input_width, net_cfg.input_height), aug_cfg)
    use_shards(dataset, records.images, loop_cfg)
    radius = train_cfg.radius_for(net_cfg)
    codec = CodecConfig(stride=4, radius=radius)
    loss_cfg = PoseLossConfig(
        offset_weight=train_cfg.offset_weight, positive_weight=train_cfg.positive_weight, offset_scale=radius
    )
    torch.manual_seed(loop_cfg.seed)
    model = PoseNet(net_cfg)

    def write(out: Path, meta: dict[str, Any]) -> Path:
        path = out / "pose.pt"
        save_pose_weights(path, model, {**meta, "net": net_cfg.name, "codec": config_to_dict(codec)})
        return path

    return TrainTask(
        network="pose",
        model=model,
        dataset=dataset,
        phases=[
            Phase(
                "",
                lambda: model,
                make_step_fn(net_cfg, codec, loss_cfg),
                loop_cfg.steps,
                {"net_config": config_to_dict(net_cfg)},
            )
        ],
        loop=loop_cfg,
        configs={"net": net_cfg, "train": train_cfg, "augment": aug_cfg, "codec": codec, "loss": loss_cfg},
        training_data=f"{data_dir} ({records.source}; {len(records)} persons)",
        write_weights=write,
        weights_name="pose.pt",
    )


def train_pose(
    config_name: str | PoseNetConfig,
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
    """Train pose net ``config_name`` (``tiny``, ``paper``, ``paper3`` or a config) on ``data_dir``.

    :func:`corrtrack.training.trainer.train_network` with ``network="pose"``: ``options`` (or
    ``settings`` as ``NAME=VALUE`` strings) set fields of :class:`PoseTrainConfig`,
    :class:`LoopConfig` and :class:`AugmentConfig`, e.g. ``steps=2000, batch_size=32, lr=1e-3,
    rotation=20``. The final weights go to ``out_dir/pose.pt``.
    """
    return train_network(
        "pose",
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


def run_train_pose(config: str, data: str | Path, out: str | Path, settings: Iterable[str] = ()) -> int:
    """The ``corrtrack train pose`` command: prints a summary line, returns the exit status."""
    result = train_pose(config, data, out, settings=list(settings))
    if result.rank == 0:
        print(
            f"trained {config} for {result.step} steps ({result.steps_this_run} in this run, "
            f"{result.wall_time_s:.0f} s); final loss {result.final_loss:.4f}; weights: {Path(out) / 'pose.pt'}"
        )
    return 0


def export_weights(source: str | Path, weights: str | Path, metadata: str | Path, **info: Any) -> dict[str, Any]:
    """Write ``source`` (a ``pose.pt`` or checkpoint) as float16 weights plus its metadata JSON (one schema).

    The weights file is in corrtrack's checkpoint format (its own metadata: config, input size, joint
    layout, training data, command, sha256 of the tensors); the JSON follows
    :mod:`corrtrack.training.metadata`. ``info`` may give ``training_data``, ``command``,
    ``wall_time_s`` and ``device``; every other entry goes under ``training``.
    """
    model, meta = load_pose_weights(source)
    merged = {**meta, **info}
    save_pose_weights(weights, model, merged, half=True)
    skip = {"config", "config_type", "config_name", "sha256", "dtype", "joint_layout", "input_size", "normalization"}
    doc = weights_metadata(
        "pose",
        model,
        weights,
        input_size=(model.cfg.input_width, model.cfg.input_height),
        normalisation=NORMALISATION,
        training_data=str(merged.pop("training_data", "unknown")),
        command=str(merged.pop("command", "unknown")),
        wall_time_s=float(merged.pop("wall_time_s", merged.get("wall_time_s_last_run", 0.0)) or 1e-3),
        device=str(merged.pop("device", "unknown")),
        training={k: v for k, v in merged.items() if k not in skip},
        notes={"output": "per stage: 17 heatmap logits, 17 x offsets, 17 y offsets (input pixels) at stride 4"},
    )
    return write_weights_metadata(metadata, doc)
