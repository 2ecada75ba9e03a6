#!/usr/bin/env bash
# The demo: installs what it needs, builds, and runs the worker on an
# embedded Kafka mock cluster against zim-sandbox (see scripts/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
dir=$(scripts/build.sh)
ZU_BUILD_DIR="$dir" exec python3 scripts/demo.py
