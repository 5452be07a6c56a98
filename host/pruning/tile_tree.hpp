// Where both pruned paths start: queries and centres in k-d order, and the bounding-box
// tree over the centre tiles, which the cpu backend walks best-first (lse_cpu_pruned.cpp)
// and the CUDA backend descends to find each query's seed tile (cuda/tile_lists.hpp). No
// SIMD types, so the CUDA sources include it too.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "pruning/kd_order.hpp"
#include "lse_implementations.hpp"

namespace infoflow::detail {

// A bounding-box tree over one segment's tiles (the k-d splits that ordered them).
// Node i covers tiles [tile_begin[i], tile_end[i]); leaves cover one tile.
struct TileTree {
  static constexpr std::uint32_t kNone = ~0u;
  std::size_t d = 0;
  std::vector<std::uint32_t> left, right, tile_begin, tile_end;
  std::vector<float> lo, hi;  // node boxes, d floats each
  std::vector<float> lw_max;  // largest log-weight in the node
  std::vector<std::uint32_t> root;  // per segment
};

// The box tree over one segment's centres, already in k-d order with leaves of `leaf`
// rows (the tiles): the hierarchy of kd_split rebuilt from the same split rule, with
// boxes and largest weights merged from the leaves up, so that every row is read once.
struct TreeBuilder {
  const float* x;   // the segment's ordered centres, d columns
  const float* lw;  // their log-weights
  std::size_t d, leaf, tile_base;
  TileTree& tree;

  std::uint32_t build(std::size_t b, std::size_t e) {  // rows [b, e)
    const auto id = static_cast<std::uint32_t>(tree.left.size());
    tree.left.push_back(TileTree::kNone), tree.right.push_back(TileTree::kNone);
    tree.tile_begin.push_back(static_cast<std::uint32_t>(tile_base + b / leaf));
    tree.tile_end.push_back(static_cast<std::uint32_t>(tile_base + (e + leaf - 1) / leaf));
    tree.lo.resize(tree.lo.size() + d), tree.hi.resize(tree.hi.size() + d);
    tree.lw_max.push_back(0);
    if (e - b <= leaf) {
      float* lo = &tree.lo[id * d];
      float* hi = &tree.hi[id * d];
      std::fill_n(lo, d, std::numeric_limits<float>::max());
      std::fill_n(hi, d, -std::numeric_limits<float>::max());
      float lw_max = -std::numeric_limits<float>::infinity();
      for (std::size_t i = b; i < e; ++i) {
        lw_max = std::max(lw_max, lw[i]);
        for (std::size_t k = 0; k < d; ++k) lo[k] = std::min(lo[k], x[i * d + k]), hi[k] = std::max(hi[k], x[i * d + k]);
      }
      tree.lw_max[id] = lw_max;
      return id;
    }
    const std::size_t mid = b + kd_split_point(e - b, leaf);
    const std::uint32_t l = build(b, mid), r = build(mid, e);
    tree.left[id] = l, tree.right[id] = r;
    for (std::size_t k = 0; k < d; ++k) {  // the vectors may have grown: index afresh
      tree.lo[id * d + k] = std::min(tree.lo[l * d + k], tree.lo[r * d + k]);
      tree.hi[id * d + k] = std::max(tree.hi[l * d + k], tree.hi[r * d + k]);
    }
    tree.lw_max[id] = std::max(tree.lw_max[l], tree.lw_max[r]);
    return id;
  }
};

// Each segment's queries in k-d leaves of block_rows and its centres in k-d leaves of
// tile_rows, with the box tree over its tiles (one root per segment, kNone for a segment
// without centres; lw_max in the centres' log-weight units times lw_scale).
struct KdOrdered {
  std::vector<std::uint32_t> qperm;     // ordered query i is the caller's query qperm[i]
  std::vector<float> queries, centers;  // rows in that order, d columns
  std::vector<float> log_w;             // the centres' log-weights, in their order
  TileTree tree;
};

// The 2 x segments orderings are independent and run on up to `threads` threads; one big
// segment's two orderings also split their cells, half the threads each.
inline KdOrdered kd_ordered(const float* queries, const float* centers, const float* log_w,
                            std::size_t d, SegmentsView seg, std::size_t block_rows,
                            std::size_t tile_rows, double lw_scale, int threads) {
  const std::size_t m = seg.query_offsets[seg.count], n = seg.center_offsets[seg.count];
  KdOrdered o;
  o.qperm.resize(m), o.queries.resize(m * d), o.centers.resize(n * d), o.log_w.resize(n);
  const int order_threads = seg.count == 1 ? std::max(1, threads / 2) : 1;
  auto order = [&](std::size_t job) {
    const std::size_t s = job % seg.count;
    if (job < seg.count) {
      const std::size_t c0 = seg.center_offsets[s], n_s = seg.center_offsets[s + 1] - c0;
      const auto perm = kd_order(centers + c0 * d, n_s, d, tile_rows, order_threads);
      for (std::size_t i = 0; i < n_s; ++i) {
        std::copy_n(centers + (c0 + perm[i]) * d, d, o.centers.begin() + (c0 + i) * d);
        o.log_w[c0 + i] = log_w[c0 + perm[i]];
      }
    } else {
      const std::size_t q0 = seg.query_offsets[s], m_s = seg.query_offsets[s + 1] - q0;
      const auto perm = kd_order(queries + q0 * d, m_s, d, block_rows, order_threads);
      for (std::size_t i = 0; i < m_s; ++i) {
        o.qperm[q0 + i] = static_cast<std::uint32_t>(q0 + perm[i]);
        std::copy_n(queries + (q0 + perm[i]) * d, d, o.queries.begin() + (q0 + i) * d);
      }
    }
  };
  // An OpenMP team, not threads of its own: the cpu backend's team would otherwise spin
  // beside them (measured 4-7% slower at d = 10 and 16 with a std::async pool).
  const auto jobs = static_cast<std::ptrdiff_t>(2 * seg.count);
#pragma omp parallel for schedule(dynamic, 1) num_threads(std::max(threads, 1))
  for (std::ptrdiff_t job = 0; job < jobs; ++job) order(static_cast<std::size_t>(job));
  std::vector<float> tree_lw(o.log_w);
  if (lw_scale != 1.0) {
    for (float& v : tree_lw) v = static_cast<float>(static_cast<double>(v) * lw_scale);
  }
  o.tree.d = d;
  for (std::size_t s = 0, tile_base = 0; s < seg.count; ++s) {
    const std::size_t c0 = seg.center_offsets[s], n_s = seg.center_offsets[s + 1] - c0;
    TreeBuilder b{o.centers.data() + c0 * d, tree_lw.data() + c0, d, tile_rows, tile_base, o.tree};
    o.tree.root.push_back(n_s > 0 ? b.build(0, n_s) : TileTree::kNone);
    tile_base += (n_s + tile_rows - 1) / tile_rows;
  }
  return o;
}

}  // namespace infoflow::detail
