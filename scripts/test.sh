#!/usr/bin/env bash
# The test command: installs what is needed, builds with warnings as errors,
# runs every unit and integration test (ctest). SANITIZE=address,undefined
# runs the same suite under ASan and UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
dir=$(scripts/build.sh)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# Tests run side by side, two per core: the integration tests mostly wait
# (outages, rebalances, timeouts) and use about half a core each. test_rate
# runs alone (RUN_SERIAL: it measures rates).
ctest --test-dir "$dir" --output-on-failure -j"$(( $(nproc) * 2 ))" "$@"
