# Two commands on a fresh machine: `make serve` and `make test`. Everything else is a step they depend on.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODELS := model_repository

.PHONY: setup models postgres h2load serve serve-triton triton test test-fast protos protos-check bench soak faults fuzz locust lint clean

$(STAMP): pyproject.toml clients/node/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: an unpinned torch pulled in by a dependency would download GPU wheels.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	cd clients/node && npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

## setup: virtual environment with every dependency
setup: $(STAMP)

## models: build the default models (text, behaviour) that are missing (deterministic, a few minutes on 2 cores)
models: setup
	$(BIN)/infogap models build --if-missing

## postgres: install Debian's PostgreSQL server when initdb is missing (tests start throwaway clusters with it)
postgres:
	@if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; else \
	sudo=; if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then sudo=sudo; fi; \
	$$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; fi

## h2load: install Debian's nghttp2-client when h2load is missing (the C load generator of `infogap bench`)
h2load:
	@if command -v h2load >/dev/null 2>&1; then :; else \
	sudo=; if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then sudo=sudo; fi; \
	$$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nghttp2-client; fi

## serve: set up, build the default models if missing, start the server on the embedded backend
serve: models
	$(BIN)/infogap serve

## test: set up, build the default models if missing, check generated code, run the whole test suite
test: models protos-check postgres h2load
	$(BIN)/python -m pytest -q

## test-fast: unit tests on the tiny model only
test-fast: setup
	$(BIN)/python -m pytest -q -m "not integration"

## protos: regenerate the Python stubs from protos/
protos: setup
	PYTHON=$(BIN)/python scripts/gen_protos.sh

## protos-check: fail when the committed stubs differ from what protos/ generates
protos-check: setup
	@tmp=$$(mktemp -d); PYTHON=$(BIN)/python scripts/gen_protos.sh $$tmp >/dev/null; \
	if diff -r -x __init__.py -x __pycache__ $$tmp/infogap/v1 clients/python/infogap/v1; then rm -rf $$tmp; \
	else echo "generated stubs are stale: run 'make protos' and commit" >&2; rm -rf $$tmp; exit 1; fi

## triton: run the bundled Triton Inference Server on model_repository (gRPC 8001, HTTP 8000, metrics 8002)
triton: models
	$(BIN)/infogap triton

## serve-triton: the gateway on the production path, against `make triton` running in another terminal
serve-triton: models
	INFOGAP_BACKEND=triton INFOGAP_TRITON_ADDRESS=127.0.0.1:8001 $(BIN)/infogap serve

## bench: model alone vs gateway (embedded) vs gateway -> Triton vs Triton direct, one run; JSON + PNG in bench_results/
bench: models h2load
	$(BIN)/infogap bench

## soak: 10 minutes of mixed contacts on a gateway it starts: throughput, failures by code, memory every minute
soak: models
	$(BIN)/infogap soak

## faults: contacts through SIGKILL of the gateway, a Triton restart and a PostgreSQL restart; lost writes must be 0
faults: models postgres
	$(BIN)/infogap faults

## fuzz: the full fuzzing run, 10,000 cases per RPC against a server it starts on the default model
fuzz: models
	$(BIN)/infogap fuzz --cases-per-rpc 10000

## locust: headless Locust run, 30 s at 16 users, against a gateway it starts; CSV in bench_results/locust_*
locust: models
	loadtest/run_locust.sh 30s 16 bench_results/locust

## lint: ruff, hadolint on the Dockerfile, yamllint on the compose file
lint: setup
	$(BIN)/ruff check server clients/python/infogap/client.py tests loadtest
	$(BIN)/hadolint Dockerfile
	$(BIN)/yamllint -d "{extends: default, rules: {line-length: {max: 120}, document-start: disable}}" deploy/compose.yaml

clean:
	rm -rf $(VENV) $(MODELS)/*/[0-9]*
