#!/usr/bin/env bash
# Fuzzes the .npy, .csv and safetensors readers and the command line with libFuzzer under
# ASan + UBSan, the readers for $1 seconds each (default 60) and the command line for
# 3 x $1 beside them (so 3 x $1 of wall time on 2 cores), starting from the seed corpora in
# tests/fuzz/corpus/<target>. Prints the executions run and the coverage reached; exits
# non-zero on any crash, leak, sanitizer report or timeout, whose input lands in
# build-hardening/crashes/ (fix it, then add it to the corpus as a regression input).
# Needs clang, libclang-rt-14-dev and libomp-14-dev (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/hardening-config.sh
seconds=${1:-60}
dir=$hardening_dir
configure_hardening
cmake --build "$dir" -j"$(nproc)" --target fuzz_npy fuzz_csv fuzz_safetensors fuzz_cli
root=$PWD  # absolute paths: the CLI harness works in a scratch directory
export INFOFLOW_CUDA_EMULATION_DEVICES=0  # auto picks the cpu backend, as on a machine without a GPU
mkdir -p "$dir/crashes"
fuzz_one() {  # TARGET SECONDS: runs it, exit status its result
  local target=$1 log="$dir/fuzz_$1.log"
  mkdir -p "$dir/corpus_$target"
  # -close_fd_mask=3: the CLI's own stdout/stderr would swamp the log and slow it down.
  "$dir/tests/fuzz/fuzz_$target" -max_total_time="$2" -max_len=4096 -rss_limit_mb=2048 \
    -timeout=20 -close_fd_mask=3 -print_final_stats=1 -artifact_prefix="$root/$dir/crashes/$target-" \
    "$root/$dir/corpus_$target" "$root/tests/fuzz/corpus/$target" >"$log" 2>&1
}
report() {  # TARGET SECONDS STATUS
  local target=$1 log="$dir/fuzz_$1.log"
  if [ "$3" = 0 ]; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "fuzz $target: ${2}s, $runs executions, $cov edges, no crash"
  else
    echo "fuzz $target: FAILED (input in $dir/crashes/); the report:"
    grep -E "ERROR|SUMMARY|^ *#[0-9]+ " "$log" | head -30
    status=1
  fi
}
status=0
# Each fuzzer is limited by time, not work, and runs on one core. The CLI harness runs a
# whole command per input (and its CLI is built at -O0 here, scripts/hardening-config.sh):
# ~200 inputs/s against ~4000 for a reader. So it fuzzes for three times $1 on one core
# while the three readers take turns on another: $1 each for the readers, 3 x $1 for the
# CLI, in 3 x $1 of wall time.
fuzz_one cli $((3 * seconds)) &
cli_pid=$!
for target in npy csv safetensors; do
  rc=0
  fuzz_one "$target" "$seconds" || rc=$?
  report "$target" "$seconds" "$rc"
done
rc=0
wait "$cli_pid" || rc=$?
report cli $((3 * seconds)) "$rc"
exit $status
