// Internal: the one streaming sweep behind log_density_backward, as each backend runs it.
//
// Every "owner" row o meets every "swept" row s, with the term
//     t_os = f_s exp(a_s + b_o - ||x_o - x_s||^2 / (2 sigma^2)),
// and each owner gathers
//     S_o = sum_s t_os,   B_o = sum_s t_os ||x_o - x_s||^2 / sigma^2,
//     A_o = sum_s t_os (x_o - x_s) / sigma            (d entries).
// log_density_backward runs it twice (host/lse_backward.cpp): queries own and centres are
// swept (a = log w, b = minus the forward's log-sum-exp, f = 1), then centres own and
// queries are swept (a = minus the refined log-sum-exp, b = 0, f = the upstream gradient).
// Because b and a carry the forward's values, no running maximum is needed and a partial
// sweep over part of the swept rows is simply added to the rest.
//
// Numerics on every backend: float64, direct differences x_o - x_s (never the expanded
// ||x||^2 - 2 x.y + ||y||^2, which cancels where sigma is small against the data), every
// pair evaluated (no pruning), and each owner's sums formed by one thread (or one group of
// lanes on the GPU) in a fixed order, so the result does not depend on the thread count.
#pragma once

#include <cstddef>

namespace infoflow::detail {

// Terms whose exponent a_s + b_o - ||x_o - x_s||^2 / 2 is below this are 0 on the cpu
// backends (the CUDA kernel keeps them: kernels/lse_backward.cu says why). In the first sweep the owner's sum is at least e^-100 (log_density_backward
// checks it), so a dropped term is below 1e-250 of it; in the second each dropped term is
// below 1e-295 |f_s| in absolute value. Kept, their products with the differences would
// be subnormal numbers, which cost x86 cores ~100 cycles each: the SIMD sweep's d = 10
// benchmark (bench_lse BM_Backward) ran 10x slower with them.
constexpr double kMinExponent = -680;

struct BackwardSweep {
  const double* owners = nullptr;  // n_owners x d, row-major, raw units
  std::size_t n_owners = 0;
  const double* swept = nullptr;  // n_swept x d, row-major, raw units
  std::size_t n_swept = 0;
  std::size_t d = 0;
  double sigma = 1;
  const double* a_swept = nullptr;  // n_swept (-inf allowed: the row adds nothing)
  const double* f_swept = nullptr;  // n_swept finite values, or null for all 1
  const double* b_owner = nullptr;  // n_owners, or null for all 0; -inf: the owner's sums are 0
  double* S = nullptr;              // n_owners
  double* B = nullptr;              // n_owners, or null when not wanted
  double* A = nullptr;              // n_owners x d, or null when not wanted
  int threads = 0;                  // cpu backends: 0 = all cores
  int cuda_device = -1;             // ComputeOptions::cuda_device
};

// Scalar loops, the truth the others are tested against (host/lse_backward.cpp).
void backward_sweep_reference(const BackwardSweep& p);
// Highway SIMD over the swept rows, OpenMP threads over owners (host/cpu/lse_backward_cpu.cpp).
void backward_sweep_cpu(const BackwardSweep& p);
// The CUDA kernels (kernels/lse_backward.cu). max_split_rows > 0 caps the swept rows one
// block sweeps (the tests use it to force several splits); 0 plans it from the sizes.
// Throws ResourceError without a usable device or when the rows do not fit in its memory.
void backward_sweep_cuda(const BackwardSweep& p, std::size_t max_split_rows = 0);

}  // namespace infoflow::detail
