# One entry point for tooling. `make demo` and `make test` install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

.PHONY: help install demo test lint typecheck format bench docs clean

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its dev tools

demo: $(STAMP) ## Run the main example offline (no API key; synthetic output from the offline model)
	$(BIN)/python examples/demo.py

test: $(STAMP) ## Run the whole test suite (doctests included)
	$(BIN)/python -m pytest

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
	rm -rf $(VENV) .pytest_cache .ruff_cache
