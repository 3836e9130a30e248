"""Network weights on disk: the authors' checkpoint formats, their ImageNet initialisation, and our own format.

Authors' formats (``/work/shared/reference/README.md``, "Checkpoint formats"; docs/method.md §2, §3):

* **pose net** (``pose_estimation_model_3_stage_lr_1e-5_wo_vis.pth``): a dict whose
  ``'state_dict'`` holds the keys of ``layouts/pose_net_3stage.json``, all with or all without a
  ``module.`` prefix (DataParallel). Loaded strictly into ``PoseNet(pose_config("paper3"))``.
* **correspondence model** (``corrtrack_model.pth``): ``'state_dict'`` with ``module.model.model.*``
  (or ``module.model.module.model.*``) and ``module.pd.*``. We strip the leading ``module.`` and
  turn a leading ``model.module.`` into ``model.``; the keys must then equal
  ``layouts/siamese_refinement.json``. It needs ``normalization="squared"``.
* **embedding only**: ``'state_dict'`` with the ``model.*`` keys of ``siamese_embedding.json``.
* **ImageNet BN-Inception** (Cadene ``bn_inception-52deb4733.pth``): copied into a network by the
  authors' key rule (:func:`imagenet_sources`), for training from ImageNet features.

Files are read with ``torch.load(map_location="cpu", weights_only=True)``, so CUDA-saved files
load on a CPU machine and no pickled code runs; a file that holds other Python objects needs
``trusted=True`` (``weights_only=False``: only for files you trust). Every problem is a
:class:`CheckpointError` whose one-line message names the file and the missing, unexpected or
mis-shaped keys. Unlike the reference, which keeps the constructor's values for keys a
correspondence checkpoint lacks, a missing key is an error; only missing ``num_batches_tracked``
counters (which never influence an output) are filled with 0.

Our format (:func:`save_checkpoint` / :func:`load_checkpoint` / :func:`model_from_checkpoint`):
``{"format": "corrtrack-checkpoint", "version": 1, "metadata": {...}, "state_dict": {...}}``,
the state dict optionally in float16, the metadata with the config (type, name, values), input
size, normalisation, joint layout, training data, the command that made it and the sha256 of the
tensors, verified on load. Files are written atomically.
"""

from __future__ import annotations

import hashlib
import pickle
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Union

import torch
from torch import nn

from corrtrack.config import config_to_dict
from corrtrack.errors import CorrtrackError
from corrtrack.fileio import atomic_path
from corrtrack.models.backbone import InceptionDecoder
from corrtrack.models.correspondence_net import (
    CorrespondenceNet,
    CorrespondenceNetConfig,
    InceptionEmbedding,
    SiameseEmbedding,
)
from corrtrack.models.pose_net import PoseNet, PoseNetConfig, pose_config

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "authors_correspondence_state_dict",
    "authors_pose_state_dict",
    "checkpoint_metadata",
    "imagenet_sources",
    "imagenet_units",
    "init_from_imagenet",
    "load_authors_correspondence_net",
    "load_authors_embedding",
    "load_authors_pose_net",
    "load_checkpoint",
    "load_imagenet_state_dict",
    "load_state_dict_strict",
    "model_from_checkpoint",
    "read_torch_file",
    "save_checkpoint",
    "state_dict_sha256",
]

CHECKPOINT_FORMAT = "corrtrack-checkpoint"
CHECKPOINT_VERSION = 1
REQUIRED_METADATA = ("joint_layout", "training_data", "command")

StateDict = dict[str, torch.Tensor]
Network = Union[PoseNet, CorrespondenceNet, SiameseEmbedding]


class CheckpointError(CorrtrackError, ValueError):
    """A weights file cannot be used: the message is one line naming the file and the problem."""

    def __init__(self, source: str | Path, problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


def _few(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


# ------------------------------------------------------------------------------------- reading


def _reason(exc: BaseException) -> str:
    """The informative line of a torch.load error (the unpickler's complaint if there is one)."""
    text = str(exc)
    if "Unpickler error:" in text:  # torch's weights-only message: the complaint follows this marker
        text = text.split("Unpickler error:", 1)[1]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]


def read_torch_file(path: str | Path, *, trusted: bool = False) -> Any:
    """``torch.load`` on the CPU, tensors only unless ``trusted`` (then ``weights_only=False``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):
            raise CheckpointError(path, f"not a readable torch file: {_reason(exc)}") from None
        if not trusted:
            raise CheckpointError(
                path,
                f"holds Python objects besides tensors ({_reason(exc)}); load it with trusted=True "
                "(weights_only=False) only if you trust the file",
            ) from None
    except Exception as exc:  # corrupt or not a torch file at all
        raise CheckpointError(path, f"not a readable torch file: {_reason(exc)}") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CheckpointError(path, f"not a readable torch file: {_reason(exc)}") from None


def _tensor_dict(obj: Any, source: str | Path, what: str) -> StateDict:
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) for k in obj):
        raise CheckpointError(source, f"{what} is not a dict of named tensors")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(source, f"{what} has non-tensor entries: {_few(bad)}")
    return dict(obj)


def _authors_container(obj: Any, source: str | Path) -> StateDict:
    if not isinstance(obj, Mapping) or "state_dict" not in obj:
        found = ", ".join(map(str, list(obj)[:6])) if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(
            source, f"expected a dict with a 'state_dict' entry (the authors' format), found: {found}"
        )
    return _tensor_dict(obj["state_dict"], source, "'state_dict'")


def load_state_dict_strict(
    module: nn.Module, state: Mapping[str, torch.Tensor], source: str | Path, *, fill_counters: bool = True
) -> None:
    """``module.load_state_dict(state, strict=True)`` with a one-line :class:`CheckpointError` on any mismatch.

    Missing ``num_batches_tracked`` counters are filled with 0 when ``fill_counters``.
    """
    expected = module.state_dict()
    state = dict(state)
    missing = [k for k in expected if k not in state]
    if fill_counters:
        for k in [k for k in missing if k.endswith("num_batches_tracked")]:
            state[k] = torch.zeros_like(expected[k])
        missing = [k for k in missing if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys ({_few(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys ({_few(unexpected)})")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatches (file vs model: {_few(shapes, 2)})")
    if problems:
        raise CheckpointError(source, f"does not fit {type(module).__name__}: " + "; ".join(problems))
    module.load_state_dict(state, strict=True)


# ------------------------------------------------------------------------------ authors' files


def authors_pose_state_dict(raw: Mapping[str, torch.Tensor], source: str | Path = "<state dict>") -> StateDict:
    """The layout keys of an authors' pose-net state dict: a ``module.`` prefix (DataParallel) is removed.

    As in the reference, the first key decides: if it contains ``module.``, every key must start with it.
    """
    keys = list(raw)
    if not keys or "module." not in keys[0]:
        return dict(raw)
    bad = [k for k in keys if not k.startswith("module.")]
    if bad:
        raise CheckpointError(source, f"mixes keys with and without the 'module.' prefix: {_few(bad)}")
    return {k[len("module.") :]: v for k, v in raw.items()}


def authors_correspondence_state_dict(raw: Mapping[str, torch.Tensor]) -> StateDict:
    """Keys of an authors' correspondence state dict rewritten to ``model.model.*`` / ``pd.*``.

    A leading ``module.`` is removed and a leading ``model.module.`` becomes ``model.`` (the
    reference's rule for files saved with the embedding wrapped in DataParallel).
    """
    out: StateDict = {}
    for k, v in raw.items():
        key = k[len("module.") :] if k.startswith("module.") else k
        if key.startswith("model.module."):
            key = "model." + key[len("model.module.") :]
        out[key] = v
    return out


def load_authors_pose_net(path: str | Path, cfg: PoseNetConfig | None = None, *, trusted: bool = False) -> PoseNet:
    """The authors' pose checkpoint in a :class:`PoseNet` (default config ``paper3``), strict, in eval mode."""
    cfg = cfg if cfg is not None else pose_config("paper3")
    state = authors_pose_state_dict(_authors_container(read_torch_file(path, trusted=trusted), path), path)
    model = PoseNet(cfg)
    load_state_dict_strict(model, state, path)
    return model.eval()


def load_authors_correspondence_net(
    path: str | Path, cfg: CorrespondenceNetConfig | None = None, *, trusted: bool = False
) -> CorrespondenceNet:
    """The authors' correspondence checkpoint in a :class:`CorrespondenceNet`, strict, in eval mode.

    The default config is ``paper`` with ``normalization="squared"`` (required by these weights);
    pass ``batchnorm="batch_stats"`` in ``cfg`` to reproduce the authors' tracking script.
    """
    cfg = cfg if cfg is not None else CorrespondenceNetConfig(normalization="squared")
    if cfg.normalization != "squared":
        raise CheckpointError(path, "the authors' correspondence weights need normalization='squared'")
    raw = _authors_container(read_torch_file(path, trusted=trusted), path)
    model = CorrespondenceNet(cfg)
    load_state_dict_strict(model, authors_correspondence_state_dict(raw), path)
    return model.eval()


def load_authors_embedding(
    path: str | Path, cfg: CorrespondenceNetConfig | None = None, *, trusted: bool = False
) -> SiameseEmbedding:
    """An authors' embedding-only checkpoint (keys ``model.*``, optionally ``module.``-prefixed), strict, eval mode."""
    cfg = cfg if cfg is not None else CorrespondenceNetConfig(normalization="squared")
    raw = _authors_container(read_torch_file(path, trusted=trusted), path)
    model = SiameseEmbedding(cfg)
    load_state_dict_strict(model, authors_pose_state_dict(raw, path), path)
    return model.eval()


# ------------------------------------------------------------------------------------ ImageNet


def load_imagenet_state_dict(path: str | Path, *, trusted: bool = False) -> StateDict:
    """The tensors of a BN-Inception ImageNet file (a bare state dict, or a dict with ``'state_dict'``)."""
    obj = read_torch_file(path, trusted=trusted)
    if isinstance(obj, Mapping) and "state_dict" in obj:
        obj = obj["state_dict"]
    return _tensor_dict(obj, path, "the ImageNet file")


def imagenet_sources(keys: Iterable[str], imagenet_keys: Iterable[str]) -> dict[str, str]:
    """Which ImageNet key fills each key of a network under the authors' rule (keys without a source are absent).

    The rule works on the keys of the network a constructor builds (before wrappers add a
    prefix): if ``pd`` occurs in the key, its first 4 characters (``pdN.``) are dropped and that
    ImageNet key is used if it exists; then, if the key itself is an ImageNet key, that one is used.
    """
    available = set(imagenet_keys)
    out: dict[str, str] = {}
    for key in keys:
        if "pd" in key and key[4:] in available:
            out[key] = key[4:]
        if key in available:
            out[key] = key
    return out


def imagenet_units(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The networks whose constructors apply the ImageNet rule, with their key prefix in ``model``."""
    if isinstance(model, CorrespondenceNet):
        return [("model.model.", model.model.model), ("pd.", model.pd)]
    if isinstance(model, SiameseEmbedding):
        return [("model.", model.model)]
    if isinstance(model, (PoseNet, InceptionEmbedding, InceptionDecoder)):
        return [("", model)]
    raise TypeError(f"no ImageNet initialisation rule for {type(model).__name__}")


def init_from_imagenet(
    model: nn.Module, imagenet: Mapping[str, torch.Tensor], source: str | Path = "<ImageNet state dict>"
) -> dict[str, str]:
    """Copy BN-Inception ImageNet tensors into ``model`` by the authors' rule; returns {model key: ImageNet key}.

    The stem and blocks 3b-5b of every decoder are filled; ``inception_31`` (the renamed 3a),
    ``Conv2dT_1`` and ``Conv2dT_2`` keep their initialisation. Shapes must match (so a ``width``
    other than 1 cannot be initialised from ImageNet).
    """
    filled: dict[str, str] = {}
    for prefix, unit in imagenet_units(model):
        own = unit.state_dict()
        mapping = imagenet_sources(own, imagenet)
        bad = [
            f"{k} {tuple(own[k].shape)} vs {src} {tuple(imagenet[src].shape)}"
            for k, src in mapping.items()
            if tuple(own[k].shape) != tuple(imagenet[src].shape)
        ]
        if bad:
            raise CheckpointError(
                source, f"{len(bad)} ImageNet tensors do not fit {type(unit).__name__}: {_few(bad, 2)}"
            )
        new = OrderedDict(own)
        for k, src in mapping.items():
            new[k] = imagenet[src].to(own[k].dtype)
        unit.load_state_dict(new, strict=True)
        filled.update({prefix + k: src for k, src in mapping.items()})
    return filled


# ----------------------------------------------------------------------------------- our format


def state_dict_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over keys, dtypes, shapes and bytes of the tensors, in order."""
    h = hashlib.sha256()
    for k, v in state.items():
        t = v.detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _config_of(model: nn.Module) -> PoseNetConfig | CorrespondenceNetConfig | None:
    cfg = getattr(model, "cfg", None)
    return cfg if isinstance(cfg, (PoseNetConfig, CorrespondenceNetConfig)) else None


def checkpoint_metadata(
    cfg: PoseNetConfig | CorrespondenceNetConfig,
    *,
    joint_layout: str,
    training_data: str,
    command: str,
    **extra: Any,
) -> dict[str, Any]:
    """The metadata of a bundled/trained checkpoint: config, input size, normalisation and provenance."""
    values = config_to_dict(cfg)
    meta: dict[str, Any] = {
        "config_type": values["type"],
        "config_name": cfg.name,
        "config": values["values"],
        "joint_layout": joint_layout,
        "training_data": training_data,
        "command": command,
    }
    if isinstance(cfg, PoseNetConfig):
        meta["input_size"] = [cfg.input_width, cfg.input_height]
        meta["normalization"] = None
    else:
        meta["input_size"] = [cfg.input_size, cfg.input_size]
        meta["normalization"] = cfg.normalization
    meta.update(extra)
    return meta


def save_checkpoint(
    path: str | Path,
    model: nn.Module | Mapping[str, torch.Tensor],
    metadata: Mapping[str, Any],
    *,
    half: bool = False,
) -> str:
    """Write ``model``'s weights and ``metadata`` atomically in our format; returns the sha256 of the tensors.

    ``metadata`` must hold ``joint_layout``, ``training_data`` and ``command`` (see
    :func:`checkpoint_metadata`); the config of a model with a ``cfg`` is added when absent.
    ``half`` stores floating tensors as float16 (loading casts them back to the model's dtype).
    """
    missing = [k for k in REQUIRED_METADATA if k not in metadata]
    if missing:
        raise ValueError(f"checkpoint metadata lacks {', '.join(missing)} (use checkpoint_metadata())")
    meta = dict(metadata)
    if isinstance(model, nn.Module):
        cfg = _config_of(model)
        if cfg is not None and "config" not in meta:
            meta = {
                **checkpoint_metadata(
                    cfg,
                    joint_layout=meta["joint_layout"],
                    training_data=meta["training_data"],
                    command=meta["command"],
                ),
                **meta,
            }
        state = model.state_dict()
    else:
        state = dict(model)
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for k, v in state.items():
        t = v.detach().cpu().clone()
        if half and t.is_floating_point():
            t = t.half()
        out[k] = t
    meta["dtype"] = "float16" if half else "float32"
    meta["sha256"] = state_dict_sha256(out)
    meta["torch_version"] = str(torch.__version__)
    with atomic_path(path) as tmp:
        torch.save(
            {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "metadata": meta, "state_dict": out}, tmp
        )
    return meta["sha256"]


def load_checkpoint(path: str | Path) -> tuple[StateDict, dict[str, Any]]:
    """``(state_dict, metadata)`` of a file written by :func:`save_checkpoint`; the sha256 is verified."""
    obj = read_torch_file(path)
    if not isinstance(obj, Mapping) or obj.get("format") != CHECKPOINT_FORMAT:
        hint = (
            " (an authors' file? use load_authors_pose_net / load_authors_correspondence_net)"
            if (isinstance(obj, Mapping) and "state_dict" in obj)
            else ""
        )
        raise CheckpointError(path, f"not a {CHECKPOINT_FORMAT} file{hint}")
    if obj.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(path, f"unsupported checkpoint version {obj.get('version')!r}")
    state = _tensor_dict(obj.get("state_dict"), path, "'state_dict'")
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        raise CheckpointError(path, "has no metadata dict")
    digest = state_dict_sha256(state)
    if meta.get("sha256") != digest:
        raise CheckpointError(path, f"sha256 mismatch (metadata {meta.get('sha256')}, tensors {digest}): file corrupt")
    return state, dict(meta)


def model_from_checkpoint(path: str | Path) -> Network:
    """Rebuild the network recorded in a checkpoint of our format, load its weights (float32), eval mode."""
    state, meta = load_checkpoint(path)
    kind = meta.get("config_type")
    values = meta.get("config")
    if not isinstance(values, Mapping):
        raise CheckpointError(path, "metadata has no config values")
    try:
        if kind == "PoseNetConfig":
            model: Network = PoseNet(PoseNetConfig(**values))
        elif kind == "CorrespondenceNetConfig":
            cfg = CorrespondenceNetConfig(**values)
            is_full = any(k.startswith("pd.") for k in state)
            model = CorrespondenceNet(cfg) if is_full else SiameseEmbedding(cfg)
        else:
            raise CheckpointError(path, f"unknown config type {kind!r}")
    except (TypeError, ValueError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(path, f"bad config in metadata: {str(exc).splitlines()[0]}") from None
    load_state_dict_strict(model, state, path, fill_counters=False)
    return model.eval()
