"""The correspondence net is the authors' network: layouts and every golden array under the weight rule.

Uses /work/shared/reference (skipped without it).
Time on the 2-core dev machine, 1 thread: about 21 s with a load average of 11 (other jobs running).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pytest
import torch

from conftest import shared_path
from corrtrack.models.backbone import StatsBatchNorm2d
from corrtrack.models.correspondence_net import (
    CorrespondenceNet,
    CorrespondenceNetConfig,
    SiameseEmbedding,
    correlation_maps,
    correspondence_config,
)
from reference_weights import (
    SIAMESE_INPUT_A_SEED,
    SIAMESE_INPUT_B_SEED,
    fill_layout,
    load_layout,
    reference_input,
    reference_queries_xy,
)

torch.set_num_threads(1)  # 2 threads stall badly when the cores are shared

SCALE = 0.0625


def rel(ours: torch.Tensor, golden: np.ndarray) -> float:
    return float(np.abs(ours.detach().numpy() - golden).max() / np.abs(golden).max())


def golden(name: str) -> Any:
    return np.load(shared_path("reference", "golden", name))


@pytest.fixture(scope="module")
def layouts() -> dict[str, dict[str, Any]]:
    return {
        "embedding": load_layout(shared_path("reference", "layouts", "siamese_embedding.json")),
        "full": load_layout(shared_path("reference", "layouts", "siamese_refinement.json")),
    }


@pytest.fixture(scope="module")
def images() -> tuple[torch.Tensor, torch.Tensor]:
    return (
        reference_input(SIAMESE_INPUT_A_SEED, (1, 3, 512, 512)),
        reference_input(SIAMESE_INPUT_B_SEED, (1, 3, 512, 512)),
    )


@pytest.fixture(scope="module")
def full_weights(layouts: dict[str, dict[str, Any]]) -> dict[str, torch.Tensor]:
    return fill_layout(layouts["full"])


@pytest.fixture(scope="module")
def eval_net(full_weights: dict[str, torch.Tensor]) -> CorrespondenceNet:
    net = CorrespondenceNet(CorrespondenceNetConfig(normalization="squared"))
    net.load_state_dict(full_weights, strict=True)
    return net.eval()


@pytest.fixture(scope="module")
def eval_outputs(eval_net: CorrespondenceNet, images: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
    a, b = images
    q = reference_queries_xy()
    with torch.no_grad():
        eA, eB = eval_net.embed(a), eval_net.embed(b)
        corr = eval_net.correlate(eA, eB, q)
        refined = eval_net.refine(eA, eB, corr)
        corr_s = eval_net.correlate(eA * SCALE, eB * SCALE, q)
        refined_s = eval_net.refine(eA * SCALE, eB * SCALE, corr_s)
    return {"eA": eA, "eB": eB, "corr": corr, "refined": refined, "corr_scaled": corr_s, "refined_scaled": refined_s}


@pytest.mark.parametrize("which", ["embedding", "full"])
def test_state_dict_layout_is_the_authors(which: str, layouts: dict[str, dict[str, Any]]) -> None:
    layout = layouts[which]
    cfg = correspondence_config("paper")
    net = SiameseEmbedding(cfg) if which == "embedding" else CorrespondenceNet(cfg)
    ours = [(k, list(v.shape)) for k, v in net.state_dict().items()]
    assert ours == [(e["key"], e["shape"]) for e in layout["state_dict"]]
    assert sum(p.numel() for p in net.parameters()) == layout["num_parameters"]
    modules = dict(net.named_modules())
    assert [n for n in modules if n] == [m["name"] for m in layout["modules"]]
    for m in layout["modules"]:
        if m["type"] == "BatchNorm2d":
            assert isinstance(modules[m["name"]], StatsBatchNorm2d) and modules[m["name"]].eps == m["eps"]


def test_weight_rule_fill_values(layouts: dict[str, dict[str, Any]], full_weights: dict[str, torch.Tensor]) -> None:
    layout = layouts["full"]
    filled = full_weights
    for e in layout["state_dict"][::7]:  # a sample of keys
        assert float(filled[e["key"]].flatten()[0]) == e["fill_first"], e["key"]
        assert float(filled[e["key"]].double().sum()) == pytest.approx(e["fill_sum"], rel=1e-9, abs=1e-9)
    totals = json.loads(shared_path("reference", "golden", "checks.json").read_text())["weights_total_sum"]
    total = sum(float(t.double().sum()) for t in filled.values())
    assert total == pytest.approx(totals["siamese"], rel=1e-9)


def test_embedding_model_golden(layouts: dict[str, dict[str, Any]], images: tuple[torch.Tensor, torch.Tensor]) -> None:
    net = SiameseEmbedding(CorrespondenceNetConfig(normalization="squared"))
    net.load_state_dict(fill_layout(layouts["embedding"]), strict=True)
    net.eval()
    with torch.no_grad():
        emb = net(images[0])
    g = golden("embedding.npz")["emb_A"]
    assert emb.shape == g.shape == (1, 32, 128, 128)
    assert rel(emb, g) <= 1e-4


def test_siamese_embeddings_golden(eval_outputs: dict[str, torch.Tensor]) -> None:
    g = golden("siamese_embeddings.npz")
    assert rel(eval_outputs["eA"], g["eA"]) <= 1e-4
    assert rel(eval_outputs["eB"], g["eB"]) <= 1e-4


def test_correlation_and_refinement_golden(eval_outputs: dict[str, torch.Tensor]) -> None:
    g = golden("siamese_corr_refined.npz")
    np.testing.assert_array_equal(g["queries"][0, :, :2], reference_queries_xy()[0, :, [1, 0]].float().numpy())
    assert rel(eval_outputs["corr"], g["corr"]) <= 1e-4
    assert rel(eval_outputs["refined"], g["refined"]) <= 1e-4
    assert (eval_outputs["corr"][0, 6:8] == 0).all()  # the two outside queries: all-zero maps


def test_scaled_correlation_golden(eval_outputs: dict[str, torch.Tensor]) -> None:
    g = golden("siamese_corr_scaled.npz")
    assert rel(eval_outputs["corr_scaled"], g["corr_scaled"]) <= 1e-4
    assert rel(eval_outputs["refined_scaled"], g["refined_scaled"]) <= 1e-4
    checks = json.loads(shared_path("reference", "golden", "checks.json").read_text())["outputs"]
    peaks = eval_outputs["corr_scaled"][0].flatten(1).argmax(1)
    for ch in checks["siamese/corr_scaled"]["per_channel"]:
        if ch["max"] > 0.05:  # peaked maps: the arg-max cell is stable
            assert divmod(int(peaks[ch["c"]]), 128) == tuple(ch["argmax_yx"])


def test_plain_l2_normalisation_does_not_match_the_authors(eval_outputs: dict[str, torch.Tensor]) -> None:
    corr = correlation_maps(eval_outputs["eA"] * SCALE, eval_outputs["eB"] * SCALE, reference_queries_xy(), "l2")
    assert rel(corr, golden("siamese_corr_scaled.npz")["corr_scaled"]) > 0.1


def test_train_mode_batch_statistics_golden(
    full_weights: dict[str, torch.Tensor], images: tuple[torch.Tensor, torch.Tensor]
) -> None:
    net = CorrespondenceNet(CorrespondenceNetConfig(normalization="squared", batchnorm="batch_stats"))
    net.load_state_dict(full_weights, strict=True)
    net.eval()  # batch_stats works in eval mode: statistics of the batch, running stats untouched
    before = net.pd.Conv2dT_1.bn.running_mean.clone()
    g = golden("train_mode_subsampled.npz")
    q = reference_queries_xy()
    with torch.no_grad():
        f = net.embed(torch.cat(images, 0))
        refined = net.refine(f[:1], f[1:], net.correlate(f[:1], f[1:], q))
    assert rel(f[:, :, ::4, ::4], g["emb_batch_AB_sub4"]) <= 2e-4
    assert rel(refined[:, :, ::4, ::4], g["refined_sub4"]) <= 5e-3
    assert torch.equal(net.pd.Conv2dT_1.bn.running_mean, before)


def test_configs() -> None:
    paper, tiny = correspondence_config("paper"), correspondence_config("tiny")
    assert (paper.input_size, paper.grid_size, paper.embedding_dim) == (512, 128, 32)
    assert (paper.normalization, paper.batchnorm) == ("l2", "eval")
    assert tiny.grid_size == tiny.input_size // 4 and tiny.width < 1
    assert all(f.metadata.get("source") for f in dataclasses.fields(CorrespondenceNetConfig))
    assert CorrespondenceNet(tiny).num_parameters() * 2 < 5_000_000
    with pytest.raises(ValueError, match="normalization"):
        CorrespondenceNetConfig(normalization="cosine")  # type: ignore[arg-type]
