# Every target bootstraps .venv on a fresh machine: system packages, then Python packages.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_HOME := $(CURDIR)/.demo
ADMIN_EMAIL ?= admin@localhost.localdomain

.PHONY: test test-fast run demo bench lint system-deps clean

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# libvirt-python builds against libvirt's headers (found through pkg-config);
# the dashboard tests drive Debian's chromium headless.
SYSTEM_PACKAGES := libvirt-dev pkg-config chromium
system-deps:
	@if ! (command -v pkg-config >/dev/null && pkg-config --exists libvirt && command -v chromium >/dev/null); then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages: $(SYSTEM_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	  else \
	    echo "error: these system packages are needed: $(SYSTEM_PACKAGES);" \
	         "install them as root: apt-get install -y $(SYSTEM_PACKAGES)" >&2; \
	    exit 1; \
	  fi; \
	fi

test: $(STAMP)
	$(BIN)/pytest

# The fast ring: access rules and aggregates, no store, no server (seconds).
test-fast: $(STAMP)
	$(BIN)/pytest -m fast

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy domain adapters api audit_queries projections client

run: $(STAMP)
	env -u STRONGROOM_DATABASE_URL $(BIN)/strongroom init --if-needed --admin-email $(ADMIN_EMAIL)
	env -u STRONGROOM_DATABASE_URL $(BIN)/strongroom serve

demo: $(STAMP)
	rm -rf $(DEMO_HOME)
	STRONGROOM_HOME=$(DEMO_HOME) $(BIN)/strongroom demo

bench: $(STAMP)
	$(BIN)/python bench/store.py
	$(BIN)/python bench/auth.py
	$(BIN)/python bench/projections.py
	$(BIN)/python bench/http_commands.py
	$(BIN)/python bench/cli.py
	$(BIN)/python bench/forensics.py

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache
