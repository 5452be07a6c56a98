#!/usr/bin/env bash
# Builds the CPU library, CLI and tests with clang under sanitizers and runs the whole suite.
#   scripts/test-sanitizers.sh                   AddressSanitizer + UndefinedBehaviorSanitizer
#                                                (build-hardening/, shared with scripts/fuzz.sh)
#   scripts/test-sanitizers.sh thread            ThreadSanitizer (build-tsan/)
# UBSan findings abort (-fno-sanitize-recover). ThreadSanitizer runs with Archer, the
# OpenMP tool of LLVM's libomp that tells TSan about OpenMP's barriers and reductions, so
# that every report is a real race; OMP_NUM_THREADS=4 puts more threads than cores.
# Needs clang, libclang-rt-14-dev and libomp-14-dev (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/hardening-config.sh
san=${1:-address,undefined}
case "$san" in
  address,undefined)
    dir=$hardening_dir
    configure_hardening
    export UBSAN_OPTIONS=print_stacktrace=1 ;;
  thread)
    dir=build-tsan
    configure_sanitized thread "$dir" -DINFOFLOW_ENABLE_MPI=OFF
    archer=$(clang++ -print-file-name=libarcher.so)
    [ -f "$archer" ] || archer=/usr/lib/llvm-$(clang++ -dumpversion | cut -d. -f1)/lib/libarcher.so
    [ -f "$archer" ] || { echo "test-sanitizers: libarcher.so not found (apt-get install libomp-14-dev)" >&2; exit 1; }
    export OMP_TOOL_LIBRARIES=$archer OMP_NUM_THREADS=4
    export TSAN_OPTIONS="halt_on_error=1 ignore_noninstrumented_modules=1" ;;
  *) echo "test-sanitizers: unknown sanitizers '$san' (address,undefined or thread)" >&2; exit 2 ;;
esac
cmake --build "$dir" -j"$(nproc)" --target infoflow_tests
# Three end-to-end training tests are left to the plain suite. Instrumented, each trains
# the SZT network for 20-90 s (~2.5 minutes of CPU, ~50 s of the stages' wall time), and
# they run no code the sanitizers would not see anyway: Metrics... and SameSeed... train
# as CheckpointThroughMi... and PlotWritesTheFigures do (30 epochs with tracking), and
# SztReaches... as InterruptLeavesNoRun and the Hostile.* runs do (--no-estimate). What they check
# (the metrics' columns, same seed same files, the stated accuracy) is about results,
# which the plain suite asserts.
long_training='TrainCli\.(SameSeedSameFilesOtherSeedOtherResults|MetricsHaveTheDocumentedColumnsAndSaneValues|SztReachesTheStatedAccuracy)$'
echo "test-sanitizers: $san: running the suite (all but the long training runs: $long_training)"
if [ "$san" = address,undefined ]; then
  # The build has the emulated device: the suite sees none, then the tests labelled cuda
  # run on it in both thread orders within a block (scripts/test-cuda-emulation.sh).
  INFOFLOW_CUDA_EMULATION_DEVICES=0 ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 900 \
    -E "$long_training" -LE cuda
  ./scripts/test-cuda-emulation.sh "$dir"
else
  ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 900 -E "$long_training"
fi
