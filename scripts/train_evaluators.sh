#!/usr/bin/env bash
# Reproduce the shipped evaluation models from scratch:
#   assets/evaluator/evaluator.safetensors           text-motion contrastive evaluator (+ .json)
#   assets/evaluator/emotion_recogniser.safetensors  emotion / valence-arousal MLP (+ .json)
#   assets/evaluator/evaluator.training_items.json   its train + val items, hashed (the benchmark
#                                                    refuses to score them)
#   assets/evaluator/SHA256SUMS                      what the studio checks them against
# 1. the synthetic FACS corpus (20,000 items, seed 0; ~1-3 min), 2. one training run each (seed 0,
# one thread; early stopping on the val split). Usage: scripts/train_evaluators.sh [CORPUS_DIR]
# (default /tmp/c20k; an existing corpus there is reused).
#
# Retraining changes the checkpoints' SHA-256, so results scored before and after will not share a
# table (the benchmark refuses to mix evaluators).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="${1:-/tmp/c20k}"
python=.venv/bin/python
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

if [ ! -f "$corpus/prompts.csv" ]; then
  "$python" -m studio corpus build --n 20000 --seed 0 --out "$corpus"
fi
mkdir -p assets/evaluator
"$python" -m studio train evaluator --data "$corpus" --out assets/evaluator/evaluator.safetensors --seed 0
"$python" -m studio train emotion-recogniser --data "$corpus" --out assets/evaluator/emotion_recogniser.safetensors \
  --seed 0
(cd assets/evaluator && sha256sum evaluator.safetensors emotion_recogniser.safetensors \
  evaluator.training_items.json > SHA256SUMS)
cat assets/evaluator/SHA256SUMS
