# The two commands of the README: `make demo` and `make test`. Both set up what they need.
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
PY := $(BIN)/python

.PHONY: setup demo test test-unit test-integration test-lab bench lint

setup:
	@scripts/setup.sh

demo: setup
	$(PY) -m glue.demo

test: setup lint
	$(BIN)/pytest -q tests/unit tests/integration tests/lab

test-unit: setup
	$(BIN)/pytest -q tests/unit

test-integration: setup
	$(BIN)/pytest -q tests/integration

test-lab: setup
	$(BIN)/pytest -q tests/lab

bench: setup
	$(PY) -m tests.bench

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/yamllint -s catalog inventory/group_vars playbooks roles
	ANSIBLE_CONFIG=$(CURDIR)/ansible.cfg $(BIN)/ansible-lint -q playbooks roles
	TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive terraform
