// Pruning of far tiles (cpu backend, ComputeOptions::tolerance): on clustered data at
// small sigma, the paper's regime, the pruned log-sum-exp is never above the exact one
// and never below it by more than log(1 + tolerance), the proven bound; and it does skip.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "lse_backends.hpp"
#include "test_util.hpp"

namespace infoflow {
namespace {

// SZT-like: 512 cluster centres in [-1, 1]^d (tanh of a Gaussian), 20 samples each with
// spread 3 sigma; queries are samples plus sigma noise.
struct Clustered {
  std::vector<double> centers, queries;
  std::size_t n = 0, m = 0, d = 0;
};

Clustered clustered(std::size_t d, double sigma, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  Clustered c;
  c.d = d;
  for (int k = 0; k < 512; ++k) {
    std::vector<double> mu(d);
    for (double& v : mu) v = std::tanh(2 * normal(gen));
    for (int s = 0; s < 20; ++s) {
      for (std::size_t j = 0; j < d; ++j) c.centers.push_back(mu[j] + 3 * sigma * normal(gen));
    }
  }
  c.n = c.centers.size() / d;
  for (std::size_t i = 0; i < c.n; i += 3) {
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
