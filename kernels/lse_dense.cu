// One mixture on the CUDA backend, in query chunks: the centres go up once, padded (or are
// prepared in place from a device matrix), then each chunk of queries is uploaded (read,
// or drawn on the device) and folded against every centre tile, or against its tile lists
// where pruning pays (lse_tile_lists.cu). Launch shape: lse_kernel.cu's, one block per 128
// queries of the chunk; a chunk is up to 2^20 queries, fewer where device memory is short.
// Reference: lse_reference; tests: Backends/FastBackend.*/cuda, DeviceInput.*,
// CudaCli.*; bench: bench/bench_lse.cpp cuda/...
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "cuda/chunk_fallback.hpp"
#include "cuda/segment_layout.hpp"
#include "kernels/cuda_check.cuh"
#include "kernels/lse_cuda.cuh"
#include "lse_implementations.hpp"

namespace infoflow::detail {
namespace {

// Per launch: at most 2^20 queries, at least 2^16 (enough blocks for every SM), and
// otherwise about kPairDimsPerLaunch.
constexpr std::size_t kMaxQueriesPerLaunch = std::size_t{1} << 20;
constexpr std::size_t kMinQueriesPerLaunch = std::size_t{1} << 16;
// Centers go up through a flat staging buffer of at least this many floats (64 MiB), so
// a small m does not mean one copy per centre row.
constexpr std::size_t kCentreStagingFloats = std::size_t{1} << 24;

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
                  gib(double(need)), gib(double(free_b)));
    throw ResourceError(msg);
  }
  const double pair_dims = static_cast<double>(p.n) * static_cast<double>(dp);
  const auto by_work = static_cast<std::size_t>(std::clamp(
      kPairDimsPerLaunch / pair_dims, double(kMinQueriesPerLaunch), double(kMaxQueriesPerLaunch)));
  std::size_t rows = std::min({p.m, (free_b - fixed) / per_query, by_work});
  if (rows < p.m) rows -= rows % kThreads;  // whole blocks; rows >= kThreads here
  return rows;
}

// Rows uploaded from the host problem's arrays, through flat staging.
class HostRows final : public RowSource {
 public:
  explicit HostRows(const LseProblemF32& p) : p_(p) {}
  std::size_t staging_floats(std::size_t rows_per_launch) const override {
    // a query chunk, or a slab of centre rows
    return std::max({rows_per_launch * p_.d, std::min(p_.n * p_.d, kCentreStagingFloats), p_.d});
  }
  void reserve(std::size_t rows_per_launch) override { flat_floats_ = staging_floats(rows_per_launch); }
  void centres(float* dst, std::size_t n_pad, std::size_t dp, float* flat) override {
    const std::size_t d = p_.d, slab = flat_floats_ / d;
    for (std::size_t j = 0; j < p_.n; j += slab) {
      const std::size_t rows = std::min(slab, p_.n - j);
      const std::size_t rows_pad = j + rows == p_.n ? n_pad - j : rows;
      upload_padded(p_.centers + j * d, rows, rows_pad, d, dp, flat, dst + j * dp);
    }
  }
  void queries(std::size_t row0, std::size_t rows, std::size_t rows_pad, std::size_t dp, float* dst,
               float* flat) override {
    upload_padded(p_.queries + row0 * p_.d, rows, rows_pad, p_.d, dp, flat, dst);
  }

 private:
  const LseProblemF32& p_;
  std::size_t flat_floats_ = 0;
};

}  // namespace

void lse_cuda_whole(const LseProblemF32& p, double* out, const ProgressFn& progress, const TileTree* tree,
                    RowSource* source) {
  if (p.m == 0) return;
  require_usable_device();
  if (p.d > kMaxDim || p.n / kTileC >= static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw InvalidArgument("CUDA backend: " + std::to_string(p.n) + " x " + std::to_string(p.d) +
                          " centres exceed its limits (d <= 2^24, n < 2^37)");
  HostRows host_rows(p);
  RowSource& src = source != nullptr ? *source : host_rows;

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
  DeviceBuffer<float> dflat, dq;
  DeviceBuffer<double> dout;
  for (;;) {
    void *f = nullptr, *q = nullptr, *o = nullptr;
    const cudaError_t e[3] = {cudaMalloc(&f, std::max<std::size_t>(src.staging_floats(rows_per_launch), 1) * sizeof(float)),
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
  src.reserve(rows_per_launch);
  src.centres(dc.get(), n_pad, dp, dflat.get());
  std::unique_ptr<TileLists> lists;
  if (tree != nullptr) {
    lists = make_tile_lists(*tree, dc.get(), dlw.get(), n_pad, d, dp, rows_per_launch, p.alpha,
                            std::log2(p.tolerance / static_cast<double>(p.n)));
  }
  for (std::size_t done = 0; done < p.m;) {
    const std::size_t rows = std::min(rows_per_launch, p.m - done);
    src.queries(done, rows, round_up(rows, kThreads), dp, dq.get(), dflat.get());
    const bool listed = lists && lists->build(dq.get(), rows, dout.get());
    launch_lse_kernel(dq.get(), static_cast<int>(rows), dc.get(), n_pad, dlw.get(), d, alpha2, dout.get(), nullptr,
                      listed ? lists->list() : nullptr, listed ? lists->offsets() : nullptr);
    // Synchronous copy: also where asynchronous kernel faults surface.
    INFOFLOW_CUDA_CHECK(cudaMemcpy(out + done, dout.get(), rows * sizeof(double), cudaMemcpyDeviceToHost));
    src.chunk_done(done, rows);
    done += rows;
    if (progress) progress(static_cast<double>(done) / static_cast<double>(p.m));
  }
  if (lists && std::getenv("INFOFLOW_VERBOSE") != nullptr) lists->report();  // for benchmarks
}

}  // namespace infoflow::detail
