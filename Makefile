# One entry point for tooling. `make demo` and `make test` install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

.PHONY: help install demo demo-stream traces test test-all lint typecheck format bench docs clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its dev tools

demo: $(STAMP) ## Run the main example offline (no API key; synthetic output from the offline model)
	$(BIN)/python examples/demo.py

demo-stream: $(STAMP) ## The demo under `flock run --stream`: every agent's tokens live (plain lines when piped)
	$(BIN)/flock run --stream examples/demo.py

traces: $(STAMP) ## Start Phoenix on loopback, run the demo exporting to it, print the trace's URL
	$(BIN)/python -m traces

test: $(STAMP) ## Run the whole test suite (doctests included), one worker per core
	$(BIN)/python -m pytest -n auto

# The Pythons the package claims (its classifiers list the same; a test checks): each found one gets .venvs/pyX.Y.
PYTHONS := 3.11 3.12 3.13

test-all: ## Run the suite on every supported Python found (python3.X on PATH, else pyenv's)
	@ran=0; for v in $(PYTHONS); do \
	  py=$$(command -v python$$v 2>/dev/null); \
	  if [ -z "$$py" ] || ! "$$py" -c '' 2>/dev/null; then \
	    py=$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v.*/bin/python$$v 2>/dev/null | sort -V | tail -1); fi; \
	  if [ -z "$$py" ]; then echo "== Python $$v: not found, skipped"; continue; fi; \
	  echo "== Python $$v: $$py"; venv=.venvs/py$$v; \
	  [ -x $$venv/bin/python ] || $$py -m venv $$venv || exit 1; \
	  [ $$venv/.installed -nt pyproject.toml ] || { $$venv/bin/python -m pip install --quiet -e ".[dev]" && touch $$venv/.installed; } || exit 1; \
	  $$venv/bin/python -m pytest -n auto -q -p no:cacheprovider || exit 1; ran=$$((ran + 1)); \
	done; echo "== the suite passed on $$ran Python version(s)"; [ $$ran -gt 0 ]

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check flock_core engines tests examples benchmarks traces
	$(BIN)/ruff format --check flock_core engines tests examples benchmarks traces

format: $(STAMP) ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix flock_core engines tests examples benchmarks traces
	$(BIN)/ruff format flock_core engines tests examples benchmarks traces

typecheck: $(STAMP) ## pyright in strict mode
	$(BIN)/pyright

bench: $(STAMP) ## Run the benchmarks and print the results table
	$(BIN)/python -m benchmarks

docs: $(STAMP) ## Check that the documentation's code examples run
	$(BIN)/python -m pytest tests/test_docs.py

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .venvs .pytest_cache .ruff_cache
