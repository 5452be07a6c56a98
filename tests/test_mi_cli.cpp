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

// The options of docs/method.md#bootstrap-resample, #numerical-error, #bias-extrapolation and
// #bounds-on-the-information reach the JSON with the library's values, and the text output
// gets a section for each.
TEST_F(MiCli, StatisticsOptionsReachJsonAndText) {
  const std::string extra = " --resample-inputs bootstrap --clip-at-zero --bias-correction --bounds";
  const CliResult r = run(args("--backend cpu" + extra));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["resample_inputs"], "bootstrap");
  EXPECT_EQ(j["clip_at_zero"], true);
  EXPECT_EQ(j["bias_correction"], true);
  EXPECT_EQ(j["bounds"], true);
  EXPECT_EQ(j["seed"], 7);
  MutualInformationOptions o;
  o.beta = 0.1, o.samples_per_input = 6, o.mc_queries = 300, o.seed = 7;
  o.resample_inputs = InputResample::Bootstrap, o.clip_at_zero = o.bias_correction = o.bounds = true;
  o.compute.backend = Backend::Cpu;
  std::vector<std::int64_t> y(12);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<std::int64_t>(i % 3);
  const auto lib = mutual_information(net_, {x_.data(), 12, 3}, {y.data(), 12}, o);
  EXPECT_DOUBLE_EQ(j["input_entropy_nats"].get<double>(), lib.input_entropy_nats);
  EXPECT_LT(lib.input_entropy_nats, std::log(12.0));
  for (std::size_t l = 0; l < 2; ++l) {
    const auto& e = j["layers"][l];
    const auto& b = lib.layers[l];
    const std::pair<const char*, double> keys[] = {
        {"numerical_error_nats", b.numerical_error_nats}, {"I_XT_nats", b.I_XT_nats},
        {"I_XT_bias_nats", b.I_XT_bias_nats},             {"I_XT_bias_stderr_nats", b.I_XT_bias_stderr_nats},
        {"I_XT_debiased_nats", b.I_XT_debiased_nats},     {"I_XT_debiased_stderr_nats", b.I_XT_debiased_stderr_nats},
        {"I_YT_bias_nats", b.I_YT_bias_nats},             {"I_YT_bias_stderr_nats", b.I_YT_bias_stderr_nats},
        {"I_YT_debiased_nats", b.I_YT_debiased_nats},     {"I_YT_debiased_stderr_nats", b.I_YT_debiased_stderr_nats},
        {"I_XT_lower_nats", b.I_XT_lower_nats},           {"I_XT_upper_nats", b.I_XT_upper_nats},
        {"I_YT_lower_nats", b.I_YT_lower_nats},           {"I_YT_upper_nats", b.I_YT_upper_nats}};
    for (const auto& [key, value] : keys) {
      ASSERT_TRUE(e.contains(key)) << key;
      EXPECT_DOUBLE_EQ(e[key].get<double>(), value) << key << " of layer " << l + 1;
    }
    EXPECT_GT(b.numerical_error_nats, 0);
    EXPECT_LE(b.I_XT_lower_nats, b.I_XT_upper_nats);
    EXPECT_GE(b.I_XT_lower_nats, 0) << "clipped";
  }
  // Without the options: none of their keys, X uniform over the 12 rows.
  const auto plain = nlohmann::json::parse(run(args("--backend cpu")).out);
  EXPECT_EQ(plain["resample_inputs"], "none");
  EXPECT_DOUBLE_EQ(plain["input_entropy_nats"].get<double>(), std::log(12.0));
  EXPECT_TRUE(plain["layers"][0].contains("numerical_error_nats"));
  for (const char* key : {"I_XT_bias_nats", "I_XT_debiased_nats", "I_XT_lower_nats", "I_YT_upper_nats"}) {
    EXPECT_FALSE(plain["layers"][0].contains(key)) << key;
  }
  const CliResult text = run("mi --model " + model_ + " --inputs " + inputs_ + " --labels " + labels_ +
                             " --beta 0.1 --samples-per-input 6 --seed 7" + extra);
  ASSERT_EQ(text.code, 0) << text.err;
  for (const char* part : {"standard error + numerical error bound", "bootstrap resample of the inputs (seed 7)",
                           "every I clipped at 0", "plug-in bias", "pairwise bounds"}) {
    EXPECT_NE(text.out.find(part), std::string::npos) << part << " missing from\n" << text.out;
  }
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
  expect_error(base + " --inputs " + inputs_ + " --resample-inputs jackknife", "jackknife");
  expect_error(base + " --inputs " + inputs_ + " --bias-correction --samples-per-input 3", "K >= 4");
  std::vector<double> w(12, 1.0 / 12);
  io::write_npy((dir_ / "w.npy").string(), {w.data(), 12, 1});
  expect_error(base + " --inputs " + inputs_ + " --resample-inputs bootstrap --input-weights " + (dir_ / "w.npy").string(),
               "input weights");
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
