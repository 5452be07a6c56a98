// INFOFLOW_LAUNCH(kernel, grid, block, shared_bytes, stream, args...): every kernel launch
// of kernels/ goes through this one macro, so the real build (nvcc: kernel<<<...>>>) and the
// emulated build (-DINFOFLOW_CUDA_EMULATION=ON: the kernel's threads as fibers on the CPU,
// cuda_emulation/) share every launch site. Errors surface as usual through
// cudaGetLastError() after the launch.
#pragma once

#ifdef INFOFLOW_CUDA_EMULATION
#define INFOFLOW_LAUNCH(kernel, grid, block, shared_bytes, stream, ...) \
  ::infoflow_emu::launch(dim3(grid), dim3(block), shared_bytes, stream, [&] { kernel(__VA_ARGS__); })
#else
#define INFOFLOW_LAUNCH(kernel, grid, block, shared_bytes, stream, ...) \
  kernel<<<grid, block, shared_bytes, stream>>>(__VA_ARGS__)
#endif
