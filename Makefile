# Two commands do all the set-up (see README):
#   make demo   - create .venv, install curate, run the main job on built-in demo data
#   make test   - create .venv, install curate with the dev extras, lint, run the test suite
# and one for training:
#   make train-demo - install the train extra (torch first), run the demo if it has not run,
#                     then train the demo LoRA adapter on its shards
#
# Installs are pinned: every pip install below reads constraints.txt, the exact versions the
# suite last passed with (CPU torch included), so a dependency's release cannot turn a fresh
# clone red. setup.py keeps the honest ranges. `make test-latest` installs the newest versions
# setup.py allows into .venv-latest and runs the suite there; `make constraints` (after a green
# test-latest) writes those versions to constraints.txt.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS ?= constraints.txt
# The CPU wheel of torch; GPU users set TORCH_SPEC to their own CUDA build (or preinstall it).
TORCH_SPEC ?= torch==2.13.0
# torch is installed on its own step (TORCH_SPEC, or the user's preinstalled CUDA build is kept):
# the rest installs against the constraints without their torch line, so pip never swaps it.
PIN := $(if $(CONSTRAINTS),-c $(VENV)/constraints-without-torch.txt)

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/constraints-without-torch.txt: $(BIN)/python $(CONSTRAINTS)
	$(if $(CONSTRAINTS),grep -v '^torch==' $(CONSTRAINTS) > $@,touch $@)

DEMO_OUT ?= out/demo

.PHONY: install install-dev install-train demo train-demo test lint test-latest constraints
install: $(BIN)/python $(VENV)/constraints-without-torch.txt
	$(BIN)/python -m pip install -q $(PIN) -e .

install-dev: $(BIN)/python $(VENV)/constraints-without-torch.txt
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q $(PIN) -e ".[dev]"

# Torch first, as for install-dev, so the train extra's `torch>=2.4` is already satisfied.
install-train: $(BIN)/python $(VENV)/constraints-without-torch.txt
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q $(PIN) -e ".[train]"

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/curate run --config configs/demo.yaml
	@echo "curate is installed in $(VENV); to run it by name: . $(VENV)/bin/activate  (then: curate --help)"

train-demo: install-train
	test -f $(DEMO_OUT)/manifest.json || HF_HUB_OFFLINE=1 $(BIN)/curate run --config configs/demo.yaml --output $(DEMO_OUT)
	HF_HUB_OFFLINE=1 $(BIN)/curate train --manifest $(DEMO_OUT)/manifest.json --config configs/train/lora_demo.yaml

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Every core (pytest-xdist); a test file stays on one worker, so its module fixtures run once.
test: lint
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest -n auto --dist loadfile

# The newest versions setup.py allows (not in CI): a fresh .venv-latest, no constraints. torch
# stays TORCH_SPEC (the CPU wheel): an unpinned `torch` from PyPI is a multi-GB CUDA build.
test-latest:
	$(MAKE) test VENV=.venv-latest CONSTRAINTS=
	$(MAKE) --no-print-directory constraints-check VENV=.venv-latest

# Writes what FROM holds (.venv-latest, after a green test-latest) to constraints.txt.
FROM ?= .venv-latest
constraints:
	$(FROM)/bin/python -m pip freeze --exclude-editable \
		| sed -E 's/^(torch==[^+]*)\+.*/\1/' | grep -v -i '^curate' > constraints.txt
	@echo "constraints.txt: $$(wc -l < constraints.txt) pins; commit it with the green run's log"

constraints-check:
	@$(BIN)/python -m pip freeze --exclude-editable | sed -E 's/^(torch==[^+]*)\+.*/\1/' \
		| grep -v -i '^curate' | diff -q - constraints.txt >/dev/null \
		&& echo "test-latest: the newest versions are the pinned ones" \
		|| echo "test-latest: newer versions than constraints.txt pass; 'make constraints' pins them"
