"""Figures like the paper's (issue 12 point 8): recovered missed detections (Fig. 4) and duplicates (Fig. 3).

Usage: python benchmarks/paper_figures.py [--out docs] [--clips 3] [--frames 60] [--seed 2]
       [--correspondences oracle|network|flow] [--panels 4]

SynthTrack ``hard`` val clips (640x360, rendered in memory), detections from the simulated
detector (``corrtrack.synth.simulate_detections`` with poses: it misses occluded people over
runs of frames, reports some people twice, jitters joints), the CorrTrack tracker with the
bundled pose net for re-estimation (on the real frame pixels) and, by default, the oracle
correspondences of ``corrtrack.testing`` (ground-truth propagation: the bundled correspondence
net is undertrained, docs/results.md; ``--correspondences network`` uses it instead).

``fig4-recovery.png``: frames where the detector missed a person (no detection on a ground-truth
person, box IoU < 0.5) and the tracker brought them back (an output pose marked ``recovered``
that matches that person). Detections in cyan, the recovered person in magenta, the joints
propagated from the previous frame (where the recovery box came from) as yellow crosses.

``fig3-duplicates.png``: frames where duplicate removal dropped a detection. The tracker counts
duplicates per frame but does not say which pose it dropped, and comparing its input with its
output cannot tell a duplicate from a detection that recovery's pose NMS replaced (nor show the
recovered poses it dropped), so ``LoggingTracker`` records the association step's result
unchanged. A removed pose is an unassigned candidate that duplicates the best pose of some track;
the kept pose drawn with it is the assigned candidate most similar to it (highest OKS). Kept pose
in green, removed one in red; each removal is judged against the ground truth: "same person, kept
the better" / "same person, kept the worse" (by OKS with that person) / "failure: another, real
person removed" (the removed pose fits a different person whom no output pose covers: the paper's
Fig. 3 failure mode, people close together) / "removed pose fits nobody" / "recovered pose removed".
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from corrtrack.fileio import atomic_path
from corrtrack.geometry import box_iou
from corrtrack.interfaces import CorrespondenceModel, PoseEstimator
from corrtrack.keypoints import POSETRACK18
from corrtrack.poses import Poses, PoseSequence
from corrtrack.render import image_grid
from corrtrack.tracking.association import oks_matrix
from corrtrack.tracking.corrtrack_tracker import CorrTrackConfig, CorrTrackTracker

CYAN = (0, 220, 255)
MAGENTA = (255, 0, 200)
YELLOW = (255, 240, 0)
GREEN = (40, 230, 40)
RED = (255, 40, 40)
WHITE = (255, 255, 255)
SKELETON = POSETRACK18.skeleton_index
SIGMAS = POSETRACK18.sigma_array
MAX_BYTES = 400_000
SHORT = {
    "same person, kept the better": "duplicate, the better pose kept",
    "same person, kept the worse": "duplicate, the worse pose kept",
    "failure: another, real person removed": "FAILURE: a real person removed",
    "removed pose fits nobody": "removed pose fits nobody",
    "recovered pose removed": "recovered pose removed",
}


# ------------------------------------------------------------------------------------ data
@dataclass
class FrameLog:
    """What one tracker step saw and gave."""

    t: int
    detections: Poses  # the input of step()
    output: Poses  # what step() returned
    duplicates: int  # duplicate-removal count of this frame
    #: the association's candidates (xy, conf), their track ids and the duplicate mask (None: no association ran)
    association: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None
    propagated: dict[int, np.ndarray] = field(default_factory=dict)  # track id -> (17, 3) propagated from t-1


@dataclass
class ClipRun:
    name: str
    images: list[np.ndarray]
    gt: PoseSequence
    frames: list[FrameLog]


def make_clip(index: int, frames: int, seed: int) -> tuple[str, list[np.ndarray], PoseSequence, PoseSequence]:
    """A ``hard`` val clip rendered in memory, with simulated detections (poses included)."""
    from corrtrack.synth import SimulatedDetectorConfig, make_specs, render_sequence, simulate_detections

    spec = make_specs("val", ["hard"], index + 1, frames, seed, "all")[index]
    r = render_sequence(spec)
    det = simulate_detections(r.sequence, SimulatedDetectorConfig(with_poses=True), seed + index, r.distractors)
    return spec.name, r.images, r.sequence, det


def make_correspondences(name: str, gt: PoseSequence, images: Sequence[np.ndarray]) -> CorrespondenceModel:
    if name == "oracle":
        from corrtrack.testing import OracleCorrespondences

        return OracleCorrespondences(gt, images)
    if name == "flow":
        from corrtrack.inference.flow_correspondences import FlowCorrespondences

        return FlowCorrespondences()
    from corrtrack.inference.correspondences import NetworkCorrespondences

    return NetworkCorrespondences.from_bundled()


class LoggingTracker(CorrTrackTracker):
    """``CorrTrackTracker`` that keeps, per frame, the association's candidates, ids and duplicate mask.

    The tracker counts duplicates but does not expose which poses it dropped; comparing its input
    and output cannot tell them apart from poses dropped by recovery's pose NMS, and dropped
    recovered poses are never seen outside. So this subclass wraps the (private) association step
    and records its result unchanged; nothing in the tracking is altered.
    """

    last_association: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def _associate(
        self, prev: Poses, pxy: np.ndarray, pconf: np.ndarray, c_xy: np.ndarray, c_conf: np.ndarray, w: int, h: int
    ) -> tuple[np.ndarray, np.ndarray]:
        ids, drop = super()._associate(prev, pxy, pconf, c_xy, c_conf, w, h)
        cfg = self.config
        enough = ((c_conf >= cfg.tau_joint) & (c_conf > 0)).sum(-1) >= cfg.min_joints
        self.last_association = (c_xy.copy(), c_conf.copy(), ids.copy(), drop & enough)
        return ids, drop


def run_clip(
    name: str,
    images: list[np.ndarray],
    gt: PoseSequence,
    det: PoseSequence,
    model: CorrespondenceModel,
    estimator: PoseEstimator,
    config: CorrTrackConfig = CorrTrackConfig(),
) -> ClipRun:
    """Run the tracker frame by frame and log inputs, outputs, duplicate counts and propagated poses."""
    tracker = LoggingTracker(model, estimator, config)
    logs: list[FrameLog] = []
    prev_handle, prev_out = None, Poses.empty(17)
    for t, (img, fr) in enumerate(zip(images, det.frames)):
        before = tracker.counts["duplicates"]
        tracker.last_association = None
        out = tracker.step(t, img, fr.poses)
        log = FrameLog(t, fr.poses, out, tracker.counts["duplicates"] - before, tracker.last_association)
        handle = model.embed(img)  # the tracker's handles are private: embed again (cheap for the oracle)
        recovered_ids = [int(i) for i, e in zip(out.track_ids, out.extras) if e.get("recovered")]
        if prev_handle is not None and recovered_ids and len(prev_out):
            rows = [int(np.flatnonzero(prev_out.track_ids == i)[0]) for i in recovered_ids if i in prev_out.track_ids]
            if rows:
                src = prev_out[rows]
                ok = src.present & (src.confidences >= config.tau_joint)
                prop = model.propagate(prev_handle, handle, np.where(ok[..., None], src.xy, np.nan))
                for r, p in zip(rows, prop):
                    log.propagated[int(prev_out.track_ids[r])] = p
        logs.append(log)
        prev_handle, prev_out = handle, out
    return ClipRun(name, images, gt, logs)


# ------------------------------------------------------------------------------------ events
def _xy_conf(p: Poses) -> tuple[np.ndarray, np.ndarray]:
    ok = p.present & np.isfinite(p.xy).all(-1)
    conf = np.where(ok, np.nan_to_num(p.confidences, nan=1.0), 0.0)
    return np.where(ok[..., None], p.xy, 0.0), conf


def oks(a: Poses, b: Poses) -> np.ndarray:
    """(len(a), len(b)) tracking OKS (joints above 0.1 in both)."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    ax, ac = _xy_conf(a)
    bx, bc = _xy_conf(b)
    return oks_matrix(ax, ac, bx, bc, 0.1, SIGMAS)


@dataclass
class Recovery:
    clip: ClipRun
    t: int
    row: int  # output row of the recovered pose
    track_id: int
    oks_gt: float  # OKS of the recovered pose with the missed ground-truth person


def find_recoveries(run: ClipRun, min_oks: float = 0.5) -> list[Recovery]:
    """Output poses marked recovered that match a ground-truth person no detection covered."""
    events = []
    for log in run.frames:
        out, gt = log.output, run.gt.frames[log.t].poses
        rec = [i for i, e in enumerate(out.extras) if e.get("recovered")]
        if not rec or not len(gt):
            continue
        gt_boxes = gt.box_or_keypoint_box()
        det_boxes = log.detections.box_or_keypoint_box()
        iou = box_iou(gt_boxes, det_boxes) if len(det_boxes) else np.zeros((len(gt), 0))
        covered = np.count_nonzero(iou >= 0.5, axis=1) > 0
        s = oks(out[rec], gt)
        for j, i in enumerate(rec):
            g = int(s[j].argmax())
            tid = int(out.track_ids[i])
            if s[j, g] >= min_oks and not covered[g] and tid in log.propagated:
                events.append(Recovery(run, log.t, i, tid, float(s[j, g])))
    return events


@dataclass
class Duplicate:
    clip: ClipRun
    t: int
    removed: Poses  # the candidate duplicate removal dropped
    kept: Poses  # the candidate that kept the track both were matched to
    verdict: str
    oks_removed: float  # with the ground-truth person of the kept pose
    oks_kept: float


def _as_poses(xy: np.ndarray, conf: np.ndarray) -> Poses:
    kps = np.concatenate([xy, (conf > 0)[..., None].astype(float)], -1)
    return Poses.create(np.where((conf > 0)[..., None], kps, 0.0), keypoint_scores=conf)


def find_duplicates(run: ClipRun) -> list[Duplicate]:
    """Every duplicate removal, judged against the ground truth (module docstring)."""
    events = []
    for log in run.frames:
        if log.association is None or not log.association[3].any():
            continue
        c_xy, c_conf, ids, dup = log.association
        gt = run.gt.frames[log.t].poses
        g_xy, g_conf = _xy_conf(gt)
        det_xy = _xy_conf(log.detections)[0]
        out_xy, out_conf = _xy_conf(log.output)
        assigned = np.flatnonzero(ids >= 0)
        if not len(gt) or not len(assigned):
            continue
        for r in np.flatnonzero(dup).tolist():
            near = oks_matrix(c_xy[[r]], c_conf[[r]], c_xy[assigned], c_conf[assigned], 0.1, SIGMAS)[0]
            k = int(assigned[near.argmax()])
            s = oks_matrix(c_xy[[k, r]], c_conf[[k, r]], g_xy, g_conf, 0.1, SIGMAS)
            g_kept, g_rem = int(s[0].argmax()), int(s[1].argmax())
            from_detector = bool(np.isclose(det_xy, c_xy[r]).all((1, 2)).any()) if len(det_xy) else False
            covered = len(out_xy) and oks_matrix(out_xy, out_conf, g_xy[[g_rem]], g_conf[[g_rem]], 0.1, SIGMAS).max()
            kept_recovered = not (len(det_xy) and np.isclose(det_xy, c_xy[k]).all((1, 2)).any())
            if not from_detector:
                verdict = "recovered pose removed"
            elif g_rem != g_kept and s[1, g_rem] >= 0.5 and covered < 0.5:
                verdict = "failure: another, real person removed"
            elif s[1, g_rem] < 0.3:
                verdict = "removed pose fits nobody"
            elif s[0, g_kept] >= s[1, g_kept]:
                verdict = "same person, kept the better"
            else:
                verdict = "same person, kept the worse"
            if from_detector and kept_recovered:
                verdict += " (kept: a recovered pose)"
            kept, removed = _as_poses(c_xy[[k]], c_conf[[k]]), _as_poses(c_xy[[r]], c_conf[[r]])
            events.append(Duplicate(run, log.t, removed, kept, verdict, float(s[1, g_kept]), float(s[0, g_kept])))
    return events


# ------------------------------------------------------------------------------------ drawing
def draw_pose(img: np.ndarray, p: Poses, color: tuple[int, int, int], thickness: int, box: bool = True) -> None:
    """Skeletons (and boxes) of ``p`` in one colour, drawn in place."""
    xy, conf = _xy_conf(p)
    valid = conf > 0.1
    pts = np.round(xy).astype(int)
    boxes = p.box_or_keypoint_box()
    for i in range(len(p)):
        for a, b in SKELETON:
            if valid[i, a] and valid[i, b]:
                cv2.line(img, tuple(pts[i, a].tolist()), tuple(pts[i, b].tolist()), color, thickness, cv2.LINE_AA)
        for x, y in pts[i, valid[i]].tolist():
            cv2.circle(img, (x, y), thickness + 1, color, -1, cv2.LINE_AA)
        if box and np.isfinite(boxes[i]).all():
            x, y, w, h = boxes[i]
            cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), color, 1, cv2.LINE_AA)


def draw_crosses(img: np.ndarray, points: np.ndarray, color: tuple[int, int, int], size: int = 4) -> None:
    """``points`` (K, 3) x, y, confidence; crosses where the confidence is above 0.1."""
    for x, y, c in points.tolist():
        if c > 0.1 and np.isfinite([x, y]).all():
            x, y = round(x), round(y)
            cv2.line(img, (x - size, y - size), (x + size, y + size), color, 2, cv2.LINE_AA)
            cv2.line(img, (x - size, y + size), (x + size, y - size), color, 2, cv2.LINE_AA)


def crop_around(img: np.ndarray, boxes: np.ndarray, scale: float = 1.7, aspect: float = 16 / 9) -> np.ndarray:
    """A 16:9 crop around the union of ``boxes`` (at least a third of the frame), clipped to the image."""
    h, w = img.shape[:2]
    x0, y0 = np.nanmin(boxes[:, 0]), np.nanmin(boxes[:, 1])
    x1, y1 = np.nanmax(boxes[:, 0] + boxes[:, 2]), np.nanmax(boxes[:, 1] + boxes[:, 3])
    ch = min(h, max((y1 - y0) * scale, (x1 - x0) * scale / aspect, h / 3))
    cw = min(w, ch * aspect)
    cx = np.clip((x0 + x1) / 2 - cw / 2, 0, w - cw)
    cy = np.clip((y0 + y1) / 2 - ch / 2, 0, h - ch)
    return img[int(cy) : int(cy + ch), int(cx) : int(cx + cw)]


def legend(img: np.ndarray, items: Sequence[tuple[str, tuple[int, int, int]]]) -> np.ndarray:
    """A strip under ``img`` naming each colour."""
    strip = np.full((22, img.shape[1], 3), 30, np.uint8)
    x = 6
    for text, color in items:
        cv2.rectangle(strip, (x, 7), (x + 12, 17), color, -1)
        cv2.putText(strip, text, (x + 16, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, WHITE, 1, cv2.LINE_AA)
        x += 26 + cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.42, 1)[0][0]
    return np.concatenate([img, strip])


def recovery_panel(ev: Recovery) -> np.ndarray:
    log = ev.clip.frames[ev.t]
    img = ev.clip.images[ev.t].copy()
    rec = log.output[[ev.row]]
    draw_pose(img, log.detections, CYAN, 1)
    draw_pose(img, rec, MAGENTA, 2)
    draw_crosses(img, log.propagated[ev.track_id], YELLOW)
    return crop_around(img, rec.box_or_keypoint_box())


def duplicate_panel(ev: Duplicate) -> np.ndarray:
    img = ev.clip.images[ev.t].copy()
    draw_pose(img, ev.kept, GREEN, 2)
    draw_pose(img, ev.removed, RED, 1)
    return crop_around(img, np.concatenate([ev.kept.box_or_keypoint_box(), ev.removed.box_or_keypoint_box()]))


def pick_spread(events: list, count: int) -> list:
    """Up to ``count`` events, one per clip first, then more from frames at least 10 apart (input order kept)."""
    chosen: list = []
    for per_clip in (True, False):
        for ev in events:
            if len(chosen) >= count:
                return chosen
            taken = [c for c in chosen if c.clip is ev.clip]
            if ev in chosen or (per_clip and taken) or any(abs(c.t - ev.t) < 10 for c in taken):
                continue
            chosen.append(ev)
    return chosen


def write_figure(path: Path, panels: list[np.ndarray], titles: list[str], keys: list, cell_width: int = 480) -> int:
    """A grid of panels with a colour legend; smaller cells until the PNG is under ``MAX_BYTES``."""
    while True:
        grid = image_grid(panels, cols=2 if len(panels) > 1 else 1, titles=titles, cell_width=cell_width)
        image = cv2.cvtColor(legend(grid, keys), cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not ok:
            raise RuntimeError("cannot encode PNG")
        if len(buf) <= MAX_BYTES or cell_width <= 240:
            break
        cell_width -= 40
    with atomic_path(path) as tmp:
        buf.tofile(str(tmp))
    return path.stat().st_size


# ------------------------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs"))
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--correspondences", choices=["oracle", "network", "flow"], default="oracle")
    ap.add_argument("--panels", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    from corrtrack.inference.pose_estimator import TopDownPoseEstimator

    torch.set_num_threads(args.threads)
    estimator = TopDownPoseEstimator.from_bundled()
    config = CorrTrackConfig()
    recoveries: list[Recovery] = []
    duplicates: list[Duplicate] = []
    for i in range(args.clips):
        name, images, gt, det = make_clip(i, args.frames, args.seed)
        run = run_clip(name, images, gt, det, make_correspondences(args.correspondences, gt, images), estimator, config)
        rec, dup = find_recoveries(run), find_duplicates(run)
        recovered = sum(sum(bool(e.get("recovered")) for e in f.output.extras) for f in run.frames)
        print(
            f"{name}: {len(images)} frames, {recovered} recovered poses, {len(rec)} of them on a missed "
            f"ground-truth person; {sum(f.duplicates for f in run.frames)} duplicates removed, {len(dup)} identified"
        )
        recoveries += sorted(rec, key=lambda e: -e.oks_gt)
        duplicates += dup
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = pick_spread(recoveries, args.panels)
    if chosen:
        titles = [f"{e.clip.name[:6]} t={e.t}: missed by the detector, recovered" for e in chosen]
        keys = [("detections", CYAN), ("recovered person", MAGENTA), ("propagated joints", YELLOW)]
        size = write_figure(args.out / "fig4-recovery.png", [recovery_panel(e) for e in chosen], titles, keys)
        print(f"wrote {args.out / 'fig4-recovery.png'} ({size} bytes, {len(chosen)} panels)")
    else:
        print("no recovery of a missed person found: fig4-recovery.png not written")
    failures = [d for d in duplicates if d.verdict.startswith("failure")]
    worse = [d for d in duplicates if "kept the worse" in d.verdict]
    better = [d for d in duplicates if "kept the better" in d.verdict]
    verdicts = Counter(d.verdict for d in duplicates)
    print(f"duplicate removals ({len(duplicates)}): " + "; ".join(f"{k}: {v}" for k, v in verdicts.most_common()))
    chosen_d = pick_spread(better, max(1, args.panels - min(2, len(failures) + len(worse))))
    chosen_d += pick_spread(failures, 1) + pick_spread(worse, 1)
    chosen_d = chosen_d[: args.panels]
    if chosen_d:
        titles = [f"{e.clip.name[:6]} t={e.t}: {SHORT[e.verdict.split(' (')[0]]}" for e in chosen_d]
        for e in chosen_d:
            print(
                f"  {e.clip.name} t={e.t}: {e.verdict}; OKS with the person: "
                f"kept {e.oks_kept:.2f}, removed {e.oks_removed:.2f}"
            )
        keys = [("kept", GREEN), ("removed as duplicate", RED)]
        size = write_figure(args.out / "fig3-duplicates.png", [duplicate_panel(e) for e in chosen_d], titles, keys)
        print(f"wrote {args.out / 'fig3-duplicates.png'} ({size} bytes, {len(chosen_d)} panels)")
    else:
        print("no identified duplicate removal: fig3-duplicates.png not written")


if __name__ == "__main__":
    main()
