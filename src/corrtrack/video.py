"""Frame sources (video files, image folders, image lists) and an H.264 mp4 writer.

Frames are streamed: nothing holds the whole video in memory. Frames are
``(H, W, 3)`` uint8 **RGB** arrays throughout corrtrack.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from corrtrack.errors import CorrtrackError
from corrtrack.fileio import atomic_path

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "VIDEO_SUFFIXES",
    "FrameSource",
    "VideoWriter",
    "declared_size",
    "read_image",
    "same_size_images",
    "write_image",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def _natural_key(path: Path) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name))


#: the largest image read (8192 x 8192 pixels): a header declaring more is refused before decoding
MAX_IMAGE_PIXELS = 8192 * 8192


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) that a PNG, JPEG or BMP header declares, None for other data or an unreadable header."""
    import struct

    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(int(w)), abs(int(h))
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 <= len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
                i += 2
                continue
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(w), int(h)
            i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    return None


def read_image(path: str | Path) -> np.ndarray:
    """Read one image as RGB uint8; a clear error if it cannot be decoded or declares more than 8192 x 8192 pixels."""
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else None
    if data is not None:
        size = declared_size(data[:65536].tobytes())
        if size is not None and size[0] * size[1] > MAX_IMAGE_PIXELS:
            raise CorrtrackError(
                f"{path}: the image declares {size[0]} x {size[1]} pixels, beyond the limit of 8192 x 8192"
            )
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    except cv2.error:  # e.g. a header OpenCV refuses (its own pixel limit)
        image = None
    if image is None:
        raise CorrtrackError(f"{path}: cannot read image (missing or not a supported image file)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def same_size_images(paths: Sequence[Path]) -> Iterator[np.ndarray]:
    """The images of ``paths`` in order; one whose size differs from the first image's is a clear error."""
    first: tuple[int, int] | None = None
    for path in paths:
        image = read_image(path)
        if first is None:
            first = image.shape[:2]
        elif image.shape[:2] != first:
            h, w = image.shape[:2]
            raise CorrtrackError(
                f"{path}: the image is {w} x {h} but the sequence's first image, {paths[0]}, is "
                f"{first[1]} x {first[0]}; the frames of one sequence must have one size"
            )
        yield image


def write_image(path: str | Path, image: np.ndarray, quality: int = 95) -> None:
    """Write an RGB image atomically (JPEG quality for .jpg)."""
    import cv2

    path = Path(path)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(path.suffix, cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise CorrtrackError(f"{path}: cannot encode image")
    with atomic_path(path) as tmp:
        buf.tofile(str(tmp))


class FrameSource:
    """Frames of a video file, an image folder or an explicit list of image files.

    ``len()`` is the number of frames (for videos as the container reports it,
    exact for the files corrtrack writes); ``fps`` is the source rate (25 for
    image folders unless given).
    """

    def __init__(self, source: str | Path | Sequence[str | Path], fps: float | None = None) -> None:
        self._paths: list[Path] | None = None
        self._video: Path | None = None
        if isinstance(source, (str, Path)):
            path = Path(source)
            if path.is_dir():
                self._paths = sorted(
                    (p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key
                )
                if not self._paths:
                    raise CorrtrackError(f"{path}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            elif path.is_file():
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    self._paths = [path]
                else:
                    self._video = path
            else:
                raise CorrtrackError(f"{path}: no such video file or image folder")
        else:
            self._paths = [Path(p) for p in source]
        self.name = str(source) if isinstance(source, (str, Path)) else "image list"
        self._fps = fps
        self._probe()

    def _probe(self) -> None:
        if self._video is None:
            self.fps = float(self._fps or 25.0)
            self._length = len(self._paths or [])
            if self._paths:
                first = read_image(self._paths[0])
                self.height, self.width = first.shape[:2]
            else:
                self.height = self.width = 0
            return
        import av

        try:
            with av.open(str(self._video)) as container:
                if not container.streams.video:
                    raise CorrtrackError(f"{self._video}: file has no video stream")
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate or 25
                self.fps = float(self._fps or rate)
                self.width, self.height = stream.codec_context.width, stream.codec_context.height
                self._length = stream.frames or 0
                if self._length == 0:  # container without a frame count: count packets
                    self._length = sum(1 for p in container.demux(stream) if p.size)
        except av.error.FFmpegError as exc:
            raise CorrtrackError(f"{self._video}: cannot open video ({exc})") from None

    def __len__(self) -> int:
        return self._length

    @property
    def frame_names(self) -> list[str]:
        """One name per frame: the image file names, or ``000000.jpg``-style names for a video."""
        if self._paths is not None:
            return [p.name for p in self._paths]
        return [f"{i:06d}.jpg" for i in range(len(self))]

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._paths is not None:
            yield from same_size_images(self._paths)
            return
        import av

        try:
            with av.open(str(self._video)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise CorrtrackError(f"{self._video}: error while decoding ({exc})") from None


class VideoWriter:
    """Write RGB frames to an H.264 mp4 (yuv420p) at a given frame rate; the file appears only on close.

    Use as a context manager; odd frame sizes are padded to even ones.
    """

    def __init__(self, path: str | Path, fps: float, crf: int = 23) -> None:
        self.path = Path(path)
        self.fps = fps
        self.crf = crf
        self._ctx = atomic_path(self.path, suffix=".mp4")
        self._container: Any = None
        self._stream: Any = None
        self.frames_written = 0

    def __enter__(self) -> VideoWriter:
        import av

        self._tmp = self._ctx.__enter__()
        self._container = av.open(str(self._tmp), mode="w", format="mp4")
        return self

    def write(self, frame: np.ndarray) -> None:
        import av

        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
        h, w = frame.shape[:2]
        if self._stream is None:
            rate = Fraction(self.fps).limit_denominator(1001)
            self._stream = self._container.add_stream("libx264", rate=rate)
            self._stream.width, self._stream.height = w + w % 2, h + h % 2
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"crf": str(self.crf), "preset": "veryfast"}
        if (w + w % 2, h + h % 2) != (self._stream.width, self._stream.height):
            raise ValueError(f"frame size {w}x{h} differs from the first frame's")
        if w % 2 or h % 2:
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
            self._container.mux(packet)
        self.frames_written += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._stream is not None:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
            self._container.close()
        except Exception as flush_error:
            self._ctx.__exit__(type(flush_error), flush_error, flush_error.__traceback__)
            raise
        if exc_type is None and self.frames_written == 0:
            exc_type, exc = CorrtrackError, CorrtrackError(f"{self.path}: no frames were written")
            self._ctx.__exit__(exc_type, exc, None)
            raise exc
        self._ctx.__exit__(exc_type, exc, tb)
