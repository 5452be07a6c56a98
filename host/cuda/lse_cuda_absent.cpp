// The CPU-only build (INFOFLOW_ENABLE_CUDA=OFF): the CUDA backend exists as a name only,
// reports itself unusable and refuses work, so callers need no #ifdefs.
#include <string>

#include "backward_sweep.hpp"
#include "lse_implementations.hpp"

namespace infoflow::detail {
namespace {
constexpr const char* kReason = "infoflow was built without CUDA (INFOFLOW_ENABLE_CUDA=OFF)";
}  // namespace

bool cuda_device_usable(std::string* reason) {
  try {
    if (reason != nullptr) *reason = kReason;
  } catch (...) {  // std::bad_alloc: the answer is still false
  }
  return false;
}

void lse_cuda(const LseProblemF32& /*p*/, SegmentsView /*segments*/, double* /*out*/,
              const ProgressFn& /*progress*/) {
  throw ResourceError(std::string("CUDA backend unavailable: ") + kReason);
}

void backward_sweep_cuda(const BackwardSweep& /*p*/, std::size_t /*max_split_rows*/) {
  throw ResourceError(std::string("CUDA backend unavailable: ") + kReason);
}

EntropyResult mixture_entropy_drawn_on_device(MatrixView<double> /*centers*/, Span<const double> /*weights*/,
                                              const EntropyOptions& /*opt*/) {
  throw ResourceError(std::string("CUDA backend unavailable: ") + kReason);
}

}  // namespace infoflow::detail

namespace infoflow {
void log_density_on_device(DeviceMatrixView /*queries*/, DeviceMatrixView /*centers*/,
                           Span<const double> /*weights*/, double /*sigma*/, Span<double> /*out*/,
                           const ProgressFn& /*progress*/) {
  throw ResourceError(std::string("CUDA backend unavailable: ") + detail::kReason);
}
EntropyResult mixture_entropy_on_device(DeviceMatrixView /*centers*/, Span<const double> /*weights*/,
                                        const EntropyOptions& /*opt*/) {
  throw ResourceError(std::string("CUDA backend unavailable: ") + detail::kReason);
}
int cuda_device_count() { return 0; }
bool use_cuda_device(int /*index*/) { return false; }
}  // namespace infoflow
