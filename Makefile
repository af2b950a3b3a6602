# rollsafe: every target bootstraps .venv from nothing (only python3 and make are needed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo bench mutants lint typecheck clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/rollsafe simulate --builtin eks-alb-defaults
	$(BIN)/rollsafe simulate --builtin eks-alb-zero-downtime
	$(BIN)/rollsafe compare --builtin eks-alb-defaults --builtin eks-alb-zero-downtime

bench: $(STAMP)
	$(BIN)/python bench/run.py

# a small mutation check: single-line breakages the test suite must catch (tools/mutants.py)
mutants: $(STAMP)
	$(BIN)/python tools/mutants.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
