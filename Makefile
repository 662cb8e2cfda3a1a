# One place that decides what gets installed: constraints.txt pins every package.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup audit test test-fast lint bench train-builtin clean browser

setup: $(STAMP)

# Debian's headless Chromium renders report.html in the browser tests (root on CI); skipped once installed.
# Only the tests need it: `make audit` writes report.html without a browser.
CHROMIUM := /usr/bin/chromium-headless-shell
browser:
	@test -x $(CHROMIUM) || (apt-get update -qq && apt-get install -y -qq chromium-headless-shell)

# torch/torchvision first and by exact version: this machine serves these two from local disk.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt torch torchvision
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

audit: setup
	$(BIN)/vlmaudit run

# One BLAS/OpenMP thread per xdist worker: two workers on two cores at two threads each
# oversubscribe (the whole suite took 1.6x longer). The goldens were written at one thread: at two,
# float reductions round differently in their last bits (see tests/golden_run.py).
test: setup browser
	$(BIN)/ruff check src tests benchmarks
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadgroup

# for iteration: everything but the few multi-process and full-size tests (`slow`); CI runs `test`
test-fast: setup browser
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadgroup -m "not slow"

bench: setup
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/bootstrap.py

train-builtin: setup
	$(BIN)/vlmaudit train builtin

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
