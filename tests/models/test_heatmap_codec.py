"""Heatmap/offset targets, Eq. 1 decoding, flip-back and the pose losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from corrtrack.keypoints import POSETRACK18
from corrtrack.models.heatmap_codec import (
    CodecConfig,
    decode,
    decode_with_flip,
    encode,
    flip_back_heatmaps,
    split_output,
)
from corrtrack.models.pose_losses import PoseLossConfig, pose_loss, stage_loss

K = POSETRACK18.num_joints
GRID = (32, 24)  # (h, w) for a 96x128 input
W_IN, H_IN = 96, 128


def random_poses(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, K, 2, generator=g)
    return xy * torch.tensor([W_IN - 4.0, H_IN - 4.0])


@pytest.mark.parametrize("radius", [1.0, 3.0, 8.3, 25.0])
def test_round_trip_within_half_pixel(radius: float) -> None:
    kp = random_poses(6, seed=int(radius * 10))
    valid = torch.ones(6, K, dtype=torch.bool)
    t = encode(kp, valid, GRID, CodecConfig(radius=radius))
    xy, scores = decode(t.heatmaps, t.offsets[:, :K], t.offsets[:, K:])
    assert (xy - kp).abs().max() < 0.5
    assert torch.all(scores == 1)


def test_disk_is_exactly_the_cells_within_the_radius() -> None:
    cfg = CodecConfig(radius=6.0)
    kp = torch.tensor([[[10.3, 17.9], [50.0, 60.0], [95.0, 127.0]]])
    t = encode(kp, torch.ones(1, 3, dtype=torch.bool), GRID, cfg)
    h, w = GRID
    for j in range(3):
        for cy in range(h):
            for cx in range(w):
                d = np.hypot(4 * cx - kp[0, j, 0].item(), 4 * cy - kp[0, j, 1].item())
                assert bool(t.disk[0, j, cy, cx]) == (d <= 6.0)
                if d <= 6.0:
                    assert t.offsets[0, j, cy, cx].item() == pytest.approx(kp[0, j, 0].item() - 4 * cx, abs=1e-5)
                    assert t.offsets[0, 3 + j, cy, cx].item() == pytest.approx(kp[0, j, 1].item() - 4 * cy, abs=1e-5)
                else:
                    assert t.offsets[0, j, cy, cx] == 0 and t.offsets[0, 3 + j, cy, cx] == 0


def test_tiny_radius_keeps_the_nearest_cell_and_outside_joints_get_no_disk() -> None:
    kp = torch.tensor([[[10.0, 10.0], [-40.0, 10.0], [10.0, 500.0]]])
    t = encode(kp, torch.ones(1, 3, dtype=torch.bool), GRID, CodecConfig(radius=0.5))
    assert t.heatmaps[0, 0].sum() >= 1
    assert t.heatmaps[0, 0, 2:4, 2:4].sum() == t.heatmaps[0, 0].sum()  # 10 / 4 = 2.5: the cells 2 and 3
    assert t.heatmaps[0, 1:].sum() == 0  # far outside the crop: negatives only
    assert torch.equal(t.joint_weights, torch.ones(1, 3))  # but still supervised (the net must not fire)


def test_unannotated_and_nan_joints_are_masked() -> None:
    kp = random_poses(2)
    kp[1, 4] = float("nan")
    valid = torch.ones(2, K, dtype=torch.bool)
    valid[0, 3] = False
    t = encode(kp, valid, GRID, CodecConfig(radius=8.0))
    assert t.joint_weights[0, 3] == 0 and t.joint_weights[1, 4] == 0
    assert t.joint_weights.sum() == 2 * K - 2
    assert t.heatmaps[0, 3].sum() == 0 and t.heatmaps[1, 4].sum() == 0
    assert torch.isfinite(t.offsets).all()


def test_encode_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="keypoints must be"):
        encode(torch.zeros(2, K), torch.ones(2, K), GRID)
    with pytest.raises(ValueError, match="valid must be"):
        encode(torch.zeros(2, K, 2), torch.ones(3, K), GRID)
    with pytest.raises(ValueError, match="radius"):
        CodecConfig(radius=0)


def test_without_offsets_the_keypoint_is_the_cell_position() -> None:
    kp = random_poses(3, seed=5)
    t = encode(kp, torch.ones(3, K, dtype=torch.bool), GRID, CodecConfig(radius=1.0))
    xy, _ = decode(t.heatmaps, t.offsets[:, :K], t.offsets[:, K:], use_offsets=False)
    assert torch.all(xy % 4 == 0)
    err = (xy - kp).norm(dim=-1)
    assert err.max() <= 2 * np.sqrt(2) + 1e-4 and err.mean() > 0.5


def test_decode_is_batched_over_persons_and_joints() -> None:
    g = torch.Generator().manual_seed(3)
    prob = torch.rand(5, K, *GRID, generator=g)
    ox, oy = torch.randn(5, K, *GRID, generator=g), torch.randn(5, K, *GRID, generator=g)
    xy, sc = decode(prob, ox, oy)
    for n in range(5):
        for j in range(K):
            cy, cx = np.unravel_index(int(prob[n, j].argmax()), GRID)
            assert xy[n, j, 0].item() == pytest.approx(4 * cx + ox[n, j, cy, cx].item(), abs=1e-5)
            assert xy[n, j, 1].item() == pytest.approx(4 * cy + oy[n, j, cy, cx].item(), abs=1e-5)
            assert sc[n, j].item() == pytest.approx(prob[n, j].max().item())


def test_flip_back_mirrors_and_swaps_left_right() -> None:
    maps = torch.zeros(1, K, *GRID)
    left_shoulder, right_shoulder = POSETRACK18.index("left_shoulder"), POSETRACK18.index("right_shoulder")
    maps[0, left_shoulder, 7, 2] = 1.0
    maps[0, 0, 3, 5] = 1.0  # the nose keeps its channel
    back = flip_back_heatmaps(maps)
    assert back[0, right_shoulder, 7, GRID[1] - 1 - 2] == 1 and back[0, right_shoulder].sum() == 1
    assert back[0, 0, 3, GRID[1] - 1 - 5] == 1
    assert torch.equal(flip_back_heatmaps(back), maps)
    perm = POSETRACK18.flip_permutation
    assert perm.tolist() == [0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]  # method.md §2.3


def test_flip_test_score_is_the_mean_of_the_two_sigmoid_peaks() -> None:
    out = torch.full((1, 3 * K, *GRID), -8.0)
    out[:, K:] = 0.5  # offsets
    flipped = torch.full((1, 3 * K, *GRID), -8.0)
    j = POSETRACK18.index("left_wrist")
    jr = POSETRACK18.index("right_wrist")
    out[0, j, 10, 6] = 2.0
    flipped[0, jr, 10, GRID[1] - 1 - 6] = 0.0  # the mirrored crop sees the left wrist as a right wrist
    xy, score = decode_with_flip(out, flipped)
    assert score[0, j].item() == pytest.approx((torch.sigmoid(torch.tensor(2.0)) + 0.5).item() / 2)
    assert xy[0, j].tolist() == pytest.approx([4 * 6 + 0.5, 4 * 10 + 0.5])
    _, score1 = decode_with_flip(out)
    assert score1[0, j].item() == pytest.approx(torch.sigmoid(torch.tensor(2.0)).item())
    with pytest.raises(ValueError, match="flipped output"):
        decode_with_flip(out, flipped[:, :, :-1])


def test_split_output_checks_channels() -> None:
    with pytest.raises(ValueError, match="stage output"):
        split_output(torch.zeros(1, 50, 4, 4))


# ------------------------------------------------------------------ losses
def targets_for(n: int = 2, seed: int = 0):
    kp = random_poses(n, seed)
    valid = torch.ones(n, K, dtype=torch.bool)
    valid[:, 3:5] = False  # PoseTrack ears
    return encode(kp, valid, GRID, CodecConfig(radius=8.0))


def perfect_output(t) -> torch.Tensor:
    logits = torch.where(t.heatmaps > 0, torch.tensor(30.0), torch.tensor(-30.0))
    return torch.cat([logits, t.offsets], 1)


def test_losses_vanish_for_a_perfect_prediction_and_ignore_masked_joints() -> None:
    t = targets_for()
    out = perfect_output(t)
    heat, off = stage_loss(out, t)
    assert heat.item() < 1e-10 and off.item() == 0
    # anything in the channels of unannotated joints costs nothing
    noisy = out.clone()
    noisy[:, 3:5] = torch.randn_like(noisy[:, 3:5])
    noisy[:, K + 3 : K + 5] = 99.0
    noisy[:, 2 * K + 3 : 2 * K + 5] = -99.0
    heat2, off2 = stage_loss(noisy, t)
    assert heat2.item() < 1e-10 and off2.item() == 0
    # offsets outside the disks cost nothing either
    outside = out.clone()
    outside[:, K:][torch.cat([t.disk, t.disk], 1).logical_not()] = 123.0
    assert stage_loss(outside, t)[1].item() == 0


def test_loss_values_match_the_definitions() -> None:
    t = targets_for(seed=1)
    g = torch.Generator().manual_seed(0)
    out = torch.randn(2, 3 * K, *GRID, generator=g)
    heat, off = stage_loss(out, t, PoseLossConfig(offset_scale=8.0))
    keep = [j for j in range(K) if j not in (3, 4)]
    bce = torch.nn.functional.binary_cross_entropy_with_logits(out[:, keep], t.heatmaps[:, keep])
    assert heat.item() == pytest.approx(bce.item(), rel=1e-5)
    disk = t.disk[:, keep]
    dx = (out[:, K:][:, keep] - t.offsets[:, :K][:, keep])[disk].abs()
    dy = (out[:, 2 * K :][:, keep] - t.offsets[:, K:][:, keep])[disk].abs()
    assert off.item() == pytest.approx(torch.cat([dx, dy]).mean().item() / 8.0, rel=1e-5)


def test_every_stage_is_supervised() -> None:
    t = targets_for()
    outs = [torch.randn(2, 3 * K, *GRID, requires_grad=True) for _ in range(3)]
    total, parts = pose_loss(outs, t, PoseLossConfig(offset_weight=2.0))
    total.backward()
    assert all(o.grad is not None and o.grad.abs().sum() > 0 for o in outs)
    assert set(parts) == {f"{p}_{s}" for p in ("heatmap", "offset") for s in range(3)}
    expected = sum(parts[f"heatmap_{s}"] + 2.0 * parts[f"offset_{s}"] for s in range(3))
    assert total.item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="at least one"):
        pose_loss([], t)
    with pytest.raises(ValueError, match="do not match"):
        stage_loss(torch.zeros(2, 3 * K, 8, 8), t)
