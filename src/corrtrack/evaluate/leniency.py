"""Odd input files the official evaluator grades: what it makes of them, as a document corrtrack's readers accept.

corrtrack's readers are strict. The official PoseTrack evaluator (poseval) is
not: it grades files with negative or fractional track ids, repeated or string
image ids, null / NaN joint scores, more scores than joints, and 2017 points
with unknown or repeated joint ids. :func:`official_view` rewrites such a
document into one that the readers accept and that gives the numbers the
official tool gives on the original, and says in one line per oddity what it
did. Inputs on which the official tool crashes are left as they are, so the
readers give their usual one-line error. Every rule and the reasoning behind
it: docs/results.md, "Evaluator" (odd files).

A null or non-finite joint score has no place in the data model (there NaN
means "no score", which the official tool ranks as -9999), so the document
carries it next to the joint: a person's ``NONFINITE_SCORES`` field maps joint
names to the float value, and :mod:`corrtrack.evaluate.prepare` puts the value
back into the ranking.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from corrtrack.errors import FormatError
from corrtrack.keypoints import POSETRACK17

__all__ = ["DROPPED_POINTS", "NONFINITE_SCORES", "InputWarning", "official_view", "warnings_as_lines"]

#: person field written by official_view: {joint name (POSETRACK17): float score that is NaN or infinite}
NONFINITE_SCORES = "corrtrack_nonfinite_scores"
#: person field written by official_view for 2017 points the official look-up skips (repeated ids, ids outside
#: 0..14), in list order: [joint (official id, -1 for none), x, y, ranking score]. They still count where ignore
#: regions removed points (see prepare._dropped_points).
DROPPED_POINTS = "corrtrack_dropped_points"
MAX_TRACK_ID = 10000  # the official evaluator asserts track_id < 10000
MIN_SCORE = -9999.0  # the official evaluator's score for a point without one
_JOINT_OF_NAME = {name: name for name in POSETRACK17.joints} | {"neck": "head_bottom"}


class InputWarning(UserWarning):
    """An input file looks wrong, but the official evaluator grades it; corrtrack grades it the same way."""


@contextlib.contextmanager
def warnings_as_lines(echo: Callable[[str], None]) -> Iterator[None]:
    """Within: every InputWarning goes to ``echo`` as one line ``warning: <file>: <oddity>`` (for command lines).

    Other warnings are shown as usual.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("always", InputWarning)
        shown = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if issubclass(category, InputWarning):
                echo(f"warning: {message}")
            else:
                shown(message, category, *args, **kwargs)

        warnings.showwarning = show
        yield


def official_view(data: Any, source: str) -> tuple[Any, list[str]]:
    """The document (changed in place) as the official evaluator reads it, and one note per oddity found.

    A PoseTrack 2018 document (``images`` / ``annotations``) or 2017 document
    (``annolist``); anything else comes back unchanged with no notes. Raises
    :class:`FormatError` where the official tool would fail an assertion that
    corrtrack's readers would not see any more (a fractional track id >= 10000).
    """
    notes: list[str] = []
    if isinstance(data, dict) and "annolist" in data:
        _view_2017(data, source, notes)
    elif isinstance(data, dict):
        _view_2018(data, source, notes)
    return data, notes


# --- shared helpers -------------------------------------------------------------------------------------------


def _number(v: Any) -> bool:
    return type(v) in (int, float)


def _finite(v: Any) -> bool:
    """A JSON number that is finite (integers of any size included)."""
    return type(v) is int or (type(v) is float and math.isfinite(v))


def _score(v: Any) -> float | None:
    """A score as the official tool's float array holds it (numpy's float conversion), None where that fails.

    null becomes NaN; booleans 0 / 1; strings are parsed ("0.5", "nan").
    """
    if v is None:
        return math.nan
    if type(v) in (int, float, bool, str):
        try:
            return float(v)
        except (ValueError, OverflowError):
            return None
    return None


def _odd_track_id(v: Any) -> bool:
    """A finite number that is not a non-negative integer: an ordinary id to the official tool (True is 1)."""
    if type(v) is bool:
        return True
    if type(v) is int:
        return v < 0
    return type(v) is float and math.isfinite(v) and (v < 0 or not v.is_integer())


class _TrackIds:
    """Renumbers odd track ids of one file to unused non-negative integers (equal values, equal ids).

    The official tool compares track ids only for equality (duplicates in a
    frame, motmetrics' object / hypothesis identities), so any one-to-one
    renumbering within a file gives its numbers.
    """

    def __init__(self, values: list[Any], source: str, records: list[str]) -> None:
        self.mapping: dict[Any, int] = {}
        odd = [(v, r) for v, r in zip(values, records) if _odd_track_id(v)]
        if not odd:
            return
        for v, rec in odd:
            if v >= MAX_TRACK_ID:  # the official assert (track_id < 10000) fails
                raise FormatError(source, f"track_id {v!r} is not below {MAX_TRACK_ID}", rec)
        used = {int(v) for v in values if _finite(v) and not _odd_track_id(v)}
        for v in values:
            if type(v) is bool:  # equal to 0 / 1 for numpy and for motmetrics' dictionaries
                self.mapping[v] = int(v)
                used.add(int(v))
        free = (i for i in range(MAX_TRACK_ID) if i not in used)
        for v, rec in odd:
            if v not in self.mapping:
                new = next(free, None)
                if new is None:
                    raise FormatError(source, f"more than {MAX_TRACK_ID} distinct track ids", rec)
                self.mapping[v] = new

    def note(self) -> str | None:
        if not self.mapping:
            return None
        shown = ", ".join(f"{k!r} -> {v}" for k, v in list(self.mapping.items())[:3])
        more = f" and {len(self.mapping) - 3} more" if len(self.mapping) > 3 else ""
        return (
            f"{len(self.mapping)} track_id value(s) are not non-negative integers ({shown}{more}); "
            "the official tool takes them as ordinary ids, so corrtrack renumbers them to unused ids"
        )


# --- PoseTrack 2018 -------------------------------------------------------------------------------------------


def _key(v: Any) -> bool:
    """A value the official tool can match with ``==`` and a dict can hold with the same equality."""
    return v is None or type(v) in (str, int, bool) or (type(v) is float and math.isfinite(v))


def _view_2018(doc: dict, source: str, notes: list[str]) -> None:
    images, anns = doc.get("images"), doc.get("annotations")
    if type(images) is not list or type(anns) is not list:
        return
    if not all(type(img) is dict for img in images) or not all(type(a) is dict for a in anns):
        return
    ids = _TrackIds([a.get("track_id") for a in anns], source, [f"annotation {i}" for i in range(len(anns))])
    anns = _image_ids(doc, images, anns, notes)
    if ids.mapping:
        for a in anns:
            v = a.get("track_id")
            if _odd_track_id(v):
                a["track_id"] = ids.mapping[v]
        notes.append(ids.note() or "")
    _scores_2018(doc, anns, notes)


def _image_ids(doc: dict, images: list[dict], anns: list[dict], notes: list[str]) -> list[dict]:
    """Official frames: image ``k`` takes every annotation whose ``image_id == images[k]["id"]`` (``==``).

    poseval builds one frame per entry of ``images``; for each it looks up the
    first image with that id (file name, ignore regions) and attaches every
    annotation with that ``image_id``. Repeated ids therefore give several frames
    with the same persons; annotations whose id no image has are never read.
    """
    if any("id" not in img for img in images) or any("image_id" not in a for a in anns):
        return anns  # the official tool crashes (KeyError); the readers say what is missing
    ids = [img["id"] for img in images]
    if not all(_key(v) for v in ids) or not all(_key(a["image_id"]) for a in anns):
        return anns
    count: dict[Any, int] = {}
    for v in ids:
        count[v] = count.get(v, 0) + 1
    repeated = [v for v, n in count.items() if n > 1]
    not_int = [v for v in ids if type(v) is not int and not (type(v) is float and v.is_integer())]
    unknown = [a["image_id"] for a in anns if a["image_id"] not in count]
    if not repeated and not not_int and not unknown:
        return anns
    if repeated:
        notes.append(
            f"{len(repeated)} image id(s) are used by several images (e.g. {repeated[0]!r}, {count[repeated[0]]} "
            "times); as the official tool does, each such image gets every annotation with that id and the "
            "first one's file name and ignore regions"
        )
    if not_int:
        notes.append(
            f"image ids are not integers (e.g. {not_int[0]!r}); annotations are matched to images by equal value, "
            "as the official tool does"
        )
    if unknown:
        notes.append(
            f"{len(unknown)} annotation(s) have an image_id that no image has (e.g. {unknown[0]!r}); "
            "they are ignored, as the official tool ignores them"
        )
    first: dict[Any, int] = {}
    for k, v in enumerate(ids):
        first.setdefault(v, k)
    by_id: dict[Any, list[dict]] = {}
    for a in anns:
        by_id.setdefault(a["image_id"], []).append(a)
    new_images, new_anns = [], []
    for k, v in enumerate(ids):
        img = dict(images[first[v]])
        img["id"] = k
        new_images.append(img)
        for a in by_id.get(v, ()):
            copy = dict(a)
            copy["image_id"] = k
            new_anns.append(copy)
    doc["images"], doc["annotations"] = new_images, new_anns
    return new_anns


def _scores_2018(doc: dict, anns: list[dict], notes: list[str]) -> None:
    """``scores``: the official tool reads entry ``i`` for each kept joint ``i`` of the category order.

    So extra entries are never read, a shorter list works as long as it reaches
    the last kept joint (else IndexError), null / ``[]`` mean no scores (every
    joint -9999), and null / NaN / infinite entries go into its ranking as NaN /
    inf.
    """
    cats = doc.get("categories")
    if type(cats) is not list or not cats or type(cats[0]) is not dict:
        return
    names = cats[0].get("keypoints")
    if type(names) is not list or not all(type(n) is str for n in names):
        return
    k = len(names)
    kept = [i for i, n in enumerate(names) if n in _JOINT_OF_NAME]
    kept_set = set(kept)
    null_lists = long = short = 0
    nonfinite: list[Any] = []
    converted: list[Any] = []
    for a in anns:
        if "scores" not in a:
            continue
        s = a["scores"]
        if s is None:
            del a["scores"]
            null_lists += 1
            continue
        if type(s) is not list or not s or not kept:
            continue
        if len(s) > k:
            s = s[:k]
            long += 1
        elif len(s) < k:
            if max(kept) >= len(s):
                continue  # the official tool crashes (IndexError): the reader's error stays
            s = s + [0.0] * (k - len(s))  # entries of joints the evaluation drops, never read
            short += 1
        a["scores"] = s
        odd = [i for i, v in enumerate(s) if not _finite(v)]
        if odd:
            values = {i: _score(s[i]) for i in odd}
            if any(values[i] is None for i in odd if i in kept_set):
                continue  # the official tool crashes (ValueError / TypeError): the reader's error stays
            marks: dict[str, float] = {}
            s = list(s)
            for i in odd:
                v = values[i]
                if i in kept_set and v is not None:
                    if math.isfinite(v):
                        converted.append(s[i])
                        s[i] = v
                        continue
                    marks[_JOINT_OF_NAME[names[i]]] = v
                    nonfinite.append(s[i])
                s[i] = 0.0  # a joint the evaluation drops, or a non-finite score carried in marks
            if marks:
                a[NONFINITE_SCORES] = marks
        a["scores"] = s
    if null_lists:
        notes.append(
            f"{null_lists} annotation(s) have 'scores': null; the official tool reads that as no scores "
            "(every joint scored -9999), and so does corrtrack"
        )
    if long:
        notes.append(
            f"{long} annotation(s) have more scores than the {k} keypoints; the official tool reads the first {k}, "
            "and so does corrtrack"
        )
    if short:
        notes.append(
            f"{short} annotation(s) have fewer scores than the {k} keypoints; the official tool never reads the "
            "missing ones (joints it does not evaluate), and so does corrtrack"
        )
    _note_scores(nonfinite, converted, notes)


def _note_scores(nonfinite: list[Any], converted: list[Any], notes: list[str]) -> None:
    if nonfinite:
        notes.append(
            f"{len(nonfinite)} joint score(s) are null, NaN or infinite (e.g. {nonfinite[0]!r}); the official tool "
            "ranks null and NaN as NaN, above every number, and so does corrtrack"
        )
    if converted:
        notes.append(
            f"{len(converted)} joint score(s) are strings or booleans (e.g. {converted[0]!r}); the official tool "
            "converts them to numbers, and so does corrtrack"
        )


# --- PoseTrack 2017 -------------------------------------------------------------------------------------------


def _one(v: Any) -> Any:
    """The value of a 2017 one-element list (bare values are taken as they are)."""
    return v[0] if type(v) is list and len(v) == 1 else v


_UNSURE = -1


def _joint_of(idv: Any) -> int | None:
    """The joint the official tool finds a point under (``point["id"][0] == j``), None if none, _UNSURE to leave."""
    if idv is None:
        return None  # skipped by the official look-up ("id" is not None)
    if type(idv) is list and len(idv) != 1:
        return _UNSURE  # the official tool crashes on [] (IndexError); the reader's error stays
    v = _one(idv)
    if type(v) is bool:
        return _UNSURE
    if type(v) in (int, float):
        if _finite(v) and v == int(v) and 0 <= v < POSETRACK17.num_joints:
            return int(v)
        return None
    return None  # strings, null: equal to no joint id


def _drop(into: list[list[float]], joint: int, point: dict) -> None:
    """Keep a skipped point's place for the ignore-region step (points without numeric x, y are left out)."""
    x, y = _one(point.get("x")), _one(point.get("y"))
    if not (_finite(x) and _finite(y)):
        return
    score = _score(_one(point["score"])) if "score" in point else None
    try:
        xy = [float(x), float(y)]
    except OverflowError:
        return
    into.append([joint, *xy, MIN_SCORE if score is None else score])


def _view_2017(doc: dict, source: str, notes: list[str]) -> None:
    annolist = doc.get("annolist")
    if type(annolist) is not list:
        return
    rects: list[dict] = []
    records: list[str] = []
    for f, frame in enumerate(annolist):
        if type(frame) is dict and type(frame.get("annorect")) is list:
            for r, rect in enumerate(frame["annorect"]):
                if type(rect) is dict:
                    rects.append(rect)
                    records.append(f"annolist[{f}].annorect[{r}]")
    ids = _TrackIds([_one(rect.get("track_id")) for rect in rects], source, records)
    if ids.mapping:
        for rect in rects:
            v = _one(rect.get("track_id"))
            if _odd_track_id(v):
                rect["track_id"] = [ids.mapping[v]]
        notes.append(ids.note() or "")
    unknown: list[Any] = []
    repeated: list[int] = []
    zero = 0
    nonfinite: list[Any] = []
    converted: list[Any] = []
    for rect in rects:
        ap = rect.get("annopoints")
        if type(ap) is not list or not ap or type(ap[0]) is not dict or type(ap[0].get("point")) is not list:
            continue
        points = ap[0]["point"]
        seen: set[int] = set()
        kept: list[Any] = []
        dropped: list[list[float]] = []
        marks: dict[str, float] = {}
        for p in points:
            if type(p) is not dict or "id" not in p:
                kept.append(p)  # the official tool crashes (KeyError); the reader's error stays
                continue
            j = _joint_of(p["id"])
            if j == _UNSURE:
                kept.append(p)
                continue
            if j is None:
                unknown.append(_one(p["id"]))
                _drop(dropped, -1, p)
                continue
            if j in seen:  # the official look-up takes the first point with the id
                repeated.append(j)
                _drop(dropped, j, p)
                continue
            seen.add(j)
            x, y, vis = _one(p.get("x")), _one(p.get("y")), _one(p.get("is_visible"))
            if _number(x) and _number(y) and _number(vis) and x == 0 and y == 0 and vis == 0:
                p = dict(p)
                p["is_visible"] = [1]  # present: every listed point is a joint to the official tool
                zero += 1
            score = p.get("score")
            if type(score) is list and len(score) == 1 and not _finite(score[0]):
                v = _score(score[0])
                if v is not None:
                    p = dict(p)
                    if math.isfinite(v):
                        converted.append(score[0])
                        p["score"] = [v]
                    else:
                        marks[POSETRACK17.joints[j]] = v
                        nonfinite.append(score[0])
                        p["score"] = [0.0]
            kept.append(p)
        if len(kept) != len(points) or any(a is not b for a, b in zip(kept, points)):
            ap[0] = dict(ap[0])
            ap[0]["point"] = kept
        if marks:
            rect[NONFINITE_SCORES] = marks
        if dropped:
            rect[DROPPED_POINTS] = dropped
    if unknown:
        notes.append(
            f"{len(unknown)} point(s) have a joint id outside 0..14 (e.g. {unknown[0]!r}); "
            "they are ignored, as the official tool ignores them"
        )
    if repeated:
        notes.append(
            f"{len(repeated)} point(s) repeat a joint id of their person (e.g. {repeated[0]}); the first point "
            "with an id is used, as the official tool does"
        )
    if zero:
        notes.append(
            f"{zero} point(s) are given as x=0, y=0, is_visible=0; the official tool counts every listed point of a "
            "2017 file, so they are joints at (0, 0) (leave absent joints out of the list)"
        )
    _note_scores(nonfinite, converted, notes)
