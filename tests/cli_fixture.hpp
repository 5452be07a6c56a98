// A fixture for end-to-end tests of the `infoflow` command: runs it with arguments,
// captures stdout, stderr and the exit code, and writes input files in a per-test folder.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace infoflow::testing {

namespace fs = std::filesystem;

struct CliResult {
  int code;
  std::string out, err;
};

inline std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class Cli : public ::testing::Test {
 public:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("infoflow_cli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // launcher: a command to start infoflow with, e.g. "mpirun -n 2".
  CliResult run(const std::string& args, const std::string& launcher = "") const {
    const fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    const std::string cmd = launcher + " " + std::string(INFOFLOW_CLI_PATH) + " " + args + " >" + out.string() +
                            " 2>" + err.string() + " </dev/null";
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  }
  std::string file(const std::string& name, const std::string& bytes) const {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p.string();
  }
  // A .npy file with an arbitrary header dict and payload, as numpy lays it out.
  std::string npy(const std::string& name, const std::string& dict, const std::string& payload) const {
    std::string header = dict;
    while ((10 + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string bytes = "\x93NUMPY";
    bytes += '\x01', bytes += '\x00';
    bytes += static_cast<char>(header.size() & 0xff), bytes += static_cast<char>(header.size() >> 8);
    return file(name, bytes + header + payload);
  }
  // Expects a clean failure: non-zero exit, one error line naming `needle`, no stdout.
  void expect_error(const std::string& args, const std::string& needle, int code = 2) const {
    const CliResult r = run(args);
    EXPECT_EQ(r.code, code) << args << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << args << " printed: " << r.out;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\nstderr: " << r.err;
    EXPECT_NE(r.err.find("error"), std::string::npos) << r.err;
  }
  fs::path dir_;
};

}  // namespace infoflow::testing
