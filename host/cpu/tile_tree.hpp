// The bounding-box tree over k-d ordered centre tiles that both pruned paths walk: the
// cpu backend best-first (lse_cpu_pruned.cpp), the CUDA backend to find each query's
// seed tile (cuda/tile_lists.hpp). No SIMD types, so the CUDA sources include it too.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu/kd_order.hpp"

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

}  // namespace infoflow::detail
