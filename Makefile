# Two commands on a fresh machine with Python 3.11 and make:
#   make demo   – create .venv, install, run the simulated station demo
#   make test   – create .venv if needed (and Debian's chromium, nats-server and haproxy, if missing), run the test suite (both tiers)
# and, while developing:
#   make unit   – the unit tier without the slow accuracy tests (no IOC, server or Redis)
#   make lint   – import-linter contracts, ruff (lint and format), mypy
#   make bench  – every benchmark, one table (python -m benchmarks; BENCH_ARGS="--quick")
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test unit lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/acq demo

# Debian's headless Chromium and its chromedriver, for the test of Tiled's web UI
# (tests/system/test_tiled_web_ui.py): installed when missing (as root, as CI runs).
BROWSER := /usr/bin/chromium /usr/bin/chromedriver

$(BROWSER):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

# Debian's NATS server, which the broker's tests start on ports and stores of their own
# (tests/system/nats_server.py); installed when missing, as the browser is.
NATS_SERVER := /usr/sbin/nats-server

$(NATS_SERVER):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server

# Debian's HAProxy, the load balancer of `acq tiled serve` (tests/system/test_tiled_deployment.py):
# installed when missing (as root, as CI runs).
HAPROXY := /usr/sbin/haproxy

$(HAPROXY):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy

# Two workers (2 cores): the system tier on one, the README's walk-through on the other,
# unit tests on whichever is free (tests/conftest.py assigns the groups).
test: $(STAMP) $(BROWSER) $(NATS_SERVER) $(HAPROXY)
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup --durations=20 $(PYTEST_ARGS)

unit: $(STAMP)
	$(VENV)/bin/python -m pytest -m "unit and not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The benchmarks' peers beyond the test extra (pyimpspec: GPL-3.0, never imported by acq).
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e ".[bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(VENV)/bin/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data build *.egg-info
