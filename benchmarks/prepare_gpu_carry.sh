#!/usr/bin/env bash
# Prepare what a GPU device call carries besides the working tree (both folders are git-ignored):
#
#   .whl/       pure-Python wheels the device's Python lacks (it has torch and accelerate, but no
#               diffusers, MONAI or pynrrd; einops, which the official modules need, at a known version);
#               gpu_session.sh installs them when an import fails, as
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
# Then call the device with carry [".whl", ".official"], timeout_s 600 and the command
#   bash benchmarks/gpu_session.sh $OUT
# (it installs the wheels itself where an import fails; see its header for what comes back).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
WHEELS=(diffusers==0.42.1 pynrrd==1.1.3 monai==1.6.1 importlib_metadata==10.2.0 lazy_importer==0.1.0 einops==0.8.1)
# A fresh folder: a wheel left from an earlier list (another version of the same package) would make the
# device's `pip install .whl/*.whl` refuse the whole install.
rm -rf .whl
mkdir -p .whl/native
python3 -m pip download -q --no-deps --only-binary=:all: --dest .whl "${WHEELS[@]}"
for py in 3.10 3.11 3.12 3.13; do
  python3 -m pip download -q --no-deps --only-binary=:all: --dest .whl/native --python-version "$py" \
    --platform manylinux2014_x86_64 zlib-ng==1.1.0
done
echo "wheels in .whl: $(ls .whl | tr '\n' ' ')"
if [ -f .official/COMMIT ] && [ -d .official/ldm ]; then   # COMMIT is written last: the export finished
  echo ".official is already there"
elif bash benchmarks/export_official_modules.sh .official "${1:-}"; then
  echo "official modules exported to .official"
else
  echo "no official clone found: .official skipped (fetch github:lin-tianyu/Stable-Diffusion-Seg and pass its path)" >&2
fi
