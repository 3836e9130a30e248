"""Training data that flows: decoded frames in reusable shards, samples rendered on the fly, a COCO export.

:func:`write_frame_shards` decodes the frames of a written data set once (in parallel) into
uint8 ``.npy`` shards; :class:`FrameShards` reads a frame back as a memory-mapped slice (no JPEG
decoding in the training step; DataLoader workers each map the files lazily). The training data
sets take ``FrameShards.read`` in place of ``read_image``: the pixels are the decoded JPEG's, so
the samples are identical.

:class:`SynthTrackSamples` is a map-style data set in the sense of ``torch.utils.data.Dataset``
(``__len__`` and ``__getitem__``) written in plain Python and numpy, because ``synth`` sits
below ``models`` and never imports torch; torch's ``DataLoader`` takes it as it is (use
:func:`collate_samples` as ``collate_fn`` for batches: the number of people varies). Every
index renders its own scene (its own world, people and camera), so the variety is unbounded,
and a sample is a pure function of ``(seed, index)``.

:func:`export_coco` merges a written SynthTrack data set's PoseTrack files into one COCO
keypoints file (``area``, ``iscrowd``, ``num_keypoints``; ignore regions as crowd
annotations) that pycocotools and the common trainers read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from corrtrack.errors import CorrtrackError
from corrtrack.fileio import read_json, write_json
from corrtrack.synth.config import PRESETS, preset
from corrtrack.synth.scene import SceneFrame, SyntheticScene

__all__ = ["FrameShards", "SynthTrackSamples", "collate_samples", "export_coco", "write_frame_shards"]

SHARDS_INDEX = "shards.json"
SHARDS_FORMAT = "corrtrack-frame-shards-v1"


def _decode_group(args: tuple[list[str], str]) -> tuple[str, int]:
    """Decode ``paths`` (all the same size) into the shard ``out`` (.npy, written atomically); worker job."""
    from corrtrack.fileio import atomic_path
    from corrtrack.video import read_image

    paths, out = args
    first = read_image(paths[0])
    array = np.empty((len(paths), *first.shape), np.uint8)
    array[0] = first
    for i, p in enumerate(paths[1:], 1):
        image = read_image(p)
        if image.shape != first.shape:
            raise CorrtrackError(f"{p}: size {image.shape[1]}x{image.shape[0]} differs within a shard")
        array[i] = image
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.save(f, array)
    return out, len(paths)


def write_frame_shards(
    images: Sequence[str], out: str | Path, shard_frames: int = 256, workers: int = 1
) -> FrameShards:
    """Decode ``images`` once into ``out/shard_NNNNN.npy`` (``shard_frames`` frames of one size each) plus
    ``out/shards.json``; ``workers`` processes decode in parallel. An existing, complete set for the
    same image list is reused as it is."""
    out = Path(out)
    unique = list(dict.fromkeys(str(p) for p in images))
    index_path = out / SHARDS_INDEX
    if index_path.is_file():
        existing = FrameShards(out)
        if set(unique) <= set(existing.index):
            return existing
    out.mkdir(parents=True, exist_ok=True)
    by_size: dict[tuple[int, int], list[str]] = {}
    for p in unique:
        size = _image_size(p)
        by_size.setdefault(size, []).append(p)
    jobs: list[tuple[list[str], str]] = []
    index: dict[str, list[int]] = {}
    for paths in by_size.values():
        for start in range(0, len(paths), shard_frames):
            chunk = paths[start : start + shard_frames]
            shard = len(jobs)
            jobs.append((chunk, str(out / f"shard_{shard:05d}.npy")))
            for row, p in enumerate(chunk):
                index[p] = [shard, row]
    if workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(workers, len(jobs))) as pool:
            list(pool.map(_decode_group, jobs))
    else:
        for job in jobs:
            _decode_group(job)
    write_json(
        index_path,
        {"format": SHARDS_FORMAT, "shards": [Path(j[1]).name for j in jobs], "frames": len(index), "index": index},
    )
    return FrameShards(out)


def _image_size(path: str) -> tuple[int, int]:
    """(height, width) from the file's header (decoding only when the header does not say)."""
    from corrtrack.video import declared_size, read_image

    with open(path, "rb") as f:
        size = declared_size(f.read(65536))
    if size is None:
        h, w = read_image(path).shape[:2]
        return int(h), int(w)
    return int(size[1]), int(size[0])


class FrameShards:
    """Decoded frames written by :func:`write_frame_shards`: ``read(path)`` returns the RGB frame of ``path``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        doc = read_json(self.folder / SHARDS_INDEX)
        if not isinstance(doc, dict) or doc.get("format") != SHARDS_FORMAT:
            raise CorrtrackError(f"{self.folder / SHARDS_INDEX}: not a {SHARDS_FORMAT} index")
        self.shards: list[str] = list(doc["shards"])
        self.index: dict[str, list[int]] = dict(doc["index"])
        self._maps: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers map the files themselves
        return {"folder": self.folder, "shards": self.shards, "index": self.index, "_maps": {}}

    def read(self, path: str | Path) -> np.ndarray:
        try:
            shard, row = self.index[str(path)]
        except KeyError:
            raise CorrtrackError(f"{path}: not in the frame shards {self.folder}") from None
        if shard not in self._maps:
            self._maps[shard] = np.load(self.folder / self.shards[shard], mmap_mode="r")
        return np.array(self._maps[shard][row])


class SynthTrackSamples:
    """Stills (``mode="still"``) or frame pairs (``mode="pair"``) rendered on demand.

    A sample is a dict of numpy arrays: ``image`` (H, W, 3) uint8 RGB, ``keypoints`` (N, 17, 3)
    float32 (x, y, 1 for visible joints, zeros otherwise), ``boxes`` (N, 4) ``[x, y, w, h]``,
    ``track_ids`` (N,) and ``ignore_mask`` (H, W) uint8 (1 inside ignore regions); pairs add the
    same keys with the suffix ``2`` for a frame 1..``max_gap`` frames later, with the same
    track ids for the same people, and ``gap``.
    """

    def __init__(
        self,
        length: int,
        presets: Sequence[str] = ("easy", "medium", "hard"),
        mode: str = "still",
        size: tuple[int, int] = (320, 180),
        seed: int = 0,
        max_gap: int = 3,
        warmup: tuple[int, int] = (0, 30),
        overrides: dict[str, Any] | None = None,
    ) -> None:
        if length < 1:
            raise ValueError(f"length must be at least 1, got {length}")
        if mode not in ("still", "pair"):
            raise ValueError(f"mode must be 'still' or 'pair', got {mode!r}")
        unknown = [p for p in presets if p not in PRESETS]
        if unknown or not presets:
            raise ValueError(f"unknown presets {unknown}; choose from {sorted(PRESETS)}")
        if max_gap < 1 or warmup[0] < 0 or warmup[1] < warmup[0]:
            raise ValueError(f"need max_gap >= 1 and 0 <= warmup[0] <= warmup[1], got {max_gap}, {warmup}")
        self.length, self.presets, self.mode = length, tuple(presets), mode
        self.size, self.seed, self.max_gap, self.warmup = size, seed, max_gap, warmup
        self.overrides = dict(overrides or {})

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        index %= self.length
        state = np.random.SeedSequence([self.seed, index]).generate_state(3)
        name = self.presets[int(state[0]) % len(self.presets)]
        cfg = preset(name, width=self.size[0], height=self.size[1], **self.overrides)
        start = self.warmup[0] + int(state[1]) % (self.warmup[1] - self.warmup[0] + 1)
        gap = 1 + int(state[2]) % self.max_gap if self.mode == "pair" else 0
        frames = list(SyntheticScene(cfg, int(state[0] ^ state[1])).frames(gap + 1, start=start))
        sample = _sample(frames[0], "")
        if self.mode == "pair":
            sample.update(_sample(frames[-1], "2"))
            sample["gap"] = np.array(gap)
        return sample


def _sample(fr: SceneFrame, suffix: str) -> dict[str, np.ndarray]:
    h, w = fr.image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    if fr.ignore_regions:
        cv2.fillPoly(mask, [np.round(p).astype(np.int32) for p in fr.ignore_regions], 1)
    return {
        f"image{suffix}": fr.image,
        f"keypoints{suffix}": fr.poses.keypoints.astype(np.float32),
        f"boxes{suffix}": fr.poses.boxes.astype(np.float32),
        f"track_ids{suffix}": fr.poses.track_ids.copy(),
        f"ignore_mask{suffix}": mask,
    }


def collate_samples(samples: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    """Batch samples: fixed-size arrays (images, masks, gaps) stacked, per-person arrays kept as lists."""
    out: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        same = all(v.shape == values[0].shape for v in values)
        out[key] = np.stack(values) if same and not key.startswith(("keypoints", "boxes", "track_ids")) else values
    return out


def _polygon_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _write_crop(image: np.ndarray, box: tuple[float, float, float, float], folder: Path, ann_id: int) -> str:
    from corrtrack.video import write_image

    x, y, w, h = box
    cx, cy, hw, hh = x + w / 2, y + h / 2, 0.625 * w, 0.625 * h
    H, W = image.shape[:2]
    x0, y0 = int(max(0, cx - hw)), int(max(0, cy - hh))
    x1, y1 = int(min(W, np.ceil(cx + hw))), int(min(H, np.ceil(cy + hh)))
    name = f"{ann_id}.jpg"
    write_image(folder / name, image[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)], quality=95)
    return name


def export_coco(root: str | Path, split: str, out: str | Path, crops: str | Path | None = None) -> dict[str, int]:
    """Merge ``root/annotations/<split>/*.json`` (a written SynthTrack set) into one COCO keypoints file.

    Only labelled frames are exported. Visible joints get COCO's ``v = 2``; ``area`` is the
    person's visible silhouette in pixels (the box area for files without it); ignore regions
    become ``iscrowd = 1`` annotations with their polygon. With ``crops``, every person's box
    (enlarged by a quarter, clipped to the frame) is also cut out to ``crops/<annotation id>.jpg``
    and named in the annotation's ``crop_file``. Returns the counts written.
    """
    from corrtrack.formats import load_sequence
    from corrtrack.formats.coco_style import default_category
    from corrtrack.keypoints import POSETRACK18

    root = Path(root)
    files = sorted((root / "annotations" / split).glob("*.json"))
    if not files:
        raise CorrtrackError(f"{root / 'annotations' / split}: no annotation files (is this a SynthTrack data set?)")
    sizes: dict[str, tuple[int, int]] = {}
    meta = root / "synthtrack.json"
    if meta.is_file():
        doc = read_json(meta)
        try:
            for s in doc.get("sequences", []):
                sizes[str(s["name"])] = (int(s["config"]["width"]), int(s["config"]["height"]))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise CorrtrackError(
                f"{meta}: not a SynthTrack description (each of 'sequences' needs a name and a config with "
                f"width and height; {type(exc).__name__}: {exc})"
            ) from None
    images, annotations = [], []
    for path in files:
        seq = load_sequence(path)
        if seq.name not in sizes:
            raise CorrtrackError(f"{meta}: no frame size recorded for sequence {seq.name}")
        width, height = sizes[seq.name]
        for fr in seq.frames:
            if not fr.is_labeled:
                continue
            if fr.image_id is None:
                raise CorrtrackError(f"{path}: frame {fr.file_name} has no image id")
            image_id = int(fr.image_id)
            images.append(
                {"id": image_id, "file_name": fr.file_name, "width": width, "height": height, "video": seq.name}
            )
            p = fr.poses
            frame_image = None
            if crops is not None and len(p):
                from corrtrack.video import read_image

                frame_image = read_image(root / fr.file_name)
            for i in range(len(p)):
                kps = p.keypoints[i].copy()
                vis = p.present[i]
                kps[vis, 2] = 2
                x, y, w, h = (float(v) for v in p.boxes[i])
                annotations.append(
                    {
                        "id": int(p.ids[i]),
                        "image_id": image_id,
                        "category_id": 1,
                        "keypoints": np.round(kps, 2).ravel().tolist(),
                        "num_keypoints": int(vis.sum()),
                        "bbox": [x, y, w, h],
                        "area": float(p.extras[i].get("area", w * h)),
                        "iscrowd": 0,
                        "track_id": int(p.track_ids[i]),
                        "segmentation": [],
                    }
                )
                if frame_image is not None and crops is not None:
                    annotations[-1]["crop_file"] = _write_crop(frame_image, (x, y, w, h), Path(crops), int(p.ids[i]))
            for poly in fr.ignore_regions or []:
                x0, y0 = poly.min(0)
                x1, y1 = poly.max(0)
                annotations.append(
                    {
                        "id": 0,  # numbered below
                        "image_id": image_id,
                        "category_id": 1,
                        "keypoints": [0] * (3 * POSETRACK18.num_joints),
                        "num_keypoints": 0,
                        "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                        "area": _polygon_area(poly),
                        "iscrowd": 1,
                        "segmentation": [np.round(poly, 2).ravel().tolist()],
                    }
                )
    # crowd ids: unique and clear of person ids (image_id * 100 + person index)
    next_id = 1 + max([a["id"] for a in annotations if not a["iscrowd"]], default=0)
    for a in annotations:
        if a["iscrowd"]:
            a["id"] = next_id
            next_id += 1
    doc = {
        "info": {"description": f"SynthTrack {split} split, merged from {root.name}"},
        "images": images,
        "annotations": annotations,
        "categories": [default_category(POSETRACK18)],
    }
    write_json(out, doc)
    return {
        "images": len(images),
        "persons": sum(1 for a in annotations if not a["iscrowd"]),
        "crowd": sum(a["iscrowd"] for a in annotations),
    }
