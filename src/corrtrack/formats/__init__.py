"""Readers and writers: PoseTrack 2018 / 2017 JSON, COCO keypoints JSON and MOTChallenge CSV.

``load_sequence`` detects the format; ``save_sequence`` writes any of them.
All writers are atomic; all readers raise :class:`corrtrack.errors.FormatError`
naming the file, the record and the problem.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any, cast

from corrtrack.errors import FormatError
from corrtrack.fileio import read_json, write_json
from corrtrack.formats.coco_style import Flavor, convert_layout, parse_coco_style, to_coco_style
from corrtrack.formats.mot import parse_mot, read_mot, read_seqinfo, to_mot_text, write_mot
from corrtrack.formats.posetrack17 import parse_posetrack17, read_posetrack17, to_posetrack17, write_posetrack17
from corrtrack.keypoints import COCO17
from corrtrack.poses import Frame, PoseSequence

#: every format corrtrack reads and writes; ``coco-results`` is the bare annotation list of COCO results files
FORMATS: tuple[str, ...] = ("posetrack18", "posetrack17", "coco", "coco-results", "mot")

__all__ = [
    "FORMATS",
    "convert_layout",
    "detect_format",
    "detect_json_format",
    "frames_only",
    "iter_frames",
    "load_sequence",
    "parse_document",
    "parse_mot",
    "parse_posetrack17",
    "read_mot",
    "read_posetrack17",
    "read_seqinfo",
    "save_sequence",
    "split_videos",
    "to_document",
    "to_mot_text",
    "to_posetrack17",
    "write_mot",
    "write_posetrack17",
]


def detect_json_format(data: Any) -> str:
    """``posetrack17``, ``posetrack18``, ``coco`` or ``coco-results`` (a bare list) for a loaded JSON document."""
    if isinstance(data, list):
        return "coco-results"
    if isinstance(data, dict) and "annolist" in data:
        return "posetrack17"
    if isinstance(data, dict):
        names = [c.get("keypoints") for c in data.get("categories") or [] if isinstance(c, dict)]
        if names and isinstance(names[0], list) and "head_bottom" in names[0]:
            return "posetrack18"
        anns = data.get("annotations") or []
        imgs = data.get("images") or []
        if any(isinstance(a, dict) and ("track_id" in a or "bbox_head" in a) for a in anns[:50]) or any(
            isinstance(i, dict) and ("ignore_regions_x" in i or "is_labeled" in i) for i in imgs[:50]
        ):
            return "posetrack18"
    return "coco"


def detect_format(path: str | Path) -> str:
    """Format of a file by extension and content."""
    path = Path(path)
    if path.suffix.lower() in (".txt", ".csv"):
        return "mot"
    return detect_json_format(read_json(path))


def parse_document(data: Any, source: str, fmt: str | None = None, name: str | None = None) -> PoseSequence:
    """Parse an already loaded JSON document."""
    fmt = fmt or detect_json_format(data)
    if fmt == "posetrack17":
        return parse_posetrack17(data, source, name)
    if fmt in ("posetrack18", "coco", "coco-results"):
        return parse_coco_style(data, source, cast(Flavor, fmt), name)
    raise FormatError(source, f"unknown JSON format {fmt!r}")


def load_sequence(path: str | Path, fmt: str | None = None) -> PoseSequence:
    """Read one sequence file in any supported format (detected when ``fmt`` is None)."""
    path = Path(path)
    if fmt is None and path.suffix.lower() in (".txt", ".csv"):
        fmt = "mot"
    if fmt == "mot":
        return read_mot(path)
    return parse_document(read_json(path), str(path), fmt)


_NUMBER_LISTS = ("keypoints", "bbox", "bbox_head", "scores")


def _compact_numbers(obj: dict[str, Any]) -> dict[str, Any]:
    """JSON object hook: an annotation's lists of numbers held as ``array('d')`` (8 bytes a number instead of a
    list of float objects, about a third of the memory); anything else, e.g. a bool or a string, stays as it is
    so that the parser reports it."""
    for key in _NUMBER_LISTS:
        value = obj.get(key)
        if type(value) is list and value and all(type(v) in (int, float) for v in value):
            with suppress(OverflowError):  # an integer beyond a double stays: the parser names it
                obj[key] = array("d", value)
    return obj


def _expanded(ann: Any) -> Any:
    """An annotation as the parser expects it (its compacted lists back to lists)."""
    if not isinstance(ann, dict) or not any(isinstance(ann.get(k), array) for k in _NUMBER_LISTS):
        return ann
    return {k: (v.tolist() if isinstance(v, array) else v) for k, v in ann.items()}


def iter_frames(path: str | Path) -> Iterator[Frame]:
    """The frames of a sequence file one at a time, each parsed and checked as :func:`load_sequence` does.

    Memory holds the document in a compact form and one frame's poses, not every frame's (a long PoseTrack
    or SynthTrack file, #21). The frames equal ``load_sequence(path).frames``; a file the streamed reading does
    not cover (MOT text, PoseTrack 2017, a COCO results list, records that are not objects, duplicate or
    unknown image ids) is read whole, with the same errors.
    """
    path = Path(path)
    if path.suffix.lower() in (".txt", ".csv"):
        yield from load_sequence(path).frames
        return
    doc = read_json(path, object_hook=_compact_numbers)
    fmt = detect_json_format(doc)
    images, annotations = (doc.get("images"), doc.get("annotations", [])) if isinstance(doc, dict) else (None, None)
    by_image = _annotations_by_image(images, annotations) if fmt in ("posetrack18", "coco") else None
    if by_image is None:
        del doc
        yield from load_sequence(path, fmt).frames
        return
    head = {k: v for k, v in doc.items() if k not in ("images", "annotations")}
    del doc
    for img in cast(list, images):
        sub = {**head, "images": [img], "annotations": [_expanded(a) for a in by_image.get(img["id"], ())]}
        try:
            frame = parse_document(sub, str(path), fmt).frames[0]
        except FormatError:  # the whole-file reader names the record by its place in the file
            load_sequence(path, fmt)
            raise
        yield frame


def _annotations_by_image(images: Any, annotations: Any) -> dict[Any, list[Any]] | None:
    """Each image id's annotations, or None when the records do not allow reading one frame at a time."""
    if not isinstance(images, list) or not isinstance(annotations, list):
        return None
    ids = [img.get("id") if isinstance(img, dict) else None for img in images]
    if any(type(i) is not int for i in ids) or len(set(ids)) != len(ids):
        return None
    by_image: dict[Any, list[Any]] = {i: [] for i in ids}
    for ann in annotations:
        image_id = ann.get("image_id") if isinstance(ann, dict) else None
        if type(image_id) is not int or image_id not in by_image:
            return None
        by_image[image_id].append(ann)
    return by_image


def _without_people(obj: dict[str, Any]) -> dict[str, Any]:
    """JSON object hook: an annotation replaced by a shared stub that keeps what format detection looks at."""
    if "image_id" in obj and ("keypoints" in obj or "bbox" in obj):
        return _TRACKED_STUB if ("track_id" in obj or "bbox_head" in obj) else _STUB
    return obj


_STUB: dict[str, Any] = {}
_TRACKED_STUB: dict[str, Any] = {"track_id": None}


def frames_only(path: str | Path) -> PoseSequence:
    """``load_sequence(path)`` without the people (COCO-style files): the frames' names, ids, attributes and
    ignore regions, read without holding the annotations in memory (#21); other formats are read whole."""
    path = Path(path)
    if path.suffix.lower() in (".txt", ".csv"):
        return load_sequence(path)  # MOT text has no frame records beyond its rows
    doc = read_json(path, object_hook=_without_people)
    fmt = detect_json_format(doc)
    if fmt not in ("posetrack18", "coco") or not isinstance(doc, dict):
        return load_sequence(path, fmt)  # PoseTrack 2017 / a results list: read whole
    return parse_document({**doc, "annotations": []}, str(path), fmt)


def to_document(seq: PoseSequence, fmt: str) -> Any:
    if fmt == "posetrack17":
        return to_posetrack17(seq)
    if fmt == "posetrack18":
        return to_coco_style(seq, "posetrack18")
    if fmt in ("coco", "coco-results"):
        coco_seq = convert_layout(seq, COCO17) if seq.layout.name == "posetrack17" else seq
        return to_coco_style(coco_seq, cast(Flavor, fmt))
    raise ValueError(f"unknown format {fmt!r}; choose one of {FORMATS}")


def save_sequence(seq: PoseSequence, path: str | Path, fmt: str) -> None:
    """Write ``seq`` atomically in format ``fmt``.

    COCO-style formats are written frame by frame (the same text as ``json.dumps(to_document(seq, fmt))``):
    memory does not hold the whole document, which for a long video is several times the poses' own size.
    """
    if fmt == "mot":
        write_mot(seq, path)
    elif fmt in ("posetrack18", "coco", "coco-results"):
        _stream_coco_style(seq, Path(path), fmt)
    else:
        write_json(path, to_document(seq, fmt))


def _stream_coco_style(seq: PoseSequence, path: Path, fmt: str) -> None:
    """``to_document(seq, fmt)`` as JSON text, one frame's images and annotations at a time."""
    import dataclasses

    from corrtrack.fileio import atomic_path, json_text

    head = to_document(PoseSequence(seq.name, [], seq.layout, dict(seq.extras)), fmt)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
        if fmt == "coco-results":
            out.write("[")
            first = True
            for t, frame in enumerate(seq.frames):
                for ann in _frame_document(seq, frame, t, fmt, dataclasses.replace):
                    out.write(("" if first else ", ") + json_text(path, ann))
                    first = False
            out.write("]")
            return
        opening = '{"images": [], "annotations": []'
        head_text = json_text(path, head)
        if not head_text.startswith(opening):  # not the layout this writer knows: the whole document at once
            out.write(json_text(path, to_document(seq, fmt)))
            return
        import tempfile

        with tempfile.TemporaryFile("w+", encoding="utf-8", dir=tmp.parent, prefix=tmp.name) as annotations:
            out.write('{"images": [')
            first_image, first_ann = True, True
            for t, frame in enumerate(seq.frames):
                part = _frame_document(seq, frame, t, fmt, dataclasses.replace)
                assert isinstance(part, dict)
                for img in part["images"]:
                    out.write(("" if first_image else ", ") + json_text(path, img))
                    first_image = False
                for ann in part["annotations"]:
                    annotations.write(("" if first_ann else ", ") + json_text(path, ann))
                    first_ann = False
            out.write('], "annotations": [')
            annotations.seek(0)
            for block in iter(lambda: annotations.read(1 << 16), ""):
                out.write(block)
            out.write("]" + head_text[len(opening) :])


def _frame_document(seq: PoseSequence, frame: Any, index: int, fmt: str, replace: Any) -> Any:
    """The document of frame ``index`` alone (its image id as in the whole sequence's document)."""
    if frame.image_id is None:
        frame = replace(frame, image_id=index)
    return to_document(PoseSequence(seq.name, [frame], seq.layout, dict(seq.extras)), fmt)


def split_videos(seq: PoseSequence) -> list[PoseSequence]:
    """Split a file that merges several videos (e.g. an mmpose-style PoseTrack file) into one sequence per video.

    Frames are grouped by the folder of their ``file_name``, in order of first
    appearance; each sequence is named after its folder. A sequence whose
    frames share one folder comes back unchanged.
    """
    from pathlib import PurePosixPath

    groups: dict[str, list] = {}
    for frame in seq.frames:
        groups.setdefault(PurePosixPath(frame.file_name).parent.name or seq.name, []).append(frame)
    if len(groups) <= 1:
        return [seq]
    return [PoseSequence(name, frames, seq.layout, dict(seq.extras)) for name, frames in groups.items()]
