"""The batched correlation against a plain per-query loop written from the reference README's description."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from corrtrack.models.backbone import ModelInputError
from corrtrack.models.correspondence_net import (
    CorrespondenceNet,
    CorrespondenceNetConfig,
    correlation_maps,
    normalize_embedding,
)
from reference_propagate import propagate

torch.set_num_threads(1)


def loop_correlation(fA: torch.Tensor, fB: torch.Tensor, queries: torch.Tensor, normalization: str) -> torch.Tensor:
    """One query at a time, literally as the README's steps 1-6 (queries are (x, y))."""
    n, nq = queries.shape[:2]
    d, h, w = fA.shape[1:]
    out = torch.zeros(n, nq, h, w, dtype=fA.dtype)
    for b in range(n):
        a = fA[b if fA.shape[0] > 1 else 0].double()
        bb = fB[b if fB.shape[0] > 1 else 0].double()
        sa = (a * a).sum(0, keepdim=True)
        sb = (bb * bb).sum(0, keepdim=True)
        if normalization == "squared":
            a, bb = a / sa, bb / sb
        else:
            a, bb = a / sa.sqrt(), bb / sb.sqrt()
        for s in range(nq):
            qx, qy = float(queries[b, s, 0]), float(queries[b, s, 1])
            if math.isnan(qx) or math.isnan(qy):
                continue
            x, y = int(qx), int(qy)  # truncation toward zero, as int() in the reference
            if y < 0 or x < 0 or y > h - 1 or x > w - 1:
                continue
            filt = torch.zeros(d, 3, 3, dtype=torch.float64)
            for i in range(3):
                for j in range(3):
                    yy, xx = y - 1 + i, x - 1 + j
                    if 0 <= yy < h and 0 <= xx < w:
                        filt[:, i, j] = a[:, yy, xx]
            resp = F.conv2d(bb[None], filt[None], padding=1)[0, 0]
            out[b, s] = torch.softmax(resp.flatten(), 0).reshape(h, w).to(fA.dtype)
    return out


def border_queries(n: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    fixed = torch.tensor(
        [
            [0, 0],
            [w - 1, h - 1],
            [0, h - 1],
            [w - 1, 0],
            [-0.5, 3],  # truncates to 0: kept
            [3, -0.9],  # kept
            [-1, 2],  # outside
            [2, h],  # outside
            [w - 0.2, 1],  # truncates to w-1: kept
            [float("nan"), 2],  # no query
            [w + 5, h + 5],
        ],
        dtype=torch.float64,
    )
    rand = torch.rand(n, 6, 2, generator=gen, dtype=torch.float64) * torch.tensor([w, h])
    return torch.cat([fixed.expand(n, -1, -1), rand], 1)


@pytest.mark.parametrize("normalization", ["squared", "l2"])
@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_batched_equals_loop(normalization: str, scale: float) -> None:
    gen = torch.Generator().manual_seed(7)
    n, d, h, w = 3, 8, 9, 12
    fA = torch.randn(n, d, h, w, generator=gen) * scale
    fB = torch.randn(n, d, h, w, generator=gen) * scale
    q = border_queries(n, h, w, gen)
    got = correlation_maps(fA, fB, q, normalization)
    want = loop_correlation(fA, fB, q, normalization)
    assert got.shape == (n, q.shape[1], h, w)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    valid = want.flatten(2).sum(-1) > 0
    assert valid[:, :6].all() and not valid[:, 6:8].any() and valid[:, 8].all() and not valid[:, 9:11].any()
    torch.testing.assert_close(got.flatten(2).sum(-1), valid.float())  # softmax maps sum to 1, skipped ones to 0


def test_shared_frame_pair_broadcasts_over_tracks() -> None:
    gen = torch.Generator().manual_seed(3)
    fA = torch.randn(1, 8, 10, 10, generator=gen)
    fB = torch.randn(1, 8, 10, 10, generator=gen)
    q = border_queries(4, 10, 10, gen)
    got = correlation_maps(fA, fB, q, "l2")
    explicit = correlation_maps(fA.expand(4, -1, -1, -1), fB.expand(4, -1, -1, -1), q, "l2")
    torch.testing.assert_close(got, explicit)
    torch.testing.assert_close(got, loop_correlation(fA, fB, q, "l2"), rtol=1e-5, atol=1e-7)


def test_peak_follows_a_shifted_pattern() -> None:
    """An fB that is fA shifted by (dx, dy) puts each interior query's peak at the shifted cell."""
    gen = torch.Generator().manual_seed(0)
    fA = torch.randn(1, 16, 20, 20, generator=gen)
    fB = torch.roll(fA, shifts=(2, 3), dims=(2, 3))  # y + 2, x + 3
    q = torch.tensor([[[5.0, 5.0], [10.7, 3.2], [8.0, 12.0]]])
    maps = correlation_maps(fA, fB, q, "l2", temperature=0.05)
    peak = maps.flatten(2).argmax(-1)[0]
    assert [(int(p) % 20, int(p) // 20) for p in peak] == [(8, 7), (13, 5), (11, 14)]


def test_normalisations() -> None:
    f = torch.randn(2, 5, 3, 4) * 3
    norm = f.pow(2).sum(1).sqrt()
    torch.testing.assert_close(normalize_embedding(f, "l2").pow(2).sum(1), torch.ones(2, 3, 4))
    torch.testing.assert_close(normalize_embedding(f, "squared").pow(2).sum(1).sqrt(), 1 / norm)
    assert torch.isfinite(normalize_embedding(torch.zeros(1, 5, 2, 2), "squared")).all()
    with pytest.raises(ValueError):
        normalize_embedding(f, "cosine")  # type: ignore[arg-type]


def test_bad_shapes_raise_one_line() -> None:
    f = torch.randn(2, 4, 6, 6)
    with pytest.raises(ModelInputError, match="queries must be"):
        correlation_maps(f, f, torch.zeros(2, 3))
    with pytest.raises(ModelInputError, match="batch size 2"):
        correlation_maps(f, f, torch.zeros(3, 2, 2))
    with pytest.raises(ModelInputError, match="alike"):
        correlation_maps(f, torch.randn(2, 4, 5, 6), torch.zeros(2, 2, 2))


@pytest.fixture(scope="module")
def tiny_net() -> CorrespondenceNet:
    torch.manual_seed(0)
    return CorrespondenceNet(CorrespondenceNetConfig(name="t", input_size=64, width=0.0625, num_queries=4)).eval()


def test_propagate(tiny_net: CorrespondenceNet) -> None:
    images = torch.rand(2, 3, 64, 64)
    f = tiny_net.embed(images)
    assert f.shape == (2, 32, 16, 16)
    q = torch.tensor([[[1.0, 2.0], [15.0, 15.0], [-1.0, 3.0], [float("nan"), 0.0]]]).expand(3, -1, -1)
    with torch.no_grad():
        out = propagate(tiny_net, f[:1], f[1:], q)
        chunked = propagate(tiny_net, f[:1], f[1:], q, max_batch=2)
        prob = torch.sigmoid(tiny_net.refine(f[:1], f[1:], tiny_net.correlate(f[:1], f[1:], q)))
    assert out.shape == (3, 4, 3)
    torch.testing.assert_close(out, chunked, equal_nan=True)
    flat = prob.flatten(2)
    torch.testing.assert_close(out[:, :2, 2], flat.max(-1).values[:, :2])
    idx = flat.argmax(-1)[:, :2]
    torch.testing.assert_close(out[:, :2, 0], (idx % 16).float())
    torch.testing.assert_close(out[:, :2, 1], (idx // 16).float())
    assert torch.isnan(out[:, 2:, :2]).all() and (out[:, 2:, 2] == 0).all()
    assert propagate(tiny_net, f[:1], f[1:], torch.zeros(0, 4, 2)).shape == (0, 4, 3)


def test_training_forward_has_gradients(tiny_net: CorrespondenceNet) -> None:
    net = CorrespondenceNet(tiny_net.cfg)
    net.load_state_dict(tiny_net.state_dict())
    net.train()
    refined, affinity = net(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64), torch.rand(2, 4, 2) * 16)
    assert refined.shape == affinity.shape == (2, 4, 16, 16)
    (refined.mean() + affinity.logsumexp((2, 3)).mean()).backward()
    assert net.model.model.conv1_7x7_s2.weight.grad is not None
    assert net.pd.Conv2dT_2.conv.weight.grad is not None


def test_forward_is_embed_correlate_refine(tiny_net: CorrespondenceNet) -> None:
    a, b = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    q = torch.rand(2, 4, 2) * 16
    with torch.no_grad():
        refined, affinity = tiny_net(a, b, q)
        fA, fB = tiny_net.embed(a), tiny_net.embed(b)
        want_aff = tiny_net.correlate(fA, fB, q)
        torch.testing.assert_close(affinity, want_aff)
        torch.testing.assert_close(refined, tiny_net.refine(fA, fB, want_aff))


@pytest.mark.parametrize("batchnorm", ["eval", "batch_stats"])
def test_tracks_batched_equal_tracks_alone(tiny_net: CorrespondenceNet, batchnorm: str) -> None:
    """Tracks batched together give each track its batch-size-1 result (the reference runs tracks one by one)."""
    net = CorrespondenceNet(dataclasses.replace(tiny_net.cfg, batchnorm=batchnorm))
    net.load_state_dict(tiny_net.state_dict())
    net.eval().double()  # float64: per-sample BN over a few cells amplifies float32 rounding
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        f = net.embed(torch.rand(2, 3, 64, 64, generator=gen, dtype=torch.float64))
        q = torch.rand(3, 4, 2, generator=gen) * 16
        both = net.refine(f[:1], f[1:], net.correlate(f[:1], f[1:], q))
        alone = torch.cat([net.refine(f[:1], f[1:], net.correlate(f[:1], f[1:], q[i : i + 1])) for i in range(3)])
    torch.testing.assert_close(both, alone, rtol=1e-9, atol=1e-9)
    if batchnorm == "batch_stats":  # the statistics are the batch's: different from the running ones
        with torch.no_grad():
            running = copy.deepcopy(tiny_net).double().refine(f[:1], f[1:], net.correlate(f[:1], f[1:], q))
        assert not torch.allclose(both, running, atol=1e-3)


def test_batch_stats_embedding_uses_the_batch(tiny_net: CorrespondenceNet) -> None:
    net = CorrespondenceNet(dataclasses.replace(tiny_net.cfg, batchnorm="batch_stats"))
    net.load_state_dict(tiny_net.state_dict())
    net.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        pair = net.embed(x)
        first = net.embed(x[:1])
        train_like = CorrespondenceNet(tiny_net.cfg)
        train_like.load_state_dict(tiny_net.state_dict())
        train_like.train()  # what the reference tracking script runs: a train-mode BN
        want = train_like.embed(x)
    torch.testing.assert_close(pair, want, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(pair[:1], first, atol=1e-4)
