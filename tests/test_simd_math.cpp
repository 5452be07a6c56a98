// The SIMD paths that replaced scalar libm calls in the noisy forward passes and the
// Monte Carlo draws: rng::normal_rows (Box-Muller with Highway's sin, cos and log) and
// detail::activate_rows (Highway's tanh and exp). Checked against Random123's own scalar
// Box-Muller and glibc, and for the property the estimators rely on: a draw depends on
// (seed, stream, row, k) only, not on how rows are batched.
#include <gtest/gtest.h>

#include <Random123/boxmuller.hpp>
#include <Random123/philox.h>
#include <Random123/uniform.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "nn/forward.hpp"
#include "rng/philox_normal.hpp"
#include "test_util.hpp"

namespace infoflow {
namespace {

// Random123's Philox-4x32-10 of counter (b, row, stream) under `seed`, as its two 64-bit
// words (u0, u1), the reference for everything below.
std::pair<std::uint64_t, std::uint64_t> random123_words(std::uint64_t seed, std::uint32_t stream,
                                                        std::uint64_t row, std::uint32_t b) {
  using Philox = r123::Philox4x32;
  const Philox::key_type key = {{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  const Philox::ctr_type ctr = {{b, static_cast<std::uint32_t>(row), static_cast<std::uint32_t>(row >> 32), stream}};
  const Philox::ctr_type r = Philox()(ctr, key);
  return {(static_cast<std::uint64_t>(r[0]) << 32) | r[1], (static_cast<std::uint64_t>(r[2]) << 32) | r[3]};
}

// Random123's scalar Box-Muller (glibc sincos and log) of the same Philox words.
double scalar_normal(std::uint64_t seed, rng::Stream stream, std::uint64_t row, std::size_t k) {
  const auto [u0, u1] = random123_words(seed, static_cast<std::uint32_t>(stream), row, static_cast<std::uint32_t>(k / 2));
  const r123::double2 z = r123::boxmuller(u0, u1);
  return k % 2 == 0 ? z.x : z.y;
}

TEST(NormalRows, MatchRandom123ScalarBoxMuller) {
  testing::on_every_simd_target([](const char* target) {
  const std::uint64_t seed = 0x123456789abcdefULL, row0 = (1ULL << 32) - 100;  // rows cross 2^32
  for (const std::size_t d : {1, 2, 7, 12}) {
    const std::size_t rows = 3000;
    std::vector<double> z(rows * d);
    rng::normal_rows(seed, rng::Stream::MonteCarloQueries, row0, rows, d, z.data());
    double worst = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t k = 0; k < d; ++k) {
        const double want = scalar_normal(seed, rng::Stream::MonteCarloQueries, row0 + r, k);
        worst = std::max(worst, std::abs(z[r * d + k] - want) / std::max(1.0, std::abs(want)));
      }
    }
    // A few ulp of sin, cos and log (Highway's within 3, glibc's within 1) of values below
    // ~6 in size; a wrong counter or word order would be off by O(1).
    EXPECT_LT(worst, 1e-14) << target << " d = " << d;
  }
  });
}

// The integer part must be exact: any wrong bit of a Philox word moves a draw. The
// conversion to uniforms too, since u01 and uneg11 only scale by powers of two.
TEST(NormalRows, PhiloxUniformsEqualRandom123BitForBit) {
  testing::on_every_simd_target([](const char* target) {
    const std::uint64_t seed = 0xfedcba9876543210ULL;
    const std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
    std::mt19937_64 gen(5);
    const std::size_t n = 4096;
    std::vector<std::uint64_t> b(n), row(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = gen() % 1000, row[i] = i < 8 ? ~std::uint64_t{0} - i : gen();
    std::vector<double> x(n), y(n);
    rng::detail::philox_uniforms(b.data(), row.data(), n, 16 + 3, k0, k1, x.data(), y.data());
    for (std::size_t i = 0; i < n; ++i) {
      const auto [u0, u1] = random123_words(seed, 16 + 3, row[i], static_cast<std::uint32_t>(b[i]));
      ASSERT_EQ(x[i], r123::uneg11<double>(u0)) << target << " " << i;
      ASSERT_EQ(y[i], r123::u01<double>(u1)) << target << " " << i;
    }
  });
}

TEST(NormalRows, DoNotDependOnBatching) {
  const std::uint64_t seed = 7;
  for (const std::size_t d : {3, 10}) {
    const std::size_t rows = 1000;
    std::vector<double> whole(rows * d), parts(rows * d), single(rows * d);
    rng::normal_rows(seed, rng::layer_noise(2), 50, rows, d, whole.data());
    // Split at places that fall inside the generator's batches of 256 pairs.
    std::size_t r = 0;
    for (const std::size_t n : {1, 333, 77, 589}) {
      rng::normal_rows(seed, rng::layer_noise(2), 50 + r, n, d, parts.data() + r * d);
      r += n;
    }
    ASSERT_EQ(r, rows);
    for (r = 0; r < rows; ++r) rng::normal_row(seed, rng::layer_noise(2), 50 + r, single.data() + r * d, d);
    for (std::size_t i = 0; i < rows * d; ++i) {
      ASSERT_EQ(whole[i], parts[i]) << "d = " << d << ", value " << i;
      ASSERT_EQ(whole[i], single[i]) << "d = " << d << ", value " << i;
    }
  }
}

TEST(NormalRows, AreStandardNormal) {
  const std::size_t rows = 50000, d = 4, n = rows * d;
  std::vector<double> z(n);
  rng::normal_rows(11, rng::Stream::MonteCarloQueries, 0, rows, d, z.data());
  double mean = 0, var = 0, tail = 0;
  for (double v : z) mean += v / n;
  for (double v : z) var += (v - mean) * (v - mean) / (n - 1), tail += std::abs(v) > 1.959964 ? 1.0 / n : 0;
  // Standard errors: mean 1/sqrt(n), variance sqrt(2/n), the 5% tail sqrt(.05 .95 / n);
  // within 5 of each, fixed seed.
  EXPECT_NEAR(mean, 0, 5 / std::sqrt(n));
  EXPECT_NEAR(var, 1, 5 * std::sqrt(2.0 / n));
  EXPECT_NEAR(tail, 0.05, 5 * std::sqrt(0.05 * 0.95 / n));
}

TEST(ActivateRows, EmptyBlocksAreLeftAlone) {
  double x[2] = {0.5, -0.5};
  const double bias[1] = {1.0};
  detail::activate_rows(Activation::Tanh, bias, 0, x, 2);  // no columns
  detail::activate_rows(Activation::Tanh, bias, 1, x, 0);  // no rows
  EXPECT_EQ(x[0], 0.5);
  EXPECT_EQ(x[1], -0.5);
}

TEST(ActivateRows, MatchesScalarActivationForEveryWidth) {
  testing::on_every_simd_target([](const char* target) {
  std::mt19937 gen(3);
  std::uniform_real_distribution<double> u(-25, 25);  // tanh and sigmoid saturate out there
  for (const Activation a : {Activation::Tanh, Activation::Relu, Activation::LeakyRelu,
                             Activation::Sigmoid, Activation::Linear}) {
    for (std::size_t width = 1; width <= 13; ++width) {
      for (const std::size_t rows : {1, 3, 17}) {
        std::vector<double> bias(width), x(rows * width);
        for (double& b : bias) b = u(gen) / 10;
        for (double& v : x) v = u(gen);
        x[0] = 1e-9;  // tanh's and sigmoid's small-argument branch
        std::vector<double> got = x;
        detail::activate_rows(a, bias.data(), width, got.data(), rows);
        for (std::size_t i = 0; i < x.size(); ++i) {
          const double want = activate(a, x[i] + bias[i % width]);
          ASSERT_NEAR(got[i], want, 1e-14 * std::max(1e-300, std::abs(want)) + 1e-300)
              << target << " " << activation_name(a) << " width " << width << " rows " << rows
              << " value " << i;
        }
      }
    }
  }
  });
}

}  // namespace
}  // namespace infoflow
