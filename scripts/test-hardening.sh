#!/usr/bin/env bash
# The hardening stage of CI (.ci/run, after the test suite): the kernels' compile checks
# (spills, shared memory, SASS length), the whole suite under ASan + UBSan (with the cuda
# tests on the emulated device, both thread orders) and under ThreadSanitizer, then the
# fuzzers (scripts/fuzz.sh: each reader for $1 seconds, default 20, the CLI for 3 x $1
# beside them). About 8 minutes in all on 2 cores, from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/check-kernels.sh
./scripts/test-sanitizers.sh address,undefined
./scripts/test-sanitizers.sh thread
./scripts/fuzz.sh "${1:-20}"
