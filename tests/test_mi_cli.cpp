// `infoflow mi` end to end: an independent numpy implementation of the SP estimator
// (tests/sp_reference.py) agrees with the CLI on a small net, the JSON schema, and bad
// input (shapes, labels, beta, hostile model files) rejected cleanly.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <random>
#include <string>

#include "cli_fixture.hpp"
#include "infoflow/network.hpp"
#include "io/matrix_file.hpp"
#include "test_util.hpp"

namespace infoflow {
namespace {

using testing::Cli;
using testing::CliResult;

class MiCli : public Cli {
 protected:
  void SetUp() override {
    Cli::SetUp();
    net_ = testing::random_network({3, 4, 3, 2}, {Activation::Tanh, Activation::Relu, Activation::Linear}, 1);
    model_ = (dir_ / "net.safetensors").string();
    save_network(model_, net_, "F64");
    x_ = testing::random_matrix(12, 3, 4);
    inputs_ = (dir_ / "x.npy").string();
    io::write_npy(inputs_, {x_.data(), 12, 3});
    std::vector<double> y(12);
    for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<double>(i % 3);
    labels_ = (dir_ / "y.npy").string();
    io::write_npy(labels_, {y.data(), 12, 1});
  }
  std::string args(const std::string& extra = "") const {
    return "mi --model " + model_ + " --inputs " + inputs_ + " --labels " + labels_ +
           " --beta 0.1 --samples-per-input 6 --mc-queries 300 --seed 7 --json " + extra;
  }
  Network net_;
  std::vector<double> x_;
  std::string model_, inputs_, labels_;
};

TEST_F(MiCli, AgreesWithIndependentNumpyImplementation) {
  if (std::system("/usr/bin/python3 -c 'import numpy, scipy' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 with numpy and scipy is needed for tests/sp_reference.py";
  }
  const std::string script = std::string(INFOFLOW_SOURCE_DIR) + "/tests/sp_reference.py";
  const std::string cmd = "/usr/bin/python3 " + script + " " + model_ + " " + inputs_ + " " +
                          labels_ + " 0.1 6 300 7 > " + (dir_ / "numpy.json").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto np = nlohmann::json::parse(testing::slurp(dir_ / "numpy.json"));
  for (const auto& [backend, tol] : {std::pair{"reference", 1e-10}, std::pair{"cpu", 1e-5}}) {
    const CliResult r = run(args("--backend " + std::string(backend)));
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["layers"].size(), np["layers"].size());
    for (std::size_t l = 0; l < np["layers"].size(); ++l) {
      for (const char* key : {"h_T_nats", "h_T_given_X_nats", "I_XT_nats", "I_YT_nats"}) {
        const double a = j["layers"][l][key], b = np["layers"][l][key];
        EXPECT_NEAR(a, b, tol * std::max(1.0, std::abs(b))) << backend << " layer " << l + 1 << " " << key;
      }
    }
  }
}

TEST_F(MiCli, JsonSchemaAndLibraryAgreement) {
  const CliResult r = run(args("--backend cpu"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["beta"], 0.1);
  EXPECT_EQ(j["n_inputs"], 12);
  EXPECT_EQ(j["samples_per_input"], 6);
  EXPECT_EQ(j["backend"], "cpu");
  ASSERT_EQ(j["layers"].size(), 2u);  // two noisy hidden layers; logits carry no noise
  MutualInformationOptions o;
  o.beta = 0.1, o.samples_per_input = 6, o.mc_queries = 300, o.seed = 7;
  o.compute.backend = Backend::Cpu;
  std::vector<std::int64_t> y(12);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<std::int64_t>(i % 3);
  const auto lib = mutual_information(net_, {x_.data(), 12, 3}, {y.data(), 12}, o);
  for (std::size_t l = 0; l < 2; ++l) {
    const auto& e = j["layers"][l];
    EXPECT_EQ(e["layer"], l + 1);
    EXPECT_EQ(e["width"], net_.layers[l].out);
    EXPECT_DOUBLE_EQ(e["I_XT_nats"].get<double>(), lib.layers[l].I_XT_nats);
    EXPECT_DOUBLE_EQ(e["I_XT_stderr_nats"].get<double>(), lib.layers[l].I_XT_stderr_nats);
    EXPECT_DOUBLE_EQ(e["I_YT_nats"].get<double>(), lib.layers[l].I_YT_nats);
    EXPECT_DOUBLE_EQ(e["h_T_nats"].get<double>(), lib.layers[l].h_T_nats);
    EXPECT_DOUBLE_EQ(e["h_T_given_X_nats"].get<double>(), lib.layers[l].h_T_given_X_nats);
    EXPECT_TRUE(e.contains("I_YT_stderr_nats"));
  }
  // Without labels there are no I(Y;T) keys; --layers picks layers.
  const CliResult n = run("mi --model " + model_ + " --inputs " + inputs_ + " --beta 0.1 --layers 2 --json");
  ASSERT_EQ(n.code, 0) << n.err;
  const auto k = nlohmann::json::parse(n.out);
  ASSERT_EQ(k["layers"].size(), 1u);
  EXPECT_EQ(k["layers"][0]["layer"], 2);
  EXPECT_FALSE(k["layers"][0].contains("I_YT_nats"));
}

TEST_F(MiCli, BadInputs) {
  const std::string base = "mi --model " + model_ + " --beta 0.1";
  std::vector<double> wide(12 * 4, 0.0);
  io::write_npy((dir_ / "wide.npy").string(), {wide.data(), 12, 4});
  expect_error(base + " --inputs " + (dir_ / "wide.npy").string(), "columns");
  std::vector<double> y5(5, 0.0), yhalf(12, 0.5);
  io::write_npy((dir_ / "y5.npy").string(), {y5.data(), 5, 1});
  io::write_npy((dir_ / "yhalf.npy").string(), {yhalf.data(), 12, 1});
  expect_error(base + " --inputs " + inputs_ + " --labels " + (dir_ / "y5.npy").string(), "labels");
  expect_error(base + " --inputs " + inputs_ + " --labels " + (dir_ / "yhalf.npy").string(), "integer");
  expect_error("mi --model " + model_ + " --inputs " + inputs_ + " --beta 0", "beta");
  expect_error("mi --model " + model_ + " --inputs " + inputs_ + " --beta -1", "beta");
  expect_error(base + " --inputs " + inputs_ + " --layers 3", "layer 3");
  expect_error(base + " --inputs " + inputs_ + " --layers x", "--layers");
  expect_error(base + " --inputs " + inputs_ + " --activation swish", "swish");
  expect_error(base + " --inputs " + inputs_ + " --samples-per-input 0", "samples-per-input");
  expect_error(base + " --inputs " + inputs_ + " --samples-per-input 100000000000", "GiB", 3);
  expect_error(base + " --inputs " + inputs_ + " --mc-queries 10 --target-stderr 0.1", "excludes");
  // A model with a NaN weight, and hostile files.
  Network bad = net_;
  bad.layers[1].weight[2] = std::nan("");
  save_network((dir_ / "nan.safetensors").string(), bad, "F32");
  expect_error("mi --model " + (dir_ / "nan.safetensors").string() + " --inputs " + inputs_ + " --beta 0.1", "non-finite");
  const std::string good = testing::slurp(model_);
  expect_error("mi --model " + file("cut.safetensors", good.substr(0, good.size() - 5)) + " --inputs " + inputs_ + " --beta 0.1", "cut.safetensors");
  expect_error("mi --model " + file("tiny.safetensors", "abc") + " --inputs " + inputs_ + " --beta 0.1", "truncated");
  expect_error("mi --model " + file("huge.safetensors", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}") + " --inputs " + inputs_ + " --beta 0.1", "header length");
}

}  // namespace
}  // namespace infoflow
