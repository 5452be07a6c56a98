#!/usr/bin/env bash
# One full GPU session's work, as one command on the device machine (run from the repo
# root there, with .deps/ carried: scripts/prepare-device-deps.sh). Builds for sm_90,
# runs the whole test suite (CUDA tests included), the CUDA Google Benchmark and the
# PyTorch peer comparison, and leaves everything under $OUT (or bench/results/).
set -uo pipefail
out=${OUT:-bench/results}
mkdir -p "$out"
export CMAKE_PREFIX_PATH=$PWD/.deps/usr
export LD_LIBRARY_PATH=$PWD/.deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export CPATH=$PWD/.deps/usr/include
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu_device.txt"
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DRANDOM123_INCLUDE_DIR=$PWD/.deps/usr/include >"$out/gpu_cmake.log" 2>&1 &&
  cmake --build build-gpu -j16 >>"$out/gpu_cmake.log" 2>&1 || { tail -30 "$out/gpu_cmake.log"; exit 1; }
ctest --test-dir build-gpu --output-on-failure -j4 2>&1 | tee "$out/gpu_ctest.log" | tail -15
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
./build-gpu/bench/bench_lse --benchmark_filter='BM_LogSumExp/cuda/' --benchmark_min_time=0.5 \
  --benchmark_out="$out/bench_lse_cuda_$(date +%F)_$commit.json" --benchmark_out_format=json | grep BM_
# The GEMM formulation at large d (ComputeOptions::cuda_distances = Gemm; Auto keeps the
# direct kernel until this measures their crossover): exact, d = 10 .. 1024.
./build-gpu/bench/bench_lse --benchmark_filter='BM_LogSumExp/cuda_gemm/' \
  --benchmark_min_time=0.5 --benchmark_out="$out/bench_lse_cuda_gemm_$(date +%F)_$commit.json" \
  --benchmark_out_format=json | grep BM_
python3 bench/gpu/torch_peer.py --cli build-gpu/infoflow --out "$out" 2>&1 | tail -20
# The paper's workload on the GPU (tile-list pruning): against the authors' estimator on
# this machine's CPU at n = 4096 x 100, then alone at n = 4096 x 1000 (issue 6: seconds).
export INFOFLOW_VERBOSE=1
python3 bench/paper_workload.py --cli build-gpu/infoflow --backend cuda --k 100 --out "$out" 2>&1 | tail -6
python3 bench/paper_workload.py --cli build-gpu/infoflow --backend cuda --k 1000 --no-sklearn \
  --subsample 50 --out "$out" 2>&1 | tail -6
