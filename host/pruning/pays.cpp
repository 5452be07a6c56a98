// pruning_can_pay (lse_implementations.hpp): the look both pruned paths take before ordering.
#include <algorithm>
#include <cstddef>
#include <limits>
#include <vector>

#include "lse_implementations.hpp"
#include "pruning/pays.hpp"

namespace infoflow::detail {

// For a few queries spread over the work, the fraction of centres whose term is within
// log2(tolerance / n) of the query's largest, which no correct pruning can skip. If it
// exceeds kProbeMaxFraction on average, the exact path runs (dense data with every pair
// counting, e.g. sigma of the data's scale) having paid ~2^22 flops instead of the
// ordering and the probe.
bool pruning_can_pay(const LseProblemF32& p, SegmentsView seg) {
  const std::size_t d = p.d;
  const std::size_t queries = std::clamp<std::size_t>((std::size_t{1} << 22) / std::max<std::size_t>(p.n * d, 1), 2, kProbeBlocks);
  double needed = 0;
  std::size_t probed = 0;
  std::vector<float> t;
  for (std::size_t k = 0; k < queries && p.m > 0; ++k) {
    const std::size_t row = k * p.m / queries;
    const std::size_t s = std::upper_bound(seg.query_offsets, seg.query_offsets + seg.count + 1, row) - seg.query_offsets - 1;
    const std::size_t c0 = seg.center_offsets[s], n = seg.center_offsets[s + 1] - c0;
    if (n == 0) continue;
    const float* q = p.queries + row * d;
    t.resize(n);
    float top = -std::numeric_limits<float>::infinity();
    for (std::size_t j = 0; j < n; ++j) {
      const float* c = p.centers + (c0 + j) * d;
      float d2 = 0;
      for (std::size_t i = 0; i < d; ++i) d2 += (q[i] - c[i]) * (q[i] - c[i]);
      t[j] = p.log_weights[c0 + j] - p.alpha * d2;
      top = std::max(top, t[j]);
    }
    const float cut = static_cast<float>(top + log2_tolerance_per_centre(p.tolerance, n));
    needed += static_cast<double>(std::count_if(t.begin(), t.end(), [cut](float v) { return v >= cut; })) / n;
    ++probed;
  }
  return probed == 0 || needed <= kProbeMaxFraction * probed;
}

}  // namespace infoflow::detail
