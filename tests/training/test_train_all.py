"""``corrtrack train all``: the whole path (render, shard, train, evaluate, export) at tiny scale, and its refusals."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from corrtrack.cli import main
from corrtrack.errors import CorrtrackError
from corrtrack.training.metadata import validate_weights_metadata
from corrtrack.training.train_all import train_all

torch.set_num_threads(1)


def test_train_all_tiny_end_to_end(tmp_path: Path) -> None:
    report = train_all(tmp_path / "data", tmp_path / "out", scale="tiny", workers=2, progress=False)
    assert (tmp_path / "data" / "annotations" / "val").is_dir() and (
        tmp_path / "out" / "shards" / "shards.json"
    ).is_file()
    assert set(report["networks"]) == {"pose", "detector", "correspondence"}
    for name in ("pose_tiny", "detector_tiny", "corr_tiny"):
        validate_weights_metadata(tmp_path / "out" / "bundled" / f"{name}.json")
    nets = report["networks"]
    assert 0 <= nets["pose"]["val"]["mAP_gt_boxes"] <= 100 and 0 <= nets["detector"]["val"]["AP50"] <= 1
    assert 0 <= nets["correspondence"]["val"]["within_1_cell"] <= 1
    assert json.loads((tmp_path / "out" / "report.json").read_text())["scale"] == "tiny"
    doc = json.loads((tmp_path / "out" / "bundled" / "pose_tiny.json").read_text())
    assert doc["training"]["val"] == nets["pose"]["val"] and doc["device"].startswith("cpu")
    # a rerun resumes: every network is already done, nothing is trained again
    again = train_all(tmp_path / "data", tmp_path / "out", scale="tiny", progress=False)
    assert again["networks"]["pose"]["steps"] == nets["pose"]["steps"]


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["corrtrack", *args])
    with pytest.raises(SystemExit) as info:
        main()
    return int(info.value.code or 0), capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_devices_and_scales_are_refused_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for device, problem in (("cuda", "no CUDA device"), ("banana", "unknown device")):
        code, err = run_cli(
            ["train", "all", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "o"), "--device", device],
            monkeypatch,
            capsys,
        )
        assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and problem in err, err
        assert not (tmp_path / "d").exists()  # refused before rendering anything
    code, err = run_cli(
        ["train", "pose", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "o"), "--set", "device=cuda"],
        monkeypatch,
        capsys,
    )
    assert code == 2 and "no CUDA device" in err and err.count("\n") == 1
    with pytest.raises(CorrtrackError, match="unknown scale"):
        train_all(tmp_path / "d", tmp_path / "o", scale="huge")


def test_bad_checkpoints_for_init_weights_and_bundled_loading(tmp_path: Path) -> None:
    from corrtrack.inference.pose_estimator import load_pose_weights
    from corrtrack.models.correspondence_net import CorrespondenceNet, correspondence_config
    from corrtrack.models.detector_net import load_detector_weights
    from corrtrack.training.corr_train import init_from

    bad = tmp_path / "bad.pt"
    torch.save({"weights": {"a": torch.zeros(1)}}, bad)
    for load in (
        load_pose_weights,
        load_detector_weights,
        lambda p: init_from(CorrespondenceNet(correspondence_config("tiny")), p),
    ):
        with pytest.raises(CorrtrackError) as info:
            load(bad)
        assert str(info.value).startswith(str(bad)) and "\n" not in str(info.value)
