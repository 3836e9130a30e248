"""Shared fixtures: the ../shared folder (real data and the official case) and tiny synthetic sequences."""

from __future__ import annotations

import ast
import inspect
import os
import re
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import settings

from corrtrack.keypoints import POSETRACK18
from corrtrack.poses import Frame, Poses, PoseSequence

SHARED = Path(os.environ.get("CORRTRACK_SHARED") or Path(__file__).resolve().parents[1].parent / "shared")

# Randomised (hypothesis) tests are deterministic by default, so a user's first `make test` gives the same
# result every time; `HYPOTHESIS_PROFILE=explore make test` draws fresh examples (and more of them).
settings.register_profile("default", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=500, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

_SHARED_WORDS = re.compile(r"\b(shared_path|SHARED|poseval_case)\b")


def _module_names_reading_shared(module: ModuleType) -> set[str]:
    """Module-level functions of ``module`` that read ../shared, directly or through one another."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return set()
    bodies: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bodies[node.name] = ast.unparse(node)
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            bodies[node.targets[0].id] = ast.unparse(node.value)
    reading = {name for name, body in bodies.items() if _SHARED_WORDS.search(body)}
    while True:
        more = {
            name
            for name, body in bodies.items()
            if name not in reading and any(re.search(rf"\b{re.escape(r)}\b", body) for r in reading)
        }
        if not more:
            return reading
        reading |= more


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that reads ../shared (directly, through a fixture or a helper of its module) `shared`."""
    cache: dict[str, set[str]] = {}
    conftest_names = _module_names_reading_shared(inspect.getmodule(shared_path))  # type: ignore[arg-type]
    for item in items:
        module = getattr(item, "module", None)
        if module is None:
            continue
        if module.__name__ not in cache:
            cache[module.__name__] = _module_names_reading_shared(module)
        reading = cache[module.__name__] | conftest_names
        name = getattr(getattr(item, "function", None), "__name__", "")
        fixtures = set(getattr(item, "fixturenames", ()))
        if name in reading or fixtures & reading:
            item.add_marker(pytest.mark.shared)


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


def run_cli(argv: list, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``corrtrack ARGV`` through the console entry point in-process: exit code, stdout, stderr."""
    import sys

    from corrtrack.cli import main

    old = sys.argv
    sys.argv = ["corrtrack", *map(str, argv)]
    try:
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err
