"""Two runs into one output folder never mix: the loser fails with one clear error."""

from __future__ import annotations

import pytest

from corrtrack.errors import CorrtrackError
from corrtrack.synth import generate_dataset, make_specs


def test_a_run_that_finds_its_output_written_meanwhile_fails_cleanly(tmp_path):
    out = tmp_path / "ds"
    specs = make_specs("val", ["easy"], 2, 2, 0, "all", 96, 64)

    def other_process_writes(done: int, total: int) -> None:
        if done == 1:
            out.mkdir(exist_ok=True)
            (out / "theirs.txt").write_text("the other run")

    with pytest.raises(CorrtrackError, match="another process"):
        generate_dataset(out, specs, progress=other_process_writes)
    assert sorted(p.name for p in out.iterdir()) == ["theirs.txt"]  # theirs is kept, nothing mixed in
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # no staging folder left


def test_staging_folders_of_killed_runs_are_removed(tmp_path):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".ds.corrtrack-{dead.pid}-partial"
    (stale / "images").mkdir(parents=True)
    generate_dataset(tmp_path / "ds", make_specs("val", ["easy"], 1, 2, 0, "all", 96, 64))
    assert not stale.exists() and (tmp_path / "ds" / "annotations").is_dir()
