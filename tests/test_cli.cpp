// The `infoflow` command end to end: results, --json, and every class of bad input
// giving one clear line on stderr, a non-zero exit code and nothing on stdout.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "cli_fixture.hpp"

#include "io/matrix_file.hpp"
#include "test_util.hpp"

namespace infoflow {
namespace {

using testing::Cli;
using testing::CliResult;
namespace fs = std::filesystem;

TEST_F(Cli, JsonMatchesLibrary) {
  const auto c = testing::random_matrix(300, 3, 8);
  const std::string path = (dir_ / "c.npy").string();
  io::write_npy(path, {c.data(), 300, 3});
  const CliResult r = run("entropy --input " + path +
                          " --sigma 0.2 --samples-per-center 4 --seed 9 --bounds --backend cpu --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);  // exactly one object: parse fails on trailing junk
  EntropyOptions o;
  o.sigma = 0.2, o.samples_per_center = 4, o.seed = 9, o.bounds = true;
  o.compute.backend = Backend::Cpu;
  const EntropyResult lib = mixture_entropy({c.data(), 300, 3}, o);
  EXPECT_DOUBLE_EQ(j.at("entropy_nats").get<double>(), lib.entropy_nats);
  EXPECT_DOUBLE_EQ(j.at("stderr_nats").get<double>(), lib.stderr_nats);
  EXPECT_DOUBLE_EQ(j.at("kl_upper_nats").get<double>(), lib.kl_upper_nats);
  EXPECT_DOUBLE_EQ(j.at("bhattacharyya_lower_nats").get<double>(), lib.bhattacharyya_lower_nats);
  EXPECT_EQ(j.at("n"), 300);
  EXPECT_EQ(j.at("d"), 3);
  EXPECT_EQ(j.at("samples"), 1200);
  EXPECT_EQ(j.at("sigma"), 0.2);
  EXPECT_EQ(j.at("backend"), "cpu");
  EXPECT_GE(j.at("seconds").get<double>(), 0);
}

// log-density end to end: the written .npy holds exactly the library's values for the
// same options, at the default tolerance and exact (--tolerance 0), and both lie within
// the accuracy contract of the float64 reference (the default one within log1p(1e-6)
// more). Clustered data at a small sigma, where the default run may skip tiles.
TEST_F(Cli, LogDensityMatchesLibraryAtEachTolerance) {
  const std::size_t n = 3000, d = 3;
  auto c = testing::random_matrix(n, d, 21);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < d; ++k) c[i * d + k] = 0.01 * c[i * d + k] + double((i % 8) >> k & 1);
  }
  const auto q = testing::random_matrix(500, d, 22);
  const std::string cp = (dir_ / "c.npy").string(), qp = (dir_ / "q.npy").string(),
                    op = (dir_ / "out.npy").string();
  io::write_npy(cp, {c.data(), n, d});
  io::write_npy(qp, {q.data(), 500, d});
  std::vector<double> ref(500);
  ComputeOptions o;
  o.backend = Backend::Reference;
  log_density({q.data(), 500, d}, {c.data(), n, d}, {}, 0.01, {ref.data(), 500}, o);
  for (double tolerance : {ComputeOptions{}.tolerance, 0.0}) {
    const CliResult r = run("log-density --queries " + qp + " --centers " + cp + " --sigma 0.01 --output " + op +
                            " --backend cpu --json --tolerance " + std::to_string(tolerance));
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("tolerance").get<double>(), tolerance);
    const io::Matrix out = io::read_matrix(op);
    ASSERT_EQ(out.rows, 500u);
    std::vector<double> lib(500);
    o.backend = Backend::Cpu;
    o.tolerance = tolerance;
    log_density({q.data(), 500, d}, {c.data(), n, d}, {}, 0.01, {lib.data(), 500}, o);
    for (std::size_t i = 0; i < 500; ++i) {
      EXPECT_DOUBLE_EQ(out.view().data[i], lib[i]) << "row " << i;
      EXPECT_NEAR(out.view().data[i], ref[i], 1e-5 * (1 + std::abs(ref[i])) + std::log1p(tolerance)) << "row " << i;
    }
  }
  expect_error("log-density --queries " + qp + " --centers " + cp + " --sigma 1 --output " + op +
                   " --tolerance 1.5", "--tolerance");
}

TEST_F(Cli, CsvAndTextOutputAndAutoBackend) {
  const std::string path = file("c.csv", "x,y\n-1,0\n1,0\n");
  const CliResult r = run("entropy --input " + path + " --sigma 1 --samples-per-center 20000");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("entropy h(g)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("backend"), std::string::npos);
  if (!cuda_available()) EXPECT_NE(r.err.find("using the cpu backend"), std::string::npos) << r.err;
  // h = I + h(noise) for the +-1 channel at 0 dB, 1-D in the first coordinate; the second
  // coordinate is a constant 0, adding one more component entropy.
  const double expected = 0.336831 + 2 * gaussian_entropy(1, 1.0);
  const CliResult j = run("entropy --input " + path + " --sigma 1 --samples-per-center 20000 --json");
  const auto js = nlohmann::json::parse(j.out);
  EXPECT_NEAR(js["entropy_nats"].get<double>(), expected, 4 * js["stderr_nats"].get<double>());
}

TEST_F(Cli, HelpAndVersion) {
  CliResult r = run("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("entropy"), std::string::npos);
  r = run("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find(std::string(version())), std::string::npos);
  r = run("entropy --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--samples-per-center"), std::string::npos);
}

TEST_F(Cli, BadInputs) {
  const auto ok = file("ok.csv", "0\n1\n");
  expect_error("entropy --input " + (dir_ / "missing.npy").string() + " --sigma 1", "missing.npy");
  expect_error("entropy --input " + npy("u16.npy", "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", std::string(16, '\0')) + " --sigma 1", "c8");
  expect_error("entropy --input " + npy("f.npy", "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", std::string(32, '\0')) + " --sigma 1", "ortran");
  expect_error("entropy --input " + npy("t.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2), }", std::string(40, '\0')) + " --sigma 1", "t.npy");
  expect_error("entropy --input " + file("nan.csv", "0,1\nnan,2\n") + " --sigma 1", "nan.csv");
  expect_error("entropy --input " + file("empty.csv", "") + " --sigma 1", "empty.csv");
  expect_error("entropy --input " + file("ragged.csv", "0,1\n2\n") + " --sigma 1", "ragged.csv");
  expect_error("entropy --input " + file("words.csv", "0,1\n2,abc\n") + " --sigma 1", "words.csv");
  expect_error("entropy --input " + file("junk.npy", std::string("\x00\x01\x02garbage", 10)) + " --sigma 1", "junk.npy");
  expect_error("entropy --input " + ok + " --sigma 0", "sigma");
  expect_error("entropy --input " + ok + " --sigma -2", "sigma");
  expect_error("entropy --input " + ok + " --sigma abc", "sigma");
  expect_error("entropy --input " + ok + " --sigma 1 --samples-per-center 0", "samples-per-center");
  expect_error("entropy --input " + ok + " --sigma 1 --samples-per-center -3", "samples-per-center");
  expect_error("entropy --input " + ok + " --sigma 1 --backend gpu", "backend");
  expect_error("entropy --sigma 1", "input");
  // 10^5 OpenMP threads crashed inside libgomp (per-thread team data on the stack).
  expect_error("entropy --input " + ok + " --sigma 1 --threads 100000", "--threads");
  expect_error("log-density --queries " + ok + " --centers " + ok + " --sigma 1 --output " +
                   (dir_ / "o.npy").string() + " --threads -1", "--threads");
  if (!cuda_available()) expect_error("entropy --input " + ok + " --sigma 1 --backend cuda", "cuda", 3);
}

// A header claiming more data than memory holds is refused before any allocation. The
// file is sparse: it has the claimed size on disk without using the space.
TEST_F(Cli, SizeThatCannotFit) {
  const std::string path =
      npy("huge.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (10000000000, 10), }", "");
  fs::resize_file(path, fs::file_size(path) + 800000000000ull);
  expect_error("entropy --input " + path + " --sigma 1", "GiB", 3);
}

}  // namespace
}  // namespace infoflow
