"""The real-footage benchmark's plumbing: detection cache, pooled recovery, MOT writing, one tracked clip (no YOLO)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from corrtrack.errors import CorrtrackError
from corrtrack.evaluate.boxes import evaluate_boxes
from corrtrack.formats import read_mot
from corrtrack.inference.detection_cache import PooledDetections, load_detections, save_detections
from corrtrack.poses import Poses

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "real_footage.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("real_footage_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["real_footage_bench"] = module
    spec.loader.exec_module(module)
    return module


def person(x: float, y: float, score: float, h: float = 60.0) -> tuple[np.ndarray, np.ndarray, float]:
    """A standing stick person at (x, y) (top-left of its box), keypoints with confidence 0.9."""
    rel = np.array(
        [[0.5, 0.1], [0.5, 0.15], [0.5, 0.02], [0.45, 0.1], [0.55, 0.1]]
        + [[0.35, 0.25], [0.65, 0.25], [0.3, 0.4], [0.7, 0.4], [0.3, 0.55], [0.7, 0.55]]
        + [[0.4, 0.55], [0.6, 0.55], [0.4, 0.75], [0.6, 0.75], [0.4, 0.95], [0.6, 0.95]]
    )
    xy = np.array([x, y]) + rel * np.array([h / 2, h])
    kps = np.concatenate([xy, np.ones((17, 1))], 1)
    return kps, np.array([x, y, h / 2, h]), score


def frame(people: list[tuple[np.ndarray, np.ndarray, float]]) -> Poses:
    if not people:
        return Poses.empty()
    return Poses.create(
        np.stack([p[0] for p in people]),
        keypoint_scores=np.full((len(people), 17), 0.9),
        boxes=np.stack([p[1] for p in people]),
        scores=np.array([p[2] for p in people]),
    )


def clip() -> list[Poses]:
    """5 frames, two people walking right; person B drops to a low score in frame 2 (a weak detection)."""
    out = []
    for t in range(5):
        b_score = 0.15 if t == 2 else 0.8
        out.append(frame([person(10 + 4 * t, 20, 0.9), person(80 + 4 * t, 22, b_score)]))
    return out


def test_cache_round_trip(tmp_path: Path) -> None:
    frames = clip() + [Poses.empty()]
    path = tmp_path / "v.detections.npz"
    save_detections(path, frames, {"imgsz": 1280, "conf": 0.1})
    back, meta = load_detections(path)
    assert meta["imgsz"] == 1280 and meta["conf"] == 0.1 and meta["version"] == 1
    assert len(back) == len(frames)
    for a, b in zip(frames, back):
        assert a.equals(b)
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically, nothing left beside it


def test_cache_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.npz"
    np.savez(bad, counts=np.array([1]))
    with pytest.raises(CorrtrackError, match="missing"):
        load_detections(bad)
    with pytest.raises(CorrtrackError, match="no such"):
        load_detections(tmp_path / "absent.npz")
    with pytest.raises(CorrtrackError, match=r"\.npz"):
        save_detections(tmp_path / "x.json", clip(), {})


def test_pool_serves_high_scores_and_recovers_from_low(bench) -> None:
    pooled = PooledDetections(clip(), track_threshold=0.25, pool_threshold=0.1)
    assert [len(p) for p in pooled.detect([np.zeros((8, 8, 3), np.uint8)] * 3)] == [2, 2, 1]
    # a recovery box near person B finds its low-score detection: its keypoints, score and box
    box_b = np.array([[86.0, 20.0, 32.0, 64.0]])
    far = np.array([[300.0, 300.0, 30.0, 60.0]])
    got = pooled.estimate(np.zeros((8, 8, 3), np.uint8), np.concatenate([box_b, far]))
    assert len(got) == 2
    np.testing.assert_allclose(got.boxes[0], [88.0, 22.0, 30.0, 60.0])
    assert got.scores[0] == pytest.approx(0.15)
    assert (got.keypoint_scores[0] == 0.9).all()
    assert (got.keypoint_scores[1] == 0).all() and not got.present[1].any()  # nothing there: an empty pose
    with pytest.raises(ValueError):
        PooledDetections(clip(), track_threshold=0.1, pool_threshold=0.3)


def test_tracked_clip_writes_mot_and_scores_perfectly(bench, tmp_path: Path) -> None:
    """CorrTrack on the cached clip: the weak detection is recovered from the pool, two clean tracks."""
    dets = clip()
    spec = bench.VideoSpec("clip", tmp_path / "clip", tmp_path / "gt.txt", 640, "bytetrack", 0.25, 0.0, 0.0)
    images = [np.full((480, 640, 3), 40 * t, np.uint8) for t in range(5)]  # corr map sigma 10 px
    bench.frames_of = lambda video: iter(images)  # no video file: the 5 synthetic frames
    method = bench.Method("zero", "corrtrack", "zero")
    tracked, info = bench.run_method(method, spec, dets, None)
    assert info["counts"]["recovered"] == 1 and info["pool"]["found"] >= 1
    assert [len(p) for p in tracked] == [2, 2, 2, 2, 2]
    gt = bench.mot_sequence("gt", [d.replace(track_ids=np.array([1, 2])) for d in dets])
    m = bench.write_and_score(bench.mot_sequence("clip", tracked), tmp_path / "out" / "clip.txt", gt)
    assert m["num_switches"] == 0 and m["num_misses"] == 0 and m["num_false_positives"] == 0
    assert m["idf1"] == pytest.approx(1.0) and m["hota"] > 0.95
    rows = (tmp_path / "out" / "clip.txt").read_text().splitlines()
    assert len(rows) == 10 and rows[0].startswith("1,")
    assert len(read_mot(tmp_path / "out" / "clip.txt")) == 5
    # without the pool (no recovery) person B's track breaks into two 2-frame pieces, both below 3 frames
    tracked2, _ = bench.run_method(bench.Method("n", "corrtrack", "zero", recovery_pool=False), spec, dets, None)
    assert [len(p) for p in tracked2] == [1, 1, 1, 1, 1]
    m2 = evaluate_boxes(gt, bench.mot_sequence("clip", tracked2))
    assert m2["num_misses"] == 5


def test_markdown_table(bench) -> None:
    m = {
        "hota": 0.5,
        "deta": 0.4,
        "assa": 0.6,
        "mota": 0.7,
        "idf1": 0.8,
        "num_switches": 3,
        "num_false_positives": 4,
        "num_misses": 5,
    }
    text = bench.markdown({"PETS09-S2L1": {"x": m}})
    assert "| x | 50.0 | 40.0 | 60.0 | 70.0 | 80.0 | 3 | 4 | 5 |" in text


def test_detection_coverage_and_crossing(bench) -> None:
    dets = clip()
    gt = bench.mot_sequence("gt", [d.replace(track_ids=np.array([1, 2])) for d in dets])
    low = bench.detection_coverage(gt, dets, 0.1)
    high = bench.detection_coverage(gt, dets, 0.25)
    assert low == {"gt_boxes": 10, "covered": 10, "unmatched_detections": 0}
    assert high["covered"] == 9  # person B's weak frame
    # two people walking into each other: the crossing is found at the strongest overlap
    walk = [frame([person(10 + 10 * t, 20, 0.9), person(200 - 10 * t, 20, 0.9)]) for t in range(20)]
    gt2 = bench.mot_sequence("gt", [d.replace(track_ids=np.array([1, 2])) for d in walk])
    frames = bench.crossing_frames(gt2, count=6, step=2)
    assert len(frames) == 6 and frames[0] <= 9 <= frames[-1]


# ----------------------------------------------------------------------------- boxmot anchors (pure conversion code)
def test_boxmot_rows_round_trip_the_cached_boxes(bench) -> None:
    det = clip()[0]
    rows = bench.boxmot_input(det)
    assert rows.dtype == np.float32 and rows.shape == (2, 6)
    np.testing.assert_allclose(rows[:, :2], det.boxes[:, :2])
    np.testing.assert_allclose(rows[:, 2:4], det.boxes[:, :2] + det.boxes[:, 2:])  # x2, y2
    np.testing.assert_allclose(rows[:, 4], det.scores, rtol=1e-6)
    assert (rows[:, 5] == 0).all()  # one class: person
    assert bench.boxmot_input(Poses.empty()).shape == (0, 6)
    # boxmot answers x1, y1, x2, y2, id (from 0), score, class, detection index: ids become 1-based
    tracks = np.concatenate([rows[:, :4], [[0], [1]], rows[:, 4:5], rows[:, 5:6], [[0], [1]]], 1)
    back = bench.boxmot_output(tracks, (480, 640, 3))
    np.testing.assert_allclose(back.boxes, det.boxes, rtol=1e-6)
    assert list(back.track_ids) == [1, 2]
    np.testing.assert_allclose(back.scores, det.scores, rtol=1e-6)
    assert len(bench.boxmot_output(np.zeros((0, 8)), (480, 640, 3))) == 0


def test_boxmot_boxes_are_clipped_to_the_image(bench) -> None:
    tracks = np.array([[-10.0, 20.0, 50.0, 500.0, 4, 0.9, 0, 0]])
    p = bench.boxmot_output(tracks, (480, 640, 3))
    np.testing.assert_allclose(p.boxes, [[0.0, 20.0, 50.0, 460.0]])
    assert list(p.track_ids) == [5]


def test_boxmot_reid_is_off_and_reid_trackers_are_skipped(bench, monkeypatch: pytest.MonkeyPatch) -> None:
    assert bench.boxmot_options({"use_embeddings": {"default": True}, "track_buffer": {}}) == (
        ("use_embeddings", False),
    )
    assert bench.boxmot_options({"track_thresh": {"default": 0.6}}) == ()
    assert bench.boxmot_skip_reason(False, False) is None
    assert "ReID" in bench.boxmot_skip_reason(True, False)
    assert "masks" in bench.boxmot_skip_reason(False, True)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "boxmot" else real_find_spec(name, *a)
    )
    assert bench.boxmot_available() == {}  # no boxmot: the stage logs one line and adds no row


def test_boxmot_bytetrack_keeps_two_walkers_apart(bench, tmp_path: Path) -> None:
    """boxmot's own ByteTrack through the adapter (skipped without boxmot, AGPL, the benchmark's environment only)."""
    pytest.importorskip("boxmot", reason="boxmot is not installed (the benchmark's optional anchor)")
    assert bench.boxmot_available()["bytetrack"] is None
    walk = [frame([person(10 + 6 * t, 20, 0.9), person(300 - 6 * t, 40, 0.85)]) for t in range(12)]
    spec = bench.VideoSpec("walk", tmp_path / "walk", tmp_path / "gt.txt", 640, "bytetrack", 0.25, 0.0, 0.0)
    images = [np.zeros((480, 640, 3), np.uint8)] * len(walk)
    bench.frames_of = lambda video: iter(images)
    tracked = bench.boxmot_replay("bytetrack", spec, walk)
    gt = bench.mot_sequence("gt", [d.replace(track_ids=np.array([1, 2])) for d in walk])
    m = evaluate_boxes(gt, bench.mot_sequence("walk", tracked))
    assert m["num_switches"] == 0 and m["num_false_positives"] == 0 and m["idf1"] > 0.9


def test_reid_rows_describe_and_report_merges(bench, tmp_path: Path) -> None:
    """The reid stage's rows run with colour descriptors and report merges proposed / accepted / correct; the
    leave-one-video-out choice waits for every row of the other video."""
    dets = clip()
    spec = bench.VideoSpec("clip", tmp_path / "clip", tmp_path / "gt.txt", 640, "bytetrack", 0.25, 0.0, 0.0)
    images = [np.full((480, 640, 3), 40 * t, np.uint8) for t in range(5)]
    bench.frames_of = lambda video: iter(images)
    gt = bench.mot_sequence("gt", [d.replace(track_ids=np.array([1, 2])) for d in dets])
    methods = bench.reid_methods()
    assert len(methods) == 16 and len({m.name for m in methods}) == 16
    colour = next(m for m in methods if m.correspondences == "flow@colour" and m.config.lost_track_min_similarity > 0)
    method = bench.Method("c", "corrtrack", "zero@colour", colour.config)
    tracked, info = bench.run_method(method, spec, dets, None, None, gt)
    assert [len(p) for p in tracked] == [2, 2, 2, 2, 2]
    assert set(info["merge_report"]) == {"proposed", "accepted", "correct"}
    with pytest.raises(FileNotFoundError, match="feature cache"):
        bench.make_correspondences("flow@yolo-p4", None, None)
    results = {"PETS09-S2L1": {m.name: {"hota": 0.5, "idf1": 0.5} for m in methods}}
    best = methods[3].name
    results["PETS09-S2L1"][best] = {"hota": 0.6, "idf1": 0.5}
    assert bench.select_reid_on_other_video(results, "TUD-Stadtmitte") == best
    del results["PETS09-S2L1"][methods[0].name]
    assert bench.select_reid_on_other_video(results, "TUD-Stadtmitte") is None
