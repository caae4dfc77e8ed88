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

.PHONY: run test lint scan unit integration e2e screenshot bench build validate deploy clean lock artifact \
  sam-local sam-local-test

# The layer's dependencies: the list to edit, and its lock (every package, its version, its hashes).
LAYER_REQUIREMENTS := layers/auth/requirements.in
LAYER_LOCK := layers/auth/requirements.txt

# The project's environment, rebuilt when its dependencies change: what serving needs
# (`.installed-serve`), and for the tests also linters, fuzzers and the browser's driver
# (`.installed-dev`). The layer's dependencies come first, from the lock with their hashes
# checked; the lock's versions (hashes left out, which pip would demand of the editable
# install too) then constrain the rest, so no tool can move them.
$(BIN)/.installed-%: pyproject.toml $(LAYER_REQUIREMENTS) $(LAYER_LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes --requirement $(LAYER_LOCK)
	$(BIN)/python -m pip install --quiet -e '.[$*]' \
	  --constraint <(sed -n 's/^\([A-Za-z0-9._-]*==[^ ;]*\).*/\1/p' $(LAYER_LOCK))
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

test: lint scan $(SDK_DEPS) artifact ## lint, type-check, check and scan the template, run every test (the built artifact's included)
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

# sam local in Docker (start-api, and start-lambda for the mailer), the functions on a moto for
# the containers (lambda-auth sam-local): as root, dockerd is started if no engine runs (Docker
# installed first where missing) and stopped at the end. SAM_LOCAL_PORT=N for another port than
# 3001; SAM_LOCAL_IMAGES=aws runs AWS's images, which SAM CLI pulls, instead of the one built
# here from Debian (as root, once per machine).
sam-local: $(BIN)/.installed-serve artifact ## sam local start-api in Docker against moto, on http://127.0.0.1:3001
	$(BIN)/lambda-auth sam-local $(if $(SAM_LOCAL_PORT),--port $(SAM_LOCAL_PORT)) \
	  $(if $(SAM_LOCAL_IMAGES),--images $(SAM_LOCAL_IMAGES))

sam-local-test: $(BIN)/.installed-dev artifact ## sam local invoke with every event, and start-api over HTTP, in Docker
	$(BIN)/pytest tests/sam_local

bench: $(BIN)/.installed-dev artifact ## each route against its floor, one table; fails when a goal is not met
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

# The artifact that tests and the bench run: sam build for this machine's architecture
# (arm64 wheels cannot be imported on x86_64), from the same template and lock as the
# deployed one. It lives in .aws-sam/native: sam's build/ (and, beside it, its build.toml,
# kept apart from `make build`'s), `architecture`, the Architecture it was built for, and
# `runtime`, the python3.13 whose bytecode the layer ships and which runs it. Rebuilt only
# when a source changes.
NATIVE_ARCHITECTURE := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
NATIVE := .aws-sam/native
ARTIFACT_SOURCES := template.yaml $(shell find layers functions -name __pycache__ -prune -o -print)

artifact: $(NATIVE)/runtime $(NATIVE)/architecture ## sam build for this machine's architecture, into .aws-sam/native

$(NATIVE)/runtime: $(SAM_ENV)/.installed $(ARTIFACT_SOURCES)
	@test -x "$(PY313_DIR)/python3.13" || { echo "make: python3.13 not found (pyenv install 3.13, or put it on PATH)" >&2; exit 1; }
	rm -rf $(NATIVE)
	PATH="$(PY313_DIR):$$PATH" $(SAM) build --no-cached --build-dir $(NATIVE)/build \
	  --parameter-overrides Architecture=$(NATIVE_ARCHITECTURE)
	echo "$(PY313_DIR)/python3.13" > $@

$(NATIVE)/architecture: $(NATIVE)/runtime
	echo "$(NATIVE_ARCHITECTURE)" > $@

# Resolve requirements.in for Lambda's Python on both architectures: one universal
# resolution for CPython 3.13, with the hashes of every file of each version, so that the
# arm64 and the x86_64 build each check theirs. Versions already locked stay while they
# still fit; UPGRADE=1 moves every package to its newest allowed version.
UV_ENV := .tools/uv
$(UV_ENV)/.installed:
	@test -x $(UV_ENV)/bin/python || $(PYTHON) -m venv $(UV_ENV)
	$(UV_ENV)/bin/python -m pip install --quiet uv==0.13.9
	@touch $@

# The local invoke image's runtime client (lambda-auth sam-local) is locked the same way.
INVOKE_IMAGE_REQUIREMENTS := cli/lambda_auth_cli/invoke-image/requirements.in
INVOKE_IMAGE_LOCK := cli/lambda_auth_cli/invoke-image/requirements.txt

lock: $(UV_ENV)/.installed ## refresh the layer's and the invoke image's locks from their requirements.in
	$(UV_ENV)/bin/uv pip compile $(LAYER_REQUIREMENTS) --output-file $(LAYER_LOCK) --universal \
	  --python-version 3.13 --generate-hashes --custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)
	$(UV_ENV)/bin/uv pip compile $(INVOKE_IMAGE_REQUIREMENTS) --output-file $(INVOKE_IMAGE_LOCK) --universal \
	  --python-version 3.13 --generate-hashes --custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)

deploy: build ## sam deploy with samconfig.toml's defaults (GUIDED=1 to be asked for each)
	$(SAM) deploy $(if $(GUIDED),--guided)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
