# rollsafe: every target bootstraps .venv from nothing (only python3 and make are needed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COMPILED_DIR := build/mypyc

.PHONY: test test-compiled compiled demo bench mutants lint typecheck clean

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

# optional: the hot path compiled with mypyc (ships with mypy, a dev dependency), built out of tree in
# build/mypyc (about 75 s; does nothing when up to date). Use it with PYTHONPATH=build/mypyc/src.
compiled: $(STAMP)
	$(BIN)/python tools/build_compiled.py $(COMPILED_DIR)

# the test suite against the compiled build (tests marked pure_only are skipped there)
test-compiled: compiled
	ROLLSAFE_EXPECT_COMPILED=1 PYTHONPATH=$(COMPILED_DIR)/src $(BIN)/pytest

demo: $(STAMP)
	$(BIN)/rollsafe simulate --builtin eks-alb-defaults
	$(BIN)/rollsafe simulate --builtin eks-alb-zero-downtime
	$(BIN)/rollsafe compare --builtin eks-alb-defaults --builtin eks-alb-zero-downtime

bench: $(STAMP) compiled
	$(BIN)/python bench/run.py

# a small mutation check: single-line breakages the test suite must catch (tools/mutants.py)
mutants: $(STAMP)
	$(BIN)/python tools/mutants.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
