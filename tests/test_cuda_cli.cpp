// The CLI on the cuda backend against the cpu backend, same inputs and seed: entropy with
// its bounds, log-density, mi with labels (one process and under mpirun). Both backends
// score the same Philox draws with float32 distances summed in float64, so they agree to
// float32 rounding (1e-6 relative here); a wrong mixture, segment or draw shows as a
// difference of the size of the estimates themselves. Runs wherever the cuda backend does:
// on a GPU, and on the emulated device (-DINFOFLOW_CUDA_EMULATION=ON) in CI.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "cli_fixture.hpp"
#include "infoflow/infoflow.hpp"
#include "infoflow/network.hpp"
#include "io/matrix_file.hpp"
#include "test_util.hpp"

namespace infoflow {
namespace {

using testing::Cli;
using testing::CliResult;

void expect_close(double a, double b, double rel, const std::string& what) {
  EXPECT_LE(std::abs(a - b), rel * std::max(1.0, std::abs(b))) << what << ": cuda " << a << " vs cpu " << b;
}

class CudaCli : public Cli {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason();
    Cli::SetUp();
  }
  nlohmann::json json_of(const std::string& args, const std::string& launcher = "") const {
    const CliResult r = run(args + " --json", launcher);
    EXPECT_EQ(r.code, 0) << args << "\n" << r.err;
    return r.code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
  }
  // A small noisy network (4-5-3-2, tanh) with inputs and three labels.
  std::string mi_args(std::size_t inputs) const {
    const Network net =
        testing::random_network({4, 5, 3, 2}, {Activation::Tanh, Activation::Tanh, Activation::Linear}, 2);
    const std::string model = (dir_ / "net.safetensors").string(), x_path = (dir_ / "x.npy").string(),
                      y_path = (dir_ / "y.npy").string();
    save_network(model, net, "F64");
    const std::vector<double> x = testing::random_matrix(inputs, 4, 5);
    io::write_npy(x_path, {x.data(), inputs, 4});
    std::vector<double> y(inputs);
    for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<double>(i % 3);
    io::write_npy(y_path, {y.data(), inputs, 1});
    return "mi --model " + model + " --inputs " + x_path + " --labels " + y_path + " --beta 0.2 --seed 4";
  }
  void expect_same_layers(const nlohmann::json& cuda, const nlohmann::json& cpu, double rel,
                          const std::string& what) const {
    EXPECT_EQ(cuda["backend"], "cuda") << what;
    ASSERT_EQ(cuda["layers"].size(), cpu["layers"].size()) << what;
    for (std::size_t l = 0; l < cpu["layers"].size(); ++l) {
      EXPECT_EQ(cuda["layers"][l]["mc_queries"], cpu["layers"][l]["mc_queries"]) << what;
      for (const char* key : {"h_T_nats", "h_T_stderr_nats", "h_T_given_X_nats", "I_XT_nats", "I_XT_stderr_nats",
                              "I_YT_nats", "I_YT_stderr_nats"}) {
        expect_close(cuda["layers"][l][key].get<double>(), cpu["layers"][l][key].get<double>(), rel,
                     what + ": " + key + " of layer " + std::to_string(l + 1));
      }
    }
  }
};

TEST_F(CudaCli, EntropyAndBoundsAgreeWithCpu) {
  const std::vector<double> c = testing::random_matrix(1100, 5, 3);
  const std::string in = (dir_ / "c.npy").string();
  io::write_npy(in, {c.data(), 1100, 5});
  for (const std::string tol : {"0", "1e-6"}) {  // exact, and pruned where it pays
    const std::string args = "entropy --input " + in + " --sigma 0.3 --samples-per-center 3 --seed 11 --bounds --tolerance " + tol;
    const nlohmann::json cuda = json_of(args + " --backend cuda"), cpu = json_of(args + " --backend cpu");
    EXPECT_EQ(cuda["backend"], "cuda");
    EXPECT_EQ(cuda["samples"], cpu["samples"]);
    for (const char* key : {"entropy_nats", "stderr_nats", "kl_upper_nats", "bhattacharyya_lower_nats"}) {
      expect_close(cuda[key].get<double>(), cpu[key].get<double>(), 2e-6, std::string(key) + ", tolerance " + tol);
    }
  }
}

TEST_F(CudaCli, LogDensityAgreesWithCpu) {
  const std::vector<double> c = testing::random_matrix(700, 3, 1), q = testing::random_matrix(300, 3, 2);
  const std::string cp = (dir_ / "c.npy").string(), qp = (dir_ / "q.npy").string();
  io::write_npy(cp, {c.data(), 700, 3});
  io::write_npy(qp, {q.data(), 300, 3});
  const std::string args = "log-density --queries " + qp + " --centers " + cp + " --sigma 0.25 --tolerance 0";
  const std::string out_cuda = (dir_ / "cuda.npy").string(), out_cpu = (dir_ / "cpu.npy").string();
  const CliResult a = run(args + " --backend cuda --output " + out_cuda), b = run(args + " --backend cpu --output " + out_cpu);
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  const io::Matrix x = io::read_matrix(out_cuda), y = io::read_matrix(out_cpu);
  ASSERT_EQ(x.rows * x.cols, 300u);
  ASSERT_EQ(y.rows * y.cols, 300u);
  for (std::size_t i = 0; i < 300; ++i) expect_close(x.values[i], y.values[i], 1e-6, "query " + std::to_string(i));
}

// Default budget (queries spread over the conditional mixtures), J = 300 draws per centre
// and a target standard error.
TEST_F(CudaCli, MutualInformationWithLabelsAgreesWithCpu) {
  const std::string base = mi_args(120) + " --tolerance 0";
  for (const std::string budget : {" --samples-per-input 7 --mc-queries 900", " --samples-per-input 5 --mc-samples-per-center 300",
                                   " --samples-per-input 4 --target-stderr 0.05"}) {
    const nlohmann::json cuda = json_of(base + budget + " --backend cuda"), cpu = json_of(base + budget + " --backend cpu");
    expect_same_layers(cuda, cpu, 1e-5, budget);
  }
}

// Under mpirun each rank's chunks are small (about 1/8 of its share), so many fall inside
// one class's mixture: single segments, which the cuda backend once scored against every
// centre (I(Y;T) 0.95 instead of 0.35 nats here).
TEST_F(CudaCli, MpirunAgreesWithCpu) {
#ifndef INFOFLOW_MPIEXEC
  GTEST_SKIP() << "built without MPI";
#else
  const std::string launcher = std::string(INFOFLOW_MPIEXEC) + " --allow-run-as-root --oversubscribe -n 2";
  if (run("--version", launcher).code != 0) GTEST_SKIP() << "mpirun does not start 2 processes here";
  const std::string args = mi_args(120) + " --tolerance 0 --samples-per-input 5 --mc-samples-per-center 100";
  const nlohmann::json cuda = json_of(args + " --backend cuda", launcher), cpu = json_of(args + " --backend cpu");
  EXPECT_EQ(cuda["ranks"], 2);
  expect_same_layers(cuda, cpu, 1e-5, "mpirun -n 2");
#endif
}

// Ranks spread over the visible GPUs whether or not the launcher set CUDA_VISIBLE_DEVICES
// (they all sat on device 0 when it listed the node's GPUs). Needs two devices: on the
// emulated device, INFOFLOW_CUDA_EMULATION_DEVICES=2 makes two answer.
TEST_F(CudaCli, MpiRanksSpreadOverVisibleDevices) {
#ifndef INFOFLOW_MPIEXEC
  GTEST_SKIP() << "built without MPI";
#else
#ifdef INFOFLOW_CUDA_EMULATION
  const std::string devices = "INFOFLOW_CUDA_EMULATION_DEVICES=2 ";
#else
  const std::string devices;
  if (cuda_device_count() < 2) GTEST_SKIP() << "needs two CUDA devices";
#endif
  const std::string mpirun = std::string(INFOFLOW_MPIEXEC) + " --allow-run-as-root --oversubscribe -n 2";
  if (run("--version", mpirun).code != 0) GTEST_SKIP() << "mpirun does not start 2 processes here";
  const std::vector<double> c = testing::random_matrix(300, 2, 3);
  const std::string in = (dir_ / "c.npy").string();
  io::write_npy(in, {c.data(), 300, 2});
  for (const std::string visible : {"", "CUDA_VISIBLE_DEVICES=0,1 "}) {
    const CliResult r = run("entropy --input " + in + " --sigma 0.5 --backend cuda --json",
                            "env INFOFLOW_VERBOSE=1 " + devices + visible + mpirun);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("rank 0 (local 0): cuda device 0 of 2"), std::string::npos) << visible << r.err;
    EXPECT_NE(r.err.find("rank 1 (local 1): cuda device 1 of 2"), std::string::npos) << visible << r.err;
  }
#endif
}

}  // namespace
}  // namespace infoflow
