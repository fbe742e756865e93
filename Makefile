# The two set-up commands are `make run` and `make test`; both need only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help install chromium run test lint typecheck format check migrate bench bench-timeline bench-feeds bench-ws bench-retention lock clean

help:
	@echo "make run        start Tidings on http://127.0.0.1:8000 (embedded PostgreSQL/Redis if unset)"
	@echo "make test       run the test suite against real PostgreSQL and Redis"
	@echo "make lint | typecheck | format | check | bench | bench-timeline | bench-feeds | bench-ws | bench-retention | migrate | lock | clean"

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

# The browser tests (tests/browser) drive Debian's chromium through playwright; no browser
# is ever downloaded (`playwright install` is not used). Missing, it is installed here when
# we are root with apt-get (once, up to a minute); otherwise this says how, and those tests
# fail. TIDINGS_CHROMIUM names another Chromium binary.
CHROMIUM := $(or $(TIDINGS_CHROMIUM),/usr/bin/chromium)
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get -qq -o=Dpkg::Use-Pty=0

chromium:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ -n "$(TIDINGS_CHROMIUM)" ]; then \
		echo "chromium: TIDINGS_CHROMIUM=$(TIDINGS_CHROMIUM) is not an executable: the browser tests will fail"; \
		exit 0; \
	fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "chromium: $(CHROMIUM) is missing: the browser tests will fail." \
			"Install it with \`sudo apt-get install --no-install-recommends chromium\`" \
			"(or set TIDINGS_CHROMIUM to a Chromium binary)"; \
		exit 0; \
	fi; \
	echo "chromium: installing Debian's chromium for the browser tests (apt-get, up to a minute)"; \
	log=$$(mktemp); start=$$(date +%s); \
	apt_install() { $(APT_GET) install -y --no-install-recommends chromium >>"$$log" 2>&1; }; \
	if ! apt_install && grep -qE "Unable to locate package|has no installation candidate|Failed to fetch" "$$log"; then \
		$(APT_GET) update >>"$$log" 2>&1 && apt_install; \
	fi; \
	if [ -x /usr/bin/chromium ]; then \
		echo "chromium: installed $$(/usr/bin/chromium --version 2>/dev/null) in $$(( $$(date +%s) - start )) s"; \
	else \
		tail -n 15 "$$log"; \
		echo "chromium: apt-get could not install chromium (above): the browser tests will fail"; \
	fi; \
	rm -f "$$log"

run: $(STAMP)
	$(BIN)/tidings dev

test: $(STAMP) chromium
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

bench-ws: $(STAMP)
	$(BIN)/tidings services -- $(BIN)/python -m bench.ws $(BENCH_ARGS)

bench-retention: $(STAMP)
	$(BIN)/tidings services -- $(BIN)/python -m bench.retention $(BENCH_ARGS)

# Re-pin every dependency (needs network); commit requirements.lock afterwards.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache
