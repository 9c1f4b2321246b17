# Veiviser — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.10 (Rasa 3.6 supports nothing newer): $PYTHON, else pyenv's 3.10, else python3.10 on PATH.
PYTHON ?= $(shell ls -d $$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V | tail -1)
ifeq ($(PYTHON),)
PYTHON := $(shell command -v python3.10)
endif

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: help run test train model bench venv clean eval

help: ## List the targets
	@grep -E '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.10 not found: install it with pyenv, or set PYTHON=/path/to/python3.10"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip<25" "setuptools==70.3.0" "wheel==0.45.1"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP) ## Build .venv with Python 3.10 and the pinned dependencies

model: $(STAMP) ## Train the model if it is missing or older than config.yml, domain/ or nlu/
	$(BIN)/veiviser train --if-stale --promote

train: $(STAMP) ## Train the model now
	$(BIN)/veiviser train

run: model ## Build, train if needed, and start Veiviser (Telegram when VEIVISER_TELEGRAM_TOKEN is set)
	$(BIN)/veiviser run

test: model ## Build, train if needed, and run the whole test suite
	$(BIN)/python -m pytest -q

eval: model ## Top-1 citation accuracy and out-of-scope handling on tests/eval
	$(BIN)/python -m bot.evaluate

bench: model ## Speed and memory figures (model, training, redaction, HTTP API under load, two workers)
	$(BIN)/python scripts/bench.py
	$(BIN)/python scripts/bench_redaction.py
	$(BIN)/python scripts/bench_http.py
	$(BIN)/python scripts/bench_workers.py

clean: ## Remove the virtualenv, models and run-time data
	rm -rf $(VENV) models var reports
