import json
import subprocess
import sys

from typer.testing import CliRunner

from corrtrack.cli import app
from corrtrack.formats import load_sequence

runner = CliRunner()


def test_every_subcommand_has_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("convert", "render", "info"):
        sub = runner.invoke(app, [cmd, "--help"])
        assert sub.exit_code == 0 and "Usage" in sub.output


def test_convert_folder_between_formats(poseval_case, tmp_path):
    r = runner.invoke(app, ["convert", str(poseval_case / "gt"), str(tmp_path / "pt17"), "--to", "posetrack17"])
    assert r.exit_code == 0, r.output
    assert "annolist" in json.loads((tmp_path / "pt17" / "000001_mpii_test.json").read_text())
    r = runner.invoke(app, ["convert", str(tmp_path / "pt17"), str(tmp_path / "pt18"), "--to", "posetrack18"])
    assert r.exit_code == 0, r.output
    a = load_sequence(poseval_case / "gt" / "000002_bonn_test.json")
    b = load_sequence(tmp_path / "pt18" / "000002_bonn_test.json")
    assert (a.num_persons == b.num_persons).all()
    r = runner.invoke(
        app, ["convert", str(poseval_case / "gt" / "000002_bonn_test.json"), str(tmp_path / "m.txt"), "--to", "mot"]
    )
    assert r.exit_code == 0 and len((tmp_path / "m.txt").read_text().splitlines()) == int(a.num_persons.sum())


def test_bad_input_is_one_line_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [{"id": 1, "file_name": "a/1.jpg"}], "annotations": [{"image_id": 2}]}')
    r = subprocess.run([sys.executable, "-m", "corrtrack", "info", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {bad}: annotation 0: image_id 2 is not in 'images'"
    assert "Traceback" not in r.stderr


def test_eval_prints_official_tables_and_writes_json(poseval_case, tmp_path):
    out = tmp_path / "res.json"
    r = runner.invoke(app, ["eval", str(poseval_case / "gt"), str(poseval_case / "pred"), "--json", str(out), "--hota"])
    assert r.exit_code == 0, r.output
    assert "& 86.5 & 86.8 & 87.4 & 86.0 & 86.7 & 87.3 & 83.5 & 86.3 \\\\" in r.output
    assert "& 73.2 & 73.9 & 74.2 & 69.8 & 73.9 & 73.9 & 71.1 & 72.9 & 74.6 & 88.6 & 91.2 \\\\" in r.output
    doc = json.loads(out.read_text())
    assert doc["mot"]["counts"]["id_switches"][0] == 3 and set(doc["sequences"]) == {
        "000001_mpii_test",
        "000002_bonn_test",
    }
    assert 0 < doc["hota"]["HOTA"] <= 1
    classic = runner.invoke(app, ["eval", str(poseval_case / "gt"), str(poseval_case / "pred"), "--motp", "classic"])
    assert "& 88.0 & 88.6 & 91.2" in classic.output


def test_demo_runs_end_to_end(tmp_path):
    from corrtrack.video import FrameSource

    args = ["demo", "-o", str(tmp_path / "demo"), "--frames", "8", "--preset", "easy"]
    sets = ["--set", "detector=simulated", "--set", "poses=detections", "--set", "correspondences=flow"]
    r = runner.invoke(app, [*args, *sets])
    assert r.exit_code == 0, r.output
    video = next((tmp_path / "demo" / "tracks").glob("*.mp4"))
    assert len(FrameSource(video)) == 8
    doc = json.loads((tmp_path / "demo" / "evaluation.json").read_text())
    assert 30 < doc["ap"]["ap"][-1] <= 100
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "MOTA" in report and "SIMULATED" in report
    config = json.loads((tmp_path / "demo" / "config.json").read_text())
    assert config["demo"]["values"]["correspondences"] == "flow"


def test_demo_defaults_are_the_bundled_networks():
    from corrtrack.demo import DemoConfig

    cfg = DemoConfig()
    assert (cfg.detector, cfg.poses) == ("synth", "bundled")


def test_synth_cli_and_mot_eval(tmp_path):
    r = runner.invoke(
        app,
        [
            "synth",
            str(tmp_path / "s"),
            "--preset",
            "easy,hard",
            "--sequences",
            "2",
            "--frames",
            "5",
            "--size",
            "160x96",
        ],
    )
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "s" / "annotations" / "val").glob("*.json"))) == 2
    again = runner.invoke(app, ["synth", str(tmp_path / "s"), "--frames", "5"])
    assert again.exit_code != 0 and "exists" in str(again.exception)
    bad = runner.invoke(app, ["synth", str(tmp_path / "t"), "--size", "big"])
    assert bad.exit_code == 2 and "--size must look like 640x360" in bad.output
    gt = tmp_path / "gt.txt"
    gt.write_text("1,1,0,0,10,10,1,1,1\n2,1,1,0,10,10,1,1,1\n")
    r = runner.invoke(app, ["eval", "--mot", str(gt), str(gt)])
    assert r.exit_code == 0 and "100.0" in r.output


def test_eval_writes_the_official_json_files(poseval_case, tmp_path):
    import numpy as np

    r = runner.invoke(
        app, ["eval", str(poseval_case / "gt"), str(poseval_case / "pred"), "--output-dir", str(tmp_path / "out")]
    )
    assert r.exit_code == 0, r.output
    expected = sorted(p.name for p in (poseval_case / "expected_json").glob("*.json") if "legacy" not in p.name)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == expected
    for name in expected:
        ours = json.loads((tmp_path / "out" / name).read_text())
        official = json.loads((poseval_case / "expected_json" / name).read_text())
        assert ours["names"] == official["names"]
        for key in official:
            if key != "names":
                np.testing.assert_allclose(ours[key], official[key], rtol=0, atol=1e-9, err_msg=f"{name} {key}")


def test_simulate_detections_for_any_ground_truth(poseval_case, tmp_path):
    r = runner.invoke(
        app,
        [
            "simulate-detections",
            str(poseval_case / "gt"),
            str(tmp_path / "det"),
            "--poses",
            "--set",
            "false_positives=0",
        ],
    )
    assert r.exit_code == 0, r.output
    det = load_sequence(tmp_path / "det" / "000001_mpii_test.json")
    gt = load_sequence(poseval_case / "gt" / "000001_mpii_test.json")
    assert len(det) == len(gt) and 0 < det.num_persons.sum() <= gt.num_persons.sum() * 1.2
    assert (det.flatten()[1].track_ids == -1).all()


def test_render_command_draws_a_real_posetrack_file(tmp_path):
    from conftest import shared_path
    from corrtrack.video import read_image

    root = shared_path("data", "posetrack18-samples")
    ann = root / "annotations" / "val" / "009473_mpii_test.json"
    r = runner.invoke(app, ["render", str(ann), "--frames", str(root), "-o", str(tmp_path / "out.png")])
    assert r.exit_code == 0, r.output
    assert read_image(tmp_path / "out.png").shape == (1080, 1920, 3)


def test_convert_splits_a_merged_posetrack_file_into_the_official_per_video_files(tmp_path):
    from conftest import shared_path

    folder = shared_path("data", "posetrack18-samples", "annotations")
    r = runner.invoke(
        app,
        [
            "convert",
            str(folder / "test_posetrack18_val.json"),
            str(tmp_path / "split"),
            "--to",
            "posetrack18",
            "--split-videos",
        ],
    )
    assert r.exit_code == 0, r.output
    written = sorted(p.name for p in (tmp_path / "split").iterdir())
    assert written == sorted(p.name for p in (folder / "val").glob("*.json"))
    for name in written:  # identical to the per-video files of the PoseTrack release
        assert json.loads((tmp_path / "split" / name).read_text()) == json.loads((folder / "val" / name).read_text())


def test_synth_knobs_override_the_preset(tmp_path):
    r = runner.invoke(
        app,
        [
            "synth",
            str(tmp_path / "k"),
            "--preset",
            "easy",
            "--sequences",
            "1",
            "--frames",
            "4",
            "--size",
            "160x96",
            "--set",
            "people=4,4",
            "--knob",
            "speed=0.1",
        ],
    )
    assert r.exit_code == 0, r.output
    config = json.loads((tmp_path / "k" / "synthtrack.json").read_text())["sequences"][0]["config"]
    assert config["people"] == [4, 4] and config["speed"] == 0.1 and config["crossing_rate"] == 0.0
    bad = runner.invoke(app, ["synth", str(tmp_path / "b"), "--set", "wings=2"])
    assert bad.exit_code == 2 and "unknown setting 'wings'" in bad.output
    bad = runner.invoke(app, ["synth", str(tmp_path / "b"), "--set", "people=3"])
    assert bad.exit_code == 2 and "people: expected 2 comma-separated values" in bad.output
    for item in ("speed=nan", "width=10", "speed=inf"):
        bad = runner.invoke(app, ["synth", str(tmp_path / "b"), "--set", item])
        assert bad.exit_code == 2 and bad.output.startswith("error: --set:"), bad.output
    assert not (tmp_path / "b").exists()


def test_train_commands_are_listed_and_check_their_config(tmp_path):
    r = runner.invoke(app, ["train", "--help"])
    assert r.exit_code == 0 and "pose" in r.output
    r = runner.invoke(app, ["train", "pose", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--config", "x"])
    assert r.exit_code == 2 and "unknown pose-net config" in r.output


def test_show_corr_draws_with_the_peak_options(tmp_path):
    """`corrtrack show-corr` on a SynthTrack frame pair, windowed refinement under the motion prior."""
    data = tmp_path / "s"
    r = runner.invoke(app, ["synth", str(data), "--sequences", "1", "--frames", "3", "--size", "320x192"])
    assert r.exit_code == 0, r.output
    ann = next((data / "annotations" / "val").glob("*.json"))
    seq = load_sequence(ann)
    a, b = (data / seq.frames[i].file_name for i in (0, 2))
    out = tmp_path / "c.png"
    options = ["--refinement", "windowed", "--corr-prior", "2", "--corr-subcell", "centroid", "-o", str(out)]
    r = runner.invoke(app, ["show-corr", str(a), str(b), "--poses", str(ann), *options])
    assert r.exit_code == 0, r.output
    assert out.is_file() and "correspondences at or above tau" in r.output
    r = runner.invoke(app, ["show-corr", str(a), str(b), "--poses", str(ann), "--corr-subcell", "query"])
    assert r.exit_code != 0
