#!/usr/bin/env bash
# The SZT experiments of results/README.md (docs/method.md#the-szt-task), as run for the
# committed results: the paper's training settings (Adam, lr 4e-4, batch 256, 10,000 epochs, the
# official split, 84 log-spaced checkpoints), estimation sizes chosen to fit about an
# hour of CPU on 2 cores. Usage: results/run_szt.sh [build dir]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build}/infoflow
common=(--preset szt --mc-queries 16384 --backend auto --force)
# train --force replaces only the files a run wrote; this script's own file in the run
# directory is written again below, from the new run.
rm -f results/szt_tanh/final_K_sweep.jsonl
"$bin" train "${common[@]}" --beta 0.005 --samples-per-input 300 --out results/szt_tanh
"$bin" train "${common[@]}" --beta 0.01 --activation linear --samples-per-input 100 --out results/szt_linear
"$bin" train "${common[@]}" --beta 0.005 --orthonormal --samples-per-input 100 --out results/szt_orthonormal
for r in szt_tanh szt_linear szt_orthonormal; do
  "$bin" plot results/$r --format png
  # Committed: only the four layer-5 representations the scatter plot draws.
  find results/$r/representations -name '*.npy' ! -name 'epoch_00001_*' ! -name 'epoch_00060_*' \
    ! -name 'epoch_00739_*' ! -name 'epoch_10000_*' -delete
done
# The plug-in bias of h(T|X) at the final checkpoint: K = 100, 300, 1000 samples per input.
for K in 100 300 1000; do
  "$bin" mi --model results/szt_tanh/checkpoints/epoch_10000.safetensors --inputs results/szt_tanh/inputs.npy \
    --labels results/szt_tanh/labels.npy --beta 0.005 --samples-per-input $K --mc-queries 16384 --json
done > results/szt_tanh/final_K_sweep.jsonl
