#!/usr/bin/env bash
# Set up .venv with torch and geoadapters (all extras but the demo, which .ci/run adds), training's included.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
. .venv/bin/activate
# PyPI's torchvision (needed by timm) only imports beside this torch build; install the pair first.
pip install --quiet torch==2.14.1 torchvision==0.29.1
pip install --quiet -e ".[test,peft,onnx,gpu,train]"
