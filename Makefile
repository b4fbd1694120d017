# Thin wrapper: every target installs first when needed (stamp files make it quick).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
SOLC_STAMP := solidity/node_modules/.installed
PYTEST_ARGS ?=
# make test's pytest-xdist workers (tests/helpers/worker_groups.py keeps the tests sharing a network together)
TEST_WORKERS ?= 2

.PHONY: install run test test-fast soak lint format bench clean down

install: $(PY_STAMP) $(SOLC_STAMP)

$(PY_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,postgres]'
	touch $@

$(SOLC_STAMP): solidity/package.json solidity/package-lock.json
	npm ci --prefix solidity --no-audit --no-fund --loglevel=error
	touch $@

run: install
	$(BIN)/privnet up --dir .privnet --demo

test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup -m "not slow and not e2e" $(PYTEST_ARGS)

soak: install
	$(BIN)/python -m pytest -m soak -s tests/soak $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check engine tessera_like postrade devnet tests bench

format: install
	$(BIN)/ruff format engine tessera_like postrade devnet tests bench

bench: install
	$(BIN)/python -m bench

down: install
	$(BIN)/privnet down --dir .privnet

clean:
	rm -rf $(VENV) solidity/node_modules build .pytest_cache .ruff_cache .hypothesis .privnet
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
