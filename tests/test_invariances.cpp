// Invariances of h(g) (oracle 14, docs/method.md#test-oracles): permutation of centres, translation, scaling
// h(aS + aZ) = h(S + Z) + d log a, on every backend.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "test_util.hpp"

namespace infoflow {
namespace {

class Invariance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { INFOFLOW_SKIP_IF_UNAVAILABLE(GetParam()); }
  EntropyResult run(const std::vector<double>& c, std::size_t d, double sigma) const {
    EntropyOptions o;
    o.sigma = sigma;
    o.samples_per_center = 50;
    o.bounds = true;
    o.seed = 3;
    o.compute.backend = GetParam();
    return mixture_entropy({c.data(), c.size() / d, d}, o);
  }
};

constexpr std::size_t kD = 4;

// A permutation changes which draws go with which centre, so the Monte Carlo values
// agree within the combined error of two independent estimates; the bounds do not
// depend on the draws and agree to float precision.
TEST_P(Invariance, PermutationOfCenters) {
  auto c = testing::random_matrix(120, kD, 1, 0.3);
  const EntropyResult a = run(c, kD, 0.2);
  std::vector<std::size_t> perm(120);
  for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = i;
  std::shuffle(perm.begin(), perm.end(), std::mt19937(4));
  std::vector<double> p;
  for (std::size_t i : perm) p.insert(p.end(), c.begin() + i * kD, c.begin() + (i + 1) * kD);
  const EntropyResult b = run(p, kD, 0.2);
  EXPECT_NEAR(a.entropy_nats, b.entropy_nats, 4 * std::hypot(a.stderr_nats, b.stderr_nats));
  EXPECT_NEAR(a.kl_upper_nats, b.kl_upper_nats, 1e-6 * std::abs(a.kl_upper_nats));
  EXPECT_NEAR(a.bhattacharyya_lower_nats, b.bhattacharyya_lower_nats,
              1e-6 * std::abs(a.bhattacharyya_lower_nats));
}

// Same seed, same draws: a translated problem is the same problem to rounding.
TEST_P(Invariance, Translation) {
  auto c = testing::random_matrix(100, kD, 2);
  const EntropyResult a = run(c, kD, 0.3);
  for (std::size_t i = 0; i < c.size(); ++i) c[i] += (i % kD == 0) ? 25.0 : -3.5;
  const EntropyResult b = run(c, kD, 0.3);
  EXPECT_NEAR(a.entropy_nats, b.entropy_nats, 1e-5 * std::abs(a.entropy_nats));
  EXPECT_NEAR(a.kl_upper_nats, b.kl_upper_nats, 1e-5 * std::abs(a.kl_upper_nats));
}

TEST_P(Invariance, Scaling) {
  auto c = testing::random_matrix(100, kD, 3);
  const EntropyResult a = run(c, kD, 0.3);
  for (double s : {1e-3, 7.0, 1e4}) {
    std::vector<double> sc(c);
    for (double& v : sc) v *= s;
    const EntropyResult b = run(sc, kD, 0.3 * s);
    const double shift = kD * std::log(s);
    EXPECT_NEAR(b.entropy_nats, a.entropy_nats + shift, 1e-5 * std::max(1.0, std::abs(b.entropy_nats)));
    EXPECT_NEAR(b.kl_upper_nats, a.kl_upper_nats + shift, 1e-5 * std::max(1.0, std::abs(b.kl_upper_nats)));
    EXPECT_NEAR(b.stderr_nats, a.stderr_nats, 1e-4 * a.stderr_nats);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Invariance, ::testing::ValuesIn(testing::all_backends()),
                         testing::param_name);

}  // namespace
}  // namespace infoflow
