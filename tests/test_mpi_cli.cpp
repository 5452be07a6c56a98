// `mpirun -n P infoflow entropy|mi` against one process: the same seed gives the same draws
// (Philox rows are global), so with pruning off (--tolerance 0) every value agrees to 1e-12
// relative, only the order of float64 additions differing. Bad input on any rank ends every
// rank with one message and a non-zero exit code. Skipped in builds without MPI.
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

std::size_t count_of(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) ++n;
  return n;
}

void expect_close(double a, double b, double rel, const std::string& what) {
  EXPECT_LE(std::abs(a - b), rel * std::max(1.0, std::abs(b))) << what << ": " << a << " vs " << b;
}

class MpiCli : public Cli {
 protected:
  void SetUp() override {
#ifndef INFOFLOW_MPIEXEC
    GTEST_SKIP() << "built without MPI (INFOFLOW_ENABLE_MPI=OFF or no libopenmpi-dev)";
#else
    Cli::SetUp();
    // Root in CI containers; one core per rank is fine for correctness.
    launcher_ = std::string(INFOFLOW_MPIEXEC) + " --allow-run-as-root --oversubscribe";
    const CliResult probe = run("--version", launcher_ + " -n 2");
    if (probe.code != 0) GTEST_SKIP() << "mpirun does not start 2 processes here: " << probe.err;
#endif
  }
  nlohmann::json json_of(const std::string& args, int ranks) const {
    const CliResult r = ranks == 0 ? run(args) : run(args, launcher_ + " -n " + std::to_string(ranks));
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(count_of(r.out, "\n"), 1u) << "one JSON line from rank 0 only:\n" << r.out;
    return nlohmann::json::parse(r.out);
  }
  std::string launcher_;
};

TEST_F(MpiCli, EntropyEqualsOneProcess) {
  const std::vector<double> c = testing::random_matrix(1500, 5, 3);
  const std::string in = (dir_ / "c.npy").string();
  io::write_npy(in, {c.data(), 1500, 5});
  const std::string args = "entropy --input " + in + " --sigma 0.3 --samples-per-center 3 --seed 11 --bounds --json";
  const nlohmann::json one = json_of(args + " --tolerance 0 --threads 1", 0);
  EXPECT_EQ(one["ranks"], 1);
  for (int p : {2, 3}) {
    const nlohmann::json many = json_of(args + " --tolerance 0", p);
    EXPECT_EQ(many["ranks"], p);
    EXPECT_EQ(many["samples"], one["samples"]);
    for (const char* key : {"entropy_nats", "stderr_nats", "kl_upper_nats", "bhattacharyya_lower_nats"}) {
      expect_close(many[key].get<double>(), one[key].get<double>(), 1e-12, std::string(key) + " with P = " + std::to_string(p));
    }
  }
  // With pruning on, ranks group queries differently; each log-sum-exp stays within the
  // proven log(1 + tolerance) of the exact one, so the results agree to that bound.
  const nlohmann::json pruned = json_of(args, 3);
  expect_close(pruned["entropy_nats"].get<double>(), one["entropy_nats"].get<double>(), 2e-6, "pruned, P = 3");
}

// With the bootstrap draw, the 1/K extrapolation and the pairwise bounds too: the ranks
// split the segmented pairwise sums by rows and must still give one process's values.
TEST_F(MpiCli, MutualInformationEqualsOneProcess) {
  const Network net =
      testing::random_network({4, 5, 3, 2}, {Activation::Tanh, Activation::Tanh, Activation::Linear}, 2);
  const std::string model = (dir_ / "net.safetensors").string(), inputs = (dir_ / "x.npy").string(),
                    labels = (dir_ / "y.npy").string();
  save_network(model, net, "F64");
  const std::vector<double> x = testing::random_matrix(200, 4, 5);
  io::write_npy(inputs, {x.data(), 200, 4});
  std::vector<double> y(200);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<double>(i % 3);
  io::write_npy(labels, {y.data(), 200, 1});
  const std::string args = "mi --model " + model + " --inputs " + inputs + " --labels " + labels +
                           " --beta 0.2 --samples-per-input 7 --mc-queries 900 --seed 4 --tolerance 0 --json"
                           " --resample-inputs bootstrap --bias-correction --bounds";
  const nlohmann::json one = json_of(args + " --threads 1", 0);
  for (int p : {2, 3}) {
    const nlohmann::json many = json_of(args, p);
    EXPECT_EQ(many["ranks"], p);
    ASSERT_EQ(many["layers"].size(), one["layers"].size());
    for (std::size_t l = 0; l < one["layers"].size(); ++l) {
      for (const char* key : {"h_T_nats", "h_T_stderr_nats", "h_T_given_X_nats", "I_XT_nats", "I_XT_stderr_nats",
                              "I_YT_nats", "I_YT_stderr_nats", "I_XT_debiased_nats", "I_YT_debiased_nats",
                              "I_XT_lower_nats", "I_XT_upper_nats", "I_YT_lower_nats", "I_YT_upper_nats"}) {
        expect_close(many["layers"][l][key].get<double>(), one["layers"][l][key].get<double>(), 1e-12,
                     std::string(key) + " of layer " + std::to_string(l + 1) + " with P = " + std::to_string(p));
      }
    }
  }
}

// Every rank reads the same bad file: one message (from rank 0), exit 2, no result.
TEST_F(MpiCli, BadInputOnEveryRankFailsOnce) {
  const std::string bad = npy("nan.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1), }",
                              std::string("\0\0\0\0\0\0\xf8\x7f\0\0\0\0\0\0\xf0\x3f", 16));
  for (const std::string& args : {"entropy --input " + bad + " --sigma 1", "entropy --input " + bad + " --sigma -1",
                                  "train --preset szt --epochs 1 --out " + (dir_ / "run").string()}) {
    const CliResult r = run(args, launcher_ + " -n 3");
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(count_of(r.err, "infoflow: error"), 1u) << args << "\n" << r.err;
  }
}

// One rank alone fails (MPMD: rank 1 reads a missing file): every rank still exits with
// the failing rank's code, and only that rank prints.
TEST_F(MpiCli, OneRankFailingEndsEveryRank) {
  const std::vector<double> c = testing::random_matrix(50, 2, 1);
  const std::string in = (dir_ / "c.npy").string(), missing = (dir_ / "missing.npy").string();
  io::write_npy(in, {c.data(), 50, 2});
  const std::string cli = INFOFLOW_CLI_PATH;
  const CliResult r = run("entropy --input " + in + " --sigma 1 : -n 1 " + cli + " entropy --input " + missing +
                              " --sigma 1",
                          launcher_ + " -n 1");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(count_of(r.err, "infoflow: error"), 1u) << r.err;
  EXPECT_NE(r.err.find("missing.npy"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rank 1"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace infoflow
