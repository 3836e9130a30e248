"""Named configurations of the whole pipeline: what ``corrtrack track VIDEO -o OUT`` runs with no flags.

A preset fixes the three configs of a tracking run (:class:`~corrtrack.pipeline.PipelineConfig`,
:class:`~corrtrack.tracking.corrtrack_tracker.CorrTrackConfig`, and the
:class:`~corrtrack.inference.file_detections.DetectionFilter`) as field overrides of their defaults.
Explicit options of a command are applied on top of a preset, so every setting stays reachable.

* ``paper``: the reference rule exactly, every field at its documented default (the paper's tracker
  with the correspondence network). This is the configuration that reproduces the authors'
  system with their released weights (``--poses authors --correspondences authors``).
* ``real``: real footage with the optional ``yolo`` extra: YOLO11n-pose boxes and keypoints, its
  input size chosen on the first frames (640, or 1280 where that finds many more people:
  :func:`corrtrack.inference.yolo.choose_size_by_counts`), DIS-flow correspondences and the
  lost-track options that were measured best with one fixed configuration chosen leave-one-out
  across the two real videos (docs/results.md, "Real footage").
* ``synthtrack``: the bundled networks (trained on SynthTrack only) for SynthTrack-like footage
  or a machine without the extra; correspondences and recovery gates at the setting measured best
  on SynthTrack hard with the simulated detector (docs/results.md, "SynthTrack").
* ``auto`` (the default): ``real`` when the ``yolo`` extra is installed, else ``synthtrack``.

Each value's ``source`` says where it comes from, as the configs' fields do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["PRESETS", "Preset", "PresetName", "resolve_preset"]

PresetName = Literal["auto", "real", "synthtrack", "paper"]


@dataclass(frozen=True)
class Preset:
    """Overrides of the pipeline, tracker and detection-filter configs, each with its reason."""

    name: str
    summary: str
    pipeline: Mapping[str, Any] = field(default_factory=dict)
    tracker: Mapping[str, Any] = field(default_factory=dict)
    detection_filter: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": self.summary,
            "pipeline": dict(self.pipeline),
            "tracker": dict(self.tracker),
            "detection_filter": dict(self.detection_filter),
            "source": self.source,
        }


PRESETS: dict[str, Preset] = {
    "paper": Preset(
        "paper",
        "the reference rule: the paper's tracker with the correspondence network, every threshold at its default",
        pipeline={"correspondences": "network", "refinement": "full"},
        source="paper and reference code (docs/method.md): every field at its documented default",
    ),
    "real": Preset(
        "real",
        "real footage: YOLO11n-pose boxes and keypoints (input size auto), DIS flow, lost tracks carried by velocity",
        pipeline={"detector": "yolo", "poses": "yolo", "correspondences": "flow", "yolo_imgsz": "auto"},
        tracker={"lost_track_frames": 30, "lost_track_motion": "velocity", "recovery_max_run": 3},
        detection_filter={"score_threshold": 0.25},
        source="measured: benchmarks/real_footage.py --stages select (leave-one-out over PETS09-S2L1 and "
        "TUD-Stadtmitte; docs/results.md, Real footage); yolo_imgsz 'auto': its rule was fixed before any "
        "tracking run with it (corrtrack.inference.yolo.YoloPoseConfig's auto_* fields)",
    ),
    "synthtrack": Preset(
        "synthtrack",
        "the bundled networks (trained on SynthTrack only): bundled detector and pose net, DIS flow, recovery gated by "
        "the re-estimate's score and its agreement with the propagated pose, lost tracks kept 10 frames, tracks "
        "shorter than 5 frames dropped",
        pipeline={"detector": "synth", "poses": "bundled", "correspondences": "flow"},
        tracker={
            "recovery_rule": "agreement",
            "recovery_min_agreement": 0.5,
            "recovery_min_mean_score": 0.6,
            "recovery_max_run": 1,
            "lost_track_frames": 10,
            "min_track_length": 5,
        },
        source="measured: the recovery gates chosen on SynthTrack v2.1 train hard (benchmarks/recovery_signals.py "
        "--split train: the rule that kept MOTA with the most recovered people), checked on val hard; lost tracks "
        "and track length chosen on the same train sequences (benchmarks/tracker_settings.py: the fewest ID "
        "switches with MOTA within 0.5 and mAP within 1 of the gate alone), checked on val hard; DIS flow from "
        "corrtrack experiment baselines (docs/results.md, SynthTrack)",
    ),
}


def resolve_preset(name: str, yolo_available: Callable[[], bool] | None = None) -> tuple[Preset, str | None]:
    """The preset called ``name`` (``auto`` picks one) and, for ``auto`` without the extra, a one-line note."""
    if name == "auto":
        if yolo_available is None:
            from corrtrack.inference.yolo import extra_available

            yolo_available = extra_available
        if yolo_available():
            return PRESETS["real"], None
        return PRESETS["synthtrack"], (
            "note: the optional yolo extra is not installed, so the bundled networks run; they were trained on "
            'SynthTrack only and do not know real people (pip install "corrtrack[yolo]", or make yolo)'
        )
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of auto, {', '.join(PRESETS)}")
    return PRESETS[name], None
