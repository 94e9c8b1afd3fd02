#!/usr/bin/env bash
# Set up, then segment water on a real Sentinel-2 flood scene with the bundled demo adapter, offline.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1
geoadapters info demo/examples/sen1floods11-demo
geoadapters predict demo/examples/Spain_7370579_S2Hand.tif --model prithvi-v2-tiny-tl \
    --adapter demo/examples/sen1floods11-demo --probabilities -o demo/examples/output --overwrite
