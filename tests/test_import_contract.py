"""The layer contract of import-linter (pyproject.toml) names every module of the package."""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import pytest

import corrtrack

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]


def _layer_modules() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    return {name.strip() for layer in layers for name in layer.split("|")}


def test_every_top_level_module_is_in_a_layer() -> None:
    ignored = {"__main__"}  # the `python -m corrtrack` entry point only calls corrtrack.cli
    modules = {f"corrtrack.{m.name}" for m in pkgutil.iter_modules(corrtrack.__path__) if m.name not in ignored}
    missing = sorted(modules - _layer_modules())
    assert not missing, f"modules not placed in the layer contract of pyproject.toml: {missing}"


def test_layer_contract_names_only_existing_modules() -> None:
    modules = {f"corrtrack.{m.name}" for m in pkgutil.iter_modules(corrtrack.__path__)}
    stale = sorted(_layer_modules() - modules)
    assert not stale, f"the layer contract names modules that do not exist: {stale}"


def test_architecture_doc_lists_every_layer() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    unnamed = [m for m in sorted(_layer_modules()) if not re.search(rf"\b{re.escape(m.split('.', 1)[1])}\b", text)]
    assert not unnamed, f"docs/architecture.md does not mention: {unnamed}"


def test_help_imports_no_command_module_dependencies() -> None:
    """`corrtrack --help` stays light (issue 24: <= 0.5 CPU s): the CLI package imports neither numpy, scipy,
    torch, cv2 nor the pipeline."""
    import subprocess
    import sys

    code = (
        "import sys, corrtrack.cli; heavy = [m for m in ('numpy', 'scipy', 'torch', 'cv2', 'corrtrack.pipeline', "
        "'corrtrack.evaluate.api') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_eval_cli_hota_scale_default_is_the_evaluators() -> None:
    import inspect

    from corrtrack.cli.evaluate import eval_ as eval_command
    from corrtrack.evaluate.hota import KEYPOINT_SIM_SCALE

    assert inspect.signature(eval_command).parameters["hota_scale"].default == KEYPOINT_SIM_SCALE
