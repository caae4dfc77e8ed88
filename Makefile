# lambda-auth: every target sets up what it needs. Start with `make run` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_ENV := .tools/sam
SAM := $(SAM_ENV)/bin/sam
CHECKOV_ENV := .tools/checkov
CHECKOV := $(CHECKOV_ENV)/bin/checkov
export SAM_CLI_TELEMETRY := 0

.PHONY: run test lint scan unit integration e2e screenshot bench build validate deploy clean

# The project's environment, rebuilt when its dependencies change: what serving needs
# (`.installed-serve`), and for the tests also linters, fuzzers and the browser's driver.
$(BIN)/.installed-%: pyproject.toml layers/auth/requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$*]'
	@touch $@

run: $(BIN)/.installed-serve ## serve the API on http://127.0.0.1:3000/api with an embedded DynamoDB
	$(BIN)/lambda-auth serve

# The e2e tests' Node project (the official Xano SDK), installed where npm exists;
# without Node the SDK test is skipped with its reason.
SDK_DIR := tests/e2e/sdk
SDK_DEPS := $(if $(shell command -v npm 2>/dev/null),$(SDK_DIR)/node_modules/.installed)
$(SDK_DIR)/node_modules/.installed: $(SDK_DIR)/package.json $(SDK_DIR)/package-lock.json
	cd $(SDK_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

test: lint scan $(SDK_DEPS) ## lint, type-check, check and scan the template, run every test
	$(BIN)/pytest

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

unit: $(BIN)/.installed-dev
	$(BIN)/pytest tests/unit

integration: $(BIN)/.installed-dev
	$(BIN)/pytest tests/integration

e2e: $(BIN)/.installed-dev $(SDK_DEPS) ## the local server over real HTTP, the Xano SDK included
	$(BIN)/pytest tests/e2e

screenshot: $(BIN)/.installed-dev ## docs/run-and-debug.png, taken by the Run & Debug browser test (needs chromium)
	@mkdir -p docs
	LAMBDA_AUTH_SCREENSHOT=docs/run-and-debug.png $(BIN)/pytest tests/e2e/test_run_and_debug.py -k signed_up

bench: $(BIN)/.installed-dev ## each route against its floor, one table; fails when a goal is not met
	$(BIN)/python -m bench.run

# The SAM CLI lives in its own environment: it pins its own boto3.
$(SAM_ENV)/.installed:
	@test -x $(SAM_ENV)/bin/python || $(PYTHON) -m venv $(SAM_ENV)
	$(SAM_ENV)/bin/python -m pip install --quiet aws-sam-cli==1.170.0
	@touch $@

# sam build needs the functions' runtime, python3.13, on PATH (pyenv's shims do not count).
PY313_DIR := $(or $(shell ls -d $$(pyenv root 2>/dev/null)/versions/3.13*/bin 2>/dev/null | tail -1),$(shell dirname "$$(command -v python3.13)" 2>/dev/null))

# checkov, the IaC scan, lives in its own environment too: it pins its own dependencies.
$(CHECKOV_ENV)/.installed:
	@test -x $(CHECKOV_ENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_ENV)
	$(CHECKOV_ENV)/bin/python -m pip install --quiet checkov==3.3.30
	@touch $@

# Every check passes or is skipped in template.yaml's own Metadata, with its reason.
# --skip-download: no call to Prisma Cloud for guidelines (the scan runs offline).
scan: $(CHECKOV_ENV)/.installed ## checkov on template.yaml
	$(CHECKOV) --file template.yaml --framework cloudformation --compact --quiet --skip-download

validate: $(SAM_ENV)/.installed ## sam validate --lint
	$(SAM) validate --lint

build: $(SAM_ENV)/.installed ## sam build (python3.13 must be installed)
	PATH="$(PY313_DIR):$$PATH" $(SAM) build

deploy: build ## sam deploy with samconfig.toml's defaults (GUIDED=1 to be asked for each)
	$(SAM) deploy $(if $(GUIDED),--guided)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
