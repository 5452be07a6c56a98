// Tuning knobs and the packed centre layout of the cpu backend (one place, chosen by
// benchmark: bench/bench_lse.cpp).
#pragma once

#include <hwy/aligned_allocator.h>

#include <algorithm>
#include <cstddef>
#include <limits>

namespace infoflow::detail {

// Queries folded per register block (4 queries x 2 vectors of centres = 8 accumulators,
// leaving registers for the centre loads and broadcasts even on 16-register AVX2).
constexpr std::size_t kMicroQueries = 4;
// Queries one thread carries across all tiles: a tile is reused from L1 this many times.
constexpr std::size_t kBlockQueries = 32;
// Tile width is a multiple of 32 floats = 2 vectors of the widest target (AVX-512).
constexpr std::size_t kTileQuantum = 32;
// A tile of d x T float32 coordinates aims at 16 KiB so that it and the kMicroQueries x T
// exponent buffer stay in a 32-48 KiB L1.
constexpr std::size_t kTileTargetBytes = 16 * 1024;
constexpr std::size_t kTileMax = 512;

inline std::size_t tile_width(std::size_t d) {
  std::size_t t = kTileTargetBytes / (sizeof(float) * d);
  t = std::clamp<std::size_t>(t, kTileQuantum, kTileMax);
  return t / kTileQuantum * kTileQuantum;
}

struct PackedCenters {
  std::size_t n = 0, d = 0, tile = 0, num_tiles = 0;
  hwy::AlignedFreeUniquePtr<float[]> data;  // per tile: d x tile coordinates, then tile log-weights
  std::size_t tile_floats() const { return (d + 1) * tile; }
  const float* tile_coords(std::size_t t) const { return data.get() + t * tile_floats(); }
  const float* tile_log_weights(std::size_t t) const { return tile_coords(t) + d * tile; }
};

inline PackedCenters pack_centers(const float* centers, const float* log_w, std::size_t n,
                                  std::size_t d) {
  PackedCenters pc;
  pc.n = n, pc.d = d, pc.tile = tile_width(d);
  pc.num_tiles = (n + pc.tile - 1) / pc.tile;
  pc.data = hwy::AllocateAligned<float>(pc.num_tiles * pc.tile_floats());
  for (std::size_t t = 0; t < pc.num_tiles; ++t) {
    float* coords = pc.data.get() + t * pc.tile_floats();
    float* lw = coords + d * pc.tile;
    for (std::size_t c = 0; c < pc.tile; ++c) {
      const std::size_t j = t * pc.tile + c;
      for (std::size_t k = 0; k < d; ++k) coords[k * pc.tile + c] = j < n ? centers[j * d + k] : 0.f;
      lw[c] = j < n ? log_w[j] : -std::numeric_limits<float>::infinity();
    }
  }
  return pc;
}

}  // namespace infoflow::detail
