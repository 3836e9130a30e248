"""MOTChallenge CSV: ``frame,id,x,y,w,h,score,a,b,c`` boxes with identities.

Frames are 1-based in the file and 0-based in :class:`PoseSequence` (MOT frame
``f`` is ``frames[f - 1]``). Column 7 goes to ``Poses.scores`` (the detection
confidence in ``det.txt``, the "consider" flag in ``gt.txt``: 0 marks a box to
ignore). Columns 8-10 (class and visibility in ground truth, 3-D position in
detections) are kept per box in ``extras["mot"]`` so a round trip is lossless.
Keypoints are all absent.
"""

from __future__ import annotations

import configparser
import io
from pathlib import Path

import numpy as np

from corrtrack.errors import FormatError, OutputError
from corrtrack.fileio import atomic_write_text
from corrtrack.keypoints import POSETRACK18
from corrtrack.poses import Frame, Poses, PoseSequence

__all__ = ["MAX_FRAMES", "parse_mot", "read_mot", "read_seqinfo", "to_mot_text", "write_mot"]

#: the largest frame number accepted (about 11 hours at 25 fps): a one-line file cannot ask for gigabytes
MAX_FRAMES = 1_000_000


def parse_mot(text: str, source: str, num_frames: int | None = None, name: str | None = None) -> PoseSequence:
    rows: list[list[float]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 6:
            raise FormatError(
                source, f"expected at least 6 comma-separated values, got {len(parts)}", f"line {line_no}"
            )
        try:
            values = [float(p) for p in parts]
        except ValueError:
            bad = next(p for p in parts if not _is_float(p))
            raise FormatError(source, f"{bad!r} is not a number", f"line {line_no}") from None
        if not np.all(np.isfinite(values)):
            raise FormatError(source, "non-finite value", f"line {line_no}")
        if values[0] < 1 or not values[0].is_integer():
            raise FormatError(source, f"frame must be an integer >= 1, got {parts[0]}", f"line {line_no}")
        if values[0] > MAX_FRAMES:
            raise FormatError(source, f"frame {parts[0]} is beyond the limit of {MAX_FRAMES} frames", f"line {line_no}")
        if not values[1].is_integer() or values[1] < -1 or values[1] >= 2**63:
            raise FormatError(
                source, f"id must be an integer >= -1 (-1: no identity), got {parts[1]}", f"line {line_no}"
            )
        if values[4] < 0 or values[5] < 0:
            raise FormatError(source, f"negative box size {parts[4]} x {parts[5]}", f"line {line_no}")
        rows.append(values[:10])
    last = int(max((r[0] for r in rows), default=0))
    if num_frames is None:
        num_frames = last
    elif last > num_frames:
        raise FormatError(source, f"frame {last} is beyond the sequence length {num_frames}")
    if num_frames > MAX_FRAMES:
        raise FormatError(source, f"sequence length {num_frames} is beyond the limit of {MAX_FRAMES} frames")
    by_frame: list[list[list[float]]] = [[] for _ in range(num_frames)]
    seen: set[tuple[int, int]] = set()
    for line_index, r in enumerate(rows):
        key = (int(r[0]), int(r[1]))
        if key[1] >= 0:
            if key in seen:
                raise FormatError(source, f"id {key[1]} appears twice in frame {key[0]}", f"data row {line_index + 1}")
            seen.add(key)
        by_frame[key[0] - 1].append(r)
    frames = []
    k = POSETRACK18.num_joints
    for index, frows in enumerate(by_frame):
        arr = np.array([r[:7] + [np.nan] * (7 - len(r[:7])) for r in frows]).reshape(-1, 7)
        extras = tuple({"mot": r[7:]} for r in frows)
        poses = Poses.create(
            np.zeros((len(frows), k, 3)),
            boxes=arr[:, 2:6],
            scores=arr[:, 6],
            track_ids=arr[:, 1].astype(np.int64),
            extras=extras,
        )
        frames.append(Frame(f"{index + 1:06d}.jpg", poses, image_id=index + 1))
    return PoseSequence(name if name is not None else Path(source).stem, frames, POSETRACK18)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fmt(x: float) -> str:
    return np.format_float_positional(x, trim="-")


def to_mot_text(seq: PoseSequence) -> str:
    """MOT rows sorted by frame then id; unknown scores are written as 1."""
    out = io.StringIO()
    for index, frame in enumerate(seq.frames):
        p = frame.poses
        boxes = p.box_or_keypoint_box()
        for row in np.lexsort((p.track_ids,)) if len(p) else ():
            score = 1.0 if np.isnan(p.scores[row]) else p.scores[row]
            box = boxes[row]
            rest = p.extras[row].get("mot", [-1, -1, -1])
            values = [index + 1, int(p.track_ids[row]), *box.tolist(), score, *rest]
            out.write(",".join(_fmt(float(v)) for v in values) + "\n")
    return out.getvalue()


def read_mot(path: str | Path, num_frames: int | None = None) -> PoseSequence:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FormatError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(path, f"cannot read: {exc}") from None
    in_mot_layout = path.parent.name in ("gt", "det")
    seqinfo = path.parent.parent / "seqinfo.ini"
    if num_frames is None and in_mot_layout and seqinfo.is_file():  # MOTChallenge layout: take the true length
        length = read_seqinfo(seqinfo).get("seqlength")
        num_frames = int(length) if length and length.isdigit() else None
    name = path.parent.parent.name if in_mot_layout else path.stem
    return parse_mot(text, str(path), num_frames, name)


def write_mot(seq: PoseSequence, path: str | Path) -> None:
    """Write MOTChallenge rows; refuses what the reader would refuse (non-finite boxes, repeated ids)."""
    for index, frame in enumerate(seq.frames):
        p = frame.poses
        boxes = p.box_or_keypoint_box()
        bad = ~np.isfinite(boxes).all(1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise OutputError(path, f"frame {index}: person {row} has no box and no keypoints to make one")
        ids = p.track_ids[p.track_ids >= 0]
        if len(np.unique(ids)) < len(ids):
            raise OutputError(path, f"frame {index}: a track id appears twice")
    atomic_write_text(path, to_mot_text(seq))


def read_seqinfo(path: str | Path) -> dict[str, str]:
    """The ``[Sequence]`` section of a MOTChallenge ``seqinfo.ini``."""
    parser = configparser.ConfigParser()
    try:
        if not parser.read(path):
            raise FormatError(path, "file not found")
        return dict(parser["Sequence"])
    except (configparser.Error, KeyError) as exc:
        raise FormatError(path, f"not a seqinfo.ini with a [Sequence] section ({exc})") from None
