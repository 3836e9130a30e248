"""The paper's experiments on SynthTrack val, one call (and one command) each.

``corrtrack experiment NAME --data DIR --out DIR`` runs one of

* ``table1``: the correspondence threshold tau_corr = 0.1 ... 0.5 (paper, Table 1);
* ``table2``: the full system, without refinement, without duplicate removal (paper, Table 2);
* ``ablations``: without recovery, without track merging, greedy vs Hungarian assignment;
* ``baselines``: frame-to-frame IoU and OKS, a ByteTrack-class tracker (Kalman motion, lost-track
  buffer, two-stage association), and CorrTrack with zero-motion, DIS-flow and (for reference)
  oracle correspondences, against CorrTrack with the network;
* ``recovery`` (issue #23): the paper's recovery rule, no recovery, and the agreement rule; each row
  counts its recovered poses that match a ground-truth person (TP) and those that do not (FP);
* ``reid`` (issue #23): merging and lost-track matching on and off; each row counts merges
  proposed / accepted / correct and lost tracks resumed / correct against the ground-truth identities;

on the sequences of a SynthTrack data set (``corrtrack synth DIR --standard synthtrack-v2``),
with the SIMULATED detector (boxes derived from ground truth) or the bundled detector
(``synth``). Poses come from the bundled pose net and correspondences from the bundled
correspondence net unless a row says otherwise. Each row is scored with corrtrack's PoseTrack
evaluator (mAP, MOTA, ID switches, keypoint HOTA) and the command writes a markdown table, a
JSON file and a plot into ``--out``.

What does not depend on the row is computed once per sequence and kept in memory
(:class:`ExperimentRunner`): the detections and the pose estimates of the detections (they
depend on the sequence, the detector and the pose weights only) and the correspondence
embedding of every frame (one per frame and model, shared by the refinement variants of the
network). Only the tracker runs per row. Propagations and recovery re-estimations are
memoised per person as well: a row asks for the propagation of the same pose between the
same frames as an earlier row whenever the two trackers agree up to that frame, which is most
of the time, and the memo returns the earlier answer. Both memos are exact for per-person
models (the fakes, zero motion, flow); for the networks the batched call and the per-person
memo differ by float rounding only (about 1e-7 px). ``cache=False`` switches every cache off.

The simulated detector needs the ground truth of every frame, but a PoseTrack-style val split
is annotated on a subset of frames only; the full ground truth is re-simulated from the seed
and settings that ``synthtrack.json`` records (the scene, not the pixels) and checked against
the annotated frames. Evaluation uses the annotation files as they are.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from corrtrack.config import config_to_dict, override, param
from corrtrack.errors import CorrtrackError
from corrtrack.fileio import atomic_path, atomic_write_text, nan_to_null, write_json
from corrtrack.formats import load_sequence
from corrtrack.geometry import box_iou, pose_nms
from corrtrack.inference.file_detections import DetectionFilter
from corrtrack.interfaces import CorrespondenceModel, PersonDetector, PoseEstimator
from corrtrack.poses import Poses, PoseSequence
from corrtrack.synth import SimulatedDetectorConfig, simulate_detections
from corrtrack.synth.full_truth import check_truth, resimulate, sequence_entries
from corrtrack.tracking.baselines import ByteTrackTracker, FrameToFrameConfig, FrameToFrameTracker
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig, CorrTrackTracker
from corrtrack.tracking.postprocess import postprocess_tracks

__all__ = [
    "EXPERIMENTS",
    "CachedCorrespondences",
    "CachedPoseEstimator",
    "ExperimentResult",
    "ExperimentRunner",
    "ExperimentSettings",
    "RowResult",
    "SequenceData",
    "Variant",
    "bundled_estimator",
    "bundled_models",
    "detector_factory",
    "load_sequences",
    "make_runner",
    "markdown",
    "plot",
    "run_experiment",
    "run_experiments",
    "run_rows",
    "score",
    "simple_models",
    "variants",
    "write_outputs",
]

ExperimentName = Literal["table1", "table2", "ablations", "baselines", "recovery", "reid"]
DetectorChoice = Literal["simulated", "synth"]
CorrespondenceChoice = Literal[
    "network", "network+prior", "network+visibility", "zero", "flow", "flow+colour", "oracle"
]
#: the peak options of ``network+prior`` (beyond the paper): centroid sub-cell peaks under a motion prior of 2 grid
#: cells, the best variant on SynthTrack val video pairs 4 frames apart (docs/results.md)
NETWORK_PRIOR: dict[str, Any] = {"subcell": "centroid", "prior_sigma": 2.0}
EXPERIMENTS: tuple[str, ...] = ("table1", "table2", "ablations", "baselines", "recovery", "reid")

#: frame-to-frame baselines: similarity and threshold, as the pipeline's ``--tracker iou|oks``
F2F_THRESHOLDS = {"iou": 0.3, "oks": 0.2}


# ----------------------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class Variant:
    """One row of an experiment: which tracker, which correspondences and which tracker settings."""

    name: str
    tracker: Literal["corrtrack", "iou", "oks", "bytetrack"] = "corrtrack"
    correspondences: CorrespondenceChoice = "network"
    refinement: Literal["full", "windowed", "none", "gated"] = "full"
    #: CorrTrackConfig overrides (``name=value``) on top of the experiment's base config
    settings: tuple[str, ...] = ()
    #: the swept value, for the plot (tau_corr in Table 1)
    x: float | None = None


def variants(experiment: str) -> list[Variant]:
    """The rows of ``experiment`` (one of :data:`EXPERIMENTS`), the reference row first."""
    full = Variant("CorrTrack (full)")
    if experiment == "table1":
        return [Variant(f"tau_corr = {v:.1f}", settings=(f"tau_corr={v}",), x=v) for v in (0.1, 0.2, 0.3, 0.4, 0.5)]
    if experiment == "table2":
        return [
            full,
            Variant("without refinement", refinement="none"),
            Variant("without duplicate removal", settings=("duplicate_removal=false",)),
            # beyond the paper (issue #23): the refined map gates the affinity map
            Variant("gated refinement", refinement="gated"),
        ]
    if experiment == "ablations":
        return [
            full,
            Variant("without recovery", settings=("recovery=false",)),
            Variant("without track merging", settings=("merging=false",)),
            Variant("Hungarian assignment", settings=("assignment=hungarian",)),
        ]
    if experiment == "baselines":
        return [
            Variant("CorrTrack, network correspondences"),
            Variant("CorrTrack, zero motion", correspondences="zero"),
            Variant("CorrTrack, DIS flow", correspondences="flow"),
            Variant(
                "CorrTrack, network, windowed, motion prior (beyond the paper)",
                correspondences="network+prior",
                refinement="windowed",
            ),
            Variant("frame-to-frame IoU", tracker="iou"),
            Variant("frame-to-frame OKS", tracker="oks"),
            Variant("ByteTrack-class (Kalman, lost buffer 30, two-stage)", tracker="bytetrack"),
            Variant("CorrTrack, oracle correspondences (reference)", correspondences="oracle"),
        ]
    if experiment == "recovery":
        return [
            Variant("recovery, paper rule", settings=("recovery_rule=paper",)),
            Variant("without recovery", settings=("recovery=false",)),
            Variant("recovery, agreement rule (OKS >= 0.5)", settings=("recovery_rule=agreement",)),
            Variant(
                "recovery, agreement rule (OKS >= 0.7)",
                settings=("recovery_rule=agreement", "recovery_min_agreement=0.7"),
            ),
        ]
    if experiment == "reid":
        lost = ("lost_track_frames=10",)
        return [
            Variant("merging on, lost tracks off", settings=("merging=true", "lost_track_frames=0")),
            Variant("merging off, lost tracks off", settings=("merging=false", "lost_track_frames=0")),
            Variant("merging off, lost tracks by correspondences", settings=("merging=false", *lost)),
            Variant("merging on, lost tracks by correspondences", settings=("merging=true", *lost)),
            Variant(
                "merging on, lost tracks by velocity",
                settings=("merging=true", *lost, "lost_track_motion=velocity"),
            ),
            Variant(
                "merging on, lost tracks by person descriptor (beyond the paper)",
                settings=("merging=true", *lost, "lost_track_motion=descriptor"),
            ),
            Variant(
                "merging with person descriptor (w = 0.5), lost tracks off (beyond the paper)",
                settings=("merging=true", "lost_track_frames=0", "merge_descriptor_weight=0.5"),
            ),
        ]
    raise CorrtrackError(f"unknown experiment {experiment!r}; choose one of {', '.join(EXPERIMENTS)}")


# ------------------------------------------------------------------------------------- the data
@dataclass
class SequenceData:
    """One sequence of the experiment: its frames, its annotations and (if known) its full ground truth."""

    name: str
    images: list[np.ndarray]
    #: the annotation file, cut to ``len(images)`` frames: what the evaluation uses
    ground_truth: PoseSequence
    #: every frame's ground truth (re-simulated), for the simulated detector and the oracle; None if unknown
    full_truth: PoseSequence | None = None
    #: per frame, boxes of person-like structure (bystanders, occluders, props) for the simulated detector
    distractors: list[np.ndarray] | None = None
    seed: int = 0


@dataclass(frozen=True)
class ExperimentSettings:
    """The data, detector and scoring of an experiment (everything but the rows)."""

    split: str = param("val", "issue 12: SynthTrack val")
    sequences: tuple[str, ...] = param(("hard",), "issue 12: the hard val sequences (presets or sequence names)")
    frames: int | None = param(None, "our choice: all frames; a smaller number cuts every sequence for quick runs")
    detector: DetectorChoice = param("simulated", "issue 12: the simulated detector and the bundled one (synth)")
    cache: bool = param(True, "our choice: detections, poses and embeddings once per sequence; memoised tracker calls")
    poses: Literal["estimated", "detections"] = param(
        "estimated",
        "issue 23: estimated = the bundled pose net on every detection box; detections = the simulated "
        "detector's own keypoints (pose quality held fixed; recovery still re-estimates with the pose net)",
        choices=("estimated", "detections"),
    )


def _select(entries: list[dict[str, Any]], split: str, wanted: Sequence[str]) -> list[dict[str, Any]]:
    picked = []
    for e in entries:
        if e.get("split") != split:
            continue
        if any(w in (e.get("preset"), e["name"]) or e["name"].startswith(w) for w in wanted):
            picked.append(e)
    return picked


def load_sequences(
    data: str | Path,
    split: str = "val",
    sequences: Sequence[str] = ("hard",),
    frames: int | None = None,
    full_truth: bool | None = None,
) -> list[SequenceData]:
    """The selected sequences of a SynthTrack data set (``sequences``: presets, names or name prefixes).

    ``full_truth`` re-simulates every frame's ground truth (True: required, which needs the seeds
    in ``synthtrack.json``; None: when ``synthtrack.json`` has them; False: never).
    """
    from corrtrack.video import read_image

    data = Path(data)
    if not (data / "annotations" / split).is_dir():
        raise CorrtrackError(f"{data}: no annotations/{split} folder (make one with corrtrack synth DIR --standard)")
    if frames is not None and frames < 2:
        raise CorrtrackError(f"--frames must be at least 2, got {frames}")
    entries = _select(sequence_entries(data, split), split, list(sequences))
    if not entries:
        raise CorrtrackError(f"{data}: no {split} sequence matches {', '.join(sequences)}")
    out = []
    for e in entries:
        ann = data / "annotations" / split / f"{e['name']}.json"
        if not ann.is_file():
            raise CorrtrackError(f"{ann}: missing")
        gt = load_sequence(ann)
        n = len(gt) if frames is None else min(frames, len(gt))
        gt = PoseSequence(gt.name, gt.frames[:n], gt.layout, dict(gt.extras))
        files = [data / f.file_name for f in gt.frames]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise CorrtrackError(f"{ann}: frame {missing[0]} is missing")
        images = [read_image(f) for f in files]
        full, distractors = None, None
        known = "config" in e and "seed" in e
        if full_truth or (full_truth is None and known):
            if not known:
                raise CorrtrackError(f"{data}: no synthtrack.json with the sequences' seeds (needed for simulated)")
            full, distractors = resimulate(e, n)
            check_truth(e["name"], full, gt)
        out.append(SequenceData(e["name"], images, gt, full, distractors, int(e.get("seed", 0))))
    return out


# --------------------------------------------------------------------------------------- caches
class _FrameIndex:
    """The index of a frame of one sequence, recognised by the identity of its image array."""

    def __init__(self, images: Sequence[np.ndarray]) -> None:
        self.images = images
        self._by_id = {id(img): t for t, img in enumerate(images)}

    def __call__(self, image: np.ndarray) -> int:
        t = self._by_id.get(id(image))
        if t is None or self.images[t] is not image:
            raise ValueError("image is not a frame of this sequence (the experiment caches work on its own frames)")
        return t


@dataclass(frozen=True)
class _Handle:
    frame: int


class CachedCorrespondences:
    """A :class:`CorrespondenceModel` over cached embeddings and a per-person memo of propagations.

    ``handles`` (frame -> the inner model's handle) may be shared by models that accept each
    other's handles (the network with different refinements); ``memo`` belongs to one model.
    """

    def __init__(
        self,
        model: CorrespondenceModel,
        frames: _FrameIndex,
        handles: dict[int, Any],
        memo: dict[tuple[int, int, bytes], np.ndarray] | None,
    ) -> None:
        self.model = model
        self.frames = frames
        self.handles = handles
        self.memo = memo
        self.calls = {"embed": 0, "propagate_persons": 0, "memo_hits": 0}

    @property
    def grid_size(self) -> int | None:
        """The inner model's correspondence grid (None for models without one)."""
        return getattr(self.model, "grid_size", None)

    def embed(self, image: np.ndarray) -> _Handle:
        t = self.frames(image)
        if t not in self.handles:
            self.handles[t] = self.model.embed(image)
            self.calls["embed"] += 1
        return _Handle(t)

    def describe(self, handle: _Handle, points: np.ndarray) -> np.ndarray:
        """The inner model's person descriptors (not memoised: a lookup in the embedding)."""
        describe = getattr(self.model, "describe", None)
        if describe is None:
            raise ValueError(f"{type(self.model).__name__} gives no person descriptors (describe)")
        return np.asarray(describe(self.handles[handle.frame], points), dtype=np.float64)

    def propagate(self, src: _Handle, dst: _Handle, points: np.ndarray) -> np.ndarray:
        pts = np.ascontiguousarray(points, dtype=np.float64)
        a, b = self.handles[src.frame], self.handles[dst.frame]
        if self.memo is None:
            self.calls["propagate_persons"] += len(pts)
            return np.asarray(self.model.propagate(a, b, pts), dtype=np.float64)
        keys = [(src.frame, dst.frame, row.tobytes()) for row in pts]
        todo = [i for i, k in enumerate(keys) if k not in self.memo]
        if todo:
            res = np.asarray(self.model.propagate(a, b, pts[todo]), dtype=np.float64)
            for i, r in zip(todo, res):
                self.memo[keys[i]] = r
        self.calls["propagate_persons"] += len(todo)
        self.calls["memo_hits"] += len(pts) - len(todo)
        out = np.empty(pts.shape[:2] + (3,))
        for i, k in enumerate(keys):
            out[i] = self.memo[k]
        return out


class CachedPoseEstimator:
    """A :class:`PoseEstimator` that remembers each (frame, box)'s pose."""

    def __init__(self, estimator: PoseEstimator, frames: _FrameIndex, memo: dict[tuple[int, bytes], Poses]) -> None:
        self.estimator = estimator
        self.frames = frames
        self.memo = memo
        self.calls = {"boxes": 0, "memo_hits": 0}

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> Poses:
        t = self.frames(image)
        b = np.ascontiguousarray(boxes, dtype=np.float64).reshape(-1, 4)
        keys = [(t, row.tobytes()) for row in b]
        todo = [i for i, k in enumerate(keys) if k not in self.memo]
        if todo:
            est = self.estimator.estimate(image, b[todo])
            if len(est) != len(todo):
                raise ValueError(f"pose estimator gave {len(est)} poses for {len(todo)} boxes")
            for j, i in enumerate(todo):
                self.memo[keys[i]] = est[[j]]
        self.calls["boxes"] += len(todo)
        self.calls["memo_hits"] += len(b) - len(todo)
        if not len(b):
            return self.estimator.estimate(image, b)
        return Poses.concat([self.memo[k] for k in keys])


# --------------------------------------------------------------------------------------- runner
EstimatorFactory = Callable[[SequenceData], PoseEstimator]
#: (sequence, correspondence kind, refinement) -> model; models of one kind must accept each other's handles
ModelFactory = Callable[[SequenceData, str, str], CorrespondenceModel]
DetectorFactory = Callable[[SequenceData], PersonDetector]


def bundled_estimator() -> EstimatorFactory:
    """The bundled pose net (one instance for every sequence)."""
    from corrtrack.inference.pose_estimator import TopDownPoseEstimator

    net = TopDownPoseEstimator.from_bundled()
    return lambda seq: net


def bundled_models() -> ModelFactory:
    """The bundled correspondence net (one set of weights for every refinement), zero motion, DIS flow, oracle."""
    cache: dict[str, Any] = {}

    def make(seq: SequenceData, kind: str, refinement: str) -> CorrespondenceModel:
        if kind in ("network", "network+prior", "network+visibility"):
            from corrtrack.inference.correspondences import NetworkCorrespondences

            if "net" not in cache:
                cache["net"] = NetworkCorrespondences.from_bundled().net
            options = {"network+prior": NETWORK_PRIOR, "network+visibility": {"confidence": "visibility"}}.get(kind, {})
            return NetworkCorrespondences(cache["net"], refinement=refinement, **options)
        return simple_models()(seq, kind, refinement)

    return make


def simple_models() -> ModelFactory:
    """Zero motion, DIS flow and the oracle (no network); ``network`` is refused."""

    def make(seq: SequenceData, kind: str, refinement: str) -> CorrespondenceModel:
        from corrtrack.testing import OracleCorrespondences, ZeroMotionCorrespondences

        if kind == "zero":
            return ZeroMotionCorrespondences()
        if kind in ("flow", "flow+colour"):
            from corrtrack.inference.flow_correspondences import FlowCorrespondences

            if kind == "flow":
                return FlowCorrespondences()
            from corrtrack.inference.person_descriptors import ColourDescriber, DescribedCorrespondences

            return DescribedCorrespondences(FlowCorrespondences(), ColourDescriber())  # beyond the paper (#23)
        if kind == "oracle":
            if seq.full_truth is None:
                raise CorrtrackError(f"{seq.name}: oracle correspondences need the full ground truth")
            return OracleCorrespondences(seq.full_truth, seq.images)
        raise CorrtrackError(f"correspondence model {kind!r} is not available here")

    return make


def detector_factory(
    detector: DetectorChoice,
    simulated: SimulatedDetectorConfig = SimulatedDetectorConfig(),
    detection_filter: DetectionFilter = DetectionFilter(),
) -> DetectorFactory:
    """``simulated``: boxes derived from each sequence's full ground truth; ``synth``: the bundled CenterNet."""
    if detector == "synth":
        from corrtrack.inference.detector import CenterNetDetector

        net = CenterNetDetector.from_bundled(post=detection_filter)
        return lambda seq: net
    if detector != "simulated":
        raise CorrtrackError(f"unknown detector {detector!r}; choose simulated or synth")

    def simulate(seq: SequenceData) -> PersonDetector:
        from corrtrack.inference.file_detections import DetectionList

        if seq.full_truth is None:
            raise CorrtrackError(f"{seq.name}: the simulated detector needs the full ground truth")
        det = simulate_detections(seq.full_truth, simulated, seed=seq.seed + 1, distractors=seq.distractors)
        return DetectionList([f.poses for f in det.frames], detection_filter)

    return simulate


@dataclass
class RowResult:
    """One row's predictions (one per sequence) and what the tracker did."""

    variant: Variant
    predictions: list[PoseSequence]
    seconds: float
    counts: dict[str, float] = field(default_factory=dict)


class ExperimentRunner:
    """Runs rows over a fixed set of sequences, computing what rows share once (module docstring)."""

    def __init__(
        self,
        sequences: Sequence[SequenceData],
        detector: DetectorFactory,
        estimator: EstimatorFactory,
        models: ModelFactory,
        base: CorrTrackConfig = CorrTrackConfig(),
        cache: bool = True,
        poses: str = "estimated",
    ) -> None:
        self.sequences = list(sequences)
        self.poses = poses
        self.detector = detector
        self.estimator = estimator
        self.models = models
        self.base = base
        self.cache = cache
        self.seconds: dict[str, float] = {"detection": 0.0, "pose": 0.0}
        self._frames = [_FrameIndex(s.images) for s in self.sequences]
        self._poses: dict[int, list[Poses]] = {}
        self._handles: dict[tuple[int, str], dict[int, Any]] = {}
        self._prop_memo: dict[tuple[int, str, str], dict[tuple[int, int, bytes], np.ndarray]] = {}
        self._pose_memo: dict[int, dict[tuple[int, bytes], Poses]] = {}
        self._models: dict[tuple[int, str, str], CorrespondenceModel] = {}

    # the part every row shares ------------------------------------------------------
    def detections(self, i: int) -> list[Poses]:
        """Frame by frame, the detections of sequence ``i`` with their estimated poses (after pose NMS)."""
        if self.cache and i in self._poses:
            return self._poses[i]
        seq = self.sequences[i]
        detector = self.detector(seq)
        estimator = self._estimator(i)
        out = []
        for image in seq.images:
            t0 = time.perf_counter()
            detected = detector.detect([image])[0]
            t1 = time.perf_counter()
            if len(detected) and self.poses == "detections":
                poses = detected[pose_nms(detected.xy, detected.confidences)]
            elif len(detected):
                poses = estimator.estimate(image, detected.box_or_keypoint_box())
                poses = poses.replace(scores=np.where(np.isnan(detected.scores), poses.scores, detected.scores))
                poses = poses[pose_nms(poses.xy, poses.confidences)]
            else:
                poses = detected
            out.append(poses)
            self.seconds["detection"] += t1 - t0
            self.seconds["pose"] += time.perf_counter() - t1
        if self.cache:
            self._poses[i] = out
        return out

    def _estimator(self, i: int) -> PoseEstimator:
        est = self.estimator(self.sequences[i])
        if not self.cache:
            return est
        return CachedPoseEstimator(est, self._frames[i], self._pose_memo.setdefault(i, {}))

    def _correspondences(self, i: int, kind: str, refinement: str) -> CorrespondenceModel:
        key = (i, kind, refinement if kind.startswith("network") else "")
        if not self.cache:
            return self.models(self.sequences[i], kind, refinement)
        if key not in self._models:  # one model object per kind: its own caches (flow fields) live on
            self._models[key] = self.models(self.sequences[i], kind, refinement)
        handles = self._handles.setdefault((i, kind), {})
        return CachedCorrespondences(self._models[key], self._frames[i], handles, self._prop_memo.setdefault(key, {}))

    # one row -------------------------------------------------------------------------
    def config(self, variant: Variant) -> CorrTrackConfig:
        return override(self.base, list(variant.settings))

    def corrtrack(self, i: int, variant: Variant) -> CorrTrackTracker:
        """A fresh CorrTrack tracker of ``variant`` for sequence ``i`` on the shared (cached) models."""
        model = self._correspondences(i, variant.correspondences, variant.refinement)
        return CorrTrackTracker(model, self._estimator(i), self.config(variant))

    def track(self, i: int, variant: Variant) -> tuple[PoseSequence, dict[str, float]]:
        """Sequence ``i`` tracked by ``variant``: predictions on the annotation file's frames, and counts."""
        seq = self.sequences[i]
        cfg = self.config(variant)
        dets = self.detections(i)
        counts: dict[str, float] = {}
        if variant.tracker == "bytetrack":
            bt = ByteTrackTracker()
            tracked = [bt.step(t, None, p) for t, p in enumerate(dets)]
            frames = postprocess_tracks(tracked, cfg.min_track_length, cfg.output_joint_threshold, cfg.renumber)
            counts = {k: float(v) for k, v in bt.counts.items()}
        elif variant.tracker in F2F_THRESHOLDS:
            sim = variant.tracker
            f2f = FrameToFrameTracker(FrameToFrameConfig(similarity=sim, threshold=F2F_THRESHOLDS[sim]))  # type: ignore[arg-type]
            tracked = [f2f.step(t, None, p) for t, p in enumerate(dets)]
            frames = postprocess_tracks(tracked, cfg.min_track_length, cfg.output_joint_threshold, cfg.renumber)
        else:
            tracker = self.corrtrack(i, variant)
            for t, (image, p) in enumerate(zip(seq.images, dets)):
                tracker.step(t, image, p)
            frames = [f.poses for f in tracker.finish().frames]
            counts = {k: float(v) for k, v in tracker.counts.items()}
            counts |= {f"seconds.{k}": float(v) for k, v in tracker.timings.items()}
            if seq.full_truth is not None:
                counts |= identity_counts(tracker, frames, seq.full_truth)
        return seq.ground_truth.with_poses(frames), counts

    def run(self, variant: Variant, indices: Sequence[int] | None = None) -> RowResult:
        t0 = time.perf_counter()
        preds: list[PoseSequence] = []
        counts: dict[str, float] = {}
        for i in range(len(self.sequences)) if indices is None else indices:
            pred, c = self.track(i, variant)
            preds.append(pred)
            for k, v in c.items():
                counts[k] = counts.get(k, 0.0) + v
        return RowResult(variant, preds, time.perf_counter() - t0, counts)


# ------------------------------------------------------------------------- what the tracker did
def _truth_ids(poses: Poses, truth: Poses, min_iou: float = 0.5) -> np.ndarray:
    """(N,) the ground-truth track id of each pose (box IoU >= ``min_iou``, one-to-one), -1 where none."""
    from corrtrack.tracking.matching import assign

    out = np.full(len(poses), -1, np.int64)
    if len(poses) and len(truth):
        iou = box_iou(poses.keypoint_boxes(), truth.keypoint_boxes())
        rows, cols = assign(np.where(iou >= min_iou, iou, np.nan), min_iou, "hungarian")
        out[rows] = truth.track_ids[cols]
    return out


def _truth_identities(poses: Poses, truth: Poses, min_oks: float = 0.5) -> np.ndarray:
    """(N,) the ground-truth track id of each pose by OKS over the ground truth's visible joints (>= ``min_oks``,
    one-to-one), -1 where none. Unlike box overlap it holds for partly hidden people, whose estimated pose
    guesses the hidden joints and so has a larger box than the visible ones."""
    from corrtrack.geometry import oks_coco
    from corrtrack.tracking.matching import assign

    out = np.full(len(poses), -1, np.int64)
    if len(poses) and len(truth):
        boxes = truth.box_or_keypoint_box()
        areas = np.where(np.isfinite(boxes).all(1), boxes[:, 2] * boxes[:, 3], 0.0)
        oks = oks_coco(truth.keypoints, truth.present, areas, np.nan_to_num(poses.xy, nan=-1e6)).T  # (N, M)
        rows, cols = assign(np.where(oks >= min_oks, oks, np.nan), min_oks, "hungarian")
        out[rows] = truth.track_ids[cols]
    return out


def identity_counts(tracker: CorrTrackTracker, output: Sequence[Poses], truth: PoseSequence) -> dict[str, float]:
    """Recovered poses that are / are not a ground-truth person, merges and lost-track resumes that are correct.

    ``output``: the tracker's final frames (what is scored). A recovered pose is a person when its box
    overlaps a ground-truth box (IoU >= 0.5). Identities come from OKS >= 0.5 over the ground truth's
    visible joints: a merge is correct when the two online tracks' majority identities agree, a resume
    when the pieces of the track before and after the gap do; wrong when both have an identity and they
    differ (the rest join a piece that matches nobody). ``truth``: every frame's ground truth.
    """
    counts = {"recovered_tp": 0.0, "recovered_fp": 0.0}
    for poses, gt in zip(output, truth.frames):
        rec = np.array([bool(e.get("recovered")) for e in poses.extras], bool)
        if rec.any():
            hit = _truth_ids(poses[rec], gt.poses) >= 0
            counts["recovered_tp"] += float(hit.sum())
            counts["recovered_fp"] += float((~hit).sum())
    # online ids (before merging) -> ground-truth ids per frame
    seen: dict[int, list[tuple[int, int]]] = {}
    for f, (poses, gt) in enumerate(zip(tracker.online_frames, truth.frames)):
        for tid, g in zip(poses.track_ids.tolist(), _truth_identities(poses, gt.poses).tolist()):
            seen.setdefault(int(tid), []).append((f, int(g)))

    def majority(tid: int) -> int:
        ids = [g for _, g in seen.get(tid, []) if g >= 0]
        return max(set(ids), key=ids.count) if ids else -1

    counts["merges_proposed"] = float(len(tracker.merge_candidates))
    counts["merges_accepted"] = float(len(tracker.merges))
    pairs = [(majority(p), majority(q)) for p, q in tracker.merges.items()]
    counts["merges_correct"] = float(sum(a == b >= 0 for a, b in pairs))
    counts["merges_wrong"] = float(sum(a != b and min(a, b) >= 0 for a, b in pairs))
    resumed = correct = wrong = 0
    for track in seen.values():
        # the track's pieces between gaps, each by its majority ground-truth identity (a single frame next
        # to an occlusion is often a partial pose that matches no ground-truth box)
        pieces: list[list[int]] = [[]]
        for (f0, _), (f1, _) in itertools.pairwise(track):
            if f1 - f0 > 1:
                pieces.append([])
            pieces[-1].append(f1)
        pieces[0].insert(0, track[0][0])
        ids = dict(track)
        majorities = []
        for piece in pieces:
            known = [ids[f] for f in piece if ids[f] >= 0]
            majorities.append(max(set(known), key=known.count) if known else -1)
        for a, b in itertools.pairwise(majorities):
            resumed += 1
            correct += int(a == b >= 0)
            wrong += int(a != b and min(a, b) >= 0)
    counts["resumes"] = float(resumed)
    counts["resumes_correct"] = float(correct)
    counts["resumes_wrong"] = float(wrong)
    return counts


# ------------------------------------------------------------------------------------ scoring
def score(gts: Sequence[PoseSequence], preds: Sequence[PoseSequence]) -> dict[str, float]:
    """mAP, MOTA, ID switches, keypoint HOTA (x 100), misses and false positives (summed over joints)."""
    from corrtrack.evaluate import evaluate

    r = evaluate(list(gts), list(preds), hota=True)
    assert r.ap is not None and r.mot is not None
    return {
        "mAP": float(r.ap.ap[-1]),
        "MOTA": float(r.mot_metrics["mota"][-1]),
        "IDSW": float(r.mot.switches.sum()),
        "HOTA": 100.0 * float(r.hota.hota),
        "FN": float(r.mot.misses.sum()),
        "FP": float(r.mot.false_positives.sum()),
    }


@dataclass
class ExperimentResult:
    experiment: str
    detector: str
    sequences: list[str]
    frames: int
    rows: list[dict[str, Any]]
    seconds: dict[str, float]
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "detector": self.detector,
            "sequences": self.sequences,
            "frames": self.frames,
            "rows": self.rows,
            "seconds": self.seconds,
            "settings": self.settings,
        }


_RUNNER: ExperimentRunner | None = None  # the runner a forked worker inherits


def _worker(job: tuple[int, list[Variant]]) -> tuple[int, list[RowResult], dict[str, float]]:
    i, rows = job
    assert _RUNNER is not None
    before = dict(_RUNNER.seconds)
    results = [_RUNNER.run(v, [i]) for v in rows]
    return i, results, {k: v - before.get(k, 0.0) for k, v in _RUNNER.seconds.items()}


def run_rows(
    runner: ExperimentRunner,
    rows: Sequence[Variant],
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> list[RowResult]:
    """Every row over every sequence; ``workers > 1`` tracks the sequences in parallel (forked) processes.

    Work is split by sequence, not by row: one process runs every row of its sequences, so the
    shared part and the memos of one sequence are computed once.
    """
    n = len(runner.sequences)
    if workers <= 1 or n < 2:
        done = []
        for v in rows:
            done.append(runner.run(v))
            if progress is not None:
                progress(f"{v.name}: {done[-1].seconds:.0f} s")
        return done
    import multiprocessing as mp

    global _RUNNER
    _RUNNER = runner
    try:
        with mp.get_context("fork").Pool(min(workers, n)) as pool:
            parts = []
            for part in pool.imap_unordered(_worker, [(i, list(rows)) for i in range(n)]):
                parts.append(part)
                if progress is not None:
                    progress(f"{runner.sequences[part[0]].name}: every row done")
            parts.sort(key=lambda x: x[0])
    finally:
        _RUNNER = None
    out = []
    for r, v in enumerate(rows):
        preds = [p for _, res, _ in parts for p in res[r].predictions]
        counts: dict[str, float] = {}
        for _, res, _ in parts:
            for k, val in res[r].counts.items():
                counts[k] = counts.get(k, 0.0) + val
        out.append(RowResult(v, preds, sum(res[r].seconds for _, res, _ in parts), counts))
    for key in runner.seconds:
        runner.seconds[key] += sum(sec.get(key, 0.0) for _, _, sec in parts)
    return out


def run_experiment(
    experiment: str,
    runner: ExperimentRunner,
    workers: int = 1,
    rows: Sequence[Variant] | None = None,
    settings: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExperimentResult:
    """Run the rows of ``experiment`` (or the given ``rows``) and score each on all sequences together."""
    return run_experiments([experiment], runner, workers, settings, progress, rows)[0]


def _row_key(runner: ExperimentRunner, v: Variant) -> tuple[Any, ...]:
    """What decides a row's output: the tracker, its correspondences and its effective config."""
    corr = v.correspondences if v.tracker == "corrtrack" else None
    refinement = v.refinement if corr is not None and corr.startswith("network") else None
    return (v.tracker, corr, refinement, runner.config(v))


def run_experiments(
    experiments: Sequence[str],
    runner: ExperimentRunner,
    workers: int = 1,
    settings: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    rows: Sequence[Variant] | None = None,
) -> list[ExperimentResult]:
    """Several experiments in one pass: rows that are the same tracker (e.g. the full system of Table 2,
    the ablations and tau_corr = 0.3 of Table 1) run and are scored once, and with ``workers > 1`` every
    row of a sequence runs in one process, so nothing shared is computed twice.
    """
    t0 = time.perf_counter()
    before = dict(runner.seconds)
    per_experiment = [list(rows) if rows is not None else variants(e) for e in experiments]
    unique: dict[tuple[Any, ...], Variant] = {}
    for v in (v for vs in per_experiment for v in vs):
        unique.setdefault(_row_key(runner, v), v)
    results = dict(zip(unique, run_rows(runner, list(unique.values()), workers, progress)))
    gts = [s.ground_truth for s in runner.sequences]
    scores = {k: score(gts, r.predictions) for k, r in results.items()}
    seconds = {k: v - before.get(k, 0.0) for k, v in runner.seconds.items()} | {"total": time.perf_counter() - t0}
    if len(experiments) > 1:
        seconds["experiments_in_this_pass"] = float(len(experiments))
    out = []
    for experiment, vs in zip(experiments, per_experiment):
        table = []
        for v in vs:
            key = _row_key(runner, v)
            r = results[key]
            row: dict[str, Any] = {"name": v.name, "x": v.x, "seconds": r.seconds}
            row |= scores[key]
            row["variant"] = {
                "tracker": v.tracker,
                "correspondences": key[1],
                "refinement": key[2],
                "settings": list(v.settings),
            }
            row["counts"] = r.counts
            table.append(row)
        out.append(
            ExperimentResult(
                experiment,
                str((settings or {}).get("detector", "")),
                [s.name for s in runner.sequences],
                sum(len(s.images) for s in runner.sequences),
                table,
                dict(seconds),
                dict(settings or {}) | {"tracker_base": config_to_dict(runner.base)},
            )
        )
    return out


# ------------------------------------------------------------------------------------- outputs
TITLES = {
    "table1": "Table 1: correspondence threshold tau_corr",
    "table2": "Table 2: refinement and duplicate removal",
    "ablations": "Ablations: recovery, merging, assignment",
    "baselines": "Baselines: frame-to-frame trackers, a ByteTrack-class tracker and other correspondences",
    "recovery": "Recovery rules: recovered poses that are people (TP) and ghosts (FP)",
    "reid": "Re-identification: merging and lost-track matching",
}
#: per experiment, the tracker counts shown beside the scores (count name -> column title)
COUNT_COLUMNS: dict[str, dict[str, str]] = {
    "recovery": {"recovered_tp": "recovered TP", "recovered_fp": "recovered FP", "reestimated": "re-estimated"},
    "reid": {
        "merges_proposed": "merges proposed",
        "merges_accepted": "accepted",
        "merges_correct": "correct",
        "merges_wrong": "wrong",
        "resumes": "lost resumed",
        "resumes_correct": "correct",
        "resumes_wrong": "wrong",
    },
}


def markdown(result: ExperimentResult) -> str:
    """The result as a markdown table (MOTA, IDSW, mAP, keypoint HOTA, FN, FP, seconds per row)."""
    head = (
        f"{TITLES.get(result.experiment, result.experiment)} — detector `{result.detector}`, "
        f"{len(result.sequences)} sequences ({', '.join(result.sequences)}), {result.frames} frames\n\n"
    )
    extra = COUNT_COLUMNS.get(result.experiment, {})
    lines = [
        "| row | MOTA | IDSW | mAP | HOTA | FN | FP | " + "".join(f"{t} | " for t in extra.values()) + "seconds |",
        "|---|---|---|---|---|---|---|" + "---|" * len(extra) + "---|",
    ]
    for r in result.rows:
        cells = "".join(f"{r['counts'].get(k, float('nan')):.0f} | " for k in extra)
        lines.append(
            f"| {r['name']} | {r['MOTA']:.1f} | {r['IDSW']:.0f} | {r['mAP']:.1f} | {r['HOTA']:.1f} | "
            f"{r['FN']:.0f} | {r['FP']:.0f} | {cells}{r['seconds']:.0f} |"
        )
    s = result.seconds
    foot = "\n\nshared work (seconds): " + ", ".join(f"{k} {v:.0f}" for k, v in s.items()) + "\n"
    return head + "\n".join(lines) + foot


def plot(result: ExperimentResult, path: str | Path) -> None:
    """MOTA and ID switches per row: lines against tau_corr for Table 1, bars otherwise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.rows
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), dpi=80)
    metrics = (("MOTA", "MOTA"), ("IDSW", "ID switches"))
    if all(r["x"] is not None for r in rows):
        xs = [r["x"] for r in rows]
        for ax, (key, label) in zip(axes, metrics):
            ax.plot(xs, [r[key] for r in rows], "o-")
            ax.set_xlabel("tau_corr")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
    else:
        names = [r["name"] for r in rows]
        for ax, (key, label) in zip(axes, metrics):
            ax.barh(range(len(rows)), [r[key] for r in rows], color="tab:blue")
            ax.set_yticks(range(len(rows)))
            ax.set_yticklabels(names if ax is axes[0] else [""] * len(rows), fontsize=8)
            ax.invert_yaxis()
            ax.set_xlabel(label)
            ax.grid(alpha=0.3, axis="x")
    fig.suptitle(f"{TITLES.get(result.experiment, result.experiment)} ({result.detector} detector)", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def write_outputs(result: ExperimentResult, out: str | Path) -> dict[str, Path]:
    """``<experiment>-<detector>.md``, ``.json`` and ``.png`` in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{result.experiment}-{result.detector}"
    paths = {"markdown": out / f"{stem}.md", "json": out / f"{stem}.json", "plot": out / f"{stem}.png"}
    atomic_write_text(paths["markdown"], markdown(result))
    write_json(paths["json"], nan_to_null(result.to_json()), indent=1)  # NaN (e.g. no GT joint) -> null
    plot(result, paths["plot"])
    return paths


def make_runner(
    data: str | Path,
    settings: ExperimentSettings = ExperimentSettings(),
    base: CorrTrackConfig = CorrTrackConfig(),
    detection_filter: DetectionFilter = DetectionFilter(),
    simulated: SimulatedDetectorConfig = SimulatedDetectorConfig(),
) -> ExperimentRunner:
    """A runner with the bundled networks on the selected sequences of ``data``."""
    need = settings.detector == "simulated" or None
    if settings.poses == "detections":
        if settings.detector != "simulated":
            raise CorrtrackError("poses from detections need the simulated detector (the bundled one gives boxes only)")
        simulated = dataclasses.replace(simulated, with_poses=True)
    seqs = load_sequences(data, settings.split, settings.sequences, settings.frames, full_truth=need)
    return ExperimentRunner(
        seqs,
        detector_factory(settings.detector, simulated, detection_filter),
        bundled_estimator(),
        bundled_models(),
        base,
        settings.cache,
        settings.poses,
    )
