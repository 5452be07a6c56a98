// Spatial ordering for pruning: a k-d split of the rows into leaves of exactly `leaf`
// rows (the last one shorter), each leaf compact, so that its bounding box bounds the
// distance from it to anything else tightly.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <future>
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

// One k-d split of perm[begin, end) (row indices of x, n x d, more than `leaf` of them):
// at kd_split_point along the widest dimension. Selects on (coordinate, row) pairs copied
// out contiguously: selecting on row indices read x at random on every comparison, most of
// the ordering's time. Returns where the second part begins.
inline std::uint32_t* kd_split_once(const float* x, std::size_t d, std::size_t leaf, std::uint32_t* begin,
                                    std::uint32_t* end, std::vector<std::pair<float, std::uint32_t>>& keys) {
  const std::size_t n = end - begin, widest = widest_dimension(x, d, begin, n);
  const std::size_t half = kd_split_point(n, leaf);
  keys.resize(n);
  for (std::size_t i = 0; i < n; ++i) keys[i] = {x[begin[i] * d + widest], begin[i]};
  std::nth_element(keys.begin(), keys.begin() + half, keys.end());
  for (std::size_t i = 0; i < n; ++i) begin[i] = keys[i].second;
  return begin + half;
}

// Reorders perm[begin, end) so that consecutive runs of `leaf` rows are k-d cells: split
// by kd_split_once, recursively.
inline void kd_split(const float* x, std::size_t d, std::size_t leaf, std::uint32_t* begin,
                     std::uint32_t* end, std::vector<std::pair<float, std::uint32_t>>& keys) {
  while (static_cast<std::size_t>(end - begin) > leaf) {
    std::uint32_t* mid = kd_split_once(x, d, leaf, begin, end, keys);
    kd_split(x, d, leaf, begin, mid, keys);  // recurse on one side, loop on the other
    begin = mid;
  }
}

// The same on up to `threads` threads: the two sides of a split are independent, so the
// first ones hand a side to a new thread. Every cell is split by the same rule whichever
// thread does it, so the order does not depend on `threads`.
inline void kd_split_parallel(const float* x, std::size_t d, std::size_t leaf, std::uint32_t* begin,
                              std::uint32_t* end, int threads) {
  std::vector<std::pair<float, std::uint32_t>> keys;
  std::vector<std::future<void>> sides;
  while (threads > 1 && static_cast<std::size_t>(end - begin) > leaf) {
    std::uint32_t* mid = kd_split_once(x, d, leaf, begin, end, keys);
    const int given = threads / 2;
    sides.push_back(std::async(std::launch::async, [=] { kd_split_parallel(x, d, leaf, begin, mid, given); }));
    begin = mid, threads -= given;
  }
  kd_split(x, d, leaf, begin, end, keys);
  for (auto& s : sides) s.get();  // rethrows what a side threw
}

inline std::vector<std::uint32_t> kd_order(const float* x, std::size_t n, std::size_t d,
                                           std::size_t leaf, int threads = 1) {
  std::vector<std::uint32_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0u);
  kd_split_parallel(x, d, leaf, perm.data(), perm.data() + n, threads);
  return perm;
}

}  // namespace infoflow::detail
