"""Correspondence training: pair geometry, losses, the two phases, joint training, resume and unlabelled images."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from corrtrack.errors import CorrtrackError
from corrtrack.formats import save_sequence
from corrtrack.inference.correspondences import NetworkCorrespondences, letterbox_matrix, to_letterbox
from corrtrack.models.checkpoints import load_checkpoint
from corrtrack.models.correspondence_net import CorrespondenceNet, correspondence_config
from corrtrack.poses import Frame, Poses, PoseSequence
from corrtrack.training.corr_data import CorrPairDataset, PairConfig, RecordStills, estimated_records, make_pair
from corrtrack.training.corr_train import affinity_loss, export_bundled, init_from, refined_loss, train_corr
from corrtrack.training.metadata import validate_weights_metadata
from corrtrack.training.pose_data import load_records
from corrtrack.video import write_image

torch.set_num_threads(1)
K = 17
TINY = dataclasses.replace(correspondence_config("tiny"), input_size=64, width=0.0625)
FAST: dict[str, Any] = {"batch_size": 2, "warmup_steps": 0, "lr": 1e-3, "progress": False, "command": "pytest"}


def textured(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def person(rng: np.random.Generator, cx: float, cy: float) -> np.ndarray:
    xy = np.column_stack([rng.uniform(cx - 10, cx + 10, K), rng.uniform(cy - 20, cy + 20, K)])
    return np.concatenate([xy, np.ones((K, 1))], 1)


def write_posetrack(root: Path, frames: int = 3) -> Path:
    rng = np.random.default_rng(0)
    name = "000001_mpiinew_test"
    fr = []
    for t in range(frames):
        kps = np.stack([person(rng, 30, 40), person(rng, 70, 45)])
        kps[:, 3:5] = 0
        file_name = f"images/train/{name}/{t:06d}.png"
        write_image(root / file_name, textured(90, 100, t))
        boxes = np.array([[15.0, 10.0, 30.0, 60.0], [55.0, 15.0, 30.0, 60.0]])
        heads = np.tile([0.0, 0.0, 10.0, 10.0], (2, 1))
        poses = Poses.create(kps, boxes=boxes, head_boxes=heads, track_ids=[0, 1], ids=np.array([t * 2, t * 2 + 1]))
        fr.append(Frame(file_name, poses, image_id=10_000_000_000 + t, is_labeled=True, ignore_regions=[]))
    save_sequence(PoseSequence(name, fr), root / "annotations" / "train" / f"{name}.json", "posetrack18")
    return root


def still_pair(cfg: PairConfig, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    image = np.zeros((120, 200, 3), np.uint8)
    kp = person(rng, 100, 60)
    kp[3:5] = 0  # unannotated ears
    return image, kp, make_pair(image, kp, 128, cfg, np.random.default_rng(seed + 1))


def test_identity_pair_targets_are_the_query_cells() -> None:
    cfg = PairConfig(rotation=0, scale=1, translation=0, colour=0, blur_probability=0, occlusion_probability=0)
    _, kp, s = still_pair(cfg)
    np.testing.assert_array_equal(s["image_a"], s["image_b"])
    canvas = to_letterbox(kp[:, :2], letterbox_matrix(120, 200, 128))
    ann = kp[:, 2] > 0
    np.testing.assert_allclose(s["queries"][ann], np.floor(canvas[ann] / 4), atol=1e-5)
    np.testing.assert_array_equal(s["target"][ann], np.round(canvas[ann] / 4))
    assert np.isnan(s["queries"][3:5]).all()
    assert (s["refine_mask"] == ann).all() and (s["affinity_mask"] == ann).all()


def test_warped_targets_follow_the_image_content() -> None:
    """Bright dots at the joints of A land on the target cells of B (up to the 4-pixel grid)."""
    cfg = PairConfig(rotation=30, scale=1.3, translation=0.1, colour=0, blur_probability=0, occlusion_probability=0)
    rng = np.random.default_rng(3)
    for seed in range(4):
        image = np.zeros((120, 200, 3), np.uint8)
        kp = person(rng, 100, 60)
        j = 7
        x, y = kp[j, :2]
        image[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2] = 255
        kp[:, 2] = 0
        kp[j, 2] = 1
        kp[0] = [100, 60, 1]
        kp[1] = [102, 70, 1]
        kp[2] = [98, 50, 1]
        s = make_pair(image, kp, 128, cfg, np.random.default_rng(seed))
        if not s["affinity_mask"][j]:
            continue
        ys, xs = np.nonzero(s["image_b"][..., 0] > 40)
        spot = np.array([xs.mean(), ys.mean()])
        assert np.abs(spot - 4 * s["target"][j]).max() <= 2.5


def test_occluder_and_outside_targets_are_not_affinity_supervised() -> None:
    cfg = PairConfig(occlusion_probability=1.0, occlusion_size=1.0, translation=0.45, scale=2.0)
    masked = 0
    for seed in range(12):
        s = still_pair(cfg, seed)[2]
        ann = s["refine_mask"]
        assert not (s["affinity_mask"] & ~ann).any()
        assert (s["visible_b"] == s["affinity_mask"]).all()
        masked += int((ann & ~s["affinity_mask"]).sum())
    assert masked > 0


def test_losses() -> None:
    g = 8
    target = torch.tensor([[[2, 3], [5, 1]]])
    mask = torch.tensor([[True, False]])
    peaked = torch.full((1, 2, g, g), 1e-6)
    peaked[0, 0, 3, 2] = 1.0
    uniform = torch.full((1, 2, g, g), 1.0 / (g * g))
    assert float(affinity_loss(peaked, target, mask)) < 1e-5
    assert float(affinity_loss(uniform, target, mask)) == pytest.approx(np.log(g * g), rel=1e-5)
    visible = torch.tensor([[True, False]])
    good = torch.full((1, 2, g, g), -8.0)
    good[0, 0, 3, 2] = 8.0
    bad = good.clone()
    bad[0, 0, 3, 2] = -8.0
    bad[0, 0, 0, 0] = 8.0
    both = torch.tensor([[True, True]])
    assert float(refined_loss(good, target, visible, both, 0.5, 5.0)) < float(
        refined_loss(bad, target, visible, both, 0.5, 5.0)
    )
    # an occluded joint (not visible) wants an all-zero map: a peak there costs
    peak_on_hidden = good.clone()
    peak_on_hidden[0, 1, 1, 5] = 8.0
    assert float(refined_loss(peak_on_hidden, target, visible, both, 0.5, 5.0)) > float(
        refined_loss(good, target, visible, both, 0.5, 5.0)
    )


def test_two_phase_training_freezes_the_embedding_and_exports(tmp_path: Path) -> None:
    data = write_posetrack(tmp_path / "pt")
    out = tmp_path / "run"
    res = train_corr(TINY, data, out, embedding_steps=2, refiner_steps=2, **FAST)
    assert res.finished and res.weights == out / "corr.pt"
    for phase in ("phase1", "phase2"):
        for name in ("checkpoint.pt", "config.json", "history.json", "loss.png"):
            assert (out / phase / name).is_file()
    p1 = torch.load(out / "phase1" / "checkpoint.pt", weights_only=False)["model"]
    state, meta = load_checkpoint(out / "corr.pt")
    emb = {k[len("embedding.") :]: v for k, v in p1.items() if k.startswith("embedding.")}
    assert emb
    for k, v in emb.items():  # phase 2 left the embedding (weights and BN statistics) untouched
        torch.testing.assert_close(state["model." + k], v)
    torch.manual_seed(0)
    fresh = CorrespondenceNet(TINY).state_dict()
    trained = [k for k in fresh if k.startswith("pd.") and not torch.equal(fresh[k], state[k])]
    assert trained, "phase 2 did not train the refiner"
    assert any(not torch.equal(v, fresh["model." + k]) for k, v in emb.items()), "phase 1 did not train"
    assert meta["schedule"] == "two_phase" and meta["command"] == "pytest"
    assert "annotations" not in meta["training_data"] or "persons" in meta["training_data"]
    m = NetworkCorrespondences.from_checkpoint(out / "corr.pt")
    a = m.embed(textured(90, 100, 0))
    assert m.propagate(a, a, np.full((1, 17, 2), 40.0)).shape == (1, 17, 3)
    doc = export_bundled(out / "corr.pt", tmp_path / "w.pt", tmp_path / "w.json", wall_time_s=1.0)
    assert doc["wall_time_s"] == 1.0 and doc["config"]["values"]["normalization"] == "l2"
    validate_weights_metadata(tmp_path / "w.json")
    NetworkCorrespondences.from_checkpoint(tmp_path / "w.pt")


def test_resume_gives_the_same_weights(tmp_path: Path) -> None:
    data = write_posetrack(tmp_path / "pt")
    straight = train_corr(TINY, data, tmp_path / "a", embedding_steps=2, refiner_steps=1, **FAST)
    parts = [train_corr(TINY, data, tmp_path / "b", embedding_steps=2, refiner_steps=1, max_steps_this_run=1, **FAST)]
    assert not parts[0].finished and parts[0].weights is None
    while not parts[-1].finished:
        parts.append(
            train_corr(TINY, data, tmp_path / "b", embedding_steps=2, refiner_steps=1, max_steps_this_run=1, **FAST)
        )
        assert len(parts) < 8
    assert len(parts) == 3
    assert straight.weights is not None and parts[-1].weights is not None
    sa, _ = load_checkpoint(straight.weights)
    sb, _ = load_checkpoint(parts[-1].weights)
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0)


def test_joint_training(tmp_path: Path) -> None:
    data = write_posetrack(tmp_path / "pt")
    res = train_corr(TINY, data, tmp_path / "j", schedule="joint", steps=2, **FAST)
    assert res.finished and set(res.phases) == {"joint"}
    hist = res.phases["joint"].history
    assert {"affinity", "refined"} <= set(hist[-1])


class FakeEstimator:
    """Returns a fixed pose inside each box, with two joints below the score threshold."""

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> Poses:
        n = len(boxes)
        rng = np.random.default_rng(0)
        kp = np.stack([person(rng, b[0] + b[2] / 2, b[1] + b[3] / 2) for b in boxes]) if n else np.zeros((0, K, 3))
        scores = np.full((n, K), 0.9)
        scores[:, :2] = 0.1
        return Poses.create(kp, keypoint_scores=scores, boxes=boxes, scores=scores.mean(1) if n else None)


def test_unlabelled_images_with_a_pose_estimator(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    for i in range(3):
        write_image(folder / f"{i:03d}.png", textured(80, 100, i))
    recs = estimated_records(folder, FakeEstimator())
    assert len(recs) == 3 and not recs.valid[:, :2].any() and recs.valid[:, 2:].all()
    ds = CorrPairDataset(RecordStills(recs), 64)
    s = ds.get(0, np.random.default_rng(0))
    assert np.isnan(s["queries"][:2]).all() and not s["refine_mask"][:2].any()
    res = train_corr(
        TINY, folder, tmp_path / "u", data_format="images", estimator=FakeEstimator(), schedule="joint", steps=1, **FAST
    )
    assert res.finished
    with pytest.raises(CorrtrackError, match="pose estimator"):
        train_corr(TINY, folder, tmp_path / "v", data_format="images", schedule="joint", steps=1, **FAST)
    with pytest.raises(CorrtrackError, match="no images"):
        estimated_records(tmp_path / "pt_missing", FakeEstimator())


def test_record_stills_read_posetrack_persons(tmp_path: Path) -> None:
    recs = load_records(write_posetrack(tmp_path / "pt"), "train", "auto", min_joints=1)
    src = RecordStills(recs)
    image, kp = src.get(1, np.random.default_rng(0))
    assert image.shape == (90, 100, 3) and kp.shape == (1, 17, 3)
    assert (kp[0, 3:5] == 0).all() and (kp[0, 5:, 2] == 1).all()


def test_bad_settings_fail_in_one_line(tmp_path: Path) -> None:
    from corrtrack.config import ConfigError

    with pytest.raises(ConfigError, match="unknown setting"):
        train_corr(TINY, "synth", tmp_path / "x", settings=["no_such=1"], progress=False)
    with pytest.raises((CorrtrackError, ValueError)):
        train_corr(TINY, tmp_path / "nothing", tmp_path / "y", progress=False)


def test_fine_tuning_starts_from_a_checkpoint(tmp_path: Path) -> None:
    data = write_posetrack(tmp_path / "pt")
    first = train_corr(TINY, data, tmp_path / "a", embedding_steps=1, refiner_steps=1, **FAST)
    assert first.weights is not None
    torch.manual_seed(123)
    net = CorrespondenceNet(TINY)
    init_from(net, first.weights)
    source = NetworkCorrespondences.from_checkpoint(first.weights).net.state_dict()
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, source[k])
    tuned = train_corr(
        TINY, data, tmp_path / "b", embedding_steps=1, refiner_steps=1, init_weights=str(first.weights), **FAST
    )
    assert tuned.weights is not None
    _, meta = load_checkpoint(tuned.weights)
    assert str(first.weights) in str(meta["train_config"])
    with pytest.raises(CorrtrackError, match="does not match"):
        init_from(CorrespondenceNet(dataclasses.replace(TINY, width=0.125)), first.weights)


def test_fine_tuning_keeps_the_checkpoints_refiner_settings(tmp_path: Path) -> None:
    """Saved with refiner_affinity='peak', fine-tuned by preset name: stays 'peak' (same tensors, other maths)."""
    data = write_posetrack(tmp_path / "pt")
    peak = dataclasses.replace(TINY, refiner_affinity="peak")
    first = train_corr(peak, data, tmp_path / "a", embedding_steps=1, refiner_steps=1, **FAST)
    assert first.weights is not None
    tuned = train_corr(
        TINY.name, data, tmp_path / "b", embedding_steps=1, refiner_steps=1, init_weights=str(first.weights), **FAST
    )
    assert tuned.weights is not None
    assert NetworkCorrespondences.from_checkpoint(tuned.weights).net.cfg.refiner_affinity == "peak"
