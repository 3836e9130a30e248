"""Readers and writers: real files round-trip exactly; conversions keep what both formats can hold."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import make_sequence, shared_path
from corrtrack.formats import (
    convert_layout,
    detect_format,
    load_sequence,
    parse_document,
    parse_mot,
    save_sequence,
    to_document,
    to_mot_text,
)
from corrtrack.keypoints import COCO17, POSETRACK17, POSETRACK18, remap_index

EVAL_SLOTS = remap_index(POSETRACK18, POSETRACK17)


def _same(a, b, slots=None):
    assert len(a) == len(b)
    for fa, fb in zip(a.frames, b.frames):
        assert fa.file_name == fb.file_name and fa.is_labeled == fb.is_labeled and fa.image_id == fb.image_id
        assert (fa.ignore_regions is None) == (fb.ignore_regions is None)
        for ra, rb in zip(fa.ignore_regions or [], fb.ignore_regions or []):
            assert np.array_equal(ra, rb)
        pa, pb = fa.poses, fb.poses
        if slots is not None:
            assert np.array_equal(pa.keypoints[:, slots], pb.keypoints[:, slots])
            both = (pa.present & pb.present)[:, slots]
            assert np.array_equal(
                pa.keypoint_scores[:, slots][both], pb.keypoint_scores[:, slots][both], equal_nan=True
            )
            for name in ("head_boxes", "boxes", "scores", "track_ids"):
                assert np.array_equal(getattr(pa, name), getattr(pb, name), equal_nan=True), name
        else:  # scores of absent joints carry no meaning and need not survive a 2017 trip
            assert np.array_equal(pa.keypoints, pb.keypoints) and pa.extras == pb.extras
            both = pa.present & pb.present
            assert np.array_equal(pa.keypoint_scores[both], pb.keypoint_scores[both], equal_nan=True)
            for name in ("head_boxes", "boxes", "scores", "track_ids", "ids"):
                assert np.array_equal(getattr(pa, name), getattr(pb, name), equal_nan=True), name


def test_official_case_round_trips_byte_for_byte_semantics(poseval_case, tmp_path):
    for path in sorted((poseval_case / "gt").glob("*.json")) + sorted((poseval_case / "pred").glob("*.json")):
        seq = load_sequence(path)
        assert detect_format(path) == "posetrack18"
        assert to_document(seq, "posetrack18") == json.loads(path.read_text())
        out = tmp_path / path.name
        save_sequence(seq, out, "posetrack18")
        assert json.loads(out.read_text()) == json.loads(path.read_text())


def test_official_case_through_2017_and_back(poseval_case, tmp_path):
    for path in sorted((poseval_case / "pred").glob("*.json")) + sorted((poseval_case / "gt").glob("*.json")):
        seq = load_sequence(path)
        save_sequence(seq, tmp_path / "a17.json", "posetrack17")
        assert detect_format(tmp_path / "a17.json") == "posetrack17"
        seq17 = load_sequence(tmp_path / "a17.json")
        _same(seq, seq17, slots=EVAL_SLOTS)  # ears are not part of PoseTrack 2017
        save_sequence(seq17, tmp_path / "b18.json", "posetrack18")
        seq18 = load_sequence(tmp_path / "b18.json")
        _same(seq17, seq18)
        # and 2017 -> 2018 -> 2017 is exact
        save_sequence(seq18, tmp_path / "c17.json", "posetrack17")
        assert json.loads((tmp_path / "c17.json").read_text()) == json.loads((tmp_path / "a17.json").read_text())


def test_real_posetrack18_samples_load(tmp_path):
    folder = shared_path("data", "posetrack18-samples", "annotations")
    counts = {}
    for path in sorted((folder / "val").glob("*.json")):
        seq = load_sequence(path)
        counts[path.stem] = len(seq[0].poses)
        assert seq[0].ignore_regions and seq[0].poses.head_boxes.shape[1] == 4
        assert to_document(seq, "posetrack18") == json.loads(path.read_text())
    assert counts == {"003418_mpii_test": 1, "009473_mpii_test": 2, "012834_mpii_test": 11}
    dets = load_sequence(folder / "test_posetrack18_human_detections.json")
    assert int(dets.num_persons.sum()) == 278 and len(dets) == 3
    expected = json.loads((folder / "test_posetrack18_human_detections.json").read_text())
    assert to_document(dets, "coco-results") == expected


def test_coco_round_trip_and_layout_conversion(tmp_path):
    seq = convert_layout(make_sequence(), COCO17)
    assert seq.layout is COCO17
    save_sequence(seq, tmp_path / "coco.json", "coco")
    doc = json.loads((tmp_path / "coco.json").read_text())
    assert doc["categories"][0]["keypoints"][1] == "left_eye"
    back = load_sequence(tmp_path / "coco.json")
    assert back.layout is COCO17
    _same(seq, back)
    # head_bottom / head_top have no COCO slot: they are absent after the trip
    pt = convert_layout(back, POSETRACK18)
    assert not pt[0].poses.present[:, 1:3].any()


@pytest.mark.parametrize("name", ["PETS09-S2L1", "TUD-Stadtmitte"])
@pytest.mark.parametrize("kind", ["gt", "det"])
def test_mot_files_round_trip(name, kind, tmp_path):
    path = shared_path("data", name, kind, f"{kind}.txt")
    seq = load_sequence(path)
    assert seq.name == name
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    assert int(seq.num_persons.sum()) == len(rows)
    save_sequence(seq, tmp_path / "out.txt", "mot")
    again = load_sequence(tmp_path / "out.txt")
    _same(seq, again)
    parsed = sorted(tuple(float(v) for v in r.split(",")) for r in rows)
    written = sorted(tuple(float(v) for v in r.split(",")) for r in to_mot_text(seq).splitlines())
    assert parsed == written


def test_mot_frames_are_one_based_and_gaps_are_empty_frames():
    seq = parse_mot("1,3,10,20,5,6,0.9,-1,-1,-1\n4,3,11,20,5,6,0.8,-1,-1,-1\n", "x.txt")
    assert len(seq) == 4 and seq.num_persons.tolist() == [1, 0, 0, 1]
    assert seq[3].poses.boxes.tolist() == [[11, 20, 5, 6]] and seq[3].poses.track_ids.tolist() == [3]


def test_posetrack_dict_and_2017_dict_parse_to_the_same_poses():
    seq = make_sequence(num_frames=3, persons=2)
    a = parse_document(to_document(seq, "posetrack18"), "a.json")
    b = parse_document(to_document(seq, "posetrack17"), "b.json")
    _same(a, b, slots=EVAL_SLOTS)


def test_other_keypoint_orders_are_mapped_by_name():
    seq = make_sequence(num_frames=1, persons=2)
    doc = to_document(seq, "posetrack18")
    # a 15-joint file in the 2017 id order, with "neck" for head_bottom, as some tools write it
    names15 = ["neck" if n == "head_bottom" else n for n in POSETRACK17.joints]
    idx = [POSETRACK18.joints.index("head_bottom" if n == "neck" else n) for n in names15[::-1]]
    doc["categories"] = [{"name": "person", "keypoints": names15[::-1]}]
    for ann in doc["annotations"]:
        k = np.asarray(ann["keypoints"]).reshape(17, 3)
        ann["keypoints"] = k[idx].reshape(-1).tolist()
    back = parse_document(doc, "x.json")
    assert back.layout is POSETRACK18
    assert np.array_equal(back[0].poses.keypoints, seq[0].poses.keypoints)
    assert to_document(back, "posetrack18")["categories"][0]["keypoints"] == list(POSETRACK18.joints)
    doc["categories"][0]["keypoints"][0] = "tail"
    with pytest.raises(Exception, match="keypoint names lack"):
        parse_document(doc, "x.json")


def test_mot_length_comes_from_seqinfo():
    from corrtrack.formats import read_seqinfo

    root = shared_path("data", "PETS09-S2L1")
    info = read_seqinfo(root / "seqinfo.ini")
    assert info["framerate"] == "7" and info["seqlength"] == "795"
    assert len(load_sequence(root / "det" / "det.txt")) == len(load_sequence(root / "gt" / "gt.txt")) == 795


@pytest.mark.parametrize("fmt", ["posetrack18", "coco", "coco-results"])
def test_streamed_json_is_the_document_text_and_memory_stays_per_frame(fmt, tmp_path):
    """save_sequence writes COCO-style files frame by frame: the same text as the whole document, far less memory."""
    import dataclasses
    import tracemalloc

    from corrtrack.formats import to_document

    seq = make_sequence(num_frames=600, persons=4)
    from corrtrack.poses import PoseSequence

    seq = PoseSequence(seq.name, [dataclasses.replace(f, image_id=None) for f in seq.frames], seq.layout)
    path = tmp_path / "s.json"
    tracemalloc.start()
    try:
        save_sequence(seq, path, fmt)
        _, streamed_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        text = json.dumps(to_document(seq, fmt))
        _, document_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert path.read_text() == text
    assert streamed_peak < document_peak / 5, (streamed_peak, document_peak)
