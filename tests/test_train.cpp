// Training of noisy networks (gradients, optimisers, determinism, the SZT data) and the
// per-checkpoint measures: binning entropy, cluster entropy, class distance ratio.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <random>

#include "infoflow/train.hpp"
#include "io/matrix_file.hpp"
#include "nn/forward.hpp"
#include "test_util.hpp"

extern "C" int openblas_get_num_threads(void) __attribute__((weak));

namespace infoflow {
namespace {

Dataset random_dataset(std::size_t rows, std::size_t cols, std::size_t classes, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> n;
  Dataset d;
  d.rows = rows, d.cols = cols;
  for (std::size_t i = 0; i < rows * cols; ++i) d.inputs.push_back(n(gen));
  for (std::size_t i = 0; i < rows; ++i) d.labels.push_back(static_cast<std::int64_t>(gen() % classes));
  return d;
}

// Central differences of the noisy batch loss (fixed noise rows) against backpropagation,
// for every parameter of a 4-6-5-3 network with each hidden activation.
class GradientCheck : public ::testing::TestWithParam<Activation> {};

TEST_P(GradientCheck, MatchesFiniteDifferences) {
  Network net = init_network({4, 6, 5, 3}, GetParam(), 7);
  const Dataset d = random_dataset(9, 4, 3, 3);
  for (bool noisy_last : {false, true}) {
    Gradients g;
    batch_loss(net, d.view(), {d.labels.data(), d.rows}, 0.3, noisy_last, 5, 100, &g);
    double worst = 0;
    for (std::size_t l = 0; l < net.layers.size(); ++l) {
      for (int which = 0; which < 2; ++which) {
        std::vector<double>& p = which == 0 ? net.layers[l].weight : net.layers[l].bias;
        const std::vector<double>& gp = which == 0 ? g.weight[l] : g.bias[l];
        for (std::size_t k = 0; k < p.size(); ++k) {
          const double h = 1e-6, keep = p[k];
          p[k] = keep + h;
          const double up = batch_loss(net, d.view(), {d.labels.data(), d.rows}, 0.3, noisy_last, 5, 100, nullptr);
          p[k] = keep - h;
          const double down = batch_loss(net, d.view(), {d.labels.data(), d.rows}, 0.3, noisy_last, 5, 100, nullptr);
          p[k] = keep;
          const double fd = (up - down) / (2 * h);
          // Central differences carry ~1e-10 rounding error: relative to |fd| + 1e-4.
          worst = std::max(worst, std::abs(fd - gp[k]) / (std::abs(fd) + 1e-4));
        }
      }
    }
    // ReLU kinks are measure-zero for random data; the check holds to 1e-5 everywhere
    // (a wrong derivative gives errors of order 1).
    EXPECT_LT(worst, 1e-5) << activation_name(GetParam()) << " noisy_last=" << noisy_last;
  }
}

INSTANTIATE_TEST_SUITE_P(Activations, GradientCheck,
                         ::testing::Values(Activation::Tanh, Activation::Relu, Activation::Linear,
                                           Activation::Sigmoid, Activation::LeakyRelu),
                         [](const auto& info) {
                           std::string n(activation_name(info.param));
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

// What the CLI does first (cli/main.cpp): OpenBLAS single-threaded, unless the user
// set OPENBLAS_NUM_THREADS; a GEMM afterwards still gives the right answer.
TEST(BlasThreads, CliSettingLeavesOpenBlasSingleThreaded) {
  if (!openblas_get_num_threads) GTEST_SKIP() << "the BLAS linked in is not OpenBLAS";
  const bool user_set = std::getenv("OPENBLAS_NUM_THREADS") != nullptr;
  EXPECT_EQ(single_threaded_blas(), !user_set);
  if (!user_set) EXPECT_EQ(openblas_get_num_threads(), 1);
  // The forward pass (one GEMM per layer) after the pool is stopped: y = W x + b by hand.
  Network net;
  net.layers.push_back({3, 2, {1, 2, 3, -1, 0.5, 4}, {0.25, -2}, Activation::Linear});
  const double x[] = {1, -1, 2, 0.5, 0, -3};
  const auto s = detail::propagate(net, {x, 2, 3}, 1, 0.0, false, 0, 0);
  const double expected[] = {1 - 2 + 6 + 0.25, -1 - 0.5 + 8 - 2, 0.5 - 9 + 0.25, -0.5 - 12 - 2};
  ASSERT_EQ(s[0].size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(s[0][i], expected[i]);
}

TEST(Training, NoiseChangesTheLossOnlyThroughBeta) {
  const Network net = init_network({4, 6, 3}, Activation::Tanh, 1);
  const Dataset d = random_dataset(16, 4, 3, 2);
  const Span<const std::int64_t> y{d.labels.data(), d.rows};
  const double clean = batch_loss(net, d.view(), y, 0, false, 1, 0, nullptr);
  EXPECT_NEAR(clean, evaluate(net, d.view(), y).loss, 1e-12);  // beta 0 = the evaluation pass
  EXPECT_NE(batch_loss(net, d.view(), y, 0.5, false, 1, 0, nullptr), clean);
  // Same noise rows, same loss; other rows, other noise.
  EXPECT_EQ(batch_loss(net, d.view(), y, 0.5, false, 1, 0, nullptr), batch_loss(net, d.view(), y, 0.5, false, 1, 0, nullptr));
  EXPECT_NE(batch_loss(net, d.view(), y, 0.5, false, 1, 0, nullptr), batch_loss(net, d.view(), y, 0.5, false, 1, 64, nullptr));
}

TEST(Training, CrossEntropyAndAccuracyByHand) {
  // One linear layer 1 -> 2 with logits (x, -x): p(class 0) = 1 / (1 + e^{-2x}).
  Network net;
  net.layers.push_back({1, 2, {1.0, -1.0}, {0.0, 0.0}, Activation::Linear});
  const double x[] = {0.5, -1.0, 2.0};
  const std::int64_t y[] = {0, 0, 1};
  const Evaluation e = evaluate(net, {x, 3, 1}, {y, 3});
  const double expected = (std::log1p(std::exp(-1.0)) + std::log1p(std::exp(2.0)) + std::log1p(std::exp(4.0))) / 3;
  EXPECT_NEAR(e.loss, expected, 1e-14);
  EXPECT_NEAR(e.accuracy, 1.0 / 3, 1e-15);
}

TEST(Training, AdamFirstStepMovesEveryParameterByTheLearningRate) {
  // Adam's bias-corrected first step is lr * g / (|g| + eps): -lr sign(g) for |g| >> eps.
  const Dataset d = random_dataset(32, 3, 2, 4);
  const Network start = init_network({3, 5, 2}, Activation::Tanh, 2);
  TrainOptions o;
  o.batch_size = 32, o.learning_rate = 1e-3, o.beta = 0.1, o.seed = 9;
  // The one batch holds every row (in shuffled order: the mean loss does not care).
  Gradients g;
  batch_loss(start, d.view(), {d.labels.data(), d.rows}, 0.0, false, 0, 0, &g);
  o.beta = 0;
  Trainer clean(start, d, o);
  clean.train_epoch();
  for (std::size_t l = 0; l < start.layers.size(); ++l) {
    for (std::size_t k = 0; k < start.layers[l].weight.size(); ++k) {
      const double moved = clean.network().layers[l].weight[k] - start.layers[l].weight[k];
      if (std::abs(g.weight[l][k]) > 1e-3) EXPECT_NEAR(moved, -1e-3 * (g.weight[l][k] > 0 ? 1 : -1), 1e-7);
    }
  }
}

TEST(Training, SgdStepIsLearningRateTimesGradient) {
  const Dataset d = random_dataset(20, 3, 2, 5);
  const Network start = init_network({3, 4, 2}, Activation::Tanh, 3);
  TrainOptions o;
  o.optimizer = Optimizer::Sgd, o.batch_size = 20, o.learning_rate = 0.1, o.beta = 0;
  Trainer t(start, d, o);
  Gradients g;
  batch_loss(start, d.view(), {d.labels.data(), d.rows}, 0.0, false, 0, 0, &g);
  t.train_epoch();
  for (std::size_t l = 0; l < start.layers.size(); ++l) {
    for (std::size_t k = 0; k < start.layers[l].bias.size(); ++k) {
      EXPECT_NEAR(t.network().layers[l].bias[k], start.layers[l].bias[k] - 0.1 * g.bias[l][k], 1e-14);
    }
  }
}

TEST(Training, LossDecreasesAndSeparableDataIsLearned) {
  // Two Gaussian blobs in 2-D, classes by the sign of x0 + x1.
  Dataset d = random_dataset(400, 2, 2, 6);
  for (std::size_t i = 0; i < d.rows; ++i) d.labels[i] = d.inputs[2 * i] + d.inputs[2 * i + 1] > 0;
  TrainOptions o;
  o.learning_rate = 1e-2, o.batch_size = 32, o.beta = 0.05;
  Trainer t(init_network({2, 8, 4, 2}, Activation::Tanh, 1), d, o);
  const Span<const std::int64_t> y{d.labels.data(), d.rows};
  const double before = evaluate(t.network(), d.view(), y).loss;
  for (int e = 0; e < 40; ++e) t.train_epoch();
  const Evaluation after = evaluate(t.network(), d.view(), y);
  EXPECT_LT(after.loss, 0.3 * before);
  EXPECT_GT(after.accuracy, 0.97);
  EXPECT_EQ(t.epochs_done(), 40u);
}

TEST(Training, SameSeedSameWeightsOtherSeedOtherWeights) {
  const Dataset d = random_dataset(100, 4, 3, 8);
  auto train = [&](std::uint64_t seed) {
    TrainOptions o;
    o.seed = seed, o.batch_size = 16;
    Trainer t(init_network({4, 6, 5, 3}, Activation::Tanh, 1), d, o);
    for (int e = 0; e < 3; ++e) t.train_epoch();
    return t.network().layers[1].weight;
  };
  EXPECT_EQ(train(1), train(1));
  EXPECT_NE(train(1), train(2));
}

TEST(Training, OrthonormalRetractionMakesRowsOrthonormal) {
  // With a negligible learning rate, W <- W - a (W W^T W - W) drives every singular value
  // of a hidden layer to 1: W W^T = I for wide-to-narrow layers. The output layer is left alone.
  const Dataset d = random_dataset(64, 8, 2, 1);
  TrainOptions o;
  o.learning_rate = 1e-12, o.orthonormal_alpha = 0.2, o.batch_size = 1, o.beta = 0;
  Trainer t(init_network({8, 5, 3, 2}, Activation::Tanh, 4), d, o);
  for (int e = 0; e < 10; ++e) t.train_epoch();  // 640 retractions
  for (std::size_t l = 0; l < 2; ++l) {
    const DenseLayer& w = t.network().layers[l];
    for (std::size_t i = 0; i < w.out; ++i) {
      for (std::size_t j = 0; j < w.out; ++j) {
        double dot = 0;
        for (std::size_t k = 0; k < w.in; ++k) dot += w.weight[i * w.in + k] * w.weight[j * w.in + k];
        EXPECT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-9) << "layer " << l << " (" << i << "," << j << ")";
      }
    }
  }
  const Network fresh = init_network({8, 5, 3, 2}, Activation::Tanh, 4);
  for (std::size_t k = 0; k < fresh.layers[2].weight.size(); ++k) {
    EXPECT_NEAR(t.network().layers[2].weight[k], fresh.layers[2].weight[k], 1e-9);
  }
}

TEST(Training, PyTorchDefaultInitialisation) {
  // U(-b, b), b = 1/sqrt(fan_in): mean 0, variance b^2/3; the last layer is affine.
  const Network net = init_network({400, 300, 2}, Activation::Relu, 11);
  const double b = 1 / std::sqrt(400.0);
  double sum = 0, sq = 0;
  for (double w : net.layers[0].weight) {
    ASSERT_LE(std::abs(w), b);
    sum += w, sq += w * w;
  }
  const double n = static_cast<double>(net.layers[0].weight.size());
  EXPECT_NEAR(sum / n, 0, 5 * b / std::sqrt(3 * n));
  EXPECT_NEAR(sq / n, b * b / 3, 5 * b * b * std::sqrt(4.0 / 45 / n));  // var of w^2 = 4 b^4 / 45
  for (double w : net.layers[1].bias) EXPECT_LE(std::abs(w), 1 / std::sqrt(300.0));
  EXPECT_EQ(net.layers[0].activation, Activation::Relu);
  EXPECT_EQ(net.layers[1].activation, Activation::Linear);
  EXPECT_NE(init_network({400, 300, 2}, Activation::Relu, 12).layers[0].weight, net.layers[0].weight);
}

TEST(Training, BadSettingsAreRefused) {
  const Dataset d = random_dataset(10, 3, 2, 1);
  const Network net = init_network({3, 4, 2}, Activation::Tanh, 1);
  TrainOptions o;
  o.batch_size = 0;
  EXPECT_THROW(Trainer(net, d, o), InvalidArgument);
  o = {}, o.learning_rate = -1;
  EXPECT_THROW(Trainer(net, d, o), InvalidArgument);
  o = {}, o.beta = std::nan("");
  EXPECT_THROW(Trainer(net, d, o), InvalidArgument);
  Dataset bad = d;
  bad.labels[3] = 2;  // two outputs: classes 0 and 1 only
  try {
    Trainer(net, bad, TrainOptions{});
    FAIL() << "label 2 accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("label 2 of input 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Trainer(init_network({4, 4, 2}, Activation::Tanh, 1), d, TrainOptions{}), InvalidArgument);
  EXPECT_THROW(parse_optimizer("rmsprop"), InvalidArgument);
  EXPECT_THROW(init_network({3}, Activation::Tanh, 1), InvalidArgument);
}

TEST(SztTask, MatchesTheShippedFilesAndTheOfficialSplit) {
  const Dataset d = szt_dataset();
  const io::Matrix x = io::read_npy(INFOFLOW_SOURCE_DIR "/data/szt/szt_inputs.npy");
  const std::vector<std::int64_t> y = io::read_npy_integers(INFOFLOW_SOURCE_DIR "/data/szt/szt_labels.npy");
  ASSERT_EQ(d.rows, 4096u);
  EXPECT_EQ(d.inputs, x.values);
  EXPECT_EQ(d.labels, y);
  const std::vector<bool> test = szt_test_mask();
  std::size_t n_test = 0, counts[2][2] = {};
  for (std::size_t i = 0; i < test.size(); ++i) n_test += test[i], ++counts[test[i]][d.labels[i]];
  EXPECT_EQ(n_test, 819u);
  // docs/method.md#the-szt-task: train 1578 zeros / 1699 ones, test 400 / 419; first test indices 2,3,8,9,11,14.
  EXPECT_EQ(counts[0][0], 1578u);
  EXPECT_EQ(counts[0][1], 1699u);
  EXPECT_EQ(counts[1][0], 400u);
  EXPECT_EQ(counts[1][1], 419u);
  std::vector<std::size_t> first;
  for (std::size_t i = 0; first.size() < 6; ++i) {
    if (test[i]) first.push_back(i);
  }
  EXPECT_EQ(first, (std::vector<std::size_t>{2, 3, 8, 9, 11, 14}));
  EXPECT_EQ(select_rows(d, test, true).rows, 819u);
  EXPECT_EQ(select_rows(d, test, false).rows, 3277u);
}

TEST(Schedule, LogSpacedEpochsAsTheAuthors) {
  // unique(round(logspace(0, log10(9999), 100))) has 84 epochs (docs/method.md#the-szt-task).
  const auto e = log_spaced_epochs(9999, 100);
  EXPECT_EQ(e.size(), 84u);
  EXPECT_EQ(e.front(), 1u);
  EXPECT_EQ(e.back(), 9999u);
  EXPECT_TRUE(std::is_sorted(e.begin(), e.end()));
  EXPECT_EQ(log_spaced_epochs(1000, 4), (std::vector<std::size_t>{1, 10, 100, 1000}));
  EXPECT_EQ(log_spaced_epochs(50, 1), (std::vector<std::size_t>{50}));
}

TEST(Representations, AreTheNoiseFreeLayerOutputs) {
  const Network net = init_network({3, 4, 2}, Activation::Tanh, 5);
  const double x[] = {0.2, -0.4, 1.0};
  const auto s = representations(net, {x, 1, 3});
  ASSERT_EQ(s.size(), 2u);
  for (std::size_t o = 0; o < 4; ++o) {
    double z = net.layers[0].bias[o];
    for (std::size_t k = 0; k < 3; ++k) z += net.layers[0].weight[o * 3 + k] * x[k];
    EXPECT_NEAR(s[0][o], std::tanh(z), 1e-15);
  }
}

TEST(Binning, HandComputedEntropy) {
  // Bin 0.05: 0.01, 0.02 -> cell 0; 0.06 -> 1; 0.5 -> 10; -0.01 -> -1 (floor, not truncation).
  const double a[] = {0.01, 0.02, 0.06, 0.5};
  EXPECT_NEAR(binned_entropy({a, 4, 1}, 0.05), 1.5 * std::log(2.0), 1e-15);
  const double b[] = {0.01, -0.01};
  EXPECT_NEAR(binned_entropy({b, 2, 1}, 0.05), std::log(2.0), 1e-15);
  // 2-D: rows (0,0) (0,0.3) (0,0.01) (0.3,0) -> cells (0,0)x2, (0,3), (3,0): 1/2,1/4,1/4.
  const double c[] = {0, 0, 0, 0.3, 0, 0.01, 0.3, 0};
  EXPECT_NEAR(binned_entropy({c, 4, 2}, 0.1), 1.5 * std::log(2.0), 1e-15);
  // Limits (oracle 9, docs/method.md#test-oracles): tiny bins separate every distinct row; huge bins merge all.
  EXPECT_NEAR(binned_entropy({c, 4, 2}, 1e-6), std::log(4.0), 1e-15);
  EXPECT_EQ(binned_entropy({c, 4, 2}, 10.0), 0.0);
  EXPECT_THROW(binned_entropy({c, 4, 2}, 0.0), InvalidArgument);
}

// The SZT code's binned I(X;T) and I(Y;T), with the bins over the layer's observed range.
TEST(Binning, BinnedInformationOverTheObservedRange) {
  // 1-D, range [0, 30], 3 bins [0,10) [10,20) [20,30]: cells 0, 1, 2, 2 (the maximum is in
  // the last bin, as numpy.histogram's closed last edge) -> p = 1/4, 1/4, 1/2.
  const double a[] = {0, 10, 20, 30};
  const std::int64_t y[] = {0, 0, 1, 1};
  const BinnedInformation r = binned_information({a, 4, 1}, {y, 4}, 3);
  EXPECT_NEAR(r.I_XT_nats, 1.5 * std::log(2.0), 1e-15);
  // Given Y = 0: cells 0, 1 (ln 2); given Y = 1: cells 2, 2 (0). I(Y;T) = 1.5 ln 2 - ln 2 / 2.
  EXPECT_NEAR(r.I_YT_nats, std::log(2.0), 1e-15);
  EXPECT_TRUE(std::isnan(binned_information({a, 4, 1}, {}, 3).I_YT_nats));
  // A ReLU-like layer with values far beyond 1: a fixed [-1, 1] grid would put the three
  // large values in one bin (ln 4 - ...); over the observed range all four are apart.
  const double relu[] = {0, 5, 40, 90};
  EXPECT_NEAR(binned_information({relu, 4, 1}, {}, 30).I_XT_nats, std::log(4.0), 1e-15);
  // Every unit on the same edges; rows (0,0) (0,1) (1,0) (1,1) with 2 bins: 4 cells.
  const double b[] = {0, 0, 0, 1, 1, 0, 1, 1};
  EXPECT_NEAR(binned_information({b, 4, 2}, {}, 2).I_XT_nats, std::log(4.0), 1e-15);
  EXPECT_NEAR(binned_information({b, 4, 2}, {}, 1).I_XT_nats, 0.0, 1e-15);
  // A constant layer is one cell: no information.
  const double c[] = {0.3, 0.3, 0.3};
  EXPECT_EQ(binned_information({c, 3, 1}, {}, 30).I_XT_nats, 0.0);
  EXPECT_THROW(binned_information({c, 3, 1}, {}, 0), InvalidArgument);
  EXPECT_THROW(binned_information({c, 3, 1}, {y, 4}, 3), InvalidArgument);
}

TEST(Clustering, TightClustersGiveTheClusterEntropy) {
  // Oracle 13 (docs/method.md#test-oracles): K tight clusters of sizes m_k -> -sum (m_k/m) ln(m_k/m).
  std::mt19937 gen(3);
  std::normal_distribution<double> n(0, 1e-3);
  const std::size_t sizes[] = {50, 30, 15, 5};
  std::vector<double> s;
  std::vector<std::int64_t> labels;
  double expected = 0;
  for (std::size_t k = 0; k < 4; ++k) {
    for (std::size_t i = 0; i < sizes[k]; ++i) {
      s.push_back(static_cast<double>(k) + 0.25 + n(gen));  // inside one 0.5-wide bin
      s.push_back(0.25 + n(gen));
      labels.push_back(static_cast<std::int64_t>(k));
    }
    expected -= sizes[k] / 100.0 * std::log(sizes[k] / 100.0);
  }
  const Clustering c = cluster_entropy({s.data(), 100, 2}, 0.05);
  EXPECT_EQ(c.clusters, 4u);
  EXPECT_NEAR(c.entropy, expected, 1e-12);
  EXPECT_NEAR(binned_entropy({s.data(), 100, 2}, 0.5), expected, 1e-12);
  EXPECT_EQ(cluster_entropy({s.data(), 100, 2}, 1e-9).clusters, 100u);
  EXPECT_EQ(cluster_entropy({s.data(), 100, 2}, 1.5).clusters, 1u);
  // Single linkage chains: points 0.04 apart along a line are one cluster at radius 0.05.
  std::vector<double> line;
  for (int i = 0; i < 20; ++i) line.push_back(0.04 * i);
  EXPECT_EQ(cluster_entropy({line.data(), 20, 1}, 0.05).clusters, 1u);
  EXPECT_EQ(cluster_entropy({line.data(), 20, 1}, 0.03).clusters, 20u);
  // Same-class rows sit within 1e-3, classes >= 1 apart: ratio near 0.
  EXPECT_LT(class_distance_ratio({s.data(), 100, 2}, {labels.data(), labels.size()}), 0.01);
}

TEST(Clustering, ClassDistanceRatioByHand) {
  // 1-D points 0, 1 (class 0) and 3, 4 (class 1): same-class distances 1, 1; different
  // 3, 4, 2, 3 -> mean 3; ratio 1/3.
  const double s[] = {0, 1, 3, 4};
  const std::int64_t y[] = {0, 0, 1, 1};
  EXPECT_NEAR(class_distance_ratio({s, 4, 1}, {y, 4}), 1.0 / 3, 1e-15);
  const std::int64_t one[] = {0, 0, 0, 0};
  EXPECT_TRUE(std::isnan(class_distance_ratio({s, 4, 1}, {one, 4})));
}

// The SIMD path (host/plane/class_distance.cpp: blocks of rows j, the last one partial)
// against the plain double loop over all pairs, on every SIMD target, with sizes around
// the lane counts.
TEST(Clustering, ClassDistanceRatioMatchesPlainLoop) {
  std::mt19937 gen(9);
  std::normal_distribution<double> normal;
  testing::on_every_simd_target([&](const char* target) {
    for (const std::size_t m : {2, 3, 7, 8, 9, 17, 33, 100}) {
      for (const std::size_t d : {1, 3, 12}) {
        std::vector<double> s(m * d);
        std::vector<std::int64_t> y(m);
        for (double& v : s) v = normal(gen);
        for (std::size_t i = 0; i < m; ++i) y[i] = static_cast<std::int64_t>(i % 3 == 0 ? 7 : gen() % 2);
        double same = 0, diff = 0;
        std::size_t n_same = 0, n_diff = 0;
        for (std::size_t i = 0; i < m; ++i) {
          for (std::size_t j = i + 1; j < m; ++j) {
            double d2 = 0;
            for (std::size_t k = 0; k < d; ++k) d2 += (s[i * d + k] - s[j * d + k]) * (s[i * d + k] - s[j * d + k]);
            (y[i] == y[j] ? same : diff) += std::sqrt(d2);
            ++(y[i] == y[j] ? n_same : n_diff);
          }
        }
        const double got = class_distance_ratio({s.data(), m, d}, {y.data(), m});
        if (n_same == 0 || n_diff == 0) {
          EXPECT_TRUE(std::isnan(got)) << target << " m " << m << " d " << d;
        } else {
          const double want = (same / n_same) / (diff / n_diff);
          EXPECT_NEAR(got, want, 1e-13 * want) << target << " m " << m << " d " << d;
        }
      }
    }
  });
}

}  // namespace
}  // namespace infoflow
