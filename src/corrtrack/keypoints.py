"""Keypoint layouts: joint names, flip pairs, skeletons and OKS sigmas.

Every joint order used in corrtrack is defined here once (see docs/method.md
section 7.2 of the shared design notes):

* ``POSETRACK18``: the 17-slot PoseTrack 2018 layout used by the networks and
  by 2018 JSON files. Slots 3 and 4 (ears) are never annotated in PoseTrack.
* ``COCO17``: the COCO keypoint layout; it shares every slot with
  ``POSETRACK18`` except 1 and 2 (COCO eyes vs PoseTrack head_bottom/head_top).
* ``POSETRACK17``: the 15 evaluation joints in the official evaluator's id
  order (``annopoints`` ``id`` 0..14). ``neck`` there is ``head_bottom``.

Conversion between layouts goes by joint name through :func:`remap_index`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

__all__ = [
    "COCO17",
    "EVAL_GROUPS",
    "POSETRACK17",
    "POSETRACK18",
    "KeypointLayout",
    "get_layout",
    "remap_index",
    "remap_keypoints",
]


@dataclass(frozen=True, eq=False)
class KeypointLayout:
    """A named joint order with everything needed to flip, draw and score it."""

    name: str
    joints: tuple[str, ...]
    #: pairs of joint names that swap under a horizontal flip
    flip_pairs: tuple[tuple[str, str], ...]
    #: joint-name edges for drawing
    skeleton: tuple[tuple[str, str], ...]
    #: per-joint OKS sigma (same order as ``joints``)
    sigmas: tuple[float, ...]
    #: names that denote the same body point in other layouts
    aliases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.sigmas) != len(self.joints):
            raise ValueError(f"layout {self.name}: {len(self.sigmas)} sigmas for {len(self.joints)} joints")

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, name: str) -> int:
        return self.joints.index(name)

    @property
    def flip_permutation(self) -> np.ndarray:
        """Index array ``p`` with ``flipped[..., j, :] = kps[..., p[j], :]``."""
        perm = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            ia, ib = self.index(a), self.index(b)
            perm[ia], perm[ib] = ib, ia
        return perm

    @property
    def skeleton_index(self) -> np.ndarray:
        """(E, 2) int array of joint index pairs for drawing."""
        return np.array([(self.index(a), self.index(b)) for a, b in self.skeleton], dtype=np.int64)

    @property
    def sigma_array(self) -> np.ndarray:
        return np.asarray(self.sigmas, dtype=np.float64)


_LIMBS = (
    ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("left_hip", "right_hip"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
)
_LR = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
_BODY_PAIRS = tuple((f"left_{p}", f"right_{p}") for p in _LR)
_BODY_NAMES = tuple(n for p in _LR for n in (f"left_{p}", f"right_{p}"))
# COCO sigmas for shoulders..ankles, in _BODY_NAMES order.
_BODY_SIGMAS = (0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089)

#: PoseTrack 2018 layout. Sigmas as in the CorrTrack tracking code: COCO
#: sigmas with head_bottom / head_top set to 0.079 (method.md 4.3).
POSETRACK18 = KeypointLayout(
    name="posetrack18",
    joints=("nose", "head_bottom", "head_top", "left_ear", "right_ear") + _BODY_NAMES,
    flip_pairs=(("left_ear", "right_ear"),) + _BODY_PAIRS,
    skeleton=(
        ("head_top", "head_bottom"),
        ("nose", "head_bottom"),
        ("head_bottom", "left_shoulder"),
        ("head_bottom", "right_shoulder"),
    )
    + _LIMBS,
    sigmas=(0.026, 0.079, 0.079, 0.035, 0.035) + _BODY_SIGMAS,
    aliases={"head_bottom": "neck"},
)

#: COCO keypoints layout with the official COCO sigmas.
COCO17 = KeypointLayout(
    name="coco17",
    joints=("nose", "left_eye", "right_eye", "left_ear", "right_ear") + _BODY_NAMES,
    flip_pairs=(("left_eye", "right_eye"), ("left_ear", "right_ear")) + _BODY_PAIRS,
    skeleton=(
        ("nose", "left_eye"),
        ("nose", "right_eye"),
        ("left_eye", "left_ear"),
        ("right_eye", "right_ear"),
        ("left_ear", "left_shoulder"),
        ("right_ear", "right_shoulder"),
    )
    + _LIMBS,
    sigmas=(0.026, 0.025, 0.025, 0.035, 0.035) + _BODY_SIGMAS,
)

#: The 15 joints of the official PoseTrack evaluation, in its id order.
POSETRACK17 = KeypointLayout(
    name="posetrack17",
    joints=(
        "right_ankle",
        "right_knee",
        "right_hip",
        "left_hip",
        "left_knee",
        "left_ankle",
        "right_wrist",
        "right_elbow",
        "right_shoulder",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "head_bottom",
        "nose",
        "head_top",
    ),
    flip_pairs=_BODY_PAIRS,
    skeleton=POSETRACK18.skeleton,
    sigmas=(0.089, 0.087, 0.107, 0.107, 0.087, 0.089, 0.062, 0.072, 0.079, 0.079, 0.072, 0.062, 0.079, 0.026, 0.079),
    aliases={"head_bottom": "neck"},
)

#: Official column groups of the PoseTrack tables -> joint names (any layout).
EVAL_GROUPS: dict[str, tuple[str, ...]] = {
    "Head": ("head_top", "head_bottom", "nose"),
    "Shou": ("left_shoulder", "right_shoulder"),
    "Elb": ("left_elbow", "right_elbow"),
    "Wri": ("left_wrist", "right_wrist"),
    "Hip": ("left_hip", "right_hip"),
    "Knee": ("left_knee", "right_knee"),
    "Ankl": ("left_ankle", "right_ankle"),
}

_LAYOUTS = {lay.name: lay for lay in (POSETRACK18, COCO17, POSETRACK17)}


def get_layout(name: str) -> KeypointLayout:
    """Return a layout by name (``posetrack18``, ``coco17``, ``posetrack17``)."""
    try:
        return _LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown keypoint layout {name!r}; known: {sorted(_LAYOUTS)}") from None


def _canonical(name: str, layout: KeypointLayout) -> str:
    inverse = {v: k for k, v in layout.aliases.items()}
    return inverse.get(name, name)


@cache
def remap_index(src: KeypointLayout, dst: KeypointLayout) -> np.ndarray:
    """For each joint of ``dst`` the index of the same joint in ``src`` (-1 if absent)."""
    src_names = {name: i for i, name in enumerate(src.joints)}
    return np.array([src_names.get(name, -1) for name in dst.joints], dtype=np.int64)


def remap_keypoints(keypoints: np.ndarray, src: KeypointLayout, dst: KeypointLayout) -> np.ndarray:
    """Reorder ``(..., K_src, C)`` keypoints into ``dst``; missing joints become zeros."""
    idx = remap_index(src, dst)
    out = np.zeros(keypoints.shape[:-2] + (dst.num_joints, keypoints.shape[-1]), dtype=keypoints.dtype)
    ok = idx >= 0
    out[..., ok, :] = keypoints[..., idx[ok], :]
    return out


def names_to_layout(names: list[str] | tuple[str, ...]) -> KeypointLayout | None:
    """The known layout whose joints are exactly ``names`` (aliases allowed), else None."""
    for lay in _LAYOUTS.values():
        if tuple(_canonical(n, lay) for n in names) == lay.joints:
            return lay
    return None
