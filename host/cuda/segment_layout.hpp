// The device layout of a segmented log-sum-exp (the SP estimator's conditional mixtures:
// thousands of small mixtures), so that one kernel launch serves every segment
// (kernels/lse_segments.cu). Host code, so the layout is tested without a device
// (tests/test_backends.cpp executes it against the reference).
//
// Each segment's queries are padded to whole blocks of `block_rows` rows and its centres
// to whole tiles of `tile_rows` rows; every block of queries becomes one task that names
// its rows, its segment's centres and where its results go. Padded query rows compute
// values nobody reads; padded centres get weight 0 (log2 w = -inf), so they add nothing.
// Small segments (at most small_centres centres and fewer than small_rows queries: the
// h(T|X) mixtures of K noisy passes) would leave most of a block idle (7 of 128 threads at
// K = 7): their queries are packed without padding instead, one SmallQuery each, for a
// kernel with one thread per query.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "lse_implementations.hpp"

namespace infoflow::detail {

struct SegmentTask {          // one block of queries of one segment
  std::uint64_t query_row;    // first row in the padded queries
  std::uint64_t center_row;   // first row of the segment's padded centres
  std::uint64_t out_row;      // where its first result goes (the caller's query order)
  std::uint32_t center_tiles; // the segment's centres / tile_rows, rounded up
  std::uint32_t rows;         // real queries in the block (the rest are padding)
};

struct SmallQuery {            // one query of a small segment
  std::uint64_t query_row;    // its row in the padded queries (packed: no block padding)
  std::uint64_t center_row;   // first row of its segment's padded centres
  std::uint64_t out_row;      // where its result goes
  std::uint32_t centers;      // the segment's real centres
  std::uint32_t unused = 0;
};

struct SegmentLayout {
  std::vector<SegmentTask> tasks;
  std::vector<SmallQuery> small;
  std::vector<std::size_t> query_row, center_row;  // each segment's first padded row
  std::size_t query_rows = 0, center_rows = 0;     // padded totals
};

inline SegmentLayout segment_layout(SegmentsView seg, std::size_t block_rows, std::size_t tile_rows,
                                    std::size_t small_centres = 0, std::size_t small_rows = 0) {
  SegmentLayout l;
  for (std::size_t s = 0; s < seg.count; ++s) {
    const std::size_t m = seg.query_offsets[s + 1] - seg.query_offsets[s];
    const std::size_t n = seg.center_offsets[s + 1] - seg.center_offsets[s];
    const std::size_t tiles = (n + tile_rows - 1) / tile_rows;
    l.query_row.push_back(l.query_rows);
    l.center_row.push_back(l.center_rows);
    if (n <= small_centres && m < small_rows) {
      for (std::size_t i = 0; i < m; ++i) {
        l.small.push_back({l.query_rows + i, l.center_rows, seg.query_offsets[s] + i, static_cast<std::uint32_t>(n)});
      }
      l.query_rows += m;
      l.center_rows += tiles * tile_rows;
      continue;
    }
    for (std::size_t b = 0; b < m; b += block_rows) {
      l.tasks.push_back({l.query_rows + b, l.center_rows, seg.query_offsets[s] + b,
                         static_cast<std::uint32_t>(tiles),
                         static_cast<std::uint32_t>(std::min(block_rows, m - b))});
    }
    l.query_rows += (m + block_rows - 1) / block_rows * block_rows;
    l.center_rows += tiles * tile_rows;
  }
  return l;
}

// Rows [offsets[s], offsets[s + 1]) of src (d columns) to padded rows from first_row[s] of
// dst (dp columns, zeros in padded columns and rows); dst has total_rows x dp entries.
inline std::vector<float> pad_segment_rows(const float* src, std::size_t d, std::size_t dp,
                                           const std::size_t* offsets, std::size_t count,
                                           const std::vector<std::size_t>& first_row,
                                           std::size_t total_rows) {
  std::vector<float> dst(total_rows * dp, 0.f);
  for (std::size_t s = 0; s < count; ++s) {
    for (std::size_t i = offsets[s]; i < offsets[s + 1]; ++i) {
      const std::size_t row = first_row[s] + (i - offsets[s]);
      for (std::size_t k = 0; k < d; ++k) dst[row * dp + k] = src[i * d + k];
    }
  }
  return dst;
}

// The centres' log2 weights in the padded layout: -inf for padded rows.
inline std::vector<float> pad_segment_log2_weights(const float* log_w, const std::size_t* offsets,
                                                   std::size_t count,
                                                   const std::vector<std::size_t>& first_row,
                                                   std::size_t total_rows) {
  std::vector<float> dst(total_rows, -std::numeric_limits<float>::infinity());
  for (std::size_t s = 0; s < count; ++s) {
    for (std::size_t i = offsets[s]; i < offsets[s + 1]; ++i) {
      dst[first_row[s] + (i - offsets[s])] = static_cast<float>(static_cast<double>(log_w[i]) * kLog2e);
    }
  }
  return dst;
}

}  // namespace infoflow::detail
