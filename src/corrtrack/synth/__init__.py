"""SynthTrack: procedurally rendered multi-person videos with exact PoseTrack-format ground truth."""

from corrtrack.synth.config import PRESETS, SynthConfig, parse_knobs, preset
from corrtrack.synth.dataset import (
    RETIRED_SPLITS,
    STANDARD_SPLITS,
    SYNTHTRACK_VERSION,
    RenderedSequence,
    SequenceSpec,
    generate_dataset,
    generate_standard,
    labeled_pattern,
    make_specs,
    render_sequence,
    render_sequence_frames,
)
from corrtrack.synth.scene import SyntheticScene
from corrtrack.synth.simulated_detections import SimulatedDetectorConfig, simulate_detections

__all__ = [
    "PRESETS",
    "RETIRED_SPLITS",
    "STANDARD_SPLITS",
    "SYNTHTRACK_VERSION",
    "RenderedSequence",
    "SequenceSpec",
    "SimulatedDetectorConfig",
    "SynthConfig",
    "SyntheticScene",
    "generate_dataset",
    "generate_standard",
    "labeled_pattern",
    "make_specs",
    "parse_knobs",
    "preset",
    "render_sequence",
    "render_sequence_frames",
    "simulate_detections",
]
