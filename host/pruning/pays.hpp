// Whether pruning can pay, asked by both pruned paths (the cpu backend's best-first walk,
// the cuda backend's tile lists) before they order anything: most pairs mattering (sigma
// of the data's scale) means no correct pruning can skip enough to pay for its ordering.
#pragma once

#include <cmath>
#include <cstddef>

#include "lse_implementations.hpp"

namespace infoflow::detail {

// Before committing to the pruned path, kProbeBlocks query blocks spread over the work
// run it; if they folded more than kProbeMaxFraction of their tiles, pruning saves too
// little to pay for its smaller tiles and blocks, and the exact path runs. The same
// fraction bounds pruning_can_pay's cheaper look before the ordering.
constexpr std::size_t kProbeBlocks = 16;
constexpr double kProbeMaxFraction = 0.5;

// The pruning threshold below a query's running max, log2 units: terms under it may be
// skipped, n of them adding at most `tolerance` of the sum.
inline double log2_tolerance_per_centre(double tolerance, std::size_t n) {
  return std::log2(tolerance / static_cast<double>(n));
}

// pruning_can_pay(p, segments): declared with the backends (lse_implementations.hpp), defined in
// pruning/pays.cpp.

}  // namespace infoflow::detail
