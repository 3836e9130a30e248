"""The demo's outputs explain themselves: what ran, the IoU baseline beside CorrTrack, a picture, phase lines."""

import json
import re

import pytest

from conftest import run_cli
from corrtrack.video import read_image


@pytest.fixture(scope="module")
def simulated_demo(tmp_path_factory):
    """A tiny demo with the simulated detector (no network): 8 frames, about 2 s."""
    from corrtrack.demo import DemoConfig, run_demo

    out = tmp_path_factory.mktemp("demo")
    cfg = DemoConfig(preset="easy", frames=8, detector="simulated", poses="detections", correspondences="flow")
    return out, run_demo(out, cfg)


def test_report_shows_baseline_beside_corrtrack(simulated_demo):
    out, _ = simulated_demo
    report = (out / "report.md").read_text()
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| (CorrTrack|frame-to-frame IoU \(baseline\)) \|(.*)$", report, re.M)
    }
    assert set(rows) == {"CorrTrack", "frame-to-frame IoU (baseline)"}
    doc = json.loads((out / "evaluation.json").read_text())
    for name, row in rows.items():
        cells = [c.strip() for c in row.strip(" |").split("|")]
        s = doc["summary"][name]
        assert cells == [f"{s['mAP']:.1f}", f"{s['MOTA']:.1f}", f"{s['IDSW']:.0f}", f"{s['HOTA']:.1f}"]
    # the baseline's numbers are its own evaluation of its own predictions, not CorrTrack's
    assert doc["baseline_iou"]["mot"]["mota"][-1] == pytest.approx(
        doc["summary"]["frame-to-frame IoU (baseline)"]["MOTA"]
    )
    assert (out / "baseline").is_dir() and any((out / "baseline").glob("*.json"))
    assert "higher is better" in report and "SIMULATED" in report


def test_report_links_a_picture_of_the_tracks(simulated_demo):
    out, result = simulated_demo
    report = (out / "report.md").read_text()
    link = re.search(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert link is not None
    picture = out / link.group(1)
    assert picture == result.picture and picture.is_file()
    image = read_image(picture)
    assert image.shape[1] > image.shape[0] > 100  # two panels side by side
    assert image.std() > 10  # a drawn frame, not a blank canvas


def test_evaluation_names_are_a_list_and_config_records_what_ran(simulated_demo):
    out, _ = simulated_demo
    doc = json.loads((out / "evaluation.json").read_text())
    assert isinstance(doc["names"], list) and doc["names"][-1] == "total" and len(doc["names"]) == 16
    assert isinstance(doc["baseline_iou"]["names"], list)
    config = json.loads((out / "config.json").read_text())
    # no pose network ran: config.json must not name the authors' paper3 net
    assert config["pipeline"]["values"]["pose_config"] != "paper3"
    assert config["preset"]["values"]["name"] == "synthtrack" and config["baseline"]["values"]["similarity"] == "iou"


def test_report_names_the_bundled_networks_and_their_training_data(monkeypatch, tmp_path):
    """With the bundled networks, report.md names each weight file, its config and its training data (metadata)."""
    from corrtrack import demo
    from corrtrack.pipeline import PipelineConfig, weights_record

    cfg = demo.DemoConfig()
    pipeline = PipelineConfig(detector=cfg.detector, poses=cfg.poses, correspondences="network", tracker="corrtrack")
    rows = demo._what_ran(demo.DemoConfig(correspondences="network"), weights_record(pipeline, None, None).files)
    text = "\n".join(" | ".join(r) for r in rows)
    for name in ("detector_tiny.pt", "pose_tiny.pt", "corr_tiny.pt"):
        meta = json.loads((demo.Path(demo.__file__).parent / "data" / name.replace(".pt", ".json")).read_text())
        line = next(r for r in rows if name in r[1])
        assert meta["training_data"] == line[2]
        assert f"sha256 {meta['sha256_file'][:12]}" in line[1] and "config tiny" in line[1]
    assert "SynthTrack" in text
    assert (
        demo._network_name(
            json.loads((demo.Path(demo.__file__).parent / "data" / "pose_tiny.json").read_text())["config"]
        )
        == "tiny"
    )


def test_demo_cli_prints_phase_lines_on_stderr(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CORRTRACK_PROGRESS", "1")  # as on a terminal
    code, out, err = run_cli(
        [
            "demo",
            "-o",
            tmp_path / "d",
            "--frames",
            "4",
            "--preset",
            "easy",
            "--set",
            "detector=simulated",
            "--set",
            "poses=detections",
            "--set",
            "correspondences=zero",
        ],
        capsys,
    )
    assert code == 0, err
    lines = err.splitlines()
    assert any(line.startswith("rendering a SynthTrack easy clip: 4 frames") for line in lines), err
    assert any(line.startswith("evaluating CorrTrack and the IoU baseline") for line in lines), err
    assert re.search(r"; \d[\d.]* (frames/s|s/frame) \(detection", out), out  # the rate, two significant digits
    assert "0.0 frames/s" not in out
    assert "error:" not in err


def test_track_paths_join_each_tracks_centres():
    """draw_track_paths: frame t's poses plus a line in the track's colour through its centres up to t."""
    import numpy as np

    from corrtrack.poses import Frame, Poses, PoseSequence
    from corrtrack.render import draw_poses, draw_track_paths, track_color

    def person(x: float) -> Poses:
        kps = np.concatenate([np.full((1, 17, 1), x), np.full((1, 17, 1), 200.0), np.ones((1, 17, 1))], -1)
        return Poses.create(kps, track_ids=np.array([3]))

    seq = PoseSequence("s", [Frame(f"{t:06d}.jpg", person(100.0 + 40 * t), image_id=t) for t in range(6)])
    blank = np.zeros((400, 600, 3), np.uint8)
    drawn = draw_track_paths(blank, seq, 5)
    poses_only = draw_poses(blank, seq.frames[5].poses, seq.layout.skeleton_index)
    added = np.argwhere((drawn != poses_only).any(-1))
    assert len(added) and np.abs(added[:, 0] - 200).max() <= 3  # the path is the line y = 200 ...
    assert added[:, 1].min() >= 97 and added[:, 1].max() <= 303  # ... from frame 0 (x 100) to frame 5 (x 300)
    colour = np.array(track_color(3))
    assert all(np.abs(drawn[200, x].astype(int) - colour).max() < 40 for x in range(110, 290, 10))
    recent = draw_track_paths(blank, seq, 5, history=2)  # frames 3..5 only: x from 220 to 300
    added = np.argwhere((recent != poses_only).any(-1))
    assert added[:, 1].min() >= 217
