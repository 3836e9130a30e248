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
