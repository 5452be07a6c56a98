#!/usr/bin/env bash
# Builds the CPU library, CLI and tests under AddressSanitizer + UndefinedBehaviorSanitizer
# (or the sanitizers given as $1, e.g. `thread`) in build-san/ and runs the whole suite.
# UBSan findings abort the run (-fno-sanitize-recover).
set -euo pipefail
cd "$(dirname "$0")/.."
san=${1:-address,undefined}
dir=build-san-${san//,/-}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINFOFLOW_ENABLE_CUDA=OFF \
  -DINFOFLOW_BUILD_BENCH=OFF -DINFOFLOW_SANITIZE="$san" \
  -DCMAKE_CXX_FLAGS="-fno-sanitize-recover=undefined" >/dev/null
cmake --build "$dir" -j"$(nproc)"
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)"
