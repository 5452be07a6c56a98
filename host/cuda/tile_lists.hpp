// Pruning on the GPU (kernels/lse_tile_lists.cu): for each block of kThreads query rows, a
// list of the centre tiles it must fold, built on the device; the log-sum-exp kernel then
// walks only its block's list. Queries and centres are in k-d order (host/pruning/kd_order.hpp),
// so a block's rows and a tile's rows are each compact and their bounding boxes tight, and
// the centre tiles have a box tree above them (host/pruning/tile_tree.hpp).
//
// The bound, per block B (log2 units, as the kernel):
//  1. seeds: each query q descends the box tree to a leaf tile near it (nearest_leaf); that
//     tile's exact sum s(q) is a lower bound of q's whole sum. L = min over B's queries.
//  2. tile t is kept if lw_max(t) - alpha * gap2(B, t) >= cut, where gap2 is the squared
//     distance between the boxes and cut = log2 L + log2(tol / n).
//  A skipped tile's terms are each below 2^cut for every query of B, so the n of them at
//  most add tol * L <= tol * s(q). And q's seed tile is always kept: its largest term for
//  q is at least s(q) / 64 >= L / 64 > 2^cut, since tol / n < 1 / 64 (n > 64 centres). So
//  the skipped terms add at most tol * (q's kept sum): the result is low by at most
//  log(1 + tol), the cpu backend's contract (lse_implementations.hpp).
//
// Host and device share these functions, so the bound and the list rule are tested
// without a device (tests/test_pruning.cpp, CudaPruning).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "pruning/tile_tree.hpp"
#include "cuda/host_device.hpp"

namespace infoflow::detail {

// Taken off the cut (log2 units): covers the float32 kernel's error in the seed sums
// (~1e-6 relative) and in the boxes' gaps, so rounding only makes pruning more cautious.
constexpr double kCutMargin2 = 1e-4;
// Above this dimension boxes are as wide as the data and lists keep nearly every tile: the
// cpu backend's measured limit (kPruneMaxDim), not yet measured on a GPU.
constexpr std::size_t kListMaxDim = 32;
// A chunk whose lists keep more than this fraction of (block, tile) pairs runs the plain
// kernel instead: the lists would save too little to pay for building and reading them.
constexpr double kListMaxFraction = 0.5;

// Range [lo, hi] of column k over `count` rows `pitch` floats apart (a block's box).
INFOFLOW_HD void column_range(const float* rows, int count, int pitch, int k, float& lo, float& hi) {
  lo = HUGE_VALF, hi = -HUGE_VALF;
  for (int i = 0; i < count; ++i) {
    const float v = rows[static_cast<long long>(i) * pitch + k];
    lo = fminf(lo, v), hi = fmaxf(hi, v);
  }
}

// Squared distance between the boxes [alo, ahi] and [blo, bhi] (d dims), float64: 0 where
// they overlap. A point is a box with alo = ahi.
INFOFLOW_HD double box_gap2(const float* alo, const float* ahi, const float* blo,
                            const float* bhi, int d) {
  double g2 = 0;
  for (int k = 0; k < d; ++k) {
    const double gap = fmax(0.0, fmax(double(alo[k]) - bhi[k], double(blo[k]) - ahi[k]));
    g2 += gap * gap;
  }
  return g2;
}

// The cut of a block (log2 units) from the smallest seed sum of its queries, natural log
// as the kernel writes it, and log2(tol / n).
INFOFLOW_HD double block_cut2(double min_seed_lse, double log2_tol_per_centre) {
  return min_seed_lse * kLog2e + log2_tol_per_centre - kCutMargin2;
}

// Whether a block must fold a tile: every term of the tile is at most
// 2^(lw2_max - alpha2 * gap2) for every query of the block (gap2 shrunk by 1e-6 so that
// its rounding cannot loosen the bound).
INFOFLOW_HD bool tile_needed(float lw2_max, double alpha2, double gap2, double cut2) {
  return double(lw2_max) - alpha2 * gap2 * (1 - 1e-6) >= cut2;
}

// The leaf reached from `node` by stepping, at each inner node, into the child whose box
// is nearer q (the left one on a tie): a tile near q, found in O(d log n). Tree arrays as
// TileTree's (lo, hi: d floats per node; kNone: no child).
INFOFLOW_HD std::uint32_t nearest_leaf(const float* q, const float* lo, const float* hi,
                                       const std::uint32_t* left, const std::uint32_t* right,
                                       std::uint32_t node, int d) {
  constexpr std::uint32_t kNone = ~0u;
  while (left[node] != kNone) {
    const std::uint32_t l = left[node], r = right[node];
    const double gl = box_gap2(q, q, lo + static_cast<std::size_t>(l) * d, hi + static_cast<std::size_t>(l) * d, d);
    const double gr = box_gap2(q, q, lo + static_cast<std::size_t>(r) * d, hi + static_cast<std::size_t>(r) * d, d);
    node = gr < gl ? r : l;
  }
  return node;
}

// What the device needs of the centres' box tree besides its nodes: each tile's box and
// largest log2 weight (from the leaves), and each node's first tile (a leaf's own).
struct TileBoxes {
  std::vector<float> lo, hi, lw2_max;  // n_tiles x d, n_tiles x d, n_tiles
  std::vector<std::uint32_t> node_tile;
};

inline TileBoxes tile_boxes(const TileTree& tree, std::size_t n_tiles) {
  const std::size_t d = tree.d;
  TileBoxes b;
  b.lo.assign(n_tiles * d, HUGE_VALF), b.hi.assign(n_tiles * d, -HUGE_VALF);
  b.lw2_max.assign(n_tiles, -HUGE_VALF);
  b.node_tile = tree.tile_begin;
  for (std::size_t i = 0; i < tree.left.size(); ++i) {
    if (tree.left[i] != TileTree::kNone) continue;
    const std::size_t t = tree.tile_begin[i];
    for (std::size_t k = 0; k < d; ++k) b.lo[t * d + k] = tree.lo[i * d + k], b.hi[t * d + k] = tree.hi[i * d + k];
    b.lw2_max[t] = tree.lw_max[i];
  }
  return b;
}

}  // namespace infoflow::detail
