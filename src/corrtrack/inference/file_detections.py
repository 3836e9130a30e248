"""Person detections read from files, as a :class:`~corrtrack.interfaces.PersonDetector`.

Research users often have public detections already (MOTChallenge ``det.txt``, the
PoseTrack/COCO-style detection JSON of a published detector). :class:`FileDetections`
serves them frame by frame, after the same post-processing every detector gets
(:class:`DetectionFilter`: score threshold, then box NMS).

Which frame a ``detect`` call is about: calls are consumed in order (the first call gets the
file's first frames, the next call the following ones), which is how the pipeline calls a
detector; :meth:`FileDetections.for_frames` gives frames by index.

How frames are numbered per format:

* MOTChallenge: the file's 1-based frame numbers (frame ``f`` is index ``f - 1``).
* PoseTrack 2018 / COCO with an ``images`` list: the order of that list.
* A bare COCO results list (no ``images``): image ids in increasing order, assumed to be
  consecutive frames; pass ``num_frames`` and ``first_image_id`` when some frames have no
  detection, so the gaps are known.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corrtrack.config import param
from corrtrack.errors import FormatError
from corrtrack.formats import convert_layout, detect_format, load_sequence
from corrtrack.geometry import box_nms
from corrtrack.keypoints import POSETRACK18
from corrtrack.poses import Poses, PoseSequence

__all__ = ["DetectionFilter", "DetectionList", "DetectionStream", "FileDetections", "filter_detections"]


@dataclass(frozen=True)
class DetectionFilter:
    """The post-processing every person detector's output gets before pose estimation."""

    score_threshold: float = param(0.5, "reference code (boxes scoring above 0.5 are tracked)")
    nms_iou: float = param(0.7, "our choice: drop a box overlapping a better one with IoU above this (1: no NMS)")

    def __post_init__(self) -> None:
        if not 0 <= self.score_threshold <= 1:
            raise ValueError(f"score_threshold must be in [0, 1], got {self.score_threshold}")
        if not 0 < self.nms_iou <= 1:
            raise ValueError(f"nms_iou must be in (0, 1], got {self.nms_iou}")


def filter_detections(poses: Poses, config: DetectionFilter = DetectionFilter()) -> Poses:
    """Persons scoring above the threshold (unknown scores count as 1), after box NMS, best first."""
    if len(poses) == 0:
        return poses
    scores = np.where(np.isnan(poses.scores), 1.0, poses.scores)
    keep = np.flatnonzero(scores > config.score_threshold) if config.score_threshold > 0 else np.arange(len(poses))
    if config.nms_iou < 1 and len(keep) > 1:
        keep = keep[box_nms(poses.box_or_keypoint_box()[keep], scores[keep], config.nms_iou)]
    return poses[keep]


class FilteredDetector:
    """Base of the network detectors: ``detect`` = ``detect_raw`` + the :class:`DetectionFilter`, timed per frame.

    A subclass sets ``post`` and implements ``detect_raw`` (every detection, for AP which needs the ranking).
    """

    post: DetectionFilter = DetectionFilter()
    #: seconds per frame of the last ``detect`` call
    last_time_per_frame: float = float("nan")
    frames_seen: int = 0
    time_total: float = 0.0

    def detect_raw(self, frames: Sequence[np.ndarray]) -> list[Poses]:
        raise NotImplementedError

    @property
    def time_per_frame(self) -> float:
        """Mean seconds per frame over every ``detect`` call so far (NaN before the first)."""
        return self.time_total / self.frames_seen if self.frames_seen else float("nan")

    def detect(self, frames: Sequence[np.ndarray]) -> list[Poses]:
        """One ``Poses`` per RGB frame after the DetectionFilter (score threshold, box NMS)."""
        t0 = time.perf_counter()
        out = [self.post_filter(p) for p in self.detect_raw(frames)]
        elapsed = time.perf_counter() - t0
        if frames:
            self.last_time_per_frame = elapsed / len(frames)
            self.frames_seen += len(frames)
            self.time_total += elapsed
        return out

    def post_filter(self, poses: Poses) -> Poses:
        return filter_detections(poses, self.post)


class DetectionList:
    """A detector serving detections computed beforehand (one ``Poses`` per frame), filtered on the way out."""

    def __init__(self, frames: Sequence[Poses], config: DetectionFilter = DetectionFilter()) -> None:
        self.frames = list(frames)
        self.config = config
        self._next = 0

    def __len__(self) -> int:
        return len(self.frames)

    def for_frames(self, indices: Sequence[int]) -> list[Poses]:
        """Detections of the given frame indices (empty past the end)."""
        empty = Poses.empty(self.frames[0].num_joints if self.frames else 17)
        return [filter_detections(self.frames[i], self.config) if 0 <= i < len(self.frames) else empty for i in indices]

    def detect(self, frames: Sequence[np.ndarray]) -> list[Poses]:
        out = self.for_frames(range(self._next, self._next + len(frames)))
        self._next += len(frames)
        return out


class DetectionStream:
    """A detector serving detections made one frame at a time by an iterator (nothing kept), filtered on the way out.

    Frames past the iterator's end get no detections, as :class:`DetectionList`'s do.
    """

    def __init__(
        self, frames: Iterable[Poses], config: DetectionFilter = DetectionFilter(), num_joints: int = 17
    ) -> None:
        self._frames = iter(frames)
        self.config = config
        self.num_joints = num_joints

    def detect(self, frames: Sequence[np.ndarray]) -> list[Poses]:
        out = []
        for _ in frames:
            poses = next(self._frames, None)
            out.append(Poses.empty(self.num_joints) if poses is None else filter_detections(poses, self.config))
        return out


class FileDetections(DetectionList):
    """A detector that reads its boxes (and keypoints, if the file has them) from a file.

    Detections that cannot belong to the input are refused (:class:`FormatError` naming the
    file): detections for frames beyond ``num_frames``, and a box that lies wholly outside
    the frame grown by its own size on each side (``detect`` sees the frame's size).
    """

    def __init__(
        self,
        path: str | Path,
        config: DetectionFilter = DetectionFilter(),
        num_frames: int | None = None,
        first_image_id: int | None = None,
    ) -> None:
        self.path = Path(path)
        fmt = detect_format(self.path)
        seq = load_sequence(self.path, fmt)
        if seq.layout is not POSETRACK18:  # e.g. COCO-17 keypoints: joints by name, never COCO eyes as head joints
            seq = convert_layout(seq, POSETRACK18)
        super().__init__(self._frames(seq, fmt, num_frames, first_image_id), config)

    def detect(self, frames: Sequence[np.ndarray]) -> list[Poses]:
        for offset, image in enumerate(frames):
            index = self._next + offset
            if 0 <= index < len(self.frames) and len(self.frames[index]):
                self._check_inside(index, image.shape[1], image.shape[0])
        return super().detect(frames)

    def _check_inside(self, index: int, width: int, height: int) -> None:
        boxes = self.frames[index].box_or_keypoint_box()
        x, y, w, h = boxes.T
        with np.errstate(invalid="ignore", over="ignore"):
            outside = (x + w < -width) | (x > 2 * width) | (y + h < -height) | (y > 2 * height)
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            box = ", ".join(f"{v:.6g}" for v in boxes[row])
            raise FormatError(
                self.path,
                f"frame index {index}: the box [{box}] lies far outside the {width} x {height} frame: "
                "detections of another video, or in other units?",
            )

    def _frames(self, seq: PoseSequence, fmt: str, num_frames: int | None, first_image_id: int | None) -> list[Poses]:
        per_frame = [f.poses for f in seq.frames]
        if fmt != "coco-results":
            if num_frames is not None and num_frames > len(per_frame):
                per_frame += [Poses.empty(seq.layout.num_joints)] * (num_frames - len(per_frame))
            beyond = [i for i in range(num_frames or len(per_frame), len(per_frame)) if len(per_frame[i])]
            if beyond:
                frame = f"frame {beyond[0] + 1}" if fmt == "mot" else f"image {beyond[0]} of 'images'"
                raise FormatError(
                    self.path, f"{frame} has detections, but the input has only {num_frames} frames: another video's?"
                )
            return per_frame
        ids = np.array([f.image_id if f.image_id is not None else -1 for f in seq.frames], dtype=np.int64)
        if (ids < 0).any():
            raise FormatError(self.path, "a detection has no image_id")
        order = np.argsort(ids, kind="stable")
        first = int(ids.min()) if first_image_id is None and len(ids) else int(first_image_id or 0)
        last = int(ids.max()) if len(ids) else first - 1
        count = num_frames if num_frames is not None else last - first + 1
        if count > 1_000_000 or last - first + 1 > count:
            raise FormatError(self.path, f"image ids {first}..{last} do not fit {count} frames")
        out = [Poses.empty(seq.layout.num_joints) for _ in range(count)]
        for i in order:
            out[int(ids[i]) - first] = per_frame[i]
        return out
