#!/usr/bin/env bash
# The comparison of docs/methods.md (the methods of its Overview tables): every fine-tuning method
# and every inference-time method on the embedded world, with one shared config of budgets, each
# evaluated on the same held-out prompts and initial noises with every local metric.
#
#   bash scripts/compare.sh [OUT]        (default OUT = runs/compare; resumable: a row whose
#                                         eval-*.json exists is skipped, a killed fine-tuning run
#                                         continues from its last checkpoint)
#
# Shared budgets (override by environment): STEPS optimizer steps of BATCH prompts/examples, LoRA
# rank LORA at learning rate LR, seed SEED, for every fine-tuning method; BUDGET NFE per image for
# every inference-time method (plain sampling spends 40: 20 DDIM steps with guidance); the held-out
# set is PER_CATEGORY test prompts per category × IMAGES images, seed EVAL_SEED. The reward that
# methods optimise is REWARD (a differentiable one, REFL_REWARD, for refl-iter).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-runs/compare}
STEPS=${STEPS:-100}
BATCH=${BATCH:-4}
LORA=${LORA:-8}
LR=${LR:-1e-4}
SEED=${SEED:-0}
BUDGET=${BUDGET:-200}  # zero-order needs 200 at its defaults (pivot + 4 neighbours × 40 NFE)
PER_CATEGORY=${PER_CATEGORY:-25}
IMAGES=${IMAGES:-2}
EVAL_SEED=${EVAL_SEED:-1234}
REWARD=${REWARD:-compositional}
REFL_REWARD=${REFL_REWARD:-clip}
METRICS=${METRICS:-clip,aesthetic,preference}
mkdir -p "$OUT"

evaluate() { # row-name, eval args…
  local name=$1; shift
  if [[ -s "$OUT/eval-$name.json" ]]; then echo "[compare] $name: evaluated already"; return; fi
  echo "[compare] $name: evaluating ($(date -u +%H:%M:%S))"
  npx sharpen eval --per-category "$PER_CATEGORY" --images-per-prompt "$IMAGES" --seed "$EVAL_SEED" \
    --metrics "$METRICS" --json --samples "$OUT/samples-$name.jsonl" "$@" > "$OUT/eval-$name.json.part" 2> "$OUT/eval-$name.err" || return 1
  mv "$OUT/eval-$name.json.part" "$OUT/eval-$name.json"
}

finetune() { # row-name, method, finetune args…
  local name=$1 method=$2; shift 2
  if [[ ! -s "$OUT/$name/summary.json" ]]; then
    local resume=()
    [[ -d "$OUT/$name/checkpoints" ]] && resume=(--resume)
    echo "[compare] $name: fine-tuning ($(date -u +%H:%M:%S))"
    npx sharpen finetune --method "$method" --out "$OUT/$name" --steps "$STEPS" --batch "$BATCH" \
      --lora-rank "$LORA" --lr "$LR" --seed "$SEED" --checkpoint-every 25 "${resume[@]}" "$@" \
      > "$OUT/$name.log" 2> "$OUT/$name.err" || return 1
  fi
  evaluate "$name" --ckpt "$OUT/$name"
}

# a row that fails is reported and skipped; the others still run (its .err file says why).
# (set -e does not act inside a function called before ||: hence the explicit `|| return 1`s)
row() { "$@" || echo "[compare] $2: FAILED (see $OUT/$2.err or $OUT/eval-$2.err)"; }

row evaluate base --ckpt checkpoints/base

# fine-tuning: zero extra NFE at inference
# the settings results/compare/ was measured with, where a default has changed since: no caption
# dropout, and RLHF rollouts with the model's own guidance, re-noised with fresh noise
NO_DROP="--set captionDropout=0"
RLHF_AS_MEASURED="$NO_DROP --set renoise=fresh --set rolloutGuidance=null"
row finetune standard-ft standard-ft --data world $NO_DROP
row finetune sft-sharpening sft-sharpening --data world --reward "$REWARD" $NO_DROP ${SFT_SET:-}
row finetune rlhf-sharpening rlhf-sharpening --reward "$REWARD" $RLHF_AS_MEASURED ${RLHF_SET:---set tMax=150 --set referenceOver=all}
# the same, its trajectories ranked by the reward of the generated images (this project's option,
# as configs/demo.yaml ranks them; results/sharpening/README.md, "Ranking by the generated images'
# own reward") over the full t range [0, T)
row finetune rlhf-sharpening-image rlhf-sharpening --reward "$REWARD" $RLHF_AS_MEASURED --set referenceOver=all --set rankBy=image
row finetune diffusion-dpo diffusion-dpo --reward "$REWARD"
row finetune ddpo ddpo --reward "$REWARD"
row finetune refl-iter refl-iter --data world --set reflReward="$REFL_REWARD"

# inference-time: the base model, BUDGET NFE per image
for method in best-of-n zero-order demon free2guide; do
  row evaluate "$method" --ckpt checkpoints/base --method "$method" --reward "$REWARD" --budget-nfe "$BUDGET"
done

# D3PO last: it is the slowest row here (two η = 1 trajectories per prompt, every step with a graph)
row finetune d3po d3po --reward "$REWARD"

node --import tsx scripts/compare-table.ts "$OUT"
