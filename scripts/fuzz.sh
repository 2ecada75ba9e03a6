#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for SECONDS (default
# 60) from its seed corpus (tests/fuzz/corpus/<name>/). Seeds are not
# modified; new inputs go to a scratch directory.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
dir=build-fuzz
CC=clang cmake -S . -B "$dir" -DFUZZ=ON -DWERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j"$(nproc)" --target $(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//') >/dev/null
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  seeds="tests/fuzz/corpus/${name#fuzz_}"
  work=$(mktemp -d)
  echo "fuzzing $name for ${secs}s"
  "$dir/$name" -max_total_time="$secs" -max_len=65536 -print_final_stats=0 \
    "$work" "$seeds" 2>"$work.log" || { tail -50 "$work.log"; exit 1; }
  grep -E '^Done [0-9]+ runs' "$work.log" || true
  rm -rf "$work" "$work.log"
done
