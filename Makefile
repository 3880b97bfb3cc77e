# Einwohnerportal Luzern. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export PORT

.DEFAULT_GOAL := help
.PHONY: help run test test-embedded test-services test-browser lint format translations bench bench-phases bench-verify bench-export faults test-faults clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(BIN)/portal: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

translations: $(BIN)/portal ## Compile the UI's message catalogues
	@$(BIN)/pybabel compile -d app/translations >/dev/null 2>&1 || $(BIN)/pybabel compile -d app/translations

run: $(BIN)/portal translations ## Create the demo portal (embedded defaults) and serve it on PORT
	$(BIN)/portal demo
	$(BIN)/portal serve --port $(PORT)

test: test-embedded test-services ## Run the whole suite on embedded defaults, then on services

test-embedded: $(BIN)/portal translations ## The suite on SQLite, a folder store, in-process jobs
	PORTAL_TEST_PROFILE=embedded $(BIN)/pytest

test-services: $(BIN)/portal translations ## The suite on PostgreSQL, Redis + worker, S3 over HTTP
	PORTAL_TEST_PROFILE=services $(BIN)/pytest

test-faults: $(BIN)/portal translations ## Only the fault suite (services profile; test-services runs it too)
	PORTAL_TEST_PROFILE=services $(BIN)/pytest -m faults tests/faults

lint: $(BIN)/portal ## ruff (lint, format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check app catalogue casefiles mailbox directory signing storage tests bench
	$(BIN)/mypy app catalogue casefiles mailbox directory signing storage

format: $(BIN)/portal ## Format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format app catalogue casefiles mailbox directory signing storage tests bench

bench: $(BIN)/portal ## Benchmark mass delivery on PostgreSQL against its floor (N=10000; issue's figure: N=100000)
	$(BIN)/python -m bench.bulk_delivery --n $(or $(N),10000)

bench-phases: $(BIN)/portal ## Time each phase of a 1000-letter batch request, in-process
	$(BIN)/python -m bench.batch_phases

bench-verify: $(BIN)/portal ## Time `portal verify` against its floor on a bulk-delivery world (N=2000)
	$(BIN)/python -m bench.verify_speed --n $(or $(N),2000)

bench-export: $(BIN)/portal ## Time `portal export` and `verify PATH` against floors, 1000 x 1 MB (DOCUMENTS=, SIZE=)
	$(BIN)/python -m bench.export --documents $(or $(DOCUMENTS),1000) --size $(or $(SIZE),1000000)

faults: $(BIN)/portal ## Faults under load: 3000 letters, one outage or kill at a time, a table (FAULTS=a,b)
	$(BIN)/python -m bench.faults $(if $(FAULTS),--faults $(FAULTS))

screenshots: $(BIN)/portal translations ## Refresh docs/screenshots from the browser tests
	PORTAL_SCREENSHOTS=1 $(BIN)/pytest tests/browser

clean: ## Remove the virtualenv and the demo instance
	rm -rf $(VENV) instance
