// The cpu backend with pruning of far tiles (p.tolerance > 0). At small sigma almost every
// kernel pair is negligible (the paper's workload: beta = 0.005 on tanh layers), which is
// why a tree beats brute force there. Here each segment's centres are ordered by k-d
// splits into tiles of kPruneTile with a box tree above them, queries are ordered the
// same way into blocks of kPruneQueries, and each block walks the tree best-first,
// stopping with a proven bound on what it skipped (see LsePrunedBlock). Data where
// pruning cannot pay (most pairs matter) is recognised first, by pruning_can_pay before
// anything is ordered or by the probe after, and runs the exact path instead.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/lse_cpu_tiling.hpp"
#include "pruning/pays.hpp"
#include "pruning/tile_tree.hpp"
#include "lse_implementations.hpp"

namespace infoflow::detail {
namespace {

struct Block {
  std::size_t segment, row, rows;  // rows of the k-d ordered queries
};

}  // namespace

// p arrives in log2 units (lse_cpu): so are the bounds and the threshold.
bool lse_cpu_pruned(const LseProblemF32& p, SegmentsView seg, double* out, int threads,
                    const ProgressFn& progress) {
  const std::size_t whole_c[2] = {0, p.n}, whole_q[2] = {0, p.m}, d = p.d;
  if (seg.count == 0) seg = {whole_q, whole_c, 1};
  if (!pruning_can_pay(p, seg)) return false;
  const int nt = cpu_threads(threads);
  const KdOrdered o = kd_ordered(p.queries, p.centers, p.log_weights, d, seg, kPruneQueries,
                                 kPruneTile, 1.0, nt);
  const PackedCenters pc = pack_centers(o.centers.data(), o.log_w.data(), d, seg.center_offsets,
                                        seg.count, kPruneTile);
  std::vector<Block> blocks;
  for (std::size_t s = 0; s < seg.count; ++s) {
    if (o.tree.root[s] == TileTree::kNone) continue;
    for (std::size_t r = seg.query_offsets[s]; r < seg.query_offsets[s + 1]; r += kPruneQueries) {
      blocks.push_back({s, r, std::min(kPruneQueries, seg.query_offsets[s + 1] - r)});
    }
  }
  std::vector<double> sorted_out(p.m, -std::numeric_limits<double>::infinity());
  auto run_block = [&](std::size_t i, float* buf) {
    const Block& k = blocks[i];
    const std::size_t t0 = pc.segment_tiles[k.segment], t1 = pc.segment_tiles[k.segment + 1];
    const std::size_t n_s = seg.center_offsets[k.segment + 1] - seg.center_offsets[k.segment];
    const std::size_t folded = lse_pruned_block(pc, o.tree, o.tree.root[k.segment],
                                                log2_tolerance_per_centre(p.tolerance, n_s),
                                                o.queries.data() + k.row * d, k.rows, p.alpha, buf,
                                                sorted_out.data() + k.row);
    return std::pair<std::size_t, std::size_t>{folded, t1 - t0};
  };
  // The probe: kProbeBlocks blocks spread over the work, in parallel like the rest.
  std::vector<char> probed(blocks.size(), 0);
  {
    const std::size_t step = std::max<std::size_t>(1, blocks.size() / kProbeBlocks);
    const auto probes = static_cast<std::ptrdiff_t>((blocks.size() + step - 1) / step);
    std::size_t folded = 0, total = 0;
#pragma omp parallel num_threads(nt) reduction(+ : folded, total)
    {
      auto buf = hwy::AllocateAligned<float>(kMicroQueries * kPruneTile);
#pragma omp for schedule(dynamic, 1)
      for (std::ptrdiff_t k = 0; k < probes; ++k) {
        const std::size_t i = static_cast<std::size_t>(k) * step;
        const auto [f, t] = run_block(i, buf.get());
        folded += f, total += t, probed[i] = 1;
      }
    }
    if (folded > kProbeMaxFraction * total) return false;
  }
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
  for (std::size_t i = 0; i < p.m; ++i) out[o.qperm[i]] = sorted_out[i];
  if (progress) progress(1.0);
  return true;
}

}  // namespace infoflow::detail
