import numpy as np

from conftest import make_sequence, shared_path
from corrtrack.formats import load_sequence
from corrtrack.keypoints import POSETRACK18
from corrtrack.render import draw_poses, image_grid, render_sequence, track_color
from corrtrack.video import FrameSource, read_image, write_image


def test_track_colours_are_stable_and_distinct():
    assert track_color(3) == track_color(3)
    assert len({track_color(i) for i in range(20)}) == 20


def test_draw_changes_pixels_near_joints_only():
    seq = make_sequence(num_frames=1, persons=1)
    poses = seq[0].poses
    img = np.zeros((480, 640, 3), np.uint8)
    out = draw_poses(img, poses, POSETRACK18.skeleton_index, boxes=False, ids=False)
    x, y = np.round(poses.xy[0, 0]).astype(int)
    assert out[y, x].any() and not img.any()  # a joint is drawn; the input is untouched
    changed_y, changed_x = np.nonzero(out.any(-1))
    x0, y0, w, h = poses.keypoint_boxes()[0]
    margin = 6  # line and dot radius
    assert changed_x.min() >= x0 - margin and changed_x.max() <= x0 + w + margin
    assert changed_y.min() >= y0 - margin and changed_y.max() <= y0 + h + margin


def test_render_case_to_mp4(poseval_case, tmp_path):
    seq = load_sequence(poseval_case / "gt" / "000001_mpii_test.json")
    frames = tmp_path / "frames"
    for f in seq.frames:
        write_image(frames / f.file_name.split("/")[-1], np.full((480, 640, 3), 90, np.uint8))
    out = render_sequence(seq, frames, tmp_path / "case.mp4", fps=10)
    assert len(FrameSource(out)) == len(seq)


def test_render_real_posetrack_frame(tmp_path):
    root = shared_path("data", "posetrack18-samples")
    seq = load_sequence(root / "annotations" / "val" / "012834_mpii_test.json")
    out = render_sequence(seq, root, tmp_path / "pt.png")
    img = read_image(out)
    assert img.shape == (1080, 1920, 3)
    assert not np.array_equal(img, read_image(root / seq[0].file_name))


def test_render_real_video_with_mot_boxes(tmp_path):
    data = shared_path("data", "TUD-Stadtmitte")
    seq = load_sequence(data / "gt" / "gt.txt")
    seq.frames = seq.frames[:15]
    out = render_sequence(seq, data / "TUD-Stadtmitte.mp4", tmp_path / "tud.mp4")
    src = FrameSource(out)
    assert len(src) == 15 and src.fps == 25.0


def test_grid_shape():
    grid = image_grid([np.zeros((100, 200, 3), np.uint8)] * 5, cols=3, titles=list("abcde"), cell_width=100, pad=2)
    assert grid.shape == (2 * 52 + 2, 3 * 102 + 2, 3)


def test_render_refuses_a_truncated_video_and_writes_nothing(tmp_path):
    import pytest

    from corrtrack.errors import CorrtrackError
    from corrtrack.render import render_sequence
    from corrtrack.video import VideoWriter

    seq = make_sequence(num_frames=30, persons=1)
    video = tmp_path / "v.mp4"
    rng = np.random.default_rng(0)
    with VideoWriter(video, fps=25) as writer:
        for _ in range(30):
            writer.write(rng.integers(0, 255, size=(96, 128, 3), dtype=np.uint8))
    data = video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorrtrackError):
        render_sequence(seq, cut, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


def test_render_never_reads_outside_the_frames_folder(tmp_path):
    from corrtrack.render import frames_for_sequence
    from corrtrack.video import write_image

    frames = tmp_path / "frames"
    frames.mkdir()
    secret = tmp_path / "secret.png"
    write_image(secret, np.full((8, 8, 3), 255, np.uint8))
    write_image(frames / "secret.png", np.zeros((8, 8, 3), np.uint8))
    seq = make_sequence(num_frames=1, persons=1)
    seq.frames[0].file_name = "../secret.png"
    images, _ = frames_for_sequence(seq, frames)
    # the name is resolved inside the folder (by base name), not outside it
    assert next(iter(images)).max() == 0


def test_far_away_coordinates_are_drawn_without_error():
    from corrtrack.poses import Poses

    k = np.zeros((1, 17, 3))
    k[0, :, :2] = 50
    k[0, :, 2] = 1
    k[0, 3, 0], k[0, 4, 1] = 1e300, -1e300
    img = draw_poses(
        np.zeros((100, 100, 3), np.uint8),
        Poses.create(k, boxes=[[1e300, 0, 5, 5]], track_ids=[3]),
        POSETRACK18.skeleton_index,
    )
    assert img.shape == (100, 100, 3) and img.any()
