# Two set-up commands on a fresh machine: `make benchmark` (the main job) and `make test`.
# Each creates the virtual environment and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: benchmark test test-slow lint bench-env bench-speed clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

benchmark: $(STAMP)
	$(BIN)/python -m experiments.benchmark experiment=default

# One pytest worker per core (pytest-xdist): each test is independent of the others.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n auto -m slow

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench-env: $(STAMP)
	taskset -c 1 $(BIN)/python -m experiments.bench_env env=network num_envs=1024
	taskset -c 1 $(BIN)/python -m experiments.bench_env env=lost_sales num_envs=4096

# The Speed section of the README: curves over num_envs and network size, and DynaPlex
# side by side (needs a venv with dynaplex==1.14.1 at dynaplex_python, see conf/bench_env.yaml).
bench-speed: $(STAMP)
	taskset -c 1 $(BIN)/python -m experiments.bench_env mode=sweep env=network
	taskset -c 1 $(BIN)/python -m experiments.bench_env mode=dynaplex

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache .ruff_cache
