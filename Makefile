# qexplore — the commands README.md names.
#   make demo    set up (if needed) and run the CPU demo sweep (demo model built on first use)
#   make test    set up (if needed) and run every test tier (unit, integration, e2e) + lint
.PHONY: setup demo test check unit bench clean-envs

VENV := .venv
BIN := $(VENV)/bin

setup:
	@bash scripts/setup.sh

demo: setup
	$(BIN)/qexplore sweep recipes/demo-cpu.yaml

check: setup
	$(BIN)/ruff check qexplore tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache  # the layer contract in pyproject.toml

test: check
	@bash scripts/setup-test.sh
	$(BIN)/pytest

unit: setup
	$(BIN)/pytest -m unit

bench: setup  ## benchmarks: each prints ratios measured in the same run (minutes; not in CI)
	$(BIN)/python bench/loadtest_fidelity.py --server fake --users 64 --pairs 3
	$(BIN)/python bench/loadtest_fidelity.py
	$(BIN)/python bench/client_cost.py
	$(BIN)/python bench/sweep_overhead.py
	$(BIN)/python bench/aa_calibration.py
	$(BIN)/python bench/verdict_calibration.py
	$(BIN)/python bench/budget_compare.py

clean-envs:
	rm -rf $(VENV) "$$($(BIN)/python -m qexplore.paths serve-env 2>/dev/null || echo /nonexistent)"
