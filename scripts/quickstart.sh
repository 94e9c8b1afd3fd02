#!/usr/bin/env bash
# Set up, then segment water on a real Sentinel-2 flood scene with the bundled offline model, offline.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1
geoadapters predict demo/examples/Spain_7370579_S2Hand.tif --probabilities -o demo/examples/output --overwrite
