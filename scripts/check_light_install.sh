#!/usr/bin/env bash
# The predict-only install, as a new user gets it: a fresh venv with only `pip install ".[cpu]"` (no
# torch), predicting the bundled example with the bundled adapter exported to .onnx by the main venv;
# its class map must agree with the torch path's (main venv) on >= 99.9 % of pixels. Prints the venv's
# installed size and the time to the first prediction (the whole process). Run from .ci/run after the
# main steps, with .venv set up (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
scene=demo/examples/Spain_7370579_S2Hand.tif
export HF_HUB_OFFLINE=1

# the main venv: the exported model and the torch path's class map
.venv/bin/geoadapters export --adapter sen1floods11-tiny -o "$work/model.onnx"
.venv/bin/geoadapters predict "$scene" --adapter sen1floods11-tiny -o "$work/torch.tif"

# the light venv: onnxruntime (never beside onnxruntime-gpu), no torch
python3 -m venv "$work/light"
"$work/light/bin/pip" install --quiet --upgrade pip
"$work/light/bin/pip" install --quiet ".[cpu]"
if "$work/light/bin/python" -c "import torch" 2>/dev/null; then
    echo "torch is installed in the predict-only venv" >&2
    exit 1
fi
if "$work/light/bin/pip" show --quiet onnxruntime-gpu 2>/dev/null; then
    echo "onnxruntime-gpu is installed beside onnxruntime" >&2
    exit 1
fi
started=$EPOCHREALTIME
"$work/light/bin/geoadapters" predict "$scene" --adapter "$work/model.onnx" -o "$work/onnx.tif"
seconds=$(python3 -c "print(f'{$EPOCHREALTIME - $started:.2f}')")
"$work/light/bin/geoadapters" info "$work/model.onnx" >/dev/null

.venv/bin/python - "$work/torch.tif" "$work/onnx.tif" <<'PY'
import sys

import rasterio

with rasterio.open(sys.argv[1]) as a, rasterio.open(sys.argv[2]) as b:
    agree = float((a.read(1) == b.read(1)).mean())
print(f"ONNX (predict-only venv) and torch class maps agree on {agree:.4%} of pixels")
sys.exit(0 if agree >= 0.999 else 1)
PY
size=$(du -sh "$work/light" | cut -f1)
echo "predict-only venv: ${size} installed; first prediction in ${seconds} s (whole process, shared CPU)"
