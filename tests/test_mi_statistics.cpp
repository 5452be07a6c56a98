// The estimator's statistics beyond the Monte Carlo error (docs/method.md#bootstrap-resample,
// #numerical-error, #bias-extrapolation, #bounds-on-the-information): the authors'
// bootstrap resample against the entropy of each draw and its mean over draws, clipping,
// the numerical error bound against the float64 reference, the 1/K extrapolation of the
// plug-in bias against closed forms, the pairwise bounds of I against closed forms
// and quadrature, and --target-stderr against quadrature, reached and capped.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "infoflow/network.hpp"
#include "test_util.hpp"

namespace infoflow {
namespace {

DenseLayer dense(std::size_t in, std::size_t out, std::vector<double> w, std::vector<double> b, Activation a) {
  return {in, out, std::move(w), std::move(b), a};
}

// The 4096 12-bit patterns, most significant bit first (the SZT inputs).
std::vector<double> twelve_bit_inputs() {
  std::vector<double> x(4096 * 12);
  for (std::size_t i = 0; i < 4096; ++i) {
    for (std::size_t b = 0; b < 12; ++b) x[i * 12 + b] = static_cast<double>((i >> (11 - b)) & 1);
  }
  return x;
}

// T_1 = X + noise (12 -> 12 identity), then T_2 = T_1 + noise (identity again), then logits:
// at beta = 0.01 the 4096 patterns (at least 1 apart) are 100 beta apart in both layers.
Network identity_net() {
  std::vector<double> eye(144, 0.0);
  for (std::size_t i = 0; i < 12; ++i) eye[i * 13] = 1;
  Network net;
  net.layers = {dense(12, 12, eye, std::vector<double>(12, 0.0), Activation::Linear),
                dense(12, 12, eye, std::vector<double>(12, 0.0), Activation::Linear),
                dense(12, 2, std::vector<double>(24, 0.1), {0.0, 0.0}, Activation::Linear)};
  return net;
}

// -sum_x (c_x/n) ln(c_x/n) over the counts of the drawn rows.
double entropy_of_draw(const std::vector<std::size_t>& rows, std::size_t n) {
  std::map<std::size_t, double> count;
  for (std::size_t r : rows) count[r] += 1;
  double h = 0;
  for (const auto& [row, c] : count) h -= c / n * std::log(c / n);
  return h;
}

// E[c ln c] for c ~ Binomial(n, 1/n), summed over the pmf until it is negligible.
double expected_c_log_c(std::size_t n) {
  const double p = 1.0 / n;
  double e = 0;
  for (std::size_t c = 2; c <= n && c < 60; ++c) {
    const double log_pmf = std::lgamma(n + 1.0) - std::lgamma(c + 1.0) - std::lgamma(n - c + 1.0) + c * std::log(p) +
                           (n - c) * std::log1p(-p);
    e += std::exp(log_pmf) * c * std::log(static_cast<double>(c));
  }
  return e;
}

// Separated inputs: I(X^;T_1) is the draw's own H(X^), exactly with one query per centre
// (every query then scores -ln(c/n) + h_beta), and within its standard error with the
// default budget of per-mixture queries.
TEST(SpBootstrap, SeparatedInputsGiveTheEntropyOfTheDraw) {
  const auto x = twelve_bit_inputs();
  const Network net = identity_net();
  MutualInformationOptions o;
  o.beta = 0.01, o.samples_per_input = 1, o.layers = {1};
  o.resample_inputs = InputResample::Bootstrap;
  o.compute.backend = Backend::Cpu;
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    o.seed = seed;
    o.mc_samples_per_center = 1;
    const auto r = mutual_information(net, {x.data(), 4096, 12}, {}, o);
    ASSERT_EQ(r.resampled_rows.size(), 4096u);
    const double h = entropy_of_draw(r.resampled_rows, 4096);
    EXPECT_LT(h, std::log(4096.0) - 0.4) << "a bootstrap draw repeats about a third of the rows";
    EXPECT_NEAR(r.input_entropy_nats, h, 1e-12);
    EXPECT_NEAR(r.layers[0].I_XT_nats, h, 1e-3) << "seed " << seed;
    o.mc_samples_per_center = 0;
    const auto q = mutual_information(net, {x.data(), 4096, 12}, {}, o);
    EXPECT_EQ(q.resampled_rows, r.resampled_rows) << "the draw depends on the seed only";
    EXPECT_NEAR(q.layers[0].I_XT_nats, h, 4 * q.layers[0].I_XT_stderr_nats + 1e-3) << "seed " << seed;
  }
  // Without the resample every row is used once: ln 4096.
  o.resample_inputs = InputResample::None, o.seed = 1, o.mc_samples_per_center = 1;
  const auto plain = mutual_information(net, {x.data(), 4096, 12}, {}, o);
  EXPECT_TRUE(plain.resampled_rows.empty());
  EXPECT_NEAR(plain.input_entropy_nats, std::log(4096.0), 1e-12);
  EXPECT_NEAR(plain.layers[0].I_XT_nats, std::log(4096.0), 1e-3);
}

// The mean of H(X^) over draws is ln n - E[c ln c], c ~ Binomial(n, 1/n): 7.744 nats for
// n = 4096 (the paper's layer-1 level), 4.8 for n = 256 (more draws, cheaper).
TEST(SpBootstrap, MeanOverDrawsMatchesTheBinomialValue) {
  const auto x = twelve_bit_inputs();
  const Network net = identity_net();
  for (const auto& [n, draws] : {std::pair<std::size_t, int>{4096, 40}, std::pair<std::size_t, int>{256, 200}}) {
    MutualInformationOptions o;
    o.beta = 0.01, o.samples_per_input = 1, o.layers = {1}, o.mc_samples_per_center = 1;
    o.resample_inputs = InputResample::Bootstrap;
    o.compute.backend = Backend::Cpu;
    double sum = 0, sum2 = 0;
    for (int s = 0; s < draws; ++s) {
      o.seed = 1000 + s;
      const double i = mutual_information(net, {x.data(), n, 12}, {}, o).layers[0].I_XT_nats;
      sum += i, sum2 += i * i;
    }
    const double mean = sum / draws, se = std::sqrt((sum2 / draws - mean * mean) / (draws - 1));
    const double expected = std::log(static_cast<double>(n)) - expected_c_log_c(n);
    if (n == 4096) EXPECT_NEAR(expected, 7.744, 5e-4);
    EXPECT_NEAR(mean, expected, 4 * se + 1e-3) << "n = " << n << ", standard error " << se;
    EXPECT_GT(se, 0) << "draws differ with the seed";
  }
}

// An input drawn c times enters the pooled mixture of T_2 with c K samples but its own
// conditional terms with K each: the plug-in biases no longer cancel, and I(X^;T_2) exceeds
// I(X^;T_1) = H(X^) (the authors' layer 2 > layer 1). Without the resample (every input
// once, far from every other) they cancel and I(X;T_2) = I(X;T_1) within the Monte Carlo
// error. Duplicates sharing their passes would cancel too.
TEST(SpBootstrap, DuplicatesHaveTheirOwnPassesAndBreakTheCancellation) {
  const auto x = twelve_bit_inputs();
  Network net = identity_net();
  for (double& w : net.layers[0].weight) w *= 0.2;  // 20 beta apart: separated, cheap to prune
  MutualInformationOptions o;
  o.beta = 0.01, o.samples_per_input = 4, o.seed = 9, o.mc_queries = 1 << 15;
  o.compute.backend = Backend::Cpu;
  const std::size_t n = 1024;
  const auto plain = mutual_information(net, {x.data(), n, 12}, {}, o);
  o.resample_inputs = InputResample::Bootstrap;
  const auto boot = mutual_information(net, {x.data(), n, 12}, {}, o);
  const auto excess = [](const MutualInformationResult& r) {
    return std::pair{r.layers[1].I_XT_nats - r.layers[0].I_XT_nats,
                     std::hypot(r.layers[1].I_XT_stderr_nats, r.layers[0].I_XT_stderr_nats)};
  };
  const auto [e_plain, se_plain] = excess(plain);
  const auto [e_boot, se_boot] = excess(boot);
  std::printf("[ K = 4 ] I(X;T_2) - I(X;T_1): every input once %.4f +- %.4f, bootstrap %.4f +- %.4f\n", e_plain,
              se_plain, e_boot, se_boot);
  EXPECT_NEAR(e_plain, 0.0, 4 * se_plain + 1e-3);
  EXPECT_GT(e_boot, 0.05);
  EXPECT_GT(e_boot, 6 * se_boot);
}

TEST(SpBootstrap, RefusesWhatItCannotDo) {
  const auto x = twelve_bit_inputs();
  MutualInformationOptions o;
  o.beta = 0.01, o.resample_inputs = InputResample::Bootstrap;
  o.input_weights.assign(16, 1.0 / 16);
  try {
    mutual_information(identity_net(), {x.data(), 16, 12}, {}, o);
    ADD_FAILURE() << "bootstrap with input weights accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("input weights"), std::string::npos) << e.what();
  }
  o.input_weights.clear();
  try {
    sample_information({x.data(), 16, 12}, 4, {}, o);
    ADD_FAILURE() << "bootstrap on caller samples accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("passes of its own"), std::string::npos) << e.what();
  }
  EXPECT_EQ(parse_input_resample("bootstrap"), InputResample::Bootstrap);
  EXPECT_EQ(input_resample_name(InputResample::None), "none");
  EXPECT_THROW(parse_input_resample("jackknife"), InvalidArgument);
}

// Clipping replaces each negative I by 0 and changes nothing else: the same draws give the
// same h terms and the same positive values.
TEST(SpClip, EveryIAtLeastZeroAndNothingElseChanges) {
  // All inputs on one point: true I = 0, so about half the plain Monte Carlo estimates
  // (no control variate) fall below 0.
  Network net;
  net.layers = {dense(2, 3, std::vector<double>(6, 0.0), {0.1, 0.2, 0.3}, Activation::Tanh),
                dense(3, 2, std::vector<double>(6, 0.0), {0.0, 0.1}, Activation::Tanh),
                dense(2, 2, std::vector<double>(4, 1.0), {0.0, 0.0}, Activation::Linear)};
  const auto x = testing::random_matrix(40, 2, 3);
  std::vector<std::int64_t> y(40);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<std::int64_t>(i % 2);
  MutualInformationOptions o;
  o.beta = 0.1, o.samples_per_input = 8, o.mc_queries = 500, o.control_variate = false;
  o.bias_correction = true, o.bounds = true;
  o.compute.backend = Backend::Cpu;
  std::size_t negative = 0;
  for (std::uint64_t seed : {1u, 2u, 3u, 4u}) {
    o.seed = seed;
    o.clip_at_zero = false;
    const auto raw = mutual_information(net, {x.data(), 40, 2}, {y.data(), 40}, o);
    o.clip_at_zero = true;
    const auto clip = mutual_information(net, {x.data(), 40, 2}, {y.data(), 40}, o);
    for (std::size_t l = 0; l < raw.layers.size(); ++l) {
      const auto& a = raw.layers[l];
      const auto& b = clip.layers[l];
      EXPECT_EQ(a.h_T_nats, b.h_T_nats);
      EXPECT_EQ(a.h_T_given_X_nats, b.h_T_given_X_nats);
      EXPECT_EQ(a.I_XT_bias_nats, b.I_XT_bias_nats);
      const std::pair<double, double> pairs[] = {
          {a.I_XT_nats, b.I_XT_nats},           {a.I_YT_nats, b.I_YT_nats},
          {a.I_XT_debiased_nats, b.I_XT_debiased_nats}, {a.I_YT_debiased_nats, b.I_YT_debiased_nats},
          {a.I_XT_lower_nats, b.I_XT_lower_nats}, {a.I_YT_lower_nats, b.I_YT_lower_nats},
          {a.I_XT_upper_nats, b.I_XT_upper_nats}, {a.I_YT_upper_nats, b.I_YT_upper_nats}};
      for (const auto& [before, after] : pairs) {
        EXPECT_EQ(after, std::max(0.0, before));
        negative += before < 0;
      }
    }
  }
  EXPECT_GE(negative, 8u) << "the case must have negative estimates to clip";
}

// Differential entropy of the 1-D mixture (1/n) sum_i N(c_i, beta^2) by the trapezoid rule
// over +-12 beta beyond the centres (the density there is below 1e-31).
double mixture_entropy_1d(const std::vector<double>& c, double beta) {
  const double lo = *std::min_element(c.begin(), c.end()) - 12 * beta;
  const double hi = *std::max_element(c.begin(), c.end()) + 12 * beta;
  const std::size_t steps = 200000;
  const double dx = (hi - lo) / steps, norm = 1 / (c.size() * beta * std::sqrt(2 * M_PI));
  double h = 0;
  for (std::size_t i = 0; i <= steps; ++i) {
    const double t = lo + i * dx;
    double p = 0;
    for (double ci : c) p += std::exp(-0.5 * (t - ci) * (t - ci) / (beta * beta));
    p *= norm;
    if (p > 0) h -= (i == 0 || i == steps ? 0.5 : 1.0) * p * std::log(p) * dx;
  }
  return h;
}

// --target-stderr: queries double until every term's standard error is below the target;
// an unreachable target stops at the cap of 2^24 queries per term and says so, with an
// estimate that is still right within its (larger) error. 4 inputs x 2 passes in 1-D,
// against quadrature of h(T) and h(T|X); no control variate, so the error is the plain
// Monte Carlo one.
struct TargetCase {
  std::vector<double> s = {-1.0, -0.7, 0.0, 0.1, 0.8, 1.5, 2.0, 2.2};  // input x: rows 2x, 2x+1
  double beta = 0.5;
  double h_T() const { return mixture_entropy_1d(s, beta); }
  double h_T_given_X() const {
    double h = 0;
    for (std::size_t x = 0; x < 4; ++x) h += mixture_entropy_1d({s[2 * x], s[2 * x + 1]}, beta) / 4;
    return h;
  }
  LayerInformation run(double target) const {
    MutualInformationOptions o;
    o.beta = beta, o.target_stderr = target, o.control_variate = false, o.seed = 11;
    o.compute.backend = Backend::Cpu;
    return sample_information({s.data(), 8, 1}, 2, {}, o);
  }
};

TEST(SpTargetStderr, DoublesTheQueriesUntilEveryTermIsBelowTheTarget) {
  const TargetCase c;
  const double target = 2e-3;
  const LayerInformation l = c.run(target);
  EXPECT_TRUE(l.target_stderr_met);
  EXPECT_GT(l.mc_queries, 8192u) << "the default budget must not already meet the target";
  EXPECT_LE(l.h_T_stderr_nats, target);
  EXPECT_LE(l.h_T_given_X_stderr_nats, target);
  EXPECT_NEAR(l.h_T_nats, c.h_T(), 4 * l.h_T_stderr_nats + 1e-5);
  EXPECT_NEAR(l.h_T_given_X_nats, c.h_T_given_X(), 4 * l.h_T_given_X_stderr_nats + 1e-5);
}

TEST(SpTargetStderr, AnUnreachableTargetStopsAtTheCapAndSaysSo) {
  const TargetCase c;
  const double target = 1e-9;
  const LayerInformation l = c.run(target);
  EXPECT_FALSE(l.target_stderr_met);
  EXPECT_GE(l.mc_queries, std::size_t{1} << 24);
  EXPECT_LT(l.mc_queries, std::size_t{1} << 26) << "the doubling must stop at the cap";
  EXPECT_GT(l.h_T_stderr_nats, target);
  EXPECT_GT(l.h_T_stderr_nats, 0.0);
  EXPECT_NEAR(l.h_T_nats, c.h_T(), 4 * l.h_T_stderr_nats + 1e-5);
  EXPECT_NEAR(l.h_T_given_X_nats, c.h_T_given_X(), 4 * l.h_T_given_X_stderr_nats + 1e-5);
}

// numerical_error_nats bounds |fast - float64 reference| for every I the layer reports,
// with the same draws: small and large |h| (beta from 1e-4 to 1 of the data's scale),
// pruned and exact, with labels and the bias correction.
class SpNumericalError : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { INFOFLOW_SKIP_IF_UNAVAILABLE(GetParam()); }
};

TEST_P(SpNumericalError, BoundsTheDistanceToTheFloat64Reference) {
  struct Case {
    double beta, tolerance;
    Activation act;
    double gain;
  };
  const Case cases[] = {{0.005, 1e-6, Activation::Tanh, 4.0},  // the SZT scale: h(T_1) ~ -30
                        {1e-4, 1e-6, Activation::Tanh, 4.0},   // |h| ~ 70: the relative term dominates
                        {1e-4, 0.0, Activation::Tanh, 4.0},
                        {0.3, 1e-6, Activation::Relu, 1.0}};   // overlapping, |h| ~ 1
  const auto x = testing::random_matrix(200, 6, 17);
  std::vector<std::int64_t> y(200);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<std::int64_t>(i % 3);
  for (const Case& c : cases) {
    Network net = testing::random_network({6, 8, 5, 3, 2}, {c.act, c.act, c.act, Activation::Linear}, 23);
    for (auto& l : net.layers) {
      for (double& w : l.weight) w *= c.gain / 1.5;
    }
    MutualInformationOptions o;
    o.beta = c.beta, o.samples_per_input = 8, o.seed = 3, o.mc_queries = 2000, o.bias_correction = true;
    o.compute.tolerance = c.tolerance;
    o.compute.backend = Backend::Reference;
    const auto ref = mutual_information(net, {x.data(), 200, 6}, {y.data(), 200}, o);
    o.compute.backend = GetParam();
    const auto fast = mutual_information(net, {x.data(), 200, 6}, {y.data(), 200}, o);
    double worst_ratio = 0;
    for (std::size_t l = 0; l < ref.layers.size(); ++l) {
      const auto& a = fast.layers[l];
      const auto& b = ref.layers[l];
      EXPECT_EQ(b.numerical_error_nats, 0.0) << "the reference is float64 with every pair";
      EXPECT_GT(a.numerical_error_nats, 0.0);
      const std::pair<double, double> pairs[] = {{a.I_XT_nats, b.I_XT_nats},
                                                 {a.I_YT_nats, b.I_YT_nats},
                                                 {a.I_XT_debiased_nats, b.I_XT_debiased_nats},
                                                 {a.I_YT_debiased_nats, b.I_YT_debiased_nats}};
      for (const auto& [f, r] : pairs) {
        EXPECT_LE(std::abs(f - r), a.numerical_error_nats)
            << "beta " << c.beta << " tolerance " << c.tolerance << " layer " << l + 1 << ": " << f << " vs " << r;
        worst_ratio = std::max(worst_ratio, std::abs(f - r) / a.numerical_error_nats);
      }
    }
    std::printf("[ beta %g, tolerance %g ] |h(T_1)| = %.1f, worst |fast - reference| / bound = %.3f\n", c.beta,
                c.tolerance, std::abs(ref.layers[0].h_T_nats), worst_ratio);
  }
}

// The reference is the other side of every comparison (and must report 0 itself).
INSTANTIATE_TEST_SUITE_P(Backends, SpNumericalError, ::testing::Values(Backend::Cpu, Backend::Cuda),
                         testing::param_name);

// Synthetic layers with a closed-form truth: given x, the samples S are N(mu_x, s^2 I_d),
// with mu_x one of two points far apart (half the inputs each, the label saying which), so
// T = S + beta Z gives I(X;T) = I(Y;T) = ln 2 exactly (up to e^-(D^2/8(s^2 + beta^2)) ~
// 1e-40). The K-sample plug-in of h(T|X) is biased low, so I(X;T) is biased up, here by
// about 1.45/K (docs/method.md#bias-extrapolation). Over independent sample sets (whose
// spread the Monte Carlo standard error does not cover) the mean debiased value must not
// overshoot ln 2 beyond 4 standard errors and must remove at least 60% of the bias: the
// line in 1/K leaves the higher-order part, measured here at about a third of the bias at
// K = 64 (decaying like K^-3/2), which docs/method.md states.
TEST(SpBiasCorrection, RemovesMostOfThePlugInBiasOfSyntheticLayers) {
  const std::size_t m = 16, K = 64, d = 2;
  const double s = 1.0, beta = 1.0, D = 60;
  std::vector<std::int64_t> y(m);
  for (std::size_t i = 0; i < m; ++i) y[i] = static_cast<std::int64_t>(i % 2);
  MutualInformationOptions o;
  o.beta = beta, o.mc_queries = 1 << 16, o.bias_correction = true;
  o.compute.backend = Backend::Cpu;
  const int sets = 12;
  std::vector<double> plain, deb, deb_y;
  for (int set = 0; set < sets; ++set) {
    std::mt19937_64 gen(100 + set);
    std::normal_distribution<double> z(0.0, s);
    std::vector<double> samples(m * K * d);
    for (std::size_t r = 0; r < m * K; ++r) {
      for (std::size_t k = 0; k < d; ++k) samples[r * d + k] = (k == 0 ? D * y[r / K] : 0.0) + z(gen);
    }
    o.seed = set;
    const auto r = sample_information({samples.data(), m * K, d}, K, {y.data(), m}, o);
    plain.push_back(r.I_XT_nats), deb.push_back(r.I_XT_debiased_nats), deb_y.push_back(r.I_YT_debiased_nats);
    EXPECT_NEAR(r.I_XT_bias_nats, r.I_XT_nats - r.I_XT_debiased_nats, 1e-12);
    EXPECT_GT(r.I_XT_debiased_stderr_nats, r.I_XT_stderr_nats) << "the extrapolation adds Monte Carlo noise";
  }
  const auto mean_se = [](const std::vector<double>& v) {
    double sum = 0, sum2 = 0;
    for (double x : v) sum += x, sum2 += x * x;
    const double n = static_cast<double>(v.size()), mean = sum / n;
    return std::pair{mean, std::sqrt((sum2 / n - mean * mean) / (n - 1))};
  };
  const double truth = std::log(2.0);
  const auto [p, p_se] = mean_se(plain);
  const auto [dx, dx_se] = mean_se(deb);
  const auto [dy, dy_se] = mean_se(deb_y);
  std::printf("[ K = %zu ] plain %.4f +- %.4f, debiased %.4f +- %.4f (I(Y;T) %.4f), truth %.4f\n", K, p, p_se, dx,
              dx_se, dy, truth);
  EXPECT_GT(p - truth, 8 * p_se) << "the plug-in must be visibly biased here for the test to mean anything";
  for (const auto& [v, se] : {std::pair{dx, dx_se}, std::pair{dy, dy_se}}) {
    EXPECT_GT(v - truth, -4 * se) << "overshoots the truth";
    EXPECT_LT(v - truth, 0.4 * (p - truth) + 4 * se) << "removes less than 60% of the bias";
  }
}

// On a small noisy network: the debiased value at K = 16 against the plain value at
// K = 512, whose plug-in bias is 32 times smaller (~1e-3 nats here), over seeds; the same
// two criteria.
TEST(SpBiasCorrection, SmallNetworkMovesTowardsLargeK) {
  const Network net = testing::random_network({2, 3, 2, 2}, {Activation::Tanh, Activation::Tanh, Activation::Linear}, 8);
  const auto x = testing::random_matrix(6, 2, 9, 0.2);
  MutualInformationOptions o;
  o.beta = 0.1, o.layers = {2}, o.mc_queries = 1 << 16;
  o.compute.backend = Backend::Cpu;
  const int seeds = 24;
  double plain = 0, deb = 0, deb2 = 0, big = 0, big2 = 0;
  for (int s = 0; s < seeds; ++s) {
    o.seed = 50 + s;
    o.samples_per_input = 16, o.bias_correction = true;
    const auto a = mutual_information(net, {x.data(), 6, 2}, {}, o).layers[0];
    o.samples_per_input = 512, o.bias_correction = false;
    const auto b = mutual_information(net, {x.data(), 6, 2}, {}, o).layers[0];
    plain += a.I_XT_nats / seeds, deb += a.I_XT_debiased_nats / seeds;
    deb2 += a.I_XT_debiased_nats * a.I_XT_debiased_nats / seeds;
    big += b.I_XT_nats / seeds, big2 += b.I_XT_nats * b.I_XT_nats / seeds;
  }
  const double se = std::sqrt((deb2 - deb * deb) / (seeds - 1) + (big2 - big * big) / (seeds - 1));
  std::printf("[ layer 2 ] K = 16: plain %.4f, debiased %.4f; K = 512: %.4f (se of the difference %.4f)\n", plain,
              deb, big, se);
  EXPECT_GT(plain - big, 6 * se) << "the plug-in at K = 16 must be visibly biased here";
  EXPECT_GT(deb - big, -4 * se);
  EXPECT_LT(deb - big, 0.4 * (plain - big) + 4 * se);
}

TEST(SpBiasCorrection, NeedsFourPassesPerInput) {
  const auto x = testing::random_matrix(4, 1, 1);
  MutualInformationOptions o;
  o.beta = 0.1, o.samples_per_input = 3, o.bias_correction = true;
  try {
    sample_information({x.data(), 3, 1}, 3, {}, o);
    ADD_FAILURE() << "K = 3 accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("K >= 4"), std::string::npos) << e.what();
  }
}

// Two inputs mapped to +-a in 1-D, noise beta: the binary Gaussian channel. I by
// quadrature; the pairwise bounds in closed form: lower -ln((1 + e^(-a^2/(2 beta^2)))/2)
// (Bhattacharyya), upper -ln((1 + e^(-2 a^2/beta^2))/2) (KL); at layer 1 the conditional
// term is exact, so these bound the true I, and I(Y;T) with Y = X is the same.
class SpBounds : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { INFOFLOW_SKIP_IF_UNAVAILABLE(GetParam()); }
};

TEST_P(SpBounds, BinaryGaussianChannelMatchesTheClosedForms) {
  const double x[] = {-1.0, 1.0};
  const std::int64_t y[] = {0, 1};
  for (double a_over_beta : {0.3, 1.0, 2.0, 4.0}) {
    const double beta = 0.5, a = a_over_beta * beta;
    Network net;
    net.layers = {dense(1, 1, {a}, {0.0}, Activation::Linear), dense(1, 2, {1.0, -1.0}, {0.0, 0.0}, Activation::Linear)};
    MutualInformationOptions o;
    o.beta = beta, o.samples_per_input = 4, o.bounds = true, o.mc_queries = 1 << 16, o.seed = 2;
    o.compute.backend = GetParam();
    const auto l = mutual_information(net, {x, 2, 1}, {y, 2}, o).layers[0];
    const double r2 = a_over_beta * a_over_beta;
    const double lower = -std::log((1 + std::exp(-r2 / 2)) / 2), upper = -std::log((1 + std::exp(-2 * r2)) / 2);
    const double truth = testing::quadrature_entropy_1d({-a, a}, beta) - gaussian_entropy(1, beta);
    // The bounds are widened by their own float32 and pruning error: a few 1e-5 at most.
    EXPECT_NEAR(l.I_XT_lower_nats, lower, 5e-5) << "a/beta " << a_over_beta;
    EXPECT_NEAR(l.I_XT_upper_nats, upper, 5e-5) << "a/beta " << a_over_beta;
    EXPECT_LE(l.I_XT_lower_nats, lower + 1e-12);
    EXPECT_GE(l.I_XT_upper_nats, upper - 1e-12);
    EXPECT_LE(l.I_XT_lower_nats, truth);
    EXPECT_GE(l.I_XT_upper_nats, truth);
    EXPECT_NEAR(l.I_XT_nats, truth, 4 * l.I_XT_stderr_nats + l.numerical_error_nats);
    // Y = X, but h(T|Y) goes through the pairwise sums of one-centre mixtures (float32),
    // where h(T_1|X) is exact.
    EXPECT_NEAR(l.I_YT_lower_nats, lower, 5e-5);
    EXPECT_NEAR(l.I_YT_upper_nats, upper, 5e-5);
    EXPECT_LE(l.I_YT_lower_nats, lower + 1e-12);
    EXPECT_GE(l.I_YT_upper_nats, upper - 1e-12);
    if (a_over_beta == 1.0) {
      EXPECT_NEAR(lower, 0.21907, 1e-5);  // oracle 4 of docs/method.md#test-oracles
      EXPECT_NEAR(upper, 0.56622, 1e-5);
    }
  }
}

// 1-D mixtures by quadrature: layer 1 of a tanh network (exact components, so the true I),
// and caller samples (m inputs x K passes), where the bounds bracket the plug-in
// I = h(g) - sum_x p(x) h(g_x) of those very samples, I(Y;T) likewise.
TEST_P(SpBounds, BracketOneDimensionalQuadrature) {
  const auto x = testing::random_matrix(7, 1, 31);
  for (double beta : {0.05, 0.2, 0.6}) {
    Network net;
    net.layers = {dense(1, 1, {1.5}, {0.2}, Activation::Tanh), dense(1, 2, {1.0, -1.0}, {0.0, 0.0}, Activation::Linear)};
    MutualInformationOptions o;
    o.beta = beta, o.samples_per_input = 4, o.bounds = true, o.mc_queries = 1 << 15, o.seed = 4;
    o.compute.backend = GetParam();
    const auto l = mutual_information(net, {x.data(), 7, 1}, {}, o).layers[0];
    std::vector<double> s;
    for (double v : x) s.push_back(std::tanh(1.5 * v + 0.2));
    const double truth = testing::quadrature_entropy_1d(s, beta) - gaussian_entropy(1, beta);
    EXPECT_LE(l.I_XT_lower_nats, truth) << "beta " << beta;
    EXPECT_GE(l.I_XT_upper_nats, truth) << "beta " << beta;
    EXPECT_NEAR(l.I_XT_nats, truth, 4 * l.I_XT_stderr_nats + l.numerical_error_nats) << "beta " << beta;
  }
  const std::size_t m = 6, K = 5;
  const auto samples = testing::random_matrix(m * K, 1, 32, 0.5);
  const std::int64_t labels[] = {0, 0, 1, 1, 1, 2};
  for (double beta : {0.1, 0.4}) {
    MutualInformationOptions o;
    o.beta = beta, o.bounds = true, o.mc_queries = 1 << 15, o.seed = 5;
    o.compute.backend = GetParam();
    const auto l = sample_information({samples.data(), m * K, 1}, K, {labels, m}, o);
    const double h = testing::quadrature_entropy_1d(samples, beta);
    double h_x = 0;
    std::map<std::int64_t, std::vector<double>> by_class;
    for (std::size_t i = 0; i < m; ++i) {
      const std::vector<double> own(samples.begin() + i * K, samples.begin() + (i + 1) * K);
      h_x += testing::quadrature_entropy_1d(own, beta) / m;
      by_class[labels[i]].insert(by_class[labels[i]].end(), own.begin(), own.end());
    }
    double h_y = 0;
    for (const auto& [label, c] : by_class) h_y += static_cast<double>(c.size()) / (m * K) * testing::quadrature_entropy_1d(c, beta);
    EXPECT_LE(l.I_XT_lower_nats, h - h_x) << "beta " << beta;
    EXPECT_GE(l.I_XT_upper_nats, h - h_x) << "beta " << beta;
    EXPECT_LE(l.I_YT_lower_nats, h - h_y) << "beta " << beta;
    EXPECT_GE(l.I_YT_upper_nats, h - h_y) << "beta " << beta;
    EXPECT_NEAR(l.I_XT_nats, h - h_x, 4 * l.I_XT_stderr_nats + l.numerical_error_nats) << "beta " << beta;
    EXPECT_NEAR(l.I_YT_nats, h - h_y, 4 * l.I_YT_stderr_nats + l.numerical_error_nats) << "beta " << beta;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, SpBounds, ::testing::ValuesIn(testing::all_backends()), testing::param_name);

}  // namespace
}  // namespace infoflow
