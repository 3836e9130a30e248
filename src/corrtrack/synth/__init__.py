"""SynthTrack: procedurally rendered multi-person videos with exact PoseTrack-format ground truth."""

from corrtrack.synth.config import PRESETS, SynthConfig, preset
from corrtrack.synth.dataset import (
    STANDARD_SPLITS,
    SequenceSpec,
    generate_dataset,
    generate_standard,
    labeled_pattern,
    make_specs,
    render_sequence_frames,
)
from corrtrack.synth.scene import SyntheticScene
from corrtrack.synth.simulated_detections import SimulatedDetectorConfig, simulate_detections

__all__ = [
    "PRESETS",
    "STANDARD_SPLITS",
    "SequenceSpec",
    "SimulatedDetectorConfig",
    "SynthConfig",
    "SyntheticScene",
    "generate_dataset",
    "generate_standard",
    "labeled_pattern",
    "make_specs",
    "preset",
    "render_sequence_frames",
    "simulate_detections",
]
