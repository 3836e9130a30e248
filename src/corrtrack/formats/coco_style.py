"""COCO-style JSON (``images`` / ``annotations`` / ``categories``): COCO keypoints and PoseTrack 2018.

PoseTrack 2018 is COCO keypoints plus ``track_id``, ``bbox_head``, per-joint
``scores``, ``is_labeled`` and ignore regions, so one reader and one writer
serve both; ``flavor`` only decides the default layout and which fields are
written. Fields a reader does not map to arrays are kept in ``extras`` so a
read/write round trip gives the same JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from corrtrack.formats._check import Checker
from corrtrack.keypoints import COCO17, POSETRACK17, POSETRACK18, KeypointLayout, names_to_layout, remap_index
from corrtrack.poses import Frame, Poses, PoseSequence

Flavor = Literal["posetrack18", "coco", "coco-results"]

_IMAGE_KEYS = {"file_name", "id", "is_labeled", "ignore_regions_x", "ignore_regions_y"}
_ANN_KEYS = {"image_id", "track_id", "keypoints", "scores", "score", "bbox", "bbox_head", "id"}


def parse_coco_style(data: Any, source: str, flavor: Flavor, name: str | None = None) -> PoseSequence:
    """Turn a loaded COCO-style document (dict, or a COCO results list) into a :class:`PoseSequence`."""
    ck = Checker(source)
    name = name if name is not None else Path(source).stem
    if isinstance(data, list):  # COCO results / detections: a bare list of annotations
        data = {"annotations": data}
    data = ck.mapping(data, None)
    if "images" not in data and "annotations" not in data:
        raise ck.fail(None, "not a COCO-style file: it has neither 'images' nor 'annotations'")
    annotations = ck.sequence(data.get("annotations", []), None, "annotations")
    categories = ck.sequence(data.get("categories", []), None, "categories")
    layout, slots = _layout_from_categories(ck, categories, flavor)
    k = len(slots)

    images_raw = data.get("images")
    if images_raw is None:
        seen: dict[Any, None] = {}
        for i, ann in enumerate(annotations):
            seen.setdefault(ck.key(ck.mapping(ann, f"annotation {i}"), "image_id", f"annotation {i}"), None)
        images_raw = [{"id": image_id} for image_id in seen]  # no file names: Frame.file_name is ""
    images = ck.sequence(images_raw, None, "images")

    frame_of_image: dict[Any, int] = {}
    frames_meta = []
    for i, img in enumerate(images):
        rec = f"image {i}"
        img = ck.mapping(img, rec)
        image_id = img.get("id")
        if image_id is not None:
            image_id = ck.integer(image_id, rec, "id")
            if image_id in frame_of_image:
                raise ck.fail(rec, f"duplicate image id {image_id}")
            frame_of_image[image_id] = i
        file_name = ck.string(img["file_name"], rec, "file_name") if "file_name" in img else ""
        is_labeled = ck.boolean(img["is_labeled"], rec, "is_labeled") if "is_labeled" in img else None
        frames_meta.append((img, image_id, file_name, is_labeled, _ignore_regions(ck, img, rec)))

    per_frame: list[list[tuple[int, dict]]] = [[] for _ in images]
    for i, ann in enumerate(annotations):
        rec = f"annotation {i}"
        ann = ck.mapping(ann, rec)
        image_id = ck.integer(ck.key(ann, "image_id", rec), rec, "image_id")
        if image_id not in frame_of_image:
            no_id = next((j for j, meta in enumerate(frames_meta) if meta[1] is None), None)
            if no_id is not None:  # the image is at fault, not the annotation
                raise ck.fail(f"image {no_id}", f"missing required field 'id' (annotation {i} refers to {image_id})")
            raise ck.fail(rec, f"image_id {image_id} is not in 'images'")
        per_frame[frame_of_image[image_id]].append((i, ann))

    frames = []
    for (img, image_id, file_name, is_labeled, regions), anns in zip(frames_meta, per_frame):
        extras = {key: val for key, val in img.items() if key not in _IMAGE_KEYS}
        poses = _parse_annotations(ck, anns, k)
        if slots is not _identity(layout.num_joints):
            poses = _to_slots(poses, slots, layout.num_joints)
        frames.append(Frame(file_name, poses, image_id, is_labeled, regions, extras))
    dropped = (
        ("images", "annotations") if slots is _identity(layout.num_joints) else ("images", "annotations", "categories")
    )
    file_extras = {key: val for key, val in data.items() if key not in dropped}
    return PoseSequence(name, frames, layout, file_extras)


_IDENTITY: dict[int, np.ndarray] = {}


def _identity(n: int) -> np.ndarray:
    return _IDENTITY.setdefault(n, np.arange(n))


def _layout_from_categories(ck: Checker, categories: list, flavor: Flavor) -> tuple[KeypointLayout, np.ndarray]:
    """The layout and, for each keypoint of the file, its slot in the layout (-1: dropped).

    A known joint order is kept as it is (lossless round trips). Any other list
    of names that includes the 15 PoseTrack evaluation joints (``neck`` allowed
    for ``head_bottom``) is mapped into the PoseTrack 2018 layout by name;
    other names (ears, eyes) are dropped, as the official evaluator does.
    """
    default = POSETRACK18 if flavor == "posetrack18" else COCO17
    person = [c for c in categories if isinstance(c, dict) and c.get("keypoints")]
    if not person:
        return default, _identity(default.num_joints)
    names = ck.sequence(person[0]["keypoints"], "categories[0]", "keypoints")
    if not all(isinstance(n, str) for n in names):
        raise ck.fail("categories[0]", "'keypoints' must be a list of joint names")
    canonical = ["head_bottom" if n == "neck" else n for n in names]
    repeated = sorted({n for n in canonical if canonical.count(n) > 1})
    if repeated:
        spelled = [sorted({m for m in names if (m if m != "neck" else "head_bottom") == n}) for n in repeated]
        what = "; ".join(" and ".join(repr(m) for m in group) for group in spelled)
        raise ck.fail("categories[0]", f"'keypoints' names one joint twice ({what}): which one is meant is unclear")
    layout = names_to_layout(names)
    if layout is not None:
        return layout, _identity(layout.num_joints)
    missing = [n for n in POSETRACK17.joints if n not in canonical]
    if missing:
        raise ck.fail("categories[0]", f"keypoint names lack {missing}; expected the PoseTrack 2018 or COCO names")
    return POSETRACK18, np.array([POSETRACK18.joints.index(n) if n in POSETRACK17.joints else -1 for n in canonical])


def _to_slots(p: Poses, slots: np.ndarray, k: int) -> Poses:
    """Move file-order keypoints into layout slots; joints without a slot are dropped."""
    ok = slots >= 0
    kps = np.zeros((len(p), k, 3))
    kps[:, slots[ok]] = p.keypoints[:, ok]
    ks = np.full((len(p), k), np.nan)
    ks[:, slots[ok]] = p.keypoint_scores[:, ok]
    scored = ~np.isnan(p.keypoint_scores).all(1)
    ks[scored] = np.nan_to_num(ks[scored], nan=0.0)
    return p.replace(keypoints=kps, keypoint_scores=ks)


def _ignore_regions(ck: Checker, img: dict, rec: str) -> list[np.ndarray] | None:
    if "ignore_regions_x" not in img and "ignore_regions_y" not in img:
        return None
    xs = ck.sequence(img.get("ignore_regions_x", []), rec, "ignore_regions_x")
    ys = ck.sequence(img.get("ignore_regions_y", []), rec, "ignore_regions_y")
    if len(xs) != len(ys):
        raise ck.fail(rec, f"{len(xs)} ignore-region x lists but {len(ys)} y lists")
    regions = []
    for j, (x, y) in enumerate(zip(xs, ys)):
        x = ck.numbers(x, rec, f"ignore_regions_x[{j}]")
        y = ck.numbers(y, rec, f"ignore_regions_y[{j}]", length=len(x))
        regions.append(np.stack([x, y], axis=1))
    return regions


def _parse_annotations(ck: Checker, anns: list[tuple[int, dict]], k: int) -> Poses:
    n = len(anns)
    kps = np.zeros((n, k, 3))
    kscores = np.full((n, k), np.nan)
    boxes = np.full((n, 4), np.nan)
    heads = np.full((n, 4), np.nan)
    scores = np.full(n, np.nan)
    track_ids = np.full(n, -1, dtype=np.int64)
    ids = np.full(n, -1, dtype=np.int64)
    has_keypoints = np.ones(n, dtype=bool)
    extras = []
    for row, (i, ann) in enumerate(anns):
        rec = f"annotation {i}"
        extra = {key: val for key, val in ann.items() if key not in _ANN_KEYS}
        if "keypoints" in ann:
            values = ck.numbers(ann["keypoints"], rec, "keypoints")
            if len(values) != 3 * k:
                raise ck.fail(rec, f"'keypoints' must have {3 * k} values (3 x {k} joints), got {len(values)}")
            kps[row] = values.reshape(k, 3)
        else:
            has_keypoints[row] = False
        if "scores" in ann:
            raw = ck.sequence(ann["scores"], rec, "scores")
            if len(raw) == k:
                kscores[row] = ck.numbers(raw, rec, "scores", length=k)
            elif raw:
                raise ck.fail(rec, f"'scores' must have {k} values, got {len(raw)}")
            else:
                extra["scores"] = []
        if "bbox" in ann:
            boxes[row] = ck.numbers(ann["bbox"], rec, "bbox", length=4)
        if "bbox_head" in ann:
            heads[row] = ck.numbers(ann["bbox_head"], rec, "bbox_head", length=4)
        if "score" in ann:
            scores[row] = ck.number(ann["score"], rec, "score")
        if "track_id" in ann:
            track_ids[row] = ck.integer(ann["track_id"], rec, "track_id")
            if track_ids[row] < 0:
                raise ck.fail(rec, f"'track_id' must be >= 0, got {track_ids[row]}")
        if "id" in ann:
            ids[row] = ck.integer(ann["id"], rec, "id")
        extras.append(extra)
    return Poses(kps, kscores, boxes, heads, scores, track_ids, ids, tuple(extras), has_keypoints)


def _num(x: float) -> float | int:
    """Write integral values as ints (as the official files do) and others as floats."""
    return int(x) if float(x).is_integer() and abs(x) < 2**53 else float(x)


def _nums(values: np.ndarray) -> list:
    return [_num(v) for v in values.tolist()]


def to_coco_style(seq: PoseSequence, flavor: Flavor) -> dict | list:
    """The JSON document for ``seq`` (inverse of :func:`parse_coco_style`).

    ``coco-results`` gives the bare list of annotations that COCO results and detection
    files are; frames whose ``file_name`` is ``""`` are written without one.
    """
    layout = seq.layout
    if flavor == "posetrack18" and layout is not POSETRACK18:
        seq = convert_layout(seq, POSETRACK18)
        layout = POSETRACK18
    images, annotations = [], []
    for f_index, frame in enumerate(seq.frames):
        image_id = frame.image_id if frame.image_id is not None else f_index
        img: dict[str, Any] = {}
        if frame.file_name:
            img["file_name"] = frame.file_name
        img["id"] = image_id
        if frame.is_labeled is not None:
            img["is_labeled"] = frame.is_labeled
        if frame.ignore_regions is not None:
            img["ignore_regions_x"] = [_nums(r[:, 0]) for r in frame.ignore_regions]
            img["ignore_regions_y"] = [_nums(r[:, 1]) for r in frame.ignore_regions]
        img.update(frame.extras)
        images.append(img)
        p = frame.poses
        for row in range(len(p)):
            extra = dict(p.extras[row])
            extra.pop("annopoints", None)  # a PoseTrack 2017 field kept for 2017 round trips
            ann: dict[str, Any] = {}
            if p.ids[row] >= 0:
                ann["id"] = int(p.ids[row])
            ann["image_id"] = image_id
            if p.track_ids[row] >= 0:
                ann["track_id"] = int(p.track_ids[row])
            if p.has_keypoints[row]:
                ann["keypoints"] = _nums(p.keypoints[row].reshape(-1))
            if not np.isnan(p.keypoint_scores[row]).all():
                # a joint without a score gets 0, as the official 2017 -> 2018 converter writes it
                ann["scores"] = [float(v) for v in np.nan_to_num(p.keypoint_scores[row], nan=0.0)]
            if not np.isnan(p.scores[row]):
                ann["score"] = float(p.scores[row])
            if not np.isnan(p.boxes[row]).all():
                ann["bbox"] = _nums(p.boxes[row])
            if not np.isnan(p.head_boxes[row]).all():
                ann["bbox_head"] = _nums(p.head_boxes[row])
            ann.update(extra)
            annotations.append(ann)
    if flavor == "coco-results":
        return annotations
    extras = dict(seq.extras)
    doc: dict[str, Any] = {"images": images, "annotations": annotations}
    doc["categories"] = extras.pop("categories", None) or [default_category(layout)]
    doc.update(extras)
    return doc


def default_category(layout: KeypointLayout) -> dict:
    """The ``person`` category entry for a layout (1-based skeleton, as COCO writes it)."""
    return {
        "supercategory": "person",
        "id": 1,
        "name": "person",
        "keypoints": list(layout.joints),
        "skeleton": (layout.skeleton_index + 1).tolist(),
    }


def convert_layout(seq: PoseSequence, layout: KeypointLayout) -> PoseSequence:
    """Re-express every pose in another joint layout (joints missing there become absent)."""
    if seq.layout is layout:
        return seq
    idx = remap_index(seq.layout, layout)
    ok = idx >= 0

    def remap(p: Poses) -> Poses:
        kps = np.zeros((len(p), layout.num_joints, 3))
        kps[:, ok] = p.keypoints[:, idx[ok]]
        ks = np.full((len(p), layout.num_joints), np.nan)
        ks[:, ok] = p.keypoint_scores[:, idx[ok]]
        scored = ~np.isnan(p.keypoint_scores).all(1)
        ks[np.ix_(scored, ~ok)] = 0.0
        return p.replace(keypoints=kps, keypoint_scores=ks)

    extras = {key: val for key, val in seq.extras.items() if key != "categories"}
    out = seq.with_poses([remap(f.poses) for f in seq.frames])
    return PoseSequence(out.name, out.frames, layout, extras)
