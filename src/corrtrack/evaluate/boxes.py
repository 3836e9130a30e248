"""Box-level tracking metrics for MOTChallenge files: MOTA, IDF1, ID switches (motmetrics) and HOTA.

Ground-truth rows with flag 0 (column 7) are ignore regions: they are not
counted, and predicted boxes that match one of them (IoU >= 0.5, Hungarian)
are removed before scoring, as the MOTChallenge evaluation does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from corrtrack.evaluate.hota import hota_sequence
from corrtrack.geometry import box_iou
from corrtrack.poses import PoseSequence

__all__ = ["evaluate_boxes", "evaluate_mot_files", "format_box_metrics"]

IOU_THRESHOLD = 0.5


def _split(gt: PoseSequence, pred: PoseSequence, t: int):
    g = gt[t].poses if t < len(gt) else None
    p = pred[t].poses if t < len(pred) else None
    g_boxes = g.boxes if g is not None else np.zeros((0, 4))
    g_ids = g.track_ids if g is not None else np.zeros(0, np.int64)
    flag = np.nan_to_num(g.scores, nan=1.0) if g is not None else np.zeros(0)
    p_boxes = p.boxes if p is not None else np.zeros((0, 4))
    p_ids = p.track_ids if p is not None else np.zeros(0, np.int64)
    ignore = flag == 0
    keep_pred = np.ones(len(p_boxes), dtype=bool)
    if ignore.any() and len(p_boxes):
        iou = box_iou(g_boxes[ignore], p_boxes)
        rows, cols = linear_sum_assignment(-iou)
        keep_pred[cols[iou[rows, cols] >= IOU_THRESHOLD]] = False
    return g_boxes[~ignore], g_ids[~ignore], p_boxes[keep_pred], p_ids[keep_pred]


def evaluate_boxes(gt: PoseSequence, pred: PoseSequence) -> dict[str, Any]:
    """CLEAR-MOT, identity and HOTA metrics of box tracks (fractions in [0, 1], counts as ints)."""
    import motmetrics as mm

    if (pred.num_persons > 0).any():
        _, flat = pred.flatten()
        if (flat.track_ids < 0).any():
            raise ValueError(f"{pred.name}: every predicted box needs a track id >= 0")
    acc = mm.MOTAccumulator(auto_id=True)
    gid, tid, sims = [], [], []
    for t in range(max(len(gt), len(pred))):
        gb, gi, pb, pi = _split(gt, pred, t)
        iou = box_iou(gb, pb)
        acc.update(gi, pi, np.where(iou >= IOU_THRESHOLD, 1 - iou, np.nan))
        gid.append(gi)
        tid.append(pi)
        sims.append(iou)
    mh = mm.metrics.create()
    names = [
        "mota",
        "motp",
        "idf1",
        "idp",
        "idr",
        "num_switches",
        "num_misses",
        "num_false_positives",
        "num_objects",
        "num_matches",
        "precision",
        "recall",
        "mostly_tracked",
        "mostly_lost",
        "num_unique_objects",
    ]
    summary = mh.compute(acc, metrics=names, name=gt.name, return_dataframe=False)
    out: dict[str, Any] = {k: (float(v) if isinstance(v, float) else int(v)) for k, v in summary.items()}
    out["motp"] = 1 - out["motp"]  # motmetrics reports the mean distance (1 - IoU); MOTChallenge the mean IoU
    h = hota_sequence(gid, tid, sims)
    out.update(
        hota=float(h.hota.mean()), deta=float(h.deta.mean()), assa=float(h.assa.mean()), loca=float(h.loca.mean())
    )
    return out


def evaluate_mot_files(gt_path: str | Path, pred_path: str | Path) -> dict[str, Any]:
    """Box metrics of a MOTChallenge tracking result against a MOTChallenge ground truth file.

    A prediction row without an identity (track id -1, as in a MOTChallenge ``det.txt``)
    is refused with a :class:`FormatError` naming the prediction file: detections are not
    tracks.
    """
    from corrtrack.errors import FormatError
    from corrtrack.formats import read_mot

    gt = read_mot(gt_path)
    pred = read_mot(pred_path, num_frames=max(len(gt), 0) or None) if Path(pred_path).exists() else read_mot(pred_path)
    for t, frame in enumerate(pred.frames):
        if len(frame.poses) and (frame.poses.track_ids < 0).any():
            raise FormatError(
                pred_path,
                f"frame {t + 1} has a box with track id -1 (no identity): this is a detection file, "
                "not tracking results; every predicted box needs a track id >= 0",
            )
    return evaluate_boxes(gt, pred)


def format_box_metrics(m: dict[str, Any]) -> str:
    head = f"{'MOTA':>6} {'IDF1':>6} {'HOTA':>6} {'DetA':>6} {'AssA':>6} {'MOTP':>6} {'IDSW':>5} {'FP':>6} {'FN':>6}"
    row = (
        f"{100 * m['mota']:6.1f} {100 * m['idf1']:6.1f} {100 * m['hota']:6.1f} {100 * m['deta']:6.1f} "
        f"{100 * m['assa']:6.1f} {100 * m['motp']:6.1f} {m['num_switches']:5d} {m['num_false_positives']:6d} "
        f"{m['num_misses']:6d}"
    )
    return head + "\n" + row
