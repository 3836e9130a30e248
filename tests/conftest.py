"""Shared fixtures: the ../shared folder (real data and the official case) and tiny synthetic sequences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corrtrack.keypoints import POSETRACK18
from corrtrack.poses import Frame, Poses, PoseSequence

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared; skips the test with a clear reason when it is absent (a user's clone)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available (../shared is only beside the repository in CI and dev sessions)")
    return path


@pytest.fixture
def poseval_case() -> Path:
    return shared_path("cases", "poseval_case")


def make_sequence(num_frames: int = 4, persons: int = 2, seed: int = 0, name: str = "000001_mpii_test") -> PoseSequence:
    """A small PoseTrack-style sequence with moving people, head boxes and track ids."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(50, 400, size=(persons, POSETRACK18.num_joints, 2))
    frames = []
    for t in range(num_frames):
        xy = base + t * 3.0
        kps = np.concatenate([xy, np.ones(xy.shape[:2] + (1,))], axis=-1)
        kps[:, 3:5] = 0  # ears are never annotated in PoseTrack
        heads = np.stack([xy[:, 2, 0] - 10, xy[:, 2, 1] - 10, np.full(persons, 20.0), np.full(persons, 25.0)], 1)
        poses = Poses.create(
            kps, head_boxes=heads, track_ids=np.arange(persons), boxes=np.tile([1, 2, 30, 60], (persons, 1))
        )
        frames.append(
            Frame(f"images/val/{name}/{t:06d}.jpg", poses, image_id=10_000 + t, is_labeled=True, ignore_regions=[])
        )
    return PoseSequence(name, frames)
