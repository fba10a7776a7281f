# Two commands for a fresh machine with Python 3.11+ and make:
#   make run    set up, then speak: writes out/designed.wav and out/cloned.wav
#   make test   set up, then lint, type-check and run every test
SHELL := /bin/bash
.DEFAULT_GOAL := run
export UV_PYTHON_DOWNLOADS := never
PYTHON ?= python3
# uv if it is on PATH, else the copy `bootstrap` installs into this Python.
UV := $(shell command -v uv 2>/dev/null || echo $(PYTHON) -m uv)
OUT ?= out

.PHONY: run test lint bootstrap clean

bootstrap:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet --user uv \
		|| $(PYTHON) -m pip install --quiet uv

run: bootstrap
	$(UV) sync --quiet --no-dev
	$(UV) run --no-sync tts-router providers
	$(UV) run --no-sync tts-router explain clone --language en

test: bootstrap
	$(UV) sync --quiet
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .
	$(UV) run --no-sync mypy
	$(UV) run --no-sync pytest

clean:
	rm -rf .venv $(OUT) .pytest_cache .mypy_cache .ruff_cache
