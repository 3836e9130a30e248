"""Reading sequence files for evaluation: PoseTrack 2018 files in their plain form converted in batches.

Reading and validating the JSON files is most of an evaluation's time once the
metrics are vectorised. A PoseTrack 2018 file in the plain form the official
data and tools write (the 17 standard joint names, integer ids, numbers where
numbers belong, every list of the right length) is converted here one array per
field for the whole file, instead of one record at a time. Any other file, and
any file that deviates from that form in the least, goes to the general reader
of :mod:`corrtrack.formats` (which also gives the errors and the leniency), so
both give the same :class:`~corrtrack.poses.PoseSequence` for every field the
evaluation uses.
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from corrtrack.errors import FormatError
from corrtrack.evaluate.leniency import DROPPED_POINTS, NONFINITE_SCORES, InputWarning, official_view
from corrtrack.evaluate.prepare import HeadFormat
from corrtrack.keypoints import POSETRACK18
from corrtrack.poses import Frame, Poses, PoseSequence

__all__ = ["plain_posetrack18", "read_for_evaluation"]

_JOINTS = list(POSETRACK18.joints)
_K = len(_JOINTS)
_NUMBER = {int, float}
#: annotation keys the general reader would take for markers of its own (``Poses.extras`` the evaluation reads);
#: any other key it does not map ("area", "category_id", ...) only goes to ``extras``, which the evaluation ignores
_MARKER_KEYS = {NONFINITE_SCORES, DROPPED_POINTS}


def read_for_evaluation(path: Path) -> tuple[PoseSequence, HeadFormat]:
    """One sequence file (2017 or 2018 format) and the head-size arithmetic its format implies.

    A file the official evaluator grades although it looks wrong (see
    :func:`corrtrack.evaluate.leniency.official_view`) is read as the official
    tool reads it, with one :class:`~corrtrack.evaluate.leniency.InputWarning`
    per oddity, naming the file.
    """
    from corrtrack.fileio import read_json
    from corrtrack.formats import detect_json_format, parse_document

    seq = plain_posetrack18(_fast_json(path), str(path))
    if seq is not None:
        return seq, "posetrack18"
    data = read_json(path)  # the standard library's document: every file that is not plain is read as before
    seq = plain_posetrack18(data, str(path))
    if seq is not None:
        return seq, "posetrack18"
    # not plain: first what the official tool would make of it (odd inputs it grades), each oddity a warning
    data, notes = official_view(data, str(path))
    for note in notes:
        warnings.warn(InputWarning(f"{path}: {note}"), stacklevel=2)
    if notes:
        seq = plain_posetrack18(data, str(path))
        if seq is not None:
            return seq, "posetrack18"
    fmt = detect_json_format(data)
    seq = parse_document(data, str(path), fmt)
    if seq.layout.name == "coco17":
        # poseval maps joints by name and asserts every PoseTrack joint is there: COCO eyes are no head joints
        raise FormatError(
            path,
            "its joints are COCO-17's (eyes, no head_bottom / head_top); the official evaluator refuses it "
            "(Landmark `head_bottom` not found): give PoseTrack 2018 keypoints",
        )
    return seq, "posetrack17" if fmt == "posetrack17" else "posetrack18"


def _fast_json(path: Path) -> Any:
    """The document as parsed by orjson when it is installed and accepts the file, else None.

    orjson parses numbers about four times as fast as the standard library and
    gives the same Python objects for the documents it accepts (it refuses NaN,
    Infinity, lone surrogates and out-of-range numbers, which then go to the
    standard library), with one exception: an integer beyond 64 bits becomes a
    float. A plain document (:func:`plain_posetrack18`) gives the same sequence
    either way (its ids must be integers of 64 bits, and every other number
    becomes a float, rounded alike), so only a plain document is taken from
    orjson; anything else is read again by :func:`corrtrack.fileio.read_json`.
    """
    try:
        import orjson
    except ImportError:
        return None
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


def _numbers(lists: list[Any], length: int) -> np.ndarray | None:
    """(N, length) array of lists of finite JSON numbers, or None if any is not one."""
    if lists and (set(map(type, lists)) != {list} or set(map(len, lists)) != {length}):
        return None
    if not set(map(type, itertools.chain.from_iterable(lists))) <= _NUMBER:
        return None
    arr = np.array(lists, dtype=np.float64).reshape(len(lists), length)
    return arr if np.isfinite(arr).all() else None


def _ints(values: list[Any]) -> np.ndarray | None:
    """int64 array of JSON integers (booleans and integral floats are not), or None."""
    if not set(map(type, values)) <= {int}:
        return None
    if values and (min(values) < -(2**63) or max(values) >= 2**63):
        return None
    return np.array(values, dtype=np.int64).reshape(len(values))


def _optional(anns: list[dict], key: str, length: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows that have ``key`` and their values as an array; None if any value is malformed."""
    rows = [i for i, a in enumerate(anns) if key in a]
    values = _numbers([anns[i][key] for i in rows], length)
    return None if values is None else (np.array(rows, dtype=np.int64), values)


def _regions(images: list[dict]) -> list[list[np.ndarray] | None] | None:
    """Per image its ignore polygons (None where it has no ignore-region keys), or None if any is not plain."""
    out: list[list[np.ndarray] | None] = [None] * len(images)
    xs_all: list[Any] = []
    ys_all: list[Any] = []
    owner: list[int] = []
    for f, img in enumerate(images):
        if "ignore_regions_x" not in img and "ignore_regions_y" not in img:
            continue
        xs, ys = img.get("ignore_regions_x"), img.get("ignore_regions_y")
        if type(xs) is not list or type(ys) is not list or len(xs) != len(ys):
            return None
        out[f] = []
        xs_all += xs
        ys_all += ys
        owner += [f] * len(xs)
    if not xs_all:
        return out
    if set(map(type, xs_all)) | set(map(type, ys_all)) != {list}:
        return None
    lengths = list(map(len, xs_all))
    if lengths != list(map(len, ys_all)):
        return None
    flat_x, flat_y = list(itertools.chain.from_iterable(xs_all)), list(itertools.chain.from_iterable(ys_all))
    xy = _numbers([flat_x, flat_y], len(flat_x)) if flat_x else np.zeros((2, 0))
    if xy is None:
        return None
    points = np.ascontiguousarray(xy.T)
    ends = np.cumsum(lengths)
    for f, a, b in zip(owner, ends - lengths, ends):
        regions = out[f]
        if regions is not None:
            regions.append(points[a:b])
    return out


def plain_posetrack18(data: Any, source: str) -> PoseSequence | None:
    """The sequence of a plain PoseTrack 2018 document, or None if the document is anything else."""
    if type(data) is not dict or "annolist" in data:
        return None
    images, anns, cats = data.get("images"), data.get("annotations"), data.get("categories")
    if type(images) is not list or type(anns) is not list or type(cats) is not list or len(cats) != 1:
        return None
    if type(cats[0]) is not dict or cats[0].get("keypoints") != _JOINTS:
        return None
    if not all(type(img) is dict for img in images) or not all(type(a) is dict for a in anns):
        return None
    # images: integer ids (unique), string file names, boolean is_labeled, plain ignore regions
    image_ids = _ints([img.get("id") for img in images])
    if image_ids is None or len(set(image_ids.tolist())) != len(images):
        return None
    names = [img.get("file_name") for img in images]
    if not all(type(n) is str for n in names):
        return None
    labeled = [img.get("is_labeled") for img in images]
    if not all(v is None or type(v) is bool for v in labeled):
        return None
    regions = _regions(images)
    if regions is None:
        return None
    # annotations: no marker keys, integer ids, numbers of the right count
    if anns and not _MARKER_KEYS.isdisjoint(itertools.chain.from_iterable(anns)):
        return None
    if not all("keypoints" in a and "track_id" in a for a in anns):
        return None
    frame_of_image = {int(i): f for f, i in enumerate(image_ids.tolist())}
    image_of = _ints([a.get("image_id") for a in anns])
    track_ids = _ints([a["track_id"] for a in anns])
    if image_of is None or track_ids is None or (track_ids < 0).any():
        return None
    if not all(i in frame_of_image for i in image_of.tolist()):
        return None
    kps = _numbers([a["keypoints"] for a in anns], 3 * _K)
    if kps is None:
        return None
    n = len(anns)
    kscores = np.full((n, _K), np.nan)
    boxes = np.full((n, 4), np.nan)
    heads = np.full((n, 4), np.nan)
    scores = np.full(n, np.nan)
    ids = np.full(n, -1, dtype=np.int64)
    for key, target, length in (("scores", kscores, _K), ("bbox", boxes, 4), ("bbox_head", heads, 4)):
        found = _optional(anns, key, length)
        if found is None:
            return None
        target[found[0]] = found[1]
    found = _optional([{"score": [a["score"]]} if "score" in a else {} for a in anns], "score", 1)
    if found is None:
        return None
    scores[found[0]] = found[1][:, 0]
    with_id = [i for i, a in enumerate(anns) if "id" in a]
    person_ids = _ints([anns[i]["id"] for i in with_id])
    if person_ids is None:
        return None
    ids[with_id] = person_ids
    # persons grouped by frame, file order kept within a frame
    frame = np.array([frame_of_image[i] for i in image_of.tolist()], dtype=np.int64)
    order = np.argsort(frame, kind="stable")
    bounds = np.searchsorted(frame[order], np.arange(len(images) + 1))
    kps = kps.reshape(n, _K, 3)
    frames = []
    for f in range(len(images)):
        rows = order[bounds[f] : bounds[f + 1]]
        poses = Poses(
            kps[rows],
            kscores[rows],
            boxes[rows],
            heads[rows],
            scores[rows],
            track_ids[rows],
            ids[rows],
            tuple({} for _ in rows),
            np.ones(len(rows), dtype=bool),
        )
        frames.append(Frame(names[f], poses, int(image_ids[f]), labeled[f], regions[f]))
    return PoseSequence(Path(source).stem, frames, POSETRACK18, {})
