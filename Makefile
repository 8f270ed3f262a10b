# quire: `make run` and `make test` install what they need into .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

CHECKOV_VENV ?= .venv-checkov
SBOM_VENV ?= .venv-sbom
SBOM ?= sbom.cdx.json

.PHONY: install run test test-unit chaos lint format clean checkov sbom

$(STAMP): pyproject.toml
	@# libarchive reads uploaded archives (zip, 7z, RAR, tar); Debian ships it as libarchive13.
	@ldconfig -p | grep -q 'libarchive\.so\.13' || { \
		echo "installing the system library libarchive13"; \
		(apt-get install -y -q libarchive13 || (apt-get update -q && apt-get install -y -q libarchive13)) \
		|| { echo "libarchive13 is missing: install it (apt-get install libarchive13)"; exit 1; }; }
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

# The soak at full size (5,000 pages of mixed work, an hour at most; bench/soak.py), never
# part of `make test`, which runs it short (tests/e2e/test_soak.py). SOAK_ARGS="--pages N".
.PHONY: soak
soak: install
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

test-unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy api worker shared training cli ui

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Terraform policy checks, in their own venv (checkov's pins would fight the app's).
checkov:
	test -x $(CHECKOV_VENV)/bin/checkov || ( $(PYTHON) -m venv $(CHECKOV_VENV) && \
		$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==3.3.30 )
	$(CHECKOV_VENV)/bin/checkov -d infra --compact --quiet

# A CycloneDX SBOM of the installed set (.venv), by cyclonedx-bom in its own venv.
sbom: install
	test -x $(SBOM_VENV)/bin/cyclonedx-py || ( $(PYTHON) -m venv $(SBOM_VENV) && \
		$(SBOM_VENV)/bin/python -m pip install --quiet cyclonedx-bom==7.5.0 )
	$(SBOM_VENV)/bin/cyclonedx-py environment --pyproject pyproject.toml --of JSON \
		--output-reproducible -o $(SBOM) $(BIN)/python
	$(BIN)/python .ci/check_sbom.py $(SBOM)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(SBOM_VENV) $(SBOM) .quire .pytest_cache .mypy_cache .ruff_cache

# Synthetic handwriting (training/synth): fonts and texts into .quire/, then 200 letter pages.
# Not part of `make test` or `make run`; the tests fall back to the system's DejaVu fonts.
.PHONY: fonts texts synth
fonts: install
	$(BIN)/python -m training.synth.fonts fetch

texts: install
	$(BIN)/python -m training.synth.corpus fetch

synth: fonts texts
	$(BIN)/quire synth pages --out .quire/synth/pages -n 200 --seed 0

# Training quire's shipped models (long runs; never part of `make test` or `make run`).
# gt-data clones the open CC-BY sets of training/open_data.py into .quire/gt
# (QUIRE_GT_MIRROR=DIR reads local git mirrors instead).
.PHONY: gt-data train-recognizer finetune-recognizer train-lm train-detector eval-dev
GT := .quire/gt
TRAIN_GT := $(foreach s,banq-dcn+Copiste-d-un-jour HTR-United+CREMMA-AN-TestamentDePoilus \
	HTR-United+CREMMA-MSS-19 alix-tz+peraire-ground-truth HTR-United+lectaurep-mariages-et-divorces \
	HTR-United+lectaurep-repertoires HTR-United+lectaurep-bronod HTR-United+CREMMA-MSS-18 \
	HTR-United+timeuscorpus,--gt $(GT)/$(s))
DEV_GT := --gt $(GT)/HTR-United+CREMMA-MSS-20
RUNS ?= .quire/runs

gt-data: install
	$(BIN)/python -m training.open_data fetch --dir $(GT)

.quire/synth/lines/manifest.json: | fonts texts
	$(BIN)/quire synth lines --out .quire/synth/lines -n 4000 --seed 1

# The shipped quire-htr-crnn's recipe (one torch thread: faster than two on 2 busy cores).
train-recognizer: gt-data .quire/synth/lines/manifest.json
	$(BIN)/quire train recognizer $(TRAIN_GT) --gt .quire/synth/lines --out $(RUNS)/recognizer \
		--crop box --epoch-lines 2000 --batch-size 8 --epochs 60 --patience 8 --threads 1 \
		--max-minutes $${MAX_MINUTES:-120}

# The shipped model's later stages: fine-tuning from a checkpoint (the shipped one by default)
# on all nine sets, 3 % of the pages held out for validation.
finetune-recognizer: gt-data .quire/synth/lines/manifest.json
	$(BIN)/quire train recognizer $(TRAIN_GT) --gt .quire/synth/lines --out $(RUNS)/recognizer-ft \
		--crop box --base-model $${BASE_MODEL:-models/quire-htr-crnn/recognizer.pt} --lr 5e-4 \
		--val-fraction 0.03 --epoch-lines 3000 --batch-size 16 --epochs 80 --patience 8 \
		--threads 2 --max-minutes $${MAX_MINUTES:-95}

# The character LM the shipped CRNN decodes with: training pages (the recognizer's split) and
# the English sentences of the synthetic lines' corpus.
train-lm: gt-data .quire/synth/lines/manifest.json
	$(BIN)/quire train lm $(TRAIN_GT) --gt .quire/synth/lines \
		--text .quire/texts/wordnet-examples.txt --order 6 --val-fraction 0.03 --seed 0 \
		--out $(RUNS)/recognizer-ft

train-detector: gt-data
	$(BIN)/quire train detector $(TRAIN_GT) --out $(RUNS)/detector --image-size 640 \
		--epochs 60 --patience 10 --max-minutes $${MAX_MINUTES:-120}

eval-dev: gt-data
	$(BIN)/python -m bench.htr_quality $(DEV_GT) --engine mixed --engine ppocr-crnn --engine quire --engine ppocr
