// The online (running-max) log-sum-exp's step, in log2 units, written once for every path
// that folds partial sums: the cpu backend's tile fold (host/cpu/lse_cpu.cpp), the CUDA
// kernel's (kernels/lse_kernel.cu) and the GEMM path's merge (host/cuda/gemm_lse.hpp).
#pragma once

#include <cmath>

#include "cuda/host_device.hpp"

namespace infoflow::detail {

// (run_max, run_sum) holds sum 2^(e - run_max) over the terms so far; part is the sum of
// 2^(e - new_max) over new ones, new_max >= run_max. Afterwards run_max = new_max. The
// running max rarely moves after the first tiles, so the rescale (a float64 exp2) is
// skipped then; from run_max = -inf it multiplies a zero sum by exp2(-inf) = 0.
template <class Max>
INFOFLOW_HD void lse2_fold(Max& run_max, double& run_sum, Max new_max, double part) {
  if (new_max > run_max) {
    run_sum *= exp2(static_cast<double>(run_max) - static_cast<double>(new_max));
    run_max = new_max;
  }
  run_sum += part;
}

}  // namespace infoflow::detail
