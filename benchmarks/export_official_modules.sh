#!/usr/bin/env bash
# Export the few official SDSeg modules the benchmark's "official modules" row needs.
#
# Usage:
#   benchmarks/export_official_modules.sh DEST [SOURCE]
#
#   DEST    folder to write (e.g. .official in the repository root, which git ignores); it gets
#           ldm/util.py, ldm/modules/attention.py, ldm/modules/diffusionmodules/{model,openaimodel,util}.py,
#           the package __init__.py files and a COMMIT file holding the exported commit.
#   SOURCE  a clone (bare or not) of https://github.com/lin-tianyu/Stable-Diffusion-Seg;
#           default: $SDSEG_OFFICIAL_REPO, else /work/.mirror/lin-tianyu+Stable-Diffusion-Seg/repo.
#
# Environment:
#   SDSEG_OFFICIAL_COMMIT  commit to export (default: 0b0aa388a5e2def75abfbef90d7bcfc5c16f2704,
#                          the commit the golden fixture Testing/Data/golden_official_tiny.json used).
#
# Then:
#   python benchmarks/bench_inference.py --official-ldm DEST ...
#   SDSEG_OFFICIAL_LDM=DEST python -m pytest Testing/Python/test_bench_official_reference.py
#
# The exported files are the official project's code: they are read at run time and must never
# be committed to this repository. Only torch, numpy, einops and Pillow are needed to import them
# (ldm/modules/encoders/modules.py, which pulls in clip/transformers, is deliberately not exported).
set -euo pipefail

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
DEST=$1
SOURCE=${2:-${SDSEG_OFFICIAL_REPO:-/work/.mirror/lin-tianyu+Stable-Diffusion-Seg/repo}}
COMMIT=${SDSEG_OFFICIAL_COMMIT:-0b0aa388a5e2def75abfbef90d7bcfc5c16f2704}

if ! git -C "$SOURCE" rev-parse --git-dir >/dev/null 2>&1; then
    echo "error: '$SOURCE' is not a git repository; clone https://github.com/lin-tianyu/Stable-Diffusion-Seg" \
         "(git clone --bare is enough) and pass its path as SOURCE or in SDSEG_OFFICIAL_REPO." >&2
    exit 1
fi
if ! FULL=$(git -C "$SOURCE" rev-parse --verify --quiet "${COMMIT}^{commit}"); then
    echo "error: commit '$COMMIT' is not in '$SOURCE'; fetch it (git -C '$SOURCE' fetch origin)" \
         "or set SDSEG_OFFICIAL_COMMIT to a commit the clone has." >&2
    exit 1
fi

FILES=(
    ldm/util.py
    ldm/modules/attention.py
    ldm/modules/diffusionmodules/__init__.py
    ldm/modules/diffusionmodules/model.py
    ldm/modules/diffusionmodules/openaimodel.py
    ldm/modules/diffusionmodules/util.py
)
# Packages that must be importable as regular packages (an empty __init__.py is written where
# the official tree has none, so that no other 'ldm' on sys.path can shadow this one).
PACKAGES=(ldm ldm/modules ldm/modules/diffusionmodules)

mkdir -p "$DEST"
for path in "${FILES[@]}"; do
    mkdir -p "$DEST/$(dirname "$path")"
    git -C "$SOURCE" show "$FULL:$path" > "$DEST/$path"
done
for package in "${PACKAGES[@]}"; do
    init="$DEST/$package/__init__.py"
    if git -C "$SOURCE" cat-file -e "$FULL:$package/__init__.py" 2>/dev/null; then
        git -C "$SOURCE" show "$FULL:$package/__init__.py" > "$init"
    elif [[ ! -e $init ]]; then
        : > "$init"
    fi
done
echo "$FULL" > "$DEST/COMMIT"
echo "exported ${#FILES[@]} official files at $FULL into $DEST"
