// log_density_backward: the gradients of L = sum_i g_i log g(q_i) against central finite
// differences of the float64 reference forward (queries, centres, sigma) and the dense
// formula (weights, which a finite-difference step would push off the simplex); the cpu
// (SIMD) and cuda sweeps against the scalar reference sweep.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backward_sweep.hpp"
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

Grads backward(const Problem& p, const std::vector<double>& ld, int threads = 0, Backend b = Backend::Cpu) {
  Grads r{std::vector<double>(p.m * p.d), std::vector<double>(p.n * p.d), std::vector<double>(p.n), 0};
  ComputeOptions o;
  o.threads = threads;
  o.backend = b;
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
  for (Backend backend : {Backend::Reference, Backend::Cpu}) {
    for (std::size_t d : {1u, 3u}) {
      for (double sigma : {0.3, 1.0, 2.5}) {
        Problem p = make_problem(7, 9, d, sigma, 40 + static_cast<unsigned>(d));
        const Grads got = backward(p, forward(p), 0, backend);
        SCOPED_TRACE(::testing::Message() << backend_name(backend) << " d " << d << " sigma " << sigma);
        // h: truncation error ~h^2, rounding ~1e-16 |L| / h; both below 1e-9 here.
        const double h = 1e-5;
        std::vector<double> fd_q(p.q.size()), fd_c(p.c.size());
        for (std::size_t k = 0; k < p.q.size(); ++k) fd_q[k] = central_difference(p, &p.q[k], h);
        for (std::size_t k = 0; k < p.c.size(); ++k) fd_c[k] = central_difference(p, &p.c[k], h);
        const double fd_sigma = central_difference(p, &p.sigma, h);
        const double sq = max_abs(fd_q), sc = max_abs(fd_c);
        for (std::size_t k = 0; k < p.q.size(); ++k) EXPECT_NEAR(got.q[k], fd_q[k], 1e-7 * sq);
        for (std::size_t k = 0; k < p.c.size(); ++k) EXPECT_NEAR(got.c[k], fd_c[k], 1e-7 * sc);
        EXPECT_NEAR(got.sigma, fd_sigma, 1e-7 * std::abs(fd_sigma));

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
  ComputeOptions cpu;
  cpu.backend = Backend::Cpu;
  const double gs = log_density_backward(p.qv(), p.cv(), {p.w.data(), p.n}, p.sigma, {ld.data(), p.m},
                                         {p.g.data(), p.m}, {{gq.data(), gq.size()}, {}, {}}, cpu);
  EXPECT_EQ(gq, r.q);
  EXPECT_EQ(gs, r.sigma);
}

TEST(LogDensityBackward, RejectsBadArguments) {
  const Problem p = make_problem(5, 4, 2, 0.5, 2);
  const auto ld = forward(p);
  std::vector<double> gq(p.m * p.d);
  EXPECT_THROW(log_density_backward(p.qv(), p.cv(), {p.w.data(), p.n}, p.sigma, {ld.data(), p.m},
                                    {p.g.data(), p.m}, {{gq.data(), gq.size() - 1}, {}, {}}),
               InvalidArgument);
  EXPECT_THROW(log_density_backward(p.qv(), p.cv(), {p.w.data(), p.n}, -1.0, {ld.data(), p.m},
                                    {p.g.data(), p.m}, {}),
               InvalidArgument);
}

// ---- the fast sweeps against the scalar reference ------------------------------------

// Every entry within rel of the largest entry of the reference: the gradients are sums of
// differences that cancel, so an entry much smaller than the largest carries the largest's
// absolute rounding, not its own relative one.
void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rel, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  const double tol = rel * std::max(max_abs(want), std::numeric_limits<double>::min());
  for (std::size_t k = 0; k < got.size(); ++k) ASSERT_NEAR(got[k], want[k], tol) << what << " entry " << k;
}

// A problem with every special case: a zero weight, queries with a zero upstream gradient,
// and a query on top of a centre.
Problem awkward_problem(std::size_t m, std::size_t n, std::size_t d, double sigma, unsigned seed) {
  Problem p = make_problem(m, n, d, sigma, seed);
  p.w[2] = 0;
  double sum = 0;
  for (double v : p.w) sum += v;
  for (double& v : p.w) v /= sum;
  p.g[1] = p.g[m - 1] = 0;
  std::copy_n(p.c.begin() + 3 * d, d, p.q.begin() + 4 * d);
  return p;
}

class BackwardBackend : public ::testing::TestWithParam<Backend> {};

TEST_P(BackwardBackend, MatchesTheReferenceSweep) {
  const Backend b = GetParam();
  INFOFLOW_SKIP_IF_UNAVAILABLE(b);
  // d: every lane layout of the cuda kernel (W = 1 lane with R = 1, 2, 4, 8 coordinates;
  // W = 2..32 with R = 8; W = 32 with the sums in global memory above d = 256) and SIMD
  // tiles the swept rows fill partly (45 and 37 rows) on the cpu.
  for (std::size_t d : {1u, 2u, 3u, 5u, 8u, 9u, 17u, 64u, 100u, 257u}) {
    // sigma in units of the typical distance: 0.01 leaves most terms below float64's range.
    for (double scale : {0.01, 0.3, 3.0}) {
      const double sigma = scale * std::sqrt(2.0 * d);
      const Problem p = awkward_problem(37, 45, d, sigma, 300 + static_cast<unsigned>(d));
      const auto ld = forward(p);
      const Grads want = backward(p, ld, 0, Backend::Reference), got = backward(p, ld, 0, b);
      SCOPED_TRACE(::testing::Message() << "d " << d << " sigma " << sigma);
      // The same float64 sums in another order, with another exp (1 ulp), on rows divided by
      // sigma: each exponent -||q - c||^2 / (2 sigma^2) is rounded differently by a few ulps
      // of its size, which the exp turns into a relative error of the term. So the bound
      // grows with the largest exponent E (up to 2e4 in the underflow regime here).
      double e_max = 0;
      for (std::size_t i = 0; i < p.m; ++i) {
        for (std::size_t j = 0; j < p.n; ++j) {
          double dist2 = 0;
          for (std::size_t k = 0; k < d; ++k) dist2 += std::pow(p.q[i * d + k] - p.c[j * d + k], 2);
          e_max = std::max(e_max, dist2 / (2 * sigma * sigma));
        }
      }
      const double rel = 1e-13 + 16 * std::numeric_limits<double>::epsilon() * e_max;
      expect_close(got.q, want.q, rel, "queries");
      expect_close(got.c, want.c, rel, "centres");
      expect_close(got.w, want.w, rel, "weights");
      EXPECT_NEAR(got.sigma, want.sigma, rel * std::abs(want.sigma));
      for (std::size_t k = p.d; k < 2 * p.d; ++k) EXPECT_EQ(got.q[k], 0.0);  // zero upstream gradient
    }
  }
}

TEST_P(BackwardBackend, RejectsValuesThatAreNotTheForward) {
  const Backend b = GetParam();
  INFOFLOW_SKIP_IF_UNAVAILABLE(b);
  const Problem p = make_problem(5, 4, 2, 0.5, 2);
  for (double off : {-300.0, 300.0}) {  // the shifted terms overflow, or every one underflows
    auto ld = forward(p);
    ld[3] += off;
    EXPECT_THROW(backward(p, ld, 0, b), InvalidArgument) << off;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, BackwardBackend, ::testing::Values(Backend::Cpu, Backend::Cuda),
                         testing::param_name);

TEST(LogDensityBackward, EverySimdTargetMatchesTheReference) {
  for (std::size_t d : {1u, 3u, 10u}) {
    const Problem p = awkward_problem(29, 70, d, 0.6, 500 + static_cast<unsigned>(d));
    const auto ld = forward(p);
    const Grads want = backward(p, ld, 0, Backend::Reference);
    testing::on_every_simd_target([&](const char* target) {
      const Grads got = backward(p, ld, 0, Backend::Cpu);
      SCOPED_TRACE(::testing::Message() << target << " d " << d);
      expect_close(got.q, want.q, 1e-13, "queries");
      expect_close(got.c, want.c, 1e-13, "centres");
      expect_close(got.w, want.w, 1e-13, "weights");
      EXPECT_NEAR(got.sigma, want.sigma, 1e-13 * std::abs(want.sigma));
    });
  }
}

// The CUDA sweep with the swept rows split across blocks (several launches' worth of
// partial sums added in split order) against the reference sweep, and the same bits on
// every run.
TEST(CudaBackward, SplitsOfTheSweptRowsAddUp) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason();
  for (std::size_t d : {3u, 20u}) {
    const Problem p = awkward_problem(150, 90, d, 0.8, 700 + static_cast<unsigned>(d));
    const auto ld = forward(p);
    const double log_norm = 0.5 * static_cast<double>(d) * std::log(2 * M_PI * p.sigma * p.sigma);
    std::vector<double> log_w(p.n), shift(p.m);
    for (std::size_t j = 0; j < p.n; ++j) log_w[j] = std::log(p.w[j]);
    for (std::size_t i = 0; i < p.m; ++i) shift[i] = -(ld[i] + log_norm);
    struct Sums {
      std::vector<double> s, b, a;
    };
    const auto sweep = [&](int how) {  // 0: reference, else cuda with at most `how` rows per split
      Sums r{std::vector<double>(p.m), std::vector<double>(p.m), std::vector<double>(p.m * d)};
      detail::BackwardSweep s;
      s.owners = p.q.data(), s.n_owners = p.m, s.swept = p.c.data(), s.n_swept = p.n, s.d = d;
      s.sigma = p.sigma, s.a_swept = log_w.data(), s.b_owner = shift.data();
      s.S = r.s.data(), s.B = r.b.data(), s.A = r.a.data();
      if (how == 0) {
        detail::backward_sweep_reference(s);
      } else {
        detail::backward_sweep_cuda(s, static_cast<std::size_t>(how));
      }
      return r;
    };
    const Sums want = sweep(0);
    for (int rows : {1000, 7}) {  // one split; 13 splits
      const Sums got = sweep(rows), again = sweep(rows);
      SCOPED_TRACE(::testing::Message() << "d " << d << ", at most " << rows << " rows per split");
      expect_close(got.s, want.s, 1e-13, "S");
      expect_close(got.b, want.b, 1e-13, "B");
      expect_close(got.a, want.a, 1e-13, "A");
      EXPECT_EQ(got.s, again.s);
      EXPECT_EQ(got.b, again.b);
      EXPECT_EQ(got.a, again.a);
    }
  }
}

}  // namespace
}  // namespace infoflow
