// One mixture by the GEMM formulation on the CUDA backend, for large d (host/cuda/gemm_lse.hpp
// says why float64 and where it cancels): the centres once in float64 with their squared
// norms, then per block of kGemmRows queries and kGemmCols centres one cuBLAS DGEMM for the
// dot products and one pass folding each query's row into its running log-sum-exp.
// Chosen by ComputeOptions::cuda_distances = Gemm (Auto keeps the direct kernel until the
// crossover is measured on a GPU). Launch shapes: rows_to_double_kernel and
// gemm_lse_finish_kernel one thread per row (256 per block); gemm_lse_kernel one warp per
// query row. Tests: CudaGemm.* (tests/test_backends.cpp; the emulated device's cuBLAS is
// cuda_emulation/cublas.cpp); bench: bench/gpu/run_on_device.sh.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <vector>

#include "cuda/gemm_lse.hpp"
#include "kernels/cublas_api.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"
#include "kernels/lse_cuda.cuh"
#include "lse_implementations.hpp"
#include "nn/forward.hpp"  // cublas_loadable

namespace infoflow::detail {
namespace {

// dst (rows x d float64) and norm2 (rows) from float32 rows: the GEMM's operands and the
// squared norms of its expansion, both exact up to float64 summation.
__global__ void rows_to_double_kernel(const float* __restrict__ src, long long rows, int d,
                                      double* __restrict__ dst, double* __restrict__ norm2) {
  const long long step = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long r = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += step) {
    double s = 0;
    for (int k = 0; k < d; ++k) {
      const double v = src[r * d + k];
      dst[r * d + k] = v;
      s = fma(v, v, s);
    }
    norm2[r] = s;
  }
}

// One warp per query row i of a block of dot products (dot[i * cols + j] = q_i . c_j):
// each lane folds the columns j = lane (mod 32) into an OnlineLse2, the warp merges them,
// and lane 0 merges the result into the query's running (max, sum) (first: start them).
__global__ void gemm_lse_kernel(const double* __restrict__ dot, int rows, int cols,
                                const double* __restrict__ q_norm2, const double* __restrict__ c_norm2,
                                const float* __restrict__ lw2, double alpha2, bool first,
                                double* __restrict__ run_max, double* __restrict__ run_sum) {
  const int warp = static_cast<int>((static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) / kGemmLanes);
  const int lane = static_cast<int>(threadIdx.x % kGemmLanes);
  if (warp >= rows) return;
  const double qn = q_norm2[warp];
  const double* row = dot + static_cast<long long>(warp) * cols;
  OnlineLse2 acc;
  for (int j = lane; j < cols; j += kGemmLanes) acc.add(gemm_exponent(lw2[j], alpha2, qn, c_norm2[j], row[j]));
  for (int off = kGemmLanes / 2; off > 0; off /= 2) {
    const double m = __shfl_down_sync(0xffffffffu, acc.max, off);
    const double s = __shfl_down_sync(0xffffffffu, acc.sum, off);
    acc.merge(m, s);
  }
  if (lane == 0) {
    OnlineLse2 run;
    if (!first) run.max = run_max[warp], run.sum = run_sum[warp];
    run.merge(acc.max, acc.sum);
    run_max[warp] = run.max, run_sum[warp] = run.sum;
  }
}

__global__ void gemm_lse_finish_kernel(const double* __restrict__ run_max, const double* __restrict__ run_sum,
                                       int rows, double* __restrict__ out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows) return;
  OnlineLse2 run;
  run.max = run_max[i], run.sum = run_sum[i];
  out[i] = run.natural_log();
}

}  // namespace

// One mixture by the GEMM formulation (cuda/gemm_lse.hpp): the centres once in float64 with
// their squared norms, then per block of kGemmRows queries and kGemmCols centres one DGEMM
// and one log-sum-exp pass. Returns false, having written nothing, when cuBLAS cannot be
// loaded or the float64 centres and one block's buffers do not fit in free memory.
bool lse_cuda_gemm(const LseProblemF32& p, double* out, const ProgressFn& progress) {
  require_usable_device();
  if (p.m == 0) return true;
  if (p.n == 0 || !cublas_loadable(nullptr)) return false;  // no centres: the direct path's -inf
  const std::size_t d = p.d, n = p.n;
  if (d > static_cast<std::size_t>(std::numeric_limits<int>::max())) return false;
  std::size_t free_b = 0, total_b = 0;
  INFOFLOW_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const double rows = kGemmRows, cols = kGemmCols;
  const double need = double(n) * d * (sizeof(double) + sizeof(float)) + double(n) * (sizeof(double) + sizeof(float)) +
                      rows * d * (sizeof(double) + sizeof(float)) + rows * cols * sizeof(double) +
                      rows * 5 * sizeof(double) + double(kMemHeadroom);
  if (need > static_cast<double>(free_b)) return false;

  // Centers: float32 rows up, float64 rows and squared norms on the device.
  auto c64 = device_alloc<double>(n * d);
  auto c_norm2 = device_alloc<double>(n);
  {
    auto c32 = device_alloc<float>(n * d);
    INFOFLOW_CUDA_CHECK(cudaMemcpy(c32.get(), p.centers, n * d * sizeof(float), cudaMemcpyHostToDevice));
    const auto blocks = static_cast<unsigned>(std::clamp<std::size_t>((n + 255) / 256, 1, 65535));
    INFOFLOW_LAUNCH(rows_to_double_kernel, blocks, 256, 0, nullptr, c32.get(), static_cast<long long>(n), static_cast<int>(d), c64.get(),
                                           c_norm2.get());
    INFOFLOW_CUDA_CHECK(cudaGetLastError());
    INFOFLOW_CUDA_CHECK(cudaDeviceSynchronize());
  }
  std::vector<float> lw2(n);
  for (std::size_t j = 0; j < n; ++j) lw2[j] = static_cast<float>(static_cast<double>(p.log_weights[j]) * kLog2e);
  const auto dlw2 = device_upload(lw2);
  const double alpha2 = static_cast<double>(p.alpha) * kLog2e;

  auto q32 = device_alloc<float>(static_cast<std::size_t>(kGemmRows) * d);
  auto q64 = device_alloc<double>(static_cast<std::size_t>(kGemmRows) * d);
  auto q_norm2 = device_alloc<double>(kGemmRows);
  auto dot = device_alloc<double>(static_cast<std::size_t>(kGemmRows) * kGemmCols);
  auto run_max = device_alloc<double>(kGemmRows), run_sum = device_alloc<double>(kGemmRows);
  auto dout = device_alloc<double>(kGemmRows);
  cublasHandle_t raw = nullptr;
  INFOFLOW_CUBLAS_CHECK(cublas().create(&raw));
  const Cublas blas(raw);
  const double one = 1, zero = 0;
  for (std::size_t q0 = 0; q0 < p.m; q0 += kGemmRows) {
    const int mq = static_cast<int>(std::min<std::size_t>(kGemmRows, p.m - q0));
    INFOFLOW_CUDA_CHECK(cudaMemcpy(q32.get(), p.queries + q0 * d, std::size_t(mq) * d * sizeof(float),
                                   cudaMemcpyHostToDevice));
    INFOFLOW_LAUNCH(rows_to_double_kernel, (mq + 255) / 256, 256, 0, nullptr, q32.get(), mq, static_cast<int>(d), q64.get(), q_norm2.get());
    INFOFLOW_CUDA_CHECK(cudaGetLastError());
    for (std::size_t c0 = 0; c0 < n; c0 += kGemmCols) {
      const int nc = static_cast<int>(std::min<std::size_t>(kGemmCols, n - c0));
      // Column-major: dot (nc x mq, ld nc) = C_block^T (nc x d) * Q (d x mq), i.e. row-major
      // mq x nc with dot[i * nc + j] = q_i . c_j.
      INFOFLOW_CUBLAS_CHECK(cublas().dgemm(raw, CUBLAS_OP_T, CUBLAS_OP_N, nc, mq, static_cast<int>(d), &one,
                                           c64.get() + c0 * d, static_cast<int>(d), q64.get(), static_cast<int>(d),
                                           &zero, dot.get(), nc));
      const int threads = 256, blocks = (mq * kGemmLanes + threads - 1) / threads;
      INFOFLOW_LAUNCH(gemm_lse_kernel, blocks, threads, 0, nullptr, dot.get(), mq, nc, q_norm2.get(), c_norm2.get() + c0, dlw2.get() + c0,
                                           alpha2, c0 == 0, run_max.get(), run_sum.get());
      INFOFLOW_CUDA_CHECK(cudaGetLastError());
    }
    INFOFLOW_LAUNCH(gemm_lse_finish_kernel, (mq + 255) / 256, 256, 0, nullptr, run_max.get(), run_sum.get(), mq, dout.get());
    INFOFLOW_CUDA_CHECK(cudaGetLastError());
    INFOFLOW_CUDA_CHECK(cudaMemcpy(out + q0, dout.get(), std::size_t(mq) * sizeof(double), cudaMemcpyDeviceToHost));
    if (progress) progress(static_cast<double>(q0 + mq) / static_cast<double>(p.m));
  }
  return true;
}

}  // namespace infoflow::detail
