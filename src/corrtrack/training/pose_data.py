"""Training data for the top-down pose network: person records from SynthTrack, PoseTrack 2018 and COCO,
and an augmenting crop data set.

Readers (each returns :class:`PersonRecords`, all persons as arrays, joints in the PoseTrack 2018 layout):

* :func:`posetrack_records` — a PoseTrack-2018-style folder: ``annotations/<split>/*.json`` (or
  ``posetrack_data/annotations/<split>/*.json``) whose ``file_name`` entries are relative to the folder.
  This is also the layout ``corrtrack synth`` writes, so it reads SynthTrack.
* :func:`coco_records` — a COCO keypoints file (``annotations/person_keypoints_<split>.json`` with images
  in ``<split>/``). Joints are mapped by name: COCO's eyes have no PoseTrack slot, and PoseTrack's
  head_bottom/head_top are absent in COCO, so they are masked in the loss (docs/method.md §2.4).

Unannotated joints (absent: ``0, 0, 0``; PoseTrack's ears, SynthTrack's occluded joints) get weight 0
in the loss through the ``valid`` mask. Crowd annotations and persons with fewer than ``min_joints``
annotated joints are skipped.

:class:`PoseCropDataset` implements :class:`corrtrack.training.loop.TrainDataset`: the isotropic crop of
docs/method.md §2.2 around a (jittered) box, then scale, rotation and horizontal flip (with the
left/right joint swap) about the crop centre, and colour jitter. All randomness comes from the ``rng``
the loop passes, so samples are reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corrtrack.config import param
from corrtrack.errors import CorrtrackError
from corrtrack.inference.crops import crop_transforms
from corrtrack.keypoints import COCO17, POSETRACK18, remap_keypoints
from corrtrack.poses import PoseSequence

__all__ = [
    "AugmentConfig",
    "PersonRecords",
    "PoseCropDataset",
    "coco_records",
    "find_posetrack_annotations",
    "load_records",
    "posetrack_records",
]


@dataclass
class PersonRecords:
    """All training persons: ``keypoints`` (M, 17, 3) image pixels + flag, ``valid`` (M, 17), ``boxes``
    (M, 4) ``[x, y, w, h]``, and for each the index into ``images`` (file paths)."""

    images: list[str]
    image_index: np.ndarray
    keypoints: np.ndarray
    valid: np.ndarray
    boxes: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.image_index)

    @staticmethod
    def concat(parts: list[PersonRecords]) -> PersonRecords:
        images: list[str] = []
        index = []
        for p in parts:
            index.append(p.image_index + len(images))
            images.extend(p.images)
        return PersonRecords(
            images,
            np.concatenate(index) if index else np.zeros(0, np.int64),
            np.concatenate([p.keypoints for p in parts]) if parts else np.zeros((0, 17, 3)),
            np.concatenate([p.valid for p in parts]) if parts else np.zeros((0, 17), bool),
            np.concatenate([p.boxes for p in parts]) if parts else np.zeros((0, 4)),
            " + ".join(p.source for p in parts),
        )


def _records_from_sequences(
    seqs: list[PoseSequence], image_root: Path, min_joints: int, source: str, check_images: bool = True
) -> PersonRecords:
    images: list[str] = []
    index, kps, valid, boxes = [], [], [], []
    for seq in seqs:
        layout = seq.layout
        for frame in seq.frames:
            poses = frame.poses
            if not len(poses):
                continue
            k = poses.keypoints
            present = poses.present
            if layout is not POSETRACK18:
                if layout.name != COCO17.name:
                    raise CorrtrackError(
                        f"{source}: {seq.name} has joint layout {layout.name}, not PoseTrack 2018/COCO"
                    )
                k = remap_keypoints(k, COCO17, POSETRACK18)
                present = remap_keypoints(present[..., None].astype(np.float64), COCO17, POSETRACK18)[..., 0] > 0
            crowd = np.array([bool(e.get("iscrowd", 0)) for e in poses.extras])
            keep = (present.sum(1) >= min_joints) & ~crowd
            if not keep.any():
                continue
            box = poses.boxes
            kbox = poses.keypoint_boxes()
            # persons without a usable box: the tight joint box grown by 20 % (at least 8 px)
            margin = np.maximum(0.1 * kbox[:, 2:], 4.0)
            kbox = np.concatenate([kbox[:, :2] - margin, kbox[:, 2:] + 2 * margin], 1)
            bad = ~np.isfinite(box).all(1) | (box[:, 2:] <= 1).any(1)
            box = np.where(bad[:, None], kbox, box)
            keep &= np.isfinite(box).all(1)
            if not keep.any():
                continue
            path = image_root / frame.file_name
            if check_images and not path.is_file():
                raise CorrtrackError(f"{source}: image {path} of sequence {seq.name} not found")
            index.append(np.full(int(keep.sum()), len(images)))
            images.append(str(path))
            kps.append(k[keep])
            valid.append(present[keep])
            boxes.append(box[keep])
    if not index:
        raise CorrtrackError(f"{source}: no person with at least {min_joints} annotated joints")
    return PersonRecords(
        images, np.concatenate(index), np.concatenate(kps), np.concatenate(valid), np.concatenate(boxes), source
    )


def find_posetrack_annotations(root: str | Path, split: str) -> tuple[list[Path], Path]:
    """The ``*.json`` files of ``split`` in a PoseTrack-2018-style folder and the folder image paths start from."""
    root = Path(root)
    for base in (root, root / "posetrack_data"):
        folder = base / "annotations" / split
        files = sorted(folder.glob("*.json"))
        if files:
            return files, base
    raise CorrtrackError(f"{root}: no annotations/{split}/*.json (PoseTrack 2018 / SynthTrack layout)")


def posetrack_records(root: str | Path, split: str = "train", min_joints: int = 3) -> PersonRecords:
    """Persons of a PoseTrack 2018 or SynthTrack folder (``annotations/<split>/*.json`` + ``images/``)."""
    from corrtrack.formats import load_sequence

    files, base = find_posetrack_annotations(root, split)
    seqs = [load_sequence(f) for f in files]
    return _records_from_sequences(seqs, base, min_joints, f"{root} ({split})")


def coco_records(
    annotation_file: str | Path, image_dir: str | Path | None = None, min_joints: int = 3
) -> PersonRecords:
    """Persons of a COCO keypoints file; images in ``image_dir`` (default: ``<root>/<split>`` for
    ``<root>/annotations/person_keypoints_<split>.json``, else the file's folder)."""
    from corrtrack.formats import load_sequence

    path = Path(annotation_file)
    seq = load_sequence(path, "coco")
    if image_dir is None:
        stem = path.stem
        split = stem[len("person_keypoints_") :] if stem.startswith("person_keypoints_") else ""
        guess = path.parent.parent / split if split and path.parent.name == "annotations" else path.parent
        image_dir = guess
    return _records_from_sequences([seq], Path(image_dir), min_joints, str(path))


def load_records(data: str | Path, split: str = "train", fmt: str = "auto", min_joints: int = 3) -> PersonRecords:
    """Persons of a data folder in any supported layout.

    ``fmt``: ``posetrack18`` (also SynthTrack), ``coco``, or ``auto``: a ``.json`` file or a folder with
    ``annotations/person_keypoints_<split>.json`` is COCO, a folder with ``annotations/<split>/`` is
    PoseTrack 2018 / SynthTrack.
    """
    data = Path(data)
    if not data.exists():
        raise CorrtrackError(f"{data}: training data not found")
    coco_file = data if data.is_file() else data / "annotations" / f"person_keypoints_{split}.json"
    if fmt == "auto":
        fmt = "coco" if coco_file.is_file() else "posetrack18"
    if fmt == "coco":
        if not coco_file.is_file():
            raise CorrtrackError(f"{data}: no COCO keypoints file {coco_file.name}")
        return coco_records(coco_file, min_joints=min_joints)
    if fmt in ("posetrack18", "synthtrack"):
        return posetrack_records(data, split, min_joints)
    raise CorrtrackError(f"unknown training data format {fmt!r}; use auto, posetrack18, synthtrack or coco")


@dataclass(frozen=True)
class AugmentConfig:
    scale: float = param(0.25, "docs/method.md §2.4 proposal: scale +-25 %")
    rotation: float = param(30.0, "docs/method.md §2.4 proposal: rotation +-30 degrees")
    rotation_probability: float = param(0.5, "our choice: half of the crops are rotated")
    flip_probability: float = param(0.5, "docs/method.md §2.4 proposal: horizontal flip")
    box_shift: float = param(0.1, "our choice: box centre jitter, fraction of the box size (detector noise)")
    box_scale: float = param(0.1, "our choice: box size jitter, log-uniform +-this")
    brightness: float = param(0.3, "our choice: colour jitter, multiplicative +-this")
    contrast: float = param(0.3, "our choice: colour jitter")
    saturation: float = param(0.3, "our choice: colour jitter")

    def __post_init__(self) -> None:
        for name in ("rotation_probability", "flip_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 <= self.scale < 1:
            raise ValueError(f"scale must be in [0, 1), got {self.scale}")


def _matrix3(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


class PoseCropDataset:
    """Crops (3, H, W) float32 RGB in [0, 1] with keypoints (K, 2) in crop pixels and ``valid`` (K,)."""

    def __init__(
        self,
        records: PersonRecords,
        input_size: tuple[int, int],
        augment: AugmentConfig | None = AugmentConfig(),
        flip_permutation: np.ndarray | None = None,
    ) -> None:
        if not len(records):
            raise CorrtrackError("no training persons")
        self.records = records
        self.input_size = input_size
        self.augment = augment
        self.flip_permutation = POSETRACK18.flip_permutation if flip_permutation is None else flip_permutation
        #: reads a frame (path -> RGB uint8); None = decode the image file (see ``FrameShards.read``)
        self.reader: Callable[[str], np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.records)

    def transform(self, index: int, rng: np.random.Generator | None) -> tuple[np.ndarray, bool]:
        """The (3, 3) image -> crop matrix of sample ``index`` and whether it is mirrored."""
        box = self.records.boxes[index].astype(np.float64).copy()
        w_in, h_in = self.input_size
        a = self.augment
        flip = False
        if a is None or rng is None:
            return _matrix3(crop_transforms(box[None], self.input_size)[0]), False
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        cx += rng.uniform(-1, 1) * a.box_shift * box[2]
        cy += rng.uniform(-1, 1) * a.box_shift * box[3]
        size = box[2:] * math.exp(rng.uniform(-1, 1) * a.box_scale)
        box = np.array([cx - size[0] / 2, cy - size[1] / 2, size[0], size[1]])
        base = _matrix3(crop_transforms(box[None], self.input_size)[0])
        s = math.exp(rng.uniform(math.log(1 - a.scale), math.log(1 + a.scale))) if a.scale else 1.0
        theta = 0.0
        if rng.uniform() < a.rotation_probability:
            theta = math.radians(rng.uniform(-a.rotation, a.rotation))
        flip = bool(rng.uniform() < a.flip_probability)
        c, sn = math.cos(theta) * s, math.sin(theta) * s
        centre = np.array([w_in / 2, h_in / 2])
        rot = np.array([[c, -sn, 0.0], [sn, c, 0.0], [0.0, 0.0, 1.0]])
        rot[:2, 2] = centre - rot[:2, :2] @ centre
        m = rot @ base
        if flip:
            m = np.array([[-1.0, 0.0, w_in - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ m
        return m, flip

    def _colour(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        a = self.augment
        assert a is not None
        img = img * (1 + rng.uniform(-a.brightness, a.brightness))
        mean = img.mean()
        img = (img - mean) * (1 + rng.uniform(-a.contrast, a.contrast)) + mean
        gray = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        img = gray[..., None] + (img - gray[..., None]) * (1 + rng.uniform(-a.saturation, a.saturation))
        return np.clip(img, 0.0, 1.0)

    def get(self, index: int, rng: np.random.Generator | None = None) -> dict[str, Any]:
        import cv2

        from corrtrack.video import read_image

        path = self.records.images[int(self.records.image_index[index])]
        image = self.reader(path) if self.reader is not None else read_image(path)
        m, flip = self.transform(index, rng if self.augment is not None else None)
        w_in, h_in = self.input_size
        crop = cv2.warpAffine(image, m[:2], (w_in, h_in), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        img = crop.astype(np.float32) / 255.0
        if self.augment is not None and rng is not None:
            img = self._colour(img, rng)
        kp = self.records.keypoints[index, :, :2]
        xy = kp @ m[:2, :2].T + m[:2, 2]
        valid = self.records.valid[index].copy()
        if flip:
            xy = xy[self.flip_permutation]
            valid = valid[self.flip_permutation]
        return {
            "image": np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32),
            "keypoints": xy.astype(np.float32),
            "valid": valid,
        }
