# quire: `make run` and `make test` install what they need into .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

CHECKOV_VENV ?= .venv-checkov

.PHONY: install run test test-unit chaos lint format clean checkov

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned in the worker extra, so pip never resolves a bare (multi-GB) torch.
	$(BIN)/python -m pip install --quiet -e '.[api,worker,dev]'
	# The ALTO 4 and PAGE 2019 XSDs (and LoC's xlink.xsd) for the exporter tests, read from
	# these wheels offline; their own dependencies are not needed.
	$(BIN)/python -m pip install --quiet --no-deps htrflow==0.2.6 ocrd-validators==2.67.1
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/quire run

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The chaos suite at full size (200 pages in flight, 60 s of load); `make test` runs it small.
chaos: install
	QUIRE_CHAOS_SIZE=full QUIRE_CHAOS_FUZZ_EXAMPLES=$${QUIRE_CHAOS_FUZZ_EXAMPLES:-150} \
		$(BIN)/python -m pytest tests/chaos -s -p no:cacheprovider $(PYTEST_ARGS)

test-unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy api worker shared cli

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Terraform policy checks, in their own venv (checkov's pins would fight the app's).
checkov:
	test -x $(CHECKOV_VENV)/bin/checkov || ( $(PYTHON) -m venv $(CHECKOV_VENV) && \
		$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==3.3.30 )
	$(CHECKOV_VENV)/bin/checkov -d infra --compact --quiet

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .quire .pytest_cache .mypy_cache .ruff_cache
