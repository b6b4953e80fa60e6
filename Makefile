# Two commands: `make run` and `make test`. Everything else is set up on the way.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test quick browser bench clean

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

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

# The in-process layer alone (no browser, no pseudo-terminals, nothing over about a second): the inner loop.
quick: $(STAMP)
	$(BIN)/python -m pytest -q -m "not browser and not serial and not slow"

# make bench BENCH="live_latency ingest_chairs": only those (names of scripts in benchmarks/)
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH)

clean:
	rm -rf $(VENV) build *.egg-info
