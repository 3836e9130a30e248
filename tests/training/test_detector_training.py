"""Detector training: targets, augmentation, the trainer's outputs and an exact resume (tiny data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from corrtrack.config import ConfigError
from corrtrack.errors import CorrtrackError
from corrtrack.inference.detector import CenterNetDetector
from corrtrack.synth.dataset import generate_dataset, make_specs
from corrtrack.training.detector_data import DetectorAugmentConfig, DetectorDataset, box_records, encode_targets
from corrtrack.training.detector_train import (
    DetectorTrainConfig,
    detector_loss,
    export_detector_weights,
    train_detector,
)
from corrtrack.training.loop import load_checkpoint
from corrtrack.training.metadata import validate_weights_metadata

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("det") / "synth"
    generate_dataset(out, make_specs("train", ["medium"], 1, 4, 5, "all", 192, 128))
    return out


def test_box_records(tiny_data: Path) -> None:
    records = box_records(tiny_data, "train")
    assert len(records) == 4 and records.num_boxes > 0
    assert all(b.shape[1] == 4 and (b[:, 2:] > 0).all() for b in records.boxes)
    with pytest.raises(CorrtrackError, match="no annotations/val"):
        box_records(tiny_data, "val")


def test_encode_targets_peaks_sizes_and_ignore() -> None:
    cfg = DetectorAugmentConfig(max_objects=4)
    boxes = np.array([[8.0, 8.0, 16.0, 32.0], [40.0, 4.0, 8.0, 20.0]])
    t = encode_targets(boxes, np.array([[0.0, 48.0, 12.0, 12.0]]), [], (16, 16), 4, cfg)
    assert t["heatmap"].shape == (1, 16, 16) and t["mask"].tolist() == [1, 1, 0, 0]
    assert t["heatmap"][0, 6, 4] == 1.0 and t["heatmap"][0, 3, 11] == 1.0
    assert t["centres"][:2].tolist() == [6 * 16 + 4, 3 * 16 + 11]
    np.testing.assert_allclose(np.exp(t["size"][:2]) * 4, boxes[:, 2:], rtol=1e-6)
    np.testing.assert_allclose(t["offset"][:2], [[0.0, 0.0], [0.0, 0.5]], atol=1e-6)
    assert t["weight"][0, 12:15, 0:3].max() == 0 and t["weight"][0, 0, 15] == 1


def test_augmented_samples_are_reproducible_and_in_bounds(tiny_data: Path) -> None:
    ds = DetectorDataset(box_records(tiny_data, "train"), (64, 64))
    a = ds.get(1, np.random.default_rng(7))
    b = ds.get(1, np.random.default_rng(7))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert a["image"].shape == (3, 64, 64) and a["image"].dtype == np.float32
    assert (a["centres"] < 16 * 16).all() and (a["offset"] >= 0).all() and (a["offset"] <= 1).all()


def test_loss_is_small_for_perfect_outputs() -> None:
    cfg = DetectorAugmentConfig(max_objects=4)
    t = encode_targets(np.array([[8.0, 8.0, 16.0, 32.0]]), np.zeros((0, 4)), [], (16, 16), 4, cfg)
    batch = {k: torch.from_numpy(v)[None] for k, v in t.items()}
    heat = torch.where(batch["heatmap"] >= 1, 9.0, -9.0)
    size = torch.zeros(1, 2, 16, 16)
    offset = torch.zeros(1, 2, 16, 16)
    size.view(1, 2, -1)[0, :, int(t["centres"][0])] = torch.from_numpy(t["size"][0])
    perfect, _ = detector_loss({"heatmap": heat, "size": size, "offset": offset}, batch, DetectorTrainConfig())
    bad, _ = detector_loss({"heatmap": -heat, "size": size + 1, "offset": offset + 1}, batch, DetectorTrainConfig())
    assert perfect.item() < 0.01 < 1.0 < bad.item()


def test_train_outputs_and_exact_resume(tiny_data: Path, tmp_path: Path) -> None:
    opts = {"steps": 4, "batch_size": 2, "checkpoint_every": 2, "log_every": 1, "warmup_steps": 1, "progress": False}
    full = train_detector("micro", tiny_data, tmp_path / "full", **opts)
    assert full.step == 4 and np.isfinite(full.final_loss)
    for name in ("checkpoint.pt", "config.json", "history.json", "loss.png", "detector.pt"):
        assert (tmp_path / "full" / name).is_file()
    part = train_detector("micro", tiny_data, tmp_path / "part", max_steps_this_run=2, **opts)
    assert part.step == 2 and not (tmp_path / "part" / "detector.pt").exists()
    rest = train_detector("micro", tiny_data, tmp_path / "part", **opts)
    assert rest.step == 4 and rest.steps_this_run == 2
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "part" / "checkpoint.pt")["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    det = CenterNetDetector.from_checkpoint(tmp_path / "full" / "detector.pt")
    assert len(det.detect([np.zeros((128, 192, 3), np.uint8)])) == 1
    doc = export_detector_weights(
        tmp_path / "full" / "detector.pt", tmp_path / "w.pt", tmp_path / "w.json", command="x"
    )
    validate_weights_metadata(tmp_path / "w.json")
    assert doc["command"] == "x" and doc["input_size"] == {"width": 64, "height": 64}
    CenterNetDetector.from_checkpoint(tmp_path / "w.pt")


def test_bad_settings_are_one_line_errors(tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        train_detector("micro", tiny_data, tmp_path / "x", settings=["nonsense=1"])
    with pytest.raises(CorrtrackError, match="unknown detector config"):
        train_detector("gigantic", tiny_data, tmp_path / "x")
