"""Decoded-frame shards: written once (in parallel), reused, and giving the very samples the JPEGs give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from corrtrack.errors import CorrtrackError
from corrtrack.synth.dataset import generate_dataset, make_specs
from corrtrack.synth.training_data import FrameShards, write_frame_shards
from corrtrack.training.detector_data import DetectorDataset, box_records
from corrtrack.training.detector_train import train_detector
from corrtrack.training.loop import load_checkpoint
from corrtrack.training.pose_data import PoseCropDataset, load_records
from corrtrack.video import read_image

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shards") / "synth"
    generate_dataset(out, make_specs("train", ["medium"], 2, 3, 5, "all", 192, 128))
    return out


def test_shards_hold_the_decoded_frames_and_are_reused(data: Path, tmp_path: Path) -> None:
    images = box_records(data).images
    shards = write_frame_shards(images, tmp_path / "s", shard_frames=4, workers=2)
    assert len(shards) == 6 and len(shards.shards) == 2
    for p in images:
        np.testing.assert_array_equal(shards.read(p), read_image(p))
    stamp = (tmp_path / "s" / "shards.json").stat().st_mtime_ns
    again = write_frame_shards(images[:3], tmp_path / "s")
    assert (tmp_path / "s" / "shards.json").stat().st_mtime_ns == stamp and len(again) == 6
    with pytest.raises(CorrtrackError, match="not in the frame shards"):
        FrameShards(tmp_path / "s").read("elsewhere.jpg")


def test_datasets_give_the_same_samples_from_shards(data: Path, tmp_path: Path) -> None:
    records = load_records(data)
    plain = PoseCropDataset(records, (48, 64))
    sharded = PoseCropDataset(records, (48, 64))
    sharded.reader = write_frame_shards(records.images, tmp_path / "s").read
    for i in range(3):
        a, b = plain.get(i, np.random.default_rng(i)), sharded.get(i, np.random.default_rng(i))
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    boxes = box_records(data)
    det, det_s = DetectorDataset(boxes, (64, 64)), DetectorDataset(boxes, (64, 64))
    det_s.reader = FrameShards(tmp_path / "s").read
    np.testing.assert_array_equal(
        det.get(1, np.random.default_rng(0))["image"], det_s.get(1, np.random.default_rng(0))["image"]
    )


def test_training_on_shards_equals_training_on_jpegs(data: Path, tmp_path: Path) -> None:
    opts = {"steps": 2, "batch_size": 2, "warmup_steps": 1, "progress": False}
    train_detector("micro", data, tmp_path / "jpeg", **opts)
    train_detector("micro", data, tmp_path / "shard", shards=str(tmp_path / "cache"), workers=1, **opts)
    assert (tmp_path / "cache" / "shards.json").is_file()
    a = load_checkpoint(tmp_path / "jpeg" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "shard" / "checkpoint.pt")["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
