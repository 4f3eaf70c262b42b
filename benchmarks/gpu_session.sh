#!/usr/bin/env bash
# Every GPU number of benchmarks/RESULTS.md (and the GPU demo training) in ONE call on one GPU.
#
#   bash benchmarks/gpu_session.sh OUTDIR
#
# Order (timings on a quiet GPU; the cold build, the accuracy-only check and the optional training overlap):
#   1. a random-weights paper-preset model folder with a fast decoder (speed does not depend on weights);
#   2. quiet GPU: the eager inference levers (reference, official modules when .official exists, batching,
#      precision, channels_last, fast decoder), then the training-step speed (fp32 reference and amp);
#   3. the cold AOT build of the paper model via the engine process (mostly CPU: C++ and Triton compilation),
#      optionally alongside training (SDSEG_DEMO) and, always, the accuracy-only faithfulness check on the
#      demo model (0.5.0 weights, real CT slices) in the background;
#   4. quiet GPU: the AOT inference rows, engine start-up (AOT warm, eager), 512x512x200 CT file -> .seg.nrrd
#      (cached packages only), the same with the post-processing on the host.
# The steps that need no AOT package run before the open-ended cold build: its 240 s would otherwise leave no
# time for the training-step speed (realistic H100 estimate: set-up 20 s, model 30 s, inference 80 s, training
# 45 s, cold build <= 240 s, AOT rows 40 s, warm start 45 s, volume 35 s: 535 s of the 560 s).
# Each step has a hard timeout and writes its JSON and log into a work folder (SDSEG_WORK_DIR, default a new
# /tmp/sdseg-gpu-session.XXXXXX); a failing step does not stop the rest. A device call brings back at most 8
# files from $OUT, so OUTDIR gets only three, rewritten atomically after every step (benchmarks/session_bundle.py):
#   session.log   this script's own log;
#   results.json  every step's JSON result and the steps table (name, rc, seconds) in one file;
#   logs.tgz      every text file of the work folder (step logs, JSON, the engines' logs).
# Device call (after `bash benchmarks/prepare_gpu_carry.sh` here): carry [".whl", ".official"], timeout_s 600,
#   command: bash benchmarks/gpu_session.sh $OUT
# The wheels in .whl (and zlib-ng from .whl/native) are installed into SDSEG_SITE [/tmp/sdseg-site] when
# diffusers, pynrrd, MONAI or einops cannot be imported; nothing is downloaded.
# The whole script ends within SDSEG_DEADLINE_S seconds [560] (the device allows 600 s per command and
# 15 min per task, start-up included): every step's timeout is cut to the time left, and a step that cannot
# get its minimum is skipped and listed as SKIP in the steps table. The steps are ordered so that what the
# issues need most runs first: the inference levers (reference vs engine, fast decoder), then the warm start,
# then the 512x512x200 volume.
# Knobs: SDSEG_DEMO=none (default: the GPU stays free for the benchmarks), ae (stage-1 autoencoder + held-out
# reconstruction Dice, alongside the cold AOT build), full (the whole demo recipe,
# training/scripts/train_demo_gpu.sh, ~12 min: a call of its own);
# SDSEG_AE_BUDGET_S / SDSEG_S2_BUDGET_S / SDSEG_DISTILL_BUDGET_S are passed to the training; SDSEG_TRAIN_MODES
# (train_speed.py --modes, default amp) and SDSEG_TRAIN_TIMEOUT_S [60] for the training-step speed;
# SDSEG_WARM_RUNS (bench_warm_start.py --runs, default aot-warm,eager; add eager-no-autotune,aot-warm-no-autotune
# for the cuDNN autotuning lever); SDSEG_STEPS: a comma-separated subset of the step names (inference-paper,
# train-speed, faithfulness-demo, warm-start-cold, inference-paper-aot, warm-start-warm, volume-paper,
# volume-paper-host-post), e.g. a training call:
#   SDSEG_DEMO=ae SDSEG_STEPS=train-speed bash benchmarks/gpu_session.sh OUTDIR
# SDSEG_BENCH_DRY=1: a dry run of every step on this machine's CPU with tiny sizes (tiny preset, 4 slices, a
# 4-slice volume, 2 training steps, a 60 s cold build that a CPU does not finish: its stop is exercised too),
# in about 8 minutes on a loaded 2-core machine; any knob above still wins over the dry-run value.
set -u
OUT=${1:?usage: bash benchmarks/gpu_session.sh OUTDIR}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 2    # relative to the caller's folder, as given
WORK=${SDSEG_WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/sdseg-gpu-session.XXXXXX")}
mkdir -p "$WORK" && WORK=$(cd "$WORK" && pwd) || exit 2
case "$WORK/" in "$OUT"/*)
  echo "SDSEG_WORK_DIR ($WORK) must not be inside OUTDIR ($OUT): a device call brings back only 8 files" >&2; exit 2;;
esac
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PYTHONPATH="$REPO:$REPO/training${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export SDSEG_HOME=${SDSEG_HOME:-$WORK/home}   # engine logs land in logs.tgz; the AOT packages (.pt2) stay
if [ "${SDSEG_BENCH_DRY:-0}" = 1 ]; then   # every step, tiny sizes, on the CPU (see the header)
  : "${SDSEG_PRESET:=tiny}" "${SDSEG_DEVICE:=cpu}" "${SDSEG_SLICES:=4}" "${SDSEG_FAITH_SLICES:=2}" "${SDSEG_VOLUME_SLICES:=4}"
  : "${SDSEG_COLD_TIMEOUT_S:=60}" "${SDSEG_TRAIN_STEPS:=2}" "${SDSEG_TRAIN_WARMUP:=1}" "${SDSEG_FAITH_REFERENCE_SLICES:=1}"
fi
PRESET=${SDSEG_PRESET:-paper}
DEVICE=${SDSEG_DEVICE:-cuda}
PAPER=${SDSEG_PAPER_MODEL:-/tmp/sdseg-$PRESET-random}
T0=$(date +%s)
DEADLINE=${SDSEG_DEADLINE_S:-560}
: > "$WORK/steps.tsv"
say() { printf '[%s +%4ss] %s\n' "$(date +%H:%M:%S)" "$(( $(date +%s) - T0 ))" "$*" | tee -a "$OUT/session.log"; }
publish() { python3 "$REPO/benchmarks/session_bundle.py" "$WORK" "$OUT" 2>&1 | tee -a "$OUT/session.log"; }
left() { echo $(( DEADLINE - ($(date +%s) - T0) - 15 )); }   # seconds a step may still use (15 s to wrap up)
wanted() { [ -z "${SDSEG_STEPS:-}" ] || [[ ",$SDSEG_STEPS," == *",$1,"* ]]; }
step() {  # step NAME TIMEOUT MIN_SECONDS CMD...: skipped when fewer than MIN_SECONDS are left
  local name=$1 limit=$2 need=$3; shift 3
  if ! wanted "$name"; then printf '%s\tOFF\t0\n' "$name" >> "$WORK/steps.tsv"; return 0; fi
  local avail; avail=$(left)
  if [ "$avail" -lt "$need" ]; then
    say "SKIP  $name (needs ${need}s, ${avail}s left before the ${DEADLINE}s deadline)"
    printf '%s\tSKIP\t0\n' "$name" >> "$WORK/steps.tsv"
    publish
    return 0
  fi
  [ "$avail" -lt "$limit" ] && limit=$avail
  local start=$(date +%s)
  say "START $name (timeout ${limit}s)"
  timeout --kill-after=10 "$limit" "$@" < /dev/null > "$WORK/$name.log" 2>&1
  local rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( $(date +%s) - start ))" >> "$WORK/steps.tsv"
  say "END   $name rc=$rc in $(( $(date +%s) - start ))s"
  tail -n 25 "$WORK/$name.log"
  publish
  return 0
}
BG_NAME="" BG_PID="" BG_START=0
bg_step() {  # bg_step NAME TIMEOUT MIN_SECONDS CMD...: as step, in the background (one at a time); bg_wait ends it
  local name=$1 limit=$2 need=$3; shift 3
  BG_NAME="" BG_PID=""
  if ! wanted "$name"; then printf '%s\tOFF\t0\n' "$name" >> "$WORK/steps.tsv"; return 0; fi
  local avail; avail=$(left)
  if [ "$avail" -lt "$need" ]; then
    say "SKIP  $name (needs ${need}s, ${avail}s left before the ${DEADLINE}s deadline)"
    printf '%s\tSKIP\t0\n' "$name" >> "$WORK/steps.tsv"
    publish
    return 0
  fi
  [ "$avail" -lt "$limit" ] && limit=$avail
  BG_START=$(date +%s)
  say "START $name in the background (timeout ${limit}s)"
  timeout --kill-after=10 "$limit" "$@" < /dev/null > "$WORK/$name.log" 2>&1 &
  BG_NAME=$name BG_PID=$!
}
bg_wait() {  # the background step's rc and seconds into the steps table
  [ -n "$BG_PID" ] || return 0
  wait "$BG_PID"
  local rc=$?
  printf '%s\t%s\t%s\n' "$BG_NAME" "$rc" "$(( $(date +%s) - BG_START ))" >> "$WORK/steps.tsv"
  say "END   $BG_NAME rc=$rc in $(( $(date +%s) - BG_START ))s (background)"
  tail -n 16 "$WORK/$BG_NAME.log"
  BG_PID=""
  publish
}

say "repo $REPO, out $OUT, work $WORK, SDSEG_HOME $SDSEG_HOME"
SITE=${SDSEG_SITE:-/tmp/sdseg-site}   # the carried wheels, installed only where an import fails (no download)
PIP=(python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE")
if ! python3 -c "import diffusers, nrrd, monai, einops" 2>/dev/null; then
  if compgen -G ".whl/*.whl" > /dev/null; then
    say "installing the carried wheels (.whl) into $SITE"
    "${PIP[@]}" .whl/*.whl >> "$OUT/session.log" 2>&1 || say "installing .whl failed (see above): the steps will fail to import"
    export PYTHONPATH="$SITE:$PYTHONPATH"   # the carried versions win over any the machine has
  else
    say "diffusers, pynrrd, MONAI or einops is missing and there is no .whl: run benchmarks/prepare_gpu_carry.sh and carry .whl"
  fi
fi
if ! python3 -c "import zlib_ng" 2>/dev/null && compgen -G ".whl/native/*.whl" > /dev/null; then
  "${PIP[@]}" --find-links .whl/native zlib-ng >> "$OUT/session.log" 2>&1 || say "no zlib-ng wheel for this Python: the engine uses zlib"
  case ":$PYTHONPATH:" in *":$SITE:"*) ;; *) export PYTHONPATH="$SITE:$PYTHONPATH" ;; esac
fi
{ timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm,temperature.gpu \
    --format=csv; } \
  > "$WORK/gpu.csv" 2>&1
tee -a "$OUT/session.log" < "$WORK/gpu.csv"
python3 -c "import torch, diffusers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'diffusers', diffusers.__version__)" \
  2>&1 | tee -a "$OUT/session.log"
publish

NEEDS_PAPER=0
for name in inference-paper warm-start-cold inference-paper-aot warm-start-warm volume-paper volume-paper-host-post; do
  wanted "$name" && NEEDS_PAPER=1
done
[ -d "$PAPER" ] || [ "$NEEDS_PAPER" = 0 ] || SDSEG_STEPS="" step make-paper-model 120 30 python3 benchmarks/make_random_model.py "$PRESET" "$PAPER" --fast-decoder

# First, on a quiet GPU, what the issue needs most: reference vs engine, every eager lever, the fast decoder.
# .official/COMMIT is written last by export_official_modules.sh: a half-exported tree would stop the whole step
[ -f .official/COMMIT ] && [ -d .official/ldm ] && OFFICIAL=(--official-ldm .official) || OFFICIAL=()
step inference-paper "${SDSEG_INFER_TIMEOUT_S:-110}" 60 python3 benchmarks/bench_inference.py --model "$PAPER" --device "$DEVICE" \
  --slices "${SDSEG_SLICES:-128}" --batch 64 --reference-slices 8 --repeats "${SDSEG_REPEATS:-1}" \
  --fast-decoder "${OFFICIAL[@]}" --json "$WORK/inference_paper.json"

# Issue #6 item 8 on the quiet GPU, before the open-ended cold build: fp32 (always, the reference) and the modes in
# SDSEG_TRAIN_MODES [amp], steps/s and peak memory each; train_speed.py builds the model on the GPU per mode and
# rewrites its JSON after every mode, so all four modes would not fit 60 s
# shellcheck disable=SC2086
step train-speed "${SDSEG_TRAIN_TIMEOUT_S:-60}" 40 python3 training/benchmarks/train_speed.py --preset "$PRESET" --batch-size 4 \
  --device "$DEVICE" --steps "${SDSEG_TRAIN_STEPS:-5}" --warmup "${SDSEG_TRAIN_WARMUP:-2}" --modes ${SDSEG_TRAIN_MODES:-amp} \
  --cudnn-benchmark --json "$WORK/train_speed.json"

DEMO_PID=""
NPZ=training/demo_data/demo_ct_lite_128.npz
GPU_CFG=training/configs/demo_ct_lite_gpu.yaml
case "${SDSEG_DEMO:-none}" in
  full)  # the whole demo recipe: both stages, distillation, export, held-out evaluation (~12 min alone)
    say "START demo training (full recipe) in the background -> $WORK/demo"
    ( bash training/scripts/train_demo_gpu.sh "$WORK/demo" ${SDSEG_DEMO_ARGS:-} > "$WORK/demo-train.log" 2>&1 ) &
    DEMO_PID=$! ;;
  ae)    # stage 1 only (the mask autoencoder) and its reconstruction Dice on the held-out test block
    say "START stage-1 autoencoder training in the background -> $WORK/ae"
    ( timeout "$(( ${SDSEG_AE_BUDGET_S:-220} + 90 ))" python3 -m sdseg_training.train_ae "$GPU_CFG" "data.root=$NPZ" \
        "autoencoder.output_dir=$WORK/ae" "autoencoder.time_budget_s=${SDSEG_AE_BUDGET_S:-220}" ${SDSEG_AE_ARGS:-} \
      && python3 -m sdseg_training.heldout ae "$GPU_CFG" "data.root=$NPZ" --stage1 "$WORK/ae" --json "$WORK/ae_heldout.json" \
    ) > "$WORK/demo-train.log" 2>&1 &
    DEMO_PID=$! ;;
esac

# Faithfulness of each precision on TRAINED weights and real CT slices (the shipped demo model). Accuracy
# columns only: it shares the GPU with the training and the AOT build, so its timings are not reported.
# Within the deadline like every step (a start past it would hold the session beyond the device's limit).
bg_step faithfulness-demo 200 30 python3 benchmarks/bench_inference.py --model Resources/Models/sdseg-demo-ct-lite \
  --device "$DEVICE" --slices "${SDSEG_FAITH_SLICES:-128}" --batch 64 --reference-slices "${SDSEG_FAITH_REFERENCE_SLICES:-2}" \
  --repeats 1 --images-npz training/demo_data/demo_ct_lite_128.npz --json "$WORK/faithfulness_demo.json"

step warm-start-cold "${SDSEG_COLD_TIMEOUT_S:-240}" 60 python3 benchmarks/bench_warm_start.py --model "$PAPER" --device "$DEVICE" \
  --home "$SDSEG_HOME" --runs aot-cold --json "$WORK/warm_start_cold.json"

if [ -n "$DEMO_PID" ]; then
  limit=${SDSEG_DEMO_WAIT_S:-320}
  [ "$limit" -gt $(( DEADLINE - 60 )) ] && limit=$(( DEADLINE - 60 ))
  while kill -0 "$DEMO_PID" 2>/dev/null && [ $(( $(date +%s) - T0 )) -lt "$limit" ]; do sleep 5; done
  if kill -0 "$DEMO_PID" 2>/dev/null; then
    say "demo training still running at +${limit}s: stopping it"
    pkill -TERM -f "sdseg_training" ; sleep 5; pkill -KILL -f "sdseg_training"; kill "$DEMO_PID" 2>/dev/null
  fi
  wait "$DEMO_PID" 2>/dev/null
  say "demo training finished"; tail -n 30 "$WORK/demo-train.log"; publish
fi

bg_wait

# the AOT rows, once the cold build has made the packages (the reference and official rows again: ratios stay
# within one run)
step inference-paper-aot "${SDSEG_INFER_TIMEOUT_S:-110}" 45 python3 benchmarks/bench_inference.py --model "$PAPER" --device "$DEVICE" \
  --slices "${SDSEG_SLICES:-128}" --batch 64 --reference-slices 8 --repeats "${SDSEG_REPEATS:-1}" \
  --aot-cache "$SDSEG_HOME/compiled" --aot-only --fast-decoder "${OFFICIAL[@]}" --json "$WORK/inference_paper_aot.json"

# the warm start first (the number the issue asks for), then the eager start it is compared with
step warm-start-warm 90 45 python3 benchmarks/bench_warm_start.py --model "$PAPER" --device "$DEVICE" --home "$SDSEG_HOME" \
  --runs "${SDSEG_WARM_RUNS:-aot-warm,eager}" --json "$WORK/warm_start_warm.json"

# cached packages only: a failed cold build must not start a second one here
step volume-paper 60 30 python3 benchmarks/bench_volume.py --model "$PAPER" --synthetic "${SDSEG_VOLUME_SLICES:-200}" --device "$DEVICE" \
  --compile aot --aot-no-build --aot-cache "$SDSEG_HOME/compiled" --json "$WORK/volume_paper.json"

# the same run with the resize back + argmax on the host: the device post-processing lever, one at a time
step volume-paper-host-post 45 30 python3 benchmarks/bench_volume.py --model "$PAPER" --synthetic "${SDSEG_VOLUME_SLICES:-200}" --device "$DEVICE" \
  --compile aot --aot-no-build --aot-cache "$SDSEG_HOME/compiled" --postprocess host --json "$WORK/volume_paper_host_post.json"


say "session done in $(( $(date +%s) - T0 ))s (deadline ${DEADLINE}s); steps (name, rc, seconds):"
tee -a "$OUT/session.log" < "$WORK/steps.tsv"
publish
