# The two front-door commands (see README.md). Both set everything up from nothing.
SHELL := /bin/bash
TAPEFLOW := .venv/bin/tapeflow
MARKET ?= ../shared/data/market
ROOT ?= data

.PHONY: demo test lint setup bench

setup:  ## interpreter + virtual environment + locked packages
	@scripts/bootstrap >/dev/null

demo: setup  ## the main job on embedded defaults over real trades (scripts/demo)
	MARKET=$(MARKET) ROOT=$(ROOT) scripts/demo

test: setup  ## lint + type check + the layering contracts + the whole test suite (starts the Firestore emulator itself)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports
	.venv/bin/pytest

bench: setup  ## the on-demand benchmarks in tests/benchmarks/
	@for b in tests/benchmarks/bench_*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done
