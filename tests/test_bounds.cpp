// Kolchinsky-Tracey pairwise bounds: lower <= truth <= upper, and both -> truth when the
// centres are well separated (docs/method.md#pairwise-bounds; oracle 4 of #test-oracles).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "test_util.hpp"

namespace infoflow {
namespace {

class Bounds : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { INFOFLOW_SKIP_IF_UNAVAILABLE(GetParam()); }
  EntropyResult run(const std::vector<double>& c, std::size_t d, double sigma,
                    std::size_t k = 1) const {
    EntropyOptions o;
    o.sigma = sigma;
    o.bounds = true;
    o.samples_per_center = k;
    o.compute.backend = GetParam();
    return mixture_entropy({c.data(), c.size() / d, d}, o);
  }
};

// Truth by quadrature on random 1-D mixtures over a range of overlaps.
TEST_P(Bounds, BracketQuadratureTruth) {
  for (unsigned seed : {11u, 12u, 13u, 14u}) {
    const auto c = testing::random_matrix(12, 1, seed);
    for (double sigma : {0.05, 0.3, 1.0, 3.0}) {
      const double truth = testing::quadrature_entropy_1d(c, sigma);
      const EntropyResult r = run(c, 1, sigma);
      EXPECT_LE(r.bhattacharyya_lower_nats, truth + 1e-6) << "sigma " << sigma;
      EXPECT_GE(r.kl_upper_nats, truth - 1e-6) << "sigma " << sigma;
    }
  }
}

// The values oracle 4 (docs/method.md#test-oracles) gives for I = h - h(noise) of the +-1 mixture.
TEST_P(Bounds, BinaryInputBrackets) {
  const std::vector<double> c = {-1.0, 1.0};
  const double table[][3] = {{0.5, 0.56622, 0.69281}, {1.0, 0.21907, 0.56622},
                             {2.0, 0.06055, 0.21907}};
  for (const auto& row : table) {
    const EntropyResult r = run(c, 1, row[0]);
    const double h_noise = gaussian_entropy(1, row[0]);
    EXPECT_NEAR(r.bhattacharyya_lower_nats - h_noise, row[1], 1e-5);
    EXPECT_NEAR(r.kl_upper_nats - h_noise, row[2], 1e-5);
  }
}

// Multi-dimensional: the Monte Carlo truth (many draws) lies inside, within its error.
TEST_P(Bounds, BracketMonteCarloTruthInThreeDimensions) {
  const auto c = testing::random_matrix(40, 3, 21);
  const EntropyResult r = run(c, 3, 0.5, 500);
  EXPECT_LE(r.bhattacharyya_lower_nats, r.entropy_nats + 4 * r.stderr_nats);
  EXPECT_GE(r.kl_upper_nats, r.entropy_nats - 4 * r.stderr_nats);
  EXPECT_LT(r.bhattacharyya_lower_nats, r.kl_upper_nats);
}

// Well separated (>= 40 sigma): both bounds equal log n + h(component) to 1e-9.
TEST_P(Bounds, TightForSeparatedCenters) {
  std::vector<double> c;
  for (int i = 0; i < 10; ++i) c.push_back(i * 0.4), c.push_back(-i * 0.4);
  const double sigma = 0.01, truth = std::log(10.0) + gaussian_entropy(2, sigma);
  const EntropyResult r = run(c, 2, sigma);
  EXPECT_NEAR(r.kl_upper_nats, truth, 1e-6 * std::abs(truth));
  EXPECT_NEAR(r.bhattacharyya_lower_nats, truth, 1e-6 * std::abs(truth));
}

INSTANTIATE_TEST_SUITE_P(Backends, Bounds, ::testing::ValuesIn(testing::all_backends()),
                         testing::param_name);

}  // namespace
}  // namespace infoflow
