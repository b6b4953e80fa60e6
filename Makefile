# Two commands: `make run` and `make test`. Everything else is set up on the way.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test quick browser postgres bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/infusion-monitor run

# Debian's Chromium and its driver for the browser tests (installed when missing and root).
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "browser tests need chromium and chromium-driver: sudo apt-get install chromium chromium-driver" >&2; exit 1; \
	  fi; \
	fi

# Debian's PostgreSQL server binaries for the postgres tests (installed when missing and root). The tests
# run initdb and pg_ctl themselves in a temporary directory (tests/pg_server.py); the system service and
# cluster a Debian install may start are harmless and unused.
postgres:
	@if ! { command -v pg_config >/dev/null 2>&1 && [ -x "$$(pg_config --bindir)/initdb" ]; } \
	    && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else \
	    echo "postgres tests need the PostgreSQL server: sudo apt-get install postgresql" >&2; exit 1; \
	  fi; \
	fi

test: $(STAMP) browser postgres
	$(BIN)/python -m pytest -q

# The in-process layer alone (no browser, no pseudo-terminals, no PostgreSQL, nothing over about a quarter second): the inner loop.
quick: $(STAMP)
	$(BIN)/python -m pytest -q -m "not browser and not serial and not slow and not postgres"

# make bench BENCH="live_latency ingest_chairs": only those (names of scripts in benchmarks/)
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH)

clean:
	rm -rf $(VENV) build *.egg-info
