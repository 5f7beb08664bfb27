# Dictation Studio — the two commands: `make dev` runs the system, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
INFRA := $(PYTHON) deploy/local/infra.py
UV := $(PYTHON) -m uv

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

install: ## install uv (if missing) and the locked Python environment
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv>=0.9"
	@$(UV) sync --frozen --quiet

infra: ## start Kafka, FerretDB, Redis and stripe-mock for development (installs them on first run)
	@$(INFRA) up --profile dev

infra-down: ## stop the development infrastructure
	@$(INFRA) down --profile dev

infra-status: ## show the development infrastructure
	@$(INFRA) status --profile dev

infra-test: ## start the test infrastructure (separate ports, runs beside `make dev`)
	@$(INFRA) up --profile test

infra-test-down: ## stop the test infrastructure
	@$(INFRA) down --profile test

dev: install ## run the whole system locally (infra, 16 service processes, gateway on :4001; REPLICAS=2 runs two of each); Ctrl-C stops it
	@$(UV) run python deploy/local/system.py up --profile dev --replicas $(or $(REPLICAS),1)

dev-status: ## list the processes of `make dev` with their health and logs
	@$(UV) run python deploy/local/system.py status --profile dev

dev-down: ## stop the services and the gateway of a detached `make dev` (infra: make infra-down)
	@$(UV) run python deploy/local/system.py down --profile dev

test: install infra-test ## provision everything and run all tests (unit, integration, contracts)
	@$(UV) run pytest

check: install ## lint (ruff) and type-check (mypy; strict on libs/common)
	@$(UV) run ruff check .
	@$(UV) run mypy libs/common/ds_common

bench: install infra-test ## run every service benchmark; figures go to bench/results/*.json
	@for script in services/*/bench/run.py; do $(UV) run python $$script || exit 1; done

chaos: install infra-test ## two replicas of everything under load, every fault one at a time → bench/results/chaos.json
	@$(UV) run python tests/chaos/run.py

bench-load: install infra-test ## the whole system under load through the gateway → bench/results/load-gateway.json
	@$(UV) run python tests/load/run.py

bench-scale: install infra-test ## the system at the demo, 2,000 and 20,000 videos with 1,000 learners (tens of minutes) → bench/results/scale.json
	@$(UV) run python tests/load/scale.py

bench-tracing: install infra-test ## journey endpoints with tracing off, then sampling 0 %, 10 %, 100 % → bench/results/load-tracing.json
	@$(UV) run python tests/load/tracing.py

bench-stt: install ## speech-to-text real-time factor, memory and WER per model setting → bench/results/stt.json
	@$(INFRA) up --profile test >/dev/null  # also installs espeak-ng, the benchmark's voice
	@$(UV) run python services/transcripts/bench/stt.py

bench-%: install infra-test ## run one service's benchmark, e.g. `make bench-auth`
	@$(UV) run python services/$*/bench/run.py

schemas: install ## regenerate the event JSON Schemas and the AsyncAPI document
	@$(UV) run ds-events schemas libs/common/schemas


.PHONY: help install dev-status dev-down infra infra-down infra-status infra-test infra-test-down dev test check schemas bench bench-scale bench-tracing bench-stt chaos
