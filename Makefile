# Every target bootstraps uv (from PyPI) and the project's environment first.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen

.PHONY: help bootstrap system-deps demo serve test test-all lint format synth bench bench-peer clean

help:
	@echo "make demo   - the main job: the story so far on the embedded AWS"
	@echo "make test   - lint and the test suite (what CI runs)"
	@echo "make serve  - embedded AWS + HTTP API on http://127.0.0.1:8787"
	@echo "make synth  - the CloudFormation template (no AWS account needed)"
	@echo "make bench  - speed and memory figures (BILLING_ACCOUNTS=1000,10000 for the long run; CASH_ROWS=2000; OVERDUE_INVOICES=100000; WEB_ORDERS=50)"
	@echo "make bench-peer N=200 LINES=10 - Tryton and monosub invoicing the same month"
	@echo "make system-deps - Debian packages for PDFs and the browser tests (CI runs it)"

bootstrap:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
	  || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

# Debian packages for PDF rendering and the browser tests (root or sudo); without them those
# tests are skipped with the reason.
system-deps:
	bash scripts/install-system-deps.sh

demo: bootstrap
	$(RUN) monosub demo

serve: bootstrap
	$(RUN) monosub serve

lint: bootstrap
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

test: lint
	$(RUN) pytest -n 2 -m "not slow"

test-all: lint
	$(RUN) pytest -n 2

format: bootstrap
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

synth: bootstrap
	$(RUN) python infra/app.py

# The billing local run's sizes (comma-separated); 10,000 accounts takes long on moto.
BILLING_ACCOUNTS ?= 1000
CASH_ROWS ?= 2000
OVERDUE_INVOICES ?= 10000
WEB_ORDERS ?= 50
N ?= 200
LINES ?= 10

bench: bootstrap
	$(RUN) python -m bench.run --billing-accounts $(BILLING_ACCOUNTS) --cash-rows $(CASH_ROWS) --overdue-invoices $(OVERDUE_INVOICES) --web-orders $(WEB_ORDERS)

# Tryton 8.2 (../shared/peers/tryton, PostgreSQL; installs under /tmp, needs root for apt)
# and monosub on the same N customers × LINES lines, with the ratio.
bench-peer: bootstrap
	$(RUN) python -m bench.peer --accounts $(N) --lines $(LINES)

clean:
	rm -rf cdk.out out .pytest_cache .mypy_cache .ruff_cache
