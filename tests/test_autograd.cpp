// log_density_backward: the gradients of L = sum_i g_i log g(q_i) against central finite
// differences of the float64 reference forward (queries, centres, sigma) and the dense
// formula (weights, which a finite-difference step would push off the simplex).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "test_util.hpp"

namespace infoflow {
namespace {

struct Problem {
  std::size_t m, n, d;
  std::vector<double> q, c, w, g;
  double sigma;
  MatrixView<double> qv() const { return {q.data(), m, d}; }
  MatrixView<double> cv() const { return {c.data(), n, d}; }
};

Problem make_problem(std::size_t m, std::size_t n, std::size_t d, double sigma, unsigned seed) {
  Problem p{m, n, d, testing::random_matrix(m, d, seed, 1.3), testing::random_matrix(n, d, seed + 1),
            {}, testing::random_matrix(m, 1, seed + 2), sigma};
  p.w.resize(n);
  double sum = 0;
  for (std::size_t j = 0; j < n; ++j) sum += p.w[j] = 0.2 + (j * 7 % 5);
  for (double& v : p.w) v /= sum;
  return p;
}

std::vector<double> forward(const Problem& p, Backend b = Backend::Reference) {
  ComputeOptions o;
  o.backend = b;
  o.tolerance = 0;
  std::vector<double> out(p.m);
  log_density(p.qv(), p.cv(), {p.w.data(), p.n}, p.sigma, {out.data(), p.m}, o);
  return out;
}

double loss(const Problem& p) {
  const auto ld = forward(p);
  double l = 0;
  for (std::size_t i = 0; i < p.m; ++i) l += p.g[i] * ld[i];
  return l;
}

struct Grads {
  std::vector<double> q, c, w;
  double sigma;
};

Grads backward(const Problem& p, const std::vector<double>& ld, int threads = 0) {
  Grads r{std::vector<double>(p.m * p.d), std::vector<double>(p.n * p.d), std::vector<double>(p.n), 0};
  ComputeOptions o;
  o.threads = threads;
  r.sigma = log_density_backward(p.qv(), p.cv(), {p.w.data(), p.n}, p.sigma, {ld.data(), p.m},
                                 {p.g.data(), p.m}, {{r.q.data(), r.q.size()}, {r.c.data(), r.c.size()}, {r.w.data(), r.w.size()}},
                                 o);
  return r;
}

double max_abs(const std::vector<double>& v) {
  double x = 0;
  for (double e : v) x = std::max(x, std::abs(e));
  return x;
}

// Central difference of loss() in one coordinate x of p (q, c or sigma).
double central_difference(Problem& p, double* x_in_p, double h) {
  const double x0 = *x_in_p;
  *x_in_p = x0 + h;
  const double up = loss(p);
  *x_in_p = x0 - h;
  const double down = loss(p);
  *x_in_p = x0;
  return (up - down) / (2 * h);
}

TEST(LogDensityBackward, MatchesFiniteDifferencesAndTheDenseWeightGradient) {
  for (std::size_t d : {1u, 3u}) {
    for (double sigma : {0.3, 1.0, 2.5}) {
      Problem p = make_problem(7, 9, d, sigma, 40 + static_cast<unsigned>(d));
      const Grads got = backward(p, forward(p));
      // h: truncation error ~h^2, rounding ~1e-16 |L| / h; both below 1e-9 here.
      const double h = 1e-5;
      std::vector<double> fd_q(p.q.size()), fd_c(p.c.size());
      for (std::size_t k = 0; k < p.q.size(); ++k) fd_q[k] = central_difference(p, &p.q[k], h);
      for (std::size_t k = 0; k < p.c.size(); ++k) fd_c[k] = central_difference(p, &p.c[k], h);
      const double fd_sigma = central_difference(p, &p.sigma, h);
      const double sq = max_abs(fd_q), sc = max_abs(fd_c);
      for (std::size_t k = 0; k < p.q.size(); ++k) EXPECT_NEAR(got.q[k], fd_q[k], 1e-7 * sq) << d << " " << sigma;
      for (std::size_t k = 0; k < p.c.size(); ++k) EXPECT_NEAR(got.c[k], fd_c[k], 1e-7 * sc) << d << " " << sigma;
      EXPECT_NEAR(got.sigma, fd_sigma, 1e-7 * std::abs(fd_sigma)) << d << " " << sigma;

      // d L / d w_j = sum_i g_i N(q_i; c_j) / g(q_i), the density's own normaliser cancelling.
      for (std::size_t j = 0; j < p.n; ++j) {
        double want = 0;
        for (std::size_t i = 0; i < p.m; ++i) {
          double num = 0, den = 0;
          for (std::size_t l = 0; l < p.n; ++l) {
            double dist2 = 0;
            for (std::size_t k = 0; k < d; ++k) dist2 += std::pow(p.q[i * d + k] - p.c[l * d + k], 2);
            const double kern = std::exp(-dist2 / (2 * sigma * sigma));
            den += p.w[l] * kern;
            if (l == j) num = kern;
          }
          want += p.g[i] * num / den;
        }
        EXPECT_NEAR(got.w[j], want, 1e-12 * std::max(1.0, std::abs(want))) << "weight " << j;
      }
    }
  }
}

// The float32 forward (cpu backend) is off by up to 1e-5 (1 + |value|); the backward
// renormalises in float64, so its gradients equal those from the float64 forward.
TEST(LogDensityBackward, Float32ForwardGivesTheFloat64Gradient) {
  const Problem p = make_problem(60, 80, 5, 0.05, 7);  // small sigma: the forward's worst case
  const auto ld64 = forward(p), ld32 = forward(p, Backend::Cpu);
  double worst = 0;
  for (std::size_t i = 0; i < p.m; ++i) worst = std::max(worst, std::abs(ld32[i] - ld64[i]));
  ASSERT_GT(worst, 1e-9);  // the test means something only if the two forwards differ
  const Grads a = backward(p, ld64), b = backward(p, ld32);
  for (std::size_t k = 0; k < a.q.size(); ++k) EXPECT_NEAR(a.q[k], b.q[k], 1e-11 * max_abs(a.q));
  for (std::size_t k = 0; k < a.c.size(); ++k) EXPECT_NEAR(a.c[k], b.c[k], 1e-11 * max_abs(a.c));
  for (std::size_t k = 0; k < a.w.size(); ++k) EXPECT_NEAR(a.w[k], b.w[k], 1e-11 * max_abs(a.w));
  EXPECT_NEAR(a.sigma, b.sigma, 1e-11 * std::abs(a.sigma));
}

TEST(LogDensityBackward, SameBitsForEveryThreadCount) {
  const Problem p = make_problem(70, 90, 4, 0.7, 3);
  const auto ld = forward(p);
  // The largest team first: LLVM's libomp keeps (leaks, for LeakSanitizer) its old thread
  // array each time a later team outgrows every earlier one.
  const Grads five = backward(p, ld, 5);
  for (int t : {1, 2, 3}) {
    const Grads r = backward(p, ld, t);
    EXPECT_EQ(five.q, r.q) << t;
    EXPECT_EQ(five.c, r.c) << t;
    EXPECT_EQ(five.w, r.w) << t;
    EXPECT_EQ(five.sigma, r.sigma) << t;
  }
}

TEST(LogDensityBackward, ZeroUpstreamGradientAndSkippedOutputs) {
  Problem p = make_problem(10, 6, 2, 0.5, 21);
  std::fill(p.g.begin() + 5, p.g.end(), 0.0);
  const auto ld = forward(p);
  const Grads r = backward(p, ld);
  for (std::size_t k = 5 * p.d; k < r.q.size(); ++k) EXPECT_EQ(r.q[k], 0.0);
  // Only the queries' gradient asked for: the same values, the centre pass skipped.
  std::vector<double> gq(p.m * p.d);
  const double gs = log_density_backward(p.qv(), p.cv(), {p.w.data(), p.n}, p.sigma, {ld.data(), p.m},
                                         {p.g.data(), p.m}, {{gq.data(), gq.size()}, {}, {}});
  EXPECT_EQ(gq, r.q);
  EXPECT_EQ(gs, r.sigma);
}

TEST(LogDensityBackward, RejectsValuesThatAreNotTheForward) {
  const Problem p = make_problem(5, 4, 2, 0.5, 2);
  auto ld = forward(p);
  ld[3] -= 300;  // the shifted terms would overflow
  std::vector<double> gq(p.m * p.d);
  EXPECT_THROW(log_density_backward(p.qv(), p.cv(), {p.w.data(), p.n}, p.sigma, {ld.data(), p.m},
                                    {p.g.data(), p.m}, {{gq.data(), gq.size()}, {}, {}}),
               InvalidArgument);
  ld = forward(p);
  EXPECT_THROW(log_density_backward(p.qv(), p.cv(), {p.w.data(), p.n}, p.sigma, {ld.data(), p.m},
                                    {p.g.data(), p.m}, {{gq.data(), gq.size() - 1}, {}, {}}),
               InvalidArgument);
  EXPECT_THROW(log_density_backward(p.qv(), p.cv(), {p.w.data(), p.n}, -1.0, {ld.data(), p.m},
                                    {p.g.data(), p.m}, {}),
               InvalidArgument);
}

}  // namespace
}  // namespace infoflow
