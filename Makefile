# Two commands do all the set-up (see README):
#   make demo   - create .venv, install curate, run the main job on built-in demo data
#   make test   - create .venv, install curate with the dev extras, lint, run the test suite
# and one for training:
#   make train-demo - install the train extra (torch first), run the demo if it has not run,
#                     then train the demo LoRA adapter on its shards
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch; GPU users set TORCH_SPEC to their own CUDA build (or preinstall it).
TORCH_SPEC ?= torch==2.13.0

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

DEMO_OUT ?= out/demo

.PHONY: install install-dev install-train demo train-demo test lint
install: $(BIN)/python
	$(BIN)/python -m pip install -q -e .

install-dev: $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"

# Torch first, as for install-dev, so the train extra's `torch>=2.4` is already satisfied.
install-train: $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[train]"

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/curate run --config configs/demo.yaml

train-demo: install-train
	test -f $(DEMO_OUT)/manifest.json || HF_HUB_OFFLINE=1 $(BIN)/curate run --config configs/demo.yaml --output $(DEMO_OUT)
	HF_HUB_OFFLINE=1 $(BIN)/curate train --manifest $(DEMO_OUT)/manifest.json --config configs/train/lora_demo.yaml

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest
