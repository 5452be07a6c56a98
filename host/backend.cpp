// Backend names and the auto rule: cuda when a device answers, else cpu.
#include <omp.h>

#include <cstdlib>
#include <string>

#include "infoflow/infoflow.hpp"
#include "lse_implementations.hpp"

namespace infoflow {

std::string_view backend_name(Backend b) {
  switch (b) {
    case Backend::Auto: return "auto";
    case Backend::Reference: return "reference";
    case Backend::Cpu: return "cpu";
    case Backend::Cuda: return "cuda";
  }
  return "unknown";
}

Backend parse_backend(std::string_view name) {
  for (Backend b : {Backend::Auto, Backend::Reference, Backend::Cpu, Backend::Cuda}) {
    if (name == backend_name(b)) return b;
  }
  throw InvalidArgument("unknown backend '" + std::string(name) +
                        "' (expected auto, cpu, cuda or reference)");
}

bool cuda_available() { return detail::cuda_device_usable(nullptr); }

std::string cuda_unavailable_reason() {
  std::string reason;
  return detail::cuda_device_usable(&reason) ? std::string() : reason;
}

int cpu_threads(int requested) {
  if (requested > 0) return requested;
  if (const char* env = std::getenv("OMP_NUM_THREADS"); env != nullptr && *env != '\0') return omp_get_max_threads();
  return omp_get_num_procs();
}

Backend resolve_backend(Backend requested) {
  if (requested == Backend::Auto) return cuda_available() ? Backend::Cuda : Backend::Cpu;
  if (requested == Backend::Cuda && !cuda_available()) {
    throw ResourceError("cuda backend requested but unavailable: " + cuda_unavailable_reason());
  }
  return requested;
}

}  // namespace infoflow
