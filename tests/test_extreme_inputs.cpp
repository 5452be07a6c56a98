// Extreme inputs end to end through the CLI (issue 9): sigma at 1e-30 and 1e30 of the data
// scale, d = 1 and d = 65536, one centre, duplicate centres, centres at +-1e30, subnormal
// entries, float64 values beyond float32's range, and `infoflow mi` with one class or one
// class per input. Every result is checked against a closed form computed here (or 1-D
// quadrature), never against numbers printed by infoflow itself; where the arithmetic cannot
// carry the Monte Carlo noise the CLI must refuse with exit code 2 and a message naming the
// value, never print inf, NaN or a silently wrong number.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cli_fixture.hpp"
#include "infoflow/network.hpp"
#include "io/matrix_file.hpp"
#include "test_util.hpp"

namespace infoflow {
namespace {

using testing::CliResult;

// (d/2) ln(2 pi e sigma^2), written with ln sigma so that it is finite for every sigma > 0.
double gaussian_h(std::size_t d, double sigma) {
  return 0.5 * static_cast<double>(d) * (std::log(2 * M_PI * M_E) + 2 * std::log(sigma));
}

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

class ExtremeInputs : public testing::Cli {
 protected:
  // Writes centres (n x d, float64 .npy) and returns the path.
  std::string centres(const std::vector<double>& c, std::size_t n, std::size_t d) {
    const std::string path = (dir_ / ("c" + std::to_string(files_++) + ".npy")).string();
    io::write_npy(path, {c.data(), n, d});
    return path;
  }
  std::string entropy_args(const std::string& path, double sigma, const std::string& backend,
                           int per_centre) const {
    return "entropy --input " + path + " --sigma " + num(sigma) + " --samples-per-center " +
           std::to_string(per_centre) + " --seed 11 --backend " + backend + " --json";
  }
  // Runs `infoflow entropy` and checks its estimate against `truth`: a finite number within
  // 4 standard errors plus `rel` relative; by default 1e-5 for the float32 backends (the
  // contract of README "Backends and accuracy") and 1e-10 for the float64 reference.
  void expect_entropy(const std::string& path, double sigma, const std::string& backend,
                      double truth, int per_centre = 50, double rel = 0) {
    if (rel == 0) rel = backend == "reference" ? 1e-10 : 1e-5;
    const std::string args = entropy_args(path, sigma, backend, per_centre);
    const CliResult r = run(args);
    ASSERT_EQ(r.code, 0) << args << "\n" << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_TRUE(j.at("entropy_nats").is_number()) << args << " printed " << r.out;
    ASSERT_TRUE(j.at("stderr_nats").is_number()) << args << " printed " << r.out;
    const double h = j["entropy_nats"], se = j["stderr_nats"];
    ASSERT_TRUE(std::isfinite(h) && std::isfinite(se)) << r.out;
    EXPECT_EQ(j.at("backend"), backend);
    EXPECT_NEAR(h, truth, 4 * se + rel * std::max(1.0, std::abs(truth)))
        << args << "\nstandard error " << se;
  }
  std::size_t files_ = 0;
};

const char* const kBackends[] = {"cpu", "reference"};

// sigma 1e30 times the data spread: the mixture is one Gaussian, h = (d/2) ln(2 pi e sigma^2)
// (the difference is O(spread^2 / sigma^2) = 1e-60). At the edge of the accepted range
// (sigma = 1e150, whose square is still a normal float64) the same; beyond it, a clear error.
TEST_F(ExtremeInputs, SigmaFarAboveDataSpreadIsOneGaussian) {
  const std::string c = centres({0, 0, 1, 0, 0, 1}, 3, 2);
  for (const char* b : kBackends) {
    SCOPED_TRACE(b);
    expect_entropy(c, 1e30, b, gaussian_h(2, 1e30));
    expect_entropy(c, 1e150, b, gaussian_h(2, 1e150));
    expect_error(entropy_args(c, 1e200, b, 1), "sigma = 1e+200");
  }
}

// sigma << separation of n distinct centres: h = ln n + (d/2) ln(2 pi e sigma^2) up to
// n exp(-(separation / sigma)^2 / 8), here exp(-1e7) = 0.
TEST_F(ExtremeInputs, SigmaFarBelowSeparationIsLogNPlusOneGaussian) {
  const std::string c = centres({0, 0, 1, 0, 0, 1}, 3, 2);
  for (const char* b : kBackends) {
    SCOPED_TRACE(b);
    expect_entropy(c, 1e-4, b, std::log(3.0) + gaussian_h(2, 1e-4));
    // The same geometry at an absolute scale of 1e-30 (sigma 1e-34) is just as exact.
    const std::string tiny = centres({0, 0, 1e-30, 0, 0, 1e-30}, 3, 2);
    expect_entropy(tiny, 1e-34, b, std::log(3.0) + gaussian_h(2, 1e-34));
    // sigma 1e-30 times the data scale: c + sigma z rounds back to c even in float64 (the
    // noise vanishes, the estimate would be off by d/2 nats), so the CLI refuses.
    expect_error(entropy_args(c, 1e-30, b, 1), "sigma = 1e-30");
    expect_error(entropy_args(c, 1e-30, b, 1), "float64");
  }
  // sigma 1e-8: float64 still resolves the draws, float32 (centres 6.7e7 sigma from their
  // mean) would not; cpu refuses and points to the reference, which is exact.
  expect_error(entropy_args(c, 1e-8, "cpu", 1), "sigma = 1e-08");
  expect_error(entropy_args(c, 1e-8, "cpu", 1), "reference backend");
  expect_entropy(c, 1e-8, "reference", std::log(3.0) + gaussian_h(2, 1e-8), 50, 1e-12);
}

// d = 1: separated centres (closed form), and overlapping ones against trapezoid quadrature
// of -integral g ln g (tests/test_util.hpp).
TEST_F(ExtremeInputs, DimensionOne) {
  const std::string sep = centres({0, 40, 80}, 3, 1);
  const std::vector<double> overlap = {0, 0.5, 3};
  const std::string ov = centres(overlap, 3, 1);
  const double truth = testing::quadrature_entropy_1d(overlap, 0.7);
  for (const char* b : kBackends) {
    SCOPED_TRACE(b);
    expect_entropy(sep, 1.0, b, std::log(3.0) + gaussian_h(1, 1.0));
    expect_entropy(ov, 0.7, b, truth, 3000);
  }
}

// d = 65536, n = 3 centres 100 sigma apart: h = ln 3 + (d/2) ln(2 pi e sigma^2) (about
// 93 000 nats), and one centre in the same dimension: h = (d/2) ln(2 pi e sigma^2).
TEST_F(ExtremeInputs, DimensionSixtyFiveThousand) {
  const std::size_t d = 65536;
  std::vector<double> c(3 * d, 0.0);
  c[1 * d + 0] = 100, c[2 * d + 1] = 100;
  const std::string three = centres(c, 3, d);
  std::mt19937_64 gen(3);
  std::normal_distribution<double> normal;
  std::vector<double> one(d);
  for (double& v : one) v = normal(gen);
  const std::string single = centres(one, 1, d);
  for (const char* b : kBackends) {
    SCOPED_TRACE(b);
    expect_entropy(three, 1.0, b, std::log(3.0) + gaussian_h(d, 1.0), 2);
    expect_entropy(single, 0.5, b, gaussian_h(d, 0.5), 2);
  }
}

// n = 1: h = (d/2) ln(2 pi e sigma^2) whatever the centre, including a large offset.
TEST_F(ExtremeInputs, SingleCentre) {
  const std::string c = centres({3, -7, 1e5}, 1, 3);
  for (const char* b : kBackends) {
    SCOPED_TRACE(b);
    expect_entropy(c, 0.5, b, gaussian_h(3, 0.5), 200);
  }
}

// n copies of one point are one Gaussian: h = (d/2) ln(2 pi e sigma^2), not ln n more.
TEST_F(ExtremeInputs, DuplicateCenters) {
  std::vector<double> c;
  for (int i = 0; i < 50; ++i) c.insert(c.end(), {0.25, -4, 9, 1e3});
  const std::string path = centres(c, 50, 4);
  for (const char* b : kBackends) {
    SCOPED_TRACE(b);
    expect_entropy(path, 0.2, b, gaussian_h(4, 0.2), 20);
  }
}

// Centers at +-1e30: with sigma 1 a draw c + z rounds back to c in float64, so the CLI
// refuses, naming how far out the data lie; with sigma 1e28 (centres 200 sigma apart) it
// gives the closed form ln 2 + (d/2) ln(2 pi e sigma^2).
TEST_F(ExtremeInputs, CentersAtPlusMinus1e30) {
  const std::string c = centres({1e30, 0, -1e30, 0}, 2, 2);
  for (const char* b : kBackends) {
    SCOPED_TRACE(b);
    expect_error(entropy_args(c, 1.0, b, 1), "1e+30");
    expect_entropy(c, 1e28, b, std::log(2.0) + gaussian_h(2, 1e28));
  }
}

// Subnormal entries (1e-310, the smallest double 4.9e-324): all centres coincide to within
// 1e-310 sigma, so h = (d/2) ln(2 pi e sigma^2); also at sigma = 1e-150, the smallest sigma
// whose square is a normal float64. A subnormal sigma is refused by name.
TEST_F(ExtremeInputs, SubnormalValues) {
  const std::string c = centres({1e-310, -1e-310, 4.9e-324, 0, 0, -4.9e-324, 2e-320, 1e-310}, 4, 2);
  for (const char* b : kBackends) {
    SCOPED_TRACE(b);
    expect_entropy(c, 1.0, b, gaussian_h(2, 1.0));
    expect_entropy(c, 1e-150, b, gaussian_h(2, 1e-150));
    expect_error(entropy_args(c, 1e-310, b, 1), "sigma = 1e-310");
  }
}

// float64 values beyond float32's range (1e39 > 3.4e38): with sigma 1 the noise cannot be
// represented next to them (refused, naming 1e+39), also when every centre is the same
// 1e39 (centring would hide it from the float32 check alone); with sigma 1e37 (centres
// 200 sigma apart) the closed form ln 2 + (1/2) ln(2 pi e sigma^2) is computed, not inf.
TEST_F(ExtremeInputs, Float64BeyondFloat32Range) {
  const std::string apart = centres({1e39, -1e39}, 2, 1);
  const std::string same = centres({1e39, 1e39, 1e39}, 3, 1);
  for (const char* b : kBackends) {
    SCOPED_TRACE(b);
    expect_error(entropy_args(apart, 1.0, b, 1), "1e+39");
    expect_error(entropy_args(same, 1.0, b, 1), "1e+39");
    expect_entropy(apart, 1e37, b, std::log(2.0) + gaussian_h(1, 1e37));
    expect_entropy(same, 1e37, b, gaussian_h(1, 1e37));
  }
}

// `infoflow mi` on a tiny 3-4-3-2 network (two noisy layers), 12 inputs.
class ExtremeMiNet {
 public:
  explicit ExtremeMiNet(const testing::Cli& cli) {
    const Network net =
        testing::random_network({3, 4, 3, 2}, {Activation::Tanh, Activation::Tanh, Activation::Linear}, 5);
    model = (cli.dir_ / "net.safetensors").string();
    save_network(model, net, "F64");
    const auto x = testing::random_matrix(12, 3, 6);
    inputs = (cli.dir_ / "x.npy").string();
    io::write_npy(inputs, {x.data(), 12, 3});
  }
  std::string args(const std::string& labels, const std::string& backend) const {
    return "mi --model " + model + " --inputs " + inputs + " --labels " + labels +
           " --beta 0.1 --samples-per-input 6 --mc-queries 3000 --seed 4 --json --backend " + backend;
  }
  std::string model, inputs;
};

double number(const nlohmann::json& layer, const char* key) {
  EXPECT_TRUE(layer.at(key).is_number()) << key << " is " << layer.at(key);
  return layer.at(key).is_number() ? layer[key].get<double>() : std::nan("");
}

// One class: T is independent of Y, so I(Y;T) = h(T) - h(T|Y) = 0. h(T|Y) is the same
// mixture as h(T) estimated from independent draws: 0 within its standard error.
TEST_F(ExtremeInputs, MiLabelsOfOneClass) {
  const ExtremeMiNet net(*this);
  std::vector<double> y(12, 7.0);
  const std::string labels = (dir_ / "y.npy").string();
  io::write_npy(labels, {y.data(), 12, 1});
  for (const char* b : kBackends) {
    SCOPED_TRACE(b);
    const CliResult r = run(net.args(labels, b));
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.at("layers").size(), 2u);
    for (const auto& l : j["layers"]) {
      const double i_yt = number(l, "I_YT_nats"), se = number(l, "I_YT_stderr_nats");
      const double h = number(l, "h_T_nats");
      ASSERT_TRUE(std::isfinite(i_yt) && std::isfinite(se) && std::isfinite(h));
      EXPECT_GT(se, 0) << "layer " << l["layer"];
      EXPECT_NEAR(i_yt, 0.0, 4 * se + 1e-6 * std::max(1.0, std::abs(h))) << "layer " << l["layer"];
    }
  }
}

// More classes than inputs can fill: 12 inputs, each its own label, the labels int64
// values spread over the whole int64 range (a label space of 2^64 classes). Then Y
// determines X, so I(Y;T) = I(X;T): the two estimates share h(T) and differ only by
// independent Monte Carlo estimates of the same h(T|X), within their standard errors.
TEST_F(ExtremeInputs, MiEachInputItsOwnClass) {
  const ExtremeMiNet net(*this);
  const std::int64_t y[12] = {INT64_MIN, -4611686018427387904LL, -123456789012LL, -1, 0, 1, 2, 1000,
                              1000000, 123456789012LL, 4611686018427387904LL, INT64_MAX};
  std::string payload(sizeof y, '\0');
  std::memcpy(payload.data(), y, sizeof y);  // '<i8': little-endian, as on every supported host
  const std::string labels =
      npy("y.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (12,), }", payload);
  for (const char* b : kBackends) {
    SCOPED_TRACE(b);
    const CliResult r = run(net.args(labels, b));
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.at("layers").size(), 2u);
    for (const auto& l : j["layers"]) {
      const double i_yt = number(l, "I_YT_nats"), i_xt = number(l, "I_XT_nats");
      const double se = std::hypot(number(l, "I_YT_stderr_nats"), number(l, "I_XT_stderr_nats"));
      ASSERT_TRUE(std::isfinite(i_yt) && std::isfinite(i_xt) && std::isfinite(se));
      EXPECT_NEAR(i_yt, i_xt, 4 * se + 1e-6 * std::max(1.0, std::abs(i_xt))) << "layer " << l["layer"];
    }
  }
}

// beta is held to the same representable range as sigma: refused by name, never null.
TEST_F(ExtremeInputs, MiBetaOutsideRange) {
  const ExtremeMiNet net(*this);
  expect_error("mi --model " + net.model + " --inputs " + net.inputs + " --beta 1e-200", "beta = 1e-200");
  expect_error("mi --model " + net.model + " --inputs " + net.inputs + " --beta 1e200", "beta = 1e+200");
}

}  // namespace
}  // namespace infoflow
