# Kronos: `make run` builds the default configuration, `make test` runs the test suite.
# Both work from a fresh clone on a fresh Debian 12 machine as root, and are idempotent:
# they install the host packages, start dockerd when `docker info` fails, and make .venv.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST_PACKAGES := docker.io mmdebstrap debootstrap dpkg-dev devscripts dput-ng quilt patch gnupg gpgv \
	python3 python3-solv dose-builddebcheck dose-distcheck piuparts diffoscope-minimal \
	python3-venv xz-utils uidmap curl ca-certificates qemu-system-x86 e2fsprogs openssh-client
DOCKERD_LOG ?= /var/log/kronos-dockerd.log
PYTEST_ARGS ?=
JOBS ?= $(shell nproc)

.PHONY: run qa nightly test host engine venv lint unit integration vm clean help

help:
	@echo "make run   - build the default targets (images, sources, packages)"
	@echo "make test  - lint, type-check, unit and integration tests"
	@echo "make nightly - the gated path: build, QA gates, staging, smoke, promote (README, The nightly)"

host:
	@missing=$$(for p in $(HOST_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "+ apt-get install $$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

engine: host
	@if ! docker info >/dev/null 2>&1; then \
		echo "+ dockerd --iptables=false --bridge=none (log: $(DOCKERD_LOG))"; \
		setsid dockerd --iptables=false --bridge=none >$(DOCKERD_LOG) 2>&1 </dev/null & \
		for i in $$(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done; \
		docker info >/dev/null 2>&1 || { echo "dockerd did not start; see $(DOCKERD_LOG)"; exit 1; }; \
	fi

$(BIN)/kronos: pyproject.toml constraints.txt
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

venv: host $(BIN)/kronos

run: engine venv
	$(BIN)/kronos build --jobs $(JOBS)
	$(BIN)/kronos publish

# the QA gates (lintian, piuparts, autopkgtest, repro) on what `make run` built; verdicts are kept under out/qa/
qa: engine venv
	$(BIN)/kronos qa --jobs $(JOBS)

# the gated path (README "The nightly"): build, the QA gates, staging, smoke from staging, promotion of
# what passed; a report in out/nightly/. Exit 1: something was held back (the rest was promoted).
nightly: engine venv
	$(BIN)/kronos nightly --jobs $(JOBS)

lint: venv
	$(BIN)/ruff check kronos tests tasks.py bench
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest tests/unit -q -m "not live" $(PYTEST_ARGS)

integration: engine venv
	$(BIN)/pytest tests/integration -q -m "not live" $(PYTEST_ARGS)

# QEMU boots our Xen from the repository `make run` published (repo/public; KRONOS_SMOKE_REPO for another)
KRONOS_SMOKE_REPO ?= $(CURDIR)/repo/public
vm: host venv
	KRONOS_SMOKE_REPO=$(KRONOS_SMOKE_REPO) $(BIN)/pytest tests/vm -q -m vm $(PYTEST_ARGS)

# every tier: the vm tier boots what the session itself built and published. Each test has its own
# limit (pytest-timeout, pyproject.toml); TEST_BUDGET bounds the whole run so that pytest is
# interrupted (SIGINT: it still prints which tests failed and why) before CI's own limit ends it silently.
# tests/run.sh checks the disk and the archives, runs lint beside pytest and prints the budget line.
TEST_BUDGET ?= 60m
# a fresh run's peak use of the disk, measured: 12.4 GiB (images, outputs, downloads; README "Tests");
# twice that leaves room for the images the next features add
TEST_MIN_FREE_GB ?= 25
MAKE_STARTED := $(shell date +%s)
test: engine venv
	@BIN=$(BIN) TEST_BUDGET=$(TEST_BUDGET) TEST_MIN_FREE_GB=$(TEST_MIN_FREE_GB) PYTEST_ARGS='$(PYTEST_ARGS)' \
		MAKE_STARTED=$(MAKE_STARTED) bash tests/run.sh

clean: venv
	$(BIN)/kronos clean
