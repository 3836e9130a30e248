"""Writing SynthTrack data sets in the PoseTrack 2018 layout, with statistics and a contact sheet.

Layout (what the official evaluator and corrtrack's readers expect)::

    OUT/images/<split>/<seq>/<frame:06d>.jpg
    OUT/annotations/<split>/<seq>.json        PoseTrack 2018 ground truth
    OUT/detections/<split>/<seq>.json         optional, SIMULATED detector (COCO results list)
    OUT/stats.json  OUT/contact_sheet.png  OUT/synthtrack.json (the configuration)

Sequence folders are named ``<6 digits>_mpiinew_<preset>`` so the official
evaluator accepts them; frame files are numbered.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from corrtrack.errors import CorrtrackError
from corrtrack.fileio import remove_stale_temporaries, temporary_prefix, write_json
from corrtrack.formats import save_sequence
from corrtrack.poses import Frame, PoseSequence
from corrtrack.synth.config import SynthConfig, preset
from corrtrack.synth.scene import SceneFrame, SyntheticScene
from corrtrack.synth.simulated_detections import SimulatedDetectorConfig, simulate_detections

__all__ = [
    "RETIRED_SPLITS",
    "STANDARD_SPLITS",
    "SYNTHTRACK_VERSION",
    "RenderedSequence",
    "SequenceSpec",
    "SequenceStats",
    "full_truth_frames",
    "generate_dataset",
    "generate_standard",
    "labeled_pattern",
    "make_specs",
    "render_sequence",
    "render_sequence_frames",
]

#: the renderer's version, written to ``synthtrack.json`` (older versions: RETIRED_SPLITS' commits)
SYNTHTRACK_VERSION = "2.1"
_SPLIT_BASE = {"train": 100000, "val": 200000, "test": 300000}
LONG_GAP = 10  # frames; a track absent this long defeats frame-to-frame association


def labeled_pattern(num_frames: int, pattern: str) -> np.ndarray:
    """``all``: every frame; ``posetrack``: a dense middle block (a third of the frames, at most 30) plus every 4th."""
    if pattern == "all":
        return np.ones(num_frames, bool)
    if pattern != "posetrack":
        raise ValueError(f"unknown labeled pattern {pattern!r}; choose 'all' or 'posetrack'")
    labeled = np.arange(num_frames) % 4 == 0
    block = min(30, max(1, num_frames // 3))
    start = (num_frames - block) // 2
    labeled[start : start + block] = True
    return labeled


@dataclass
class SequenceSpec:
    split: str
    index: int
    preset: str
    num_frames: int
    seed: int
    labeled: str = "all"
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def number(self) -> int:
        return _SPLIT_BASE.get(self.split, 400000) + self.index

    @property
    def name(self) -> str:
        return f"{self.number:06d}_mpiinew_{self.preset}"

    def config(self) -> SynthConfig:
        return preset(self.preset, **self.overrides)


@dataclass
class SequenceStats:
    """Raw counts of one sequence; ``summary`` turns a list of them into the published statistics."""

    frames: int = 0
    persons: int = 0
    joints_in_frame: int = 0
    joints_occluded: int = 0
    crossings: int = 0
    displacement_sum: float = 0.0
    displacement_count: int = 0
    tracks: int = 0
    lookalike_tracks: int = 0
    #: a track vanishes (not annotated: occluded, too small or outside) and comes back later
    gaps: int = 0
    gap_frames: int = 0
    long_gaps: int = 0  # gaps of at least LONG_GAP frames
    looks: int = 0  # distinct outfit groups among the annotated tracks
    #: per sequence: camera height (body heights) and downward tilt (degrees)
    camera_heights: list[float] = field(default_factory=list)
    camera_tilts: list[float] = field(default_factory=list)
    _last_seen: dict[int, int] = field(default_factory=dict, repr=False)

    def add_frame(self, fr: SceneFrame, prev: SceneFrame | None) -> None:
        for tid in fr.poses.track_ids.tolist():
            last = self._last_seen.get(tid)
            if last is not None and self.frames - last > 1:
                gap = self.frames - last - 1
                self.gaps += 1
                self.gap_frames += gap
                self.long_gaps += gap >= LONG_GAP
            self._last_seen[tid] = self.frames
        self.frames += 1
        self.persons += len(fr.poses)
        self.joints_in_frame += int(fr.in_frame.sum())
        self.joints_occluded += int(fr.occluded.sum())
        if prev is None or not len(fr.poses) or not len(prev.poses):
            return
        ids, pids = fr.poses.track_ids, prev.poses.track_ids
        common, a, b = np.intersect1d(ids, pids, return_indices=True)
        if len(common):
            d = np.linalg.norm(fr.hip_centers[a] - prev.hip_centers[b], axis=1) / fr.body_heights[a]
            self.displacement_sum += float(d.sum())
            self.displacement_count += len(d)
        if len(common) > 1:  # a crossing: two people swap their left-right order while their boxes overlap
            from corrtrack.geometry import box_iou

            x_now, x_prev = fr.hip_centers[a, 0], prev.hip_centers[b, 0]
            flip = np.sign(x_now[:, None] - x_now[None]) * np.sign(x_prev[:, None] - x_prev[None]) < 0
            overlap = box_iou(fr.poses.boxes[a], fr.poses.boxes[a]) > 0
            self.crossings += int(np.triu(flip & overlap, 1).sum())

    @staticmethod
    def summary(stats: list[SequenceStats]) -> dict[str, Any]:
        tot = SequenceStats()
        for s in stats:
            for k in tot.__dataclass_fields__:
                if not k.startswith("_"):
                    setattr(tot, k, getattr(tot, k) + getattr(s, k))
        return {
            "sequences": len(stats),
            "frames": tot.frames,
            "persons_per_frame": tot.persons / max(1, tot.frames),
            "occluded_joint_fraction": tot.joints_occluded / max(1, tot.joints_in_frame),
            "crossings": tot.crossings,
            "crossings_per_100_frames": 100 * tot.crossings / max(1, tot.frames),
            "displacement_per_frame_over_height": tot.displacement_sum / max(1, tot.displacement_count),
            "tracks": tot.tracks,
            "lookalike_fraction": tot.lookalike_tracks / max(1, tot.tracks),
            "distinct_looks": tot.looks,
            "gaps_per_100_tracks": 100 * tot.gaps / max(1, tot.tracks),
            "mean_gap_frames": tot.gap_frames / max(1, tot.gaps),
            f"gaps_of_{LONG_GAP}_frames_or_more_per_100_tracks": 100 * tot.long_gaps / max(1, tot.tracks),
            "camera_height_body_heights": _spread(tot.camera_heights),
            "camera_tilt_degrees": _spread(tot.camera_tilts),
        }


def _spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    v = np.asarray(values)
    return {"min": float(v.min()), "median": float(np.median(v)), "max": float(v.max())}


@dataclass
class RenderedSequence:
    """One simulated sequence in memory: images, PoseTrack ground truth and what the simulation knows besides."""

    images: list[np.ndarray]
    sequence: PoseSequence
    stats: SequenceStats
    jpeg_quality: int
    #: track id -> outfit group (look-alikes share one); what an appearance oracle may use
    look_groups: dict[int, int]
    #: per frame, (M, 4) boxes of person-like structure that is no annotated person (bystanders, occluders, props)
    distractors: list[np.ndarray]
    #: per frame, x offset, y offset and zoom of the world-to-image map (the camera)
    cameras: np.ndarray
    #: every frame's persons, the unlabelled frames included (what a simulated detector must see)
    full_sequence: PoseSequence | None = None


def render_sequence(spec: SequenceSpec, on_image: Callable[[int, np.ndarray], None] | None = None) -> RenderedSequence:
    """Simulate one sequence (see :class:`RenderedSequence`).

    With ``on_image``, every frame's image is handed to it as it is rendered and not kept
    (``images`` stays empty), so memory does not grow with the sequence's length.
    """
    cfg = spec.config()
    quality = int(np.random.default_rng(spec.seed).integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
    scene = SyntheticScene(cfg, spec.seed)
    labeled = labeled_pattern(spec.num_frames, spec.labeled)
    images, frames, full_frames, distractors, cameras = [], [], [], [], []
    stats = SequenceStats()
    prev = None
    lookalike: dict[int, bool] = {}
    groups: dict[int, int] = {}
    for t, fr in enumerate(scene.frames(spec.num_frames)):
        stats.add_frame(fr, prev)
        prev = fr
        for tid, look, group in zip(fr.poses.track_ids.tolist(), fr.lookalike.tolist(), fr.look_groups.tolist()):
            lookalike[tid] = lookalike.get(tid, False) or look
            groups[tid] = group
        full = _full_frame(spec, t, fr)
        full_frames.append(full)
        poses, regions = (full.poses, fr.ignore_regions) if labeled[t] else (full.poses[[]], [])
        frames.append(
            Frame(
                full.file_name,
                poses,
                full.image_id,
                bool(labeled[t]),
                [r.round(2) for r in regions],
                full.extras,
            )
        )
        if on_image is None:
            images.append(fr.image)
        else:
            on_image(t, fr.image)
        distractors.append(fr.distractor_boxes)
        cameras.append(fr.camera)
    stats.camera_heights, stats.camera_tilts = [scene.camera_height], [scene.camera_tilt]
    stats.tracks = len(lookalike)
    stats.lookalike_tracks = sum(lookalike.values())
    stats.looks = len(set(groups.values()))
    return RenderedSequence(
        images,
        PoseSequence(spec.name, frames),
        stats,
        quality,
        groups,
        distractors,
        np.array(cameras),
        PoseSequence(spec.name, full_frames),
    )


def _full_frame(spec: SequenceSpec, t: int, fr: SceneFrame) -> Frame:
    """Frame ``t``'s ground truth with every person (labelled or not), as the annotations write it."""
    image_id = int(f"1{spec.number:06d}{t:04d}")
    poses = fr.poses.replace(
        ids=np.array([image_id * 100 + i for i in range(len(fr.poses))], np.int64),
        extras=tuple({"category_id": 1, "area": float(a)} for a in fr.areas.tolist()),
    )
    extras = {"frame_id": image_id, "vid_id": f"{spec.number:06d}", "nframes": spec.num_frames}
    name = f"images/{spec.split}/{spec.name}/{t:06d}.jpg"
    return Frame(name, poses, image_id, True, [r.round(2) for r in fr.ignore_regions], extras)


def full_truth_frames(spec: SequenceSpec) -> Iterator[tuple[Frame, np.ndarray]]:
    """Every frame's ground truth (:class:`RenderedSequence`'s ``full_sequence``) and distractor boxes, one frame
    at a time: nothing is kept, so memory does not grow with the sequence's length (the images are rendered and
    dropped: a person's visibility comes from the rendering)."""
    scene = SyntheticScene(spec.config(), spec.seed)
    for t, fr in enumerate(scene.frames(spec.num_frames)):
        yield _full_frame(spec, t, fr), fr.distractor_boxes


def render_sequence_frames(spec: SequenceSpec) -> tuple[list[np.ndarray], PoseSequence, SequenceStats, int]:
    """Simulate one sequence in memory: images, PoseTrack ground truth, statistics and the JPEG quality."""
    r = render_sequence(spec)
    return r.images, r.sequence, r.stats, r.jpeg_quality


def _write_sequence(
    root: Path,
    spec: SequenceSpec,
    detections: SimulatedDetectorConfig | None,
    on_frame: Callable[[], None] | None = None,
) -> SequenceStats:
    from corrtrack.video import write_image

    cfg = spec.config()
    quality = int(np.random.default_rng(spec.seed).integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))

    def write(t: int, image: np.ndarray) -> None:  # streamed: frames are written as they are rendered
        write_image(root / f"images/{spec.split}/{spec.name}/{t:06d}.jpg", image, quality=quality)
        if on_frame is not None:
            on_frame()

    r = render_sequence(spec, on_image=write)
    seq = r.sequence
    save_sequence(seq, root / "annotations" / spec.split / f"{spec.name}.json", "posetrack18")
    if detections is not None:
        # from every frame's persons: a detector also sees the people of frames left unlabelled
        truth = r.full_sequence if r.full_sequence is not None else seq
        det = simulate_detections(truth, detections, seed=spec.seed + 1, distractors=r.distractors)
        save_sequence(det, root / "detections" / spec.split / f"{spec.name}.json", "coco-results")
    return r.stats


def _write_job(args: tuple[Path, SequenceSpec, SimulatedDetectorConfig | None]) -> SequenceStats:
    return _write_sequence(*args)


def _contact_sheet(root: Path, specs: list[SequenceSpec], per_sheet: int = 8) -> None:
    from corrtrack.formats import load_sequence
    from corrtrack.render import draw_ignore_regions, draw_poses, save_grid
    from corrtrack.video import read_image

    picks, titles = [], []
    by_preset: dict[str, list[SequenceSpec]] = {}
    for spec in specs:
        by_preset.setdefault(spec.preset, []).append(spec)
    queues = [group[:: max(1, len(group) // per_sheet)] for group in by_preset.values()]
    chosen = [q[i] for i in range(per_sheet) for q in queues if i < len(q)][:per_sheet]  # round-robin over presets
    for spec in chosen:
        seq = load_sequence(root / "annotations" / spec.split / f"{spec.name}.json")
        labeled = [f for f in seq.frames if f.is_labeled and len(f.poses)]
        if not labeled:
            continue
        fr = labeled[len(labeled) // 2]
        img = draw_ignore_regions(read_image(root / fr.file_name), fr)
        picks.append(draw_poses(img, fr.poses, seq.layout.skeleton_index))
        titles.append(f"{spec.name} {Path(fr.file_name).stem}")
    if picks:
        save_grid(root / "contact_sheet.png", picks, cols=min(4, len(picks)), titles=titles, cell_width=400)


def generate_dataset(
    out: str | Path,
    specs: list[SequenceSpec],
    detections: SimulatedDetectorConfig | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    description: dict[str, Any] | None = None,
    workers: int = 1,
    frame_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write the sequences to ``out`` (built in a temporary folder, moved into place at the end).

    ``workers`` > 1 renders sequences in that many processes; the output is identical.
    ``progress(done, total)`` counts sequences; ``frame_progress(done, total)`` counts frames (after
    every frame in one process, after every sequence with ``workers`` > 1).
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise CorrtrackError(f"{out}: folder exists and is not empty (use --overwrite)")
    # a staging folder of this process only (two runs into one OUT never mix); staging folders of
    # runs that were killed are removed first
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    tmp = out.parent / (temporary_prefix(out) + "partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        groups: dict[str, list[SequenceStats]] = {}
        jobs = [(tmp, spec, detections) for spec in specs]
        total_frames = sum(spec.num_frames for spec in specs)
        frames_done = 0

        def one_frame() -> None:
            nonlocal frames_done
            frames_done += 1
            if frame_progress is not None:
                frame_progress(frames_done, total_frames)

        if workers > 1 and len(specs) > 1:
            from concurrent.futures import ProcessPoolExecutor

            pool = ProcessPoolExecutor(min(workers, len(specs)))
            results = pool.map(_write_job, jobs)
        else:
            on_frame = one_frame if frame_progress is not None else None
            pool, results = None, (_write_sequence(*job, on_frame=on_frame) for job in jobs)
        try:
            all_stats = []
            for i, seq_stats in enumerate(results):
                all_stats.append(seq_stats)
                if progress:
                    progress(i + 1, len(specs))
                if frame_progress is not None and pool is not None:
                    frames_done = sum(spec.num_frames for spec in specs[: i + 1])
                    frame_progress(frames_done, total_frames)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        for spec, seq_stats in zip(specs, all_stats):
            for key in ("all", f"split:{spec.split}", f"preset:{spec.preset}", f"{spec.split}/{spec.preset}"):
                groups.setdefault(key, []).append(seq_stats)
        stats = {key: SequenceStats.summary(s) for key, s in groups.items()}
        write_json(tmp / "stats.json", stats, indent=1)
        write_json(
            tmp / "synthtrack.json",
            {
                "version": SYNTHTRACK_VERSION,
                "description": description or {},
                "sequences": [
                    {
                        "name": s.name,
                        "split": s.split,
                        "preset": s.preset,
                        "frames": s.num_frames,
                        "seed": s.seed,
                        "labeled": s.labeled,
                        "config": s.config().to_dict(),
                    }
                    for s in specs
                ],
                "simulated_detector": detections.to_dict() if detections else None,
                "knob_sources": SynthConfig().describe()["sources"],
            },
            indent=1,
        )
        _contact_sheet(tmp, specs)
        if out.exists() and any(out.iterdir()) and not overwrite:
            raise CorrtrackError(f"{out}: another process wrote this folder while this one ran") from None
        if out.exists():
            shutil.rmtree(out, ignore_errors=True)
        try:
            tmp.rename(out)
        except OSError:
            raise CorrtrackError(f"{out}: another process wrote this folder while this one ran") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return stats


def make_specs(
    split: str,
    presets: list[str],
    sequences: int,
    frames: int,
    seed: int,
    labeled: str,
    width: int = 640,
    height: int = 360,
    overrides: dict[str, Any] | None = None,
) -> list[SequenceSpec]:
    """``sequences`` specs cycling through ``presets``, each with its own seed derived from ``seed``.

    ``overrides`` sets difficulty knobs of :class:`SynthConfig` on top of the presets.
    """
    root = np.random.SeedSequence([seed, _SPLIT_BASE.get(split, 400000)])
    seeds = [int(s.generate_state(1)[0]) for s in root.spawn(sequences)]
    knobs = {"width": width, "height": height, **(overrides or {})}
    return [
        SequenceSpec(split, i, presets[i % len(presets)], frames, seeds[i], labeled, dict(knobs))
        for i in range(sequences)
    ]


#: Standard splits. ``synthtrack-v2.1`` has many short training sequences (many distinct people and
#: backgrounds: each sequence has its own world and its own people) so small models train on it in
#: well under an hour on a 2-core CPU, and writing it takes a few minutes (``workers=2``). Its layout
#: (sequences, frames, seeds) is v2's; the renderer is SynthTrack 2.1.
STANDARD_SPLITS: dict[str, dict[str, dict[str, Any]]] = {
    "synthtrack-v2.1": {
        "train": {"presets": ["easy", "medium", "hard"], "sequences": 96, "frames": 40, "seed": 1, "labeled": "all"},
        "val": {
            "presets": ["easy", "medium", "hard"],
            "sequences": 12,
            "frames": 100,
            "seed": 2,
            "labeled": "posetrack",
        },
        "test": {
            "presets": ["easy", "medium", "hard"],
            "sequences": 12,
            "frames": 100,
            "seed": 3,
            "labeled": "posetrack",
        },
    }
}
#: retired standard splits and the corrtrack commit that still renders them
RETIRED_SPLITS = {"synthtrack-v1": "ab90c35", "synthtrack-v2": "16e81de"}
CURRENT_STANDARD = "synthtrack-v2.1"


def generate_standard(
    out: str | Path, name: str = CURRENT_STANDARD, splits: tuple[str, ...] | None = None, **kwargs: Any
) -> dict[str, Any]:
    if name in RETIRED_SPLITS:
        raise CorrtrackError(
            f"{name} was rendered by an older SynthTrack, which is retired; check out corrtrack commit "
            f"{RETIRED_SPLITS[name]} to reproduce it, or use {CURRENT_STANDARD}"
        )
    try:
        definition = STANDARD_SPLITS[name]
    except KeyError:
        raise CorrtrackError(f"unknown standard data set {name!r}; known: {sorted(STANDARD_SPLITS)}") from None
    specs = []
    for split, d in definition.items():
        if splits is None or split in splits:
            specs += make_specs(split, d["presets"], d["sequences"], d["frames"], d["seed"], d["labeled"])
    description = {"standard": name, "version": SYNTHTRACK_VERSION, "splits": definition}
    return generate_dataset(out, specs, description=description, **kwargs)
