"""The pose net is the authors' network: same state-dict layout and the golden outputs under the weight rule.

Uses /work/shared/reference (skipped without it).
Time on the 2-core dev machine, 1 thread: about 21 s with a load average of 11 (other jobs running).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch

from conftest import shared_path
from corrtrack.config import override
from corrtrack.models.backbone import ModelInputError, StatsBatchNorm2d
from corrtrack.models.pose_net import PoseNet, PoseNetConfig, pose_config
from reference_weights import POSE_INPUT_SEED, fill_layout, load_layout, reference_input

torch.set_num_threads(1)  # 2 threads stall badly when the cores are shared


def rel(ours: torch.Tensor, golden: np.ndarray) -> float:
    return float(np.abs(ours.detach().numpy() - golden).max() / np.abs(golden).max())


@pytest.fixture(scope="module")
def layouts() -> dict[str, dict[str, Any]]:
    return {
        "paper": load_layout(shared_path("reference", "layouts", "pose_net_2stage.json")),
        "paper3": load_layout(shared_path("reference", "layouts", "pose_net_3stage.json")),
    }


@pytest.fixture(scope="module")
def outputs(layouts: dict[str, dict[str, Any]]) -> dict[str, list[torch.Tensor]]:
    """Stage outputs of the 2- and 3-stage nets on the reference input with the rule's weights (eval mode)."""
    x = reference_input(POSE_INPUT_SEED, (1, 3, 384, 288))
    out = {}
    for name in ("paper", "paper3"):
        net = PoseNet(pose_config(name))
        net.load_state_dict(fill_layout(layouts[name]), strict=True)
        net.eval()
        with torch.no_grad():
            out[name] = net(x)
            if name == "paper3":
                out["paper3_predict"] = [net.predict(x)]
    return out


@pytest.mark.parametrize("name", ["paper", "paper3"])
def test_state_dict_layout_is_the_authors(name: str, layouts: dict[str, dict[str, Any]]) -> None:
    layout = layouts[name]
    net = PoseNet(pose_config(name))
    ours = [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in net.state_dict().items()]
    assert ours == [(e["key"], e["shape"], e["dtype"]) for e in layout["state_dict"]]
    assert net.num_parameters() == layout["num_parameters"]
    params = dict(net.named_parameters())
    assert [e["key"] for e in layout["state_dict"] if e["is_parameter"]] == list(params)
    modules = dict(net.named_modules())
    assert [n for n in modules if n] == [m["name"] for m in layout["modules"]]
    for m in layout["modules"]:
        mod = modules[m["name"]]
        if m["type"] == "BatchNorm2d":
            assert isinstance(mod, StatsBatchNorm2d) and mod.eps == m["eps"] and mod.momentum == m["momentum"]
        elif m["type"] in ("Conv2d", "ConvTranspose2d"):
            assert type(mod).__name__ == m["type"]
            for attr in ("kernel_size", "stride", "padding", "in_channels", "out_channels"):
                assert list(np.atleast_1d(getattr(mod, attr))) == list(np.atleast_1d(m[attr])), (m["name"], attr)
        elif m["type"] in ("MaxPool2d", "AvgPool2d"):
            assert type(mod).__name__ == m["type"] and mod.ceil_mode == m["ceil_mode"]
            if m["type"] == "AvgPool2d":
                assert mod.count_include_pad == m["count_include_pad"]


def test_weight_rule_matches_layout_fill_values(layouts: dict[str, dict[str, Any]]) -> None:
    layout = layouts["paper3"]
    filled = fill_layout(layout)
    for e in layout["state_dict"]:
        t = filled[e["key"]]
        assert t.dtype == (torch.int64 if e["dtype"] == "int64" else torch.float32)
        assert float(t.flatten()[0]) == e["fill_first"], e["key"]
        assert float(t.double().sum()) == pytest.approx(e["fill_sum"], rel=1e-9, abs=1e-9), e["key"]


def test_two_stage_golden(outputs: dict[str, list[torch.Tensor]]) -> None:
    golden = np.load(shared_path("reference", "golden", "pose_2stage.npz"))
    out = outputs["paper"]
    assert len(out) == 2
    for k in range(2):
        assert tuple(out[k].shape) == golden[f"stage{k}"].shape == (1, 51, 96, 72)
        assert rel(out[k], golden[f"stage{k}"]) <= 1e-4


def test_three_stage_golden(outputs: dict[str, list[torch.Tensor]]) -> None:
    g2 = np.load(shared_path("reference", "golden", "pose_2stage.npz"))
    g3 = np.load(shared_path("reference", "golden", "pose_3stage.npz"))
    out = outputs["paper3"]
    assert len(out) == 3
    assert rel(out[0], g2["stage0"]) <= 1e-4
    assert rel(out[1], g2["stage1"]) <= 1e-4
    assert rel(out[2], g3["stage2"]) <= 1e-4
    # the first two stages do not depend on the third: bitwise equal to the 2-stage net, as in the reference
    assert torch.equal(out[0], outputs["paper"][0]) and torch.equal(out[1], outputs["paper"][1])
    # predict() reads stage index 1 without computing stage 2
    assert torch.equal(outputs["paper3_predict"][0], out[1])


def test_golden_scalar_checks(outputs: dict[str, list[torch.Tensor]]) -> None:
    import json

    checks = json.loads(shared_path("reference", "golden", "checks.json").read_text())["outputs"]
    for name, t in (("pose2/stage1", outputs["paper"][1]), ("pose3/stage2", outputs["paper3"][2])):
        c = checks[name]
        a = t.double().numpy()
        assert list(a.shape) == c["shape"]
        assert a.mean() == pytest.approx(c["mean"], abs=1e-4 * c["max_abs"])
        assert a.std() == pytest.approx(c["std"], rel=1e-4)
        assert a.max() == pytest.approx(c["max"], abs=1e-4 * c["max_abs"])
        for ch in c["per_channel"][:17]:  # heatmap channels: arg-max cell
            hm = a[ch["n"], ch["c"]]
            assert abs(hm.max() - ch["max"]) <= 1e-4 * c["max_abs"]


def test_configs() -> None:
    paper, paper3, tiny = pose_config("paper"), pose_config("paper3"), pose_config("tiny")
    assert (paper.num_stages, paper.input_width, paper.input_height, paper.readout_stage) == (2, 288, 384, 1)
    assert (paper3.num_stages, paper3.readout_stage) == (3, 1)
    assert tiny.num_stages == 2 and tiny.input_width * tiny.input_height <= 96 * 128
    assert dataclasses.fields(PoseNetConfig)  # sources are recorded for every field
    assert all(f.metadata.get("source") for f in dataclasses.fields(PoseNetConfig))
    with pytest.raises(ModelInputError, match="unknown pose-net config"):
        pose_config("huge")
    with pytest.raises(ValueError, match="readout_stage"):
        PoseNetConfig(num_stages=2, readout_stage=2)
    with pytest.raises(ValueError, match="multiple of 32"):
        PoseNetConfig(input_width=100)
    assert override(paper3, ["readout_stage=2"]).readout_stage == 2


def test_tiny_net_is_small_and_runs() -> None:
    cfg = pose_config("tiny")
    net = PoseNet(cfg).eval()
    assert net.num_parameters() * 2 < 5_000_000  # fp16 weights well under 10 MB
    x = torch.rand(2, 3, cfg.input_height, cfg.input_width)
    with torch.no_grad():
        out = net(x)
    assert len(out) == 2 and out[0].shape == (2, 51, cfg.input_height // 4, cfg.input_width // 4)
    assert all(torch.isfinite(o).all() for o in out)
    with torch.no_grad():
        assert torch.equal(net.predict(x), out[1])


def test_bad_inputs_raise_one_line() -> None:
    net = PoseNet(pose_config("tiny")).eval()
    with pytest.raises(ModelInputError, match="multiples of 32"):
        net(torch.rand(1, 3, 100, 96))
    with pytest.raises(ModelInputError, match=r"\(N, 3, H, W\)"):
        net(torch.rand(1, 1, 128, 96))
    with pytest.raises(ModelInputError, match="not 0-255"):
        net(torch.rand(1, 3, 128, 96) * 255)
    with pytest.raises(ModelInputError, match="dtype"):
        net(torch.zeros(1, 3, 128, 96, dtype=torch.uint8))
