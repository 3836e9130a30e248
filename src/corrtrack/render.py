"""Drawing poses, boxes and track ids on frames; rendering sequences to mp4; PNG grids for figures."""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corrtrack.errors import CorrtrackError
from corrtrack.poses import Frame, Poses, PoseSequence
from corrtrack.video import IMAGE_SUFFIXES, FrameSource, VideoWriter, read_image, write_image

__all__ = ["draw_poses", "draw_track_paths", "frames_for_sequence", "image_grid", "render_sequence", "track_color"]

_UNTRACKED = (230, 230, 230)


def track_color(track_id: int) -> tuple[int, int, int]:
    """A stable, well-spread RGB colour for a track id (golden-ratio hue walk); grey for -1."""
    if track_id < 0:
        return _UNTRACKED
    hue = (track_id * 0.618033988749895) % 1.0
    sat = 0.75 + 0.25 * ((track_id // 7) % 2)
    r, g, b = colorsys.hsv_to_rgb(hue, sat, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_poses(
    image: np.ndarray,
    poses: Poses,
    skeleton: np.ndarray,
    min_confidence: float = 0.0,
    boxes: bool = True,
    ids: bool = True,
    thickness: int | None = None,
) -> np.ndarray:
    """Draw skeletons (and boxes and track ids) onto a copy of an RGB image.

    A joint is drawn if it is present and its confidence exceeds ``min_confidence``.
    """
    import cv2

    out = np.ascontiguousarray(image).copy()
    if len(poses) == 0:
        return out
    h, w = out.shape[:2]
    t = thickness or max(1, round(max(h, w) / 400))
    limit = 4 * max(h, w)  # far-away coordinates are clipped: OpenCV draws the visible part the same way

    def pixels(values: np.ndarray) -> np.ndarray:
        return np.round(np.clip(np.nan_to_num(values, nan=-limit), -limit, limit)).astype(np.int64)

    valid = poses.present & (poses.confidences > min_confidence) & np.isfinite(poses.xy).all(-1)
    xy = pixels(poses.xy)
    edge_ok = valid[:, skeleton[:, 0]] & valid[:, skeleton[:, 1]]  # (N, E)
    person_boxes = np.where(
        np.isnan(poses.boxes).any(1, keepdims=True), poses.keypoint_boxes(min_confidence), poses.boxes
    )
    person_boxes[~np.isfinite(person_boxes).all(1)] = np.nan
    corners = np.concatenate([person_boxes[:, :2], person_boxes[:, :2] + person_boxes[:, 2:]], axis=1)
    for i in range(len(poses)):
        color = track_color(int(poses.track_ids[i]))
        for a, b in skeleton[edge_ok[i]]:
            cv2.line(out, tuple(map(int, xy[i, a])), tuple(map(int, xy[i, b])), color, t + 1, cv2.LINE_AA)
        for x, y in xy[i, valid[i]]:
            cv2.circle(out, (int(x), int(y)), t + 2, color, -1, cv2.LINE_AA)
            cv2.circle(out, (int(x), int(y)), t + 2, (0, 0, 0), 1, cv2.LINE_AA)
        if np.isnan(person_boxes[i]).any():
            continue
        x0, y0, x1, y1 = pixels(corners[i]).tolist()
        p0, p1 = (x0, y0), (x1, y1)
        if boxes:
            cv2.rectangle(out, p0, p1, color, t)
        if ids and poses.track_ids[i] >= 0:
            label = str(int(poses.track_ids[i]))
            scale = 0.4 + t * 0.2
            (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, t)
            top = max(th + 4, p0[1])
            cv2.rectangle(out, (p0[0], top - th - 4), (p0[0] + tw + 4, top), color, -1)
            cv2.putText(out, label, (p0[0] + 2, top - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), t, cv2.LINE_AA)
    return out


def draw_track_paths(
    image: np.ndarray, seq: PoseSequence, t: int, min_confidence: float = 0.0, history: int | None = None
) -> np.ndarray:
    """Frame ``t``'s poses drawn on ``image`` with the path of every track up to ``t`` (a still that shows tracks).

    A track's path joins the centres of its person's joints (the box centre when no joint is
    confident) over frames ``t - history .. t`` (all frames before ``t`` when ``history`` is None),
    in the track's colour: an identity switch shows as a path that ends and another that starts.
    """
    import cv2

    out = draw_poses(image, seq.frames[t].poses, seq.layout.skeleton_index, min_confidence)
    h, w = out.shape[:2]
    thickness = max(1, round(max(h, w) / 400))
    paths: dict[int, list[tuple[int, int]]] = {}
    start = 0 if history is None else max(0, t - history)
    for frame in seq.frames[start : t + 1]:
        p = frame.poses
        if len(p) == 0:
            continue
        ok = p.present & (p.confidences > min_confidence) & np.isfinite(p.xy).all(-1)
        for i in np.flatnonzero(p.track_ids >= 0):
            if ok[i].any():
                cx, cy = p.xy[i, ok[i]].mean(0)
            elif np.isfinite(p.boxes[i]).all():
                cx, cy = p.boxes[i, :2] + p.boxes[i, 2:] / 2
            else:
                continue
            if abs(cx) < 4 * max(h, w) and abs(cy) < 4 * max(h, w):
                paths.setdefault(int(p.track_ids[i]), []).append((round(float(cx)), round(float(cy))))
    for track_id, points in paths.items():
        if len(points) > 1:
            pts = np.asarray(points, np.int32).reshape(-1, 1, 2)
            cv2.polylines(out, [pts], False, track_color(track_id), thickness + 1, cv2.LINE_AA)
    return out


def draw_ignore_regions(image: np.ndarray, frame: Frame) -> np.ndarray:
    """Shade the frame's ignore regions (if any)."""
    import cv2

    if not frame.ignore_regions:
        return image
    overlay = image.copy()
    for poly in frame.ignore_regions:
        if len(poly) >= 3:
            limit = 4 * max(image.shape[:2])
            cv2.fillPoly(overlay, [np.round(np.clip(poly, -limit, limit)).astype(np.int32)], (40, 40, 40))
    return cv2.addWeighted(overlay, 0.45, image, 0.55, 0)


def frames_for_sequence(seq: PoseSequence, frames: str | Path) -> tuple[Iterable[np.ndarray], float]:
    """Images for each frame of ``seq`` from a video or folder, and the source frame rate.

    A folder is matched by each frame's ``file_name`` (relative to the folder,
    or by base name); a video or a folder without matching names by position.
    The rate is the video's (25 for image folders).
    """
    path = Path(frames)
    if path.is_dir():
        root = path.resolve()

        def inside(p: Path) -> bool:
            return p.resolve().is_relative_to(root)

        by_rel = [path / f.file_name for f in seq.frames]
        if not all(inside(p) for p in by_rel):  # an image name with '..' or an absolute path
            by_rel = []
        by_base = [path / Path(f.file_name).name for f in seq.frames]
        for candidates in (by_rel, by_base):
            if (
                candidates
                and seq.frames
                and all(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in candidates)
            ):
                return (read_image(p) for p in candidates), 25.0
    source = FrameSource(path)
    if len(source) < len(seq):
        raise CorrtrackError(f"{path}: {len(source)} frames, but the annotations have {len(seq)}")
    return iter(source), source.fps


def render_sequence(
    seq: PoseSequence,
    frames: str | Path,
    output: str | Path,
    fps: float | None = None,
    min_confidence: float = 0.0,
    progress: bool = False,
) -> Path:
    """Draw every frame of ``seq`` onto its image and write an mp4 (or a PNG/JPG for a one-frame output)."""
    output = Path(output)
    images, source_fps = frames_for_sequence(seq, frames)
    items = zip(seq.frames, images)
    if progress:
        from tqdm import tqdm

        # no bar when stderr is not a terminal; closed (cleared) before an error line is printed
        bar = tqdm(items, total=len(seq), desc=f"render {seq.name}", unit="frame", leave=False, disable=None)
        try:
            return _render(seq, frames, output, bar, fps or source_fps, min_confidence)
        finally:
            bar.close()
    return _render(seq, frames, output, items, fps or source_fps, min_confidence)


def _render(seq: PoseSequence, frames: str | Path, output: Path, items: Any, fps: float, min_confidence: float) -> Path:
    skeleton = seq.layout.skeleton_index
    if output.suffix.lower() in IMAGE_SUFFIXES:
        drawn = [draw_poses(draw_ignore_regions(img, fr), fr.poses, skeleton, min_confidence) for fr, img in items]
        write_image(output, image_grid(drawn) if len(drawn) > 1 else drawn[0])
        return output
    with VideoWriter(output, fps) as writer:
        drawn_count = 0
        for fr, img in items:
            writer.write(draw_poses(draw_ignore_regions(img, fr), fr.poses, skeleton, min_confidence))
            drawn_count += 1
        if drawn_count < len(seq):  # e.g. a truncated video whose header promised more frames
            raise CorrtrackError(f"{frames}: only {drawn_count} frames could be read, the annotations have {len(seq)}")
    return output


def image_grid(
    images: Sequence[np.ndarray],
    cols: int | None = None,
    titles: Sequence[str] | None = None,
    cell_width: int | None = None,
    pad: int = 4,
) -> np.ndarray:
    """Tile RGB images into one grid image (resized to a common cell size), with optional titles."""
    import cv2

    if not images:
        raise ValueError("image_grid needs at least one image")
    cols = cols or int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / cols))
    h0, w0 = images[0].shape[:2]
    cw = cell_width or min(w0, 640)
    ch = round(h0 * cw / w0)
    grid = np.full((rows * (ch + pad) + pad, cols * (cw + pad) + pad, 3), 255, dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        cell = cv2.resize(img, (cw, ch), interpolation=cv2.INTER_AREA)
        if titles is not None and i < len(titles):
            cv2.rectangle(cell, (0, 0), (cw, 18), (0, 0, 0), -1)
            cv2.putText(cell, titles[i], (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        y, x = pad + r * (ch + pad), pad + c * (cw + pad)
        grid[y : y + ch, x : x + cw] = cell
    return grid


def save_grid(path: str | Path, images: Sequence[np.ndarray], **kwargs) -> None:
    """Write :func:`image_grid` to a PNG (atomically)."""
    write_image(path, image_grid(images, **kwargs))
