# The two set-up commands are `make run` and `make test`; both need only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck format check migrate bench bench-timeline bench-feeds lock clean

help:
	@echo "make run        start Tidings on http://127.0.0.1:8000 (embedded PostgreSQL/Redis if unset)"
	@echo "make test       run the test suite against real PostgreSQL and Redis"
	@echo "make lint | typecheck | format | check | bench | bench-timeline | bench-feeds | migrate | lock | clean"

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/tidings dev

test: $(STAMP)
	$(BIN)/tidings services --test -- $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy app tests bench migrations

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: lint typecheck test

migrate: $(STAMP)
	$(BIN)/tidings migrate

bench: $(STAMP)
	$(BIN)/tidings services -- $(BIN)/python -m bench.ingest $(BENCH_ARGS)

bench-timeline: $(STAMP)
	$(BIN)/tidings services -- $(BIN)/python -m bench.timeline $(BENCH_ARGS)

bench-feeds: $(STAMP)
	$(BIN)/tidings services -- $(BIN)/python -m bench.feeds $(BENCH_ARGS)

# Re-pin every dependency (needs network); commit requirements.lock afterwards.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache
