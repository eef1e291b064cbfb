#!/usr/bin/env bash
# Reproduce assets/models/mdm.safetensors: build the synthetic FACS corpus (20k items, seed 0),
# then train the mdm family on it with seed 0 on 2 CPU threads (~25 minutes on 2 free cores).
# Prints the checkpoint's SHA-256 for assets/models.yaml at the end.
#
#   scripts/train_mdm.sh [CORPUS_DIR]        (default /tmp/c20k; rebuilt only when absent)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
CORPUS=${1:-/tmp/c20k}
# Idle OpenMP threads sleep instead of spinning: with 2 threads on 2 cores, spinning threads
# collapse throughput ~10x whenever anything else runs on the machine.
export OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1
if [ ! -f "$CORPUS/prompts.csv" ]; then
  "$PY" -m studio corpus build --n 20000 --seed 0 --out "$CORPUS"
fi
"$PY" -m studio train mdm --data "$CORPUS" --out assets/models/mdm.safetensors --seed 0
