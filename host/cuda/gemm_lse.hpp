// The cuda backend's GEMM formulation for large d (kernels/lse_gemm.cu):
// ||q - c||^2 = ||q||^2 + ||c||^2 - 2 q.c, the dot products from a float64 cuBLAS GEMM of
// a block of queries against a block of centres, then an online log-sum-exp along each
// query's row of them. Per pair that is one GEMM FMA (2 flops) instead of the direct
// kernel's subtract and FMA, on the FP64 tensor cores of an H100 (IEEE float64: no TF32).
//
// Why float64: the expansion cancels. In sigma units the exponent is off by about
// eps * (||q||^2 + ||c||^2); with float32 eps that is 1e-3 at 100 sigma from the mean
// (bench/ROOFLINE.md, where it was measured on the CPU), with float64 1e-12. The inputs are
// the same float32 sigma-unit rows the direct kernel reads, so both paths share their
// input rounding; products of float32 values are exact in float64.
//
// Host and device share these functions (tests/test_backends.cpp, CudaGemm, runs them on
// the host in the kernel's order against the float64 reference).
#pragma once

#include <cmath>

#include "cuda/host_device.hpp"
#include "online_lse.hpp"
#include "lse_implementations.hpp"

namespace infoflow::detail {

// A query's running log-sum-exp in log2 units: sum of 2^(e - max) over the terms so far.
struct OnlineLse2 {
  double max = -INFINITY, sum = 0;
  INFOFLOW_HD void add(double e) { merge(e, 1); }  // e = -inf: a zero weight
  INFOFLOW_HD void merge(double other_max, double other_sum) {
    if (other_max == -INFINITY) return;
    if (other_max > max) {
      lse2_fold(max, sum, other_max, other_sum);
    } else {
      sum += other_sum * exp2(other_max - max);
    }
  }
  // log of the sum in natural units (-inf when every weight so far was zero).
  INFOFLOW_HD double natural_log() const {
    return max == -INFINITY ? -INFINITY : (max + log2(sum)) * kLn2;
  }
};

// The exponent of one pair in log2 units from the GEMM's dot product and the two rows'
// squared norms: lw2 - alpha2 ||q - c||^2, the squared distance clamped at 0 where rounding
// makes it slightly negative.
INFOFLOW_HD double gemm_exponent(float lw2, double alpha2, double q_norm2, double c_norm2, double dot) {
  const double d2 = q_norm2 + c_norm2 - 2 * dot;
  return static_cast<double>(lw2) - alpha2 * (d2 > 0 ? d2 : 0);
}

// Query and centre rows per GEMM block: a 4096 x 4096 float64 block of dot products is
// 128 MiB, and at d >= 64 its GEMM outlasts the log-sum-exp pass that reads it back.
// The emulated device (cuda_emulation/) takes blocks of 512, so tests reach several
// blocks at sizes its plain-loop DGEMM runs in seconds.
#ifdef INFOFLOW_CUDA_EMULATION
constexpr int kGemmRows = 512;
constexpr int kGemmCols = 512;
#else
constexpr int kGemmRows = 4096;
constexpr int kGemmCols = 4096;
#endif
// Lanes of the log-sum-exp pass over one query's row (one warp per query).
constexpr int kGemmLanes = 32;

}  // namespace infoflow::detail
