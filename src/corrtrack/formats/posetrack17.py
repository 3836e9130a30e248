"""PoseTrack 2017 JSON (``{"annolist": [...]}``), one file per sequence.

Joints are stored in the 17-slot PoseTrack 2018 layout (ears absent); the 15
2017 joint ids map by name (``neck`` is ``head_bottom``). The head box is
``x1, y1, x2, y2`` in the file and ``[x, y, w, h]`` in :class:`Poses`.
Unknown per-frame and per-person fields are kept in ``extras`` and written back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from corrtrack.fileio import read_json, write_json
from corrtrack.formats._check import Checker
from corrtrack.formats.coco_style import _num, convert_layout
from corrtrack.keypoints import POSETRACK17, POSETRACK18, remap_index
from corrtrack.poses import Frame, Poses, PoseSequence

__all__ = ["parse_posetrack17", "read_posetrack17", "to_posetrack17", "write_posetrack17"]

#: 2017 joint id -> slot in POSETRACK18
_ID_TO_SLOT = remap_index(POSETRACK18, POSETRACK17)
_FRAME_KEYS = {"image", "annorect", "ignore_regions", "is_labeled"}
_RECT_KEYS = {"x1", "y1", "x2", "y2", "score", "track_id", "annopoints", "bbox", "id"}


def parse_posetrack17(data: Any, source: str, name: str | None = None) -> PoseSequence:
    ck = Checker(source)
    data = ck.mapping(data, None)
    annolist = ck.sequence(ck.key(data, "annolist", None), None, "annolist")
    frames = []
    for f_index, fr in enumerate(annolist):
        rec = f"annolist[{f_index}]"
        fr = ck.mapping(fr, rec)
        file_name = ""
        if "image" in fr:
            image = ck.sequence(fr["image"], rec, "image")
            if image:
                file_name = ck.string(ck.key(ck.mapping(image[0], rec), "name", rec), rec, "image.name")
        is_labeled = ck.boolean(fr["is_labeled"], rec, "is_labeled") if "is_labeled" in fr else None
        regions = None
        if "ignore_regions" in fr:
            regions = []
            for r_index, reg in enumerate(ck.sequence(fr["ignore_regions"], rec, "ignore_regions")):
                points = ck.sequence(
                    ck.key(ck.mapping(reg, rec), "point", rec), rec, f"ignore_regions[{r_index}].point"
                )
                xy = np.array(
                    [
                        [
                            ck.number(ck.mapping(p, rec).get("x"), rec, "ignore point x"),
                            ck.number(p.get("y"), rec, "ignore point y"),
                        ]
                        for p in points
                    ]
                ).reshape(-1, 2)
                regions.append(xy)
        rects = ck.sequence(fr.get("annorect", []), rec, "annorect")
        poses = _parse_rects(ck, rects, rec)
        extras = {key: val for key, val in fr.items() if key not in _FRAME_KEYS}
        image_id = extras.pop("image_id", None)
        frames.append(Frame(file_name, poses, image_id, is_labeled, regions, extras))
    file_extras = {key: val for key, val in data.items() if key != "annolist"}
    return PoseSequence(name if name is not None else Path(source).stem, frames, POSETRACK18, file_extras)


def _parse_rects(ck: Checker, rects: list, frame_rec: str) -> Poses:
    n, k = len(rects), POSETRACK18.num_joints
    kps = np.zeros((n, k, 3))
    kscores = np.full((n, k), np.nan)
    heads = np.full((n, 4), np.nan)
    boxes = np.full((n, 4), np.nan)
    scores = np.full(n, np.nan)
    track_ids = np.full(n, -1, dtype=np.int64)
    ids = np.full(n, -1, dtype=np.int64)
    has_keypoints = np.ones(n, dtype=bool)
    extras = []
    for row, rect in enumerate(rects):
        rec = f"{frame_rec}.annorect[{row}]"
        rect = ck.mapping(rect, rec)
        extra = {key: val for key, val in rect.items() if key not in _RECT_KEYS}
        if all(key in rect for key in ("x1", "y1", "x2", "y2")):
            x1, y1, x2, y2 = (ck.number(rect[key], rec, key) for key in ("x1", "y1", "x2", "y2"))
            heads[row] = (x1, y1, x2 - x1, y2 - y1)
        if "score" in rect:
            scores[row] = ck.number(rect["score"], rec, "score")
        if "track_id" in rect:
            track_ids[row] = ck.integer(rect["track_id"], rec, "track_id")
            if track_ids[row] < 0:
                raise ck.fail(rec, f"'track_id' must be >= 0, got {track_ids[row]}")
        if "bbox" in rect:
            boxes[row] = ck.numbers(rect["bbox"], rec, "bbox", length=4)
        if "id" in rect:
            ids[row] = ck.integer(rect["id"], rec, "id")
        annopoints = rect.get("annopoints")
        if annopoints is None or annopoints == [] or annopoints == [{}] or _no_point_list(annopoints):
            has_keypoints[row] = False
            if "annopoints" in rect:
                extra["annopoints"] = annopoints  # kept verbatim for the round trip
        else:
            ap = ck.sequence(annopoints, rec, "annopoints")
            points = ck.sequence(ck.key(ck.mapping(ap[0], rec), "point", rec), rec, "annopoints[0].point")
            for p_index, point in enumerate(points):
                prec = f"{rec}.point[{p_index}]"
                point = ck.mapping(point, prec)
                jid = ck.integer(ck.key(point, "id", prec), prec, "id")
                if not 0 <= jid < len(_ID_TO_SLOT):
                    raise ck.fail(prec, f"joint id {jid} is not a PoseTrack 2017 id (0..14)")
                slot = _ID_TO_SLOT[jid]
                vis = ck.number(point["is_visible"], prec, "is_visible") if "is_visible" in point else 1.0
                kps[row, slot] = (
                    ck.number(ck.key(point, "x", prec), prec, "x"),
                    ck.number(ck.key(point, "y", prec), prec, "y"),
                    vis,
                )
                if "score" in point:
                    kscores[row, slot] = ck.number(point["score"], prec, "score")
        extras.append(extra)
    return Poses(kps, kscores, boxes, heads, scores, track_ids, ids, tuple(extras), has_keypoints)


def _no_point_list(annopoints: object) -> bool:
    """The official evaluator drops a person whose ``annopoints[0]`` has no ``point`` list."""
    return isinstance(annopoints, list) and isinstance(annopoints[0], dict) and "point" not in annopoints[0]


def to_posetrack17(seq: PoseSequence) -> dict:
    """The 2017 document for ``seq``; joints outside the 15 evaluation joints (ears) are dropped."""
    seq = convert_layout(seq, POSETRACK18)
    present_slots = _ID_TO_SLOT
    annolist = []
    for frame in seq.frames:
        fr: dict[str, Any] = {"image": [{"name": frame.file_name}]}
        p = frame.poses
        present = p.present
        rects = []
        for row in range(len(p)):
            extra = dict(p.extras[row])
            rect: dict[str, Any] = {}
            if not np.isnan(p.head_boxes[row]).any():
                x, y, w, h = p.head_boxes[row].tolist()
                rect.update(x1=[_num(x)], y1=[_num(y)], x2=[_num(x + w)], y2=[_num(y + h)])
            if not np.isnan(p.scores[row]):
                rect["score"] = [float(p.scores[row])]
            if p.track_ids[row] >= 0:
                rect["track_id"] = [int(p.track_ids[row])]
            if p.ids[row] >= 0:
                rect["id"] = int(p.ids[row])
            if not np.isnan(p.boxes[row]).all():
                rect["bbox"] = [_num(v) for v in p.boxes[row].tolist()]
            raw_annopoints = extra.pop("annopoints", None)
            if not p.has_keypoints[row] and not present[row].any():
                if raw_annopoints is not None:
                    rect["annopoints"] = raw_annopoints
            else:
                points = []
                for jid, slot in enumerate(present_slots):
                    if not present[row, slot]:
                        continue
                    x, y, v = p.keypoints[row, slot].tolist()
                    point: dict[str, Any] = {"id": [jid], "x": [_num(x)], "y": [_num(y)], "is_visible": [_num(v)]}
                    if not np.isnan(p.keypoint_scores[row, slot]):
                        point["score"] = [float(p.keypoint_scores[row, slot])]
                    points.append(point)
                rect["annopoints"] = [{"point": points}]
            rect.update(extra)
            rects.append(rect)
        fr["annorect"] = rects
        if frame.ignore_regions is not None:
            fr["ignore_regions"] = [
                {"point": [{"x": [_num(x)], "y": [_num(y)]} for x, y in r.tolist()]} for r in frame.ignore_regions
            ]
        if frame.is_labeled is not None:
            fr["is_labeled"] = [frame.is_labeled]
        if frame.image_id is not None:
            fr["image_id"] = frame.image_id
        fr.update(frame.extras)
        annolist.append(fr)
    doc: dict[str, Any] = {"annolist": annolist}
    doc.update({key: val for key, val in seq.extras.items() if key != "categories"})
    return doc


def read_posetrack17(path: str | Path) -> PoseSequence:
    return parse_posetrack17(read_json(path), str(path))


def write_posetrack17(seq: PoseSequence, path: str | Path) -> None:
    write_json(path, to_posetrack17(seq))
