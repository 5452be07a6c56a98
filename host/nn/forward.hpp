// Internal: batched noisy forward passes (sample propagation, PAPER.md §3.2).
#pragma once

#include <vector>

#include "infoflow/network.hpp"

namespace infoflow::detail {

// K passes per input; row r = x * K + k. Returns S_l = a_l(W_l T_{l-1} + b_l) for every
// layer l = 1..L (index l - 1), each (m K) x d_l row-major, where T_l = S_l + beta Z_l on
// noisy layers (all hidden layers; the last too when noisy_last). Z_l is drawn from
// Philox stream layer_noise(l), row r: the same noise on every backend and thread count.
std::vector<std::vector<double>> propagate(const Network& net, MatrixView<double> inputs,
                                           std::size_t samples_per_input, double beta,
                                           bool noisy_last, std::uint64_t seed, int threads);

}  // namespace infoflow::detail
