// Pruning on the CUDA backend (one mixture, p.tolerance > 0): queries in k-d blocks of
// kThreads (one CUDA block each) and centres in k-d tiles of kTileC under one box tree
// (host/pruning/); per query chunk, on the device: each block's bounding box, each query's
// exact sum over the tile the tree leads it to (a lower bound of its whole sum), then per
// block the list of tiles whose bound is not below that, counted, scanned (CUB) and written;
// the kernel (lse_kernel.cu) walks only its block's list. The rule and its proof:
// host/cuda/tile_lists.hpp.
// Launch shapes: block_boxes_kernel and seed_lse_kernel one thread per (block, dim) / query
// (256 per block); list_tiles_kernel one CUDA block of 256 threads per query block.
// Tests: Pruning.CudaWithinProvenBoundOfExact, CudaPruning.* (the rule on the host);
// bench: bench/bench_lse.cpp cuda/... with a tolerance, INFOFLOW_VERBOSE=1 for what was kept.
#include <cuda_runtime.h>
#include <math_constants.h>

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_scan.cuh>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

#include "cuda/tile_lists.hpp"
#include "kernels/cuda_check.cuh"
#include "kernels/launch.cuh"
#include "kernels/lse_cuda.cuh"
#include "lse_implementations.hpp"
#include "pruning/tile_tree.hpp"

namespace infoflow::detail {
namespace {

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

// Pruning's tile lists (cuda/tile_lists.hpp), built on the device for each query chunk:
// its block boxes, every query's seed sum, the lists' sizes, their scan (CUB) and the
// lists. The centres' box tree (built on the host, over the k-d ordered centres in tiles
// of kTileC) goes up once. Buffers are sized for the largest chunk.
class DeviceTileLists final : public TileLists {
 public:
  DeviceTileLists(const TileTree& tree, const float* dc, const float* dlw, std::size_t n_pad,
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
  bool build(const float* dq, std::size_t rows, double* seed_out) override {
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
  const std::uint32_t* list() const override { return list_.get(); }
  const std::uint64_t* offsets() const override { return offsets_.get(); }
  // What pruning did, for INFOFLOW_VERBOSE: the fraction of (block, tile) pairs the lists
  // keep, over every chunk, and the chunks that ran unpruned.
  void report() const override {
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

std::unique_ptr<TileLists> make_tile_lists(const TileTree& tree, const float* dc, const float* dlw,
                                           std::size_t n_pad, std::size_t d, std::size_t dp,
                                           std::size_t max_rows, double alpha, double log2_tol_per_centre) {
  return std::make_unique<DeviceTileLists>(tree, dc, dlw, n_pad, d, dp, max_rows, alpha, log2_tol_per_centre);
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

}  // namespace infoflow::detail
