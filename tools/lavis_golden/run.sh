#!/usr/bin/env bash
# Regenerates the LAVIS golden files in tests/trainer/golden/.
#   1. creates .cache/lavis-venv with salesforce-lavis 1.0.2 and its BLIP-2 needs (pinned);
#   2. runs make_golden.py there, offline (unshare -n when it is allowed; HF_HUB_OFFLINE=1 always).
# Usage: tools/lavis_golden/run.sh [--seed N] [--out DIR]   (args go to make_golden.py)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
venv="$root/.cache/lavis-venv"
out="$root/tests/trainer/golden"
torch_version=${LAVIS_TORCH:-2.13.0}

# Exact pins for what LAVIS's BLIP-2 path imports: the golden files record these
# versions, and another transformers can change LAVIS's tokenizer or Q-Former.
# numpy<2 / pandas<2.3 because transformers 4.26.1 predates numpy 2 (README.md).
pins=(
  "transformers==4.26.1"
  "tokenizers==0.13.3"
  "huggingface-hub==0.36.2"
  "omegaconf==2.4.0"
  "iopath==0.1.10"
  "pandas==2.2.3"
  "numpy==1.26.4"
  "pyyaml==6.0.3"
)

stamp="$venv/.lavis-golden-setup"
want=$(printf '%s\n' "$torch_version" salesforce-lavis==1.0.2 "${pins[@]}" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "run.sh: creating $venv"
  rm -rf "$venv"
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  # torch first and alone: nothing below may pull another torch (or any torchvision).
  "$venv/bin/python" -m pip install -q "torch==$torch_version"
  # --no-deps: LAVIS's metadata drags in torchvision (which replaces torch), opencv,
  # spacy, streamlit... that the BLIP-2 Q-Former path does not use (README.md).
  "$venv/bin/python" -m pip install -q --no-deps "salesforce-lavis==1.0.2"
  echo "torch==$torch_version" > "$venv/torch-pin.txt"
  # pip then lists LAVIS's ~20 unmet requirements (spacy, timm, torchvision...): expected.
  "$venv/bin/python" -m pip install -q -c "$venv/torch-pin.txt" "${pins[@]}"
  echo "$want" > "$stamp"
fi

run_offline=()
if unshare -n true 2>/dev/null; then
  run_offline=(unshare -n)
fi
echo "run.sh: running make_golden.py ${run_offline[*]:-(HF_HUB_OFFLINE=1)}"
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONHASHSEED=0 \
  "${run_offline[@]}" "$venv/bin/python" tools/lavis_golden/make_golden.py \
  --out "$out" "$@"
