#!/usr/bin/env bash
# Set up .venv with torch and geoadapters (all extras but the demo, which .ci/run adds), training's included.
# CI and the tests use onnxruntime-gpu (the `gpu` extra; it runs on CPUs too).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n[%s/3] %s\n' "$1" "$2"; }
step 1 "creating .venv"
python3 -m venv .venv
. .venv/bin/activate
# PyPI's torchvision (needed by timm) only imports beside this torch build; install the pair first.
step 2 "installing torch 2.14.1 + torchvision 0.29.1 (the largest download)"
pip install --progress-bar on torch==2.14.1 torchvision==0.29.1
step 3 "installing geoadapters with the torch, test, peft, onnx, gpu, vector and train extras"
pip install --progress-bar on -e ".[torch,test,peft,onnx,gpu,vector,train,dask,stac]"
python -c "import geoadapters, torch; print(f'ready: geoadapters {geoadapters.__version__}, torch {torch.__version__}')"
