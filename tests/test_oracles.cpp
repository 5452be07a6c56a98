// The closed-form oracles of docs/method.md#test-oracles, each on every backend. Monte Carlo results are
// compared within 4 standard errors (fixed seeds) plus a float tolerance of 1e-6 relative.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "rng/philox_normal.hpp"
#include "test_util.hpp"

namespace infoflow {
namespace {

using testing::all_backends;

class Oracle : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { INFOFLOW_SKIP_IF_UNAVAILABLE(GetParam()); }
  EntropyOptions options(double sigma, std::size_t k, std::uint64_t seed = 1) const {
    EntropyOptions o;
    o.sigma = sigma;
    o.samples_per_center = k;
    o.seed = seed;
    o.compute.backend = GetParam();
    return o;
  }
};

void expect_within_se(const EntropyResult& r, double truth, double n_se = 4) {
  ASSERT_TRUE(std::isfinite(r.entropy_nats));
  ASSERT_TRUE(std::isfinite(r.stderr_nats));
  EXPECT_GT(r.stderr_nats, 0);
  EXPECT_NEAR(r.entropy_nats, truth, n_se * r.stderr_nats + 1e-6 * std::abs(truth))
      << "standard error " << r.stderr_nats;
}

// Oracle 1: one centre. h = (d/2) log(2 pi e sigma^2); -log g(c + Z) = (d/2) log(2 pi
// sigma^2) + ||Z||^2 / (2 sigma^2) has standard deviation sqrt(d/2), so the standard
// error must also match sqrt(d / (2 N)).
TEST_P(Oracle, OneCentre) {
  for (std::size_t d : {1, 3, 10}) {
    const std::vector<double> c = testing::random_matrix(1, d, 7);
    const std::size_t k = 4000;
    EntropyOptions o = options(0.37, k);
    o.control_variate = false;  // the plain estimator: -log g(y) = const + |z|^2/2
    const EntropyResult r = mixture_entropy({c.data(), 1, d}, o);
    expect_within_se(r, gaussian_entropy(d, 0.37));
    EXPECT_NEAR(r.stderr_nats, std::sqrt(d / (2.0 * k)), 0.1 * std::sqrt(d / (2.0 * k)));
    EXPECT_EQ(r.samples, k);
    EXPECT_EQ(r.backend, GetParam());
    // The control variate removes exactly that chi^2 term: the exact value, no MC error
    // (up to float32 rounding of the log-density on the fast backends).
    o.control_variate = true;
    const EntropyResult cv = mixture_entropy({c.data(), 1, d}, o);
    EXPECT_NEAR(cv.entropy_nats, gaussian_entropy(d, 0.37), 1e-5);
    EXPECT_LT(cv.stderr_nats, 1e-6);
  }
}

// The control variate keeps the estimator unbiased and cuts its variance where the draw's
// own component dominates: well separated centres in d = 10 (oracle 3) and a BPSK pair.
TEST_P(Oracle, ControlVariateIsUnbiasedAndCutsTheVariance) {
  const std::size_t n = 30, d = 10;
  std::vector<double> c(n * d, 0.0);
  for (std::size_t i = 0; i < n; ++i) c[i * d + i % d] = 2.0 * (1 + i / d);  // >= 2 apart
  EntropyOptions o = options(0.1, 200);
  o.control_variate = false;
  const EntropyResult plain = mixture_entropy({c.data(), n, d}, o);
  o.control_variate = true;
  const EntropyResult cv = mixture_entropy({c.data(), n, d}, o);
  const double exact = std::log(static_cast<double>(n)) + gaussian_entropy(d, 0.1);  // up to ~e^-50
  expect_within_se(plain, exact);
  EXPECT_NEAR(cv.entropy_nats, exact, 4 * cv.stderr_nats + 1e-5);
  EXPECT_LT(cv.stderr_nats, 1e-3 * plain.stderr_nats);
  // Overlapping components (BPSK at 0 dB, oracle 4 of docs/method.md#test-oracles): still unbiased, smaller error.
  const double bpsk[] = {-1.0, 1.0};
  o = options(1.0, 100000);
  const EntropyResult b = mixture_entropy({bpsk, 2, 1}, o);
  EXPECT_NEAR(b.entropy_nats - gaussian_entropy(1, 1.0), 0.336831, 4 * b.stderr_nats + 1e-5);
  o.control_variate = false;
  EXPECT_LT(b.stderr_nats, mixture_entropy({bpsk, 2, 1}, o).stderr_nats);
}

// The log-density at c + sigma z of one centre is exactly -||z||^2/2 - (d/2) log(2 pi sigma^2).
TEST_P(Oracle, OneCentreLogDensity) {
  const std::size_t d = 5, m = 64;
  const double sigma = 0.25;
  const std::vector<double> c = testing::random_matrix(1, d, 3);
  std::vector<double> q(m * d), z(d), expected(m), out(m);
  for (std::size_t i = 0; i < m; ++i) {
    rng::normal_row(11, rng::Stream::MonteCarloQueries, i, z.data(), d);
    double z2 = 0;
    for (std::size_t k = 0; k < d; ++k) q[i * d + k] = c[k] + sigma * z[k], z2 += z[k] * z[k];
    expected[i] = -z2 / 2 - 0.5 * d * std::log(2 * M_PI * sigma * sigma);
  }
  ComputeOptions o;
  o.backend = GetParam();
  log_density({q.data(), m, d}, {c.data(), 1, d}, {}, sigma, {out.data(), m}, o);
  // float64 reference to 1e-12; float32 backends to float32 precision of ||z||^2 / 2.
  const double tol = GetParam() == Backend::Reference ? 1e-12 : 2e-6;
  for (std::size_t i = 0; i < m; ++i) {
    EXPECT_NEAR(out[i], expected[i], tol * (1 + std::abs(expected[i]))) << "query " << i;
  }
}

// Oracle 2: many identical centres are one centre.
TEST_P(Oracle, IdenticalCenters) {
  const std::size_t n = 50, d = 4;
  const std::vector<double> one = testing::random_matrix(1, d, 9);
  std::vector<double> c;
  for (std::size_t i = 0; i < n; ++i) c.insert(c.end(), one.begin(), one.end());
  const EntropyResult r = mixture_entropy({c.data(), n, d}, options(0.1, 40));
  expect_within_se(r, gaussian_entropy(d, 0.1));
}

// Oracle 3: centres >= 30 sigma apart: h = log n + (d/2) log(2 pi e sigma^2) up to
// n exp(-(30)^2/8), far below the tolerance.
TEST_P(Oracle, FarApartCenters) {
  const std::size_t side = 6, d = 2, n = side * side;
  const double sigma = 0.01;
  std::vector<double> c;
  for (std::size_t i = 0; i < side; ++i) {
    for (std::size_t j = 0; j < side; ++j) c.push_back(0.3 * i), c.push_back(0.3 * j + 5.0);
  }
  const EntropyResult r = mixture_entropy({c.data(), n, d}, options(sigma, 100));
  expect_within_se(r, std::log(static_cast<double>(n)) + gaussian_entropy(d, sigma));
}

// Oracle 6: random 1-D mixtures against numerical quadrature of -integral g log g.
TEST_P(Oracle, OneDimensionalQuadrature) {
  for (unsigned seed : {1u, 2u, 3u}) {
    std::vector<double> c = testing::random_matrix(15, 1, seed);
    const double sigma = 0.2 + 0.2 * seed;
    const double truth = testing::quadrature_entropy_1d(c, sigma);
    expect_within_se(mixture_entropy({c.data(), c.size(), 1}, options(sigma, 2000, seed)),
                     truth);
  }
}

// Oracle 4: binary input +-1 over Gaussian noise; I = h(g) - (1/2) log(2 pi e sigma^2)
// has the textbook values of oracle 4, docs/method.md#test-oracles (0.336831 nats = 0.485944 bits at 0 dB).
TEST_P(Oracle, BinaryInputChannel) {
  const double c[] = {-1.0, 1.0};
  const std::pair<double, double> table[] = {
      {0.5, 0.632720}, {1.0, 0.336831}, {2.0, 0.111421}};
  for (auto [sigma, mi] : table) {
    const EntropyResult r = mixture_entropy({c, 2, 1}, options(sigma, 100000, 5));
    expect_within_se(r, mi + gaussian_entropy(1, sigma));
  }
  // The quadrature helper agrees with the same table, so the other tests' truth is sound.
  EXPECT_NEAR(testing::quadrature_entropy_1d({-1.0, 1.0}, 1.0) - gaussian_entropy(1, 1.0),
              0.336831, 2e-6);
}

// The 2^d vertices of the unit d-cube: the mixture factorises over coordinates, so
// h = d * h(1-D mixture of N(0, sigma^2) and N(1, sigma^2)), known by quadrature.
TEST_P(Oracle, HypercubeFactorises) {
  const std::size_t d = 10, n = std::size_t{1} << d;
  std::vector<double> c(n * d);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < d; ++k) c[i * d + k] = (i >> k) & 1;
  }
  const double sigma = 0.3;
  const double truth = d * testing::quadrature_entropy_1d({0.0, 1.0}, sigma);
  expect_within_se(mixture_entropy({c.data(), n, d}, options(sigma, 4)), truth);
}

INSTANTIATE_TEST_SUITE_P(Backends, Oracle, ::testing::ValuesIn(all_backends()),
                         testing::param_name);

}  // namespace
}  // namespace infoflow
