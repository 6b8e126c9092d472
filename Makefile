# whatwatt.secure_mqtt: every command a user or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
# The newest stable ansible-core needs Python >= 3.12 (requirements-newest.txt).
# Python >= 3.12 for the newest ansible-core: the first that runs of python3.13, python3.12 and pyenv's builds
# (a pyenv shim answers `command -v` even when its version is not selected, so each candidate is run).
ifndef PYTHON_NEWEST
PYTHON_NEWEST := $(shell for p in python3.13 python3.12 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13 \
    $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12; do \
    $$p -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1 && { echo $$p; break; }; done)
endif
VENV_NEWEST := $(CURDIR)/.venv-newest
BIN := $(VENV)/bin
COLLECTIONS := $(CURDIR)/.build/collections
LINK := $(COLLECTIONS)/ansible_collections/whatwatt/secure_mqtt
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false
export PATH := $(BIN):$(PATH)

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

$(VENV)/.installed: requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install python3 (>= 3.11) and python3-venv" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

$(LINK):
	mkdir -p $(dir $(LINK))
	ln -sfn ../../../.. $(LINK)

.PHONY: venv
venv: $(VENV)/.installed $(LINK) ## Python virtual environment with the pinned dependencies

$(VENV_NEWEST)/.installed: requirements-newest.txt
	@[ -n "$(PYTHON_NEWEST)" ] || { echo "no Python >= 3.12 found (python3.13, python3.12, pyenv): the newest ansible-core needs one" >&2; exit 1; }
	$(PYTHON_NEWEST) -m venv $(VENV_NEWEST)
	$(VENV_NEWEST)/bin/pip install --quiet --upgrade pip
	$(VENV_NEWEST)/bin/pip install --quiet -r requirements-newest.txt
	touch $@

.PHONY: venv-newest
venv-newest: $(VENV_NEWEST)/.installed $(LINK) ## second virtual environment with the newest stable ansible-core (Python 3.13)

.PHONY: system-deps
system-deps: ## Mosquitto >= 2.0.21, its clients, openssl, curl, rsync, shellcheck (apt; bookworm-backports on Debian 12)
	@$(SUDO) ./tools/install-system-deps.sh

.PHONY: setup
setup: system-deps venv ## everything the demo and the tests need

.PHONY: lint
lint: setup ## ruff, yamllint, ansible-lint (production profile), changelog lint
	./tools/checks.sh lint

.PHONY: sanity
sanity: setup ## ansible-test sanity (python 3.11, local virtual environments, no containers)
	./tools/checks.sh sanity

.PHONY: unit
unit: setup ## pytest unit tests
	./tools/checks.sh unit

.PHONY: integration
integration: setup ## pytest integration tests (real mosquitto, openssl, emulator)
	./tools/checks.sh integration

.PHONY: molecule
molecule: setup ## molecule scenarios
	./tools/checks.sh molecule

.PHONY: images
images: setup ## broker test-host images (debootstrap + podman import; cached by recipe hash)
	./tools/checks.sh images

.PHONY: newest
newest: setup venv-newest ## unit tests, sanity and ssh-trixie on the newest stable ansible-core
	./tools/checks.sh newest

.PHONY: test-matrix
test-matrix: setup venv-newest ## the rest of the support matrix: ssh-bookworm and ssh-sid on the newest ansible-core
	./tools/checks.sh matrix

.PHONY: build
build: setup ## build the collection tarball, install it in a scratch path, ansible-doc every module from it
	./tools/checks.sh build

.PHONY: test
test: setup venv-newest demo-stop ## every check; fails when any fails
	./tools/checks.sh all

.PHONY: demo
demo: setup ## broker + emulated fleet on this machine, provisioned by playbooks/site.yml; leaves them running
	./tools/demo.sh start

.PHONY: demo-stop
demo-stop: ## stop what `make demo` left running
	./tools/demo.sh stop

.PHONY: bench
bench: setup ## fleet benchmark (N = 10, 100, 1000) against the conventional baseline
	./tools/bench.sh

.PHONY: bench-discovery
bench-discovery: setup ## inventory plugin: 1000 emulated meters found on a /22 (target <= 10 s)
	.venv/bin/python tools/bench/discovery.py --count 1000

.PHONY: clean
clean: demo-stop ## remove build outputs (keeps .venv)
	rm -rf .build/dist .build/install .build/sanity tests/output .pytest_cache .ruff_cache
