// lse_cuda (host/lse_implementations.hpp): which way of running the CUDA backend takes for a
// problem (kernels/lse_cuda.cuh lists them). One mixture: the GEMM formulation when asked
// for, else pruned tile lists where they pay, else the dense kernel; several: all segments
// in one pass, or one after another when that does not fit.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

#include "kernels/cuda_check.cuh"
#include "kernels/lse_cuda.cuh"
#include "lse_implementations.hpp"

namespace infoflow::detail {

void lse_cuda(const LseProblemF32& p, SegmentsView seg, double* out, const ProgressFn& progress) {
  require_usable_device();
  const DeviceScope scope(p.cuda_device);
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
    if (one.cuda_distances == CudaDistances::Gemm && lse_cuda_gemm(one, one_out, progress)) return;
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

}  // namespace infoflow::detail
