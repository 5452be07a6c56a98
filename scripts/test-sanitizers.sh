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
# Left to the plain suite: tests whose time goes into problem size, not into code the
# sanitizers would not otherwise see. Instrumented, they took ~100 s of CPU per stage
# (measured in CI's stages at 14c5b03), a quarter of each stage's test time.
# - Three end-to-end training runs (20-90 s each instrumented): Metrics... and SameSeed...
#   train as CheckpointThroughMi... and MetricsAreMeasureCheckpoint... do (30 epochs with
#   tracking), and SztReaches... as InterruptLeavesNoRun and the Hostile.* runs do
#   (--no-estimate). What they check (the columns, same seed same files, the accuracy) is
#   about results, which the plain suite asserts.
# - Figures: matplotlib runs in an uninstrumented Python; the CLI's side of `plot` (its
#   argument and run checks) stays in, in PlotRuns.ArgumentsAreCheckedBeforeAnythingIsWritten.
# - Statistical power: many estimates of code that smaller tests also run (bias_correction
#   in SpClip and MiCli.StatisticsOptionsReachJsonAndText, the bootstrap in SpBootstrap's
#   other tests, target_stderr's doubling in SpTargetStderr.Doubles..., the numerical error
#   in every estimate, the reference backend in every other /reference test).
left_to_plain='^TrainCli\.(SameSeedSameFilesOtherSeedOtherResults|MetricsHaveTheDocumentedColumnsAndSaneValues|SztReachesTheStatedAccuracy|PlotWritesTheFigures)$'
left_to_plain+='|^Hostile\.PlotOfADamagedRunIsOneLine$|^PlotRuns\.SeveralRunsGiveTheMedianAndBandInSummaryCsv$'
left_to_plain+='|^SpBiasCorrection\.(RemovesMostOfThePlugInBiasOfSyntheticLayers|SmallNetworkMovesTowardsLargeK)$'
left_to_plain+='|^SpBootstrap\.MeanOverDrawsMatchesTheBinomialValue$|^SpTargetStderr\.AnUnreachableTargetStopsAtTheCapAndSaysSo$'
# A parameterised test's name ends in "  # GetParam() = ...".
left_to_plain+='|^Backends/SpEstimator\.DataProcessingAndLabels/reference |^Backends/SpNumericalError\..*/cpu '
echo "test-sanitizers: $san: running the suite but the tests left to the plain one ($left_to_plain)"
if [ "$san" = address,undefined ]; then
  # The build has the emulated device: the suite sees none, then the tests labelled cuda
  # run on it in both thread orders within a block (scripts/test-cuda-emulation.sh).
  INFOFLOW_CUDA_EMULATION_DEVICES=0 ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 900 \
    -E "$left_to_plain" -LE cuda
  ./scripts/test-cuda-emulation.sh "$dir"
else
  ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 900 -E "$left_to_plain"
fi
