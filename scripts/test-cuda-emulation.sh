#!/usr/bin/env bash
# Runs every test of the CUDA backend (ctest label `cuda`) on the emulated device with the
# threads of each block in forward order, then again (but the five slowest, which launch
# no kernel the others do not) in reverse order, so that a missing barrier shows as wrong
# values in one of them (cuda_emulation/include/infoflow_cuda_emulation.hpp).
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
echo "test-cuda-emulation: the cuda-labelled tests, threads in forward order within each block"
INFOFLOW_CUDA_EMULATION_ORDER=forward ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 900 -L cuda
# In reverse order, all but five tests whose time is problem size (statistics at scale, the
# CLI on the SZT data): ~80 of the ~135 s of CPU of an order, under ASan. Every kernel
# file is still launched by a quick test: lse_kernel/lse_dense (FastBackend.LogSumExp...,
# Backends/Oracle.*), lse_tile_lists (Pruning.CudaWithinProvenBoundOfExact), lse_segments
# and noisy_forward (the other Backends/SpEstimator.* and SpBounds.*), lse_gemm
# (CudaGemm.ChosenGemmPathMatchesCpuBackend), device_rows (DeviceInput.MatchesHostApi...),
# lse_backward (BackwardBackend.*, CudaBackward.*).
size_bound='^Backends/SpNumericalError\..*/cuda |^Backends/FastBackend\.EntropyMatchesReferenceAcrossScales/cuda '
size_bound+='|^DeviceInput\.MixtureEntropyMatchesHostDraws$|^Backends/SpEstimator\.DataProcessingAndLabels/cuda '
size_bound+='|^CudaCli\.MutualInformationWithLabelsAgreesWithCpu$'
echo "test-cuda-emulation: the cuda-labelled tests but $size_bound, threads in reverse order within each block"
INFOFLOW_CUDA_EMULATION_ORDER=reverse ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 900 -L cuda \
  -E "$size_bound"
