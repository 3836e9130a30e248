"""The CenterNet-style detector network: shapes, decoding of a synthetic heatmap, weights round trip."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from corrtrack.errors import CorrtrackError
from corrtrack.models.detector_net import (
    DetectorNet,
    decode_detections,
    detector_config,
    letterbox_scale,
    load_detector_weights,
    save_detector_weights,
)

torch.set_num_threads(1)


def test_output_shapes_and_initial_prior() -> None:
    cfg = detector_config("micro")
    net = DetectorNet(cfg).eval()
    with torch.no_grad():
        out = net(torch.zeros(2, 3, 64, 96))
    assert out["heatmap"].shape == (2, 1, 16, 24)
    assert out["size"].shape == (2, 2, 16, 24)
    assert out["offset"].shape == (2, 2, 16, 24)
    # the heatmap starts near the prior (CenterNet's bias initialisation)
    assert torch.sigmoid(out["heatmap"]).mean().item() < 0.1


def test_tiny_is_small() -> None:
    net = DetectorNet(detector_config("tiny"))
    assert net.num_parameters() * 2 < 10 * 2**20  # fp16 bytes well under the 10 MB limit


def test_bad_input_is_one_clear_error() -> None:
    net = DetectorNet(detector_config("micro"))
    with pytest.raises(CorrtrackError, match="multiples of 32"):
        net(torch.zeros(1, 3, 50, 64))
    with pytest.raises(CorrtrackError, match="unknown detector config"):
        detector_config("huge")


def _outputs_for(boxes: list[tuple[float, float, float, float]], grid: tuple[int, int], stride: int = 4) -> dict:
    h, w = grid
    heat = torch.full((1, 1, h, w), -10.0)
    size = torch.zeros(1, 2, h, w)
    offset = torch.zeros(1, 2, h, w)
    for x, y, bw, bh in boxes:
        cx, cy = (x + bw / 2) / stride, (y + bh / 2) / stride
        ix, iy = int(cx), int(cy)
        heat[0, 0, iy, ix] = 4.0
        heat[0, 0, iy, ix + 1] = 2.0  # a weaker neighbour: removed by the 3x3 max-pool NMS
        size[0, :, iy, ix] = torch.tensor([math.log(bw / stride), math.log(bh / stride)])
        offset[0, :, iy, ix] = torch.tensor([cx - ix, cy - iy])
    return {"heatmap": heat, "size": size, "offset": offset}


def test_decoding_a_synthetic_heatmap_gives_the_boxes() -> None:
    truth = [(10.0, 20.0, 30.0, 60.0), (100.0, 30.0, 14.0, 40.0)]
    boxes, scores, valid = decode_detections(_outputs_for(truth, (32, 48)), stride=4, top_k=10, min_score=0.5)
    assert int(valid.sum()) == 2
    got = boxes[0][valid[0]]
    order = torch.argsort(got[:, 0])
    torch.testing.assert_close(got[order], torch.tensor(truth), atol=1e-4, rtol=0)
    assert scores[0, 0].item() == pytest.approx(1 / (1 + math.exp(-4.0)), abs=1e-6)


def test_letterbox_scale() -> None:
    assert letterbox_scale(640, 360, 320, 192) == pytest.approx(0.5)
    assert letterbox_scale(768, 576, 320, 192) == pytest.approx(192 / 576)
    with pytest.raises(CorrtrackError):
        letterbox_scale(0, 10, 32, 32)


def test_weights_round_trip_in_half_precision(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = DetectorNet(detector_config("micro")).eval()
    digest = save_detector_weights(tmp_path / "d.pt", net, {"note": "x"}, half=True)
    assert len(digest) == 64
    loaded, meta = load_detector_weights(tmp_path / "d.pt")
    assert meta == {"note": "x"} and loaded.cfg == net.cfg
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a, b = net(x)["heatmap"], loaded(x)["heatmap"]
    torch.testing.assert_close(a, b, atol=5e-2, rtol=0)
    (tmp_path / "bad.pt").write_bytes(b"not torch")
    with pytest.raises(CorrtrackError, match=r"bad\.pt"):
        load_detector_weights(tmp_path / "bad.pt")
    with pytest.raises(CorrtrackError, match="not found"):
        load_detector_weights(tmp_path / "missing.pt")
