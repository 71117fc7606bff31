# `make demo`, `make check` and `make test` each create .venv and install what they need on a fresh machine.
# `make check` is the fast tier (lint, types, the in-memory tests and properties); `make test` runs everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo check test lint bench bench-seed clean template

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/aws-es demo

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -m "not slow"

# Three workers (pytest-xdist) on two cores: about a third of the suite's time is spent waiting (processes
# starting, servers, a browser), and a third worker computes meanwhile. Each takes the next test as it frees up.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n 3 --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/cfn-lint template.yaml

# template.yaml is `aws-es template`'s output for the loans module (tests/unit/test_template_generated.py).
template: $(STAMP)
	AWS_ES_MODULES=loans SNAPSHOT_EVERY= PROJECTION_COUNTER_SHARDS= $(BIN)/aws-es template --output template.yaml

# The peer the fold is measured against (`eventsourcing`) is installed for the benchmark only: the `bench` extra.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks

# Seed-style hydrate here against another source tree, alternately: make bench-seed BASE=/tmp/base
bench-seed: $(STAMP)
	$(BIN)/python -m benchmarks.seed_compare $(BASE)

clean:
	rm -rf $(VENV) build .aws-sam .mypy_cache *.egg-info
