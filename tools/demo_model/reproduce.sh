#!/usr/bin/env bash
# Rebuild the shipped demo bundle (resources/demo-bundle) from seeds, on the CPU:
# the demo world, its vocabulary, a contrastive first stage, the chosen second stage,
# then export. Same commands, seeds and thread count as the run that produced it
# (resources/demo-bundle/manifest.json records the run's config).
#
#   tools/demo_model/reproduce.sh [WORK_DIR]        # about 40 minutes on 2 idle cores
#
# Environment: WORLD_SEED (0), SEED (training seed), METHOD (second stage), EPOCHS1,
# EPOCHS2, LR2, OUT (bundle folder; default resources/demo-bundle).
set -euo pipefail
cd "$(dirname "$0")/../.."
py=.venv/bin/python
work=${1:-$(mktemp -d -t cirsearch-demo-XXXX)}
WORLD_SEED=${WORLD_SEED:-0}
SEED=${SEED:-2}
METHOD=${METHOD:-contrastive}
EPOCHS1=${EPOCHS1:-15}
EPOCHS2=${EPOCHS2:-6}
LR2=${LR2:-3e-4}
OUT=${OUT:-resources/demo-bundle}
mkdir -p "$work"
echo "work dir: $work"

[ -f "$work/world/world.json" ] || $py -m engine.world generate --out "$work/world" --seed "$WORLD_SEED"
$py - "$work/vocab.txt" <<'PY'
import sys
from engine.world import vocabulary_corpus
from trainer.vocab import build_wordpiece_vocab
build_wordpiece_vocab(vocabulary_corpus(), sys.argv[1], vocab_size=1000)
PY

train() { $py -m trainer.cli train --dataset fashioniq --data-root "$work/world" --model tiny --threads 1 --seed "$SEED" "$@"; }
[ -f "$work/stage1/best.pt" ] || train --method contrastive --epochs "$EPOCHS1" --vocab "$work/vocab.txt" --out "$work/stage1"
case "$METHOD" in
  qure-w30) m=qure; extra=(--no-warmup --window 30) ;;
  qure-nowarm) m=qure; extra=(--no-warmup) ;;
  trns) m=trns; extra=(--no-warmup) ;;
  *) m=$METHOD; extra=() ;;
esac
[ -f "$work/stage2/best.pt" ] || train --method "$m" "${extra[@]}" --epochs "$EPOCHS2" --lr "$LR2" --init "$work/stage1" --out "$work/stage2"
$py -m trainer.cli eval --run "$work/stage2" --dataset fashioniq --data-root "$work/world" --split test --json "$work/test.json"
$py -m trainer.cli export --run "$work/stage2" --out "$OUT" --demo --name cirsearch-demo \
  --description "Demo model: the tiny QuRe architecture trained from scratch on generated garment images (engine.world), not on real photos."
echo "wrote $OUT; test-split metrics in $work/test.json"
