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
DEMO_TEXT := Hello! This is tts router, speaking offline with eSpeak NG, on any machine.

.PHONY: run test bench example bootstrap clean

bootstrap:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet --user uv \
		|| $(PYTHON) -m pip install --quiet uv

# The embedded default needs no GPU, account or network: core + the eSpeak NG provider only.
run: bootstrap
	$(UV) sync --quiet --no-dev --package tts-router-espeak
	$(UV) run --no-sync tts-router providers
	$(UV) run --no-sync tts-router design --language en -o $(OUT)/designed.wav \
		--instruct "a warm, low female voice, speaking slowly" \
		--text "$(DEMO_TEXT)"
	$(UV) run --no-sync tts-router explain clone --language en --transcript "$(DEMO_TEXT)"
	$(UV) run --no-sync tts-router clone --language en -o $(OUT)/cloned.wav \
		--reference $(OUT)/designed.wav --transcript "$(DEMO_TEXT)" \
		--text "And this is the same voice, cloned from the recording it just made."

# Voice Studio (examples/voice_studio), an Utter-shaped web app, on http://127.0.0.1:8000.
# eSpeak NG by default; TTS_PROVIDER=qwen QWEN_MODAL_URL=... (and QWEN_MODAL_DESIGN_URL) switch it.
example: bootstrap
	$(UV) sync --quiet --no-dev --group example
	PYTHONPATH=examples/voice_studio $(UV) run --no-sync python -m voice_studio \
		--port $(or $(PORT),8000) --data-dir $(OUT)/voice_studio

test: bootstrap
	$(UV) sync --quiet
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .
	$(UV) run --no-sync mypy
	$(UV) run --no-sync pytest

# Ratios measured in one run on the tiny random Qwen model (batching, prompt cache).
bench: bootstrap
	$(UV) sync --quiet
	$(UV) run --no-sync python bench/bench_qwen_tiny.py
	$(UV) run --no-sync python bench/bench_fallback.py
	$(UV) run --no-sync python bench/bench_gateway.py
	$(UV) run --no-sync python bench/bench_streaming.py
	$(UV) run --no-sync python bench/bench_throughput.py
	$(UV) run --no-sync python bench/bench_decode_memory.py
	$(UV) run --no-sync python bench/bench_router_overhead.py

clean:
	rm -rf .venv $(OUT) .pytest_cache .mypy_cache .ruff_cache
