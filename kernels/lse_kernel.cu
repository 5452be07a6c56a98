// The core of the CUDA log-sum-exp (kernels/lse_cuda.cuh lists the rest): the tiled kernel
//     out_i = log sum_j exp2(lw2_j - alpha2 ||q_i - c_j||^2)   (log2 units, result in nats)
// and the padded row layout it reads.
// Launch shape: kThreads (128) threads per block, one query row per thread; a block's
// centres stream through shared memory in tiles of kTileC (64) rows x DC dims (DC = 4, 8
// or 16); each thread keeps the partial squared distances of the whole tile in registers
// across the dim chunks, then folds the tile into an online (running-max) log-sum-exp.
// Device memory is O((m + n) d): the m x n matrix never exists. The grid is one block per
// 128 queries (one mixture), or one block per segment task (lse_segments.cu).
// Reference: lse_reference; tests: Backends/FastBackend.*/cuda (tests/test_backends.cpp);
// bench: bench/bench_lse.cpp cuda/...; instruction counts: bench/sass_model.py.
#include <cuda_runtime.h>
#include <math_constants.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/cuda_check.cuh"
#include "kernels/fast_exp2.cuh"
#include "kernels/launch.cuh"
#include "kernels/lse_cuda.cuh"
#include "online_lse.hpp"

namespace infoflow::detail {
namespace {

// 65536 registers / (4 blocks * 128 threads) = 128 registers per thread at most.
[[maybe_unused]] constexpr int kMinBlocksPerSm = 4;
// Staged query rows are padded by one float4 so the per-thread float4 reads of row t
// (stride DC + 4 words) fall in distinct banks within each quarter-warp.
constexpr int kQueryPad4 = 1;

// ---- device side ----------------------------------------------------------------------

// Copies ROWS padded rows (pitch dp4) x float4 columns [c0, c0 + DC4) of src into dst
// (pitch PITCH4). Consecutive threads read consecutive float4s of a row. Offsets fit an
// int: ROWS * dp4 <= 128 * kMaxDim / 4.
template <int ROWS, int DC4, int PITCH4>
__device__ __forceinline__ void stage_rows(float4* dst, const float4* __restrict__ src,
                                           int dp4, int c0) {
  constexpr int kTotal = ROWS * DC4;
#pragma unroll
  for (int i = 0; i < (kTotal + kThreads - 1) / kThreads; ++i) {
    const int e = i * kThreads + static_cast<int>(threadIdx.x);
    if (kTotal % kThreads == 0 || e < kTotal)
      dst[(e / DC4) * PITCH4 + e % DC4] = __ldg(src + (e / DC4) * dp4 + c0 + e % DC4);
  }
}

// acc[j] += ||q - c_j||^2 over this chunk's DC dims, from direct differences. The chunk
// is summed on its own and then added: the error grows with DC + d/DC, not with d.
// kOverwrite (the only chunk): acc[j] = the chunk sum, saving an add per pair.
template <int DC, bool kOverwrite>
__device__ __forceinline__ void accumulate(float (&acc)[kTileC], const float (&q)[DC],
                                           const float4* cs) {
#pragma unroll
  for (int j = 0; j < kTileC; ++j) {
    float part = 0.f;
#pragma unroll
    for (int k4 = 0; k4 < DC / 4; ++k4) {
      const float4 c = cs[j * (DC / 4) + k4];  // same address across the warp: broadcast
      const float dx = q[4 * k4] - c.x, dy = q[4 * k4 + 1] - c.y;
      const float dz = q[4 * k4 + 2] - c.z, dw = q[4 * k4 + 3] - c.w;
      part = fmaf(dx, dx, part);
      part = fmaf(dy, dy, part);
      part = fmaf(dz, dz, part);
      part = fmaf(dw, dw, part);
    }
    acc[j] = kOverwrite ? part : acc[j] + part;
  }
}

// Folds one tile into the running (max, sum), both in log2 units: acc holds the tile's
// squared distances on entry and is overwritten by its exponents. The running sum is
// double so that ~n/64 tile partials add without float drift, and its rescale uses the
// exact double exp2 because the max may rise on many tiles (sorted centres).
__device__ __forceinline__ void online_update(float (&acc)[kTileC], const float* ls,
                                              float alpha2, float& run_max, double& run_sum) {
  float m4[4] = {-CUDART_INF_F, -CUDART_INF_F, -CUDART_INF_F, -CUDART_INF_F};
#pragma unroll
  for (int j = 0; j < kTileC; ++j) {
    acc[j] = fmaf(-alpha2, acc[j], ls[j]);  // a -inf weight (or padded centre) stays -inf
    m4[j & 3] = fmaxf(m4[j & 3], acc[j]);
  }
  const float new_max = fmaxf(run_max, fmaxf(fmaxf(m4[0], m4[1]), fmaxf(m4[2], m4[3])));
  if (new_max == -CUDART_INF_F) return;  // every term so far is zero: -inf - -inf is NaN
  // Four interleaved partial sums: shorter dependency chains and 16-term float sums.
  float s4[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
  for (int j = 0; j < kTileC; ++j) s4[j & 3] += fast_exp2(acc[j] - new_max);
  lse2_fold(run_max, run_sum, new_max, static_cast<double>((s4[0] + s4[1]) + (s4[2] + s4[3])));
}

// DC: dims per chunk. kStageQueries: d > DC, so the query chunk is re-read for every
// tile and is staged in shared memory with coalesced loads; otherwise the whole query
// row (dp4 == DC / 4) sits in registers for the kernel's lifetime.
// One mixture (tasks == nullptr): queries holds gridDim.x * kThreads padded rows, centers
// and log2_w n_tiles * kTileC, and row r's result goes to out[r] for r < m. With tile lists
// (pruning, cuda/tile_lists.hpp), block b folds only tiles list[offsets[b] .. offsets[b + 1]).
// Segments: block b does tasks[b] (cuda/segment_layout.hpp), its rows, its segment's
// centres, its results' place; m and n_tiles are unused.
template <int DC, bool kStageQueries>
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm)
    lse_gaussian_kernel(const float4* __restrict__ queries, int m,
                        const float4* __restrict__ centers, int n_tiles,
                        const float* __restrict__ log2_w, int dp4, float alpha2,
                        double* __restrict__ out, const SegmentTask* __restrict__ tasks,
                        const std::uint32_t* __restrict__ list,
                        const std::uint64_t* __restrict__ list_offsets) {
  static_assert(DC % 4 == 0 && kTileC <= kThreads, "float4 chunks; one thread per weight");
  constexpr int kDc4 = DC / 4, kQPitch4 = kDc4 + kQueryPad4;
  __shared__ float4 cs[kTileC * kDc4];
  __shared__ float ls[kTileC];
  __shared__ float4 qs[kStageQueries ? kThreads * kQPitch4 : 1];
  long long first_row = static_cast<long long>(blockIdx.x) * kThreads, out_row = first_row;
  long long valid = m - first_row;
  if (tasks != nullptr) {  // block-uniform
    const SegmentTask task = tasks[blockIdx.x];
    first_row = static_cast<long long>(task.query_row), out_row = static_cast<long long>(task.out_row);
    valid = task.rows, n_tiles = static_cast<int>(task.center_tiles);
    centers += static_cast<long long>(task.center_row) * dp4, log2_w += task.center_row;
  }
  if (list != nullptr) {  // block-uniform
    list += list_offsets[blockIdx.x];
    n_tiles = static_cast<int>(list_offsets[blockIdx.x + 1] - list_offsets[blockIdx.x]);
  }
  const float4* block_q = queries + first_row * dp4;
  // Where this thread's result goes (null: a padding row). <16, true> runs at the 128-register
  // cap; there, one pointer kept across the tile loop fits where out_row and the 64-bit valid
  // did not (valid's high word spilled). The whole-row kernels keep the form that fits them.
  double* const dst = static_cast<long long>(threadIdx.x) < valid ? out + out_row + threadIdx.x : nullptr;

  float q[DC];
#pragma unroll
  for (int k4 = 0; k4 < kDc4; ++k4) {
    float4 v{};
    if constexpr (!kStageQueries) v = __ldg(block_q + threadIdx.x * dp4 + k4);
    q[4 * k4] = v.x, q[4 * k4 + 1] = v.y, q[4 * k4 + 2] = v.z, q[4 * k4 + 3] = v.w;
  }
  const int dims4 = kStageQueries ? dp4 : kDc4;  // one chunk when unstaged: a constant
  float run_max = -CUDART_INF_F;
  double run_sum = 0.0;
  for (int t = 0; t < n_tiles; ++t) {
    const long long tile = list != nullptr ? static_cast<long long>(list[t]) : t;  // broadcast read
    const float4* tile_c = centers + tile * kTileC * dp4;
    const float* tile_w = log2_w + tile * kTileC;
    float acc[kTileC];
#pragma unroll
    for (int j = 0; j < kTileC; ++j) acc[j] = 0.f;
    for (int c0 = 0; c0 < dims4; c0 += kDc4) {  // block-uniform trip counts: syncs are safe
      __syncthreads();  // everyone is done reading the previous cs / qs / ls
      stage_rows<kTileC, kDc4, kDc4>(cs, tile_c, dp4, c0);
      if (c0 == 0 && threadIdx.x < kTileC) ls[threadIdx.x] = __ldg(tile_w + threadIdx.x);
      if constexpr (kStageQueries) stage_rows<kThreads, kDc4, kQPitch4>(qs, block_q, dp4, c0);
      __syncthreads();
      if constexpr (kStageQueries) {
#pragma unroll
        for (int k4 = 0; k4 < kDc4; ++k4) {
          const float4 v = qs[threadIdx.x * kQPitch4 + k4];
          q[4 * k4] = v.x, q[4 * k4 + 1] = v.y, q[4 * k4 + 2] = v.z, q[4 * k4 + 3] = v.w;
        }
      }
      accumulate<DC, !kStageQueries>(acc, q, cs);
    }
    online_update(acc, ls, alpha2, run_max, run_sum);
  }
  if (kStageQueries ? dst != nullptr : static_cast<long long>(threadIdx.x) < valid)
    *(kStageQueries ? dst : out + out_row + threadIdx.x) = run_max == -CUDART_INF_F ? -CUDART_INF
                                                          : static_cast<double>(run_max) * kLn2 + log(run_sum);
}

// ---- rows into the kernel's padded layout ----------------------------------------------
// dst (rows_pad x dp, zeros in the padding) from rows [0, rows) of a strided float32 or
// float64 device matrix: as they are (mean == nullptr: uploaded rows, already in sigma
// units), or (src - mean) * inv_scale, the move to sigma units that prepare_centers does on
// the host, for inputs already on the device (log_density_on_device). There, the first
// non-finite row (numbered from row0) goes to *bad_row, so the caller can name it.
template <class T>
__global__ void prepare_rows_kernel(const T* __restrict__ src, long long rows, int d,
                                    long long stride, const double* __restrict__ mean,
                                    double inv_scale, float* __restrict__ dst, long long rows_pad,
                                    int dp, unsigned long long* bad_row, long long row0) {
  const long long total = rows_pad * dp;
  const long long step = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long e = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += step) {
    const long long r = e / dp;
    const int k = static_cast<int>(e - r * dp);
    float v = 0.f;
    if (r < rows && k < d) {
      if (mean == nullptr) {
        v = static_cast<float>(src[r * stride + k]);
      } else {
        const double x = static_cast<double>(src[r * stride + k]);
        if (!isfinite(x)) atomicMin(bad_row, static_cast<unsigned long long>(row0 + r));
        v = static_cast<float>((x - mean[k]) * inv_scale);
      }
    }
    dst[e] = v;
  }
}

}  // namespace

// Host rows (rows x d) -> flat device staging -> padded device rows (rows_pad x dp).
void upload_padded(const float* host, std::size_t rows, std::size_t rows_pad, std::size_t d,
                   std::size_t dp, float* flat, float* padded) {
  INFOFLOW_CUDA_CHECK(cudaMemcpy(flat, host, rows * d * sizeof(float), cudaMemcpyHostToDevice));
  const std::size_t blocks =
      std::min<std::size_t>((rows_pad * dp + kPadThreads - 1) / kPadThreads, 65535);
  INFOFLOW_LAUNCH(prepare_rows_kernel<float>, static_cast<unsigned>(blocks), kPadThreads, 0, nullptr,
                  flat, static_cast<long long>(rows), static_cast<int>(d), static_cast<long long>(d), nullptr, 1.0,
      padded, static_cast<long long>(rows_pad), static_cast<int>(dp), nullptr, 0);
  INFOFLOW_CUDA_CHECK(cudaGetLastError());
}

template <class T>
void pad_rows(const T* src, std::size_t rows, std::size_t d, std::size_t stride, const double* mean,
              double inv_scale, float* dst, std::size_t rows_pad, std::size_t dp, unsigned long long* bad_row,
              std::size_t row0) {
  const unsigned blocks = static_cast<unsigned>(
      std::clamp<std::size_t>((rows_pad * dp + kPadThreads - 1) / kPadThreads, 1, 65535));
  INFOFLOW_LAUNCH(prepare_rows_kernel<T>, blocks, kPadThreads, 0, nullptr, src, static_cast<long long>(rows),
                  static_cast<int>(d), static_cast<long long>(stride), mean, inv_scale, dst,
                  static_cast<long long>(rows_pad), static_cast<int>(dp), bad_row, static_cast<long long>(row0));
  INFOFLOW_CUDA_CHECK(cudaGetLastError());
}
template void pad_rows<float>(const float*, std::size_t, std::size_t, std::size_t, const double*, double, float*,
                              std::size_t, std::size_t, unsigned long long*, std::size_t);
template void pad_rows<double>(const double*, std::size_t, std::size_t, std::size_t, const double*, double, float*,
                               std::size_t, std::size_t, unsigned long long*, std::size_t);

void launch_lse_kernel(const float* dq, int rows, const float* dc, std::size_t n_pad, const float* dlw,
                       std::size_t d, float alpha2, double* dout, const SegmentTask* tasks,
                       const std::uint32_t* list, const std::uint64_t* list_offsets) {
  const unsigned blocks = static_cast<unsigned>(tasks ? rows : (rows + kThreads - 1) / kThreads);
  const auto* q4 = reinterpret_cast<const float4*>(dq);  // cudaMalloc: 256-byte aligned
  const auto* c4 = reinterpret_cast<const float4*>(dc);
  const auto n_tiles = static_cast<int>(n_pad / kTileC);
  const int dp4 = static_cast<int>(padded_dim(d) / 4);
  auto run = [&](auto kernel) {
    INFOFLOW_LAUNCH(kernel, blocks, kThreads, 0, nullptr, q4, rows, c4, n_tiles, dlw, dp4, alpha2, dout, tasks,
                    list, list_offsets);
  };
  if (d <= kDcSmall)
    run(lse_gaussian_kernel<kDcSmall, false>);
  else if (d <= kDcMid)
    run(lse_gaussian_kernel<kDcMid, false>);
  else if (d <= kDcLarge)
    run(lse_gaussian_kernel<kDcLarge, false>);
  else
    run(lse_gaussian_kernel<kDcLarge, true>);
  INFOFLOW_CUDA_CHECK(cudaGetLastError());
}

// A launch of the smallest instantiation answers whether the device runs this build's code.
const void* probe_kernel() { return reinterpret_cast<const void*>(lse_gaussian_kernel<kDcSmall, false>); }

}  // namespace infoflow::detail
