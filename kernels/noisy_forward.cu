// Placeholder until the GPU forward pass lands: the estimator's LSE already runs on the
// GPU; the forward passes fall back to the CPU path.
#include "lse_backends.hpp"
#include "nn/forward.hpp"

namespace infoflow::detail {

std::vector<std::vector<double>> propagate_cuda(const Network& net, MatrixView<double> inputs,
                                                std::size_t k, double beta, bool noisy_last,
                                                std::uint64_t seed) {
  return propagate(net, inputs, k, beta, noisy_last, seed, 0, Backend::Cpu);
}

}  // namespace infoflow::detail
