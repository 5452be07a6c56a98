#!/usr/bin/env bash
# The comparison of results/README.md section 1 with the authors' reference run, both ways,
# on the committed checkpoints of results/szt_tanh: our estimator (every input once, X
# uniform; at the last checkpoint also the 1/K bias extrapolation) and the authors' (a bootstrap resample of the
# inputs, a new draw per checkpoint, estimates clipped at 0: docs/method.md#bootstrap-resample),
# K = 300 passes per input as in the run, and the authors' way at K = 100 too. Their
# epoch labels are 0-based: their e is our checkpoint e + 1 (their 1 is our 2; 24 and 72
# have no e + 1 checkpoint here, so 24 and 72 are used). Then layer 1 the authors' way at
# all 84 checkpoints (the paper's mean and jitter). Usage: results/compare_reference.sh [build dir]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build}/infoflow
run=results/szt_tanh
out=$run/reference_comparison.jsonl
common=(--inputs $run/inputs.npy --labels $run/labels.npy --beta 0.005 --mc-queries 16384 --json)
authors=(--resample-inputs bootstrap --clip-at-zero)
: > "$out.partial"
for e in 2 24 72 385 673 2057 10000; do
  model=$run/checkpoints/epoch_$(printf %05d "$e").safetensors
  for way in ours authors authors_K100; do
    case $way in
      ours) args=(--samples-per-input 300 --seed 0) ;;
      authors) args=(--samples-per-input 300 --seed "$e" "${authors[@]}") ;;
      authors_K100) args=(--samples-per-input 100 --seed "$e" "${authors[@]}") ;;
    esac
    printf '{"epoch": %d, "way": "%s", "mi": %s}\n' "$e" "$way" \
      "$("$bin" mi --model "$model" "${common[@]}" "${args[@]}")" >> "$out.partial"
  done
done
printf '{"epoch": 10000, "way": "ours_debiased", "mi": %s}\n' \
  "$("$bin" mi --model $run/checkpoints/epoch_10000.safetensors "${common[@]}" --samples-per-input 300 --seed 0 \
     --bias-correction)" >> "$out.partial"
for model in $run/checkpoints/epoch_*.safetensors; do
  e=$((10#$(basename "$model" .safetensors | sed 's/epoch_//')))
  printf '{"epoch": %d, "way": "authors_layer1", "mi": %s}\n' "$e" \
    "$("$bin" mi --model "$model" "${common[@]}" --layers 1 --samples-per-input 1 --seed "$e" "${authors[@]}")" >> "$out.partial"
done
mv "$out.partial" "$out"
