"""The paper's experiments (corrtrack.experiments): rows, caches, workers, outputs, errors, the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from corrtrack.errors import CorrtrackError
from corrtrack.experiments import (
    EXPERIMENTS,
    ExperimentRunner,
    SequenceData,
    Variant,
    bundled_models,
    detector_factory,
    load_sequences,
    markdown,
    run_experiment,
    run_experiments,
    simple_models,
    variants,
    write_outputs,
)
from corrtrack.interfaces import CorrespondenceModel, PoseEstimator
from corrtrack.presets import PRESETS
from corrtrack.synth import SimulatedDetectorConfig, generate_dataset, make_specs
from corrtrack.testing import OraclePoseEstimator, ZeroMotionCorrespondences
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two `hard` val sequences of 8 frames at 256x144 (PoseTrack-style labelling: not every frame annotated)."""
    out = tmp_path_factory.mktemp("exp") / "set"
    generate_dataset(out, make_specs("val", ["hard"], 2, 8, 4, "posetrack", 256, 144))
    return out


@pytest.fixture(scope="module")
def sequences(tiny_set: Path) -> list[SequenceData]:
    return load_sequences(tiny_set, "val", ["hard"])


def _oracle_poses(seq: SequenceData) -> PoseEstimator:
    assert seq.full_truth is not None
    return OraclePoseEstimator(seq.full_truth, seq.images)


class _DescribingZeroMotion(ZeroMotionCorrespondences):
    """Zero motion with a person descriptor (the normalised mean joint position), standing in for the network."""

    def describe(self, handle: object, points: np.ndarray) -> np.ndarray:
        mean = np.nan_to_num(np.nanmean(np.asarray(points, float), axis=1))
        vec = np.concatenate([mean, np.full((len(mean), 1), 100.0)], 1)
        return vec / np.linalg.norm(vec, axis=1, keepdims=True)


def _fake_models(seq: SequenceData, kind: str, refinement: str) -> CorrespondenceModel:
    """The network's place is taken by zero motion (no network in these tests); the rest are the real ones."""
    if kind.startswith("network"):
        return _DescribingZeroMotion()
    return simple_models()(seq, kind, refinement)


def _runner(seqs: list[SequenceData], cache: bool = True) -> ExperimentRunner:
    return ExperimentRunner(seqs, detector_factory("simulated"), _oracle_poses, _fake_models, cache=cache)


def test_load_sequences_resimulates_every_frame(sequences: list[SequenceData]) -> None:
    assert [len(s.images) for s in sequences] == [8, 8]
    for s in sequences:
        assert s.full_truth is not None and len(s.full_truth) == 8
        labeled = [f.is_labeled for f in s.ground_truth.frames]
        assert not all(labeled)  # posetrack labelling: some frames carry no annotation ...
        assert all(len(f.poses) for f in s.full_truth.frames)  # ... but the re-simulated truth has every frame


def test_each_experiment_gives_one_row_per_variant(sequences: list[SequenceData]) -> None:
    runner = _runner(sequences)
    for name in EXPERIMENTS:
        result = run_experiment(name, runner, settings={"detector": "simulated"})
        assert [r["name"] for r in result.rows] == [v.name for v in variants(name)]
        for r in result.rows:
            assert np.isfinite([r["MOTA"], r["mAP"], r["HOTA"]]).all()
            assert r["IDSW"] >= 0 and r["FN"] >= 0
        assert result.frames == 16
    # the shared part ran once: detections and poses are cached per sequence
    assert set(runner._poses) == {0, 1}


def test_rows_differ_where_the_tracker_differs(sequences: list[SequenceData]) -> None:
    runner = _runner(sequences)
    rows = [Variant("full"), Variant("no recovery", settings=("recovery=false",)), Variant("iou", tracker="iou")]
    result = run_experiment("custom", runner, rows=rows)
    full, norec, _ = result.rows
    assert full["counts"]["reestimated"] > 0
    assert norec["counts"]["reestimated"] == 0
    assert full["FN"] <= norec["FN"]  # recovery brings back missed people (oracle poses)


def test_cache_gives_the_same_result_as_no_cache(sequences: list[SequenceData]) -> None:
    rows = variants("table2") + [Variant("flow", correspondences="flow"), Variant("oracle", correspondences="oracle")]
    cached = _runner(sequences, cache=True)
    plain = _runner(sequences, cache=False)
    a = run_experiment("x", cached, rows=rows)
    b = run_experiment("x", plain, rows=rows)
    keys = ("MOTA", "IDSW", "mAP", "HOTA", "FN", "FP")
    assert [[r[k] for k in keys] for r in a.rows] == [[r[k] for k in keys] for r in b.rows]
    # the predictions themselves are identical, and the memos were used
    ra, rb = cached.run(rows[0]), plain.run(rows[0])
    for pa, pb in zip(ra.predictions, rb.predictions):
        for fa, fb in zip(pa.frames, pb.frames):
            assert fa.poses.equals(fb.poses)
    assert cached._prop_memo and any(len(m) for m in cached._prop_memo.values())


def test_several_experiments_in_one_pass_run_each_tracker_once(sequences: list[SequenceData]) -> None:
    runner = _runner(sequences)
    calls = []
    run = runner.run
    runner.run = lambda v, indices=None: calls.append(v.name) or run(v, indices)  # type: ignore[method-assign]
    together = run_experiments(["table2", "ablations"], runner)
    # "CorrTrack (full)" is in both tables: it ran once
    assert len(calls) == len({v.name for v in variants("table2") + variants("ablations")})
    for result in together:
        alone = run_experiment(result.experiment, _runner(sequences))
        keys = ("MOTA", "IDSW", "mAP", "HOTA")
        assert [[r[k] for k in keys] for r in result.rows] == [[r[k] for k in keys] for r in alone.rows]


def test_workers_give_the_same_rows(sequences: list[SequenceData]) -> None:
    rows = [Variant("full"), Variant("hungarian", settings=("assignment=hungarian",))]
    one = run_experiment("x", _runner(sequences), rows=rows)
    two = run_experiment("x", _runner(sequences), workers=2, rows=rows)
    for r1, r2 in zip(one.rows, two.rows):
        assert (r1["MOTA"], r1["IDSW"], r1["HOTA"]) == (r2["MOTA"], r2["IDSW"], r2["HOTA"])


def test_outputs_table_json_and_plot(sequences: list[SequenceData], tmp_path: Path) -> None:
    runner = _runner(sequences[:1])
    for name in ("table1", "ablations"):
        result = run_experiment(name, runner, settings={"detector": "simulated"})
        paths = write_outputs(result, tmp_path)
        doc = json.loads(paths["json"].read_text())
        assert len(doc["rows"]) == len(variants(name))
        table = paths["markdown"].read_text()
        assert table.count("\n| ") == len(variants(name)) + 1  # one line per row plus the separator
        assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert paths["plot"].stat().st_size < 200_000


def test_bad_inputs_fail_with_one_line(tiny_set: Path, tmp_path: Path) -> None:
    with pytest.raises(CorrtrackError, match="unknown experiment"):
        variants("table3")
    with pytest.raises(CorrtrackError, match="no annotations"):
        load_sequences(tmp_path)
    with pytest.raises(CorrtrackError, match="no val sequence matches"):
        load_sequences(tiny_set, "val", ["easy"])
    with pytest.raises(CorrtrackError, match="at least 2"):
        load_sequences(tiny_set, frames=1)
    # a description whose seeds do not match the annotations is refused, not silently used
    bad = tmp_path / "bad"
    (bad / "annotations").mkdir(parents=True)
    (bad / "annotations" / "val").symlink_to(tiny_set / "annotations" / "val")
    (bad / "images").symlink_to(tiny_set / "images")
    doc = json.loads((tiny_set / "synthtrack.json").read_text())
    doc["sequences"][0]["seed"] += 1
    (bad / "synthtrack.json").write_text(json.dumps(doc))
    with pytest.raises(CorrtrackError, match="differs from the annotations"):
        load_sequences(bad, "val", [doc["sequences"][0]["name"]])


def test_command_runs_with_the_bundled_networks(tiny_set: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import corrtrack.cli.experiment  # noqa: F401  (registers the command)
    from corrtrack.cli.app import app

    name = json.loads((tiny_set / "synthtrack.json").read_text())["sequences"][0]["name"]
    args = ["experiment", "table2", "--data", str(tiny_set), "--out", str(tmp_path), "--sequences", name]
    res = CliRunner().invoke(app, [*args, "--frames", "4"])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "table2-simulated.json").read_text())
    assert [r["name"] for r in doc["rows"]] == [v.name for v in variants("table2")]
    assert doc["frames"] == 4 and (tmp_path / "table2-simulated.png").is_file()
    bad = CliRunner().invoke(app, [*args, "--set", "tau_corr=2"])
    assert bad.exit_code == 2 and "tau_corr" in bad.output
    out = tmp_path / "preset"
    args = ["experiment", "ablations", "--data", str(tiny_set), "--out", str(out), "--sequences", name]
    res = CliRunner().invoke(app, [*args, "--frames", "3", "--preset", "synthtrack", "--poses", "detections"])
    assert res.exit_code == 0, res.output
    settings = json.loads((out / "ablations-simulated.json").read_text())["settings"]
    assert settings["preset"] == "synthtrack" and settings["poses"] == "detections"
    default = CorrTrackConfig()
    changed = {k: v for k, v in PRESETS["synthtrack"].tracker.items() if getattr(default, k) != v}
    assert changed and settings["tracker_overrides"] == changed


def test_recovery_and_reid_rows_count_what_the_tracker_did(sequences: list[SequenceData]) -> None:
    runner = _runner(sequences)
    rec, reid, base = run_experiments(["recovery", "reid", "baselines"], runner, settings={"detector": "simulated"})
    by_name = {r["name"]: r for r in rec.rows}
    assert by_name["without recovery"]["counts"]["recovered_tp"] == 0
    assert by_name["without recovery"]["counts"]["recovered_fp"] == 0
    paper = by_name["recovery, paper rule"]["counts"]
    assert paper["recovered_tp"] + paper["recovered_fp"] <= paper["recovered"]  # output poses <= kept re-estimates
    for r in reid.rows:
        c = r["counts"]
        assert 0 <= c["merges_correct"] <= c["merges_accepted"] <= c["merges_proposed"]
        assert 0 <= c["resumes_correct"] + c["resumes_wrong"] <= c["resumes"]
        assert c["merges_correct"] + c["merges_wrong"] <= c["merges_accepted"]
        if "merging off" in r["name"]:
            assert c["merges_proposed"] == 0
    assert "merges proposed" in markdown(reid) and "recovered TP" in markdown(rec)
    byte = next(r for r in base.rows if r["variant"]["tracker"] == "bytetrack")
    assert np.isfinite(byte["MOTA"]) and byte["counts"]["new_tracks"] > 0


class _CountingEstimator:
    """The oracle pose estimator, counting the boxes it is asked for."""

    def __init__(self, inner: PoseEstimator) -> None:
        self.inner = inner
        self.boxes = 0

    def estimate(self, image: np.ndarray, boxes: np.ndarray):  # type: ignore[no-untyped-def]
        self.boxes += len(boxes)
        return self.inner.estimate(image, boxes)


def test_poses_from_detections_skip_the_pose_net_and_keep_the_detectors_keypoints(
    sequences: list[SequenceData],
) -> None:
    counters: list[_CountingEstimator] = []

    def estimator(seq: SequenceData) -> PoseEstimator:
        counters.append(_CountingEstimator(_oracle_poses(seq)))
        return counters[-1]  # type: ignore[return-value]

    with_poses = detector_factory("simulated", SimulatedDetectorConfig(with_poses=True))
    runner = ExperimentRunner(sequences[:1], with_poses, estimator, _fake_models, poses="detections")
    dets = runner.detections(0)
    assert counters[0].boxes == 0
    simulated = with_poses(sequences[0])
    raw = [simulated.detect([image])[0] for image in sequences[0].images][3]
    assert len(dets[3]) and len(dets[3]) <= len(raw) and dets[3].has_keypoints.all()
    # every kept pose is one of the detector's own, keypoints unchanged
    for k in dets[3].keypoints:
        assert any(np.array_equal(k, r, equal_nan=True) for r in raw.keypoints)
    estimated = ExperimentRunner(sequences[:1], detector_factory("simulated"), estimator, _fake_models)
    estimated.detections(0)
    assert counters[-1].boxes > 0


def test_visibility_rows_need_a_network_with_the_head(sequences: list[SequenceData]) -> None:
    """network+visibility reads the head's confidence (method.md deviation 23); the bundled net has none: one line."""
    with pytest.raises(CorrtrackError, match="visibility head"):
        bundled_models()(sequences[0], "network+visibility", "full")


def test_a_resume_is_judged_by_the_pieces_of_track_around_the_gap() -> None:
    """A lost track resumed on its own person counts as correct even when the pose next to the gap is partial
    (it matches no ground-truth box); one resumed on someone else does not."""
    from types import SimpleNamespace

    from corrtrack.experiments import identity_counts
    from corrtrack.poses import Frame, Poses, PoseSequence

    def person(x: float, tid: int, partial: bool = False) -> Poses:
        kps = np.zeros((1, 17, 3))
        kps[0, :, 0] = x + np.linspace(0, 40, 17)
        kps[0, :, 1] = np.linspace(100, 220, 17)
        kps[0, :, 2] = 1
        if partial:
            kps[0, 3:, 2] = 0  # three joints left: a small box
        return Poses.create(kps, track_ids=[tid])

    truth = PoseSequence(
        "t", [Frame(f"{t}.jpg", Poses.concat([person(100, 7), person(400, 8)]), image_id=t) for t in range(6)]
    )

    def tracker(online: list[Poses]) -> SimpleNamespace:
        return SimpleNamespace(online_frames=online, merge_candidates={}, merges={})

    gap = Poses.empty()
    own = [person(100, 0), person(100, 0), gap, gap, person(100, 0, partial=True), person(100, 0)]
    other = [person(100, 0), person(100, 0), gap, gap, person(400, 0), person(400, 0)]
    c_own = identity_counts(tracker(own), own, truth)
    c_other = identity_counts(tracker(other), other, truth)
    assert (c_own["resumes"], c_own["resumes_correct"], c_own["resumes_wrong"]) == (1, 1, 0)
    assert (c_other["resumes"], c_other["resumes_correct"], c_other["resumes_wrong"]) == (1, 0, 1)
