// Tuning knobs and the packed centre layout of the cpu backend (one place, chosen by
// benchmark: bench/bench_lse.cpp).
#pragma once

#include <hwy/aligned_allocator.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "pruning/tile_tree.hpp"

namespace infoflow::detail {


// Queries folded per register block (4 queries x 2 vectors of centres = 8 accumulators,
// leaving registers for the centre loads and broadcasts even on 16-register AVX2; x 4
// vectors on AVX-512: lse_cpu.cpp, ForEachExponentBlock).
constexpr std::size_t kMicroQueries = 4;
// Queries one thread carries across all tiles: a tile is reused from L1 this many times.
constexpr std::size_t kBlockQueries = 32;
// Tile width is a multiple of 32 floats = 2 vectors of the widest target (AVX-512).
constexpr std::size_t kTileQuantum = 32;
// A tile of d x T float32 coordinates aims at 24 KiB so that it and the kMicroQueries x T
// exponent buffer stay in a 32 KiB L1d (Zen 4). Measured against 16 KiB: 2-10% faster at
// d = 10-16, the same at d = 1; 32 KiB with wider tiles was slower at d = 1.
constexpr std::size_t kTileTargetBytes = 24 * 1024;
constexpr std::size_t kTileMax = 512;
// The pruned path: tiles are k-d leaves of kPruneTile centres (small, so that their boxes
// are tight), and queries go in k-d leaves of kPruneQueries (small, so that their box is
// tight too, yet two register blocks of work per tile).
constexpr std::size_t kPruneTile = 64;
constexpr std::size_t kPruneQueries = 8;
// Above this dimension the pruned path stops paying: dense n = 20000, sigma = 0.1 (every
// exact pair near 4 Gpairs/s at d = 10), measured pruned vs exact in ms: d = 10 51 vs
// 101, d = 16 91 vs 133, d = 32 209 vs 227, d = 64 444 vs 417.
constexpr std::size_t kPruneMaxDim = 32;

// Tile width for a segment of n centres: full tiles of ~kTileTargetBytes in multiples of
// 64 centres (the AVX-512 register block's 4 vectors), at least 64 even where that
// overflows L1 (d > 96: measured 2-core Zen 4, exact path, 32 -> 64 wide: d = 256 235 ->
// 287 Mpairs/s, d = 1024 65 -> 75; 96 -> 64 wide at d = 64: 1.04-1.10 -> 1.14 Gpairs/s),
// but no wider than the segment (rounded to kTileQuantum), so small conditional mixtures
// waste little.
inline std::size_t tile_width(std::size_t d, std::size_t n) {
  std::size_t t = kTileTargetBytes / (sizeof(float) * d);
  t = std::clamp<std::size_t>(t, 2 * kTileQuantum, kTileMax) / (2 * kTileQuantum) * (2 * kTileQuantum);
  return std::min(t, (n + kTileQuantum - 1) / kTileQuantum * kTileQuantum);
}

// All segments' centres, packed tile by tile; tiles never straddle segments.
struct PackedCenters {
  std::size_t d = 0, max_tile = 0;
  std::vector<std::size_t> tile_offset;  // float offset of each tile, num_tiles + 1 entries
  std::vector<std::size_t> tile_width;
  std::vector<std::size_t> segment_tiles;  // tiles of segment s: [segment_tiles[s], [s + 1])
  hwy::AlignedFreeUniquePtr<float[]> data;  // per tile: d x width coordinates, then log-weights
  const float* tile_coords(std::size_t t) const { return data.get() + tile_offset[t]; }
  const float* tile_log_weights(std::size_t t) const {
    return tile_coords(t) + d * tile_width[t];
  }
};

// center_offsets: count + 1 row offsets delimiting the segments. fixed_width > 0 packs
// every segment in tiles of that width (the pruned path: tiles are k-d leaves).
inline PackedCenters pack_centers(const float* centers, const float* log_w, std::size_t d,
                                  const std::size_t* center_offsets, std::size_t count,
                                  std::size_t fixed_width = 0) {
  PackedCenters pc;
  pc.d = d;
  pc.segment_tiles.push_back(0);
  pc.tile_offset.push_back(0);
  for (std::size_t s = 0; s < count; ++s) {
    const std::size_t n = center_offsets[s + 1] - center_offsets[s];
    const std::size_t w = fixed_width > 0 ? fixed_width : tile_width(d, n);
    for (std::size_t j = 0; j < n; j += w) {
      pc.tile_width.push_back(w);
      pc.tile_offset.push_back(pc.tile_offset.back() + (d + 1) * w);
      pc.max_tile = std::max(pc.max_tile, w);
    }
    pc.segment_tiles.push_back(pc.tile_width.size());
  }
  pc.data = hwy::AllocateAligned<float>(std::max<std::size_t>(pc.tile_offset.back(), 1));
  for (std::size_t s = 0; s < count; ++s) {
    std::size_t j = center_offsets[s];
    for (std::size_t t = pc.segment_tiles[s]; t < pc.segment_tiles[s + 1]; ++t) {
      const std::size_t w = pc.tile_width[t];
      float* coords = pc.data.get() + pc.tile_offset[t];
      float* lw = coords + d * w;
      for (std::size_t c = 0; c < w; ++c, ++j) {
        const bool real = j < center_offsets[s + 1];
        for (std::size_t k = 0; k < d; ++k) coords[k * w + c] = real ? centers[j * d + k] : 0.f;
        lw[c] = real ? log_w[j] : -std::numeric_limits<float>::infinity();
      }
    }
  }
  return pc;
}

// One block of up to kPruneQueries queries against segment tree `root` (lse_cpu.cpp).
std::size_t lse_pruned_block(const PackedCenters& pc, const TileTree& tree, std::uint32_t root,
                      double log_tol_per_centre, const float* queries, std::size_t nq,
                      float alpha, float* buf, double* out);

}  // namespace infoflow::detail
