// The sample-propagation estimator against closed forms (docs/method.md#sample-propagation,
// #test-oracles): the binary Gaussian channel, separated and collapsed representations,
// the exact layer-1 conditional term, data processing along the chain, I(Y;T) <= I(X;T),
// and backends.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "infoflow/network.hpp"
#include "nn/forward.hpp"
#include "test_util.hpp"

namespace infoflow {
namespace {

DenseLayer dense(std::size_t in, std::size_t out, std::vector<double> w, std::vector<double> b,
                 Activation a) {
  return {in, out, std::move(w), std::move(b), a};
}

DenseLayer random_dense(std::size_t in, std::size_t out, Activation a, std::mt19937_64& gen,
                        double gain = 1.0) {
  std::uniform_real_distribution<double> u(-gain / std::sqrt(in), gain / std::sqrt(in));
  DenseLayer l{in, out, std::vector<double>(in * out), std::vector<double>(out), a};
  for (double& v : l.weight) v = u(gen);
  for (double& v : l.bias) v = u(gen);
  return l;
}

class SpEstimator : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { INFOFLOW_SKIP_IF_UNAVAILABLE(GetParam()); }
  MutualInformationOptions options(double beta, std::size_t k = 20) const {
    MutualInformationOptions o;
    o.beta = beta;
    o.samples_per_input = k;
    o.seed = 5;
    o.compute.backend = GetParam();
    return o;
  }
};

// Two inputs {0, 1} mapped by a linear layer to -a and +a: I(X;T_1) is the mutual
// information of binary input over a Gaussian channel, 0.485944 bits at a/beta = 1.
TEST_P(SpEstimator, BinaryGaussianChannel) {
  Network net;
  net.layers = {dense(1, 1, {2.0}, {-1.0}, Activation::Linear),
                dense(1, 2, {1.0, -1.0}, {0.0, 0.0}, Activation::Linear)};
  const double x[] = {0.0, 1.0};
  MutualInformationOptions o = options(1.0);
  o.mc_queries = 200000;
  const auto r = mutual_information(net, {x, 2, 1}, {}, o);
  ASSERT_EQ(r.layers.size(), 1u);
  const double exact = 0.485944 * std::log(2.0);
  EXPECT_NEAR(r.layers[0].I_XT_nats, exact, 4 * r.layers[0].I_XT_stderr_nats + 1e-6);
  EXPECT_NEAR(exact, testing::quadrature_entropy_1d({-1.0, 1.0}, 1.0) - gaussian_entropy(1, 1.0), 1e-6);
  // Layer 1 is deterministic given x: the conditional term is the noise entropy, exactly.
  EXPECT_DOUBLE_EQ(r.layers[0].h_T_given_X_nats, gaussian_entropy(1, 1.0));
  EXPECT_DOUBLE_EQ(r.layers[0].I_XT_nats, r.layers[0].h_T_nats - gaussian_entropy(1, 1.0));
}

// m inputs mapped 100 beta apart: I(X;T_l) -> log m in every layer; all inputs mapped to one
// point: I(X;T_l) -> 0.
TEST_P(SpEstimator, SeparatedAndCollapsedRepresentations) {
  const std::size_t m = 8;
  std::vector<double> x(m);
  for (std::size_t i = 0; i < m; ++i) x[i] = static_cast<double>(i);
  Network far;
  far.layers = {dense(1, 2, {1.0, -1.0}, {0.0, 0.0}, Activation::Linear),
                dense(2, 2, {1.0, 0.0, 0.0, 1.0}, {0.0, 0.0}, Activation::Linear),
                dense(2, 1, {1.0, 1.0}, {0.0}, Activation::Linear)};
  const auto r = mutual_information(far, {x.data(), m, 1}, {}, options(0.01));
  ASSERT_EQ(r.layers.size(), 2u);
  for (const auto& l : r.layers) EXPECT_NEAR(l.I_XT_nats, std::log(8.0), 4 * l.I_XT_stderr_nats + 1e-3);
  Network collapsed = far;
  collapsed.layers[0].weight = {0.0, 0.0};
  // Layer 2's conditional term is a plug-in from K samples per input, biased low
  // (docs/method.md#plug-in-bias), which biases I(X;T_2) up: 0.076 nats at K = 20 here; at
  // K = 400 it is below 0.01.
  const auto c = mutual_information(collapsed, {x.data(), m, 1}, {}, options(0.01, 400));
  for (const auto& l : c.layers) EXPECT_NEAR(l.I_XT_nats, 0.0, 4 * l.I_XT_stderr_nats + 0.01);
}

// Data processing along a random tanh chain, with K large enough that the negative bias
// of the conditional plug-in terms (docs/method.md#plug-in-bias) stays below the 0.05-nat tolerance.
TEST_P(SpEstimator, DataProcessingAndLabels) {
  std::mt19937_64 gen(3);
  Network net;
  net.layers = {random_dense(4, 5, Activation::Tanh, gen, 3.0), random_dense(5, 4, Activation::Tanh, gen, 3.0),
                random_dense(4, 3, Activation::Tanh, gen, 3.0), random_dense(3, 2, Activation::Linear, gen)};
  const std::size_t m = 16;
  std::vector<double> x(m * 4);
  std::vector<std::int64_t> y(m);
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t k = 0; k < 4; ++k) x[i * 4 + k] = (i >> k) & 1;
    y[i] = (i % 3 == 0);
  }
  MutualInformationOptions o = options(0.1, 200);
  o.mc_queries = 20000;
  const auto r = mutual_information(net, {x.data(), m, 4}, {y.data(), m}, o);
  ASSERT_EQ(r.layers.size(), 3u);
  const double h_y = -(6.0 / 16) * std::log(6.0 / 16) - (10.0 / 16) * std::log(10.0 / 16);
  for (std::size_t l = 0; l < r.layers.size(); ++l) {
    const auto& a = r.layers[l];
    EXPECT_GE(a.I_XT_nats, -4 * a.I_XT_stderr_nats);
    EXPECT_LE(a.I_XT_nats, std::log(16.0) + 4 * a.I_XT_stderr_nats);
    EXPECT_LE(a.I_YT_nats, a.I_XT_nats + 4 * std::hypot(a.I_YT_stderr_nats, a.I_XT_stderr_nats));
    EXPECT_LE(a.I_YT_nats, h_y + 4 * a.I_YT_stderr_nats);
    if (l + 1 < r.layers.size()) {
      const auto& b = r.layers[l + 1];
      EXPECT_LE(b.I_XT_nats, a.I_XT_nats + 4 * std::hypot(a.I_XT_stderr_nats, b.I_XT_stderr_nats) + 0.05)
          << "layer " << l + 2 << " vs " << l + 1;
    }
  }
}

// The fast backend and the reference see the same noise (Philox) and so agree to float
// precision on every term.
TEST_P(SpEstimator, MatchesReferenceBackend) {
  if (GetParam() == Backend::Reference) GTEST_SKIP() << "compares a fast backend with the reference";
  std::mt19937_64 gen(9);
  Network net;
  net.layers = {random_dense(3, 6, Activation::Relu, gen), random_dense(6, 3, Activation::Sigmoid, gen),
                random_dense(3, 2, Activation::Linear, gen)};
  const auto x = testing::random_matrix(40, 3, 2);
  const std::vector<std::int64_t> y = [] {
    std::vector<std::int64_t> v(40);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = i % 3;
    return v;
  }();
  MutualInformationOptions o = options(0.05, 10);
  o.mc_queries = 500;
  const auto fast = mutual_information(net, {x.data(), 40, 3}, {y.data(), 40}, o);
  o.compute.backend = Backend::Reference;
  const auto ref = mutual_information(net, {x.data(), 40, 3}, {y.data(), 40}, o);
  for (std::size_t l = 0; l < ref.layers.size(); ++l) {
    for (auto [a, b] : {std::pair{fast.layers[l].h_T_nats, ref.layers[l].h_T_nats},
                        std::pair{fast.layers[l].h_T_given_X_nats, ref.layers[l].h_T_given_X_nats},
                        std::pair{fast.layers[l].I_XT_nats, ref.layers[l].I_XT_nats},
                        std::pair{fast.layers[l].I_YT_nats, ref.layers[l].I_YT_nats}}) {
      EXPECT_NEAR(a, b, 1e-5 * std::max(1.0, std::abs(b))) << "layer " << l + 1;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, SpEstimator, ::testing::ValuesIn(testing::all_backends()),
                         testing::param_name);

TEST(SpEstimatorInput, RejectsBadArguments) {
  Network net;
  net.layers = {dense(2, 1, {1.0, 1.0}, {0.0}, Activation::Tanh), dense(1, 1, {1.0}, {0.0}, Activation::Linear)};
  const double x[] = {0.0, 1.0, 2.0};
  MutualInformationOptions o;
  o.beta = 0.1;
  EXPECT_THROW(mutual_information(net, {x, 1, 3}, {}, o), InvalidArgument);  // 3 columns, layer takes 2
  const std::int64_t y[] = {0, 1};
  EXPECT_THROW(mutual_information(net, {x, 1, 2}, {y, 2}, o), InvalidArgument);  // 2 labels, 1 input
  o.layers = {2};
  EXPECT_THROW(mutual_information(net, {x, 1, 2}, {}, o), InvalidArgument);  // layer 2 is not noisy
  o.layers = {};
  o.beta = 0;
  EXPECT_THROW(mutual_information(net, {x, 1, 2}, {}, o), InvalidArgument);
}

}  // namespace
}  // namespace infoflow

namespace infoflow {
namespace {

// Weighted inputs: two inputs with probabilities 3/4 and 1/4 mapped far apart carry
// H(X) = 0.562335 nats (the 3:1 limit of oracle 5, docs/method.md#test-oracles) through
// every layer, and so does the label that tells them apart; unweighted duplicates {x0, x0, x0, x1} give the same.
TEST(SpEstimatorWeights, WeightedInputsMatchEntropyOfWeights) {
  Network net;
  net.layers = {{1, 2, {1.0, -1.0}, {0.0, 0.0}, Activation::Linear},
                {2, 2, {1.0, 0.0, 0.0, 1.0}, {0.0, 0.0}, Activation::Tanh},
                {2, 1, {1.0, 1.0}, {0.0}, Activation::Linear}};
  const double h = 0.562335;
  const double x[] = {0.0, 1.0};
  const std::int64_t y[] = {0, 1};
  MutualInformationOptions o;
  o.beta = 0.01, o.samples_per_input = 20, o.mc_queries = 20000, o.seed = 2;
  o.input_weights = {0.75, 0.25};
  const auto r = mutual_information(net, {x, 2, 1}, {y, 2}, o);
  ASSERT_EQ(r.layers.size(), 2u);
  for (const auto& l : r.layers) {
    EXPECT_NEAR(l.I_XT_nats, h, 4 * l.I_XT_stderr_nats + 2e-3) << "layer " << l.layer;
    EXPECT_NEAR(l.I_YT_nats, h, 4 * l.I_YT_stderr_nats + 2e-3) << "layer " << l.layer;
  }
  const double dup[] = {0.0, 0.0, 0.0, 1.0};
  o.input_weights.clear();
  const auto u = mutual_information(net, {dup, 4, 1}, {}, o);
  for (const auto& l : u.layers) EXPECT_NEAR(l.I_XT_nats, h, 4 * l.I_XT_stderr_nats + 2e-3);
  o.input_weights = {0.5, 0.6};
  EXPECT_THROW(mutual_information(net, {x, 2, 1}, {}, o), InvalidArgument);
  o.input_weights = {1.0};
  EXPECT_THROW(mutual_information(net, {x, 2, 1}, {}, o), InvalidArgument);
}

}  // namespace
}  // namespace infoflow

namespace infoflow {
namespace {

// Caller-given samples (the PyTorch tracker's path) against the network path on the very
// same forward passes (detail::propagate, as mutual_information draws them). Only the Monte
// Carlo queries differ, so the two agree within their standard errors; on layer 1 the
// samples path estimates h(T_1|X) by MC where the network path uses the exact value.
TEST(SampleInformation, AgreesWithTheNetworkPathOnTheSameSamples) {
  std::mt19937_64 gen(3);
  Network net;
  net.layers = {random_dense(3, 4, Activation::Tanh, gen, 3.0), random_dense(4, 2, Activation::Tanh, gen, 3.0),
                random_dense(2, 2, Activation::Linear, gen)};
  std::vector<double> x(40 * 3);
  std::normal_distribution<double> n;
  for (double& v : x) v = n(gen);
  std::vector<std::int64_t> y(40);
  for (std::size_t i = 0; i < 40; ++i) y[i] = x[3 * i] > 0;
  MutualInformationOptions o;
  o.beta = 0.1, o.samples_per_input = 25, o.seed = 9, o.mc_queries = 1 << 15;
  o.compute.backend = Backend::Cpu;
  const MutualInformationResult whole = mutual_information(net, {x.data(), 40, 3}, {y.data(), 40}, o);
  const auto s = detail::propagate(net, {x.data(), 40, 3}, 25, 0.1, false, 9, 0);
  for (std::size_t l = 1; l <= 2; ++l) {
    const LayerInformation a = whole.layers[l - 1];
    const LayerInformation b = sample_information({s[l - 1].data(), 40 * 25, net.layers[l - 1].out}, 25, {y.data(), 40}, o);
    EXPECT_EQ(b.width, a.width);
    EXPECT_NEAR(b.I_XT_nats, a.I_XT_nats, 4 * std::hypot(a.I_XT_stderr_nats, b.I_XT_stderr_nats)) << "layer " << l;
    EXPECT_NEAR(b.I_YT_nats, a.I_YT_nats, 4 * std::hypot(a.I_YT_stderr_nats, b.I_YT_stderr_nats)) << "layer " << l;
    EXPECT_GT(b.I_XT_stderr_nats, 0);
  }
  // Bad shapes are named.
  EXPECT_THROW(sample_information({s[1].data(), 999, 2}, 25, {}, o), InvalidArgument);
  EXPECT_THROW(sample_information({s[1].data(), 1000, 2}, 25, {y.data(), 39}, o), InvalidArgument);
}

}  // namespace
}  // namespace infoflow

namespace infoflow {
namespace {

// cuBLAS is opened with dlopen at the first GPU forward pass, not linked (startup cost):
// a CUDA build must find it and every function it uses even on a machine without a GPU.
TEST(CudaForward, CublasOpensAtFirstUse) {
  std::string why;
  const bool loadable = detail::cublas_loadable(&why);
  if (cuda_unavailable_reason().find("built without CUDA") != std::string::npos) {
    EXPECT_FALSE(loadable);
    GTEST_SKIP() << "CPU-only build: " << why;
  }
  EXPECT_TRUE(loadable) << why;
}

}  // namespace
}  // namespace infoflow
