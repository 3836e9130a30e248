"""CLEAR-MOT events of PoseTrack pose tracking, exactly as motmetrics' ``MOTAccumulator`` makes them.

The official evaluator feeds one motmetrics accumulator per joint and sequence,
frame by frame (docs/method.md §7, MOTA). This module computes the same events
for all 15 joints of a frame at once, from the rules of ``MOTAccumulator.update``
(py-motmetrics 1.4.0, the version the official numbers come from):

1. Every in-threshold (object, hypothesis) distance is a RAW event; its distance
   counts in the official MOTP.
2. An object keeps last frame's hypothesis if that hypothesis is present, not
   yet taken this frame, and within the threshold. Objects are visited in order,
   so when two objects last matched the same hypothesis the first one keeps it.
3. The remaining objects and hypotheses get a minimum-cost assignment. A match
   with a hypothesis other than the object's last one is a SWITCH (else a MATCH),
   plus an ASCEND event when the hypothesis was never matched before; a match of
   a hypothesis whose last object differs is a TRANSFER, plus a MIGRATE event
   when the object was never matched before. Those extra events carry the
   distance too, so they count in the official MOTP.
4. Unmatched objects are MISSes, unmatched hypotheses FPs.

Step 3's assignment is unique when no object and no hypothesis has two
candidates left; then every candidate pair is matched. Only otherwise the
matrix motmetrics builds (NaN = cannot match) goes to SciPy's solver the way
motmetrics passes it, so ties are broken identically. A frame whose ground
truth repeats a track id (never the case in real data) is handed to motmetrics
itself, as its dictionaries make the outcome depend on visiting order (and
motmetrics can crash on it: then a clear error says so).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corrtrack.errors import FormatError
from corrtrack.evaluate.posetrack import PCKH_THRESHOLD, MOTCounts, PairTable, sequence_pairs
from corrtrack.evaluate.prepare import NUM_JOINTS, SequenceArrays

__all__ = ["MotEvent", "mot_counts", "mot_events", "motmetrics_counts", "motmetrics_events"]

#: one event: (fed frame index, joint, type, object id or None, hypothesis id or None, distance or NaN)
MotEvent = tuple[int, int, str, "int | None", "int | None", float]

_ASCEND, _TRANSFER, _MIGRATE = 1, 2, 4


@dataclass
class _Entries:
    """The in-threshold candidate pairs of the fed frames, ordered by frame, joint, GT row, prediction row."""

    frame: np.ndarray
    joint: np.ndarray
    gt: np.ndarray  # ground-truth row in SequenceArrays
    pr: np.ndarray  # prediction row
    dist: np.ndarray
    kind: np.ndarray  # 0 not matched, 1 MATCH, 2 SWITCH
    extra: np.ndarray  # the extra rows of a match: bits _ASCEND, _TRANSFER, _MIGRATE
    kept: np.ndarray  # bool: a MATCH that continues last frame's pair (step 1, before the assignment's events)
    fed: int  # frames fed to the accumulators (all kept frames but the last)
    dummy: np.ndarray  # (fed,) bool: frame fed as one dummy object and one dummy hypothesis (quirk B)


def _repeated_gt_id(seq: SequenceArrays, fed: int) -> tuple[int, int] | None:
    """(frame, track id) of the first fed frame whose ground truth repeats a track id, if any."""
    rows = int(seq.gt_start[fed])
    if rows < 2:
        return None
    frame = np.repeat(np.arange(fed), np.diff(seq.gt_start[: fed + 1]))
    order = np.lexsort((seq.gt_ids[:rows], frame))
    ids, frame = seq.gt_ids[:rows][order], frame[order]
    same = np.flatnonzero((ids[1:] == ids[:-1]) & (frame[1:] == frame[:-1]))
    return (int(frame[same[0]]), int(ids[same[0]])) if len(same) else None


def _motmetrics_fallback(seq: SequenceArrays, fn: Callable[[], Any]) -> Any:
    """Run motmetrics itself; where it crashes on a repeated ground-truth id, say so in one line."""
    try:
        return fn()
    except KeyError:
        f, tid = _repeated_gt_id(seq, seq.num_frames - 1) or (0, -1)
        problem = (
            f"ground-truth track_id {tid} appears twice in one frame, which makes the official evaluator's "
            "MOT accounting (motmetrics) crash on this sequence"
        )
        raise FormatError(seq.name, problem, f"kept frame {f} ({seq.file_names[f]})") from None


_LSA: Callable[[np.ndarray], Any] | None = None


def linear_sum_assignment_solver() -> Callable[[np.ndarray], Any]:
    """SciPy's ``linear_sum_assignment`` (the solver motmetrics picks here), imported cheaply.

    ``scipy.optimize`` takes about 0.6 s to import, more than the whole CLEAR-MOT
    accumulation; the solver itself is the C function of its ``_lsap`` extension
    (``scipy.optimize.linear_sum_assignment`` is that very function), which loads
    in milliseconds. If that file cannot be loaded, the ordinary import is used.
    """
    global _LSA
    if _LSA is not None:
        return _LSA
    loaded = sys.modules.get("scipy.optimize")
    if loaded is not None:
        _LSA = loaded.linear_sum_assignment
        return _LSA
    try:
        import importlib.machinery
        import importlib.util

        import scipy

        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(scipy.__path__[0]) / "optimize" / f"_lsap{suffix}"
            if path.is_file():
                loader = importlib.machinery.ExtensionFileLoader("scipy.optimize._lsap", str(path))
                spec = importlib.util.spec_from_file_location("scipy.optimize._lsap", path, loader=loader)
                if spec is not None:
                    module = importlib.util.module_from_spec(spec)
                    loader.exec_module(module)
                    _LSA = module.linear_sum_assignment
                    return _LSA
    except Exception:  # any trouble: fall back to the documented import
        pass
    from scipy.optimize import linear_sum_assignment

    _LSA = linear_sum_assignment
    return _LSA


def _solve(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """motmetrics' ``linear_sum_assignment`` with its SciPy solver: NaN entries cannot be matched.

    Invalid entries become one large constant (``2 * min(shape) * (max |valid| + 1) + 1``)
    so the solver maximises the number of valid matches first; pairs on invalid
    entries are dropped afterwards.
    """
    linear_sum_assignment = linear_sum_assignment_solver()
    valid = np.isfinite(cost)
    if not valid.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if valid.all():
        finite = cost.copy()
    else:
        large = 2 * min(cost.shape) * (np.abs(cost[valid]).max() + 1) + 1
        finite = np.where(valid, cost, large)
    rows, cols = linear_sum_assignment(finite)
    keep = valid[rows, cols]
    return rows[keep].astype(np.int64), cols[keep].astype(np.int64)


def _accumulate(seq: SequenceArrays, pairs: PairTable) -> _Entries:
    """Run the accumulator rules over the fed frames of one sequence, all joints of a frame together."""
    fed = seq.num_frames - 1
    num_pr = np.diff(seq.pr_start)[:fed]
    num_gt = np.diff(seq.gt_start)[:fed]
    dummy = (num_pr == 0) | (num_gt == 0)
    end = int(pairs.start[fed])
    pi, joint = np.nonzero(pairs.dist[:end] <= PCKH_THRESHOLD)
    frame, gt, pr = pairs.frame[pi], pairs.gt[pi], pairs.pr[pi]
    order = np.lexsort((pr, gt, joint, frame))
    frame, joint, gt, pr = frame[order], joint[order], gt[order], pr[order]
    dist = pairs.dist[pi[order], joint]
    kind = np.zeros(len(frame), dtype=np.int8)
    extra = np.zeros(len(frame), dtype=np.int8)
    kept = np.zeros(len(frame), dtype=bool)
    # compact ids: state arrays indexed (joint, id)
    o_ids, obj = np.unique(seq.gt_ids, return_inverse=True)
    h_ids, hyp = np.unique(seq.pr_ids, return_inverse=True)
    obj, hyp = obj.ravel()[gt], hyp.ravel()[pr]
    last_hyp = np.full((NUM_JOINTS, len(o_ids)), -1, dtype=np.int64)  # motmetrics' m: object -> hypothesis
    last_obj = np.full((NUM_JOINTS, len(h_ids)), -1, dtype=np.int64)  # res_m: hypothesis -> object
    obj_matched = np.zeros((NUM_JOINTS, len(o_ids)), dtype=bool)  # last_match has the object
    hyp_matched = np.zeros((NUM_JOINTS, len(h_ids)), dtype=bool)  # hypHistory has the hypothesis
    bounds = np.searchsorted(frame, np.arange(fed + 1))
    for f in np.flatnonzero(bounds[1:] > bounds[:-1]).tolist():
        a, b = int(bounds[f]), int(bounds[f + 1])
        j, o, h = joint[a:b], obj[a:b], hyp[a:b]
        prev = last_hyp[j, o]
        # 1. continue last frame's pairs; among objects that last had the same hypothesis the first one keeps it
        keep = np.flatnonzero(prev == h)
        if len(keep) > 1:
            first = np.unique(j[keep] * len(h_ids) + h[keep], return_index=True)[1]
            if len(first) < len(keep):
                keep = keep[np.sort(first)]
        if len(keep):
            kind[a + keep] = 1
            kept[a + keep] = True
            obj_matched[j[keep], o[keep]] = True
            hyp_matched[j[keep], h[keep]] = True
            if len(keep) == b - a:
                continue
            g0, p0 = int(seq.gt_start[f]), int(seq.pr_start[f])
            width_g, width_p = int(seq.gt_start[f + 1]) - g0, int(seq.pr_start[f + 1]) - p0
            gl, pl = gt[a:b] - g0, pr[a:b] - p0
            row_taken = np.zeros((NUM_JOINTS, width_g), dtype=bool)
            col_taken = np.zeros((NUM_JOINTS, width_p), dtype=bool)
            row_taken[j[keep], gl[keep]] = True
            col_taken[j[keep], pl[keep]] = True
            rest = np.flatnonzero(~row_taken[j, gl] & ~col_taken[j, pl])
        else:
            rest = np.arange(b - a)
        if len(rest) == 0:
            continue
        # 2. minimum-cost assignment on the rest; unique when no row or column has two candidates
        rj, ro, rh = j[rest], o[rest], h[rest]
        row_key = rj * len(o_ids) + ro
        col_key = rj * len(h_ids) + rh
        crowded = np.zeros(len(rest), dtype=bool)
        if len(rest) > 1:
            for key in (row_key, col_key):
                srt = np.sort(key)
                dup = srt[1:][srt[1:] == srt[:-1]]
                if len(dup):
                    crowded |= np.isin(key, dup)
        if crowded.any():
            hard = np.isin(rj, np.unique(rj[crowded]))
            won = [rest[~hard]]
            for jj in np.unique(rj[hard]):
                won.append(_solve_joint(seq, f, int(jj), a, rest[rj == jj], gt, pr, dist))
            matched = np.concatenate(won)
        else:
            matched = rest
        mj, mo, mh = j[matched], o[matched], h[matched]
        before = last_hyp[mj, mo]
        switch = (before >= 0) & (before != mh)
        ascend = switch & ~hyp_matched[mj, mh]
        prev_obj = last_obj[mj, mh]
        transfer = (prev_obj >= 0) & (prev_obj != mo)
        migrate = transfer & ~obj_matched[mj, mo]
        kind[a + matched] = 1 + switch
        extra[a + matched] = ascend * _ASCEND + transfer * _TRANSFER + migrate * _MIGRATE
        last_hyp[mj, mo] = mh
        last_obj[mj, mh] = mo
        obj_matched[mj, mo] = True
        hyp_matched[mj, mh] = True
    return _Entries(frame, joint, gt, pr, dist, kind, extra, kept, fed, dummy)


def _solve_joint(
    seq: SequenceArrays,
    f: int,
    j: int,
    a: int,
    cand: np.ndarray,
    gt: np.ndarray,
    pr: np.ndarray,
    dist: np.ndarray,
) -> np.ndarray:
    """The matched candidates (frame-local entry indices) of joint ``j``, via the matrix motmetrics builds.

    Its rows are the frame's GT persons with the joint, its columns the predicted
    persons with the joint, in file order; only the remaining candidates are finite.
    """
    g0, g1, p0, p1 = seq.gt_start[f], seq.gt_start[f + 1], seq.pr_start[f], seq.pr_start[f + 1]
    rows = np.flatnonzero(seq.gt_has[g0:g1, j])
    cols = np.flatnonzero(seq.pr_has[p0:p1, j])
    r = np.searchsorted(rows, gt[a + cand] - g0)
    c = np.searchsorted(cols, pr[a + cand] - p0)
    cost = np.full((len(rows), len(cols)), np.nan)
    cost[r, c] = dist[a + cand]
    entry = np.full(cost.shape, -1, dtype=np.int64)
    entry[r, c] = cand
    rr, cc = _solve(cost)
    return entry[rr, cc]


def mot_counts(seq: SequenceArrays, pairs: PairTable | None = None) -> MOTCounts:
    """CLEAR-MOT counts of one sequence, one accumulator per joint, as the official evaluator gets them.

    The last kept frame is skipped and a frame with no prediction (or no GT
    left) counts as one dummy object and one dummy hypothesis per joint
    (docs/method.md §7, MOTA).
    """
    counts = MOTCounts()
    if seq.num_frames < 2:
        return counts
    if _repeated_gt_id(seq, seq.num_frames - 1) is not None:
        return _motmetrics_fallback(seq, lambda: motmetrics_counts(seq, pairs))
    pairs = pairs if pairs is not None else sequence_pairs(seq)
    e = _accumulate(seq, pairs)
    real = np.zeros(seq.num_frames, dtype=bool)
    real[: e.fed] = ~e.dummy
    gt_rows = real[np.repeat(np.arange(seq.num_frames), np.diff(seq.gt_start))]
    pr_rows = real[np.repeat(np.arange(seq.num_frames), np.diff(seq.pr_start))]
    objects = seq.gt_has[gt_rows].sum(0)
    hypotheses = seq.pr_has[pr_rows].sum(0)
    n_dummy = int(e.dummy.sum())

    def per_joint(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        w = None if weights is None else weights[mask]
        return np.bincount(e.joint[mask], weights=w, minlength=NUM_JOINTS)

    counts.matches = per_joint(e.kind == 1).astype(np.int64)
    counts.switches = per_joint(e.kind == 2).astype(np.int64)
    detected = counts.matches + counts.switches
    counts.num_gt = (objects + n_dummy).astype(np.int64)
    counts.misses = (objects - detected + n_dummy).astype(np.int64)
    counts.false_positives = (hypotheses - detected + n_dummy).astype(np.int64)
    counts.sum_d_events = _event_distance_sums(seq, e)
    counts.sum_d_matches = per_joint(e.kind > 0, e.dist)
    return counts


def _event_distance_sums(seq: SequenceArrays, e: _Entries) -> np.ndarray:
    """Per joint, ``acc.events['D'].sum()`` of the official evaluator's accumulator, to the last bit.

    pandas sums the distance column with NaN as 0 by numpy's pairwise summation,
    whose grouping depends on every row's position. So the column is rebuilt in
    motmetrics' row order, per fed frame: one RAW row; a RAW row per in-threshold
    pair (GT-major, file order); a RAW row per person without any; the MATCH rows
    of continued pairs (GT order); the assignment's matches in GT order, each with
    its ASCEND / MIGRATE / TRANSFER rows; a MISS row per unmatched object and an FP
    row per unmatched hypothesis. A dummy frame has 5 rows without a distance.
    """
    fed, num_entries = e.fed, len(e.frame)
    shape = (fed, NUM_JOINTS)
    frame_of_gt = np.repeat(np.arange(seq.num_frames), np.diff(seq.gt_start))
    frame_of_pr = np.repeat(np.arange(seq.num_frames), np.diff(seq.pr_start))

    def grid(frames: np.ndarray, has: np.ndarray) -> np.ndarray:  # (fed, 15): persons with the joint per frame
        sel = frames < fed
        out = np.zeros(shape, dtype=np.int64)
        np.add.at(out, frames[sel], has[sel].astype(np.int64))
        return out

    n_o, n_h = grid(frame_of_gt, seq.gt_has), grid(frame_of_pr, seq.pr_has)
    key = e.frame * NUM_JOINTS + e.joint  # entries are sorted by this key, then GT row, then prediction row
    cells = fed * NUM_JOINTS
    n_fin = np.bincount(key, minlength=cells).reshape(shape)
    used_o = np.zeros(cells, dtype=np.int64)
    used_h = np.zeros(cells, dtype=np.int64)
    if num_entries:
        first_gt = np.ones(num_entries, dtype=bool)
        first_gt[1:] = (key[1:] != key[:-1]) | (e.gt[1:] != e.gt[:-1])
        used_o = np.bincount(key[first_gt], minlength=cells)
        pairs_h = np.unique(key * (int(seq.pr_start[-1]) + 1) + e.pr)
        used_h = np.bincount(pairs_h // (int(seq.pr_start[-1]) + 1), minlength=cells)
    matched = e.kind > 0
    n_m = np.bincount(key[matched], minlength=cells).reshape(shape)
    slots = np.ones(num_entries, dtype=np.int64)  # rows of a match: itself and its extra rows
    for bit in (_ASCEND, _TRANSFER, _MIGRATE):
        slots += (e.extra & bit) > 0
    match_rows = np.bincount(key[matched], weights=slots[matched], minlength=cells).astype(np.int64).reshape(shape)
    unused = n_o - used_o.reshape(shape) + n_h - used_h.reshape(shape)
    rows = 1 + n_fin + unused + match_rows + (n_o - n_m) + (n_h - n_m)
    rows[e.dummy] = 5
    # row offset of each (frame, joint) cell within its joint's column
    base = np.cumsum(rows, axis=0) - rows
    cell_base = base.ravel()
    group_start = np.searchsorted(key, np.arange(cells))
    positions = [cell_base[key] + 1 + np.arange(num_entries) - group_start[key]]  # RAW rows of the pairs
    values = [e.dist]
    m = np.flatnonzero(matched)
    if len(m):
        order = m[np.lexsort((e.gt[m], ~e.kept[m], key[m]))]  # per cell: continued pairs first, then by GT row
        k, size = key[order], slots[order]
        ends = np.cumsum(size)
        first = np.ones(len(order), dtype=bool)
        first[1:] = k[1:] != k[:-1]
        cell_first = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        within = ends - size - (ends - size)[cell_first]  # slots of earlier matches of the same cell
        start = cell_base[k] + 1 + n_fin.ravel()[k] + unused.ravel()[k] + within
        positions.append(np.repeat(start, size) + np.arange(int(size.sum())) - np.repeat(ends - size, size))
        values.append(np.repeat(e.dist[order], size))
    column_of = np.concatenate([[0], np.cumsum(rows.sum(0))])
    pos = np.concatenate(positions)
    joint = np.concatenate([e.joint, np.repeat(e.joint[order], size)]) if len(m) else e.joint
    column = np.zeros(int(column_of[-1]))
    column[column_of[joint] + pos] = np.concatenate(values)
    return np.array([column[column_of[j] : column_of[j + 1]].sum() for j in range(NUM_JOINTS)])


def mot_events(seq: SequenceArrays, pairs: PairTable | None = None) -> list[MotEvent]:
    """Every non-RAW event of every joint accumulator of ``seq`` (for tests and inspection; slow).

    Events of one frame and joint come sorted by type and ids, not in motmetrics' order.
    """
    if seq.num_frames < 2:
        return []
    if _repeated_gt_id(seq, seq.num_frames - 1) is not None:
        return _motmetrics_fallback(seq, lambda: motmetrics_events(seq, pairs))
    e = _accumulate(seq, pairs if pairs is not None else sequence_pairs(seq))
    out: list[MotEvent] = []
    names = {1: "MATCH", 2: "SWITCH"}
    matched_rows: set[tuple[int, int, int]] = set()
    matched_cols: set[tuple[int, int, int]] = set()
    for k in np.flatnonzero(e.kind):
        f, j, g, p, d = int(e.frame[k]), int(e.joint[k]), int(e.gt[k]), int(e.pr[k]), float(e.dist[k])
        o, h = int(seq.gt_ids[g]), int(seq.pr_ids[p])
        matched_rows.add((f, j, g))
        matched_cols.add((f, j, p))
        out.append((f, j, names[int(e.kind[k])], o, h, d))
        for bit, name in ((_ASCEND, "ASCEND"), (_TRANSFER, "TRANSFER"), (_MIGRATE, "MIGRATE")):
            if e.extra[k] & bit:
                out.append((f, j, name, o, h, d))
    for f in range(e.fed):
        if e.dummy[f]:
            out += [(f, j, "MISS", 0, None, float("nan")) for j in range(NUM_JOINTS)]
            out += [(f, j, "FP", None, 0, float("nan")) for j in range(NUM_JOINTS)]
            continue
        for g in range(int(seq.gt_start[f]), int(seq.gt_start[f + 1])):
            for jg in np.flatnonzero(seq.gt_has[g]).tolist():
                if (f, jg, g) not in matched_rows:
                    out.append((f, jg, "MISS", int(seq.gt_ids[g]), None, float("nan")))
        for p in range(int(seq.pr_start[f]), int(seq.pr_start[f + 1])):
            for jp in np.flatnonzero(seq.pr_has[p]).tolist():
                if (f, jp, p) not in matched_cols:
                    out.append((f, jp, "FP", None, int(seq.pr_ids[p]), float("nan")))
    return sorted(out, key=_event_key)


def _event_key(ev: MotEvent) -> tuple:
    f, j, kind, o, h, _ = ev
    return (f, j, kind, -1 if o is None else o, -1 if h is None else h)


def _feed_motmetrics(seq: SequenceArrays, pairs: PairTable | None) -> list:
    """One motmetrics accumulator per joint, fed as the official evaluator feeds them."""
    import motmetrics as mm

    pairs = pairs if pairs is not None else sequence_pairs(seq)
    accs = [mm.MOTAccumulator(auto_id=True) for _ in range(NUM_JOINTS)]
    dummy = np.array([[np.nan]])
    for f in range(seq.num_frames - 1):
        g0, g1, p0, p1 = seq.gt_start[f], seq.gt_start[f + 1], seq.pr_start[f], seq.pr_start[f + 1]
        if g0 == g1 or p0 == p1:
            for acc in accs:
                acc.update(np.zeros(1, np.int64), np.zeros(1, np.int64), dummy)
            continue
        d = pairs.dist[pairs.start[f] : pairs.start[f + 1]].reshape(p1 - p0, g1 - g0, NUM_JOINTS)
        d = np.where(d <= PCKH_THRESHOLD, d, np.nan)
        for j, acc in enumerate(accs):
            gi, pi = np.flatnonzero(seq.gt_has[g0:g1, j]), np.flatnonzero(seq.pr_has[p0:p1, j])
            acc.update(seq.gt_ids[g0:g1][gi], seq.pr_ids[p0:p1][pi], d[pi][:, gi, j].T)
    return accs


def motmetrics_counts(seq: SequenceArrays, pairs: PairTable | None = None) -> MOTCounts:
    """:func:`mot_counts` computed by motmetrics itself (imported here only; slow)."""
    counts = MOTCounts()
    if seq.num_frames < 2:
        return counts
    for j, acc in enumerate(_feed_motmetrics(seq, pairs)):
        ev = acc.events
        kinds = ev["Type"].value_counts()
        counts.misses[j] = kinds.get("MISS", 0)
        counts.false_positives[j] = kinds.get("FP", 0)
        counts.switches[j] = kinds.get("SWITCH", 0)
        counts.matches[j] = kinds.get("MATCH", 0)
        counts.num_gt[j] = counts.matches[j] + counts.switches[j] + counts.misses[j]
        d = ev["D"].to_numpy(dtype=np.float64)
        counts.sum_d_events[j] = np.nansum(d)
        counts.sum_d_matches[j] = np.nansum(d[ev["Type"].isin(["MATCH", "SWITCH"]).to_numpy()])
    return counts


def motmetrics_events(seq: SequenceArrays, pairs: PairTable | None = None) -> list[MotEvent]:
    """:func:`mot_events` from motmetrics itself."""
    if seq.num_frames < 2:
        return []
    out: list[MotEvent] = []
    for j, acc in enumerate(_feed_motmetrics(seq, pairs)):
        ev = acc.events
        frames = ev.index.get_level_values("FrameId").to_numpy()
        for f, kind, o, h, d in zip(frames, ev["Type"].astype(str), ev["OId"], ev["HId"], ev["D"]):
            if kind != "RAW":
                oid = None if np.isnan(o) else int(o)
                hid = None if np.isnan(h) else int(h)
                out.append((int(f), j, kind, oid, hid, float(d)))
    return sorted(out, key=_event_key)
