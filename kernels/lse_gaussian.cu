// CUDA backend of the Gaussian log-sum-exp primitive
//     out_i = log sum_j exp(lw_j - alpha ||q_i - c_j||^2).
// One thread owns one query row; centres stream through shared memory in tiles of
// kTileC rows x DC dims. Each thread keeps the partial squared distances of the whole
// tile in registers across the dim chunks, then folds the tile into an online
// (running-max) log-sum-exp. Device memory is O((m + n) d): the m x n matrix never exists.
//
// On the device, rows are stored padded: d up to a multiple of DC with zeros (padded dims
// add (0 - 0)^2 = 0 to every distance) and n up to a multiple of kTileC with weight 0
// (log2 w = -inf). The kernel then needs no bounds checks and loads aligned float4s.
#include <cuda_runtime.h>
#include <math_constants.h>

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_scan.cuh>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cuda/chunk_fallback.hpp"
#include "cuda/gemm_lse.hpp"
#include "cuda/segment_layout.hpp"
#include "cuda/tile_lists.hpp"
#include "entropy_mc.hpp"
#include "kernels/cublas_api.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"
#include "kernels/philox_normal.cuh"
#include "lse_backends.hpp"
#include "lse_dispatch.hpp"
#include "nn/forward.hpp"
#include "rng/philox_normal.hpp"

namespace infoflow::detail {
namespace {

// ---- tuning -------------------------------------------------------------------------
// 4 warps per block: one query row per thread, so a block needs only 128 rows of work
// and m ~ 10^5 already fills an H100; small blocks also keep several blocks resident per
// SM so one block's __syncthreads/staging is hidden behind another's arithmetic.
constexpr int kThreads = 128;
// Centres per tile. acc[kTileC] lives in registers: 64 floats plus the query chunk still
// fit the 128-register cap below without spilling, and 64 pairs per tile amortise the
// online-LSE bookkeeping (max, rescale, double add) to a few percent.
constexpr int kTileC = 64;
// 65536 registers / (4 blocks * 128 threads) = 128 registers per thread at most.
constexpr int kMinBlocksPerSm = 4;
// Dims per shared-memory chunk (DC): d <= 4 and d <= 8 get a chunk holding the whole
// row, so little padded work and the query row stays in registers; larger d loops over
// chunks of 16 (64 B per row, four float4s) with the running acc[] in registers.
constexpr int kDcSmall = 4;
constexpr int kDcMid = 8;
constexpr int kDcLarge = 16;
// Staged query rows are padded by one float4 so the per-thread float4 reads of row t
// (stride DC + 4 words) fall in distinct banks within each quarter-warp.
constexpr int kQueryPad4 = 1;
// Per launch: at most 2^20 queries, at least 2^16 (enough blocks for every SM), and
// otherwise about 2^38 pair-dims (tens of ms on an H100) so progress moves steadily.
constexpr std::size_t kMaxQueriesPerLaunch = std::size_t{1} << 20;
constexpr std::size_t kMinQueriesPerLaunch = std::size_t{1} << 16;
constexpr double kPairDimsPerLaunch = 274877906944.0;  // 2^38
// Left free for the context, allocator granularity and other users of the device.
constexpr std::size_t kMemHeadroom = std::size_t{128} << 20;
// Centres go up through a flat staging buffer of at least this many floats (64 MiB), so
// a small m does not mean one copy per centre row.
constexpr std::size_t kCentreStagingFloats = std::size_t{1} << 24;
constexpr int kPadThreads = 256;
// Largest d: keeps every in-kernel offset within a block's rows in an int.
constexpr std::size_t kMaxDim = std::size_t{1} << 24;


constexpr std::size_t round_up(std::size_t x, std::size_t k) { return (x + k - 1) / k * k; }
constexpr std::size_t padded_dim(std::size_t d) {
  return d <= kDcSmall ? kDcSmall : d <= kDcMid ? kDcMid : round_up(d, kDcLarge);
}

// ---- device side ----------------------------------------------------------------------
// 2^x by the SFU. -inf -> +0, so zero weights and padded centres vanish; results below
// 2^-126 flush to 0, which is < 2^-126 relative to the tile's largest term (1).
__device__ __forceinline__ float fast_exp2(float x) {
#ifdef INFOFLOW_CUDA_EMULATION
  return infoflow_emu_exp2_ftz(x);  // the CPU's exp2f, flushed to zero as .ftz does
#else
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
#endif
}

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
  if (new_max > run_max) {  // from run_max = -inf: exp2(-inf) = 0 and run_sum is 0 anyway
    run_sum *= exp2(static_cast<double>(run_max) - static_cast<double>(new_max));
    run_max = new_max;
  }
  run_sum += static_cast<double>((s4[0] + s4[1]) + (s4[2] + s4[3]));
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

// stats[(c * d + k) * 3 + {0, 1, 2}] = sum, min and max of column k over rows
// [c * chunk, (c + 1) * chunk): float64, combined on the host in a fixed order, so the mean
// does not depend on scheduling; min and max give the data's extent for the Monte Carlo
// draw check (check_draw_extent).
template <class T>
__global__ void column_stats_kernel(const T* __restrict__ src, long long rows, int d,
                                    long long stride, long long chunk, double* __restrict__ stats) {
  const long long c = blockIdx.x, r0 = c * chunk, r1 = min(rows, r0 + chunk);
  for (int k = threadIdx.x; k < d; k += blockDim.x) {
    double sum = 0, lo = CUDART_INF, hi = -CUDART_INF;
    for (long long r = r0; r < r1; ++r) {
      const double v = static_cast<double>(src[r * stride + k]);
      sum += v, lo = fmin(lo, v), hi = fmax(hi, v);
    }
    double* o = stats + (c * d + k) * 3;
    o[0] = sum, o[1] = lo, o[2] = hi;
  }
}

// Monte Carlo queries made on the device (mixture_entropy_on_device): padded sigma-unit
// row r of dst is draw g = row0 + r, y = c_i + sigma z with i = g / per_center and z the
// normals of Philox row g, stream MonteCarloQueries: entropy_mc_segmented's draws on the
// host, written as (c_i - mean) * inv_scale + z, as prepare_rows would write y. cv[r] =
// (|z|^2 - d) / 2, the control variate. One thread per row.
template <class T>
__global__ void draw_rows_kernel(const T* __restrict__ centers, long long stride, int d,
                                 unsigned long long per_center, unsigned long long row0, long long rows,
                                 long long rows_pad, int dp, const double* __restrict__ mean,
                                 double inv_scale, std::uint32_t key_lo, std::uint32_t key_hi,
                                 float* __restrict__ dst, double* __restrict__ cv) {
  const long long step = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long r = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows_pad; r += step) {
    float* o = dst + r * dp;
    int k = 0;
    if (r < rows) {
      const unsigned long long g = row0 + static_cast<unsigned long long>(r);
      const T* c = centers + static_cast<long long>(g / per_center) * stride;
      double zz = 0;
      for (; k < d; k += 2) {
        const double2 z = normal_pair(key_lo, key_hi, static_cast<std::uint32_t>(rng::Stream::MonteCarloQueries),
                                      g, static_cast<std::uint32_t>(k / 2));
        o[k] = static_cast<float>((static_cast<double>(c[k]) - mean[k]) * inv_scale + z.x);
        zz += z.x * z.x;
        if (k + 1 < d) {
          o[k + 1] = static_cast<float>((static_cast<double>(c[k + 1]) - mean[k + 1]) * inv_scale + z.y);
          zz += z.y * z.y;
        }
      }
      k = d;
      cv[r] = 0.5 * (zz - static_cast<double>(d));
    }
    for (; k < dp; ++k) o[k] = 0.f;
  }
}

// ---- large d: the GEMM formulation (cuda/gemm_lse.hpp) --------------------------------
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

// ---- pruning: tile lists (cuda/tile_lists.hpp) ----------------------------------------
constexpr int kListThreads = 256;

// Boxes of the chunk's query blocks: block b's rows [b * kThreads, ...) up to `rows`
// (pitch dp), over the first d columns, as lo and hi (blocks x d).
__global__ void block_boxes_kernel(const float* __restrict__ q, long long rows, int dp, int d,
                                   long long blocks, float* __restrict__ lo, float* __restrict__ hi) {
  const long long total = blocks * d;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long e = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += stride) {
    const long long b = e / d, first = b * kThreads;
    const int count = static_cast<int>(min(static_cast<long long>(kThreads), rows - first));
    column_range(q + first * dp, count, dp, static_cast<int>(e - b * d), lo[e], hi[e]);
  }
}

// One thread per query row: the exact sum (natural log) over the leaf tile nearest_leaf
// finds for it, in float64, a lower bound of its whole sum. Tree arrays as TileTree's;
// centres and log2 weights padded (kTileC rows per tile, pitch dp).
__global__ void seed_lse_kernel(const float* __restrict__ q, long long rows, int dp, int d,
                                const float* __restrict__ node_lo, const float* __restrict__ node_hi,
                                const std::uint32_t* __restrict__ left,
                                const std::uint32_t* __restrict__ right,
                                const std::uint32_t* __restrict__ leaf_tile, std::uint32_t root,
                                const float* __restrict__ centers, const float* __restrict__ log2_w,
                                double alpha2, double* __restrict__ seed_lse) {
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows) return;
  const float* qi = q + i * dp;
  const long long first = static_cast<long long>(leaf_tile[nearest_leaf(qi, node_lo, node_hi, left, right, root, d)]) * kTileC;
  double top = -CUDART_INF;
  for (int pass = 0; pass < 2; ++pass) {  // the max, then the sum below it
    double sum = 0;
    for (int j = 0; j < kTileC; ++j) {
      const float* c = centers + (first + j) * dp;
      double d2 = 0;
      for (int k = 0; k < d; ++k) d2 += (double(qi[k]) - c[k]) * (double(qi[k]) - c[k]);
      const double e = log2_w[first + j] - alpha2 * d2;
      if (pass == 0) top = fmax(top, e); else sum += exp2(e - top);
    }
    if (pass == 0 && top == -CUDART_INF) break;
    if (pass == 1) {
      seed_lse[i] = (top + log2(sum)) * kLn2;
      return;
    }
  }
  seed_lse[i] = -CUDART_INF;
}

struct MinOf {
  __device__ double operator()(double a, double b) const { return fmin(a, b); }
};

// One CUDA block per query block: the tiles it must fold (tile_needed), given its
// queries' seed sums (seed_lse, natural log, rows [0, rows) of the chunk). kWrite false:
// counts[b] = how many; true: their indices, ascending, from list + offsets[b].
template <bool kWrite>
__global__ void __launch_bounds__(kListThreads)
    list_tiles_kernel(const float* __restrict__ blo, const float* __restrict__ bhi,
                      const float* __restrict__ tlo, const float* __restrict__ thi,
                      const float* __restrict__ tlw2, int n_tiles, int d, double alpha2,
                      double log2_tol_per_centre, const double* __restrict__ seed_lse,
                      long long rows, std::uint64_t* __restrict__ counts,
                      const std::uint64_t* __restrict__ offsets, std::uint32_t* __restrict__ list) {
  using ReduceMin = cub::BlockReduce<double, kListThreads>;
  using ReduceCount = cub::BlockReduce<unsigned long long, kListThreads>;
  using Scan = cub::BlockScan<int, kListThreads>;
  __shared__ union {
    typename ReduceMin::TempStorage min;
    typename ReduceCount::TempStorage count;
    typename Scan::TempStorage scan;
  } tmp;
  __shared__ double cut_shared;
  const long long b = blockIdx.x, first = b * kThreads;
  const double low = threadIdx.x < kThreads && first + threadIdx.x < rows
                         ? seed_lse[first + threadIdx.x] : CUDART_INF;
  const double min_low = ReduceMin(tmp.min).Reduce(low, MinOf());
  if (threadIdx.x == 0) cut_shared = block_cut2(min_low, log2_tol_per_centre);
  __syncthreads();  // also: tmp is free again
  const double cut = cut_shared;
  const float* alo = blo + b * d;
  const float* ahi = bhi + b * d;
  auto needed = [&](int t) {
    const long long o = static_cast<long long>(t) * d;
    return tile_needed(tlw2[t], alpha2, box_gap2(alo, ahi, tlo + o, thi + o, d), cut);
  };
  if constexpr (!kWrite) {
    unsigned long long c = 0;
    for (int t = threadIdx.x; t < n_tiles; t += kListThreads) c += needed(t) ? 1 : 0;
    const unsigned long long total = ReduceCount(tmp.count).Sum(c);
    if (threadIdx.x == 0) counts[b] = total;
  } else {
    std::uint32_t* out = list + offsets[b];
    long long base = 0;
    for (int t0 = 0; t0 < n_tiles; t0 += kListThreads) {  // block-uniform trip count
      const int t = t0 + static_cast<int>(threadIdx.x);
      const int flag = t < n_tiles && needed(t) ? 1 : 0;
      int pos = 0, total = 0;
      Scan(tmp.scan).ExclusiveSum(flag, pos, total);
      if (flag) out[base + pos] = static_cast<std::uint32_t>(t);
      base += total;
      __syncthreads();  // tmp is reused by the next round's scan
    }
  }
}

// ---- host side ------------------------------------------------------------------------
std::string describe(cudaError_t err) {
  return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
}

struct DeviceProbe {
  bool usable = false;
  std::string reason;
};

DeviceProbe probe_device() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    if (err == cudaErrorInsufficientDriver)
      return {false, "no CUDA driver (" + describe(err) + ")"};
    if (err == cudaErrorNoDevice) return {false, "no CUDA device (" + describe(err) + ")"};
    return {false, "CUDA device query failed (" + describe(err) + ")"};
  }
  if (count <= 0) return {false, "no CUDA device"};
  // A device answers; check this build carries code it can run (sm_90 SASS or PTX) and
  // that a context can be created (exclusive-process mode, broken driver state...).
  cudaFuncAttributes attr{};
  const cudaError_t kerr = cudaFuncGetAttributes(&attr, lse_gaussian_kernel<kDcSmall, false>);
  if (kerr != cudaSuccess) {
    cudaGetLastError();
    return {false, "CUDA device not usable by this build (" + describe(kerr) + ")"};
  }
  return {true, std::string()};
}

double gib(std::size_t bytes) { return static_cast<double>(bytes) / double(1u << 30); }

// Queries per launch: bounded by free device memory (the padded centres must fit whole),
// by the work per launch and by kMaxQueriesPerLaunch.
std::size_t plan_rows_per_launch(const LseProblemF32& p) {
  std::size_t free_b = 0, total_b = 0;
  INFOFLOW_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const std::size_t dp = padded_dim(p.d), n_pad = round_up(p.n, kTileC);
  const std::size_t staging = std::min(p.n * p.d, kCentreStagingFloats) + p.d;
  const std::size_t fixed =
      (n_pad * dp + n_pad + std::size_t{kThreads} * dp + staging) * sizeof(float) + kMemHeadroom;
  // flat upload row + padded row + result
  const std::size_t per_query = (p.d + dp) * sizeof(float) + sizeof(double);
  const std::size_t need = fixed + std::min<std::size_t>(p.m, kThreads) * per_query;
  if (need > free_b) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "CUDA backend needs %.2f GiB of GPU memory, %.2f GiB free",
                  gib(need), gib(free_b));
    throw ResourceError(msg);
  }
  const double pair_dims = static_cast<double>(p.n) * static_cast<double>(dp);
  const auto by_work = static_cast<std::size_t>(std::clamp(
      kPairDimsPerLaunch / pair_dims, double(kMinQueriesPerLaunch), double(kMaxQueriesPerLaunch)));
  std::size_t rows = std::min({p.m, (free_b - fixed) / per_query, by_work});
  if (rows < p.m) rows -= rows % kThreads;  // whole blocks; rows >= kThreads here
  return rows;
}

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

// One mixture: rows queries against n_pad centres. With tasks (segments), one block per
// task instead, and rows is the number of tasks.
// With a tile list (list, offsets per block), each block folds only its list's tiles.
void launch(const float* dq, int rows, const float* dc, std::size_t n_pad, const float* dlw,
            std::size_t d, float alpha2, double* dout, const SegmentTask* tasks = nullptr,
            const std::uint32_t* list = nullptr, const std::uint64_t* list_offsets = nullptr) {
  const unsigned blocks = static_cast<unsigned>(tasks ? rows : (rows + kThreads - 1) / kThreads);
  const auto* q4 = reinterpret_cast<const float4*>(dq);  // cudaMalloc: 256-byte aligned
  const auto* c4 = reinterpret_cast<const float4*>(dc);
  const auto n_tiles = static_cast<int>(n_pad / kTileC);
  const int dp4 = static_cast<int>(padded_dim(d) / 4);
  auto run = [&](auto kernel) {
    INFOFLOW_LAUNCH(kernel, blocks, kThreads, 0, nullptr, q4, rows, c4, n_tiles, dlw, dp4, alpha2, dout, tasks, list,
                                 list_offsets);
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

// Pruning's tile lists (cuda/tile_lists.hpp), built on the device for each query chunk:
// its block boxes, every query's seed sum, the lists' sizes, their scan (CUB) and the
// lists. The centres' box tree (built on the host, over the k-d ordered centres in tiles
// of kTileC) goes up once. Buffers are sized for the largest chunk.
class TileLists {
 public:
  TileLists(const TileTree& tree, const float* dc, const float* dlw, std::size_t n_pad,
            std::size_t d, std::size_t dp, std::size_t max_rows, double alpha,
            double log2_tol_per_centre)
      : dc_(dc), dlw_(dlw), d_(d), dp_(dp), n_tiles_(n_pad / kTileC), root_(tree.root.at(0)),
        alpha2_(alpha * kLog2e), log2_tol_(log2_tol_per_centre) {
    const TileBoxes boxes = tile_boxes(tree, n_tiles_);
    tlo_ = device_upload(boxes.lo), thi_ = device_upload(boxes.hi), tlw_ = device_upload(boxes.lw2_max);
    node_lo_ = device_upload(tree.lo), node_hi_ = device_upload(tree.hi);
    left_ = device_upload(tree.left), right_ = device_upload(tree.right);
    leaf_tile_ = device_upload(boxes.node_tile);
    const std::size_t max_blocks = round_up(max_rows, kThreads) / kThreads;
    blo_ = device_alloc<float>(max_blocks * d), bhi_ = device_alloc<float>(max_blocks * d);
    counts_ = device_alloc<std::uint64_t>(max_blocks + 1);
    offsets_ = device_alloc<std::uint64_t>(max_blocks + 1);
    INFOFLOW_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, scan_bytes_, counts_.get(),
                                                      offsets_.get(), max_blocks + 1));
    scan_tmp_ = device_alloc<unsigned char>(scan_bytes_);
  }

  // The lists of a chunk of `rows` padded queries dq; seed_out (rows doubles) is scratch.
  // False when they would keep more than kListMaxFraction of the (block, tile) pairs, or
  // their memory cannot be had: the chunk then runs unpruned.
  bool build(const float* dq, std::size_t rows, double* seed_out) {
    const std::size_t blocks = round_up(rows, kThreads) / kThreads;
    const int d = static_cast<int>(d_), dp = static_cast<int>(dp_), n_tiles = static_cast<int>(n_tiles_);
    const unsigned box_grid = static_cast<unsigned>(std::min<std::size_t>((blocks * d_ + kPadThreads - 1) / kPadThreads, 65535));
    INFOFLOW_LAUNCH(block_boxes_kernel, box_grid, kPadThreads, 0, nullptr, dq, static_cast<long long>(rows), dp, d,
                                                  static_cast<long long>(blocks), blo_.get(), bhi_.get());
    INFOFLOW_LAUNCH(seed_lse_kernel, static_cast<unsigned>((rows + kPadThreads - 1) / kPadThreads), kPadThreads, 0, nullptr, 
        dq, static_cast<long long>(rows), dp, d, node_lo_.get(), node_hi_.get(), left_.get(),
        right_.get(), leaf_tile_.get(), root_, dc_, dlw_, alpha2_, seed_out);
    INFOFLOW_CUDA_CHECK(cudaGetLastError());
    INFOFLOW_CUDA_CHECK(cudaMemset(counts_.get(), 0, (blocks + 1) * sizeof(std::uint64_t)));
    INFOFLOW_LAUNCH(list_tiles_kernel<false>, static_cast<unsigned>(blocks), kListThreads, 0, nullptr, 
        blo_.get(), bhi_.get(), tlo_.get(), thi_.get(), tlw_.get(), n_tiles, d, alpha2_, log2_tol_,
        seed_out, static_cast<long long>(rows), counts_.get(), nullptr, nullptr);
    INFOFLOW_CUDA_CHECK(cudaGetLastError());
    INFOFLOW_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(scan_tmp_.get(), scan_bytes_, counts_.get(),
                                                      offsets_.get(), blocks + 1));
    std::uint64_t total = 0;
    INFOFLOW_CUDA_CHECK(
        cudaMemcpy(&total, offsets_.get() + blocks, sizeof total, cudaMemcpyDeviceToHost));
    kept_ += total, pairs_ += blocks * n_tiles_, ++chunks_;
    if (static_cast<double>(total) > kListMaxFraction * static_cast<double>(blocks * n_tiles_)) {
      ++unpruned_;
      return false;
    }
    if (total > list_cap_) {
      list_.reset();
      void* l = nullptr;
      if (const cudaError_t err = cudaMalloc(&l, total * sizeof(std::uint32_t)); err != cudaSuccess) {
        if (err != cudaErrorMemoryAllocation) throw_cuda_error(err, "cudaMalloc (tile lists)", __FILE__, __LINE__);
        cudaGetLastError();
        list_cap_ = 0, ++unpruned_;
        return false;
      }
      list_.reset(static_cast<std::uint32_t*>(l)), list_cap_ = total;
    }
    INFOFLOW_LAUNCH(list_tiles_kernel<true>, static_cast<unsigned>(blocks), kListThreads, 0, nullptr, 
        blo_.get(), bhi_.get(), tlo_.get(), thi_.get(), tlw_.get(), n_tiles, d, alpha2_, log2_tol_,
        seed_out, static_cast<long long>(rows), nullptr, offsets_.get(), list_.get());
    INFOFLOW_CUDA_CHECK(cudaGetLastError());
    return true;
  }
  const std::uint32_t* list() const { return list_.get(); }
  const std::uint64_t* offsets() const { return offsets_.get(); }
  // What pruning did, for INFOFLOW_VERBOSE: the fraction of (block, tile) pairs the lists
  // keep, over every chunk, and the chunks that ran unpruned.
  void report() const {
    std::fprintf(stderr, "infoflow: cuda pruning: lists keep %.3g%% of (query block, centre tile) "
                 "pairs; %zu of %zu query chunks ran unpruned\n",
                 pairs_ > 0 ? 100.0 * static_cast<double>(kept_) / static_cast<double>(pairs_) : 100.0,
                 unpruned_, chunks_);
  }

 private:
  const float* dc_;
  const float* dlw_;
  std::size_t d_, dp_, n_tiles_;
  std::uint32_t root_;
  double alpha2_, log2_tol_;
  DeviceBuffer<float> tlo_, thi_, tlw_, node_lo_, node_hi_, blo_, bhi_;
  DeviceBuffer<std::uint32_t> left_, right_, leaf_tile_, list_;
  DeviceBuffer<std::uint64_t> counts_, offsets_;
  DeviceBuffer<unsigned char> scan_tmp_;
  std::size_t scan_bytes_ = 0, list_cap_ = 0, kept_ = 0, pairs_ = 0, chunks_ = 0, unpruned_ = 0;
};

}  // namespace

bool cuda_device_usable(std::string* reason) {
  try {
    static const DeviceProbe probe = probe_device();  // thread-safe, once per process
    if (!probe.usable && reason != nullptr) *reason = probe.reason;
    return probe.usable;
  } catch (...) {  // only std::bad_alloc can get here; never let it out
    return false;
  }
}

namespace {

void require_usable_device() {
  std::string reason;
  if (!cuda_device_usable(&reason)) throw ResourceError("CUDA backend unavailable: " + reason);
}

// Inputs that are already on the device (log_density_on_device): lse_cuda_whole reads
// their rows there, moving them to sigma units on the way, instead of uploading p's.
struct DeviceRows {
  DeviceMatrixView queries, centers;
  const double* mean = nullptr;  // device, d entries: the centres' column means
  double inv_scale = 1;
  unsigned long long* bad_row = nullptr;  // device: first non-finite row, or ~0
  // per_center > 0: the queries are not read but drawn, per_center per centre: query r
  // is draw row_base + r (draw_rows_kernel, Philox key `seed`); each query's control
  // variate goes to cv (host).
  std::size_t per_center = 0;
  std::uint64_t seed = 0, row_base = 0;
  double* cv = nullptr;
};

// Calls launch(src) with x's elements as the typed pointer its dtype says (float or
// double), then checks the launch.
template <class Launch>
void launch_typed(const DeviceMatrixView& x, const Launch& launch) {
  if (x.dtype == DType::Float64) {
    launch(static_cast<const double*>(x.data));
  } else {
    launch(static_cast<const float*>(x.data));
  }
  INFOFLOW_CUDA_CHECK(cudaGetLastError());
}

// Rows [row0, row0 + rows) of a device matrix into padded sigma-unit rows at dst.
void prepare_rows(const DeviceMatrixView& x, std::size_t row0, std::size_t rows,
                  std::size_t rows_pad, std::size_t dp, const DeviceRows& dev, float* dst) {
  const unsigned blocks = static_cast<unsigned>(
      std::clamp<std::size_t>((rows_pad * dp + kPadThreads - 1) / kPadThreads, 1, 65535));
  const auto stride = static_cast<long long>(x.row_stride);
  launch_typed(x, [&](const auto* src) {
    INFOFLOW_LAUNCH(prepare_rows_kernel, blocks, kPadThreads, 0, nullptr, src + row0 * x.row_stride, static_cast<long long>(rows),
                                                 static_cast<int>(x.cols), stride, dev.mean, dev.inv_scale,
                                                 dst, static_cast<long long>(rows_pad), static_cast<int>(dp),
                                                 dev.bad_row, static_cast<long long>(row0));
  });
}

// Draws [row0, row0 + rows) of dev's Monte Carlo queries into padded sigma-unit rows at
// dst, their control variates into dcv.
void draw_rows(const DeviceRows& dev, std::size_t row0, std::size_t rows, std::size_t rows_pad,
               std::size_t dp, float* dst, double* dcv) {
  const unsigned blocks = static_cast<unsigned>(
      std::clamp<std::size_t>((rows_pad + kPadThreads - 1) / kPadThreads, 1, 65535));
  const DeviceMatrixView& c = dev.centers;
  launch_typed(c, [&](const auto* src) {
    INFOFLOW_LAUNCH(draw_rows_kernel, blocks, kPadThreads, 0, nullptr, 
        src, static_cast<long long>(c.row_stride), static_cast<int>(c.cols),
        static_cast<unsigned long long>(dev.per_center), static_cast<unsigned long long>(dev.row_base + row0),
        static_cast<long long>(rows), static_cast<long long>(rows_pad), static_cast<int>(dp), dev.mean,
        dev.inv_scale, static_cast<std::uint32_t>(dev.seed), static_cast<std::uint32_t>(dev.seed >> 32), dst, dcv);
  });
}

// Throws InvalidArgument naming the first non-finite row dev.bad_row caught, then resets it.
void check_finite_rows(const DeviceRows& dev, const char* what) {
  unsigned long long bad = 0;
  INFOFLOW_CUDA_CHECK(cudaMemcpy(&bad, dev.bad_row, sizeof bad, cudaMemcpyDeviceToHost));
  if (bad != ~0ull) {
    throw InvalidArgument(std::string(what) + " row " + std::to_string(bad) + " holds NaN or inf");
  }
}

// One mixture, in query chunks. With a tree (lse_cuda_pruned: p in k-d order, the box
// tree over its centre tiles), each chunk folds only its tile lists, where they pay. With
// dev, the rows come from the caller's device matrices and p's row pointers are unused.
void lse_cuda_whole(const LseProblemF32& p, double* out, const ProgressFn& progress,
                    const TileTree* tree = nullptr, const DeviceRows* dev = nullptr) {
  if (p.m == 0) return;
  require_usable_device();
  if (p.d > kMaxDim || p.n / kTileC >= static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw InvalidArgument("CUDA backend: " + std::to_string(p.n) + " x " + std::to_string(p.d) +
                          " centres exceed its limits (d <= 2^24, n < 2^37)");

  const std::size_t planned_rows = plan_rows_per_launch(p);
  const std::size_t d = p.d, dp = padded_dim(d), n_pad = round_up(p.n, kTileC);
  // Fold log2(e) into the weights and alpha once, so the kernel's exponent is already in
  // log2 units and 2^x needs no extra multiply per pair. Padded centres get weight 0: the
  // layout of one segment.
  const std::size_t whole[2] = {0, p.n};
  const std::vector<float> log2_w = pad_segment_log2_weights(p.log_weights, whole, 1, {0}, n_pad);
  const auto alpha2 = static_cast<float>(static_cast<double>(p.alpha) * kLog2e);

  auto dc = device_alloc<float>(n_pad * dp);
  const auto dlw = device_upload(log2_w);
  // The query chunk's buffers: on an out-of-memory refusal, smaller chunks (see
  // cuda/chunk_fallback.hpp); the centres above must fit whole, and plan_rows_per_launch
  // has said so with sizes if they cannot.
  std::size_t rows_per_launch = planned_rows;
  std::size_t flat_floats = 0;
  DeviceBuffer<float> dflat, dq;
  DeviceBuffer<double> dout;
  for (;;) {
    // Flat staging for uploads: a query chunk, or a slab of centre rows (none from the device).
    flat_floats = dev != nullptr ? 1 : std::max({rows_per_launch * d, std::min(p.n * d, kCentreStagingFloats), d});
    void *f = nullptr, *q = nullptr, *o = nullptr;
    const cudaError_t e[3] = {cudaMalloc(&f, flat_floats * sizeof(float)),
                              cudaMalloc(&q, round_up(rows_per_launch, kThreads) * dp * sizeof(float)),
                              cudaMalloc(&o, std::max<std::size_t>(rows_per_launch, 1) * sizeof(double))};
    dflat.reset(static_cast<float*>(f)), dq.reset(static_cast<float*>(q)), dout.reset(static_cast<double*>(o));
    if (e[0] == cudaSuccess && e[1] == cudaSuccess && e[2] == cudaSuccess) break;
    const cudaError_t err = e[0] != cudaSuccess ? e[0] : e[1] != cudaSuccess ? e[1] : e[2];
    const std::size_t next = smaller_chunk(rows_per_launch, kThreads);
    if (err != cudaErrorMemoryAllocation || next == 0) {
      throw_cuda_error(err, "cudaMalloc (query chunk buffers)", __FILE__, __LINE__);
    }
    cudaGetLastError();
    dflat.reset(), dq.reset(), dout.reset();
    rows_per_launch = next;
  }
  if (dev != nullptr) {
    prepare_rows(dev->centers, 0, p.n, n_pad, dp, *dev, dc.get());
    check_finite_rows(*dev, "centers");
  } else {
    for (std::size_t j = 0; j < p.n; j += flat_floats / d) {
      const std::size_t rows = std::min(flat_floats / d, p.n - j);
      const std::size_t rows_pad = j + rows == p.n ? n_pad - j : rows;
      upload_padded(p.centers + j * d, rows, rows_pad, d, dp, dflat.get(), dc.get() + j * dp);
    }
  }
  const bool draws = dev != nullptr && dev->per_center > 0;
  DeviceBuffer<double> dcv;
  if (draws) dcv = device_alloc<double>(std::max<std::size_t>(round_up(rows_per_launch, kThreads), 1));
  std::unique_ptr<TileLists> lists;
  if (tree != nullptr) {
    lists = std::make_unique<TileLists>(*tree, dc.get(), dlw.get(), n_pad, d, dp, rows_per_launch,
                                        p.alpha, std::log2(p.tolerance / static_cast<double>(p.n)));
  }
  for (std::size_t done = 0; done < p.m;) {
    const std::size_t rows = std::min(rows_per_launch, p.m - done);
    if (draws) {
      draw_rows(*dev, done, rows, round_up(rows, kThreads), dp, dq.get(), dcv.get());
    } else if (dev != nullptr) {
      prepare_rows(dev->queries, done, rows, round_up(rows, kThreads), dp, *dev, dq.get());
    } else {
      upload_padded(p.queries + done * d, rows, round_up(rows, kThreads), d, dp, dflat.get(),
                    dq.get());
    }
    const bool listed = lists && lists->build(dq.get(), rows, dout.get());
    launch(dq.get(), static_cast<int>(rows), dc.get(), n_pad, dlw.get(), d, alpha2, dout.get(),
           nullptr, listed ? lists->list() : nullptr, listed ? lists->offsets() : nullptr);
    // Synchronous copy: also where asynchronous kernel faults surface.
    INFOFLOW_CUDA_CHECK(
        cudaMemcpy(out + done, dout.get(), rows * sizeof(double), cudaMemcpyDeviceToHost));
    if (draws && dev->cv != nullptr) {
      INFOFLOW_CUDA_CHECK(cudaMemcpy(dev->cv + done, dcv.get(), rows * sizeof(double), cudaMemcpyDeviceToHost));
    }
    if (dev != nullptr && !draws) check_finite_rows(*dev, "queries");
    done += rows;
    if (progress) progress(static_cast<double>(done) / static_cast<double>(p.m));
  }
  if (lists && std::getenv("INFOFLOW_VERBOSE") != nullptr) lists->report();  // for benchmarks
}

// Every segment in one pass: the padded layout of cuda/segment_layout.hpp goes up in one
// copy per array and one kernel launch covers a slice of ~2^38 pair-dims of tasks (one
// slice for the SP estimator's conditional mixtures). Returns false, having written
// nothing, when the layout does not fit the device's free memory.
bool lse_cuda_segments(const LseProblemF32& p, SegmentsView seg, double* out, const ProgressFn& progress) {
  const std::size_t d = p.d, dp = padded_dim(d);
  const SegmentLayout l = segment_layout(seg, kThreads, kTileC);
  if (l.tasks.empty()) return true;  // no queries
  std::size_t free_b = 0, total_b = 0;
  INFOFLOW_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const std::size_t need = (l.query_rows + l.center_rows) * dp * sizeof(float) +
                           l.center_rows * sizeof(float) + p.m * sizeof(double) +
                           l.tasks.size() * sizeof(SegmentTask) + kMemHeadroom;
  if (need > free_b || l.center_rows / kTileC >= static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return false;
  }
  const auto hq = pad_segment_rows(p.queries, d, dp, seg.query_offsets, seg.count, l.query_row, l.query_rows);
  const auto hc = pad_segment_rows(p.centers, d, dp, seg.center_offsets, seg.count, l.center_row, l.center_rows);
  const auto hw = pad_segment_log2_weights(p.log_weights, seg.center_offsets, seg.count, l.center_row,
                                           l.center_rows);
  const auto dq = device_upload(hq), dc = device_upload(hc), dw = device_upload(hw);
  const auto dt = device_upload(l.tasks);
  auto dout = device_alloc<double>(p.m);
  const auto alpha2 = static_cast<float>(static_cast<double>(p.alpha) * kLog2e);
  const std::size_t max_tasks = std::numeric_limits<int>::max();
  for (std::size_t t0 = 0; t0 < l.tasks.size();) {
    double work = 0;
    std::size_t t1 = t0;
    while (t1 < l.tasks.size() && t1 - t0 < max_tasks &&
           (t1 == t0 || work < kPairDimsPerLaunch)) {
      work += double(kThreads) * l.tasks[t1].center_tiles * kTileC * dp;
      ++t1;
    }
    launch(dq.get(), static_cast<int>(t1 - t0), dc.get(), 0, dw.get(), d, alpha2, dout.get(),
           dt.get() + t0);
    if (progress) {
      INFOFLOW_CUDA_CHECK(cudaDeviceSynchronize());
      progress(static_cast<double>(t1) / l.tasks.size());
    }
    t0 = t1;
  }
  // Synchronous copy: also where asynchronous kernel faults surface.
  INFOFLOW_CUDA_CHECK(cudaMemcpy(out, dout.get(), p.m * sizeof(double), cudaMemcpyDeviceToHost));
  return true;
}

// Pruning of far tiles (p.tolerance > 0) for one mixture: queries in k-d leaves of a block,
// centres in k-d leaves of a tile, then per-block tile lists (TileLists). Returns false,
// having done nothing, where the cpu backend's pre-check says pruning cannot pay.
bool lse_cuda_pruned(const LseProblemF32& p, double* out, const ProgressFn& progress) {
  constexpr std::size_t kMaxRows = std::numeric_limits<std::uint32_t>::max();
  if (p.tolerance <= 0 || p.d > kListMaxDim || p.n <= kTileC || p.m == 0 || p.n > kMaxRows ||
      p.m > kMaxRows) {
    return false;
  }
  const std::size_t whole_q[2] = {0, p.m}, whole_c[2] = {0, p.n};
  const SegmentsView whole{whole_q, whole_c, 1};
  {  // pruning_can_pay works in log2 units, as the cpu backend
    std::vector<float> log2_w(p.n);
    for (std::size_t j = 0; j < p.n; ++j) log2_w[j] = static_cast<float>(p.log_weights[j] * kLog2e);
    LseProblemF32 p2 = p;
    p2.log_weights = log2_w.data();
    p2.alpha = static_cast<float>(p.alpha * kLog2e);
    if (!pruning_can_pay(p2, whole)) return false;
  }
  require_usable_device();
  const KdOrdered o = kd_ordered(p.queries, p.centers, p.log_weights, p.d, whole, kThreads, kTileC, kLog2e,
                                 static_cast<int>(std::thread::hardware_concurrency()));
  LseProblemF32 sorted = p;
  sorted.queries = o.queries.data(), sorted.centers = o.centers.data(), sorted.log_weights = o.log_w.data();
  std::vector<double> sorted_out(p.m);
  lse_cuda_whole(sorted, sorted_out.data(), progress, &o.tree);
  for (std::size_t i = 0; i < p.m; ++i) out[o.qperm[i]] = sorted_out[i];
  return true;
}

// Whether a single mixture takes the GEMM formulation. Its crossover with the direct
// kernel has not been measured on a GPU yet (no device has been lent to this project), so
// by default it is off: kGemmMinDim is the largest d. INFOFLOW_CUDA_GEMM=1 forces it on, =0
// off, for the benchmarks (bench/gpu/run_on_device.sh times both) and the tests.
constexpr std::size_t kGemmMinDim = std::numeric_limits<std::size_t>::max();
bool gemm_path_wanted(const LseProblemF32& p) {
  const char* env = std::getenv("INFOFLOW_CUDA_GEMM");
  if (env != nullptr && env[0] != 0) return env[0] == '1';
  return p.d >= kGemmMinDim;
}

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

  // Centres: float32 rows up, float64 rows and squared norms on the device.
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

}  // namespace

void lse_cuda(const LseProblemF32& p, SegmentsView seg, double* out, const ProgressFn& progress) {
  if (seg.count <= 1) {
    // One mixture: everything (count 0), or one segment's own queries and centres, which
    // entropy_mc_segmented passes with offsets into the whole arrays.
    LseProblemF32 one = p;
    double* one_out = out;
    if (seg.count == 1) {
      const std::size_t q0 = seg.query_offsets[0], c0 = seg.center_offsets[0];
      one.queries = p.queries + q0 * p.d, one.m = seg.query_offsets[1] - q0;
      one.centers = p.centers + c0 * p.d, one.n = seg.center_offsets[1] - c0;
      one.log_weights = p.log_weights + c0;
      one_out = out + q0;
      if (one.n == 0) {  // an empty mixture: every query's sum is 0, as on the cpu backend
        std::fill(one_out, one_out + one.m, -HUGE_VAL);
        return;
      }
    }
    if (gemm_path_wanted(one) && lse_cuda_gemm(one, one_out, progress)) return;
    if (!lse_cuda_pruned(one, one_out, progress)) lse_cuda_whole(one, one_out, progress);
    return;
  }
  require_usable_device();
  if (p.d > kMaxDim) {
    throw InvalidArgument("CUDA backend: d = " + std::to_string(p.d) + " exceeds its limit (d <= 2^24)");
  }
  if (lse_cuda_segments(p, seg, out, progress)) return;
  // Too big for one pass: one segment at a time, each streamed as its own mixture.
  for (std::size_t s = 0; s < seg.count; ++s) {
    LseProblemF32 sub = p;
    const std::size_t q0 = seg.query_offsets[s], c0 = seg.center_offsets[s];
    sub.queries = p.queries + q0 * p.d, sub.m = seg.query_offsets[s + 1] - q0;
    sub.centers = p.centers + c0 * p.d, sub.n = seg.center_offsets[s + 1] - c0;
    sub.log_weights = p.log_weights + c0;
    lse_cuda_whole(sub, out + q0, {});
    if (progress) progress(static_cast<double>(s + 1) / seg.count);
  }
}

namespace {

// Checks one device matrix's view and returns the device its memory is on.
int device_of(const DeviceMatrixView& x, const char* what) {
  if (x.data == nullptr || x.rows == 0 || x.cols == 0) {
    throw InvalidArgument(std::string(what) + ": empty device matrix (" + std::to_string(x.rows) + " x " +
                          std::to_string(x.cols) + ")");
  }
  if (x.row_stride < x.cols) {
    throw InvalidArgument(std::string(what) + ": row stride " + std::to_string(x.row_stride) +
                          " is smaller than its " + std::to_string(x.cols) + " columns");
  }
  cudaPointerAttributes attr{};
  const cudaError_t err = cudaPointerGetAttributes(&attr, x.data);
  if (err != cudaSuccess) throw_cuda_error(err, "cudaPointerGetAttributes", __FILE__, __LINE__);
  if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged) {
    throw InvalidArgument(std::string(what) + ": not GPU memory (a host pointer?); "
                          "log_density takes host arrays");
  }
  return attr.device;
}

}  // namespace
}  // namespace infoflow::detail

namespace infoflow {

namespace detail {
namespace {

// A device matrix of centres made ready for lse_cuda_whole: its column means and extent
// (summed on the device in float64 chunks, combined here in a fixed order), log-weights
// shifted so the largest is 0 (as prepare_centers does for host data: the true log-weight
// is log_w + offset), and the NaN flag. The pointer's device becomes the current one.
struct DeviceCentres {
  DeviceBuffer<double> mean;
  DeviceBuffer<unsigned long long> bad_row;
  std::vector<float> log_w;
  double offset = 0;
  double raw_extent = 0, centred_extent = 0;  // max |c| and max |c - mean| over coordinates
};

DeviceCentres prepare_device_centres(const DeviceMatrixView& centers, Span<const double> weights) {
  const std::size_t n = centers.rows, d = centers.cols;
  check_weights(weights, n);
  INFOFLOW_CUDA_CHECK(cudaSetDevice(device_of(centers, "centers")));
  constexpr std::size_t kChunk = 1024;
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  auto stats = device_alloc<double>(chunks * d * 3);
  launch_typed(centers, [&](const auto* src) {
    INFOFLOW_LAUNCH(column_stats_kernel, static_cast<unsigned>(chunks), kPadThreads, 0, nullptr, 
        src, static_cast<long long>(n), static_cast<int>(d), static_cast<long long>(centers.row_stride),
        static_cast<long long>(kChunk), stats.get());
  });
  std::vector<double> host(chunks * d * 3), mean(d, 0.0), lo(d, HUGE_VAL), hi(d, -HUGE_VAL);
  INFOFLOW_CUDA_CHECK(cudaMemcpy(host.data(), stats.get(), host.size() * sizeof(double), cudaMemcpyDeviceToHost));
  for (std::size_t c = 0; c < chunks; ++c) {
    for (std::size_t k = 0; k < d; ++k) {
      const double* o = host.data() + (c * d + k) * 3;
      mean[k] += o[0], lo[k] = std::min(lo[k], o[1]), hi[k] = std::max(hi[k], o[2]);
    }
  }
  DeviceCentres r;
  for (std::size_t k = 0; k < d; ++k) {
    mean[k] /= static_cast<double>(n);
    r.raw_extent = std::max({r.raw_extent, std::abs(lo[k]), std::abs(hi[k])});
    r.centred_extent = std::max({r.centred_extent, hi[k] - mean[k], mean[k] - lo[k]});
  }
  r.mean = device_upload(mean);
  r.bad_row = device_alloc<unsigned long long>(1);
  INFOFLOW_CUDA_CHECK(cudaMemset(r.bad_row.get(), 0xff, sizeof(unsigned long long)));
  r.log_w.assign(n, 0.f);
  r.offset = -std::log(static_cast<double>(n));
  if (!weights.empty()) {
    r.offset = -HUGE_VAL;
    for (double w : weights) r.offset = std::max(r.offset, std::log(w));
    for (std::size_t j = 0; j < n; ++j) r.log_w[j] = static_cast<float>(std::log(weights[j]) - r.offset);
  }
  return r;
}

// log sum_j w_j exp(-alpha_sigma ||y - c_j||^2 / sigma^2) for the rows of dev (queries
// read or drawn), through lse_cuda_whole in sigma units.
std::vector<double> device_lse(const DeviceRows& dev, const DeviceCentres& dc, std::size_t m,
                               float alpha_sigma, const ProgressFn& progress) {
  LseProblemF32 p;
  p.m = m, p.n = dev.centers.rows, p.d = dev.centers.cols, p.log_weights = dc.log_w.data();
  p.alpha = alpha_sigma;
  std::vector<double> out(m);
  lse_cuda_whole(p, out.data(), progress, nullptr, &dev);
  for (double& v : out) v += dc.offset;
  return out;
}

}  // namespace
}  // namespace detail

void log_density_on_device(DeviceMatrixView queries, DeviceMatrixView centers,
                           Span<const double> weights, double sigma, Span<double> out,
                           const ProgressFn& progress) {
  using namespace detail;
  check_positive(sigma, "sigma");
  require_usable_device();
  const int device = device_of(centers, "centers");
  if (device_of(queries, "queries") != device) {
    throw InvalidArgument("queries and centers are on different GPUs");
  }
  if (queries.cols != centers.cols) {
    throw InvalidArgument("queries have " + std::to_string(queries.cols) + " columns but centers have " +
                          std::to_string(centers.cols));
  }
  if (out.size != queries.rows) {
    throw InvalidArgument("out has " + std::to_string(out.size) + " entries for " +
                          std::to_string(queries.rows) + " queries");
  }
  const DeviceCentres dc = prepare_device_centres(centers, weights);
  const DeviceRows dev{queries, centers, dc.mean.get(), 1 / sigma, dc.bad_row.get()};
  // In sigma units alpha = 1 / (2 sigma^2) times sigma^2.
  const std::vector<double> lse = device_lse(dev, dc, queries.rows, 0.5f, progress);
  const double shift = -0.5 * static_cast<double>(centers.cols) * std::log(2 * M_PI * sigma * sigma);
  for (std::size_t i = 0; i < queries.rows; ++i) out[i] = lse[i] + shift;
}

EntropyResult mixture_entropy_on_device(DeviceMatrixView centers, Span<const double> weights,
                                        const EntropyOptions& opt) {
  using namespace detail;
  const auto t0 = std::chrono::steady_clock::now();
  check_positive(opt.sigma, "sigma");
  if (opt.samples_per_center < 1) throw InvalidArgument("samples per center must be >= 1");
  if (opt.compute.backend != Backend::Auto && opt.compute.backend != Backend::Cuda) {
    throw InvalidArgument(std::string("centres on a GPU run on the cuda backend, not ") +
                          std::string(backend_name(opt.compute.backend)) + "; copy them to the host for it");
  }
  if (opt.compute.comm != nullptr && opt.compute.comm->size() > 1) {
    throw InvalidArgument("centres on a GPU are estimated in one process, not split across ranks");
  }
  require_usable_device();
  const DeviceCentres dc = prepare_device_centres(centers, weights);
  check_draw_extent(dc.raw_extent, dc.centred_extent, opt.sigma, Backend::Cuda, "sigma");
  const std::size_t n = centers.rows, d = centers.cols, per = opt.samples_per_center, m = n * per;
  EntropyResult r;
  r.n = n, r.d = d, r.sigma = opt.sigma, r.backend = Backend::Cuda, r.samples = m;
  const double nn = static_cast<double>(n) * static_cast<double>(n);
  const double total = nn * (static_cast<double>(per) + (opt.bounds ? 2 : 0));
  const auto part = [&](double start, double pairs) -> ProgressFn {
    if (!opt.compute.progress) return {};
    return [&opt, start, pairs, total](double f) { opt.compute.progress((start + f * pairs) / total); };
  };
  const auto weight = [&](std::size_t i) { return weights.empty() ? 1 / static_cast<double>(n) : weights[i]; };
  // The draws: entropy_mc_segmented's estimator, on the same Philox rows 0 .. m - 1, in
  // passes of at most kDrawsPerPass (the host holds one pass's values, not all m).
  constexpr std::size_t kDrawsPerPass = std::size_t{1} << 22;
  const double log_norm = 0.5 * static_cast<double>(d) * std::log(2 * M_PI * opt.sigma * opt.sigma);
  std::vector<double> cv(opt.control_variate ? std::min(m, kDrawsPerPass) : 0);
  DeviceRows dev{centers, centers, dc.mean.get(), 1 / opt.sigma, dc.bad_row.get()};
  dev.per_center = per, dev.seed = opt.seed, dev.cv = opt.control_variate ? cv.data() : nullptr;
  MeanAccumulator acc;
  for (std::size_t g0 = 0; g0 < m; g0 += kDrawsPerPass) {
    const std::size_t rows = std::min(kDrawsPerPass, m - g0);
    dev.row_base = g0;
    const std::vector<double> lse = device_lse(
        dev, dc, rows, 0.5f, part(static_cast<double>(g0) * static_cast<double>(n), static_cast<double>(rows) * static_cast<double>(n)));
    for (std::size_t r = 0; r < rows; ++r) {
      acc.add(weight((g0 + r) / per), -(lse[r] - log_norm) - (opt.control_variate ? cv[r] : 0.0));
    }
  }
  r.entropy_nats = acc.mean(), r.stderr_nats = acc.standard_error();
  if (opt.bounds) {  // mixture_entropy's pairwise_bound: the centres as queries
    const DeviceRows self{centers, centers, dc.mean.get(), 1 / opt.sigma, dc.bad_row.get()};
    const double start = nn * static_cast<double>(per);
    double* bound[2] = {&r.kl_upper_nats, &r.bhattacharyya_lower_nats};
    const float alpha[2] = {0.5f, 0.125f};  // 1 / (2 sigma^2) and 1 / (8 sigma^2), in sigma units
    for (int b = 0; b < 2; ++b) {
      const std::vector<double> pair = device_lse(self, dc, n, alpha[b], part(start + b * nn, nn));
      double s = 0;
      for (std::size_t i = 0; i < n; ++i) s += weight(i) * pair[i];
      *bound[b] = gaussian_entropy(d, opt.sigma) - s;
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

bool use_cuda_device(int index) {
  if (index < 0 || index >= cuda_device_count()) return false;
  if (cudaSetDevice(index) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return true;
}

}  // namespace infoflow
