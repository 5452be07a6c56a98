// The cpu backend with pruning of far tiles (p.tolerance > 0). At small sigma almost every
// kernel pair is negligible (the paper's workload: beta = 0.005 on tanh layers), which is
// why a tree beats brute force there. Here each segment's centres are ordered by k-d
// splits into tiles of kPruneTile with a box tree above them, queries are ordered the
// same way into blocks of kPruneQueries, and each block walks the tree best-first,
// stopping with a proven bound on what it skipped (see LsePrunedBlock). Dense data
// prunes nothing and pays only the walk: every tile is still folded exactly once.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/kd_order.hpp"
#include "cpu/lse_cpu_tiling.hpp"
#include "lse_backends.hpp"

namespace infoflow::detail {
namespace {

struct TreeBuilder {
  const float* x;    // the segment's centres (local rows), d columns
  const float* lw;   // their log-weights
  std::size_t d, tile_base;
  TileTree& tree;

  // Node over perm[b, e): box, largest weight, then a split along the widest dimension
  // at a multiple of kPruneTile so that leaves are exactly the packed tiles.
  std::uint32_t build(std::uint32_t* perm, std::size_t b, std::size_t e) {
    const auto id = static_cast<std::uint32_t>(tree.left.size());
    tree.left.push_back(TileTree::kNone), tree.right.push_back(TileTree::kNone);
    tree.tile_begin.push_back(static_cast<std::uint32_t>(tile_base + b / kPruneTile));
    tree.tile_end.push_back(static_cast<std::uint32_t>(tile_base + (e + kPruneTile - 1) / kPruneTile));
    float lw_max = -std::numeric_limits<float>::infinity();
    std::vector<float> lo(d, std::numeric_limits<float>::max()), hi(d, -std::numeric_limits<float>::max());
    for (std::size_t i = b; i < e; ++i) {
      lw_max = std::max(lw_max, lw[perm[i]]);
      for (std::size_t k = 0; k < d; ++k) {
        lo[k] = std::min(lo[k], x[perm[i] * d + k]), hi[k] = std::max(hi[k], x[perm[i] * d + k]);
      }
    }
    tree.lo.insert(tree.lo.end(), lo.begin(), lo.end());
    tree.hi.insert(tree.hi.end(), hi.begin(), hi.end());
    tree.lw_max.push_back(lw_max);
    if (e - b <= kPruneTile) return id;
    std::size_t widest = 0;
    for (std::size_t k = 1; k < d; ++k) widest = (hi[k] - lo[k] > hi[widest] - lo[widest]) ? k : widest;
    const std::size_t n = e - b;
    const std::size_t half = std::max<std::size_t>(1, (n / 2 + kPruneTile / 2) / kPruneTile) * kPruneTile;
    std::nth_element(perm + b, perm + b + half, perm + e, [&](std::uint32_t u, std::uint32_t v) {
      return x[u * d + widest] < x[v * d + widest];
    });
    const std::uint32_t l = build(perm, b, b + half), r = build(perm, b + half, e);
    tree.left[id] = l, tree.right[id] = r;
    return id;
  }
};

struct Block {
  std::size_t segment, row, rows;  // rows of the k-d ordered queries
};

}  // namespace

// p arrives in log2 units (lse_cpu): so are the bounds and the threshold.
bool lse_cpu_pruned(const LseProblemF32& p, SegmentsView seg, double* out, int threads,
                    const ProgressFn& progress) {
  const std::size_t whole_c[2] = {0, p.n}, whole_q[2] = {0, p.m}, d = p.d;
  if (seg.count == 0) seg = {whole_q, whole_c, 1};
  // Centres: k-d order within each segment, a box tree over the resulting tiles.
  std::vector<float> centers(p.n * d), log_w(p.n), queries(p.m * d);
  std::vector<std::uint32_t> qperm(p.m);
  TileTree tree;
  tree.d = d;
  std::size_t tile_base = 0;
  for (std::size_t s = 0; s < seg.count; ++s) {
    const std::size_t c0 = seg.center_offsets[s], n = seg.center_offsets[s + 1] - c0;
    std::vector<std::uint32_t> perm(n);
    for (std::size_t i = 0; i < n; ++i) perm[i] = static_cast<std::uint32_t>(i);
    TreeBuilder b{p.centers + c0 * d, p.log_weights + c0, d, tile_base, tree};
    tree.root.push_back(n > 0 ? b.build(perm.data(), 0, n) : TileTree::kNone);
    for (std::size_t i = 0; i < n; ++i) {
      std::copy_n(p.centers + (c0 + perm[i]) * d, d, centers.begin() + (c0 + i) * d);
      log_w[c0 + i] = p.log_weights[c0 + perm[i]];
    }
    tile_base += (n + kPruneTile - 1) / kPruneTile;
    const std::size_t q0 = seg.query_offsets[s], m = seg.query_offsets[s + 1] - q0;
    const auto qp = kd_order(p.queries + q0 * d, m, d, kPruneQueries);
    for (std::size_t i = 0; i < m; ++i) {
      qperm[q0 + i] = static_cast<std::uint32_t>(q0 + qp[i]);
      std::copy_n(p.queries + (q0 + qp[i]) * d, d, queries.begin() + (q0 + i) * d);
    }
  }
  const PackedCenters pc = pack_centers(centers.data(), log_w.data(), d, seg.center_offsets,
                                        seg.count, kPruneTile);
  std::vector<Block> blocks;
  for (std::size_t s = 0; s < seg.count; ++s) {
    if (tree.root[s] == TileTree::kNone) continue;
    for (std::size_t r = seg.query_offsets[s]; r < seg.query_offsets[s + 1]; r += kPruneQueries) {
      blocks.push_back({s, r, std::min(kPruneQueries, seg.query_offsets[s + 1] - r)});
    }
  }
  std::vector<double> sorted_out(p.m, -std::numeric_limits<double>::infinity());
  auto run_block = [&](std::size_t i, float* buf) {
    const Block& k = blocks[i];
    const std::size_t t0 = pc.segment_tiles[k.segment], t1 = pc.segment_tiles[k.segment + 1];
    const double n_s = static_cast<double>(seg.center_offsets[k.segment + 1] - seg.center_offsets[k.segment]);
    const std::size_t folded = lse_pruned_block(pc, tree, tree.root[k.segment], std::log2(p.tolerance / n_s),
                                                queries.data() + k.row * d, k.rows, p.alpha, buf,
                                                sorted_out.data() + k.row);
    return std::pair<std::size_t, std::size_t>{folded, t1 - t0};
  };
  std::vector<char> probed(blocks.size(), 0);
  {
    auto buf = hwy::AllocateAligned<float>(kMicroQueries * kPruneTile);
    std::size_t folded = 0, total = 0;
    const std::size_t step = std::max<std::size_t>(1, blocks.size() / kProbeBlocks);
    for (std::size_t i = 0; i < blocks.size(); i += step) {
      const auto [f, t] = run_block(i, buf.get());
      folded += f, total += t, probed[i] = 1;
    }
    if (folded > kProbeMaxFraction * total) return false;
  }
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  std::atomic<std::size_t> done{0};
  const auto report_every = std::max<std::size_t>(1, blocks.size() / 200);
#pragma omp parallel num_threads(nt)
  {
    auto buf = hwy::AllocateAligned<float>(kMicroQueries * kPruneTile);
#pragma omp for schedule(dynamic, 4)
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      if (!probed[i]) run_block(i, buf.get());
      const std::size_t now = done.fetch_add(1) + 1;
      if (progress && omp_get_thread_num() == 0 && now % report_every == 0) {
        progress(static_cast<double>(now) / blocks.size());
      }
    }
  }
  for (std::size_t i = 0; i < p.m; ++i) out[qperm[i]] = sorted_out[i];
  if (progress) progress(1.0);
  return true;
}

}  // namespace infoflow::detail
