// A fixture for end-to-end tests of the `infoflow` command: runs it with arguments,
// captures stdout, stderr and the exit code, and writes input files in a per-test folder;
// and Child, the command started in the background for tests that signal it.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

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

// infoflow started as a child process, so a test can signal it while it runs.
class Child {
 public:
  Child(const std::string& args, const fs::path& err) : err_(err) {
    // The parent empties the stderr file before the fork: were the child to do it, a
    // wait_for() right after the constructor could still read an earlier Child's output
    // in the same file and signal a process that has not started yet.
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      const int o = ::open("/dev/null", O_WRONLY);
      ::dup2(o, 1), ::dup2(e, 2);
      ::execl("/bin/sh", "sh", "-c", ("exec " + std::string(INFOFLOW_CLI_PATH) + " " + args).c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(e);
  }
  ~Child() {
    if (pid_ > 0 && !waited_) ::kill(pid_, SIGKILL), wait();
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  // Waits (up to `seconds`) until stderr contains `text`.
  bool wait_for(const std::string& text, double seconds = 20) const {
    return poll([&] { return slurp(err_).find(text) != std::string::npos; }, seconds);
  }
  // Waits (up to `seconds`) until `p` exists.
  bool wait_for_path(const fs::path& p, double seconds = 20) const {
    return poll([&] { return fs::exists(p); }, seconds);
  }
  // The staging directory of a `train --out D` child (cli/run_dir.hpp), beside D's real path.
  fs::path staging(const fs::path& out) const {
    const fs::path d = fs::weakly_canonical(out);
    return d.parent_path() / ("." + d.filename().string() + ".infoflow-staging-" + std::to_string(pid_));
  }
  // A `train --out D` child has its signal handlers once its staging directory has
  // checkpoints/ in it (cli/train_command.cpp): a signal before that would meet the
  // default action, not the handler under test. Waiting for it, not for a fixed time, is
  // what keeps a test of the handler from depending on how loaded the machine is.
  bool wait_for_training(const fs::path& out, double seconds = 20) const {
    return wait_for_path(staging(out) / "checkpoints", seconds);
  }
  void signal(int sig) const { ::kill(pid_, sig); }
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    waited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::string err() const { return slurp(err_); }

 private:
  template <class Done>
  static bool poll(Done done, double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  pid_t pid_ = -1;
  fs::path err_;
  bool waited_ = false;
};

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
