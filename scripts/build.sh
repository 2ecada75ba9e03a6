#!/usr/bin/env bash
# Builds zim-unfriend into BUILD_DIR (default build/, or build-asan/ with
# SANITIZE set), warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."
san="${SANITIZE:-}"
dir="${BUILD_DIR:-build${san:+-asan}}"
cmake -S . -B "$dir" -DWERROR=ON ${san:+-DSANITIZE=$san} -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j"$(nproc)" >/dev/null
echo "$dir"
