// Spatial ordering for pruning: a k-d split of the rows into leaves of exactly `leaf`
// rows (the last one shorter), each leaf compact, so that its bounding box bounds the
// distance from it to anything else tightly.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

namespace infoflow::detail {

// Reorders perm[begin, end) (row indices of x, n x d) so that consecutive runs of `leaf`
// rows are k-d cells: split at a multiple of `leaf` near the middle, along the widest
// dimension, recursively.
inline void kd_split(const float* x, std::size_t d, std::size_t leaf, std::uint32_t* begin,
                     std::uint32_t* end) {
  while (static_cast<std::size_t>(end - begin) > leaf) {
    std::size_t widest = 0;
    float best = -1;
    for (std::size_t k = 0; k < d; ++k) {
      float lo = std::numeric_limits<float>::max(), hi = -lo;
      for (const std::uint32_t* p = begin; p != end; ++p) lo = std::min(lo, x[*p * d + k]), hi = std::max(hi, x[*p * d + k]);
      if (hi - lo > best) best = hi - lo, widest = k;
    }
    const std::size_t n = end - begin, half = std::max<std::size_t>(1, (n / 2 + leaf / 2) / leaf) * leaf;
    std::uint32_t* mid = begin + std::min(half, n - 1);
    std::nth_element(begin, mid, end, [&](std::uint32_t a, std::uint32_t b) {
      return x[a * d + widest] < x[b * d + widest];
    });
    kd_split(x, d, leaf, begin, mid);  // recurse on one side, loop on the other
    begin = mid;
  }
}

inline std::vector<std::uint32_t> kd_order(const float* x, std::size_t n, std::size_t d,
                                           std::size_t leaf) {
  std::vector<std::uint32_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0u);
  kd_split(x, d, leaf, perm.data(), perm.data() + n);
  return perm;
}

}  // namespace infoflow::detail
