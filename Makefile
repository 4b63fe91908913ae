# TPR assistant: one file to set up, run and test the whole stack.
# `make help` lists the targets. `make run` and `make test` are all a fresh machine needs.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.10 is required by rasa 3.6.21; find it whether or not pyenv shims are configured.
PYTHON310 ?= $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10; do \
	$$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null && { echo $$p; break; }; done)

VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
VENV_STAMP := $(VENV)/.installed
MODEL := models/tpr-assistant.tar.gz
TRAINING_FILES := domain.yml config.yml $(shell find data -name '*.yml' 2>/dev/null)

export PYTHONPATH := $(CURDIR)
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONWARNINGS := ignore
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

.PHONY: help setup system-deps browser-deps train run up down test test-stories pytest lint \
	validate interactive shell bench clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

# --- set-up ---------------------------------------------------------------------------------

$(VENV_STAMP): requirements.txt constraints.txt
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found: install python3.10 (rasa 3.6 needs < 3.11)"; exit 1; }
	@test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<25" wheel
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	@touch $@

setup: $(VENV_STAMP) system-deps ## Create .venv (Python 3.10) with pinned packages; install nginx if missing

system-deps: ## Install nginx from Debian when missing
	@bash deploy/system-deps.sh nginx

browser-deps: ## Install Chromium from Debian when missing (browser tests)
	@bash deploy/system-deps.sh chromium

# --- model ----------------------------------------------------------------------------------

$(MODEL): $(TRAINING_FILES) | $(VENV_STAMP)
	$(RASA) train --fixed-model-name tpr-assistant --out models --quiet --skip-validation

train: $(MODEL) ## Train the model when missing or when the training data changed

validate: $(VENV_STAMP) ## rasa data validate --fail-on-warnings
	$(RASA) data validate --fail-on-warnings --quiet

# --- run ------------------------------------------------------------------------------------

run: setup train ## Set up, then run the whole stack in the foreground until Ctrl-C
	$(PY) deploy/stack.py run

up: setup train ## Start the stack in the background; returns once every part answers
	$(PY) deploy/stack.py up

down: ## Stop everything `make up` started (by recorded PIDs)
	@if [ -x $(PY) ]; then $(PY) deploy/stack.py down; else echo "nothing to stop"; fi

interactive: setup train ## rasa interactive against the action server (to write new stories)
	$(PY) deploy/interactive.py $(ARGS)

shell: setup train ## Talk to the bot in the terminal (rasa shell with the action server)
	$(PY) deploy/interactive.py --shell $(ARGS)

# --- quality --------------------------------------------------------------------------------

lint: $(VENV_STAMP) ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test-stories: train ## rasa test on the test stories, failing on any prediction error
	$(RASA) test core --model $(MODEL) --stories tests/stories --fail-on-prediction-errors \
		--out results/stories --quiet

pytest: setup browser-deps train ## Every pytest suite: engine, actions, stores, integration, browser
	$(PY) -m pytest -ra

test: setup browser-deps lint validate train test-stories pytest ## Set up what is missing, then run every test

bench: setup train ## Benchmarks: ingest, analysis, trend, race, turns, history, followups, maps, upload, redis modes (prints figures and ratios)
	$(PY) bench/ingest.py
	$(PY) bench/analysis.py
	$(PY) bench/trend.py
	$(PY) bench/history.py
	$(PY) bench/turns.py
	$(PY) bench/race.py
	$(PY) bench/followups.py
	$(PY) bench/maps.py
	$(PY) bench/upload.py
	$(PY) bench/redis_modes.py

clean: down ## Remove generated files (keeps .venv)
	rm -rf var results models .pytest_cache .ruff_cache
