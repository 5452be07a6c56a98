// Shared host-side CUDA helpers of the kernels/ files: one check that turns every
// cudaError_t into an infoflow::ResourceError naming the call, file and line, an RAII
// owner for device memory, and uploads into it.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "infoflow/infoflow.hpp"

namespace infoflow::detail {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* call, const char* file,
                                          int line) {
  cudaGetLastError();  // clear it so the next call does not report it again
  throw ResourceError(std::string("CUDA call ") + call + " failed: " + cudaGetErrorName(err) +
                      " (" + cudaGetErrorString(err) + ") at " + file + ":" +
                      std::to_string(line));
}

#define INFOFLOW_CUDA_CHECK(call)                                                  \
  do {                                                                             \
    const cudaError_t infoflow_err_ = (call);                                      \
    if (infoflow_err_ != cudaSuccess)                                              \
      ::infoflow::detail::throw_cuda_error(infoflow_err_, #call, __FILE__, __LINE__); \
  } while (0)

// Makes `device` current for a scope and gives the caller's back on exit, as faiss's
// DeviceScope: a library call never leaves the calling thread on another GPU. device < 0
// keeps the current one.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    if (device < 0) return;
    INFOFLOW_CUDA_CHECK(cudaGetDevice(&previous_));
    if (device == previous_) return;
    int count = 0;
    INFOFLOW_CUDA_CHECK(cudaGetDeviceCount(&count));
    if (device >= count) {
      throw InvalidArgument("cuda device " + std::to_string(device) + " does not exist (" + std::to_string(count) +
                            " visible)");
    }
    INFOFLOW_CUDA_CHECK(cudaSetDevice(device));
    switched_ = true;
  }
  ~DeviceScope() {
    if (switched_) cudaSetDevice(previous_);  // never throws while unwinding
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = -1;
  bool switched_ = false;
};

struct CudaFree {
  void operator()(void* p) const noexcept { cudaFree(p); }  // no throw while unwinding
};
template <class T>
using DeviceBuffer = std::unique_ptr<T, CudaFree>;

template <class T>
DeviceBuffer<T> device_alloc(std::size_t count) {
  void* p = nullptr;
  INFOFLOW_CUDA_CHECK(cudaMalloc(&p, std::max<std::size_t>(count, 1) * sizeof(T)));
  return DeviceBuffer<T>(static_cast<T*>(p));
}

// A device copy of `host`, queued on `stream` (CUDA's legacy default stream unless given).
// The host vector may go as soon as this returns: pageable memory is staged first.
template <class T>
DeviceBuffer<T> device_upload(const std::vector<T>& host, cudaStream_t stream = nullptr) {
  DeviceBuffer<T> d = device_alloc<T>(host.size());
  INFOFLOW_CUDA_CHECK(cudaMemcpyAsync(d.get(), host.data(), host.size() * sizeof(T),
                                      cudaMemcpyHostToDevice, stream));
  return d;
}

}  // namespace infoflow::detail
