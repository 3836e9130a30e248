"""Every bundled weights file has metadata in the one schema (corrtrack.training.metadata), matching the file."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from corrtrack.errors import CorrtrackError
from corrtrack.inference.pose_estimator import load_pose_weights
from corrtrack.models.checkpoints import model_from_checkpoint
from corrtrack.models.detector_net import load_detector_weights
from corrtrack.training.metadata import REQUIRED_FIELDS, validate_weights_metadata

DATA = Path(str(resources.files("corrtrack") / "data"))
BUNDLED = sorted(DATA.glob("*.pt"))


def test_every_weights_file_has_metadata() -> None:
    assert [p.name for p in BUNDLED] == ["corr_tiny.pt", "detector_tiny.pt", "pose_tiny.pt"]
    assert sorted(p.name for p in DATA.glob("*.json")) == [p.with_suffix(".json").name for p in BUNDLED]


@pytest.mark.parametrize("weights", BUNDLED, ids=lambda p: p.stem)
def test_bundled_metadata_follows_the_schema_and_matches_the_file(weights: Path) -> None:
    meta = weights.with_suffix(".json")
    validate_weights_metadata(meta)  # schema, sizes and both sha256s
    doc = json.loads(meta.read_text())
    assert list(doc) == list(REQUIRED_FIELDS)
    assert weights.stat().st_size <= 10 * 2**20
    if doc["network"] == "pose":
        model = load_pose_weights(weights)[0]
        size = (model.cfg.input_width, model.cfg.input_height)
    elif doc["network"] == "detector":
        model = load_detector_weights(weights)[0]
        size = (model.cfg.input_width, model.cfg.input_height)
    else:
        model = model_from_checkpoint(weights)
        size = (model.cfg.input_size, model.cfg.input_size)
    assert doc["parameters"] == sum(p.numel() for p in model.parameters())
    assert doc["config"]["values"]["name"] == model.cfg.name
    assert (doc["input_size"]["width"], doc["input_size"]["height"]) == size
    assert doc["wall_time_s"] > 0 and doc["device"] and doc["command"] and doc["training_data"]


def test_validation_names_the_file_and_the_problem(tmp_path: Path) -> None:
    source = DATA / "detector_tiny.json"
    doc = json.loads(source.read_text())
    (tmp_path / "detector_tiny.pt").write_bytes((DATA / "detector_tiny.pt").read_bytes())
    cases = {
        "missing fields: device": {k: v for k, v in doc.items() if k != "device"},
        "sha256_file does not match": {**doc, "sha256_file": "0" * 64},
        "unknown top-level fields": {**doc, "hardware": "x"},
        "'bytes' must be int": {**doc, "bytes": "146251"},
        "input_size": {**doc, "input_size": [320, 192]},
    }
    for problem, bad in cases.items():
        path = tmp_path / "detector_tiny.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(CorrtrackError, match=problem) as info:
            validate_weights_metadata(path)
        assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
