#!/usr/bin/env bash
# Prepare what a GPU device call carries besides the working tree (both folders are git-ignored):
#
#   .whl/       pure-Python wheels the device's Python lacks (it has torch and accelerate, but no
#               diffusers, MONAI, pynrrd or einops (the official modules need it)); install there with
#               python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
#               and export PYTHONPATH=/tmp/site; .whl/native/ holds zlib-ng (the engine's fast gzip, a binary
#               wheel) for CPython 3.10-3.13, installed with
#               python3 -m pip install -q --no-index --no-deps --target /tmp/site --find-links .whl/native zlib-ng
#               (without it the engine falls back to the standard zlib: slower reads and writes)
#   .official/  the official SDSeg modules for bench_inference.py's "official modules" row
#               (benchmarks/export_official_modules.sh; needs a clone of the official repository)
#
# Usage (from anywhere):
#   bash benchmarks/prepare_gpu_carry.sh [OFFICIAL_CLONE]
#
# OFFICIAL_CLONE defaults to what export_official_modules.sh looks for; without one, .official is
# skipped with a message (the benchmark then leaves out the official-modules row).
# Then call the device with carry [".whl", ".official"] and run: bash benchmarks/gpu_session.sh OUTDIR
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
WHEELS=(diffusers==0.42.1 pynrrd==1.1.3 monai==1.6.1 importlib_metadata==10.2.0 lazy_importer==0.1.0 einops==0.8.1)
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --dest .whl "${WHEELS[@]}"
mkdir -p .whl/native
for py in 3.10 3.11 3.12 3.13; do
  python3 -m pip download -q --no-deps --only-binary=:all: --dest .whl/native --python-version "$py" \
    --platform manylinux2014_x86_64 zlib-ng==1.1.0
done
echo "wheels in .whl: $(ls .whl | tr '\n' ' ')"
if [ -d .official/ldm ]; then
  echo ".official is already there"
elif bash benchmarks/export_official_modules.sh .official "${1:-}"; then
  echo "official modules exported to .official"
else
  echo "no official clone found: .official skipped (fetch github:lin-tianyu/Stable-Diffusion-Seg and pass its path)" >&2
fi
