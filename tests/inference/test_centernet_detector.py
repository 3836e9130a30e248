"""CenterNetDetector: the PersonDetector interface, letterboxing, boxes back in frame pixels, filtering."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from corrtrack.errors import CorrtrackError
from corrtrack.inference.detector import CenterNetDetector, DetectorConfig, letterbox_batch
from corrtrack.inference.file_detections import DetectionFilter
from corrtrack.interfaces import PersonDetector
from corrtrack.models.detector_net import DetectorNet, detector_config, save_detector_weights

torch.set_num_threads(1)


class _OracleNet(DetectorNet):
    """Outputs one peak per given box (boxes in input pixels), whatever the image: tests the decoding path."""

    def __init__(self, boxes: list[tuple[float, float, float, float]], score_logit: float = 3.0) -> None:
        super().__init__(detector_config("micro"))
        self.boxes = boxes
        self.score_logit = score_logit

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        b, _, h, w = images.shape
        heat = torch.full((b, 1, h // 4, w // 4), -8.0)
        size = torch.zeros(b, 2, h // 4, w // 4)
        offset = torch.zeros(b, 2, h // 4, w // 4)
        for x, y, bw, bh in self.boxes:
            cx, cy = (x + bw / 2) / 4, (y + bh / 2) / 4
            ix, iy = int(cx), int(cy)
            heat[:, 0, iy, ix] = self.score_logit
            size[:, :, iy, ix] = torch.tensor([math.log(bw / 4), math.log(bh / 4)])
            offset[:, :, iy, ix] = torch.tensor([cx - ix, cy - iy])
        return {"heatmap": heat, "size": size, "offset": offset}


def test_random_weights_follow_the_interface() -> None:
    det = CenterNetDetector(DetectorNet(detector_config("micro")), post=DetectionFilter(score_threshold=0.0))
    assert isinstance(det, PersonDetector)
    frames = [np.zeros((90, 160, 3), np.uint8), np.full((120, 100, 3), 200, np.uint8)]
    out = det.detect(frames)
    assert len(out) == 2
    for poses, frame in zip(out, frames):
        assert poses.boxes.shape[1] == 4 and len(poses) <= 100
        h, w = frame.shape[:2]
        assert (poses.boxes[:, 0] >= 0).all() and (poses.boxes[:, 0] + poses.boxes[:, 2] <= w + 1e-6).all()
        assert (poses.boxes[:, 1] + poses.boxes[:, 3] <= h + 1e-6).all()
        assert (np.diff(poses.scores) <= 0).all()
        assert not poses.has_keypoints.any()
    assert det.time_per_frame > 0 and det.last_time_per_frame > 0


def test_boxes_come_back_in_frame_pixels() -> None:
    # a 640x360 frame letterboxed into 64x64 is scaled by 0.1 and sits at the top (rows 0..36)
    input_boxes = [(10.0, 4.0, 8.0, 20.0), (40.0, 10.0, 12.0, 24.0)]
    det = CenterNetDetector(_OracleNet(input_boxes), DetectorConfig(batch_size=2))
    out = det.detect([np.zeros((360, 640, 3), np.uint8)] * 3)
    assert len(out) == 3
    for poses in out:
        got = poses.boxes[np.argsort(poses.boxes[:, 0])]
        np.testing.assert_allclose(got, np.array(input_boxes) * 10.0, atol=1e-3)
        assert poses.scores == pytest.approx([1 / (1 + math.exp(-3.0))] * 2)


def test_threshold_and_nms_are_applied() -> None:
    low = CenterNetDetector(_OracleNet([(10.0, 4.0, 8.0, 20.0)], score_logit=-1.0))
    assert len(low.detect([np.zeros((64, 64, 3), np.uint8)])[0]) == 0  # score 0.27 < 0.5
    kept = CenterNetDetector(_OracleNet([(10.0, 4.0, 8.0, 20.0)], -1.0), post=DetectionFilter(score_threshold=0.2))
    assert len(kept.detect([np.zeros((64, 64, 3), np.uint8)])[0]) == 1
    # two peaks of almost the same box: NMS keeps one
    dup = CenterNetDetector(_OracleNet([(10.0, 4.0, 40.0, 56.0), (14.0, 4.0, 40.0, 56.0)]))
    assert len(dup.detect([np.zeros((64, 64, 3), np.uint8)])[0]) == 1
    assert len(dup.detect_raw([np.zeros((64, 64, 3), np.uint8)])[0]) == 100


def test_letterbox_batch_and_bad_frames() -> None:
    batch, scales, sizes = letterbox_batch([np.full((100, 200, 3), 7, np.uint8)], 64, 64)
    assert batch.shape == (1, 64, 64, 3) and scales[0] == pytest.approx(0.32) and sizes == [(200, 100)]
    assert (batch[0, :32] == 7).all() and (batch[0, 33:] == 114).all()
    det = CenterNetDetector(DetectorNet(detector_config("micro")))
    with pytest.raises(CorrtrackError, match="frame 0"):
        det.detect([np.zeros((10, 10), np.uint8)])
    with pytest.raises(ValueError, match="multiple of 32"):
        DetectorConfig(input_width=100)


def test_input_size_option_and_checkpoint_loading(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = DetectorNet(detector_config("micro"))
    save_detector_weights(tmp_path / "det.pt", net, half=True)
    det = CenterNetDetector.from_checkpoint(tmp_path / "det.pt", DetectorConfig(input_width=128, input_height=96))
    assert (det.input_width, det.input_height) == (128, 96)
    assert len(det.detect([np.zeros((96, 128, 3), np.uint8)])) == 1
    with pytest.raises(CorrtrackError, match="not found"):
        CenterNetDetector.from_checkpoint(tmp_path / "missing.pt")


def test_bundled_weights_load() -> None:
    from importlib import resources

    # the package ships these weights: a checkout without them is broken, not a reason to skip
    assert (resources.files("corrtrack") / "data" / "detector_tiny.pt").is_file(), "detector_tiny.pt is missing"
    det = CenterNetDetector.from_bundled()
    assert det.model.cfg.name == "tiny"
    assert len(det.detect([np.zeros((360, 640, 3), np.uint8)])) == 1
