"""Top-down pose estimation with the pose network: crop every box, run the net, decode, map back.

:class:`TopDownPoseEstimator` implements :class:`corrtrack.interfaces.PoseEstimator`:

1. the isotropic crop of docs/method.md §2.2 around every box of the frame (one batch);
2. the network in eval mode under ``torch.inference_mode()``, reading stage ``readout_stage``
   (the reference reads the second stage); with ``flip_test`` the mirrored crops run in the
   same batch. The network runs as an inference copy (``backbone.prepare_for_inference``):
   BN folded into the convolutions, weights and activations channels-last, optionally under
   bf16 autocast (``precision``); ``.model`` keeps the network as given;
3. decoding (Eq. 1; method.md §2.3): arg-max of the (flip-averaged) sigmoid heatmap plus the
   offset at that cell; joint score = mean of the two sigmoid peaks;
4. the inverse affine back to image pixels.

Weights: :meth:`TopDownPoseEstimator.from_bundled` (the tiny net trained on SynthTrack that ships
with corrtrack), :meth:`~TopDownPoseEstimator.from_checkpoint` (our training outputs) and
:meth:`~TopDownPoseEstimator.from_authors_checkpoint` (the authors' released ``.pth``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from corrtrack.config import param
from corrtrack.errors import CorrtrackError
from corrtrack.inference.crops import crop_images, crop_transforms, to_image
from corrtrack.interfaces import PoseEstimator
from corrtrack.keypoints import POSETRACK18
from corrtrack.models.backbone import prepare_for_inference, resolve_device, to_channels_last
from corrtrack.models.checkpoints import (
    checkpoint_metadata,
    load_checkpoint,
    load_state_dict_strict,
    model_from_checkpoint,
    read_torch_file,
    save_checkpoint,
)
from corrtrack.models.checkpoints import load_authors_pose_net as _authors_pose_net
from corrtrack.models.heatmap_codec import decode_with_flip
from corrtrack.models.pose_net import PoseNet, PoseNetConfig, pose_config
from corrtrack.poses import Poses, PoseSequence

__all__ = [
    "BUNDLED_WEIGHTS",
    "NORMALISATION",
    "PoseEstimatorConfig",
    "TopDownPoseEstimator",
    "estimate_with_gt_boxes",
    "load_authors_pose_net",
    "load_pose_weights",
    "save_pose_weights",
]

#: pixels are RGB / 255 with no mean/std (docs/method.md §2.2)
NORMALISATION = "RGB, float32 in [0, 1] (pixel / 255), no mean/std normalisation"
#: the bundled tiny weights (package data)
BUNDLED_WEIGHTS = "pose_tiny.pt"


@dataclass(frozen=True)
class PoseEstimatorConfig:
    """How crops are made and outputs read (the network's own config gives the input size)."""

    readout_stage: int | None = param(
        None, "reference code (pose_estimation.py reads output[1]); None = the network config's readout_stage"
    )
    use_offsets: bool = param(True, "supplement §A, Eq. 1: add the predicted offset to the peak position")
    batch_size: int = param(32, "our choice: crops per forward pass (flip test doubles it)")
    crop_scale: str = param(
        "width", "reference code (inference_utils.get_transform: scale = out_w / max(w, h))", choices=("width", "fit")
    )

    precision: Literal["fp32", "bf16"] = param(
        "fp32",
        "our choice: fp32 = the reference's arithmetic; bf16 = autocast to bfloat16 (a speed mode, issue 25; "
        "worth it only where the hardware has bf16 units, docs/results.md)",
        choices=("fp32", "bf16"),
    )
    fold_batchnorm: bool = param(
        True, "our choice: fold eval-mode BN into the convolutions (same outputs within float32 rounding)"
    )
    channels_last: bool = param(True, "our choice: weights and activations in the NHWC layout (faster on CPU)")

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {self.precision!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.readout_stage is not None and self.readout_stage < 0:
            raise ValueError(f"readout_stage must be >= 0, got {self.readout_stage}")


class TopDownPoseEstimator:
    """``estimate(image, boxes) -> Poses`` with a :class:`PoseNet` (or any net with the same output contract).

    ``model`` must take (N, 3, H, W) float RGB in [0, 1] and return the list of stage outputs
    (N, 3K, H/4, W/4). The input size comes from ``model.cfg`` (a :class:`PoseNetConfig`).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        config: PoseEstimatorConfig | None = None,
        device: str | torch.device = "cpu",
        flip_test: bool = True,
    ) -> None:
        net_cfg = getattr(model, "cfg", None)
        if not isinstance(net_cfg, PoseNetConfig):
            raise CorrtrackError("the pose model needs a PoseNetConfig as .cfg (input size, stages, joints)")
        self.config = config if config is not None else PoseEstimatorConfig()
        stage = net_cfg.readout_stage if self.config.readout_stage is None else self.config.readout_stage
        if stage >= net_cfg.num_stages:
            raise CorrtrackError(f"readout_stage {stage} but the network has {net_cfg.num_stages} stages")
        self.net_config = net_cfg
        self.readout_stage = stage
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        #: what runs: an inference copy of ``model`` (BN folded, channels-last, no gradients)
        self.runner = prepare_for_inference(
            self.model, self.device, fold=self.config.fold_batchnorm, channels_last=self.config.channels_last
        )
        self.flip_test = flip_test
        self.layout = POSETRACK18
        if net_cfg.num_joints != self.layout.num_joints:
            raise CorrtrackError(f"the network predicts {net_cfg.num_joints} joints, PoseTrack 2018 has 17")

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the network input."""
        return self.net_config.input_width, self.net_config.input_height

    # ---------------------------------------------------------------- loading
    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        config: PoseEstimatorConfig | None = None,
        device: str | torch.device = "cpu",
        flip_test: bool = True,
    ) -> TopDownPoseEstimator:
        """From a file written by :func:`save_pose_weights` (``pose.pt`` of ``train pose``) or a training checkpoint."""
        model, _ = load_pose_weights(path)
        return cls(model, config, device, flip_test)

    @classmethod
    def from_bundled(
        cls, config: PoseEstimatorConfig | None = None, device: str | torch.device = "cpu", flip_test: bool = True
    ) -> TopDownPoseEstimator:
        """The tiny network trained on SynthTrack that ships with corrtrack (``corrtrack/data/pose_tiny.pt``)."""
        ref = resources.files("corrtrack") / "data" / BUNDLED_WEIGHTS
        with resources.as_file(ref) as path:
            if not Path(path).is_file():
                raise CorrtrackError(f"bundled pose weights {BUNDLED_WEIGHTS} are missing from the installation")
            return cls.from_checkpoint(path, config, device, flip_test)

    @classmethod
    def from_authors_checkpoint(
        cls,
        path: str | Path,
        config: str | PoseNetConfig = "paper3",
        estimator_config: PoseEstimatorConfig | None = None,
        device: str | torch.device = "cpu",
        flip_test: bool = True,
    ) -> TopDownPoseEstimator:
        """From the authors' released pose checkpoint (``pose_estimation_model_3_stage_lr_1e-5_wo_vis.pth``)."""
        return cls(load_authors_pose_net(path, config), estimator_config, device, flip_test)

    # -------------------------------------------------------------- inference
    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        n = self.readout_stage + 1
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16"):
            if isinstance(self.runner, PoseNet):
                # the batch is pixels / 255: the range check (a host sync) is not needed
                return self.runner(batch, num_stages=n, check_range=False)[-1]
            return self.runner(batch)[self.readout_stage]

    def crop_batch(self, crops: np.ndarray) -> torch.Tensor:
        """The network input for (N, H, W, 3) uint8 crops: float RGB / 255 on the device, channels-last (NHWC) memory.

        The crops are NHWC already, so this is a permute of strides, not a copy; the layout is
        made explicit so that a later copy cannot silently fall back to NCHW.
        """
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        return to_channels_last(x) if self.config.channels_last else x.contiguous()

    def predict_crops(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (N, K, 2) in crop pixels and scores (N, K) for (N, H, W, 3) uint8 RGB crops.

        Every batch stays on the device; the results come to the host once, after the last batch.
        """
        w, h = self.input_size
        if crops.ndim != 4 or crops.shape[1:] != (h, w, 3):
            raise CorrtrackError(f"crops must be (N, {h}, {w}, 3), got {crops.shape}")
        xy_out, score_out = [], []
        stride = w // self.net_config.output_size[1]
        with torch.inference_mode():
            for start in range(0, len(crops), self.config.batch_size):
                x = self.crop_batch(crops[start : start + self.config.batch_size])
                m = x.shape[0]
                if self.flip_test:
                    out = self._forward(torch.cat([x, x.flip(-1)]))
                    out, flipped = out[:m], out[m:]
                else:
                    out, flipped = self._forward(x), None
                xy, scores = decode_with_flip(
                    out.float(),
                    None if flipped is None else flipped.float(),
                    stride=stride,
                    use_offsets=self.config.use_offsets,
                    flip_permutation=self.layout.flip_permutation,
                )
                xy_out.append(xy)
                score_out.append(scores)
            if not xy_out:
                k = self.layout.num_joints
                return np.zeros((0, k, 2)), np.zeros((0, k))
            xy_all = torch.cat(xy_out).double().cpu().numpy()
            score_all = torch.cat(score_out).double().cpu().numpy()
        return xy_all, score_all

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> Poses:
        """Poses for the (N, 4) ``[x, y, w, h]`` boxes of one (H, W, 3) uint8 RGB image."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise CorrtrackError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.size == 0:
            return Poses.create(np.zeros((0, self.layout.num_joints, 3)), boxes=np.zeros((0, 4)))
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise CorrtrackError(f"boxes must be (N, 4) [x, y, w, h], got shape {boxes.shape}")
        try:
            matrices = crop_transforms(boxes, self.input_size, scale_by=self.config.crop_scale)
        except ValueError as exc:
            raise CorrtrackError(f"bad boxes: {exc}") from None
        crops = crop_images(image, matrices, self.input_size)
        xy, scores = self.predict_crops(crops)
        xy = to_image(matrices, xy)
        keypoints = np.concatenate([xy, np.ones(xy.shape[:2] + (1,))], axis=-1)
        return Poses.create(keypoints, keypoint_scores=scores, boxes=boxes, scores=scores.mean(1))


# ----------------------------------------------------------------- weights I/O
def save_pose_weights(
    path: str | Path, model: PoseNet, meta: Mapping[str, Any] | None = None, half: bool = False
) -> str:
    """Write the weights in corrtrack's checkpoint format (``corrtrack.models.checkpoints``) atomically.

    ``meta`` may give ``training_data`` and ``command`` (else "unknown") and any other entries; the
    network config, input size and joint layout are added. ``half`` stores float16. Returns the
    sha256 of the tensors (verified on load).
    """
    reserved = {"config_type", "config_name", "config", "joint_layout", "input_size", "normalization"}
    extra = {k: v for k, v in (meta or {}).items() if k not in reserved | {"dtype", "sha256", "torch_version"}}
    training_data = str(extra.pop("training_data", "unknown"))
    command = str(extra.pop("command", "unknown"))
    extra.setdefault("normalisation_note", NORMALISATION)
    metadata = checkpoint_metadata(
        model.cfg, joint_layout=POSETRACK18.name, training_data=training_data, command=command, **extra
    )
    return save_checkpoint(path, model, metadata, half=half)


def _training_checkpoint_model(doc: Mapping[str, Any], source: Path) -> tuple[PoseNet, dict[str, Any]]:
    values = doc["net_config"].get("values") if isinstance(doc["net_config"], Mapping) else None
    if not isinstance(values, Mapping):
        raise CorrtrackError(f"{source}: no network config in the training checkpoint")
    known = {f.name for f in dataclasses.fields(PoseNetConfig)}
    try:
        cfg = PoseNetConfig(**{k: v for k, v in values.items() if k in known})
    except (TypeError, ValueError) as exc:
        raise CorrtrackError(f"{source}: bad network config: {exc}") from None
    model = PoseNet(cfg)
    load_state_dict_strict(model, doc["model"], source, fill_counters=False)
    return model.eval(), {"step": doc.get("step")}


def load_pose_weights(path: str | Path) -> tuple[PoseNet, dict[str, Any]]:
    """A float32 :class:`PoseNet` in eval mode and its metadata, from a file in corrtrack's checkpoint format
    (:func:`save_pose_weights`, ``pose.pt`` of ``train pose``, the bundled weights) or a ``train pose``
    training checkpoint (``checkpoint.pt``). Files are read tensors-only (no pickled code)."""
    path = Path(path)
    doc = read_torch_file(path)
    if isinstance(doc, Mapping) and "model" in doc and "net_config" in doc:
        return _training_checkpoint_model(doc, path)
    model = model_from_checkpoint(path)
    if not isinstance(model, PoseNet):
        raise CorrtrackError(f"{path}: holds a {type(model).__name__}, not a pose network")
    return model, load_checkpoint(path)[1]


def load_authors_pose_net(path: str | Path, config: str | PoseNetConfig = "paper3") -> PoseNet:
    """The authors' pose checkpoint (reference README, "Checkpoint formats"), via
    ``corrtrack.models.checkpoints.load_authors_pose_net``: strict, ``module.`` prefixes removed."""
    cfg = pose_config(config) if isinstance(config, str) else config
    return _authors_pose_net(path, cfg)


def estimate_with_gt_boxes(
    estimator: PoseEstimator,
    sequence: PoseSequence,
    images: Sequence[np.ndarray] | Callable[[int], np.ndarray],
    *,
    labeled_only: bool = True,
) -> PoseSequence:
    """Poses estimated in the ground-truth boxes of every frame (the pose estimator's share of an evaluation).

    ``images`` is the frame list or a function of the frame index (read lazily). Frames that are
    not labelled (with ``labeled_only``) or have no person are left empty and not read. Each
    person keeps its ground-truth track id, so the result is a valid prediction file.
    """
    out: list[Poses] = []
    for t, frame in enumerate(sequence.frames):
        gt = frame.poses
        boxes = gt.box_or_keypoint_box() if len(gt) else np.zeros((0, 4))
        ok = np.isfinite(boxes).all(1) & (boxes[:, 2:] > 0).all(1) if len(boxes) else np.zeros(0, bool)
        if (labeled_only and frame.is_labeled is False) or not ok.any():
            out.append(Poses.empty(sequence.layout.num_joints))
            continue
        image = images(t) if callable(images) else images[t]
        poses = estimator.estimate(image, boxes[ok])
        out.append(poses.replace(track_ids=gt.track_ids[ok].copy()))
    return sequence.with_poses(out)
