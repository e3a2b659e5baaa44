# Two commands do all the set-up (see README):
#   make demo   - create .venv, install curate, run the main job on built-in demo data
#   make test   - create .venv, install curate with the dev extras, lint, run the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch; GPU users set TORCH_SPEC to their own CUDA build (or preinstall it).
TORCH_SPEC ?= torch==2.13.0

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

.PHONY: install install-dev demo test lint
install: $(BIN)/python
	$(BIN)/python -m pip install -q -e .

install-dev: $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/curate run --config configs/demo.yaml

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest
