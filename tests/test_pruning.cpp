// Pruning of far tiles (cpu backend, ComputeOptions::tolerance): on clustered data at
// small sigma, the paper's regime, the pruned log-sum-exp is never above the exact one
// and never below it by more than log(1 + tolerance), the proven bound; and it does skip.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "pruning/kd_order.hpp"
#include "cuda/segment_layout.hpp"
#include "cuda/tile_lists.hpp"
#include "lse_implementations.hpp"
#include "test_util.hpp"

namespace infoflow {
namespace {

// SZT-like: `clusters` cluster centres in [-1, 1]^d (tanh of a Gaussian), `per_cluster`
// samples each with spread 3 sigma; every `query_step`-th sample plus sigma noise is a
// query.
struct Clustered {
  std::vector<double> centers, queries;
  std::size_t n = 0, m = 0, d = 0;
};

Clustered clustered(std::size_t d, double sigma, unsigned seed, int clusters = 512, int per_cluster = 20,
                    std::size_t query_step = 3) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  Clustered c;
  c.d = d;
  for (int k = 0; k < clusters; ++k) {
    std::vector<double> mu(d);
    for (double& v : mu) v = std::tanh(2 * normal(gen));
    for (int s = 0; s < per_cluster; ++s) {
      for (std::size_t j = 0; j < d; ++j) c.centers.push_back(mu[j] + 3 * sigma * normal(gen));
    }
  }
  c.n = c.centers.size() / d;
  for (std::size_t i = 0; i < c.n; i += query_step) {
    for (std::size_t j = 0; j < d; ++j) c.queries.push_back(c.centers[i * d + j] + sigma * normal(gen));
  }
  c.m = c.queries.size() / d;
  return c;
}

std::vector<double> lse(const Clustered& c, double sigma, double tolerance, Backend b = Backend::Cpu) {
  std::vector<double> out(c.m);
  ComputeOptions o;
  o.backend = b;
  o.tolerance = tolerance;
  log_density({c.queries.data(), c.m, c.d}, {c.centers.data(), c.n, c.d}, {}, sigma, {out.data(), c.m}, o);
  return out;
}

TEST(Pruning, WithinProvenBoundOfExact) {
  for (std::size_t d : {2, 3, 10}) {
    const double sigma = 0.005;
    const Clustered c = clustered(d, sigma, static_cast<unsigned>(d));
    const auto exact = lse(c, sigma, 0.0);
    for (double tol : {1e-6, 1e-3, 0.3}) {
      const auto pruned = lse(c, sigma, tol);
      double worst = 0;
      for (std::size_t i = 0; i < c.m; ++i) {
        // Pruning only drops positive terms: never above exact (up to float summation order).
        EXPECT_LE(pruned[i], exact[i] + 1e-6) << "d=" << d << " tol=" << tol << " query " << i;
        worst = std::max(worst, exact[i] - pruned[i]);
      }
      EXPECT_LE(worst, std::log1p(tol) + 1e-6) << "d=" << d << " tol=" << tol;
      if (tol == 0.3) EXPECT_GT(worst, 1e-7) << "d=" << d << ": nothing was pruned";
    }
  }
}

// Whether the cpu backend takes its pruned path (rather than falling back to the exact
// one) for log_density of c at sigma and tolerance; lse_cpu_pruned takes log2 units.
bool takes_pruned_path(const Clustered& c, double sigma, double tolerance) {
  const std::vector<float> q(c.queries.begin(), c.queries.end()), x(c.centers.begin(), c.centers.end());
  const std::vector<float> log2_w(c.n, static_cast<float>(-std::log2(static_cast<double>(c.n))));
  detail::LseProblemF32 p;
  p.queries = q.data(), p.m = c.m, p.centers = x.data(), p.n = c.n, p.d = c.d;
  p.log_weights = log2_w.data();
  p.alpha = static_cast<float>(1 / (2 * sigma * sigma) / std::log(2.0));
  p.tolerance = tolerance;
  std::vector<double> out(c.m);
  return detail::lse_cpu_pruned(p, {}, out.data(), 0, {});
}

TEST(Pruning, SpreadDataInHigherDimensionsWithinProvenBound) {
  // The benchmark's dense workload, smaller: centres tanh(2 N(0,1)) in d = 10 and 16,
  // queries = centres + 0.1 N(0,1). At sigma = 0.1 most pairs are negligible, but a block
  // of queries spans most of the space, so only the walk's per-query test can skip them:
  // the pruned path must be taken, and stay within the bound (the skipped mass is far
  // below it here). At sigma = 1 every pair matters: it must fall back to the exact path.
  for (std::size_t d : {10, 16}) {
    const std::size_t n = 8000;
    std::mt19937_64 gen(d);
    std::normal_distribution<double> normal;
    Clustered c;
    c.n = c.m = n, c.d = d;
    for (std::size_t i = 0; i < n * d; ++i) c.centers.push_back(std::tanh(2 * normal(gen)));
    for (std::size_t i = 0; i < n * d; ++i) c.queries.push_back(c.centers[i] + 0.1 * normal(gen));
    EXPECT_TRUE(takes_pruned_path(c, 0.1, 1e-6)) << "d=" << d;
    EXPECT_FALSE(takes_pruned_path(c, 1.0, 1e-6)) << "d=" << d;
    const auto exact = lse(c, 0.1, 0.0);
    for (double tol : {1e-6, 0.3}) {
      const auto pruned = lse(c, 0.1, tol);
      for (std::size_t i = 0; i < n; ++i) {
        EXPECT_LE(pruned[i], exact[i] + 1e-6) << "d=" << d << " tol=" << tol << " query " << i;
        EXPECT_GE(pruned[i], exact[i] - std::log1p(tol) - 1e-6) << "d=" << d << " tol=" << tol << " query " << i;
      }
    }
  }
}

TEST(Pruning, DefaultToleranceMatchesReference) {
  const double sigma = 0.01;
  const Clustered c = clustered(4, sigma, 9);
  Clustered sub = c;  // the reference is slow: a subsample of queries
  sub.m = 200;
  sub.queries.resize(sub.m * sub.d);
  const auto ref = lse(sub, sigma, 0.0, Backend::Reference);
  const auto pruned = lse(sub, sigma, 1e-6);
  // The float32 contract of the fast backends (test_backends.cpp): pruning adds at most 1e-6.
  for (std::size_t i = 0; i < sub.m; ++i) EXPECT_NEAR(pruned[i], ref[i], 1e-5 * (1 + std::abs(ref[i])));
}

TEST(Pruning, DenseDataIsUnchanged) {
  // Every pair matters: the pruned walk must visit everything and agree with exact.
  const auto q = testing::random_matrix(300, 5, 1), c = testing::random_matrix(1000, 5, 2);
  std::vector<double> a(300), b(300);
  ComputeOptions o;
  o.backend = Backend::Cpu;
  o.tolerance = 0;
  log_density({q.data(), 300, 5}, {c.data(), 1000, 5}, {}, 1.0, {a.data(), 300}, o);
  o.tolerance = 1e-6;
  log_density({q.data(), 300, 5}, {c.data(), 1000, 5}, {}, 1.0, {b.data(), 300}, o);
  for (std::size_t i = 0; i < 300; ++i) EXPECT_NEAR(a[i], b[i], 1e-6 * (1 + std::abs(a[i])));
}

TEST(Pruning, CudaWithinProvenBoundOfExact) {
  INFOFLOW_SKIP_IF_UNAVAILABLE(Backend::Cuda);
  for (std::size_t d : {3, 10}) {
    const double sigma = 0.005;
    const Clustered c = clustered(d, sigma, static_cast<unsigned>(d));
    const auto exact = lse(c, sigma, 0.0, Backend::Cpu);
    for (double tol : {1e-6, 0.3}) {
      const auto pruned = lse(c, sigma, tol, Backend::Cuda);
      for (std::size_t i = 0; i < c.m; ++i) {
        EXPECT_LE(pruned[i], exact[i] + 1e-5 * (1 + std::abs(exact[i]))) << "d=" << d << " tol=" << tol << " query " << i;
        EXPECT_GE(pruned[i], exact[i] - std::log1p(tol) - 1e-5 * (1 + std::abs(exact[i])))
            << "d=" << d << " tol=" << tol << " query " << i;
      }
    }
  }
}

// The GPU's tile lists (cuda/tile_lists.hpp), executed on the host as the device passes
// do them (kernels/lse_tile_lists.cu: the k-d orders and box tree of lse_cuda_pruned,
// block_boxes_kernel, seed_lse_kernel, list_tiles_kernel, then the log-sum-exp over each
// block's list), in float64 sums.
struct ListRun {
  std::vector<double> out;  // per query, in the caller's order, natural log
  double kept_fraction = 0;
  std::size_t seeds_dropped = 0;  // queries whose seed tile is not in their block's list
};

ListRun run_tile_lists(const Clustered& c, double alpha, double tol) {
  constexpr int kBlock = 128, kTile = 64;  // kThreads and kTileC of the kernel
  const std::size_t d = c.d, n = c.n, m = c.m;
  const int di = static_cast<int>(d);
  const std::vector<float> qf(c.queries.begin(), c.queries.end()), cf(c.centers.begin(), c.centers.end());
  const std::vector<float> log_w(n, static_cast<float>(-std::log(static_cast<double>(n))));
  const std::size_t q_off[2] = {0, m}, c_off[2] = {0, n};
  const detail::KdOrdered o =
      detail::kd_ordered(qf.data(), cf.data(), log_w.data(), d, {q_off, c_off, 1}, kBlock, kTile, detail::kLog2e, 2);
  const auto& qperm = o.qperm;
  const auto& q = o.queries;
  const auto& tree = o.tree;
  // The padded centres and log2 weights, as lse_cuda_whole lays them out.
  const std::size_t tiles = (n + kTile - 1) / kTile, blocks = (m + kBlock - 1) / kBlock;
  std::vector<float> x(tiles * kTile * d, 0.f);
  std::copy(o.centers.begin(), o.centers.end(), x.begin());
  const std::size_t whole[2] = {0, n};
  const std::vector<float> lw2 = detail::pad_segment_log2_weights(o.log_w.data(), whole, 1, {0}, tiles * kTile);
  const detail::TileBoxes boxes = detail::tile_boxes(tree, tiles);
  const double alpha2 = alpha / std::log(2.0);
  // Log-sum-exp (natural log) of query row i over the given tiles, float64.
  auto lse_over = [&](std::size_t i, const std::vector<std::uint32_t>& list) {
    std::vector<double> e;
    for (std::uint32_t t : list) {
      for (std::size_t j = t * kTile; j < (t + 1) * kTile; ++j) {
        double d2 = 0;
        for (std::size_t k = 0; k < d; ++k) d2 += (double(q[i * d + k]) - x[j * d + k]) * (double(q[i * d + k]) - x[j * d + k]);
        e.push_back(lw2[j] - alpha2 * d2);
      }
    }
    const double top = *std::max_element(e.begin(), e.end());
    if (top == -HUGE_VAL) return -HUGE_VAL;
    double sum = 0;
    for (double v : e) sum += std::exp2(v - top);
    return (top + std::log2(sum)) * std::log(2.0);
  };
  ListRun r;
  r.out.resize(m);
  std::size_t kept = 0;
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t first = b * kBlock, rows = std::min<std::size_t>(kBlock, m - first);
    float blo[16], bhi[16];
    for (int k = 0; k < di; ++k) detail::column_range(&q[first * d], static_cast<int>(rows), di, k, blo[k], bhi[k]);
    double min_seed = HUGE_VAL;
    std::vector<std::uint32_t> seeds;
    for (std::size_t i = first; i < first + rows; ++i) {
      const std::uint32_t leaf = detail::nearest_leaf(&q[i * d], tree.lo.data(), tree.hi.data(), tree.left.data(),
                                                      tree.right.data(), tree.root[0], di);
      seeds.push_back(boxes.node_tile[leaf]);
      min_seed = std::min(min_seed, lse_over(i, {seeds.back()}));
    }
    const double cut = detail::block_cut2(min_seed, std::log2(tol / static_cast<double>(n)));
    std::vector<std::uint32_t> list;
    for (std::size_t t = 0; t < tiles; ++t) {
      const double gap2 = detail::box_gap2(blo, bhi, &boxes.lo[t * d], &boxes.hi[t * d], di);
      if (detail::tile_needed(boxes.lw2_max[t], alpha2, gap2, cut)) list.push_back(static_cast<std::uint32_t>(t));
    }
    kept += list.size();
    for (std::uint32_t s : seeds) r.seeds_dropped += std::find(list.begin(), list.end(), s) == list.end();
    for (std::size_t i = first; i < first + rows; ++i) r.out[qperm[i]] = lse_over(i, list);
  }
  r.kept_fraction = static_cast<double>(kept) / static_cast<double>(blocks * tiles);
  return r;
}

TEST(CudaPruning, TileListsWithinProvenBound) {
  // The paper's regime at the GPU's granularity: 32 clusters of 512 centres (an input's K
  // noisy samples), spread 3 sigma, and every 4th centre plus sigma noise as a query, so a
  // block of 128 queries holds about one cluster.
  for (std::size_t d : {3, 10}) {
    const double sigma = 0.005, alpha = 1 / (2 * sigma * sigma);
    const Clustered c = clustered(d, sigma, static_cast<unsigned>(d), 32, 512, 4);
    std::vector<double> exact(c.m);
    detail::lse_reference(c.queries.data(), c.m, c.centers.data(), c.n,
                          std::vector<double>(c.n, -std::log(double(c.n))).data(), d, alpha, exact.data());
    double kept_at_smallest_tol = 1;
    for (double tol : {1e-6, 0.3}) {
      const ListRun r = run_tile_lists(c, alpha, tol);
      for (std::size_t i = 0; i < c.m; ++i) {
        // float32 coordinates: 1e-5 relative, as the fast backends' contract
        const double slack = 1e-5 * (1 + std::abs(exact[i]));
        EXPECT_LE(r.out[i], exact[i] + slack) << "d=" << d << " tol=" << tol << " query " << i;
        EXPECT_GE(r.out[i], exact[i] - std::log1p(tol) - slack) << "d=" << d << " tol=" << tol << " query " << i;
      }
      // A block needs its cluster's 8 tiles (or two clusters' 16): 256 tiles in all.
      EXPECT_LT(r.kept_fraction, 0.1) << "d=" << d << " tol=" << tol;
      EXPECT_EQ(r.seeds_dropped, 0u) << "d=" << d << " tol=" << tol << ": the proof needs every seed kept";
      if (tol == 1e-6) kept_at_smallest_tol = r.kept_fraction;
      EXPECT_LE(r.kept_fraction, kept_at_smallest_tol) << "d=" << d << ": a larger tolerance kept more";
    }
  }
}

TEST(CudaPruning, DenseDataKeepsEveryTile) {
  // sigma of the data's scale: every pair counts, the lists keep everything, and the
  // device would run such a chunk unpruned (kListMaxFraction).
  Clustered c;
  c.d = 5, c.n = 1000, c.m = 300;
  c.centers = testing::random_matrix(c.n, c.d, 2), c.queries = testing::random_matrix(c.m, c.d, 1);
  const ListRun r = run_tile_lists(c, 0.5, 1e-6);
  EXPECT_GT(r.kept_fraction, detail::kListMaxFraction);
}

TEST(Pruning, KdOrderIsAPermutationOfCompactLeavesOnAnyThreadCount) {
  // 3000 points in 4 far-apart clusters of 750: the order is a permutation, the same on 1,
  // 2 and 5 threads (every cell is split by the same rule), and leaves of 64 keep to one
  // cluster except a few (750 is no multiple of 64, and splits fall on multiples of 64
  // near the middle, so some must straddle; 7 of 47 do).
  const std::size_t n = 3000, d = 3;
  std::vector<float> x(n * d);
  std::mt19937 gen(5);
  std::normal_distribution<float> normal;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < d; ++k) x[i * d + k] = 10.f * static_cast<float>((i / 750) >> k & 1) + normal(gen);
  }
  const auto one = detail::kd_order(x.data(), n, d, 64, 1);
  std::vector<std::uint32_t> sorted(one);
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(detail::kd_order(x.data(), n, d, 64, 2), one);
  EXPECT_EQ(detail::kd_order(x.data(), n, d, 64, 5), one);
  std::size_t mixed_leaves = 0;
  for (std::size_t b = 0; b < n; b += 64) {
    bool m = false;
    for (std::size_t i = b + 1; i < std::min(n, b + 64); ++i) m |= one[i] / 750 != one[b] / 750;
    mixed_leaves += m;
  }
  EXPECT_LE(mixed_leaves, 8u) << "of " << (n + 63) / 64 << " leaves (any unordered run: all)";
}

TEST(Pruning, RejectsBadTolerance) {
  const double c[] = {0.0, 1.0};
  std::vector<double> out(2);
  ComputeOptions o;
  for (double bad : {-1e-3, 1.0, std::nan("")}) {
    o.tolerance = bad;
    EXPECT_THROW(log_density({c, 2, 1}, {c, 2, 1}, {}, 1.0, {out.data(), 2}, o), InvalidArgument);
  }
}

}  // namespace
}  // namespace infoflow
