"""Equal to the official tool in the corners: pooling order under tied scores, head-size arithmetic at the threshold.

Both are constructed cases. The "official" verdicts are computed here with the
operations evaluation.md section 6 describes (the tool's order of pooling and
ranking, ``0.6 * norm(x2 - x1, y2 - y1)`` for the head size on the corners the
tool holds, ``norm(gt - pred) / head`` for the distance).
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest

from corrtrack.evaluate import evaluate, evaluate_dirs
from corrtrack.evaluate.api import JOINT_NAMES
from corrtrack.evaluate.prepare import official_norm
from corrtrack.formats import save_sequence
from corrtrack.poses import Frame, Poses, PoseSequence

NOSE = JOINT_NAMES.index("nose")  # evaluation order
NOSE_18 = 0  # PoseTrack 2018 layout slot


def one_person(name: str, xy: np.ndarray, head: list[float], scores: np.ndarray | None = None) -> PoseSequence:
    kps = np.concatenate([xy, np.ones((17, 1))], -1)[None]
    kps[0, 3:5] = 0  # ears
    poses = Poses.create(kps, keypoint_scores=scores, head_boxes=np.array([head]), track_ids=[0])
    return PoseSequence(name, [Frame(f"images/val/{name}/000000.jpg", poses, 1, True, [])])


# ---------------------------------------------------------------- pooling order


def official_ap(scores: list[float], labels: list[int], num_gt: int) -> float:
    """The official ranking and VOC AP, one sample at a time (evaluation.md section 6)."""
    order = np.array(scores).argsort()[::-1]
    hits, precision, recall = 0, [], []
    for k, i in enumerate(order):
        hits += labels[i]
        precision.append(hits / (k + 1))
        recall.append(hits / num_gt)
    mpre = [0.0, *precision, 0.0]
    mrec = [0.0, *recall, 1.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return 100 * sum((mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1])


@pytest.fixture
def tied_folders(tmp_path):
    """Three sequences whose predictions carry no scores (all tie at -9999): hits in one, misses in another."""
    rng = np.random.default_rng(0)
    gts, preds = {}, {}
    for k, offset in enumerate((0.0, 400.0, 0.0)):
        name = f"00000{k}_mpii_test"
        xy = rng.uniform(50, 300, (17, 2))
        gts[name] = one_person(name, xy, [xy[2, 0] - 10, xy[2, 1] - 10, 20.0, 25.0])
        preds[name] = one_person(name, xy + offset, [0, 0, 1, 1])  # no scores: NaN, ranked as -9999
        save_sequence(gts[name], tmp_path / "gt" / f"{name}.json", "posetrack18")
        save_sequence(preds[name], tmp_path / "pred" / f"{name}.json", "posetrack18")
    return tmp_path, gts, preds


def test_tied_scores_make_ap_depend_on_the_pooling_order(tied_folders):
    _, gts, preds = tied_folders
    names = sorted(gts)
    results = {}
    for order in (names, names[::-1], [names[1], names[0], names[2]]):
        r = evaluate([gts[n] for n in order], [preds[n] for n in order])
        labels = [0 if n == names[1] else 1 for n in order]  # the sequence with the offset misses
        assert r.ap.ap[NOSE] == pytest.approx(official_ap([-9999.0] * 3, labels, 3), abs=1e-9)
        results[tuple(order)] = r.ap.ap[NOSE]
    assert len(set(results.values())) > 1  # the official result itself depends on the order


def test_folders_are_pooled_in_listing_order_or_sorted_on_request(tied_folders, monkeypatch):
    folder, gts, preds = tied_folders
    listed = [os.path.basename(p) for p in glob.glob(os.path.join(glob.escape(str(folder / "gt")), "*.json"))]
    r = evaluate_dirs(folder / "gt", folder / "pred")
    assert [s.name + ".json" for s in r.sequences] == listed  # what the file system lists, as the official glob

    real_glob = glob.glob
    for fake in (sorted, lambda x: sorted(x, reverse=True), lambda x: [x[1], x[0], x[2]]):
        monkeypatch.setattr(glob, "glob", lambda pattern, fake=fake: fake(sorted(real_glob(pattern))))
        listed = [os.path.basename(p)[:-5] for p in glob.glob(os.path.join(str(folder / "gt"), "*.json"))]
        expected = evaluate([gts[n] for n in listed], [preds[n] for n in listed])
        by_listing = evaluate_dirs(folder / "gt", folder / "pred")
        assert by_listing.ap.ap[NOSE] == expected.ap.ap[NOSE]
        assert [s.name for s in by_listing.sequences] == listed
        by_name = evaluate_dirs(folder / "gt", folder / "pred", order="sorted")
        assert (
            by_name.ap.ap[NOSE] == evaluate([gts[n] for n in sorted(gts)], [preds[n] for n in sorted(gts)]).ap.ap[NOSE]
        )
    with pytest.raises(ValueError, match="order must be 'listing' or 'sorted'"):
        evaluate_dirs(folder / "gt", folder / "pred", order="random")


# ---------------------------------------------------------------- head size at the threshold


def official_distance(gt: tuple[float, float], pred: tuple[float, float], corners: tuple[float, ...]) -> float:
    x1, y1, x2, y2 = corners
    head = 0.6 * np.linalg.norm(np.subtract([x2, y2], [x1, y1]))
    return float(np.linalg.norm(np.subtract(gt, pred)) / head)


def boundary_x(gt: tuple[float, float], corners: tuple[float, ...]) -> float:
    """The largest prediction x (same y) the official arithmetic still calls within PCKh 0.5."""
    head = 0.6 * np.linalg.norm(np.subtract(corners[2:], corners[:2]))
    x = gt[0] + 0.5 * head
    while official_distance(gt, (x, gt[1]), corners) > 0.5:
        x = np.nextafter(x, -np.inf)
    while official_distance(gt, (np.nextafter(x, np.inf), gt[1]), corners) <= 0.5:
        x = np.nextafter(x, np.inf)
    return float(x)


def find_case(other_head, corners_of, seed: int) -> tuple[tuple[float, ...], float, bool]:
    """Corners and a prediction x at which the official verdict differs from the verdict under ``other_head``."""
    rng = np.random.default_rng(seed)
    gt = (100.0, 50.0)
    for _ in range(10_000):
        box = tuple(np.round(rng.uniform([0, 0, 5, 5], [900, 500, 60, 60]), int(rng.integers(1, 4))).tolist())
        corners = corners_of(box)
        if 0.6 * np.linalg.norm(np.subtract(corners[2:], corners[:2])) == other_head(corners):
            continue
        x = boundary_x(gt, corners)
        for px in (x, float(np.nextafter(x, np.inf))):  # the last hit and the first miss
            official_hit = official_distance(gt, (px, gt[1]), corners) <= 0.5
            other_hit = abs(px - gt[0]) / other_head(corners) <= 0.5
            if official_hit != other_hit:
                return corners, px, official_hit
    raise AssertionError("no boundary case found")


def _nose_case(box: tuple[float, ...], px: float) -> tuple[PoseSequence, PoseSequence]:
    rng = np.random.default_rng(1)
    xy = rng.uniform(150, 300, (17, 2))
    xy[NOSE_18] = (100.0, 50.0)
    gt = one_person("000001_mpii_test", xy, list(box))
    pred_xy = xy.copy()
    pred_xy[NOSE_18] = (px, 50.0)
    return gt, one_person("000001_mpii_test", pred_xy, [0, 0, 1, 1], np.full((1, 17), 0.5))


def test_official_norm_is_numpys_norm_of_each_vector():
    rng = np.random.default_rng(5)
    dx = np.round(rng.uniform(-900, 900, 4000), int(rng.integers(1, 4)))
    dy = np.round(rng.uniform(-900, 900, 4000), 2)
    expected = [np.linalg.norm(np.subtract([a, b], [0.0, 0.0])) for a, b in zip(dx, dy)]
    np.testing.assert_array_equal(official_norm(dx, dy), expected)
    np.testing.assert_array_equal(official_norm(dx.reshape(40, 100), dy.reshape(40, 100)).ravel(), expected)


def test_2018_head_box_uses_the_official_corner_arithmetic(tmp_path):
    # corrtrack's earlier formula: 0.6 * hypot(w, h)
    hypot_head = lambda c: 0.6 * np.hypot(c[2] - c[0], c[3] - c[1])  # noqa: E731
    corners_2018 = lambda b: (b[0], b[1], b[0] + b[2], b[1] + b[3])  # noqa: E731 - the tool's 2018 conversion
    corners, px, official_hit = find_case(hypot_head, corners_2018, 0)
    x1, y1, x2, y2 = corners
    box = (x1, y1, x2 - x1, y2 - y1)
    # the box as written is [x, y, w, h]; find the w, h whose corners are these (w = x2 - x1 is one of them)
    assert (box[0] + box[2], box[1] + box[3]) == (x2, y2)
    gt, pred = _nose_case(box, px)
    expected = 100.0 if official_hit else 0.0
    assert evaluate(gt, pred).ap.ap[NOSE] == expected
    save_sequence(gt, tmp_path / "gt" / "000001_mpii_test.json", "posetrack18")
    save_sequence(pred, tmp_path / "pred" / "000001_mpii_test.json", "posetrack18")
    assert evaluate_dirs(tmp_path / "gt", tmp_path / "pred").ap.ap[NOSE] == expected


def test_2017_head_corners_are_used_as_written(tmp_path):
    hypot_head = lambda c: 0.6 * np.hypot(c[2] - c[0], c[3] - c[1])  # noqa: E731
    corners_2017 = lambda b: (b[0], b[1], b[0] + b[2], b[1] + b[3])  # noqa: E731 - any corners
    corners, px, official_hit = find_case(hypot_head, corners_2017, 1)
    x1, y1, x2, y2 = corners
    gt, pred = _nose_case((x1, y1, x2 - x1, y2 - y1), px)
    save_sequence(gt, tmp_path / "gt" / "000001_mpii_test.json", "posetrack17")
    doc = json.loads((tmp_path / "gt" / "000001_mpii_test.json").read_text())
    doc["annolist"][0]["annorect"][0].update(x1=[x1], y1=[y1], x2=[x2], y2=[y2])  # the corners exactly
    (tmp_path / "gt" / "000001_mpii_test.json").write_text(json.dumps(doc))
    save_sequence(pred, tmp_path / "pred" / "000001_mpii_test.json", "posetrack18")
    expected = 100.0 if official_hit else 0.0
    assert evaluate_dirs(tmp_path / "gt", tmp_path / "pred").ap.ap[NOSE] == expected
    assert evaluate(gt, pred, head_formats=["posetrack17"]).ap.ap[NOSE] == expected
    # [x1, y1, x2 - x1, y2 - y1] through the 2018 conversion, (x1 + w) - x1, gives back x2 - x1 here
    assert evaluate(gt, pred).ap.ap[NOSE] == expected
