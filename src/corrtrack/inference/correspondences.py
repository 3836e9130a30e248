"""The keypoint-correspondence network as a :class:`~corrtrack.interfaces.CorrespondenceModel`.

``NetworkCorrespondences`` wraps a :class:`~corrtrack.models.correspondence_net.CorrespondenceNet`:

* ``embed(image)``: the whole RGB frame letter-boxed to the network's square input
  (docs/method.md §3.1 and §4.1: isotropic scale ``s = S / max(H, W)``, the pixel
  ``(W // 2, H // 2)`` on the canvas centre ``(S/2, S/2)``, zero padding), one embedding pass.
  The handle keeps the embedding and the letterbox, so each frame is embedded once.
* ``propagate(src, dst, points (N, K, 2))``: the image points of all N persons go into the
  source canvas (grid cell = ``floor(canvas / 4)``), all N x K queries run in one batched
  pass (one affinity computation, one refiner batch), and the arg-max cell ``(x, y)`` of each
  map becomes ``(4x, 4y)`` in the destination canvas and is mapped back to the destination
  image with the inverse letterbox. The confidence is the sigmoid peak of the refined map.

``refinement`` chooses the map that is read: ``full`` (the paper: the refiner on the whole
grid), ``windowed`` (our deviation: the refiner on a window around each person,
:mod:`corrtrack.models.windowed_refinement`) or ``none`` (the affinity map itself, the
"without refinement" ablation of the paper's Table 2). Without refinement the confidence is
the soft-max probability mass within ``unrefined_window`` cells of the arg-max (5x5 cells by
default): the probability, under the affinity map, that the correspondence lies there. It is
on a [0, 1] scale like the refined sigmoid, so tau_corr applies; the single-cell peak is not
(about 0.04 for a good match on the 64x64 grid of ``tiny``: a soft-max over 4,096 cells),
see docs/method.md (section 3 and the deviations list) and docs/results.md.

A query that is NaN or outside the source image gets ``(NaN, NaN, 0)``; a correspondence that
lands outside the destination image (in the letterbox padding) keeps its position with
confidence 0. With ``refinement`` other than ``none`` K must be the network's 17 query joints.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch

from corrtrack.config import param
from corrtrack.errors import CorrtrackError
from corrtrack.models.backbone import prepare_for_inference, resolve_device, to_channels_last
from corrtrack.models.checkpoints import load_authors_correspondence_net, model_from_checkpoint
from corrtrack.models.correspondence_net import CorrespondenceNet, CorrespondenceNetConfig, valid_queries
from corrtrack.models.correspondence_peaks import SUBCELL_MODES, SubcellMode, gate_by_affinity, map_peaks
from corrtrack.models.windowed_refinement import refine_windowed

__all__ = [
    "BUNDLED_WEIGHTS",
    "CorrEmbedding",
    "NetworkCorrespondenceConfig",
    "NetworkCorrespondences",
    "from_letterbox",
    "letterbox_image",
    "letterbox_matrix",
    "to_letterbox",
]

BUNDLED_WEIGHTS = "corr_tiny.pt"

#: grid stride of the embedding (canvas pixels per grid cell)
STRIDE = 4


# ------------------------------------------------------------------------------------ letterbox


def letterbox_matrix(height: int, width: int, size: int) -> np.ndarray:
    """The 2x3 affine map image -> ``size`` x ``size`` canvas of docs/method.md §4.1."""
    if height < 1 or width < 1 or size < 1:
        raise CorrtrackError(f"letterbox needs a positive image and canvas size, got {height}x{width} -> {size}")
    s = size / max(height, width)
    return np.array(
        [[s, 0.0, size / 2 - s * (width // 2)], [0.0, s, size / 2 - s * (height // 2)]],
        dtype=np.float64,
    )


def to_letterbox(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Image points ``(..., 2)`` in canvas pixels."""
    p = np.asarray(points, dtype=np.float64)
    return p * np.array([matrix[0, 0], matrix[1, 1]]) + matrix[:, 2]


def from_letterbox(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Canvas points ``(..., 2)`` back in image pixels (the exact inverse of :func:`to_letterbox`)."""
    p = np.asarray(points, dtype=np.float64)
    return (p - matrix[:, 2]) / np.array([matrix[0, 0], matrix[1, 1]])


def letterbox_image(image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(canvas, matrix)``: the RGB ``image`` warped into a ``size`` x ``size`` canvas (bilinear, zero padding)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise CorrtrackError(f"expected an (H, W, 3) uint8 RGB image, got shape {image.shape} dtype {image.dtype}")
    m = letterbox_matrix(image.shape[0], image.shape[1], size)
    canvas = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return canvas, m


# ------------------------------------------------------------------------------------- the model


#: the correspondence confidences (NetworkCorrespondenceConfig.confidence)
CONFIDENCES: tuple[str, ...] = ("peak", "cycle", "similarity", "visibility")


@dataclass(frozen=True)
class NetworkCorrespondenceConfig:
    refinement: Literal["full", "windowed", "none", "gated"] = param(
        "full",
        "paper (full-grid refiner); windowed = our deviation (docs/method.md); none = Table 2 ablation; "
        "gated = our deviation (issue #23): the affinity map, scaled to peak 1, times the full-grid refined map",
        choices=("full", "windowed", "none", "gated"),
    )
    window_margin: int = param(8, "our choice: motion margin (grid cells) around the query pose for 'windowed'")
    window_min_side: int = param(16, "our choice: smallest refinement window side (grid cells)")
    unrefined_window: int = param(
        2, "our choice: refinement 'none' confidence = soft-max mass within +-this many cells of the arg-max"
    )
    prior_sigma: float = param(
        0.0,
        "our choice (0 = off, the reference's plain arg-max): motion prior, the peak is the arg-max of the map "
        "times a Gaussian of this width (grid cells) around the query's position (docs/method.md)",
    )
    subcell: SubcellMode = param(
        "off",
        "our choice (off = the reference's whole-cell arg-max): centroid = the centroid of the map's 3x3 "
        "neighbourhood of the arg-max cell",
        choices=SUBCELL_MODES,
    )
    confidence: Literal["peak", "cycle", "similarity", "visibility"] = param(
        "peak",
        "paper: the refined map's peak; cycle = our deviation (issue #23): the peak times how well the match "
        "propagates back, exp(-d^2 / 2 cycle_sigma^2) with d the grid distance from the query to the affinity "
        "arg-max of the way back; similarity = our deviation: the peak times the cosine similarity (clipped at 0) "
        "of the query's embedding and the embedding at the found cell; visibility = our deviation: the "
        "network's visibility head, P(the joint is visible at the found cell) (docs/method.md)",
        choices=CONFIDENCES,
    )
    cycle_sigma: float = param(1.0, "our choice: width (grid cells) of the 'cycle' confidence's return tolerance")
    max_batch: int = param(32, "our choice: query sets (tracks) per refiner batch, bounds memory")
    device: str = param("cpu", "our choice: torch device (cpu or cuda)")
    precision: Literal["fp32", "bf16"] = param(
        "fp32",
        "our choice: fp32 = the reference's arithmetic; bf16 = the embedding and refiner under bfloat16 autocast "
        "(a speed mode, issue 25; worth it only where the hardware has bf16 units, docs/results.md)",
        choices=("fp32", "bf16"),
    )
    fold_batchnorm: bool = param(
        True, "our choice: fold eval-mode BN into the convolutions (same outputs within float32 rounding)"
    )
    channels_last: bool = param(True, "our choice: weights and activations in the NHWC layout (faster on CPU)")

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {self.precision!r}")
        if self.refinement not in ("full", "windowed", "none", "gated"):
            raise ValueError(f"refinement must be full, windowed, none or gated, got {self.refinement!r}")
        if self.window_margin < 0 or self.window_min_side < 8 or self.max_batch < 1:
            raise ValueError("window_margin must be >= 0, window_min_side >= 8 and max_batch >= 1")
        if self.confidence not in CONFIDENCES:
            raise ValueError(f"confidence must be one of {', '.join(CONFIDENCES)}, got {self.confidence!r}")
        if self.confidence == "visibility" and self.refinement not in ("full", "gated"):
            raise ValueError("confidence 'visibility' needs refinement full or gated (the head reads the refined map)")
        if self.subcell not in SUBCELL_MODES:
            raise ValueError(f"subcell must be one of {', '.join(SUBCELL_MODES)}, got {self.subcell!r}")
        if self.prior_sigma < 0:
            raise ValueError(f"prior_sigma must be >= 0, got {self.prior_sigma}")
        if not self.cycle_sigma > 0:
            raise ValueError(f"cycle_sigma must be > 0, got {self.cycle_sigma}")
        if not 0 <= self.unrefined_window <= 16:
            raise ValueError(f"unrefined_window must be in [0, 16], got {self.unrefined_window}")


@dataclass(frozen=True)
class CorrEmbedding:
    """What ``embed`` keeps of a frame: its embedding ``(1, D, G, G)``, letterbox matrix and image size."""

    features: torch.Tensor
    matrix: np.ndarray
    shape: tuple[int, int]


class NetworkCorrespondences:
    """The correspondence network behind the ``CorrespondenceModel`` interface (module docstring)."""

    def __init__(
        self,
        net: CorrespondenceNet,
        config: NetworkCorrespondenceConfig | None = None,
        **options: object,
    ) -> None:
        if not isinstance(net, CorrespondenceNet):
            raise CorrtrackError(f"expected a CorrespondenceNet, got {type(net).__name__}")
        if config is None:
            config = NetworkCorrespondenceConfig(**options)  # type: ignore[arg-type]
        elif options:
            raise TypeError("pass either config or keyword options, not both")
        self.config = config
        self.device = resolve_device(config.device)
        self.net = net.to(self.device).eval()
        #: what runs: an inference copy of ``net`` (BN folded where it uses running statistics, channels-last)
        self.runner = prepare_for_inference(
            self.net, self.device, fold=config.fold_batchnorm, channels_last=config.channels_last
        )
        self.net_config: CorrespondenceNetConfig = net.cfg
        if config.confidence == "visibility" and not net.cfg.visibility_head:
            raise CorrtrackError(
                "confidence 'visibility' needs a correspondence network with a visibility head "
                "(train corr --set visibility_steps=N)"
            )
        self.size = net.cfg.input_size
        self.grid = net.cfg.grid_size
        #: side of the refinement window of the last windowed call (grid cells), for benchmarks
        self.last_window_side: int | None = None

    @property
    def grid_size(self) -> int:
        """Cells across the correspondence grid (input_size / 4): the tracker models the maps on it."""
        return self.grid

    # ------------------------------------------------------------------------------ loading
    @classmethod
    def from_checkpoint(
        cls, path: str | Path, config: NetworkCorrespondenceConfig | None = None, **options: object
    ) -> NetworkCorrespondences:
        """From a file of our checkpoint format (``corr.pt`` of ``train corr``, the bundled weights)."""
        model = model_from_checkpoint(path)
        if not isinstance(model, CorrespondenceNet):
            raise CorrtrackError(f"{path}: holds a {type(model).__name__}, not a full correspondence network")
        return cls(model, config, **options)

    @classmethod
    def from_bundled(
        cls, config: NetworkCorrespondenceConfig | None = None, **options: object
    ) -> NetworkCorrespondences:
        """The ``tiny`` network trained on SynthTrack stills that ships with corrtrack (``corrtrack/data``)."""
        ref = resources.files("corrtrack") / "data" / BUNDLED_WEIGHTS
        with resources.as_file(ref) as path:
            if not Path(path).is_file():
                raise CorrtrackError(f"bundled correspondence weights {BUNDLED_WEIGHTS} are missing")
            return cls.from_checkpoint(path, config, **options)

    @classmethod
    def from_authors_checkpoint(
        cls,
        path: str | Path,
        config: NetworkCorrespondenceConfig | None = None,
        batchnorm: Literal["eval", "batch_stats"] = "eval",
        **options: object,
    ) -> NetworkCorrespondences:
        """From the authors' ``corrtrack_model.pth`` (``paper`` config, ``squared`` normalisation)."""
        cfg = CorrespondenceNetConfig(normalization="squared", batchnorm=batchnorm)
        return cls(load_authors_correspondence_net(path, cfg), config, **options)

    # ---------------------------------------------------------------------------- interface
    def canvas_tensor(self, image: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """The network input ``(1, 3, S, S)`` (RGB in [0, 1]) of an image and its letterbox matrix."""
        canvas, m = letterbox_image(image, self.size)
        t = torch.from_numpy(canvas).to(self.device).permute(2, 0, 1)[None].float().div_(255.0)
        return (to_channels_last(t) if self.config.channels_last else t.contiguous()), m

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16")

    @torch.inference_mode()
    def embed(self, image: np.ndarray) -> CorrEmbedding:
        t, m = self.canvas_tensor(image)
        with self._autocast():
            feats = self.runner.embed(t, check_range=False).float()  # pixels / 255: no range check (a host sync)
        return CorrEmbedding(feats, m, (int(image.shape[0]), int(image.shape[1])))

    def grid_queries(self, src: CorrEmbedding, points: np.ndarray) -> np.ndarray:
        """Grid (x, y) of image ``points`` ``(N, K, 2)`` in the source canvas; NaN outside the source image."""
        pts = np.asarray(points, dtype=np.float64)
        h, w = src.shape
        ok = np.isfinite(pts).all(-1)
        with np.errstate(invalid="ignore"):
            ok &= (pts[..., 0] >= 0) & (pts[..., 0] <= w - 1) & (pts[..., 1] >= 0) & (pts[..., 1] <= h - 1)
        grid = to_letterbox(pts, src.matrix) / STRIDE
        return np.where(ok[..., None], grid, np.nan)

    @torch.inference_mode()
    def propagate_grid(self, src: CorrEmbedding, dst: CorrEmbedding, queries: np.ndarray) -> np.ndarray:
        """``(N, K, 3)`` grid x, y and confidence for grid ``queries`` ``(N, K, 2)``, in chunks of ``max_batch``.

        The chunks' results stay on the device and come to the host once, after the last chunk.
        """
        q_all = torch.as_tensor(queries, dtype=torch.float64, device=self.device)
        n, k = q_all.shape[0], q_all.shape[1]
        if self.config.refinement != "none" and k != self.net_config.num_queries:
            raise CorrtrackError(
                f"the refiner takes {self.net_config.num_queries} query joints per person, got {k} "
                "(use refinement='none' for other counts)"
            )
        fA, fB = src.features, dst.features
        cfg = self.config
        net = self.runner
        prior, subcell = cfg.prior_sigma, cfg.subcell
        parts = []
        for s in range(0, n, cfg.max_batch):
            q = q_all[s : s + cfg.max_batch]
            if cfg.refinement in ("full", "gated"):
                affinity = net.correlate(fA, fB, q)
                with self._autocast():
                    logits = net.refine(fA, fB, affinity)
                refined = torch.sigmoid(logits.float())
                prob = refined * gate_by_affinity(affinity) if cfg.refinement == "gated" else refined
                valid = valid_queries(q.to(torch.float64), prob.shape[2], prob.shape[3])[2]
                res = map_peaks(prob, q, valid, prior_sigma=prior, subcell=subcell)
                if cfg.confidence == "visibility":
                    res = self._visibility_confidence(fA, fB, q, res, refined, affinity)
            elif cfg.refinement == "windowed":
                res, side = refine_windowed(
                    net,
                    fA,
                    fB,
                    q,
                    cfg.window_margin,
                    cfg.window_min_side,
                    prior_sigma=prior,
                    subcell=subcell,
                    precision=cfg.precision,
                )
                self.last_window_side = side
            else:
                maps = net.correlate(fA, fB, q)
                valid = maps.flatten(2).sum(-1) > 0
                res = map_peaks(maps, q, valid, mass_window=cfg.unrefined_window, prior_sigma=prior, subcell=subcell)
            if cfg.confidence == "cycle":
                res = self._cycle_confidence(fA, fB, q, res)
            elif cfg.confidence == "similarity":
                res = self._similarity_confidence(fA, fB, q, res)
            parts.append(res.double())
        if not parts:
            return np.zeros((0, k, 3))
        return torch.cat(parts, 0).cpu().numpy()

    def _visibility_confidence(
        self,
        fA: torch.Tensor,
        fB: torch.Tensor,
        q: torch.Tensor,
        res: torch.Tensor,
        refined: torch.Tensor,
        affinity: torch.Tensor,
    ) -> torch.Tensor:
        """``res`` with its confidence replaced by the visibility head's probability (zero for invalid queries)."""
        g_w = refined.shape[-1]
        cells = torch.nan_to_num(res[..., :2]).floor().long()
        idx = (cells[..., 1].clamp(0, refined.shape[-2] - 1) * g_w + cells[..., 0].clamp(0, g_w - 1))[..., None]
        at_found = refined.flatten(2).gather(-1, idx)[..., 0]
        p = torch.sigmoid(self.runner.visibility_logits(fA, fB, q, res[..., :2], at_found, affinity).float())
        out = res.clone()
        out[..., 2] = torch.where(torch.isfinite(res[..., 0]), p.to(res.dtype), torch.zeros_like(p, dtype=res.dtype))
        return out

    def _cycle_confidence(self, fA: torch.Tensor, fB: torch.Tensor, q: torch.Tensor, res: torch.Tensor) -> torch.Tensor:
        """``res`` with its confidence times the cycle agreement: the found cells queried back into the source
        frame (one correlation, no refiner), and the distance of that arg-max from the query scored by a
        Gaussian of ``cycle_sigma`` cells. A joint hidden in the destination is matched to what covers it,
        whose way back leads elsewhere."""
        back_q = res[..., :2].to(q.dtype)
        back = self.runner.correlate(fB, fA, back_q)
        valid = torch.isfinite(back_q).all(-1) & (back.flatten(2).sum(-1) > 0)
        peaks = map_peaks(back, back_q, valid)
        d2 = ((peaks[..., :2].to(q.dtype) - torch.floor(q)) ** 2).sum(-1)  # a query's cell is its floor
        agree = torch.exp(-torch.nan_to_num(d2, nan=float("inf")) / (2 * self.config.cycle_sigma**2))
        out = res.clone()
        out[..., 2] = res[..., 2] * agree.to(res.dtype)
        return out

    def _similarity_confidence(
        self, fA: torch.Tensor, fB: torch.Tensor, q: torch.Tensor, res: torch.Tensor
    ) -> torch.Tensor:
        """``res`` with its confidence times the cosine similarity (clipped at 0) of the embedding at each query's
        cell and at its found cell: a joint hidden in the destination is matched to what covers it, which is
        another body part and looks less like the query than the joint itself would."""
        g_h, g_w = fA.shape[-2], fA.shape[-1]

        def read(f: torch.Tensor, cells: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            ok = torch.isfinite(cells).all(-1)
            c = torch.nan_to_num(cells.to(torch.float64))
            x = torch.floor(c[..., 0]).clamp(0, g_w - 1).long()
            y = torch.floor(c[..., 1]).clamp(0, g_h - 1).long()
            v = torch.nn.functional.normalize(f[0].float(), dim=0)[:, y, x]  # (D, N, K)
            return v.permute(1, 2, 0), ok

        va, oka = read(fA, q)
        vb, okb = read(fB, res[..., :2])
        cos = (va * vb).sum(-1).clamp(min=0.0) * (oka & okb)
        out = res.clone()
        out[..., 2] = res[..., 2] * cos.to(res.dtype)
        return out

    @torch.no_grad()
    def confidence_maps(self, src: CorrEmbedding, dst: CorrEmbedding, points: np.ndarray) -> np.ndarray:
        """``(N, K, G, G)`` maps of image ``points`` ``(N, K, 2)`` on the destination grid, for pictures.

        The sigmoid of the full-grid refined maps (``none``: the affinity maps); zero for skipped queries.
        """
        q = torch.as_tensor(self.grid_queries(src, np.asarray(points, dtype=np.float64)), device=self.device)
        affinity = self.runner.correlate(src.features, dst.features, q)
        if self.config.refinement == "none":
            return affinity.double().cpu().numpy()
        valid = torch.isfinite(q).all(-1)[..., None, None]
        with self._autocast():
            logits = self.runner.refine(src.features, dst.features, affinity)
        prob = torch.sigmoid(logits.float()) * valid
        if self.config.refinement == "gated":
            prob = prob * gate_by_affinity(affinity)
        return prob.double().cpu().numpy()

    @torch.no_grad()
    def describe(self, handle: CorrEmbedding, points: np.ndarray) -> np.ndarray:
        """``(N, D)`` person descriptors (beyond the paper, issue #23): the embedding at each person's joints.

        ``points`` ``(N, K, 2)`` image coordinates (NaN: absent). Each joint reads the L2-normalised
        embedding vector of its grid cell; a person's descriptor is the L2-normalised mean over its
        joints inside the image (all zeros without one). Cosine similarity of two descriptors is their dot product.
        """
        if not isinstance(handle, CorrEmbedding):
            raise TypeError("NetworkCorrespondences.describe needs a handle from its own embed()")
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 3 or pts.shape[2] != 2:
            raise CorrtrackError(f"points must be (N, K, 2), got shape {pts.shape}")
        _, gh, gw = handle.features[0].shape
        feats = torch.nn.functional.normalize(handle.features[0].double(), dim=0).cpu().numpy()
        grid = self.grid_queries(handle, pts)
        ok = np.isfinite(grid).all(-1)
        gx = np.clip(np.round(np.nan_to_num(grid[..., 0])), 0, gw - 1).astype(np.int64)
        gy = np.clip(np.round(np.nan_to_num(grid[..., 1])), 0, gh - 1).astype(np.int64)
        vecs = np.where(ok[..., None], feats[:, gy, gx].transpose(1, 2, 0), 0.0)  # (N, K, D)
        mean = vecs.sum(1) / np.maximum(ok.sum(1), 1)[:, None]
        norm = np.linalg.norm(mean, axis=-1, keepdims=True)
        return np.where(norm > 0, mean / np.maximum(norm, 1e-12), 0.0)

    def propagate(self, src: CorrEmbedding, dst: CorrEmbedding, points: np.ndarray) -> np.ndarray:
        if not isinstance(src, CorrEmbedding) or not isinstance(dst, CorrEmbedding):
            raise TypeError("NetworkCorrespondences.propagate needs handles from its own embed()")
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 3 or pts.shape[2] != 2:
            raise CorrtrackError(f"points must be (N, K, 2), got shape {pts.shape}")
        if pts.shape[0] == 0:
            return np.zeros((0, pts.shape[1], 3))
        grid = self.propagate_grid(src, dst, self.grid_queries(src, pts))
        out = np.empty(grid.shape)
        out[..., :2] = from_letterbox(grid[..., :2] * STRIDE, dst.matrix)
        conf = grid[..., 2]
        h, w = dst.shape
        x, y = out[..., 0], out[..., 1]
        with np.errstate(invalid="ignore"):
            inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
        out[..., 2] = np.where(inside, conf, 0.0)
        return out
