"""Every frame's ground truth of a written SynthTrack sequence, re-simulated from its seed and settings.

A SynthTrack data set annotates its val/test sequences PoseTrack-style (about half of the frames
labelled); ``synthtrack.json`` records each sequence's seed and scene settings, so the scene (not
the pixels) can be simulated again to get every frame's people, for a simulated detector or
oracle correspondences. :func:`check_truth` makes sure the re-simulation reproduces the
annotated frames (another SynthTrack version would not).
"""

from __future__ import annotations

import json
import pickle
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from corrtrack.errors import CorrtrackError
from corrtrack.formats import iter_frames, load_sequence
from corrtrack.poses import Frame, PoseSequence

__all__ = ["SpooledTruth", "check_truth", "full_truth_for", "resimulate", "sequence_entries", "spool_full_truth"]


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
    from corrtrack.synth.dataset import render_sequence

    r = render_sequence(_spec(entry, frames), on_image=lambda t, image: None)
    return r.sequence, r.distractors


def _spec(entry: dict[str, Any], frames: int) -> Any:
    """The :class:`~corrtrack.synth.dataset.SequenceSpec` of a ``synthtrack.json`` entry, every frame labelled."""
    from corrtrack.synth.dataset import SequenceSpec

    config = {k: tuple(v) if isinstance(v, list) else v for k, v in entry["config"].items()}
    number = int(entry["name"][:6])
    base = {"train": 100000, "val": 200000, "test": 300000}.get(entry["split"], 400000)
    spec = SequenceSpec(entry["split"], number - base, entry["preset"], frames, int(entry["seed"]), "all", config)
    if spec.name != entry["name"]:
        raise CorrtrackError(f"{entry['name']}: cannot rebuild its SynthTrack spec (got {spec.name})")
    return spec


def check_truth(name: str, full: PoseSequence, annotated: PoseSequence) -> None:
    for t, (a, b) in enumerate(zip(full.frames, annotated.frames)):
        _check_frame(name, t, a, b)


def _check_frame(name: str, t: int, a: Frame, b: Frame) -> None:
    """Frame ``t`` re-simulated (``a``) has the people that its annotation (``b``) labels."""
    if not b.is_labeled or not len(b.poses):
        return
    same = len(a.poses) == len(b.poses) and np.array_equal(a.poses.track_ids, b.poses.track_ids)
    same = same and np.allclose(
        np.nan_to_num(a.poses.keypoints[..., :2]), np.nan_to_num(b.poses.keypoints[..., :2]), atol=0.05
    )
    if not same:
        raise CorrtrackError(
            f"{name}: the re-simulated ground truth differs from the annotations at frame {t} "
            "(data set written by another SynthTrack version?)"
        )


def _entry_for(path: Path) -> dict[str, Any] | None:
    """The ``synthtrack.json`` entry of the sequence of annotation file ``path`` (None when not described)."""
    data, split = path.parent.parent.parent, path.parent.name
    if not (data / "synthtrack.json").is_file():
        return None
    entry = next((e for e in sequence_entries(data, split) if e.get("name") == path.stem), None)
    if entry is None or "config" not in entry or "seed" not in entry:
        return None
    return entry


def full_truth_for(annotation: str | Path) -> tuple[dict[str, Any], PoseSequence, list[np.ndarray]] | None:
    """``(entry, every frame's ground truth, distractor boxes)`` of the sequence of ``annotation``
    (``DATA/annotations/SPLIT/NAME.json``), or None when ``DATA/synthtrack.json`` does not describe it."""
    path = Path(annotation)
    entry = _entry_for(path)
    if entry is None:
        return None
    annotated = load_sequence(path)
    full, distractors = resimulate(entry, len(annotated))
    check_truth(entry["name"], full, annotated)
    return entry, full, distractors


class SpooledTruth:
    """Every frame's ground truth and distractor boxes of a SynthTrack sequence, re-simulated once into two
    anonymous temporary files and read back one frame at a time (memory does not grow with the length).

    ``image_size`` is the simulated detector's :class:`~corrtrack.synth.simulated_detections.ImageExtent`
    of the frames, known after the one pass that wrote them.
    """

    def __init__(self, frames: Iterator[tuple[Frame, np.ndarray]], directory: Path | None = None) -> None:
        from corrtrack.synth.simulated_detections import ImageExtent

        # unlinked at once: nothing is left behind, whatever ends the process
        self._files = [tempfile.TemporaryFile(dir=directory) for _ in range(2)]  # noqa: SIM115 (open until close())
        extent = ImageExtent()
        self.count = 0
        for frame, distractors in frames:
            extent.add(frame)
            pickle.dump(frame, self._files[0], protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(np.asarray(distractors), self._files[1], protocol=pickle.HIGHEST_PROTOCOL)
            self.count += 1
        self.image_size = extent.size

    def __len__(self) -> int:
        return self.count

    def frames(self) -> Iterator[Frame]:
        """Every frame's ground truth, in order (one reader at a time)."""
        return self._read(0)

    def distractors(self) -> Iterator[np.ndarray]:
        """Every frame's ``(M, 4)`` distractor boxes, in order (one reader at a time)."""
        return self._read(1)

    def _read(self, which: int) -> Iterator[Any]:
        f = self._files[which]
        f.flush()
        f.seek(0)
        for _ in range(self.count):
            yield pickle.load(f)

    def close(self) -> None:
        for f in self._files:
            f.close()


def spool_full_truth(
    annotation: str | Path, num_frames: int, directory: Path | None = None
) -> tuple[dict[str, Any], SpooledTruth] | None:
    """:func:`full_truth_for`, streamed: ``(entry, spooled truth)`` of the ``num_frames`` frames of ``annotation``,
    every frame checked against the annotations;
    the spool is two anonymous files in ``directory`` (default: the system's temporary folder).

    The annotations are read after the scene is simulated and gone, so their memory and the scene's do not add up.
    """
    from corrtrack.synth.dataset import full_truth_frames

    path = Path(annotation)
    entry = _entry_for(path)
    if entry is None:
        return None
    truth = SpooledTruth(full_truth_frames(_spec(entry, num_frames)), directory)
    simulated = truth.frames()
    count = 0
    for t, annotated in enumerate(iter_frames(path)):  # one annotated frame at a time (memory, #21)
        frame = next(simulated, None)
        if frame is not None:
            _check_frame(entry["name"], t, frame, annotated)
        count += 1
    if count != len(truth):
        raise CorrtrackError(f"{path}: {count} frames, the re-simulated sequence {len(truth)}")
    return entry, truth
