#!/usr/bin/env bash
# Fuzzes the .npy, .csv and safetensors readers with libFuzzer under ASan + UBSan, each for
# $1 seconds (default 60), starting from the seed corpora in tests/fuzz/corpus/<target>.
# New crashing inputs land in build-fuzz/crashes/; add them to the corpus as regression
# inputs once fixed. Needs clang (Debian: clang, libclang-rt-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
mkdir -p build-fuzz/crashes
srcs=(host/io/npy.cpp host/io/csv.cpp host/io/matrix_file.cpp host/io/safetensors.cpp host/nn/network.cpp)
for target in npy csv safetensors; do
  clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -DINFOFLOW_FUZZ_TARGET="\"$target\"" -Iinclude -Ihost "${srcs[@]}" tests/fuzz/fuzz_readers.cpp \
    -o "build-fuzz/fuzz_$target"
  mkdir -p "build-fuzz/corpus_$target"
  echo "fuzzing $target for ${seconds}s"
  "build-fuzz/fuzz_$target" -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 \
    -artifact_prefix=build-fuzz/crashes/"$target"- "build-fuzz/corpus_$target" "tests/fuzz/corpus/$target" 2>&1 |
    grep -E "^#[0-9]+.*DONE|cov:|ERROR|SUMMARY" | tail -2
done
