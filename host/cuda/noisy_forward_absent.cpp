// The CPU-only build: the GPU forward pass exists as a name only and refuses work.
#include "lse_implementations.hpp"
#include "nn/forward.hpp"

namespace infoflow::detail {

std::vector<std::vector<double>> propagate_cuda(const Network&, MatrixView<double>, std::size_t,
                                                double, bool, std::uint64_t) {
  std::string reason;
  cuda_device_usable(&reason);
  throw ResourceError("CUDA forward pass unavailable: " + reason);
}

bool cublas_loadable(std::string* reason) {
  if (reason != nullptr) *reason = "infoflow was built without CUDA";
  return false;
}

}  // namespace infoflow::detail
