#!/usr/bin/env bash
# Rebuild the shipped demo bundle (resources/demo-bundle) from seeds, on the CPU: the demo
# world (10x the default train split), its vocabulary, image-text pretraining (BLIP-2's
# first stage), composed-retrieval training from the pretrained run (the vision tower
# trained too; FREEZE_VISION=1 keeps it fixed, faster, 0.5 point lower), evaluation on the
# test split, then export with int8 graphs for CPUs (checked against float32; kept only
# if they pass). Same commands, seeds and thread
# counts as the run that produced it (resources/demo-bundle/manifest.json records the
# run's config; docs/training.md has the measurements).
#
#   tools/demo_model/reproduce.sh [WORK_DIR]      # about an hour on 2 idle cores (world 10 min, pretraining
#                                                 # 27 min, composed stage 20 min, export and int8 check 2 min)
#
# Environment: WORLD_SEED (0), IMAGES (30000), TRIPLETS (45000), SEED (0), EPOCHS_PRE (20),
# EPOCHS_CIR (6), LR_CIR (5e-4), FREEZE_VISION (0), THREADS (2), OUT (bundle folder; default
# resources/demo-bundle).
# Each step is skipped when its output exists, so a stopped run continues where it was.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=.venv/bin/python
work=${1:-$(mktemp -d -t cirsearch-demo-XXXX)}
WORLD_SEED=${WORLD_SEED:-0}
IMAGES=${IMAGES:-30000}
TRIPLETS=${TRIPLETS:-45000}
SEED=${SEED:-0}
EPOCHS_PRE=${EPOCHS_PRE:-20}
EPOCHS_CIR=${EPOCHS_CIR:-6}
FREEZE_VISION=${FREEZE_VISION:-0}
LR_CIR=${LR_CIR:-5e-4}
THREADS=${THREADS:-2}
OUT=${OUT:-resources/demo-bundle}
mkdir -p "$work"
echo "work dir: $work"

[ -f "$work/world/world.json" ] || $py -m engine.world generate --out "$work/world" --seed "$WORLD_SEED" \
  --images "$IMAGES" --triplets "$TRIPLETS" --workers "$THREADS" --overwrite
$py - "$work/vocab.txt" <<'PY'
import sys
from engine.world import vocabulary_corpus
from trainer.vocab import build_wordpiece_vocab
build_wordpiece_vocab(vocabulary_corpus(), sys.argv[1], vocab_size=1000)
PY

cli() { $py -m trainer.cli "$@" --threads "$THREADS"; }
if [ ! -f "$work/pretrain/best.pt" ] || ! grep -q '"epoch": '"$((EPOCHS_PRE - 1))"',' "$work/pretrain/log.jsonl" 2>/dev/null; then
  if [ -f "$work/pretrain/checkpoint.pt" ]; then
    cli pretrain --out "$work/pretrain" --resume
  else
    cli pretrain --data-root "$work/world" --vocab "$work/vocab.txt" --epochs "$EPOCHS_PRE" --seed "$SEED" --out "$work/pretrain"
  fi
fi
if [ ! -f "$work/cir/done" ]; then
  if [ -f "$work/cir/checkpoint.pt" ]; then
    cli train --out "$work/cir" --resume
  else
    freeze=(); [ "$FREEZE_VISION" = 1 ] && freeze=(--freeze-vision)
    cli train --dataset fashioniq --data-root "$work/world" --method contrastive --init "$work/pretrain" \
      "${freeze[@]}" --images memory --epochs "$EPOCHS_CIR" --lr "$LR_CIR" --seed "$SEED" --log-every 100 --out "$work/cir"
  fi
  touch "$work/cir/done"
fi
cli eval --run "$work/cir" --dataset fashioniq --data-root "$work/world" --split test --json "$work/test.json"
$py -m trainer.cli export --run "$work/cir" --out "$OUT" --demo --name cirsearch-demo --int8 \
  --description "Demo model: the tiny QuRe architecture, pretrained image-text (BLIP-2's first stage) and trained for composed retrieval on generated garment images (engine.world), not on real photos."
echo "wrote $OUT; test-split metrics in $work/test.json"
