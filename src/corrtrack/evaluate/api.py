"""``evaluate(gt, pred) -> EvalResult``: the Python entry point, and loading of GT / prediction folders.

Work is split by sequence: each one is prepared, its AP samples and CLEAR-MOT
counts computed once (in worker processes with ``workers > 1``; folders are
then read by the workers too), and the results are combined in sequence order.
"""

from __future__ import annotations

import contextlib
import glob
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from corrtrack.errors import FormatError
from corrtrack.evaluate.clearmot import mot_counts
from corrtrack.evaluate.leniency import InputWarning
from corrtrack.evaluate.posetrack import APResult, APSamples, MOTCounts, ap_samples, compute_ap, sequence_pairs
from corrtrack.evaluate.prepare import FrameSelection, HeadFormat, prepare_sequence
from corrtrack.keypoints import EVAL_GROUPS, POSETRACK17
from corrtrack.poses import PoseSequence

__all__ = [
    "GROUPS",
    "JOINT_NAMES",
    "EvalResult",
    "FileOrder",
    "InputCounts",
    "ProgressCallback",
    "evaluate",
    "evaluate_dirs",
    "load_pairs",
    "sequence_files",
]

#: ``progress(done, total)``: called after each sequence is evaluated (``done`` counts up to ``total``)
ProgressCallback = Callable[[int, int], None]
#: order in which the sequence files of a folder are pooled: see sequence_files
FileOrder = Literal["listing", "sorted"]

#: printed joint names, official joint-id order ("neck" is head_bottom)
JOINT_NAMES = tuple("neck" if n == "head_bottom" else n for n in POSETRACK17.joints)
GROUPS = {g: [POSETRACK17.index(n) for n in names] for g, names in EVAL_GROUPS.items()}


@dataclass(frozen=True)
class InputCounts:
    """What one sequence gave the evaluation: annotated GT joints and predicted joints in the evaluated frames,
    and the predicted persons of the whole file (with and without a keypoint list)."""

    gt_joints: int = 0
    pred_joints: int = 0
    pred_persons: int = 0
    pred_persons_with_keypoints: int = 0

    def __add__(self, other: InputCounts) -> InputCounts:
        return InputCounts(*(a + b for a, b in zip(astuple(self), astuple(other))))


@dataclass
class SequenceResult:
    name: str
    num_frames: int
    ap: APResult | None
    mot: MOTCounts
    counts: InputCounts = field(default_factory=InputCounts)


@dataclass
class EvalResult:
    """All numbers of one evaluation. Per-joint arrays: 15 joints in official id order, then the total."""

    ap: APResult | None
    mot: MOTCounts | None
    motp_mode: str = "motmetrics"
    sequences: list[SequenceResult] = field(default_factory=list)
    hota: Any = None
    #: one line per odd input the official tool grades (also issued as InputWarning): file and oddity
    warnings: list[str] = field(default_factory=list)

    @property
    def counts(self) -> InputCounts:
        """The inputs of every sequence together (:meth:`problem` reads them)."""
        total = InputCounts()
        for seq in self.sequences:
            total = total + seq.counts
        return total

    def problem(self) -> tuple[str, str, str] | None:
        """``(level, side, text)`` when the numbers cannot mean what they seem to, else None.

        ``level`` is ``"error"`` or ``"warning"``, ``side`` the input at fault (``"gt"`` or ``"pred"``).

        An error: no annotated ground-truth joint in any evaluated frame (every value would be NaN),
        or predictions with boxes but no keypoints (keypoint metrics cannot use them). A warning: no
        predicted joint in any evaluated frame (a tracker that saw nobody, or predictions of another video).
        """
        c = self.counts
        if not self.sequences:
            return None
        if c.gt_joints == 0:
            return "error", "gt", "no annotated ground-truth joint in any evaluated frame: nothing to evaluate"
        if c.pred_persons and not c.pred_persons_with_keypoints:
            return (
                "error",
                "pred",
                (
                    "the predictions have boxes but no keypoints: keypoint AP / MOTA cannot use them "
                    "(box tracks are evaluated with `eval --mot` on MOTChallenge files)"
                ),
            )
        if c.pred_joints == 0:
            why = (
                "the prediction files hold no person"
                if not c.pred_persons
                else "predicted people are only in frames without ground truth (predictions of another video?)"
            )
            return (
                "warning",
                "pred",
                f"no predicted joint in any evaluated frame: {why}; every ground-truth joint is a miss",
            )
        return None

    @property
    def mot_metrics(self) -> dict[str, np.ndarray]:
        return self.mot.metrics(self.motp_mode) if self.mot is not None else {}

    def group_means(self, values: np.ndarray) -> dict[str, float]:
        """The printed columns: Head, Shou, Elb, Wri, Hip, Knee, Ankl, and Total (= mean of the 15 joints)."""
        out = {g: float(np.mean(values[idx])) for g, idx in GROUPS.items()}
        out["Total"] = float(values[len(JOINT_NAMES)])
        return out

    def to_json(self) -> dict[str, Any]:
        names = {str(i): n for i, n in enumerate(JOINT_NAMES)} | {str(len(JOINT_NAMES)): "total"}
        out: dict[str, Any] = {"names": names}
        if self.ap is not None:
            out["ap"] = {
                "ap": self.ap.ap.tolist(),
                "pre": self.ap.pre.tolist(),
                "rec": self.ap.rec.tolist(),
                "num_gt_joints": self.ap.num_gt.tolist(),
            }
        if self.mot is not None:
            m = self.mot.metrics("motmetrics")
            out["mot"] = {k: v.tolist() for k, v in m.items()}
            out["mot"]["motp_classic"] = self.mot.metrics("classic")["motp"].tolist()
            out["mot"]["counts"] = _counts_json(self.mot)
        out["sequences"] = {
            s.name: {
                "num_frames": s.num_frames,
                "ap": s.ap.ap.tolist() if s.ap is not None else None,
                "mot": {k: v.tolist() for k, v in s.mot.metrics(self.motp_mode).items()},
                "counts": _counts_json(s.mot),
            }
            for s in self.sequences
        }
        if self.hota is not None:
            out["hota"] = self.hota.to_json()
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out

    def official_files(self) -> dict[str, dict[str, Any]]:
        """The JSON files the official evaluator writes (``total_AP_metrics.json``, ``<seq>_MOT_metrics.json``...)."""
        names = {str(i): n for i, n in enumerate(JOINT_NAMES)} | {str(len(JOINT_NAMES)): "total"}
        files: dict[str, dict[str, Any]] = {}

        def ap_doc(ap: APResult) -> dict[str, Any]:
            return {"ap": ap.ap.tolist(), "pre": ap.pre.tolist(), "rec": ap.rec.tolist(), "names": names}

        def mot_doc(counts: MOTCounts) -> dict[str, Any]:
            m = counts.metrics(self.motp_mode)
            return {k: m[k].tolist() for k in ("mota", "motp", "pre", "rec")} | {"names": names}

        if self.ap is not None:
            files["total_AP_metrics.json"] = ap_doc(self.ap)
        if self.mot is not None:
            files["total_MOT_metrics.json"] = mot_doc(self.mot)
        for seq in self.sequences:
            if seq.num_frames == 0:  # the official tool only reports sequences with a kept frame
                continue
            if seq.ap is not None:
                files[f"{seq.name}_AP_metrics.json"] = ap_doc(seq.ap)
            if self.mot is not None and seq.num_frames > 1:  # the official tool needs two frames for MOT
                files[f"{seq.name}_MOT_metrics.json"] = mot_doc(seq.mot)
        return files


def _counts_json(c: MOTCounts) -> dict[str, list]:
    return {
        "num_gt": c.num_gt.tolist(),
        "misses": c.misses.tolist(),
        "false_positives": c.false_positives.tolist(),
        "id_switches": c.switches.tolist(),
        "matches": c.matches.tolist(),
        "sum_d_events": c.sum_d_events.tolist(),
        "sum_d_matches": c.sum_d_matches.tolist(),
    }


def evaluate(
    gt: Sequence[PoseSequence] | PoseSequence,
    pred: Sequence[PoseSequence] | PoseSequence,
    *,
    pose_estimation: bool = True,
    tracking: bool = True,
    hota: bool = False,
    frames: FrameSelection = "annotated",
    motp: str = "motmetrics",
    sources: Sequence[tuple[str, str]] | None = None,
    workers: int = 1,
    hota_scale: float | None = None,
    progress: ProgressCallback | None = None,
    head_formats: Sequence[HeadFormat] | None = None,
) -> EvalResult:
    """Evaluate predictions against ground truth, sequence ``i`` of ``pred`` against sequence ``i`` of ``gt``.

    ``frames="annotated"`` is the official rule (frames with a GT person);
    ``"labeled"`` selects frames by ``is_labeled``. ``motp`` picks the MOTP
    accounting: ``"motmetrics"`` (what the official tool prints with motmetrics
    >= 1.1) or ``"classic"`` (1 - mean matched distance). Sequences are pooled in
    the order given (it matters for AP when scores tie, as in the official tool).
    ``workers > 1`` evaluates sequences in parallel processes; the result is the
    same. ``progress(done, total)`` is called as sequences finish.
    ``head_formats[i]`` is the file format ground truth ``i`` was read from,
    which decides the official head-size arithmetic (default ``"posetrack18"``:
    ``bbox_head = [x, y, w, h]``, see ``prepare.official_head_size``).
    """
    gts = [gt] if isinstance(gt, PoseSequence) else list(gt)
    preds = [pred] if isinstance(pred, PoseSequence) else list(pred)
    if len(gts) != len(preds):
        raise ValueError(f"{len(gts)} ground-truth sequences but {len(preds)} prediction sequences")
    _check_options(motp, frames)
    sources = sources or [(g.name, p.name) for g, p in zip(gts, preds)]
    formats: list[HeadFormat] = list(head_formats) if head_formats is not None else ["posetrack18"] * len(gts)
    if len(formats) != len(gts):
        raise ValueError(f"{len(formats)} head formats for {len(gts)} sequences")
    jobs = [
        _Job(g, p, gs, ps, hf, frames, pose_estimation, tracking)
        for g, p, (gs, ps), hf in zip(gts, preds, sources, formats)
    ]
    heavy = sum(len(g) for g in gts) >= _PARALLEL_MIN_FRAMES
    stats = _map(jobs, workers if heavy else 1, progress)
    result = _combine(stats, pose_estimation, tracking, motp)
    if hota:
        from corrtrack.evaluate.hota import KEYPOINT_SIM_SCALE, keypoint_hota

        result.hota = keypoint_hota(gts, preds, sources, hota_scale or KEYPOINT_SIM_SCALE)
    return result


def _check_options(motp: str, frames: str) -> None:
    if motp not in ("motmetrics", "classic"):
        raise ValueError(f"motp must be 'motmetrics' or 'classic', got {motp!r}")
    if frames not in ("annotated", "labeled"):
        raise ValueError(f"frames must be 'annotated' or 'labeled', got {frames!r}")


#: below this many frames (or bytes of files) in all, worker processes cost more than they save
_PARALLEL_MIN_FRAMES = 200
_PARALLEL_MIN_BYTES = 2_000_000


@dataclass
class _SequenceStats:
    name: str
    num_frames: int
    samples: APSamples | None
    mot: MOTCounts
    warnings: list[str] = field(default_factory=list)
    counts: InputCounts = field(default_factory=InputCounts)


@dataclass
class _Job:
    """One sequence to evaluate: in memory, or as the two files to read."""

    gt: PoseSequence | Path
    pred: PoseSequence | Path
    gt_source: str
    pred_source: str
    head_format: HeadFormat
    frames: FrameSelection
    pose_estimation: bool
    tracking: bool

    def run(self) -> _SequenceStats:
        gt, pred, head_format = self.gt, self.pred, self.head_format
        if isinstance(gt, Path):
            gt, head_format = _load(gt)
        if isinstance(pred, Path):
            pred, _ = _load(pred)
        seq = prepare_sequence(gt, pred, self.gt_source, self.pred_source, self.frames, head_format)
        if len(gt) == 1:
            warnings.warn(
                InputWarning(
                    f"{self.gt_source}: a one-frame sequence; the official evaluator fails on it "
                    "(its MOT step needs two frames), corrtrack grades it"
                ),
                stacklevel=2,
            )
        gt_names = {f.file_name for f in gt.frames if f.file_name}
        pred_names = [f.file_name for f in pred.frames if f.file_name]
        if gt_names and pred_names and not gt_names.intersection(pred_names):
            warnings.warn(
                InputWarning(
                    f"{self.pred_source}: none of its frame names is a ground-truth frame's ({pred_names[0]!r}, "
                    f"ground truth {sorted(gt_names)[0]!r}): predictions of another video? Frames are matched by order"
                ),
                stacklevel=2,
            )
        pairs = sequence_pairs(seq)
        samples = ap_samples(seq, pairs) if self.pose_estimation else None
        counts = mot_counts(seq, pairs) if self.tracking else MOTCounts()
        persons = [f.poses.has_keypoints for f in pred.frames]
        inputs = InputCounts(
            int(seq.gt_has.sum()),
            int(seq.pr_has.sum()),
            sum(len(p) for p in persons),
            sum(int(p.sum()) for p in persons),
        )
        return _SequenceStats(gt.name, seq.num_frames, samples, counts, counts=inputs)


@contextlib.contextmanager
def _collecting(into: list[str]) -> Iterator[None]:
    """Within: every InputWarning goes to ``into`` (other warnings are shown as usual)."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", InputWarning)
        shown = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if issubclass(category, InputWarning):
                into.append(str(message))
            else:
                shown(message, category, *args, **kwargs)

        warnings.showwarning = show
        yield


def _issue(lines: list[str]) -> None:
    for line in lines:
        warnings.warn(InputWarning(line), stacklevel=3)


def _combine(stats: list[_SequenceStats], pose_estimation: bool, tracking: bool, motp: str) -> EvalResult:
    """Pool the sequences in the given order: AP samples concatenated, MOT counts summed."""
    total_mot = MOTCounts() if tracking else None
    seq_results = []
    notes = [line for st in stats for line in st.warnings]
    for st in stats:
        if total_mot is not None:
            total_mot += st.mot
        ap = compute_ap(st.samples) if st.samples is not None else None
        seq_results.append(SequenceResult(st.name, st.num_frames, ap, st.mot, st.counts))
    total_ap = compute_ap([st.samples for st in stats if st.samples is not None]) if pose_estimation else None
    return EvalResult(total_ap, total_mot, motp, seq_results, warnings=notes)


_WORK: list[_Job] = []  # the jobs, inherited by forked workers instead of being pickled

#: what a worker sends back: (job index, statistics or None, (source, problem, record) of a FormatError or None)
#: and the InputWarning lines of reading its files (issued by the caller, also when the job failed)
_Outcome = tuple[int, "_SequenceStats | None", "tuple[str, str, str | None] | None", list[str]]


def _run_safely(index: int, job: _Job) -> _Outcome:
    caught: list[str] = []
    try:
        with _collecting(caught):
            st = job.run()
        st.warnings = caught
        return index, st, None, caught
    except FormatError as exc:  # sent as plain fields: the exception itself does not survive pickling
        return index, None, (exc.source, exc.problem, exc.record), caught


def _run_job(index: int) -> _Outcome:
    return _run_safely(index, _WORK[index])


def _run_given(index_job: tuple[int, _Job]) -> _Outcome:
    return _run_safely(*index_job)


def _map(jobs: list[_Job], workers: int, progress: ProgressCallback | None) -> list[_SequenceStats]:
    """Run the jobs, in a process pool when ``workers > 1``; results in job order.

    A bad file raises the same :class:`FormatError` either way (in parallel, the
    one of the first sequence in job order that has one).
    """
    total = len(jobs)
    if workers <= 1 or total < 2:
        out = []
        for done, job in enumerate(jobs, 1):
            _, st, error, caught = _run_safely(done - 1, job)
            _issue(caught)
            if error is not None:
                raise FormatError(*error)
            assert st is not None
            out.append(st)
            if progress is not None:
                progress(done, total)
        return out
    import multiprocessing

    global _WORK
    fork = "fork" in multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if fork else "spawn")
    results: list[_SequenceStats | None] = [None] * total
    errors: dict[int, tuple[str, str, str | None]] = {}
    notes: list[list[str]] = [[] for _ in jobs]
    _WORK = jobs
    try:
        with context.Pool(min(workers, total)) as pool:
            stream = (
                pool.imap_unordered(_run_job, range(total))
                if fork
                else pool.imap_unordered(_run_given, list(enumerate(jobs)))
            )
            for done, (index, st, error, caught) in enumerate(stream, 1):
                results[index] = st
                notes[index] = caught
                if error is not None:
                    errors[index] = error
                if progress is not None:
                    progress(done, total)
    finally:
        _WORK = []
    _issue([line for lines in notes for line in lines])
    if errors:
        raise FormatError(*errors[min(errors)])
    return [r for r in results if r is not None]


def _load(path: Path) -> tuple[PoseSequence, HeadFormat]:
    """One sequence file (2017 or 2018 format), and the head-size arithmetic its format implies."""
    from corrtrack.evaluate.fastread import read_for_evaluation

    return read_for_evaluation(path)


def sequence_files(gt_dir: str | Path, pred_dir: str | Path, order: FileOrder = "listing") -> list[tuple[Path, Path]]:
    """The (ground truth, prediction) file pairs: every ``*.json`` of ``gt_dir``, same name in ``pred_dir``.

    ``order="listing"`` keeps the order in which the file system lists
    ``gt_dir`` (``glob.glob``), which is what the official evaluator uses to pool
    sequences. Its AP depends on that order when joint scores tie across
    sequences (missing scores, scores rounded to few decimals), so the official
    result itself can change from one machine or copy of a folder to another;
    ``order="sorted"`` sorts by file name and gives a machine-independent result.
    """
    gt_dir, pred_dir = Path(gt_dir), Path(pred_dir)
    if order not in ("listing", "sorted"):
        raise ValueError(f"order must be 'listing' or 'sorted', got {order!r}")
    if not gt_dir.is_dir():
        raise FormatError(gt_dir, "ground-truth folder not found")
    if not pred_dir.is_dir():
        raise FormatError(pred_dir, "prediction folder not found")
    names = [os.path.basename(p) for p in glob.glob(os.path.join(glob.escape(str(gt_dir)), "*.json"))]
    if order == "sorted":
        names.sort()
    if not names:
        raise FormatError(gt_dir, "no .json sequence files in the ground-truth folder")
    pairs = []
    for name in names:
        pred_path = pred_dir / name
        if not pred_path.is_file():
            raise FormatError(pred_path, f"missing prediction file for ground-truth sequence {name}")
        pairs.append((gt_dir / name, pred_path))
    return pairs


def load_pairs(
    gt_dir: str | Path, pred_dir: str | Path, order: FileOrder = "listing"
) -> tuple[list[PoseSequence], list[PoseSequence], list]:
    """Every ``*.json`` in ``gt_dir`` with the prediction file of the same name (2017 or 2018 format each)."""
    gts, preds, sources = [], [], []
    for gt_path, pred_path in sequence_files(gt_dir, pred_dir, order):
        gts.append(_load(gt_path)[0])
        preds.append(_load(pred_path)[0])
        sources.append((str(gt_path), str(pred_path)))
    return gts, preds, sources


def evaluate_dirs(
    gt_dir: str | Path,
    pred_dir: str | Path,
    *,
    order: FileOrder = "listing",
    pose_estimation: bool = True,
    tracking: bool = True,
    hota: bool = False,
    frames: FrameSelection = "annotated",
    motp: str = "motmetrics",
    workers: int = 1,
    hota_scale: float | None = None,
    progress: ProgressCallback | None = None,
) -> EvalResult:
    """Evaluate a prediction folder against a ground-truth folder (see :func:`evaluate` and :func:`sequence_files`).

    Each sequence's files are read, evaluated and released in turn (by the
    worker processes when ``workers > 1``), so memory stays at about one
    sequence per process.
    """
    _check_options(motp, frames)
    files = sequence_files(gt_dir, pred_dir, order)
    if hota:  # keypoint HOTA needs every sequence in this process
        gts, preds, sources, formats = [], [], [], []
        notes: list[str] = []
        try:
            for gt_path, pred_path in files:
                with _collecting(notes):
                    seq, fmt = _load(gt_path)
                    preds.append(_load(pred_path)[0])
                gts.append(seq)
                formats.append(fmt)
                sources.append((str(gt_path), str(pred_path)))
        finally:
            _issue(notes)
        result = evaluate(
            gts,
            preds,
            pose_estimation=pose_estimation,
            tracking=tracking,
            hota=True,
            frames=frames,
            motp=motp,
            sources=sources,
            workers=workers,
            hota_scale=hota_scale,
            progress=progress,
            head_formats=formats,
        )
        result.warnings = notes
        return result
    jobs = [_Job(g, p, str(g), str(p), "posetrack18", frames, pose_estimation, tracking) for g, p in files]
    heavy = sum(g.stat().st_size + p.stat().st_size for g, p in files) >= _PARALLEL_MIN_BYTES
    stats = _map(jobs, workers if heavy else 1, progress)
    return _combine(stats, pose_estimation, tracking, motp)
