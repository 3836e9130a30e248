"""Test scaffolding: the deterministic weights and inputs of the reference fixtures (``shared/reference/README.md``).

Imported by the reference tests (``from reference_weights import ...``; tests/ is on their path) and by
``benchmarks/bench_networks.py``; it is not part of the installed package.

The reference README defines how every tensor of the authors' networks was filled before the
golden outputs were computed: from its state-dict key, shape and dtype alone. With the same
rule, a port can load identical weights (``load_state_dict(strict=True)``) and compare its
outputs with the golden arrays. The same file defines the inputs (seeded ``torch.rand``) and
the 17 correlation queries.

Rule (float32 arithmetic in the written order; ``g`` = a ``torch.Generator`` seeded with the
unsigned CRC32 of the key, one draw per tensor):

1. ``*running_var`` -> ``1 + 0.1 * rand``
2. ``*running_mean`` -> ``0.1 * randn``
3. ``*.bias`` -> ``0.01 * randn``
4. 1-d ``*.weight`` (BN gamma) -> ``1 + 0.1 * randn``
5. 4-d ``*.weight`` of a key containing ``Conv2dT_`` -> ``randn * sqrt(2 / shape[0])``
6. other 4-d ``*.weight`` -> ``randn * sqrt(2 / (shape[1] * shape[2] * shape[3]))``

and int64 entries (``num_batches_tracked``) are 0.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import torch

__all__ = [
    "POSE_INPUT_SEED",
    "REFERENCE_QUERIES_YX",
    "SIAMESE_INPUT_A_SEED",
    "SIAMESE_INPUT_B_SEED",
    "fill_layout",
    "fill_tensor",
    "load_layout",
    "reference_input",
    "reference_queries_xy",
]

POSE_INPUT_SEED = 123
SIAMESE_INPUT_A_SEED = 1001
SIAMESE_INPUT_B_SEED = 1002

#: the README's 17 correlation queries as (y, x) on the 128x128 grid; 6 and 7 lie outside the grid
REFERENCE_QUERIES_YX: tuple[tuple[int, int], ...] = (
    (0, 0),
    (0, 64),
    (127, 127),
    (64, 0),
    (127, 30),
    (50, 127),
    (-1, 10),
    (10, 128),
    (20, 16),
    (20, 64),
    (20, 110),
    (64, 16),
    (64, 64),
    (64, 110),
    (100, 16),
    (100, 64),
    (100, 110),
)


def fill_tensor(key: str, shape: Iterable[int], dtype: str | torch.dtype = "float32") -> torch.Tensor:
    """The tensor the reference rule gives to state-dict entry ``key``; ``ValueError`` for an entry without a rule."""
    shape = tuple(int(s) for s in shape)
    if dtype in ("int64", torch.int64):
        return torch.zeros(shape, dtype=torch.int64)
    if dtype not in ("float32", torch.float32):
        raise ValueError(f"{key}: no fill rule for dtype {dtype}")
    g = torch.Generator().manual_seed(zlib.crc32(key.encode("utf-8")))
    if key.endswith("running_var"):
        return 1 + 0.1 * torch.rand(shape, generator=g, dtype=torch.float32)
    if key.endswith("running_mean"):
        return 0.1 * torch.randn(shape, generator=g, dtype=torch.float32)
    if key.endswith(".bias"):
        return 0.01 * torch.randn(shape, generator=g, dtype=torch.float32)
    if key.endswith(".weight") and len(shape) == 1:
        return 1 + 0.1 * torch.randn(shape, generator=g, dtype=torch.float32)
    if key.endswith(".weight") and len(shape) == 4:
        fan_in = shape[0] if "Conv2dT_" in key else shape[1] * shape[2] * shape[3]
        return torch.randn(shape, generator=g, dtype=torch.float32) * math.sqrt(2.0 / fan_in)
    raise ValueError(f"{key}: no fill rule for a {len(shape)}-d tensor")


def load_layout(path: str | Path) -> dict[str, Any]:
    """A layout JSON of the reference fixtures (``layouts/*.json``)."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def fill_layout(
    layout: Mapping[str, Any] | Iterable[Mapping[str, Any]],
    *,
    unfillable: Literal["error", "zeros"] = "error",
    prefix: str = "",
) -> OrderedDict[str, torch.Tensor]:
    """A state dict with every entry of ``layout`` (a layout dict or its ``state_dict`` list) filled by the rule.

    ``unfillable="zeros"`` gives zeros to entries without a rule (the ImageNet ``last_linear.weight``).
    ``prefix`` is prepended to the keys *after* filling (the rule always uses the layout key).
    """
    entries = layout["state_dict"] if isinstance(layout, Mapping) else layout
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for e in entries:
        try:
            t = fill_tensor(e["key"], e["shape"], e["dtype"])
        except ValueError:
            if unfillable == "error":
                raise
            t = torch.zeros(e["shape"], dtype=torch.int64 if e["dtype"] == "int64" else torch.float32)
        out[prefix + e["key"]] = t
    return out


def reference_input(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """The README's input rule: ``torch.rand(shape)`` from a generator seeded with ``seed`` (RGB in [0, 1))."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32)


def reference_queries_xy() -> torch.Tensor:
    """The 17 reference queries as a ``(1, 17, 2)`` float tensor of (x, y) grid coordinates (corrtrack's order)."""
    yx = torch.tensor(REFERENCE_QUERIES_YX, dtype=torch.float64)
    return yx[:, [1, 0]].unsqueeze(0)
