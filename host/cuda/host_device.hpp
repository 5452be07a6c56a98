// INFOFLOW_HD: functions that the CUDA kernels and the host tests share (host and device
// under nvcc, plain inline elsewhere), so a rule can be tested without a device.
#pragma once

#if defined(__CUDACC__)
#define INFOFLOW_HD __host__ __device__ inline
#else
#define INFOFLOW_HD inline
#endif
