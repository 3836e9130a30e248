"""One metadata schema for the bundled (and any exported) network weights, written and checked here.

Every weights file ``NAME.pt`` ships with ``NAME.json``, written by :func:`write_weights_metadata`
(the exporters of the pose, detector and correspondence trainers all call it) and checked by
:func:`validate_weights_metadata` (a test runs it on every bundled file). Schema version 1:

``schema``, ``schema_version``
    ``"corrtrack-weights-metadata"`` and ``1``.
``network``
    ``pose``, ``detector`` or ``correspondence``.
``weights``, ``bytes``, ``sha256_file``, ``sha256_tensors``, ``dtype``, ``parameters``
    The file's name and size, the sha256 of its bytes and of its tensors as stored
    (:func:`corrtrack.models.checkpoints.state_dict_sha256`), the stored dtype, the parameter count.
``config``
    The network config as ``{"type", "values", "sources"}`` (:func:`corrtrack.config.config_to_dict`).
``input_size``
    ``{"width", "height"}`` of the network input in pixels.
``normalisation``
    How pixels become the network's input.
``joint_layout``
    ``{"name", "joints"}`` (the detector: ``{"name": "none", "joints": []}``).
``training_data``, ``command``, ``wall_time_s``, ``device``
    What it was trained on, the command(s) that trained it, the wall time of the whole training in
    seconds, and the device (hardware, threads, load).
``training``
    Everything else about the training (steps, batch size, losses, validation numbers, notes).
``notes``
    Free-form facts about input and output (letterbox, output heads).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NoReturn

import torch

from corrtrack.config import config_to_dict
from corrtrack.errors import CorrtrackError
from corrtrack.fileio import read_json, write_json
from corrtrack.keypoints import POSETRACK18
from corrtrack.models.checkpoints import state_dict_sha256

__all__ = [
    "METADATA_SCHEMA",
    "METADATA_VERSION",
    "NETWORKS",
    "REQUIRED_FIELDS",
    "validate_weights_metadata",
    "weights_metadata",
    "write_weights_metadata",
]

METADATA_SCHEMA = "corrtrack-weights-metadata"
METADATA_VERSION = 1
Network = Literal["pose", "detector", "correspondence"]
NETWORKS: tuple[str, ...] = ("pose", "detector", "correspondence")

#: field -> the Python type(s) its value must have
REQUIRED_FIELDS: dict[str, tuple[type, ...]] = {
    "schema": (str,),
    "schema_version": (int,),
    "network": (str,),
    "weights": (str,),
    "bytes": (int,),
    "sha256_file": (str,),
    "sha256_tensors": (str,),
    "dtype": (str,),
    "parameters": (int,),
    "config": (dict,),
    "input_size": (dict,),
    "normalisation": (str,),
    "joint_layout": (dict,),
    "training_data": (str,),
    "command": (str,),
    "wall_time_s": (int, float),
    "device": (str,),
    "training": (dict,),
    "notes": (dict,),
}


def _stored_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file as stored (our checkpoint format or the detector's format)."""
    from corrtrack.models.checkpoints import read_torch_file

    doc = read_torch_file(path)
    state = doc.get("state_dict") if isinstance(doc, Mapping) else None
    if not isinstance(state, Mapping):
        raise CorrtrackError(f"{path}: no 'state_dict' in the weights file")
    return dict(state)


def _joint_layout(network: str) -> dict[str, Any]:
    if network == "detector":
        return {"name": "none", "joints": []}
    return {"name": POSETRACK18.name, "joints": list(POSETRACK18.joints)}


def weights_metadata(
    network: Network,
    model: torch.nn.Module,
    weights: str | Path,
    *,
    input_size: tuple[int, int],
    normalisation: str,
    training_data: str,
    command: str,
    wall_time_s: float,
    device: str,
    training: Mapping[str, Any] | None = None,
    notes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The metadata document of the written weights file ``weights`` holding ``model`` (``model.cfg``)."""
    if network not in NETWORKS:
        raise ValueError(f"network must be one of {NETWORKS}, got {network!r}")
    path = Path(weights)
    tensors = _stored_tensors(path)
    dtypes = sorted({str(t.dtype).replace("torch.", "") for t in tensors.values() if t.is_floating_point()})
    stored = "/".join(dtypes) or "none"
    return {
        "schema": METADATA_SCHEMA,
        "schema_version": METADATA_VERSION,
        "network": network,
        "weights": path.name,
        "bytes": path.stat().st_size,
        "sha256_file": hashlib.sha256(path.read_bytes()).hexdigest(),
        "sha256_tensors": state_dict_sha256(tensors),
        "dtype": stored + (" (loaded as float32)" if stored != "float32" else ""),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "config": config_to_dict(model.cfg),
        "input_size": {"width": int(input_size[0]), "height": int(input_size[1])},
        "normalisation": normalisation,
        "joint_layout": _joint_layout(network),
        "training_data": training_data,
        "command": command,
        "wall_time_s": float(wall_time_s),
        "device": device,
        "training": dict(training or {}),
        "notes": dict(notes or {}),
    }


def write_weights_metadata(path: str | Path, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``doc`` against its weights file (beside ``path``) and write it atomically."""
    weights = Path(path).parent / str(doc.get("weights", ""))
    validate_weights_metadata(dict(doc), weights, source=str(path))
    write_json(path, dict(doc), indent=1)
    return dict(doc)


def validate_weights_metadata(
    doc: Mapping[str, Any] | str | Path, weights: str | Path | None = None, *, source: str | None = None
) -> None:
    """Check a metadata document (or JSON file) against the schema and, with ``weights``, against the file.

    Raises :class:`CorrtrackError` with one line naming the file and the first problem.
    """
    if isinstance(doc, Mapping):
        loaded: Any = doc
    else:
        source = source or str(doc)
        weights = weights if weights is not None else Path(doc).with_suffix(".pt")
        loaded = read_json(doc)
    where = source or "metadata"

    def fail(problem: str) -> NoReturn:
        raise CorrtrackError(f"{where}: {problem}")

    if not isinstance(loaded, Mapping):
        fail("not a JSON object")
    doc = loaded
    missing = [k for k in REQUIRED_FIELDS if k not in doc]
    if missing:
        fail(f"missing fields: {', '.join(missing)}")
    for key, types in REQUIRED_FIELDS.items():
        value = doc[key]
        if isinstance(value, bool) or not isinstance(value, types):
            fail(f"field {key!r} must be {'/'.join(t.__name__ for t in types)}, got {type(value).__name__}")
    extra = sorted(set(doc) - set(REQUIRED_FIELDS))
    if extra:
        fail(f"unknown top-level fields (put them under 'training' or 'notes'): {', '.join(extra)}")
    if doc["schema"] != METADATA_SCHEMA or doc["schema_version"] != METADATA_VERSION:
        fail(f"schema {doc['schema']!r} version {doc['schema_version']!r}; expected {METADATA_SCHEMA} v1")
    if doc["network"] not in NETWORKS:
        fail(f"network {doc['network']!r} is not one of {', '.join(NETWORKS)}")
    cfg = doc["config"]
    if not isinstance(cfg.get("type"), str) or not isinstance(cfg.get("values"), Mapping):
        fail("config needs 'type' and 'values'")
    size = doc["input_size"]
    if sorted(size) != ["height", "width"] or not all(isinstance(v, int) and v > 0 for v in size.values()):
        fail(f"input_size must be {{'width': int, 'height': int}}, got {size}")
    layout = doc["joint_layout"]
    if not isinstance(layout.get("name"), str) or not isinstance(layout.get("joints"), list):
        fail("joint_layout needs 'name' and 'joints'")
    for key in ("training_data", "command", "device", "normalisation"):
        if not doc[key].strip():
            fail(f"field {key!r} is empty")
    if doc["wall_time_s"] <= 0:
        fail("wall_time_s must be > 0")
    if weights is None:
        return
    path = Path(weights)
    if path.name != doc["weights"]:
        fail(f"names weights {doc['weights']!r}, not {path.name!r}")
    if not path.is_file():
        fail(f"weights file {path} not found")
    if path.stat().st_size != doc["bytes"]:
        fail(f"bytes {doc['bytes']} but {path.name} has {path.stat().st_size}")
    if hashlib.sha256(path.read_bytes()).hexdigest() != doc["sha256_file"]:
        fail(f"sha256_file does not match {path.name}")
    tensors = _stored_tensors(path)
    if state_dict_sha256(tensors) != doc["sha256_tensors"]:
        fail(f"sha256_tensors does not match the tensors of {path.name}")
