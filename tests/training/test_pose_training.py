"""Pose training data (COCO, PoseTrack 2018 / SynthTrack readers, augmentation), the loop (resume, seeds,
outputs) and a 2-process DDP run under torch.distributed.run."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from corrtrack.errors import CorrtrackError
from corrtrack.formats import save_sequence
from corrtrack.inference.pose_estimator import load_pose_weights
from corrtrack.keypoints import COCO17, POSETRACK18
from corrtrack.poses import Frame, Poses, PoseSequence
from corrtrack.training.loop import LoopConfig, load_checkpoint
from corrtrack.training.metadata import validate_weights_metadata
from corrtrack.training.pose_data import (
    AugmentConfig,
    PoseCropDataset,
    coco_records,
    load_records,
    posetrack_records,
)
from corrtrack.training.pose_train import export_weights, run_train_pose, train_pose
from corrtrack.video import write_image

torch.set_num_threads(1)
K = 17


def person(rng: np.random.Generator, cx: float, cy: float) -> np.ndarray:
    xy = np.column_stack([rng.uniform(cx - 12, cx + 12, K), rng.uniform(cy - 25, cy + 25, K)])
    return np.concatenate([xy, np.ones((K, 1))], 1)


def draw(image: np.ndarray, kps: np.ndarray) -> None:
    for x, y, v in kps:
        if v > 0:
            image[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2] = 255


def write_posetrack(root: Path, split: str = "train", frames: int = 3) -> None:
    """A PoseTrack 2018 folder: two persons per frame, ears unannotated, tiny JPEGs."""
    rng = np.random.default_rng(0)
    name = "000001_mpiinew_test"
    fr = []
    for t in range(frames):
        kps = np.stack([person(rng, 30, 40), person(rng, 70, 45)])
        kps[:, 3:5] = 0
        image = np.zeros((90, 100, 3), np.uint8)
        draw(image, kps[0])
        file_name = f"images/{split}/{name}/{t:06d}.jpg"
        write_image(root / file_name, image)
        boxes = np.array([[15.0, 10.0, 30.0, 60.0], [55.0, 15.0, 30.0, 60.0]])
        heads = np.tile([0.0, 0.0, 10.0, 10.0], (2, 1))
        poses = Poses.create(kps, boxes=boxes, head_boxes=heads, track_ids=[0, 1], ids=[t * 2, t * 2 + 1])
        fr.append(Frame(file_name, poses, image_id=10_000_000_000 + t, is_labeled=True, ignore_regions=[]))
    save_sequence(PoseSequence(name, fr), root / "annotations" / split / f"{name}.json", "posetrack18")


def write_coco(root: Path, split: str = "train2017") -> Path:
    """A COCO keypoints file: a normal person, a crowd and a person without joints, tiny JPEGs."""
    rng = np.random.default_rng(1)
    names = list(COCO17.joints)
    images, anns = [], []
    for i in range(2):
        kp = person(rng, 40, 40)
        kp[:, 2] = 2
        kp[4] = 0  # right ear not labelled
        image = np.zeros((80, 90, 3), np.uint8)
        draw(image, kp)
        write_image(root / split / f"{i:012d}.jpg", image)
        images.append({"id": i + 1, "file_name": f"{i:012d}.jpg", "width": 90, "height": 80})
        anns.append(
            {
                "id": 10 + i,
                "image_id": i + 1,
                "category_id": 1,
                "iscrowd": 0,
                "bbox": [25.0, 10.0, 30.0, 60.0],
                "keypoints": kp.reshape(-1).tolist(),
                "num_keypoints": 16,
            }
        )
        anns.append(
            {
                "id": 20 + i,
                "image_id": i + 1,
                "category_id": 1,
                "iscrowd": 1,
                "bbox": [0.0, 0.0, 20.0, 20.0],
                "keypoints": kp.reshape(-1).tolist(),
                "num_keypoints": 16,
            }
        )
        anns.append(
            {
                "id": 30 + i,
                "image_id": i + 1,
                "category_id": 1,
                "iscrowd": 0,
                "bbox": [50.0, 10.0, 20.0, 40.0],
                "keypoints": [0] * 51,
                "num_keypoints": 0,
            }
        )
    doc = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": names, "skeleton": []}],
    }
    path = root / "annotations" / f"person_keypoints_{split}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc))
    return path


# ------------------------------------------------------------------ readers
def test_posetrack_reader_masks_unannotated_joints(tmp_path: Path) -> None:
    write_posetrack(tmp_path)
    rec = posetrack_records(tmp_path, "train")
    assert len(rec) == 6 and len(rec.images) == 3
    assert rec.keypoints.shape == (6, K, 3) and rec.boxes.shape == (6, 4)
    assert not rec.valid[:, 3:5].any() and rec.valid[:, 5:].all()
    assert all(Path(p).is_file() for p in rec.images)
    assert len(load_records(tmp_path, "train")) == 6  # auto-detected
    with pytest.raises(CorrtrackError, match="annotations/val"):
        posetrack_records(tmp_path, "val")


def test_coco_reader_maps_joints_by_name_and_skips_crowds(tmp_path: Path) -> None:
    path = write_coco(tmp_path)
    rec = coco_records(path)
    assert len(rec) == 2  # no crowd, no joint-less person
    hb, ht = POSETRACK18.index("head_bottom"), POSETRACK18.index("head_top")
    assert not rec.valid[:, [hb, ht]].any()  # COCO has no head_bottom/head_top: masked
    assert rec.valid[:, POSETRACK18.index("left_ear")].all() and not rec.valid[:, POSETRACK18.index("right_ear")].any()
    raw = json.loads(path.read_text())["annotations"][0]["keypoints"]
    ls = POSETRACK18.index("left_shoulder")
    assert (
        rec.keypoints[0, ls, :2].tolist()
        == raw[3 * COCO17.index("left_shoulder") : 3 * COCO17.index("left_shoulder") + 2]
    )
    assert np.array_equal(rec.boxes[0], [25.0, 10.0, 30.0, 60.0])
    assert len(load_records(tmp_path, "train2017")) == 2  # auto: COCO layout


def test_missing_image_is_a_clear_error(tmp_path: Path) -> None:
    write_posetrack(tmp_path)
    next((tmp_path / "images").rglob("*.jpg")).unlink()
    with pytest.raises(CorrtrackError, match="not found"):
        posetrack_records(tmp_path)


# -------------------------------------------------------------- augmentation
def test_augmented_keypoints_stay_on_their_pixels_and_flips_swap_sides(tmp_path: Path) -> None:
    write_posetrack(tmp_path)
    rec = posetrack_records(tmp_path)
    person0 = int(np.flatnonzero(rec.boxes[:, 0] == 15.0)[0])  # the drawn person
    strong = AugmentConfig(rotation_probability=1.0, flip_probability=0.5, brightness=0, contrast=0, saturation=0)
    ds = PoseCropDataset(rec, (96, 128), strong)
    flips = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        sample = ds.get(person0, rng)
        _, flipped = ds.transform(person0, np.random.default_rng(seed))
        flips += flipped
        img, xy, valid = sample["image"], sample["keypoints"], sample["valid"]
        assert img.shape == (3, 128, 96) and img.dtype == np.float32 and img.min() >= 0 and img.max() <= 1
        inside = valid & (xy[:, 0] >= 1) & (xy[:, 0] < 95) & (xy[:, 1] >= 1) & (xy[:, 1] < 127)
        for x, y in np.rint(xy[inside]).astype(int):
            assert img[0, y - 1 : y + 2, x - 1 : x + 2].max() > 0.5
        if flipped:  # ears (3, 4) stay masked; the left/right slots swap with the pixels
            assert not valid[3:5].any()
    assert 0 < flips < 8
    # same rng seed, same sample; no augmentation: the plain crop
    a = ds.get(0, np.random.default_rng(5))
    b = ds.get(0, np.random.default_rng(5))
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["keypoints"], b["keypoints"])
    plain = PoseCropDataset(rec, (96, 128), None).get(0)
    from corrtrack.inference.crops import crop_transforms, to_crop

    expected = to_crop(crop_transforms(rec.boxes[:1], (96, 128)), rec.keypoints[None, 0, :, :2])[0]
    assert np.allclose(plain["keypoints"], expected, atol=1e-4)


def test_flip_moves_left_joints_to_right_slots(tmp_path: Path) -> None:
    write_posetrack(tmp_path)
    rec = posetrack_records(tmp_path)
    ds = PoseCropDataset(
        rec, (96, 128), AugmentConfig(scale=0, rotation_probability=0, flip_probability=1, box_shift=0, box_scale=0)
    )
    flipped = ds.get(0, np.random.default_rng(0))["keypoints"]
    plain = PoseCropDataset(rec, (96, 128), None).get(0)["keypoints"]
    perm = POSETRACK18.flip_permutation
    assert np.allclose(flipped[:, 0], 95 - plain[perm, 0], atol=1e-4)
    assert np.allclose(flipped[:, 1], plain[perm, 1], atol=1e-4)


# ------------------------------------------------------------------- training
FAST = {"batch_size": 2, "log_every": 1, "warmup_steps": 1, "lr": 1e-3, "progress": False}


def params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_train_pose_writes_outputs_and_resumes_exactly(tmp_path: Path) -> None:
    write_posetrack(tmp_path / "data")
    full = train_pose("tiny", tmp_path / "data", tmp_path / "full", steps=4, checkpoint_every=4, **FAST)
    assert full.step == 4 and full.steps_this_run == 4
    for name in ("checkpoint.pt", "config.json", "history.json", "loss.png", "pose.pt"):
        assert (tmp_path / "full" / name).is_file(), name
    cfg = json.loads((tmp_path / "full" / "config.json").read_text())
    assert set(cfg) >= {"loop", "net", "train", "augment", "codec", "loss"}
    assert cfg["loop"]["values"]["steps"] == 4 and cfg["net"]["values"]["name"] == "tiny"
    assert cfg["loop"]["sources"]["steps"].startswith("our choice")
    assert [h["step"] for h in json.loads((tmp_path / "full" / "history.json").read_text())] == [1, 2, 3, 4]
    assert (tmp_path / "full" / "loss.png").read_bytes()[:4] == b"\x89PNG"
    model, meta = load_pose_weights(tmp_path / "full" / "pose.pt")
    assert meta["steps"] == 4 and model.cfg.name == "tiny"
    doc = export_weights(tmp_path / "full" / "pose.pt", tmp_path / "w16.pt", tmp_path / "w16.json", command="test")
    assert doc["sha256_file"] == hashlib.sha256((tmp_path / "w16.pt").read_bytes()).hexdigest()
    assert json.loads((tmp_path / "w16.json").read_text())["command"] == "test"
    validate_weights_metadata(tmp_path / "w16.json")
    assert doc["input_size"] == {"width": 96, "height": 128} and doc["joint_layout"]["joints"][1] == "head_bottom"
    assert (
        torch.load(tmp_path / "w16.pt", weights_only=False)["state_dict"]["conv1_7x7_s2.weight"].dtype == torch.float16
    )
    half, _ = load_pose_weights(tmp_path / "w16.pt")
    for key, value in model.state_dict().items():
        assert torch.allclose(half.state_dict()[key].float(), value.float(), rtol=1e-3, atol=1e-4), key

    # interrupted after 2 steps, then resumed: same step count, optimizer state and weights
    part = train_pose(
        "tiny", tmp_path / "data", tmp_path / "split", steps=4, checkpoint_every=4, max_steps_this_run=2, **FAST
    )
    assert part.step == 2 and not (tmp_path / "split" / "pose.pt").exists()
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt")["step"] == 2
    rest = train_pose("tiny", tmp_path / "data", tmp_path / "split", steps=4, checkpoint_every=4, **FAST)
    assert rest.step == 4 and rest.steps_this_run == 2
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert sa.keys() == sb.keys()
    for i in sa:
        assert torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) and sa[i]["step"] == sb[i]["step"]
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]

    # without resume an existing run is not overwritten
    with pytest.raises(CorrtrackError, match="exists"):
        train_pose("tiny", tmp_path / "data", tmp_path / "full", steps=4, resume=False, **FAST)


def test_train_pose_on_coco_and_bad_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_coco(tmp_path / "coco")
    result = train_pose("tiny", tmp_path / "coco", tmp_path / "out", split="train2017", steps=1, **FAST)
    assert result.step == 1 and (tmp_path / "out" / "pose.pt").is_file()
    # the CLI's entry point: NAME=VALUE settings, a summary line, exit status 0
    settings = ["split=train2017", "steps=1", "batch_size=2", "warmup_steps=0", "rotation=10"]
    assert run_train_pose("tiny", tmp_path / "coco", tmp_path / "cli", settings) == 0
    cfg = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert cfg["augment"]["values"]["rotation"] == 10 and cfg["train"]["values"]["split"] == "train2017"
    assert "trained tiny for 1 steps" in capsys.readouterr().out
    from corrtrack.config import ConfigError

    with pytest.raises(ConfigError, match="unknown setting 'stpes'"):
        train_pose("tiny", tmp_path / "coco", tmp_path / "x", settings=["stpes=3"])
    with pytest.raises(ConfigError, match="batch_size"):
        train_pose("tiny", tmp_path / "coco", tmp_path / "x", settings=["batch_size=zero"])
    with pytest.raises(CorrtrackError, match="not found"):
        train_pose("tiny", tmp_path / "nothing", tmp_path / "x")
    with pytest.raises(ValueError, match="steps"):
        LoopConfig(steps=0)


DDP_SCRIPT = """
import sys, torch
from corrtrack.training.pose_train import export_weights, run_train_pose, train_pose
r = train_pose("tiny", sys.argv[1], sys.argv[2], steps=2, batch_size=1, log_every=1, warmup_steps=1, progress=False)
print(f"rank {r.rank} of {r.world_size}: step {r.step}")
"""


def test_ddp_two_processes(tmp_path: Path) -> None:
    write_posetrack(tmp_path / "data")
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    proc = subprocess.run(
        [*cmd, str(script), str(tmp_path / "data"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rank 0 of 2: step 2" in proc.stdout and "rank 1 of 2: step 2" in proc.stdout
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files.count("checkpoint.pt") == 1 and "pose.pt" in files
    assert load_checkpoint(tmp_path / "out" / "checkpoint.pt")["step"] == 2
    assert load_pose_weights(tmp_path / "out" / "pose.pt")[1]["world_size"] == 2
