"""The simulated detector streamed (issue #21): `track --detector simulated` keeps no sequence-long list of
detections or ground truth, and gives the same detections as the in-memory path."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from corrtrack.cli import app
from corrtrack.inference.file_detections import DetectionFilter, DetectionStream
from corrtrack.pipeline import PipelineConfig, _detector_for, find_inputs
from corrtrack.poses import Poses
from corrtrack.synth import SimulatedDetectorConfig, simulate_detections
from corrtrack.synth.full_truth import full_truth_for, spool_full_truth
from corrtrack.synth.simulated_detections import ImageExtent, iter_detections

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "synth"
    args = ["synth", str(out), "--sequences", "1", "--frames", "14", "--size", "160x96", "--labeled", "posetrack"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return out


def _same(a: Poses, b: Poses) -> bool:
    def equal(x: object, y: object) -> bool:
        return (x is None and y is None) or np.array_equal(x, y, equal_nan=True)

    keys = ("keypoints", "boxes", "scores", "keypoint_scores", "has_keypoints")
    return all(equal(getattr(a, k), getattr(b, k)) for k in keys)


def test_spooled_truth_is_the_full_truth(dataset, tmp_path):
    item = find_inputs(dataset)[0]
    found = full_truth_for(item.ground_truth)
    assert found is not None
    _, full, distractors = found
    spooled = spool_full_truth(item.ground_truth, len(full), tmp_path)
    assert spooled is not None
    _, truth = spooled
    assert list(tmp_path.iterdir()) == []  # the spool's files have no names: nothing to leave behind
    frames, boxes = list(truth.frames()), list(truth.distractors())
    assert len(frames) == len(truth) == len(full) == len(boxes)
    for a, b, da, db in zip(full.frames, frames, distractors, boxes):
        assert a.file_name == b.file_name and a.image_id == b.image_id and _same(a.poses, b.poses)
        assert np.array_equal(np.asarray(da), db)
    extent = ImageExtent()
    for f in full.frames:
        extent.add(f)
    assert truth.image_size == extent.size
    assert len(list(truth.frames())) == len(full)  # read again from the start
    truth.close()


@pytest.mark.parametrize("with_poses", [False, True])
def test_streamed_detections_are_the_in_memory_ones(dataset, with_poses):
    item = find_inputs(dataset)[0]
    found = full_truth_for(item.ground_truth)
    assert found is not None
    entry, full, distractors = found
    cfg = SimulatedDetectorConfig(with_poses=with_poses)
    seed = int(entry["seed"]) + 1
    whole = simulate_detections(full, cfg, seed=seed, distractors=distractors)
    extent = ImageExtent()
    for f in full.frames:
        extent.add(f)
    streamed = list(iter_detections(full.frames, extent.size, cfg, seed, distractors))
    assert len(streamed) == len(whole.frames)
    assert sum(len(p) for p in streamed) > 0
    assert all(_same(a.poses, b) for a, b in zip(whole.frames, streamed))
    # the pipeline's simulated detector: a stream, the same detections frame by frame, none past the end
    pcfg = PipelineConfig(detector="simulated", poses="detections", correspondences="zero")
    if pcfg.keeps_detector_poses != with_poses:
        return
    det = _detector_for(item, pcfg, DetectionFilter(), len(full))
    assert isinstance(det, DetectionStream)
    image = np.zeros((96, 160, 3), np.uint8)
    from corrtrack.inference.file_detections import filter_detections

    for frame in whole.frames:
        assert _same(det.detect([image])[0], filter_detections(frame.poses, DetectionFilter()))
    assert len(det.detect([image, image])[1]) == 0


def test_image_extent_without_people_is_the_default():
    extent = ImageExtent()
    assert extent.size == (640.0, 360.0)


def test_a_changed_data_set_is_refused(dataset, tmp_path):
    """The re-simulation is checked against the annotations (another SynthTrack version would differ)."""
    import json
    import shutil

    from corrtrack.errors import CorrtrackError

    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    meta = copy / "synthtrack.json"
    doc = json.loads(meta.read_text())
    doc["sequences"][0]["seed"] += 1
    meta.write_text(json.dumps(doc))
    item = find_inputs(copy)[0]
    with pytest.raises(CorrtrackError, match="differs from the annotations"):
        spool_full_truth(item.ground_truth, len(item.frame_files or []), tmp_path)
