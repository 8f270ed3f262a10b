#!/usr/bin/env bash
# kraken's baseline segmenter for bench/line_detection.py, kept out of the project venv.
#
#   bash bench/kraken_env.sh [--force]
#
# kraken 7.1.1's pins clash with the project's (torch<=2.14, lightning==2.6.1, click<8.3, ...),
# yet its segmenter runs on the project's torch 2.14.1. So kraken and only the packages
# `from kraken import blla; blla.segment(...)` imports that the project venv lacks go, without
# their dependencies, into a folder of their own; bench/kraken_segment.py runs under the
# project's python with that folder on PYTHONPATH (torch, torchvision, numpy, shapely, pillow,
# protobuf, jinja2 ... come from the venv). Everything is from PyPI by name; nothing else is
# fetched (the default model, blla.mlmodel, ships in kraken's wheel).
set -euo pipefail

VENV_PYTHON=${VENV_PYTHON:-.venv/bin/python}
KRAKEN_SITE=${KRAKEN_SITE:-.quire/kraken-site}
STAMP="$KRAKEN_SITE/.installed-7.1.1"

# kraken's own pins where it has them; the versions the segmenter was checked with elsewhere.
PACKAGES=(
	kraken==7.1.1
	scipy==1.15.3
	scikit-image==0.25.2
	lazy_loader==0.6
	lightning==2.6.1
	lightning-utilities==0.15.3
	torchmetrics==1.9.0
	coremltools==9.0
	cattrs==26.2.1
	pyarrow==26.0.1
	lxml==6.1.3
	iso639-lang==2.6.3
)

if [[ ${1:-} == --force ]]; then
	rm -rf "$KRAKEN_SITE"
fi
if [[ ! -f $STAMP ]]; then
	test -x "$VENV_PYTHON" || { echo "no $VENV_PYTHON: run 'make install' first" >&2; exit 1; }
	start=$(date +%s)
	rm -rf "$KRAKEN_SITE"
	"$VENV_PYTHON" -m pip install --quiet --no-deps --target "$KRAKEN_SITE" "${PACKAGES[@]}"
	touch "$STAMP"
	echo "installed into $KRAKEN_SITE in $(($(date +%s) - start)) s, $(du -sh "$KRAKEN_SITE" | cut -f1)"
fi
# A smoke check: the imports blla.segment needs, and the shipped default model.
PYTHONPATH="$KRAKEN_SITE${PYTHONPATH:+:$PYTHONPATH}" "$VENV_PYTHON" -W ignore -c \
	"from importlib import resources; from kraken import blla; from kraken.lib import vgsl; \
vgsl.TorchVGSLModel.load_model(resources.files('kraken').joinpath('blla.mlmodel'))"
echo "kraken ready: PYTHONPATH=$KRAKEN_SITE $VENV_PYTHON bench/kraken_segment.py"
