#!/usr/bin/env bash
# Reproduce the non-diffusion built-in checkpoints from scratch:
#   assets/models/{emotion-label,retrieval,keyframe}.safetensors (+ .json)
# 1. the synthetic FACS corpus (20,000 items, seed 0; ~1-3 min), 2. one training run per family
# (seed 0). Usage: scripts/train_builtin_models.sh [CORPUS_DIR]   (default /tmp/c20k; an existing
# corpus there is reused). Prints each checkpoint's SHA-256 for assets/models.yaml.
#
# OMP_NUM_THREADS=1: on a 2-core machine shared with other work, one BLAS/OpenMP thread per
# process embeds prompts ~2x faster than two threads spinning against each other.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="${1:-/tmp/c20k}"
python=.venv/bin/python
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

if [ ! -f "$corpus/prompts.csv" ]; then
  "$python" -m studio corpus build --n 20000 --seed 0 --out "$corpus"
fi
for family in emotion-label retrieval keyframe; do
  echo "== $family"
  "$python" -m studio train "$family" --data "$corpus" --out "assets/models/$family.safetensors" --seed 0
done
ls -l assets/models/{emotion-label,retrieval,keyframe}.safetensors
