"""The inference form of the networks (issue 25 points 1, 2 and 4): BN folded, channels-last, bf16, device, syncs.

The golden checks use /work/shared/reference (skipped without it) and the same tolerance as
test_pose_net_reference.py and test_correspondence_net_reference.py (1e-4 of the largest value).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from conftest import shared_path
from corrtrack.errors import CorrtrackError
from corrtrack.inference.correspondences import NetworkCorrespondences
from corrtrack.inference.pose_estimator import PoseEstimatorConfig, TopDownPoseEstimator
from corrtrack.models.backbone import (
    StatsBatchNorm2d,
    fold_batchnorm,
    is_channels_last,
    prepare_for_inference,
    resolve_device,
)
from corrtrack.models.correspondence_net import CorrespondenceNet, CorrespondenceNetConfig, correspondence_config
from corrtrack.models.pose_net import PoseNet, pose_config

torch.set_num_threads(1)


def rel(ours: torch.Tensor, golden: np.ndarray) -> float:
    return float(np.abs(ours.detach().float().numpy() - golden).max() / np.abs(golden).max())


def randomise_bn(net: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine parameters (fresh BNs fold to the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, StatsBatchNorm2d):
                assert m.running_mean is not None and m.running_var is not None
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
    return net.eval()


def tiny_pose(seed: int = 0) -> PoseNet:
    torch.manual_seed(seed)
    return randomise_bn(PoseNet(pose_config("tiny")), seed)  # type: ignore[return-value]


def tiny_corr(seed: int = 0, **cfg: Any) -> CorrespondenceNet:
    torch.manual_seed(seed)
    return randomise_bn(CorrespondenceNet(correspondence_config("tiny").__class__(**{**TINY_CORR, **cfg})), seed)  # type: ignore[return-value]


TINY_CORR = {"name": "tiny", "input_size": 128, "width": 0.125}


def count_bn(net: nn.Module) -> int:
    return sum(isinstance(m, StatsBatchNorm2d) for m in net.modules())


def image(seed: int = 0, h: int = 120, w: int = 160) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------------- folding
def test_folding_removes_every_running_stats_bn_and_keeps_the_outputs() -> None:
    net = tiny_pose()
    before = count_bn(net)
    run = prepare_for_inference(net, channels_last=False)
    assert count_bn(run) == 0 and count_bn(net) == before > 0  # the original keeps its BNs and keys
    x = torch.rand(2, 3, 128, 96)
    with torch.no_grad():
        for a, b in zip(net(x), run(x)):
            assert float((a - b).abs().max() / a.abs().max()) < 1e-5
    assert fold_batchnorm(run) == 0  # folding again finds nothing


def test_batch_statistics_bns_are_not_folded() -> None:
    net = tiny_corr(batchnorm="batch_stats")
    run = prepare_for_inference(net)
    assert count_bn(run) == count_bn(net)  # 'batch' and 'sample' statistics depend on the input
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(tiny_pose().train())


def test_pose_golden_with_folding_and_channels_last() -> None:
    from reference_weights import POSE_INPUT_SEED, fill_layout, load_layout, reference_input

    layout = load_layout(shared_path("reference", "layouts", "pose_net_2stage.json"))
    net = PoseNet(pose_config("paper"))
    net.load_state_dict(fill_layout(layout), strict=True)
    run = prepare_for_inference(net.eval())
    assert count_bn(run) == 0
    golden = np.load(shared_path("reference", "golden", "pose_2stage.npz"))
    with torch.inference_mode():
        out = run(reference_input(POSE_INPUT_SEED, (1, 3, 384, 288)))
    assert is_channels_last(out[1])
    for k in range(2):
        assert rel(out[k], golden[f"stage{k}"]) <= 1e-4


def test_correspondence_golden_with_folding_and_channels_last() -> None:
    from reference_weights import (
        SIAMESE_INPUT_A_SEED,
        SIAMESE_INPUT_B_SEED,
        fill_layout,
        load_layout,
        reference_input,
        reference_queries_xy,
    )

    layout = load_layout(shared_path("reference", "layouts", "siamese_refinement.json"))
    net = CorrespondenceNet(CorrespondenceNetConfig(normalization="squared"))
    net.load_state_dict(fill_layout(layout), strict=True)
    run = prepare_for_inference(net.eval())
    assert count_bn(run) == 0
    a = reference_input(SIAMESE_INPUT_A_SEED, (1, 3, 512, 512))
    b = reference_input(SIAMESE_INPUT_B_SEED, (1, 3, 512, 512))
    emb = np.load(shared_path("reference", "golden", "siamese_embeddings.npz"))
    refined = np.load(shared_path("reference", "golden", "siamese_corr_refined.npz"))
    with torch.inference_mode():
        eA, eB = run.embed(a), run.embed(b)
        corr = run.correlate(eA, eB, reference_queries_xy())
        out = run.refine(eA, eB, corr)
    keys = sorted(emb.files)
    assert rel(eA, emb[keys[0]]) <= 1e-4 and rel(eB, emb[keys[1]]) <= 1e-4
    assert rel(corr, refined["corr"]) <= 1e-4
    assert rel(out, refined["refined"]) <= 1e-4


# -------------------------------------------------------------------------------- channels-last
def conv_inputs(module: nn.Module) -> list[bool]:
    """Attach hooks that record, for every convolution call, whether its input is channels-last."""
    seen: list[bool] = []
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            m.register_forward_pre_hook(lambda mod, inp: seen.append(is_channels_last(inp[0])))
    return seen


@pytest.mark.parametrize("channels_last", [True, False])
def test_pose_estimator_runs_channels_last_end_to_end(channels_last: bool) -> None:
    est = TopDownPoseEstimator(tiny_pose(), PoseEstimatorConfig(channels_last=channels_last))
    seen = conv_inputs(est.runner)
    est.estimate(image(), np.array([[10.0, 5, 40, 90], [70, 20, 50, 80]]))
    assert len(seen) > 50
    # every convolution sees NHWC memory; with the layout off (what a stray .contiguous() gives) none does
    assert all(seen) if channels_last else not any(seen)
    assert is_channels_last(est.crop_batch(np.zeros((2, 128, 96, 3), np.uint8))) == channels_last


@pytest.mark.parametrize("refinement", ["full", "windowed"])
def test_correspondences_run_channels_last_end_to_end(refinement: str) -> None:
    m = NetworkCorrespondences(tiny_corr(), refinement=refinement, window_margin=2)
    seen = conv_inputs(m.runner)
    ea, eb = m.embed(image(1)), m.embed(image(2))
    pts = np.random.default_rng(0).uniform(20, 100, (3, 17, 2))
    m.propagate(ea, eb, pts)
    assert len(seen) > 50 and all(seen)
    plain = NetworkCorrespondences(m.net, refinement=refinement, window_margin=2, channels_last=False)
    seen_plain = conv_inputs(plain.runner)
    got = plain.propagate(plain.embed(image(1)), plain.embed(image(2)), pts)
    np.testing.assert_allclose(got[..., :2], m.propagate(ea, eb, pts)[..., :2])
    assert not all(seen_plain)  # without the explicit layout the embedding runs NCHW


# ----------------------------------------------------------------------------- exact vs original
def test_estimator_outputs_equal_the_unfolded_network() -> None:
    net = tiny_pose(3)
    boxes = np.array([[10.0, 5, 40, 90], [70, 20, 50, 80], [0, 0, 30, 30]])
    fast = TopDownPoseEstimator(net).estimate(image(4), boxes)
    plain = TopDownPoseEstimator(net, PoseEstimatorConfig(fold_batchnorm=False, channels_last=False))
    ref = plain.estimate(image(4), boxes)
    assert count_bn(plain.runner) == count_bn(net)
    np.testing.assert_allclose(fast.keypoints, ref.keypoints, atol=1e-3)
    np.testing.assert_allclose(fast.keypoint_scores, ref.keypoint_scores, atol=1e-5)


def test_bf16_precision_stays_close() -> None:
    net = tiny_pose(5)
    boxes = np.array([[10.0, 5, 40, 90], [70, 20, 50, 80]])
    exact = TopDownPoseEstimator(net).estimate(image(6), boxes)
    bf16 = TopDownPoseEstimator(net, PoseEstimatorConfig(precision="bf16")).estimate(image(6), boxes)
    assert bf16.keypoint_scores.dtype == np.float64
    assert np.abs(bf16.keypoint_scores - exact.keypoint_scores).max() < 0.05
    corr = tiny_corr(6)
    pts = np.random.default_rng(1).uniform(20, 100, (2, 17, 2))
    outs = []
    for precision in ("fp32", "bf16"):
        m = NetworkCorrespondences(corr, precision=precision)
        outs.append(m.confidence_maps(m.embed(image(7)), m.embed(image(8)), pts))
    # the refined sigmoid maps (a random net's are flat, so arg-max cells can move; the values may not)
    assert np.abs(outs[0] - outs[1]).max() < 0.05
    with pytest.raises(ValueError, match="precision"):
        PoseEstimatorConfig(precision="fp8")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- device
@pytest.mark.parametrize("name", ["tpu", "cpu:1", "gpu", "cuda:x"])
def test_unknown_devices_are_refused_at_once(name: str) -> None:
    with pytest.raises(CorrtrackError, match="device"):
        resolve_device(name)
    with pytest.raises(CorrtrackError, match="device"):
        TopDownPoseEstimator(tiny_pose(), device=name)
    with pytest.raises(CorrtrackError, match="device"):
        NetworkCorrespondences(tiny_corr(), device=name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_gpu_is_refused() -> None:
    with pytest.raises(CorrtrackError, match="no CUDA device"):
        TopDownPoseEstimator(tiny_pose(), device="cuda")


class HostReads(TorchFunctionMode):
    """Counts tensor -> host transfers and reads (``cpu``, ``item``, ``numpy``, ``tolist``, ``float()`` ...)."""

    NAMES = ("cpu", "item", "numpy", "tolist", "__float__", "__int__", "__bool__", "__index__")

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if getattr(func, "__name__", "") in self.NAMES:
            self.count += 1
        return func(*args, **(kwargs or {}))


def test_the_network_path_on_cpu_has_no_host_reads_per_person_or_batch() -> None:
    """device="cpu" through the device-generic path: host reads do not grow with people or batches."""
    est = TopDownPoseEstimator(tiny_pose(), PoseEstimatorConfig(batch_size=2), device="cpu")
    rng = np.random.default_rng(0)
    counts = []
    for n in (2, 12):
        boxes = np.column_stack([rng.uniform(0, 80, (n, 2)), rng.uniform(20, 60, (n, 2))])
        with HostReads() as reads:
            poses = est.estimate(image(), boxes)
        assert len(poses) == n
        counts.append(reads.count)
    assert counts[0] == counts[1] <= 4  # 1 batch vs 6 batches (12 crops, flip test)

    m = NetworkCorrespondences(tiny_corr(), refinement="full", max_batch=2, device="cpu")
    ea, eb = m.embed(image(1)), m.embed(image(2))
    counts = []
    for n in (2, 12):
        with HostReads() as reads:
            out = m.propagate(ea, eb, rng.uniform(20, 100, (n, 17, 2)))
        assert out.shape == (n, 17, 3)
        counts.append(reads.count)
    assert counts[0] == counts[1] <= 2
    with HostReads() as reads:
        m.embed(image(3))
    assert reads.count == 0
