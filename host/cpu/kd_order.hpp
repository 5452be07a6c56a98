// Spatial ordering for pruning: a k-d split of the rows into leaves of exactly `leaf`
// rows (the last one shorter), each leaf compact, so that its bounding box bounds the
// distance from it to anything else tightly.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

namespace infoflow::detail {

// Where a k-d cell of n > leaf rows splits: at a multiple of `leaf` near the middle. The
// centre tree of the pruned path (lse_cpu_pruned.cpp) rebuilds the same hierarchy from
// this rule, so both must use it.
inline std::size_t kd_split_point(std::size_t n, std::size_t leaf) {
  return std::min(std::max<std::size_t>(1, (n / 2 + leaf / 2) / leaf) * leaf, n - 1);
}

// The dimension along which rows begin[0..n) spread most, judged on at most 64 of them
// spread evenly. Any good direction splits well, and scanning every row at every level
// made the ordering ~10% of a dense exact run (n = 20000, d = 16).
inline std::size_t widest_dimension(const float* x, std::size_t d, const std::uint32_t* begin,
                                    std::size_t n) {
  constexpr std::size_t kSample = 64;
  const std::size_t step = std::max<std::size_t>(1, n / kSample);
  std::size_t widest = 0;
  float best = -1;
  for (std::size_t k = 0; k < d; ++k) {
    float lo = std::numeric_limits<float>::max(), hi = -lo;
    for (std::size_t i = 0; i < n; i += step) lo = std::min(lo, x[begin[i] * d + k]), hi = std::max(hi, x[begin[i] * d + k]);
    if (hi - lo > best) best = hi - lo, widest = k;
  }
  return widest;
}

// Reorders perm[begin, end) (row indices of x, n x d) so that consecutive runs of `leaf`
// rows are k-d cells: split at kd_split_point along the widest dimension, recursively.
// Each split selects on (coordinate, row) pairs copied out contiguously: selecting on row
// indices read x at random on every comparison, most of the ordering's time.
inline void kd_split(const float* x, std::size_t d, std::size_t leaf, std::uint32_t* begin,
                     std::uint32_t* end, std::vector<std::pair<float, std::uint32_t>>& keys) {
  while (static_cast<std::size_t>(end - begin) > leaf) {
    const std::size_t n = end - begin, widest = widest_dimension(x, d, begin, n);
    const std::size_t half = kd_split_point(n, leaf);
    keys.resize(n);
    for (std::size_t i = 0; i < n; ++i) keys[i] = {x[begin[i] * d + widest], begin[i]};
    std::nth_element(keys.begin(), keys.begin() + half, keys.end());
    for (std::size_t i = 0; i < n; ++i) begin[i] = keys[i].second;
    kd_split(x, d, leaf, begin, begin + half, keys);  // recurse on one side, loop on the other
    begin += half;
  }
}

inline std::vector<std::uint32_t> kd_order(const float* x, std::size_t n, std::size_t d,
                                           std::size_t leaf) {
  std::vector<std::uint32_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0u);
  std::vector<std::pair<float, std::uint32_t>> keys;
  kd_split(x, d, leaf, perm.data(), perm.data() + n, keys);
  return perm;
}

}  // namespace infoflow::detail
