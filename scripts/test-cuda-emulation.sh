#!/usr/bin/env bash
# Runs every test of the CUDA backend (ctest label `cuda`) on the emulated device, twice:
# the threads of each block in forward, then in reverse order, so that a missing barrier
# shows as wrong values in one of them (cuda_emulation/include/infoflow_cuda_emulation.hpp).
#   scripts/test-cuda-emulation.sh            configures and builds build-emu/ (g++, -O2)
#   scripts/test-cuda-emulation.sh DIR        an emulated build already made there (CI: the
#                                             ASan + UBSan build of scripts/test-sanitizers.sh)
# Needs only the CUDA toolkit's headers (no GPU, no driver); about a minute per order here.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-}
if [ -z "$dir" ]; then
  dir=build-emu
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DINFOFLOW_CUDA_EMULATION=ON -DINFOFLOW_BUILD_BENCH=OFF >/dev/null
  cmake --build "$dir" -j"$(nproc)" --target infoflow_tests infoflow_cli
fi
grep -q '^INFOFLOW_CUDA_EMULATION:BOOL=ON' "$dir/CMakeCache.txt" ||
  { echo "test-cuda-emulation: $dir is not an emulated build (-DINFOFLOW_CUDA_EMULATION=ON)" >&2; exit 2; }
unset INFOFLOW_CUDA_EMULATION_DEVICES
for order in forward reverse; do
  echo "test-cuda-emulation: the cuda-labelled tests, threads in $order order within each block"
  INFOFLOW_CUDA_EMULATION_ORDER=$order ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 900 -L cuda
done
