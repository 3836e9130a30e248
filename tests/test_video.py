import numpy as np
import pytest

from conftest import shared_path
from corrtrack.errors import CorrtrackError
from corrtrack.video import FrameSource, VideoWriter, write_image


def _clip(n=12, h=48, w=64):
    frames = []
    for t in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:, : (t * 5) % w] = (200, 60, 30)
        f[10:20, 10:20] = (0, 255, 0)
        frames.append(f)
    return frames


def test_write_then_read_back_h264(tmp_path):
    frames = _clip()
    out = tmp_path / "clip.mp4"
    with VideoWriter(out, fps=12.5) as w:
        for f in frames:
            w.write(f)
    src = FrameSource(out)
    assert len(src) == 12 and src.fps == pytest.approx(12.5) and (src.width, src.height) == (64, 48)
    back = list(src)
    assert len(back) == 12
    assert np.abs(back[5].astype(int) - frames[5]).mean() < 8
    import av

    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"


def test_failed_write_leaves_no_file(tmp_path):
    out = tmp_path / "bad.mp4"
    with pytest.raises(ValueError), VideoWriter(out, fps=10) as w:
        w.write(np.zeros((8, 8, 3), np.uint8))
        w.write(np.zeros((8, 8), np.uint8))
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_image_folder_streams_in_natural_order(tmp_path):
    for i in (10, 2, 1):
        write_image(tmp_path / f"{i}.png", np.full((4, 6, 3), i, np.uint8))
    src = FrameSource(tmp_path)
    assert src.frame_names == ["1.png", "2.png", "10.png"]
    assert [int(f[0, 0, 0]) for f in src] == [1, 2, 10]


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(CorrtrackError, match="no such video file or image folder"):
        FrameSource(tmp_path / "nope.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorrtrackError, match="holds no images"):
        FrameSource(tmp_path / "empty")


def test_real_mp4_streams():
    src = FrameSource(shared_path("data", "TUD-Stadtmitte", "TUD-Stadtmitte.mp4"))
    assert (len(src), src.fps, src.width, src.height) == (179, 25.0, 640, 480)
    it = iter(src)
    first = next(it)
    assert first.shape == (480, 640, 3) and first.dtype == np.uint8


def test_real_avi_streams_and_renders_with_its_ground_truth(tmp_path):
    from pathlib import Path

    from corrtrack.formats import read_mot
    from corrtrack.render import render_sequence

    video = Path(__file__).resolve().parents[1] / "data-cache" / "PETS09-S2L1" / "vtest.avi"
    if not video.is_file():
        pytest.skip(f"{video} missing; fetch it with: bash tools/fetch_pets_video.sh")
    src = FrameSource(video, fps=7)  # the header says 10 fps; the real rate is 7
    assert (len(src), src.width, src.height, src.fps) == (795, 768, 576, 7)
    gt = read_mot(shared_path("data", "PETS09-S2L1", "gt", "gt.txt"))
    gt.frames = gt.frames[:12]
    out = render_sequence(gt, video, tmp_path / "pets.mp4", fps=7)
    rendered = FrameSource(out)
    assert len(rendered) == 12 and rendered.fps == pytest.approx(7)
    first = next(iter(rendered))
    original = next(iter(src))
    assert first.shape == original.shape and np.abs(first.astype(int) - original).mean() > 0.5
