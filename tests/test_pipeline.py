"""The end-to-end pipeline (``corrtrack track``) on SynthTrack data sets and videos, with light components."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from corrtrack.cli import app
from corrtrack.errors import CorrtrackError
from corrtrack.formats import load_sequence, save_sequence
from corrtrack.pipeline import PipelineConfig, SequenceInput, find_inputs, shard, track_sequence
from corrtrack.synth import SimulatedDetectorConfig, make_specs, render_sequence_frames, simulate_detections
from corrtrack.video import VideoWriter

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "synth"
    r = runner.invoke(app, ["synth", str(out), "--sequences", "2", "--frames", "10", "--size", "320x192"])
    assert r.exit_code == 0, r.output
    return out


def test_track_a_posetrack_layout_data_set(dataset, tmp_path):
    out = tmp_path / "trk"
    args = ["track", str(dataset), "-o", str(out), "--detector", "simulated", "--poses", "detections"]
    r = runner.invoke(app, args + ["--correspondences", "zero", "--set", "min_track_length=1"])
    assert r.exit_code == 0, r.output
    gts = sorted((dataset / "annotations" / "val").glob("*.json"))
    for gt_path in gts:
        pred = load_sequence(out / gt_path.name)
        gt = load_sequence(gt_path)
        assert len(pred) == len(gt) and [f.file_name for f in pred] == [f.file_name for f in gt]
        assert pred.num_persons.sum() > 0 and (pred.flatten()[1].track_ids >= 0).all()
        assert (out / f"{gt_path.stem}.mp4").is_file() and (out / f"{gt_path.stem}.txt").is_file()
    timings = json.loads((out / "timings.json").read_text())
    assert timings["frames"] == 20 and timings["frames_per_second"] > 0
    config = json.loads((out / "config.json").read_text())
    assert config["tracker"]["values"]["min_track_length"] == 1
    # what the pipeline writes, the evaluator grades
    r = runner.invoke(app, ["eval", str(dataset / "annotations" / "val"), str(out), "--workers", "1"])
    assert r.exit_code == 0, r.output


def test_workers_and_shards_give_the_same_files(dataset, tmp_path):
    base = ["--detector", "simulated", "--poses", "detections", "--correspondences", "zero", "--no-render"]
    one = runner.invoke(app, ["track", str(dataset), "-o", str(tmp_path / "a"), *base])
    two = runner.invoke(app, ["track", str(dataset), "-o", str(tmp_path / "b"), "--workers", "2", *base])
    assert one.exit_code == 0 and two.exit_code == 0, (one.output, two.output)
    for i in range(2):
        r = runner.invoke(app, ["track", str(dataset), "-o", str(tmp_path / "c"), "--shard", f"{i}/2", *base])
        assert r.exit_code == 0, r.output
    for f in sorted((tmp_path / "a").glob("*.json")):
        if f.name in ("config.json", "timings.json", "manifest.json"):
            continue
        assert f.read_text() == (tmp_path / "b" / f.name).read_text() == (tmp_path / "c" / f.name).read_text()
    assert shard(list(range(5)), 1, 2) == [1, 3]


def test_a_video_with_detections_from_a_file(tmp_path):
    spec = make_specs("val", ["easy"], 1, 8, 3, "all", 192, 128)[0]
    images, gt, _, _ = render_sequence_frames(spec)
    video = tmp_path / "clip.mp4"
    with VideoWriter(video, fps=25) as w:
        for img in images:
            w.write(img)
    det = simulate_detections(gt, SimulatedDetectorConfig(with_poses=True), seed=1)
    det_path = tmp_path / "det.json"
    save_sequence(det, det_path, "posetrack18")
    items = find_inputs(video, det_path)
    assert [i.name for i in items] == ["clip"]
    cfg = PipelineConfig(poses="detections", correspondences="zero", render=False)
    result = track_sequence(items[0], tmp_path / "out", cfg)
    seq = load_sequence(result.predictions)
    assert len(seq) == 8 and result.video is None
    boxes = seq.flatten()[1].boxes
    assert np.isfinite(boxes).all()  # every tracked person carries a box


def test_missing_pieces_are_one_line_errors(dataset, tmp_path):
    r = runner.invoke(app, ["track", str(dataset), "-o", str(tmp_path / "x"), "--detector", "file"])
    assert r.exit_code != 0
    item = SequenceInput("x", tmp_path / "nothing.mp4")
    with pytest.raises(Exception, match="no such"):
        track_sequence(item, tmp_path, PipelineConfig(poses="detections", correspondences="zero"))


def test_the_default_components_run_end_to_end(dataset, tmp_path):
    """Bundled detector, bundled pose net, bundled correspondence net, CorrTrack."""
    import torch

    torch.set_num_threads(1)
    item = find_inputs(dataset)[0]
    item.frame_files = item.frame_files[:4]
    result = track_sequence(item, tmp_path / "out", PipelineConfig(detector="synth", render=False))
    seq = load_sequence(result.predictions)
    assert len(seq) == 4
    assert {"detection", "pose", "tracking", "tracking.embed", "tracking.propagate"} <= set(result.seconds)


def test_yolo_low_score_detections_serve_recovery():
    """--poses yolo: confident detections are tracked, low-score ones answer recovery's re-estimation."""
    from corrtrack.inference.file_detections import DetectionFilter, filter_detections
    from corrtrack.pipeline import YoloRecoveryPool
    from corrtrack.poses import Poses

    def person(x: float, score: float) -> tuple[np.ndarray, float]:
        kps = np.zeros((17, 3))
        kps[:, 0], kps[:, 1], kps[:, 2] = x + np.arange(17), 100 + 5 * np.arange(17), 1
        return kps, score

    class FakeYolo:
        post = DetectionFilter()

        def detect_raw(self, frames):
            people = [person(50, 0.9), person(300, 0.2), person(302, 0.05)]
            kps = np.stack([p[0] for p in people])
            scores = np.array([p[1] for p in people])
            boxes = np.array([[x, 95, 20, 90] for x in (48, 298, 300)], float)
            return [Poses.create(kps, keypoint_scores=np.full((3, 17), 0.8), boxes=boxes, scores=scores)] * len(frames)

        def post_filter(self, poses):
            return filter_detections(poses, self.post)

    pool = YoloRecoveryPool(FakeYolo(), track_threshold=0.5, pool_threshold=0.1)
    image = np.zeros((360, 640, 3), np.uint8)
    high = pool.detect([image])[0]
    assert len(high) == 1 and high.scores[0] == pytest.approx(0.9)
    found = pool.estimate(image, np.array([[296.0, 96, 24, 88], [500, 100, 20, 80]]))
    assert found.keypoints[0, 0, 0] == pytest.approx(300)  # the 0.2 detection, not the 0.05 one (below the pool)
    assert found.keypoint_scores[1].sum() == 0  # nothing there: an empty pose, which recovery rejects


def test_network_peak_options_reach_the_correspondence_model(tmp_path):
    from corrtrack.pipeline import make_correspondences

    model = make_correspondences(
        PipelineConfig(corr_prior_sigma=2.0, corr_subcell="centroid", refinement="windowed"), None
    )
    assert (
        model.config.prior_sigma == 2.0 and model.config.subcell == "centroid" and model.config.refinement == "windowed"
    )
    assert make_correspondences(PipelineConfig(), None).config.prior_sigma == 0.0
    with pytest.raises(ValueError, match="corr_prior_sigma"):
        PipelineConfig(corr_prior_sigma=-1.0)
    r = runner.invoke(app, ["track", str(tmp_path), "-o", str(tmp_path / "x"), "--corr-prior", "-1"])
    assert r.exit_code != 0 and "--corr-prior" in r.output


def test_simulated_detector_sees_people_in_unlabelled_frames(tmp_path):
    """On a PoseTrack-style labelled SynthTrack set the simulated detector works from every frame's people."""
    data = tmp_path / "pt"
    r = runner.invoke(
        app, ["synth", str(data), "--sequences", "1", "--frames", "12", "--size", "320x192", "--labeled", "posetrack"]
    )
    assert r.exit_code == 0, r.output
    from corrtrack.synth.full_truth import full_truth_for

    item = find_inputs(data)[0]
    annotated = load_sequence(item.ground_truth)
    unlabelled = [t for t, f in enumerate(annotated.frames) if not f.is_labeled]
    assert unlabelled and all(len(annotated.frames[t].poses) == 0 for t in unlabelled)
    found = full_truth_for(item.ground_truth)
    assert found is not None
    _, full, _ = found
    assert all(len(full.frames[t].poses) > 0 for t in unlabelled)
    out = tmp_path / "trk"
    args = ["track", str(data), "-o", str(out), "--detector", "simulated", "--poses", "detections"]
    r = runner.invoke(app, [*args, "--correspondences", "zero", "--no-render"])
    assert r.exit_code == 0, r.output
    tracked = load_sequence(out / item.ground_truth.name)
    assert sum(len(tracked.frames[t].poses) for t in unlabelled) > 0


def test_config_json_records_what_each_sequence_chose(tmp_path):
    """config.json's `chosen` (issue #24): per sequence, what the run decided on it (here the YOLO input size of
    imgsz 'auto'); a resumed run keeps the earlier sequences' records, and `chosen` never blocks a resume."""
    from types import SimpleNamespace

    from corrtrack.pipeline import _decisions, sequences_to_do, write_run_config

    choice = {"frames": 8, "persons": {"640": 1.0, "1280": 4.0}, "imgsz": 1280}
    pool = SimpleNamespace(yolo=SimpleNamespace(imgsz_choice=choice))  # YoloRecoveryPool holds the YoloPose
    assert _decisions(pool) == {"yolo_imgsz": choice}
    assert _decisions(SimpleNamespace(imgsz_choice=choice)) == {"yolo_imgsz": choice}
    assert _decisions(SimpleNamespace(imgsz_choice=None)) == {} and _decisions(object()) == {}

    cfg = PipelineConfig(render=False)
    configs = {"pipeline": cfg}
    write_run_config(tmp_path, configs)
    write_run_config(tmp_path, configs, {"a": {"yolo_imgsz": choice}})
    write_run_config(tmp_path, configs)  # the next run's start keeps what the first chose
    write_run_config(tmp_path, configs, {"b": {"yolo_imgsz": {**choice, "imgsz": 640}}})
    doc = json.loads((tmp_path / "config.json").read_text())
    assert doc["chosen"]["a"]["yolo_imgsz"]["imgsz"] == 1280 and doc["chosen"]["b"]["yolo_imgsz"]["imgsz"] == 640
    item = SequenceInput("a", tmp_path / "a.mp4")
    assert sequences_to_do(tmp_path, [item], cfg, configs) == [item]  # same settings: resumable


def test_person_descriptors_reach_the_tracker(dataset, tmp_path):
    """--descriptors colour wraps the correspondences; the tracker's descriptor options then run end to end."""
    from corrtrack.inference.person_descriptors import ColourDescriber, DescribedCorrespondences
    from corrtrack.pipeline import with_descriptors
    from corrtrack.testing import ZeroMotionCorrespondences

    base = ["track", str(dataset), "-o", str(tmp_path / "d"), "--detector", "simulated", "--poses", "detections"]
    options = [
        "--set",
        "lost_track_frames=5",
        "--set",
        "lost_track_reid_similarity=0.8",
        "--set",
        "merge_descriptor_weight=0.5",
    ]
    r = runner.invoke(app, [*base, "--correspondences", "zero", "--descriptors", "colour", "--no-render", *options])
    assert r.exit_code == 0, r.output
    config = json.loads((tmp_path / "d" / "config.json").read_text())
    assert config["pipeline"]["values"]["descriptors"] == "colour"
    # without descriptors the same options are a user-facing error (the command prints it as one line)
    r = runner.invoke(app, [*base[:3], str(tmp_path / "e"), *base[4:], "--correspondences", "zero", *options])
    assert isinstance(r.exception, CorrtrackError) and "--descriptors colour" in str(r.exception)
    wrapped = with_descriptors(ZeroMotionCorrespondences(), PipelineConfig(descriptors="colour"), None)
    assert isinstance(wrapped, DescribedCorrespondences) and isinstance(wrapped.describer, ColourDescriber)
    with pytest.raises(ValueError, match="detector 'yolo'"):
        PipelineConfig(descriptors="yolo", detector="simulated")
