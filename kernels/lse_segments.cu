// Many mixtures in one pass on the CUDA backend (the SP estimator's conditional entropies:
// one mixture per input or class): the padded layout of host/cuda/segment_layout.hpp goes
// up in one copy per array, and each launch covers a slice of ~2^38 pair-dims of tasks.
// Launch shape: lse_kernel.cu's kernel with one block per task (up to kThreads queries of
// one segment against that segment's centre tiles).
// Tests: CudaSegments.* (tests/test_backends.cpp), Backends/SpEstimator.*/cuda,
// CudaCli.MutualInformation*; bench: bench/bench_mi.cpp.
#include <cuda_runtime.h>

#include <cstddef>
#include <limits>
#include <vector>

#include "cuda/segment_layout.hpp"
#include "kernels/cuda_check.cuh"
#include "kernels/lse_cuda.cuh"
#include "lse_backends.hpp"

namespace infoflow::detail {

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
