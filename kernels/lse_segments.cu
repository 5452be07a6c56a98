// Many mixtures in one pass on the CUDA backend (the SP estimator's conditional entropies:
// one mixture per input or class): the padded layout of host/cuda/segment_layout.hpp goes
// up in one copy per array, and each launch covers a slice of ~2^38 pair-dims of tasks.
// Launch shapes: lse_kernel.cu's kernel with one block per task (up to kThreads queries of
// one segment against that segment's centre tiles); small segments (<= 64 centres, < 64
// queries) one thread per query, 128 per block (lse_small_segments_kernel).
// Tests: CudaSegments.* (tests/test_backends.cpp), Backends/SpEstimator.*/cuda,
// CudaCli.MutualInformation*; bench: bench/bench_mi.cpp.
#include <cuda_runtime.h>
#include <math_constants.h>

#include <cstddef>
#include <limits>
#include <vector>

#include "cuda/segment_layout.hpp"
#include "kernels/cuda_check.cuh"
#include "kernels/fast_exp2.cuh"
#include "kernels/launch.cuh"
#include "kernels/lse_cuda.cuh"
#include "lse_implementations.hpp"

namespace infoflow::detail {
namespace {

// Segments of at most kSmallCenters centres and fewer than kSmallRows queries take the
// one-thread-per-query kernel below; the rest the tiled kernel's blocks.
constexpr std::size_t kSmallCenters = kTileC;
constexpr std::size_t kSmallRows = kThreads / 2;
constexpr int kSmallThreads = 128;

// One thread per query of a small segment (cuda/segment_layout.hpp, SmallQuery): its
// segment's few centres straight from global memory (L1-cached, shared by the neighbouring
// threads of the same segment), two passes (the largest exponent, then the sum below it)
// in the tiled kernel's numerics: float32 distances from direct differences in sigma
// units, exponents in log2 units, a float sum of at most kSmallCenters terms <= 1.
__global__ void __launch_bounds__(kSmallThreads)
    lse_small_segments_kernel(const float4* __restrict__ queries, const float4* __restrict__ centers,
                              const float* __restrict__ log2_w, const SmallQuery* __restrict__ small,
                              long long count, int dp4, float alpha2, double* __restrict__ out) {
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const SmallQuery sq = small[i];
  const float4* q = queries + static_cast<long long>(sq.query_row) * dp4;
  const float4* c = centers + static_cast<long long>(sq.center_row) * dp4;
  const float* lw = log2_w + sq.center_row;
  const int n = static_cast<int>(sq.centers);
  auto exponent = [&](int j) {
    float d2 = 0.f;
    for (int k = 0; k < dp4; ++k) {
      const float4 a = __ldg(q + k), b = __ldg(c + static_cast<long long>(j) * dp4 + k);
      const float dx = a.x - b.x, dy = a.y - b.y, dz = a.z - b.z, dw = a.w - b.w;
      d2 = fmaf(dx, dx, d2), d2 = fmaf(dy, dy, d2), d2 = fmaf(dz, dz, d2), d2 = fmaf(dw, dw, d2);
    }
    return fmaf(-alpha2, d2, __ldg(lw + j));
  };
  float top = -CUDART_INF_F;
  for (int j = 0; j < n; ++j) top = fmaxf(top, exponent(j));
  if (top == -CUDART_INF_F) {  // no centres, or every weight zero
    out[sq.out_row] = -CUDART_INF;
    return;
  }
  float sum = 0.f;
  for (int j = 0; j < n; ++j) sum += fast_exp2(exponent(j) - top);
  out[sq.out_row] = static_cast<double>(top) * kLn2 + log(static_cast<double>(sum));
}

}  // namespace

// Every segment in one pass: the padded layout of cuda/segment_layout.hpp goes up in one
// copy per array and one kernel launch covers a slice of ~2^38 pair-dims of tasks (one
// slice for the SP estimator's conditional mixtures). Returns false, having written
// nothing, when the layout does not fit the device's free memory.
bool lse_cuda_segments(const LseProblemF32& p, SegmentsView seg, double* out, const ProgressFn& progress) {
  const std::size_t d = p.d, dp = padded_dim(d);
  const SegmentLayout l = segment_layout(seg, kThreads, kTileC, kSmallCenters, kSmallRows);
  if (l.tasks.empty() && l.small.empty()) return true;  // no queries
  std::size_t free_b = 0, total_b = 0;
  INFOFLOW_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const std::size_t need = (l.query_rows + l.center_rows) * dp * sizeof(float) +
                           l.center_rows * sizeof(float) + p.m * sizeof(double) +
                           l.tasks.size() * sizeof(SegmentTask) + l.small.size() * sizeof(SmallQuery) +
                           kMemHeadroom;
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
  if (!l.small.empty()) {  // one launch: these are the cheap segments (<= 64 centres each)
    const auto ds = device_upload(l.small);
    const auto blocks = static_cast<unsigned>((l.small.size() + kSmallThreads - 1) / kSmallThreads);
    INFOFLOW_LAUNCH(lse_small_segments_kernel, blocks, kSmallThreads, 0, nullptr,
                    reinterpret_cast<const float4*>(dq.get()), reinterpret_cast<const float4*>(dc.get()), dw.get(),
                    ds.get(), static_cast<long long>(l.small.size()), static_cast<int>(dp / 4), alpha2, dout.get());
    INFOFLOW_CUDA_CHECK(cudaGetLastError());
  }
  const std::size_t max_tasks = std::numeric_limits<int>::max();
  for (std::size_t t0 = 0; t0 < l.tasks.size();) {
    double work = 0;
    std::size_t t1 = t0;
    while (t1 < l.tasks.size() && t1 - t0 < max_tasks &&
           (t1 == t0 || work < kPairDimsPerLaunch)) {
      work += double(kThreads) * l.tasks[t1].center_tiles * kTileC * dp;
      ++t1;
    }
    launch_lse_kernel(dq.get(), static_cast<int>(t1 - t0), dc.get(), 0, dw.get(), d, alpha2, dout.get(),
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

}  // namespace infoflow::detail
