// Internal to kernels/: the CUDA backend of the Gaussian log-sum-exp primitive
//     out_i = log sum_j exp(lw_j - alpha ||q_i - c_j||^2),
// one way of running per file, as CUB keeps one reduction per file:
//   lse_kernel.cu      the tiled kernel, its launch and the padded row layout (the core)
//   lse_dense.cu       one mixture in query chunks, rows from a RowSource
//   lse_segments.cu    many mixtures in one launch (the SP estimator's conditional terms)
//   lse_tile_lists.cu  pruning: per query block, the centre tiles that matter
//   lse_gemm.cu        large d: a float64 cuBLAS GEMM and a log-sum-exp pass
//   device_rows.cu     inputs already in GPU memory, Monte Carlo draws made there
//   device.cu          whether a device can run this build, which device a process uses
//   lse_cuda.cu        lse_cuda: which way runs a problem
// The truth each is tested against: lse_reference (host/reference/lse_reference.cpp).
// Tests (ctest label cuda; on a GPU or the emulated device): tests/test_backends.cpp,
// test_pruning.cpp, test_device_input.cpp, test_cuda_cli.cpp. Bench: bench/bench_lse.cpp
// (cuda/...) and bench/gpu/run_on_device.sh; on paper: bench/sass_model.py.
//
// On the device, rows are stored padded: d up to a multiple of the kernel's dim chunk with
// zeros (padded dims add (0 - 0)^2 = 0 to every distance) and n up to a multiple of kTileC
// with weight 0 (log2 w = -inf). The kernel then needs no bounds checks and loads aligned
// float4s.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "cuda/segment_layout.hpp"
#include "infoflow/infoflow.hpp"
#include "lse_implementations.hpp"

namespace infoflow::detail {

// ---- the kernel's shape (lse_kernel.cu) -----------------------------------------------
// 4 warps per block: one query row per thread, so a block needs only 128 rows of work
// and m ~ 10^5 already fills an H100; small blocks also keep several blocks resident per
// SM so one block's __syncthreads/staging is hidden behind another's arithmetic.
constexpr int kThreads = 128;
// Centers per tile. acc[kTileC] lives in registers: 64 floats plus the query chunk still
// fit the 128-register cap without spilling, and 64 pairs per tile amortise the
// online-LSE bookkeeping (max, rescale, double add) to a few percent.
constexpr int kTileC = 64;
// Dims per shared-memory chunk (DC): d <= 4 and d <= 8 get a chunk holding the whole
// row, so little padded work and the query row stays in registers; larger d loops over
// chunks of 16 (64 B per row, four float4s) with the running acc[] in registers.
constexpr int kDcSmall = 4;
constexpr int kDcMid = 8;
constexpr int kDcLarge = 16;
// Threads of the row-preparing kernels (padding, draws, statistics).
constexpr int kPadThreads = 256;
// Largest d: keeps every in-kernel offset within a block's rows in an int.
constexpr std::size_t kMaxDim = std::size_t{1} << 24;
// Work per launch: about 2^38 pair-dims (tens of ms on an H100), so progress moves steadily.
constexpr double kPairDimsPerLaunch = 274877906944.0;  // 2^38
// Left free for the context, allocator granularity and other users of the device.
constexpr std::size_t kMemHeadroom = std::size_t{128} << 20;

constexpr std::size_t round_up(std::size_t x, std::size_t k) { return (x + k - 1) / k * k; }
constexpr std::size_t padded_dim(std::size_t d) {
  return d <= kDcSmall ? kDcSmall : d <= kDcMid ? kDcMid : round_up(d, kDcLarge);
}

// ---- lse_kernel.cu ----------------------------------------------------------------------
// The tiled kernel over padded rows (dq: rows queries, or with tasks one block per segment
// task and rows = the number of tasks; dc: n_pad centres; dlw: their log2 weights). With a
// tile list (list, list_offsets per block), each block folds only its list's tiles.
void launch_lse_kernel(const float* dq, int rows, const float* dc, std::size_t n_pad, const float* dlw,
                       std::size_t d, float alpha2, double* dout, const SegmentTask* tasks = nullptr,
                       const std::uint32_t* list = nullptr, const std::uint64_t* list_offsets = nullptr);
// dst (rows_pad x dp, zeros in the padding) from rows [0, rows) of a strided float32 or
// float64 device matrix: as they are (mean == nullptr), or (src - mean) * inv_scale, the
// move to sigma units that prepare_centers does on the host; then the first non-finite row
// (numbered from row0) goes to *bad_row.
template <class T>
void pad_rows(const T* src, std::size_t rows, std::size_t d, std::size_t stride, const double* mean,
              double inv_scale, float* dst, std::size_t rows_pad, std::size_t dp, unsigned long long* bad_row,
              std::size_t row0);
// Host rows (rows x d) -> flat device staging -> padded device rows (rows_pad x dp).
void upload_padded(const float* host, std::size_t rows, std::size_t rows_pad, std::size_t d, std::size_t dp,
                   float* flat, float* padded);
// The kernel device.cu asks the device about (whether this build carries code it runs).
const void* probe_kernel();

// ---- device.cu --------------------------------------------------------------------------
// Throws ResourceError saying why when no device can run this build.
void require_usable_device();
std::string describe(cudaError_t err);
inline double gib(double bytes) { return bytes / double(1u << 30); }

// ---- lse_dense.cu -----------------------------------------------------------------------
// Where one mixture's rows come from: the host problem's arrays (uploaded; the default),
// or device matrices read or drawn in place (device_rows.cu).
class RowSource {
 public:
  virtual ~RowSource() = default;
  // Floats of flat device staging needed for chunks of rows_per_launch queries.
  virtual std::size_t staging_floats(std::size_t rows_per_launch) const = 0;
  // Once the chunk size is settled: buffers of the source's own.
  virtual void reserve(std::size_t /*rows_per_launch*/) {}
  // The centres as n_pad padded rows (pitch dp) at dst.
  virtual void centres(float* dst, std::size_t n_pad, std::size_t dp, float* flat) = 0;
  // Queries [row0, row0 + rows) as rows_pad padded rows at dst.
  virtual void queries(std::size_t row0, std::size_t rows, std::size_t rows_pad, std::size_t dp, float* dst,
                       float* flat) = 0;
  // After the chunk's kernel, its results copied back.
  virtual void chunk_done(std::size_t /*row0*/, std::size_t /*rows*/) {}
};

// ---- lse_tile_lists.cu ----------------------------------------------------------------------
struct TileTree;
// Per query block of a chunk, the centre tiles it must fold (pruning).
class TileLists {
 public:
  virtual ~TileLists() = default;
  // The lists of a chunk of `rows` padded queries dq; seed_out (rows doubles) is scratch.
  // False when they would not pay or their memory cannot be had: the chunk runs unpruned.
  virtual bool build(const float* dq, std::size_t rows, double* seed_out) = 0;
  virtual const std::uint32_t* list() const = 0;
  virtual const std::uint64_t* offsets() const = 0;
  // What pruning did, on stderr (INFOFLOW_VERBOSE, for benchmarks).
  virtual void report() const = 0;
};
// For centres dc (k-d ordered, n_pad padded rows of pitch dp, log2 weights dlw) under tree.
std::unique_ptr<TileLists> make_tile_lists(const TileTree& tree, const float* dc, const float* dlw,
                                           std::size_t n_pad, std::size_t d, std::size_t dp,
                                           std::size_t max_rows, double alpha, double log2_tol_per_centre);

// One mixture, in query chunks. With a tree (lse_cuda_pruned: p in k-d order, the box
// tree over its centre tiles), each chunk folds only its tile lists, where they pay.
// rows: where the rows come from (null: p's host arrays).
void lse_cuda_whole(const LseProblemF32& p, double* out, const ProgressFn& progress,
                    const TileTree* tree = nullptr, RowSource* rows = nullptr);

// ---- lse_segments.cu, lse_tile_lists.cu, lse_gemm.cu ---------------------------------------
// Every segment in one pass; false, having written nothing, when it does not fit.
bool lse_cuda_segments(const LseProblemF32& p, SegmentsView seg, double* out, const ProgressFn& progress);
// One mixture pruned by tile lists; false, having done nothing, where pruning cannot pay.
bool lse_cuda_pruned(const LseProblemF32& p, double* out, const ProgressFn& progress);
// One mixture by the GEMM formulation; false, having written nothing, when cuBLAS cannot be
// loaded or its buffers do not fit.
bool lse_cuda_gemm(const LseProblemF32& p, double* out, const ProgressFn& progress);

}  // namespace infoflow::detail
