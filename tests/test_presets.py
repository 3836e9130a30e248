"""Presets: valid overrides of the three configs; `paper` is the reference rule; `auto` picks by the extra."""

from __future__ import annotations

import dataclasses

import pytest

from corrtrack.inference.file_detections import DetectionFilter
from corrtrack.pipeline import PipelineConfig
from corrtrack.presets import PRESETS, resolve_preset
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_overrides_are_fields_that_build(name: str) -> None:
    p = PRESETS[name]
    for cls, values in (
        (PipelineConfig, p.pipeline),
        (CorrTrackConfig, p.tracker),
        (DetectionFilter, p.detection_filter),
    ):
        names = {f.name for f in dataclasses.fields(cls)}
        assert set(values) <= names, f"{name}: not fields of {cls.__name__}: {set(values) - names}"
        built = cls(**values)
        assert all(getattr(built, k) == v for k, v in values.items())
    assert p.source and p.summary


def test_paper_preset_is_the_reference_rule() -> None:
    p = PRESETS["paper"]
    assert not p.tracker and not p.detection_filter  # every tracker threshold at its documented default
    assert PipelineConfig(**p.pipeline).correspondences == "network"
    assert PipelineConfig(**p.pipeline).refinement == "full"


def test_auto_picks_real_with_the_extra_and_says_why_not_without() -> None:
    preset, note = resolve_preset("auto", yolo_available=lambda: True)
    assert preset.name == "real" and note is None
    preset, note = resolve_preset("auto", yolo_available=lambda: False)
    assert preset.name == "synthtrack"
    assert note is not None and "yolo" in note and "SynthTrack" in note and "\n" not in note
    with pytest.raises(ValueError, match="unknown preset"):
        resolve_preset("best")


def test_track_with_no_flags_runs_the_auto_preset_and_records_it(tmp_path, monkeypatch) -> None:
    """`corrtrack track INPUT -o OUT` needs no other option; without the yolo extra it says why and runs
    the bundled networks (the 'synthtrack' preset), and config.json records the preset it ran."""
    import json

    from typer.testing import CliRunner

    from corrtrack.cli import app

    monkeypatch.setattr("corrtrack.inference.yolo.extra_available", lambda: False)
    runner = CliRunner()
    data = tmp_path / "set"
    r = runner.invoke(app, ["synth", str(data), "--sequences", "1", "--frames", "3", "--size", "320x192"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "out"
    r = runner.invoke(app, ["track", str(data), "-o", str(out), "--no-render", "--det-set", "input_width=320"])
    assert r.exit_code == 0, r.output
    assert "SynthTrack only" in r.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["preset"]["values"]["name"] == "synthtrack"
    values = cfg["pipeline"]["values"]
    assert (values["detector"], values["poses"], values["correspondences"]) == ("synth", "bundled", "flow")
    assert values["detector_input_width"] == 320
    assert cfg["tracker"]["values"]["recovery_max_run"] == PRESETS["synthtrack"].tracker["recovery_max_run"]
    from importlib import resources

    loaded = cfg["weights"]["values"]["files"]  # what ran: every loaded weight file with its hash and network config
    assert set(loaded) == {"detector", "poses"}  # flow correspondences load no weights
    pose_meta = json.loads((resources.files("corrtrack") / "data" / "pose_tiny.json").read_text())
    assert loaded["poses"]["sha256"] == pose_meta["sha256_file"]
    assert loaded["poses"]["config"]["values"]["name"] == "tiny"
    r = runner.invoke(app, ["track", str(data), "-o", str(tmp_path / "bad"), "--det-set", "input_width=300"])
    assert r.exit_code == 2 and "multiple of 32" in r.output


def test_real_preset_chooses_the_yolo_input_size_on_the_first_frames() -> None:
    """The real preset's YOLO input size is 'auto' (640, or 1280 where that finds many more people); a flag wins."""
    from corrtrack.inference.yolo import YoloPoseConfig

    cfg = PipelineConfig(**PRESETS["real"].pipeline)
    assert cfg.yolo_imgsz == "auto"
    assert YoloPoseConfig(imgsz=cfg.yolo_imgsz).auto_sizes == (640, 1280)
    assert PipelineConfig(**{**PRESETS["real"].pipeline, "yolo_imgsz": 1280}).yolo_imgsz == 1280
    assert "yolo_imgsz" not in PRESETS["paper"].pipeline  # the reference keeps ultralytics' default 640
