// Which CUDA device a process uses and whether it can run this build: no kernels here,
// only the runtime's answers (device count, a kernel's attributes, memory), asked once.
// Tests: BackendSelection.* (no device), every cuda-labelled test (one answers).
#include <cuda_runtime.h>

#include <string>

#include "infoflow/infoflow.hpp"
#include "kernels/lse_cuda.cuh"

namespace infoflow::detail {

std::string describe(cudaError_t err) {
  return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
}

namespace {

struct DeviceProbe {
  bool usable = false;
  std::string reason;
};

DeviceProbe probe_device() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    if (err == cudaErrorInsufficientDriver)
      return {false, "no CUDA driver (" + describe(err) + ")"};
    if (err == cudaErrorNoDevice) return {false, "no CUDA device (" + describe(err) + ")"};
    return {false, "CUDA device query failed (" + describe(err) + ")"};
  }
  if (count <= 0) return {false, "no CUDA device"};
  // A device answers; check this build carries code it can run (sm_90 SASS or PTX) and
  // that a context can be created (exclusive-process mode, broken driver state...).
  cudaFuncAttributes attr{};
  const cudaError_t kerr = cudaFuncGetAttributes(&attr, probe_kernel());
  if (kerr != cudaSuccess) {
    cudaGetLastError();
    return {false, "CUDA device not usable by this build (" + describe(kerr) + ")"};
  }
  return {true, std::string()};
}

}  // namespace

bool cuda_device_usable(std::string* reason) {
  try {
    static const DeviceProbe probe = probe_device();  // thread-safe, once per process
    if (!probe.usable && reason != nullptr) *reason = probe.reason;
    return probe.usable;
  } catch (...) {  // only std::bad_alloc can get here; never let it out
    return false;
  }
}

void require_usable_device() {
  std::string reason;
  if (!cuda_device_usable(&reason)) throw ResourceError("CUDA backend unavailable: " + reason);
}

}  // namespace infoflow::detail

namespace infoflow {

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

bool use_cuda_device(int index) {
  if (index < 0 || index >= cuda_device_count()) return false;
  if (cudaSetDevice(index) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return true;
}

}  // namespace infoflow
