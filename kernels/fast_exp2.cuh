// fast_exp2: 2^x for the log-sum-exp kernels (lse_kernel.cu, lse_segments.cu).
#pragma once

namespace infoflow::detail {

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

}  // namespace infoflow::detail
