"""Bad input, round two (issue #21): each class of input that once ended in an internal error, a silent
or misleading result, or a run that looked finished, and what corrtrack does with it now."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from conftest import make_sequence, run_cli
from corrtrack.formats import save_sequence, to_document
from corrtrack.poses import Frame, PoseSequence
from corrtrack.video import write_image

run = run_cli  # conftest: corrtrack ARGV in-process


def one_error(code: int, err: str, *needles: str) -> str:
    """The single ``error:`` line of a refused input (exit 2), holding every needle."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "internal error" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def warnings_of(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: ")]


# ----------------------------------------------------------------------------------------------- eval
def test_eval_mot_with_a_detection_file_as_prediction_names_the_file(tmp_path, capsys):
    seq = make_sequence(3, 2)
    gt = tmp_path / "gt.txt"
    save_sequence(seq, gt, "mot")
    det = tmp_path / "det.txt"
    det.write_text("".join(f"{r.split(',')[0]},-1,{r.split(',', 2)[2]}\n" for r in gt.read_text().splitlines()))
    code, _, err = run(["eval", "--mot", gt, det], capsys)
    one_error(code, err, str(det), "track id -1", "detection file")


def _folders(tmp_path: Path, gt: PoseSequence, pred: PoseSequence | dict | list) -> tuple[Path, Path]:
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    save_sequence(gt, tmp_path / "gt" / "a.json", "posetrack18")
    if isinstance(pred, PoseSequence):
        save_sequence(pred, tmp_path / "pred" / "a.json", "posetrack18")
    else:
        (tmp_path / "pred" / "a.json").write_text(json.dumps(pred))
    return tmp_path / "gt", tmp_path / "pred"


def test_eval_refuses_coco17_predictions_as_the_official_tool_does(tmp_path, capsys):
    from corrtrack.formats import convert_layout
    from corrtrack.keypoints import COCO17

    seq = make_sequence(3, 2)
    gt, pred = _folders(tmp_path, seq, to_document(convert_layout(seq, COCO17), "coco"))
    code, _, err = run(["eval", gt, pred, "--workers", "1"], capsys)
    one_error(code, err, str(pred / "a.json"), "COCO-17")


def test_eval_refuses_box_only_predictions(tmp_path, capsys):
    seq = make_sequence(3, 2)
    boxes_only = seq.with_poses([f.poses.replace(has_keypoints=np.zeros(len(f.poses), bool)) for f in seq.frames])
    gt, pred = _folders(tmp_path, seq, boxes_only)
    code, _, err = run(["eval", gt, pred, "--workers", "1"], capsys)
    one_error(code, err, str(pred), "boxes but no keypoints")


def test_eval_refuses_ground_truth_without_joints(tmp_path, capsys):
    seq = make_sequence(3, 2)
    empty = seq.with_poses([f.poses[np.zeros(0, np.int64)] for f in seq.frames])
    gt, pred = _folders(tmp_path, empty, seq)
    code, _, err = run(["eval", gt, pred, "--workers", "1"], capsys)
    one_error(code, err, str(gt), "nothing to evaluate")


def test_eval_says_when_no_prediction_meets_the_ground_truth(tmp_path, capsys):
    seq = make_sequence(3, 2)
    nobody = seq.with_poses([f.poses[np.zeros(0, np.int64)] for f in seq.frames])
    gt, pred = _folders(tmp_path, seq, nobody)
    code, out, err = run(["eval", gt, pred, "--workers", "1"], capsys)
    assert code == 0 and "MOTA" in out
    (line,) = warnings_of(err)
    assert str(pred) in line and "no predicted joint" in line


def test_eval_writes_nan_as_null_in_json_and_as_the_official_tool_in_output_dir(tmp_path, capsys):
    seq = make_sequence(3, 2)
    # nobody annotates or predicts the left ankle (POSETRACK18 joint 15): its MOTA is 0 / 0, NaN
    seq = seq.with_poses([f.poses.replace(keypoints=np.where(np.arange(17)[:, None] == 15, 0.0, f.poses.keypoints))
                          for f in seq.frames])  # fmt: skip
    gt, pred = _folders(tmp_path, seq, seq)
    js, od = tmp_path / "r.json", tmp_path / "official"
    code, out, err = run(["eval", gt, pred, "--workers", "1", "--json", js, "--output-dir", od], capsys)
    assert code == 0, err
    doc = json.loads(js.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in --json"))
    assert None in doc["mot"]["mota"] and "wrote" in out
    names = ["a_AP_metrics.json", "a_MOT_metrics.json", "total_AP_metrics.json", "total_MOT_metrics.json"]
    assert sorted(p.name for p in od.iterdir()) == names
    official = (od / "total_MOT_metrics.json").read_text()
    assert "NaN" in official and np.isnan(json.loads(official)["mota"]).sum() == 1
    # an AP-only run: NaN in the MOT part of every sequence, still a valid --json
    code, _, err = run(["eval", gt, pred, "--workers", "1", "--no-tracking", "--json", js], capsys)
    assert code == 0, err
    assert None in json.loads(js.read_text(), parse_constant=float)["sequences"]["a"]["mot"]["mota"]


def test_eval_warns_about_a_one_frame_sequence(tmp_path, capsys):
    seq = make_sequence(1, 2)
    gt, pred = _folders(tmp_path, seq, seq)
    code, _, err = run(["eval", gt, pred, "--workers", "1"], capsys)
    assert code == 0
    (line,) = warnings_of(err)
    assert str(gt / "a.json") in line and "one-frame" in line


def test_eval_refuses_an_output_folder_that_is_a_file_before_the_work(tmp_path, capsys):
    seq = make_sequence(3, 2)
    gt, pred = _folders(tmp_path, seq, seq)
    (tmp_path / "f").write_text("x")
    code, out, err = run(["eval", gt, pred, "--output-dir", tmp_path / "f"], capsys)
    one_error(code, err, "cannot write: it is an existing file, not a folder")
    assert out == ""  # refused before any table


# ----------------------------------------------------------------------------------------------- formats
def test_two_names_of_one_joint_are_refused(tmp_path, capsys):
    doc = to_document(make_sequence(2, 1), "posetrack18")
    doc["categories"][0]["keypoints"][3] = "neck"  # left_ear -> a second name of head_bottom
    path = tmp_path / "two.json"
    path.write_text(json.dumps(doc))
    code, _, err = run(["info", path], capsys)
    one_error(code, err, str(path), "'head_bottom' and 'neck'")


def test_an_image_without_id_is_blamed_not_the_annotations(tmp_path, capsys):
    doc = to_document(make_sequence(2, 1), "posetrack18")
    del doc["images"][0]["id"]
    path = tmp_path / "noid.json"
    path.write_text(json.dumps(doc))
    code, _, err = run(["info", path], capsys)
    one_error(code, err, str(path), "image 0: missing required field 'id'")


def test_synth_export_coco_split_cannot_leave_the_data_set(tmp_path, capsys):
    code, _, err = run(["synth-export-coco", tmp_path, tmp_path / "x.json", "--split", "../.."], capsys)
    one_error(code, err, "--split")
    assert not (tmp_path / "x.json").exists()


# ----------------------------------------------------------------------------------------------- track
def _clip(tmp_path: Path, sizes: list[tuple[int, int]] | None = None) -> Path:
    frames = tmp_path / "clip"
    frames.mkdir()
    for t, (w, h) in enumerate(sizes or [(96, 64)] * 3):
        write_image(frames / f"{t:06d}.png", np.full((h, w, 3), 40 * t, np.uint8))
    return frames


def _detections(tmp_path: Path, frames: int = 3, keypoints: bool = True, shift: float = 0.0) -> Path:
    seq = make_sequence(frames, 2)
    seq = seq.with_poses(
        [
            f.poses.replace(
                keypoints=f.poses.keypoints * [0.15, 0.1, 1] + [shift, 0, 0],
                boxes=f.poses.boxes * 0.5 + [shift, 0, 0, 0],
                scores=np.full(len(f.poses), 0.9),
                track_ids=np.full(len(f.poses), -1),
                has_keypoints=np.full(len(f.poses), keypoints),
            )
            for f in seq.frames
        ]
    )
    seq = PoseSequence("det", [Frame(f"{t:06d}.png", f.poses, image_id=t) for t, f in enumerate(seq.frames)])
    path = tmp_path / "det.json"
    save_sequence(seq, path, "posetrack18")
    return path


TRACK = ["--poses", "detections", "--correspondences", "zero", "--no-render"]


def test_track_refuses_an_unknown_device_at_once(tmp_path, capsys):
    code, _, err = run(["track", _clip(tmp_path), "-o", tmp_path / "o", "--device", "gpu7", *TRACK], capsys)
    one_error(code, err, "unknown device 'gpu7'")
    assert not (tmp_path / "o").exists()


def test_track_refuses_cuda_without_cuda(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, _, err = run(["track", _clip(tmp_path), "-o", tmp_path / "o", "--device", "cuda", *TRACK], capsys)
    one_error(code, err, "no CUDA device")
    assert not (tmp_path / "o").exists()


def test_track_refuses_images_of_different_sizes(tmp_path, capsys):
    clip = _clip(tmp_path, [(96, 64), (96, 64), (64, 96)])
    det = _detections(tmp_path)
    code, _, err = run(["track", clip, "-o", tmp_path / "o", "--detections", det, *TRACK], capsys)
    one_error(code, err, str(clip / "000002.png"), "64 x 96", "96 x 64")


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 8)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(100_000, 100_000), (30_000, 30_000)])
def test_an_image_declaring_enormous_dimensions_is_refused(tmp_path, capsys, size):
    clip = tmp_path / "clip"
    clip.mkdir()
    (clip / "000000.png").write_bytes(_png_header(*size))
    code, _, err = run(["track", clip, "-o", tmp_path / "o", "--detections", _detections(tmp_path), *TRACK], capsys)
    one_error(code, err, str(clip / "000000.png"), f"{size[0]} x {size[1]}")


def test_track_poses_detections_refuses_box_only_detections(tmp_path, capsys):
    det = _detections(tmp_path, keypoints=False)
    code, _, err = run(["track", _clip(tmp_path), "-o", tmp_path / "o", "--detections", det, *TRACK], capsys)
    one_error(code, err, str(det), "boxes but no keypoints")
    assert not list((tmp_path / "o").glob("clip*"))


def test_track_refuses_detections_beyond_the_input(tmp_path, capsys):
    det = _detections(tmp_path, frames=5)  # 5 frames of detections for a 3-frame clip
    code, _, err = run(["track", _clip(tmp_path), "-o", tmp_path / "o", "--detections", det, *TRACK], capsys)
    one_error(code, err, str(det), "only 3 frames")


def test_track_refuses_a_box_far_outside_the_frame(tmp_path, capsys):
    det = _detections(tmp_path, shift=1e300)
    code, _, err = run(["track", _clip(tmp_path), "-o", tmp_path / "o", "--detections", det, *TRACK], capsys)
    one_error(code, err, str(det), "outside the 96 x 64 frame")


def test_garbage_rank_environment_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RANK", "zero")
    monkeypatch.setenv("WORLD_SIZE", "2")
    code, _, err = run(["track", _clip(tmp_path), "-o", tmp_path / "o", "--detections", _detections(tmp_path), *TRACK],
                       capsys)  # fmt: skip
    one_error(code, err, "RANK='zero'")


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def test_a_finished_run_has_a_manifest_and_a_rerun_resumes_or_refuses(tmp_path, capsys):
    clip, det, out = _clip(tmp_path), _detections(tmp_path), tmp_path / "o"
    argv = ["track", clip, "-o", out, "--detections", det, *TRACK]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    files = {e["path"]: e for e in _manifest(out)["files"]}
    assert set(files) == {"config.json", "timings.json", "clip.json", "clip.txt"}
    for name, entry in files.items():
        data = (out / name).read_bytes()
        assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    # finished: a rerun does nothing
    before = (out / "clip.json").stat().st_mtime_ns
    code, stdout, _ = run(argv, capsys)
    assert code == 0 and "nothing to do" in stdout and (out / "clip.json").stat().st_mtime_ns == before
    # killed before its end (no manifest, an output missing): a rerun does the rest and finishes
    (out / "manifest.json").unlink()
    (out / "clip.txt").unlink()
    code, stdout, err = run(argv, capsys)
    assert code == 0, err
    assert (out / "clip.txt").is_file() and _manifest(out)["finished"] is True
    # other settings: refused, nothing touched
    (out / "manifest.json").unlink()
    code, _, err = run([*argv, "--set", "tau_corr=0.2"], capsys)
    one_error(code, err, str(out), "other settings", "tracker.tau_corr")
    assert not (out / "manifest.json").exists()


def test_track_does_not_overwrite_outputs_of_unknown_origin(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "clip.json").write_text("mine")
    code, _, err = run(["track", _clip(tmp_path), "-o", out, "--detections", _detections(tmp_path), *TRACK], capsys)
    one_error(code, err, str(out / "clip.json"), "no config.json")
    assert (out / "clip.json").read_text() == "mine"


# ----------------------------------------------------------------------------------------------- show-corr
def test_show_corr_refuses_a_query_without_usable_keypoints(tmp_path, capsys):
    clip = _clip(tmp_path)
    seq = make_sequence(1, 1)
    far = seq.with_poses([f.poses.replace(keypoints=f.poses.keypoints + [5000, 5000, 0]) for f in seq.frames])
    poses = tmp_path / "far.json"
    save_sequence(far, poses, "posetrack18")
    out = tmp_path / "c.png"
    code, _, err = run(["show-corr", clip / "000000.png", clip / "000001.png", "--poses", poses, "-o", out], capsys)
    one_error(code, err, str(poses), "no usable query keypoint")
    assert not out.exists()


# ----------------------------------------------------------------------------------------------- outputs
@pytest.mark.parametrize(
    "argv",
    [
        ["track", "{clip}", "-o", "{file}", "--detections", "{det}", *TRACK],
        ["synth", "{file}", "--frames", "2", "--sequences", "1", "--size", "96x64"],
        ["simulate-detections", "{det}", "{file}"],
        ["eval", "{tmp}", "{tmp}", "--output-dir", "{file}"],
        ["experiment", "table1", "--data", "{tmp}", "--out", "{file}"],
        ["demo", "-o", "{file}", "--frames", "2"],
    ],
    ids=["track", "synth", "simulate-detections", "eval", "experiment", "demo"],
)
def test_an_output_folder_that_is_a_file_is_one_rule_and_one_wording(argv, tmp_path, capsys):
    fill = {"clip": _clip(tmp_path), "det": _detections(tmp_path), "file": tmp_path / "f", "tmp": tmp_path}
    (tmp_path / "f").write_text("x")
    code, _, err = run([a.format(**{k: str(v) for k, v in fill.items()}) for a in argv], capsys)
    one_error(code, err, f"{tmp_path / 'f'}: cannot write: it is an existing file, not a folder")


def test_an_error_after_the_eval_progress_line_is_a_line_of_its_own(tmp_path, capsys):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    for i in range(12):  # ten or more sequences: eval shows "\rN/12 sequences" on stderr
        seq = make_sequence(3, 2, name=f"{i:06d}_mpii_test")
        save_sequence(seq, tmp_path / "gt" / f"{i:02d}.json", "posetrack18")
        save_sequence(seq, tmp_path / "pred" / f"{i:02d}.json", "posetrack18")
    (tmp_path / "pred" / "11.json").write_text("{")
    code, _, err = run(["eval", tmp_path / "gt", tmp_path / "pred", "--workers", "1", "--order", "sorted"], capsys)
    assert code == 2
    last = err.rstrip("\n").split("\n")[-1]
    assert last.startswith("error: ") and str(tmp_path / "pred" / "11.json") in last, repr(err)


def test_eval_warns_about_predictions_of_another_video(tmp_path, capsys):
    seq = make_sequence(3, 2)
    other = make_sequence(3, 2, name="000002_mpii_test")  # same shape, another video's frame names
    gt, pred = _folders(tmp_path, seq, other)
    code, out, err = run(["eval", gt, pred, "--workers", "1"], capsys)
    assert code == 0 and "MOTA" in out
    (line,) = warnings_of(err)
    assert str(pred / "a.json") in line and "another video" in line


def test_train_output_that_is_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    for command in ("pose", "detector", "corr"):
        code, _, err = run(["train", command, "--data", tmp_path, "--out", target], capsys)
        one_error(code, err, str(target), "cannot write: it is an existing file")


@pytest.mark.parametrize("body", ['{"sequences": [{"name": "x"}]}', '{"sequences": 3}', "[1, 2]", '{"sequences": [7]}'])
def test_synth_export_coco_with_a_corrupted_description(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str
) -> None:
    root = tmp_path / "set"
    (root / "annotations" / "train").mkdir(parents=True)
    save_sequence(make_sequence(2), root / "annotations" / "train" / "000001_mpii_test.json", "posetrack18")
    (root / "synthtrack.json").write_text(body)
    code, _, err = run(["synth-export-coco", root, tmp_path / "out.json", "--split", "train"], capsys)
    one_error(code, err, "synthtrack.json")
