"""Training data that flows: on-the-fly samples (DataLoader-ready, deterministic) and the COCO export."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from corrtrack.errors import CorrtrackError
from corrtrack.synth import STANDARD_SPLITS, generate_dataset, generate_standard, make_specs
from corrtrack.synth.training_data import SynthTrackSamples, collate_samples, export_coco


def test_samples_are_deterministic_per_index_and_varied():
    data = SynthTrackSamples(50, mode="pair", size=(160, 96), seed=3, warmup=(0, 5))
    a, b = data[7], data[7]
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["image"].shape == (96, 160, 3) and a["image"].dtype == np.uint8
    assert a["keypoints"].shape[1:] == (17, 3) and a["ignore_mask"].shape == (96, 160)
    assert 1 <= int(a["gap"]) <= 3
    # the same people keep their ids from the first frame to the second
    assert set(a["track_ids"].tolist()) & set(a["track_ids2"].tolist())
    other = data[8]
    assert not np.array_equal(other["image"], a["image"])
    assert SynthTrackSamples(50, mode="pair", size=(160, 96), seed=4, warmup=(0, 5))[7]["image"].tobytes() != (
        a["image"].tobytes()
    )
    with pytest.raises(IndexError):
        data[50]
    with pytest.raises(ValueError, match="mode"):
        SynthTrackSamples(5, mode="video")


def test_samples_feed_a_torch_dataloader_and_synth_stays_torch_free():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    loader = DataLoader(
        SynthTrackSamples(4, presets=("easy",), size=(96, 64), warmup=(0, 2)), batch_size=2, collate_fn=collate_samples
    )
    batch = next(iter(loader))
    assert batch["image"].shape == (2, 64, 96, 3) and len(batch["keypoints"]) == 2
    assert torch.from_numpy(batch["image"]).dtype == torch.uint8
    code = "import sys, corrtrack.synth.training_data, corrtrack.synth; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_coco_export_reads_in_pycocotools(tmp_path):
    out = tmp_path / "set"
    generate_dataset(out, make_specs("train", ["medium", "hard"], 2, 6, 5, "all", 320, 180))
    counts = export_coco(out, "train", tmp_path / "coco.json", crops=tmp_path / "crops")
    assert counts["images"] == 12 and counts["persons"] > 20 and counts["crowd"] > 0
    doc = json.loads((tmp_path / "coco.json").read_text())
    person = next(a for a in doc["annotations"] if not a["iscrowd"])
    assert person["num_keypoints"] == sum(v == 2 for v in person["keypoints"][2::3]) > 0
    assert 0 < person["area"] <= person["bbox"][2] * person["bbox"][3]
    from corrtrack.video import read_image

    crop = read_image(tmp_path / "crops" / person["crop_file"])
    assert crop.shape[0] >= min(person["bbox"][3], 180) - 1
    coco_mod = pytest.importorskip("pycocotools.coco")
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    gt = coco_mod.COCO(str(tmp_path / "coco.json"))
    results = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
        for a in doc["annotations"]
        if not a["iscrowd"]
    ]
    ev = cocoeval.COCOeval(gt, gt.loadRes(results), "keypoints")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)
    with pytest.raises(CorrtrackError, match="no annotation files"):
        export_coco(out, "val", tmp_path / "x.json")


def test_standard_v2_1_is_bigger_than_v1_and_v1_v2_are_retired(tmp_path):
    v2 = STANDARD_SPLITS["synthtrack-v2.1"]
    assert v2["train"]["sequences"] * v2["train"]["frames"] >= 1440  # v1's train split
    assert v2["train"]["sequences"] > 24  # one world and one cast of people per sequence
    with pytest.raises(CorrtrackError, match="retired"):
        generate_standard(tmp_path / "v1", "synthtrack-v1")
    with pytest.raises(CorrtrackError, match="16e81de"):  # v2 is reproduced by checking out its commit
        generate_standard(tmp_path / "v2", "synthtrack-v2")


def test_two_worker_processes_write_the_same_data_set(tmp_path):
    specs = make_specs("val", ["easy", "hard"], 2, 3, 8, "all", 160, 96)
    generate_dataset(tmp_path / "one", specs)
    generate_dataset(tmp_path / "two", specs, workers=2)
    for path in sorted((tmp_path / "one").rglob("*")):
        if path.is_file() and path.suffix in (".json", ".jpg"):
            assert path.read_bytes() == (tmp_path / "two" / path.relative_to(tmp_path / "one")).read_bytes(), path
