"""Per-frame tracker outputs on disk, and the offline step (merging, post-processing, gaps) as a streamed pass.

``corrtrack track`` keeps no frame's output in memory until the end (issue #21): the tracker
appends every frame's poses (online ids) to a :class:`FrameSpool`, a temporary file in the
output folder, and :func:`finish_streamed` applies the merges, the id renumbering, short-track
removal, the output joint threshold and gap interpolation while it reads the spool back frame by
frame, writing the final poses to a second spool that the writers read once more, frame by frame.
Both spools are temporaries of the output file (``.<name>.corrtrack-<pid>-...``): removed at the
end, and by the next run after a SIGKILL. The results are the same as the in-memory
:meth:`~corrtrack.tracking.corrtrack_tracker.CorrTrackTracker.finish` (tests/tracking/test_output_stream.py).

What stays in memory: per track a few counters (poses, first appearance), the merge candidate
pairs, and the last ``interpolate_gaps`` frames plus each track's last pose while gaps are filled.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import weakref
from array import array
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from corrtrack.fileio import remove_stale_temporaries, temporary_prefix
from corrtrack.poses import Frame, Poses
from corrtrack.tracking.merging import MergeOrder, resolve_merges
from corrtrack.tracking.postprocess import clean_poses, interpolated_poses, remap_track_ids

__all__ = ["FrameSpool", "MappedFrames", "RecentItems", "SpooledFrames", "finish_streamed"]


class FrameSpool:
    """``(frame index, Poses)`` records appended to a temporary file and read back in order.

    :meth:`beside` makes one as a temporary sibling of an output file; :meth:`remove` deletes it, and so
    does the spool's garbage collection or the interpreter's exit (a run that fails leaves no spool behind;
    one killed by SIGKILL leaves it to the next run's :func:`~corrtrack.fileio.remove_stale_temporaries`).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file: Any = open(self.path, "wb")  # noqa: SIM115 (open until remove())
        self._offsets = array("q")
        self._finalizer = weakref.finalize(self, _close_and_unlink, self._file, self.path)

    @classmethod
    def beside(cls, output: Path, tag: str) -> FrameSpool:
        """A spool in ``output``'s folder named as a temporary of ``output`` (stale ones of killed runs removed)."""
        output = Path(output)
        remove_stale_temporaries(output)
        fd, name = tempfile.mkstemp(dir=output.parent, prefix=temporary_prefix(output), suffix=f".{tag}")
        os.close(fd)
        return cls(Path(name))

    def append(self, index: int, poses: Poses) -> None:
        if self._file is None:
            raise ValueError(f"{self.path}: the spool was removed")
        self._offsets.append(self._file.tell())
        pickle.dump((int(index), poses), self._file, protocol=pickle.HIGHEST_PROTOCOL)

    def __len__(self) -> int:
        return len(self._offsets)

    def __iter__(self) -> Iterator[tuple[int, Poses]]:
        if self._file is None:
            raise ValueError(f"{self.path}: the spool was removed")
        self._file.flush()
        count = len(self._offsets)
        with open(self.path, "rb") as f:
            for _ in range(count):
                yield pickle.load(f)

    def read(self, position: int) -> tuple[int, Poses]:
        """The record at ``position``."""
        if self._file is None:
            raise ValueError(f"{self.path}: the spool was removed")
        self._file.flush()
        with open(self.path, "rb") as f:
            f.seek(self._offsets[position])
            record: tuple[int, Poses] = pickle.load(f)
            return record

    def remove(self) -> None:
        self._finalizer()
        self._file = None


def _close_and_unlink(file: Any, path: Path) -> None:
    file.close()
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


class _LazyFrames(Sequence[Frame]):
    """A read-only sequence of frames made on access: subclasses give ``__len__`` and ``_frame(i)``."""

    def _frame(self, index: int) -> Frame:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> Frame: ...
    @overload
    def __getitem__(self, index: slice) -> list[Frame]: ...
    def __getitem__(self, index: int | slice) -> Frame | list[Frame]:
        if isinstance(index, slice):
            return [self._frame(i) for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self._frame(index % len(self))


class SpooledFrames(_LazyFrames):
    """The frames of a spool as :class:`~corrtrack.poses.Frame` objects (``NNNNNN.jpg``), read when iterated."""

    def __init__(self, spool: FrameSpool) -> None:
        self.spool = spool

    def __len__(self) -> int:
        return len(self.spool)

    def __iter__(self) -> Iterator[Frame]:
        for t, p in self.spool:
            yield Frame(f"{t:06d}.jpg", p, image_id=t)

    def _frame(self, index: int) -> Frame:
        t, p = self.spool.read(index)
        return Frame(f"{t:06d}.jpg", p, image_id=t)


class MappedFrames(_LazyFrames):
    """``make(t, frame)`` of every frame of ``frames``, made when read (a lazy view for writers that iterate)."""

    def __init__(self, frames: Sequence[Frame], make: Callable[[int, Frame], Frame]) -> None:
        self.frames = frames
        self.make = make

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[Frame]:
        for t, f in enumerate(self.frames):
            yield self.make(t, f)

    def _frame(self, index: int) -> Frame:
        return self.make(index, self.frames[index])


def _spans(online: FrameSpool, wanted: set[int]) -> dict[int, np.ndarray]:
    """Frames (positions) of each track in ``wanted``, kept as runs while reading."""
    runs: dict[int, list[list[int]]] = {}
    for f, (_, poses) in enumerate(online):
        for t in poses.track_ids.tolist():
            if t in wanted:
                r = runs.setdefault(t, [])
                if r and r[-1][1] == f - 1:
                    r[-1][1] = f
                elif not r or r[-1][1] != f:
                    r.append([f, f])
    return {t: np.concatenate([np.arange(a, b + 1) for a, b in r]).astype(np.int64) for t, r in runs.items()}


def finish_streamed(
    online: FrameSpool,
    final: FrameSpool,
    merge_pairs: np.ndarray | None,
    *,
    merge_threshold: float,
    merge_order: MergeOrder,
    min_track_length: int,
    output_joint_threshold: float,
    renumber: bool,
    interpolate_gaps: int,
) -> dict[int, int]:
    """Write the final frames of ``online`` into ``final``; return the merges ``{later id: id it takes}``.

    The same steps as the in-memory ``finish``: merges resolved over ``merge_pairs`` (rows ``earlier,
    later, S_match, later start``), ids remapped, short tracks dropped, low joints dropped, ids renumbered
    by first appearance, gaps interpolated. Three reads of ``online`` (spans of merge candidates, per-track
    counts, the final pass) and one write of ``final``.
    """
    merges: dict[int, int] = {}
    if merge_pairs is not None and len(merge_pairs):
        q, p, start = (merge_pairs[:, i].astype(np.int64) for i in (0, 1, 3))
        scores = merge_pairs[:, 2]
        ok = scores > merge_threshold
        spans = _spans(online, set(q[ok].tolist()) | set(p[ok].tolist()))
        merges = resolve_merges(q, p, scores, merge_threshold, merge_order, start, spans)
    # per merged id: poses and first appearance, before and after the output joint threshold
    raw: dict[int, int] = {}
    raw_first: dict[int, tuple[int, int]] = {}
    clean: dict[int, int] = {}
    clean_first: dict[int, tuple[int, int]] = {}
    nonfinite: set[int] = set()
    for f, (_, poses) in enumerate(online):
        p_ = remap_track_ids([poses], merges)[0]
        bad = (~np.isfinite(p_.keypoints)).any((1, 2))
        for row, (t, b) in enumerate(zip(p_.track_ids.tolist(), bad.tolist())):
            raw[t] = raw.get(t, 0) + 1
            raw_first.setdefault(t, (f, row))
            if b:
                nonfinite.add(t)
        for row, t in enumerate(clean_poses(p_, output_joint_threshold).track_ids.tolist()):
            clean[t] = clean.get(t, 0) + 1
            clean_first.setdefault(t, (f, row))
    need = max(min_track_length, 1)
    cleaning = output_joint_threshold > 0 or any(t in nonfinite for t, n in raw.items() if n >= need)
    counts, first = (clean, clean_first) if cleaning else (raw, raw_first)
    kept = {t for t, n in counts.items() if n >= need}
    order = sorted(kept, key=first.__getitem__)
    numbers = {t: i for i, t in enumerate(order)} if renumber else {}
    kept_ids = np.fromiter(kept, np.int64, len(kept))

    gaps = _GapFiller(final, interpolate_gaps if len(online) >= 3 else 0)
    for index, poses in online:
        p_ = remap_track_ids([poses], merges)[0]
        if cleaning:
            p_ = clean_poses(p_, output_joint_threshold)
        p_ = p_[np.isin(p_.track_ids, kept_ids)]
        gaps.push(index, remap_track_ids([p_], numbers)[0])
    gaps.close()
    return merges


class _GapFiller:
    """Frames pass through with a delay of ``max_gap`` frames so that a gap's poses can be added to them."""

    def __init__(self, out: FrameSpool, max_gap: int) -> None:
        self.out = out
        self.max_gap = max_gap
        #: position, frame index, poses, interpolated (track id, pose) to add
        self.buffer: deque[tuple[int, int, Poses, list[tuple[int, Poses]]]] = deque()
        self.last: dict[int, tuple[int, Poses]] = {}
        self.pos = 0

    def push(self, index: int, poses: Poses) -> None:
        f = self.pos
        self.pos += 1
        if self.max_gap < 1:
            self.out.append(index, poses)
            return
        for row, t in enumerate(poses.track_ids.tolist()):
            if t in self.last:
                a, pa = self.last[t]
                gap = f - a - 1
                if 1 <= gap <= self.max_gap:
                    pair = Poses.concat([pa, poses[row]])
                    s = (np.arange(1, gap + 1) / (gap + 1))[:, None]
                    new = interpolated_poses(pair, np.zeros(gap, np.int64), np.ones(gap, np.int64), s)
                    base = self.buffer[0][0]
                    for i in range(gap):
                        self.buffer[a + 1 + i - base][3].append((t, new[i]))
            self.last[t] = (f, poses[row])
        self.buffer.append((f, index, poses, []))
        while len(self.buffer) > self.max_gap:
            self._emit()
        if f % 256 == 0:  # forget tracks whose next pose could not close a gap any more
            self.last = {t: v for t, v in self.last.items() if f - v[0] <= self.max_gap + 1}

    def _emit(self) -> None:
        _, index, poses, added = self.buffer.popleft()
        if added:
            added.sort(key=lambda item: item[0])
            poses = Poses.concat([poses, *(p for _, p in added)])
        self.out.append(index, poses)

    def close(self) -> None:
        while self.buffer:
            self._emit()


class RecentItems(Sequence[Any]):
    """A list that keeps only its last ``window`` items: ``len`` counts every item appended; the last ones index."""

    def __init__(self, window: int) -> None:
        self.window = max(int(window), 1)
        self._items: deque[Any] = deque(maxlen=self.window)
        self._count = 0

    def append(self, item: Any) -> None:
        self._items.append(item)
        self._count += 1

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        i = index + self._count if index < 0 else index
        first = self._count - len(self._items)
        if not first <= i < self._count:
            raise IndexError(f"item {index} is no longer kept (the last {self.window} of {self._count} are)")
        return self._items[i - first]

    def __iter__(self) -> Iterator[Any]:
        if len(self._items) < self._count:
            raise ValueError(f"only the last {self.window} of {self._count} items are kept")
        return iter(self._items)
