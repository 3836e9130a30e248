"""Every frame's ground truth of a written SynthTrack sequence, re-simulated from its seed and settings.

A SynthTrack data set annotates its val/test sequences PoseTrack-style (about half of the frames
labelled); ``synthtrack.json`` records each sequence's seed and scene settings, so the scene (not
the pixels) can be simulated again to get every frame's people, for a simulated detector or
oracle correspondences. :func:`check_truth` makes sure the re-simulation reproduces the
annotated frames (another SynthTrack version would not).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from corrtrack.errors import CorrtrackError
from corrtrack.formats import load_sequence
from corrtrack.poses import PoseSequence

__all__ = ["check_truth", "full_truth_for", "resimulate", "sequence_entries"]


def sequence_entries(data: Path, split: str) -> list[dict[str, Any]]:
    """The sequences of ``data``'s split: from ``synthtrack.json`` when present, else from the annotation files."""
    meta = data / "synthtrack.json"
    if meta.is_file():
        try:
            doc = json.loads(meta.read_text())
            return [dict(e) for e in doc["sequences"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise CorrtrackError(f"{meta}: not a SynthTrack description ({exc})") from None
    files = sorted((data / "annotations" / split).glob("*.json"))
    return [{"name": f.stem, "split": split, "preset": f.stem.rsplit("_", 1)[-1]} for f in files]


def resimulate(entry: dict[str, Any], frames: int) -> tuple[PoseSequence, list[np.ndarray]]:
    """Every frame's ground truth of a SynthTrack sequence (and its distractor boxes), from its seed and settings."""
    from corrtrack.synth.dataset import SequenceSpec, render_sequence

    config = {k: tuple(v) if isinstance(v, list) else v for k, v in entry["config"].items()}
    number = int(entry["name"][:6])
    base = {"train": 100000, "val": 200000, "test": 300000}.get(entry["split"], 400000)
    spec = SequenceSpec(entry["split"], number - base, entry["preset"], frames, int(entry["seed"]), "all", config)
    if spec.name != entry["name"]:
        raise CorrtrackError(f"{entry['name']}: cannot rebuild its SynthTrack spec (got {spec.name})")
    r = render_sequence(spec, on_image=lambda t, image: None)
    return r.sequence, r.distractors


def check_truth(name: str, full: PoseSequence, annotated: PoseSequence) -> None:
    for t, (a, b) in enumerate(zip(full.frames, annotated.frames)):
        if not b.is_labeled or not len(b.poses):
            continue
        same = len(a.poses) == len(b.poses) and np.array_equal(a.poses.track_ids, b.poses.track_ids)
        same = same and np.allclose(
            np.nan_to_num(a.poses.keypoints[..., :2]), np.nan_to_num(b.poses.keypoints[..., :2]), atol=0.05
        )
        if not same:
            raise CorrtrackError(
                f"{name}: the re-simulated ground truth differs from the annotations at frame {t} "
                "(data set written by another SynthTrack version?)"
            )


def full_truth_for(annotation: str | Path) -> tuple[dict[str, Any], PoseSequence, list[np.ndarray]] | None:
    """``(entry, every frame's ground truth, distractor boxes)`` of the sequence of ``annotation``
    (``DATA/annotations/SPLIT/NAME.json``), or None when ``DATA/synthtrack.json`` does not describe it."""
    path = Path(annotation)
    data, split = path.parent.parent.parent, path.parent.name
    if not (data / "synthtrack.json").is_file():
        return None
    entry = next((e for e in sequence_entries(data, split) if e.get("name") == path.stem), None)
    if entry is None or "config" not in entry or "seed" not in entry:
        return None
    annotated = load_sequence(path)
    full, distractors = resimulate(entry, len(annotated))
    check_truth(entry["name"], full, annotated)
    return entry, full, distractors
