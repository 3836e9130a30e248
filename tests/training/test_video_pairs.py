"""Correspondence training on SynthTrack video pairs: true targets, "no match" for hidden joints, the mix option."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from corrtrack.errors import CorrtrackError
from corrtrack.inference.correspondences import STRIDE, letterbox_matrix, to_letterbox
from corrtrack.synth.dataset import generate_dataset, make_specs
from corrtrack.training.corr_data import (
    CorrPairDataset,
    MixedPairs,
    RecordStills,
    VideoPairDataset,
    video_pair,
    video_persons,
)
from corrtrack.training.corr_train import train_corr
from corrtrack.training.pose_data import load_records

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("video") / "synth"
    generate_dataset(out, make_specs("train", ["hard"], 2, 6, 3, "all", 192, 128))
    return out


def test_video_pairs_target_the_same_person_in_the_other_frame(data: Path) -> None:
    persons = video_persons(data)
    ds = VideoPairDataset(persons, 64, max_gap=3)
    for i in range(0, len(ds), max(1, len(ds) // 12)):
        s, t, p = persons.entries[i]
        pair = ds.get(i, np.random.default_rng(i))
        gap = int(pair["gap"])
        assert 1 <= gap <= 3
        # the frame the target comes from: the one at that gap holding the same track
        frames = [u for u in (t + gap, t - gap) if 0 <= u < len(persons.images[s])]
        track = persons.track_ids[s][t, p]
        m = letterbox_matrix(128, 192, 64)
        ok = False
        for u in frames:
            slot = np.flatnonzero(persons.track_ids[s][u] == track)
            kp = persons.keypoints[s][u, slot[0]] if len(slot) else np.zeros((17, 3))
            want = np.clip(np.round(to_letterbox(kp[:, :2], m) / STRIDE), 0, 15)
            shown = kp[:, 2] > 0
            vis = pair["visible_b"]
            if (vis <= shown).all() and np.array_equal(pair["target"][vis], want[vis]):
                ok = True
        assert ok, i
        # hidden joints: supervised as "no match" (refined map all zero), never by the affinity loss
        assert (pair["affinity_mask"] == pair["visible_b"]).all() and (pair["visible_b"] <= pair["refine_mask"]).all()


def test_hidden_and_absent_joints_get_no_match() -> None:
    img = np.zeros((64, 64, 3), np.uint8)
    kp_a = np.zeros((17, 3))
    kp_a[:, :2], kp_a[:, 2] = 30.0, 1.0
    kp_b = kp_a.copy()
    kp_b[:5, 2] = 0  # hidden in B
    kp_b[5, :2] = 500.0  # outside B
    pair = video_pair(img, img, kp_a, kp_b, 64)
    assert pair["refine_mask"].all() and not pair["visible_b"][:6].any() and pair["visible_b"][6:].all()
    gone = video_pair(img, img, kp_a, None, 64)  # the person left the frame
    assert gone["refine_mask"].all() and not gone["visible_b"].any()


def test_mix_and_training_on_video_pairs(data: Path, tmp_path: Path) -> None:
    stills = CorrPairDataset(RecordStills(load_records(data, min_joints=1)), 64)
    video = VideoPairDataset(video_persons(data), 64)
    mix = MixedPairs(stills, video, 0.5)
    gaps = [int(mix.get(i, np.random.default_rng(i))["gap"]) for i in range(20)]
    assert 0 in gaps and any(g > 0 for g in gaps)
    opts = {"embedding_steps": 2, "refiner_steps": 1, "batch_size": 2, "warmup_steps": 1, "progress": False}
    net = "tiny"
    result = train_corr(net, data, tmp_path / "mix", pairs="mix", **opts)
    assert result.finished and result.weights is not None and result.weights.is_file()
    with pytest.raises(CorrtrackError, match="needs a SynthTrack"):
        train_corr(net, "synth", tmp_path / "x", pairs="video", **opts)


def test_visibility_phase_trains_only_the_head(data: Path, tmp_path: Path) -> None:
    """visibility_steps (#23): a third phase on a finished net; 0-step phases are skipped, so every tensor
    but the new visibility.* ones stays the initial checkpoint's."""
    from corrtrack.models.checkpoints import model_from_checkpoint

    opts = {"batch_size": 2, "warmup_steps": 1, "progress": False}
    base = train_corr("tiny", data, tmp_path / "base", pairs="video", embedding_steps=2, refiner_steps=1, **opts)
    result = train_corr(
        "tiny",
        data,
        tmp_path / "head",
        pairs="video",
        init_weights=str(base.weights),
        embedding_steps=0,
        refiner_steps=0,
        visibility_steps=3,
        **opts,
    )
    assert list(result.phases) == ["phase3"] and result.phases["phase3"].step == 3
    before, after = model_from_checkpoint(base.weights), model_from_checkpoint(result.weights)
    assert not before.cfg.visibility_head and after.cfg.visibility_head
    old, new = before.state_dict(), after.state_dict()
    assert all(torch.equal(old[k], new[k]) for k in old)
    assert sorted({k.split(".")[0] for k in set(new) - set(old)}) == ["visibility"]
    assert "visible_share" in result.phases["phase3"].history[-1]
