# Two commands: `make demo` serves the studio, `make test` runs the whole suite.
# Each one alone creates or reuses .venv, installs missing system packages, installs the pinned
# Python dependencies (torch==2.13.0 in the same pip call), then does its job.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export OPENBLAS_NUM_THREADS ?= 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYOPENGL_PLATFORM ?= egl

.PHONY: demo test lint system-packages test-system-packages setup clean

# A small synthetic dataset for the Explore and Benchmark tabs (2 s; kept in data/, git-ignored).
DEMO_DATA := data/demo-corpus

demo: system-packages setup $(DEMO_DATA)/dataset.json
	$(PY) app.py

$(DEMO_DATA)/dataset.json: | setup
	$(PY) -m studio corpus build --n 600 --seed 0 --out $(DEMO_DATA)

test: system-packages test-system-packages setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

system-packages:
	@scripts/ensure_system_packages.sh packages.txt

test-system-packages:
	@scripts/ensure_system_packages.sh scripts/test-packages.txt

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml scripts/setup_venv.sh
	@PYTHON=$(PYTHON) scripts/setup_venv.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache outputs
