// Hostile input, one test (or a few) per class of tests/README.md "Hostile input": each
// runs the real CLI and checks the exit code, the message, and that files it must not
// touch are byte-for-byte as before.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "cli_fixture.hpp"

namespace infoflow::testing {
namespace {

using Snapshot = std::map<std::string, std::string>;  // relative path -> bytes ("<dir>" for directories)

Snapshot snapshot(const fs::path& dir) {
  Snapshot s;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string rel = fs::relative(e.path(), dir).generic_string();
    s[rel] = e.is_directory() ? "<dir>" : slurp(e.path());
  }
  return s;
}

// infoflow started as a child process, so a test can signal it while it runs.
class Child {
 public:
  Child(const std::string& args, const fs::path& err) : err_(err) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int o = ::open("/dev/null", O_WRONLY);
      ::dup2(o, 1), ::dup2(e, 2);
      ::execl("/bin/sh", "sh", "-c", ("exec " + std::string(INFOFLOW_CLI_PATH) + " " + args).c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0 && !waited_) ::kill(pid_, SIGKILL), wait();
  }
  // Waits (up to `seconds`) until stderr contains `text`.
  bool wait_for(const std::string& text, double seconds = 20) const {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      if (slurp(err_).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
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
  pid_t pid_ = -1;
  fs::path err_;
  bool waited_ = false;
};

class Hostile : public Cli {
 protected:
  // A finished run, fast: 3 epochs, no estimation.
  fs::path make_run(const std::string& name, int seed = 1) const {
    const fs::path out = dir_ / name;
    const CliResult r = run(train_args(out, seed, 3));
    EXPECT_EQ(r.code, 0) << r.err;
    return out;
  }
  static std::string train_args(const fs::path& out, int seed, long epochs, const std::string& extra = "--no-estimate") {
    return "train --preset szt --epochs " + std::to_string(epochs) + " --track log:2 --seed " + std::to_string(seed) +
           " " + extra + " --out " + out.string();
  }
  // Nothing of infoflow's left beside the runs: no staging directory, no lock file.
  void expect_no_leftovers() const {
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string f = e.path().filename().string();
      EXPECT_EQ(f.find(".infoflow-"), std::string::npos) << "left behind: " << e.path();
    }
  }
};

// ---- Data safety: train --out is a transaction ----

TEST_F(Hostile, TrainRefusesAForeignDirectoryBeforeWritingAnything) {
  const fs::path out = dir_ / "mine";
  fs::create_directories(out / "sub");
  file("mine/history.csv", "my,own\n1,2\n");
  file("mine/sub/notes.txt", "keep me");
  const Snapshot before = snapshot(out);
  expect_error(train_args(out, 1, 2), "not an infoflow run");
  expect_error(train_args(out, 1, 2) + " --force", "not an infoflow run");
  EXPECT_EQ(snapshot(out), before);
  expect_no_leftovers();
  // A file where the directory should be.
  const std::string f = file("plain", "x");
  expect_error(train_args(f, 1, 2), "is not a directory");
  EXPECT_EQ(slurp(f), "x");
  expect_error("train --preset szt --out ''", "--out: empty value");
}

TEST_F(Hostile, TrainRefusesAnExistingRunWithoutForce) {
  const fs::path out = make_run("run");
  ASSERT_TRUE(fs::exists(out / ".infoflow-run"));
  const Snapshot before = snapshot(out);
  expect_error(train_args(out, 2, 2), "--force");
  EXPECT_EQ(snapshot(out), before);
  expect_no_leftovers();
}

TEST_F(Hostile, ForceRefusesToDeleteFilesInfoflowDidNotWrite) {
  const fs::path out = make_run("run");
  fs::create_directories(out / "figures");
  file("run/figures/fig1.png", "user figure");
  file("run/checkpoints/my_model.safetensors", "user model");
  const Snapshot before = snapshot(out);
  const CliResult r = run(train_args(out, 2, 2) + " --force");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("did not write"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("figures/fig1.png"), std::string::npos) << r.err;
  EXPECT_EQ(snapshot(out), before);
  expect_no_leftovers();
}

TEST_F(Hostile, ForceReplacesAWholeRunWithAWholeRun) {
  const fs::path out = make_run("run", 1);
  fs::create_directories(out / "figures");
  file("run/figures/training.png", "what infoflow plot wrote");  // infoflow's own: replaced
  const CliResult r = run(train_args(out, 7, 2) + " --force");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(slurp(out / "run.json"));
  EXPECT_EQ(j["training"]["seed"], 7);
  EXPECT_EQ(j["training"]["epochs"], 2);
  EXPECT_FALSE(fs::exists(out / "figures"));
  EXPECT_FALSE(fs::exists(out / "checkpoints" / "epoch_00003.safetensors"));  // the old run's last epoch
  EXPECT_TRUE(fs::exists(out / "checkpoints" / "epoch_00002.safetensors"));
  // Every file is the new run's: the same command into a fresh directory gives the same bytes.
  const fs::path fresh = dir_ / "fresh";
  ASSERT_EQ(run(train_args(fresh, 7, 2)).code, 0);
  Snapshot a = snapshot(out), b = snapshot(fresh);
  a.erase("run.json"), b.erase("run.json");  // timings and the command line differ
  EXPECT_EQ(a, b);
  expect_no_leftovers();
}

// SIGINT or SIGTERM during a --force run over an earlier run: the earlier run is whole.
TEST_F(Hostile, InterruptedForceLeavesThePreviousRunByteForByte) {
  const fs::path out = make_run("run");
  const Snapshot before = snapshot(out);
  for (int sig : {SIGINT, SIGTERM}) {
    Child c(train_args(out, 2, 1000000) + " --force", dir_ / "err");
    ASSERT_TRUE(c.wait_for("epoch 1/")) << c.err();  // the first checkpoint is written in staging
    c.signal(sig);
    EXPECT_EQ(c.wait(), 128 + sig) << c.err();
    EXPECT_NE(c.err().find("interrupted after epoch"), std::string::npos) << c.err();
    EXPECT_EQ(snapshot(out), before) << "signal " << sig;
    expect_no_leftovers();
  }
}

// A second Ctrl-C does not wait for the epoch (here a long estimate) to end.
TEST_F(Hostile, SecondInterruptExitsAtOnce) {
  const fs::path out = make_run("run");
  const Snapshot before = snapshot(out);
  Child c(train_args(out, 2, 1000000, "--samples-per-input 100 --mc-queries 200000 --backend cpu") + " --force",
          dir_ / "err");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // inside the first checkpoint's estimate
  c.signal(SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto t0 = std::chrono::steady_clock::now();
  c.signal(SIGINT);
  EXPECT_EQ(c.wait(), 130) << c.err();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
  EXPECT_NE(c.err().find("interrupted again"), std::string::npos) << c.err();
  EXPECT_EQ(snapshot(out), before);
  // What the killed run left (staging, lock) is cleared by the next run into the directory.
  ASSERT_EQ(run(train_args(out, 3, 1) + " --force").code, 0);
  expect_no_leftovers();
}

// Two runs into one new directory at once: exactly one succeeds and the directory is that
// run, whole (its seed in run.json, its own history).
TEST_F(Hostile, ConcurrentRunsIntoOneDirectoryGiveExactlyOneRun) {
  const fs::path out = dir_ / "shared";
  Child a(train_args(out, 1, 60), dir_ / "err1"), b(train_args(out, 2, 60), dir_ / "err2");
  const int ca = a.wait(), cb = b.wait();
  ASSERT_EQ((ca == 0) + (cb == 0), 1) << a.err() << "\n" << b.err();
  const int winner = ca == 0 ? 1 : 2;
  const std::string loser_err = ca == 0 ? b.err() : a.err();
  EXPECT_EQ(ca == 0 ? cb : ca, 2) << loser_err;
  EXPECT_TRUE(loser_err.find("being written by another infoflow train") != std::string::npos ||
              loser_err.find("already holds an infoflow run") != std::string::npos)
      << loser_err;
  const auto j = nlohmann::json::parse(slurp(out / "run.json"));
  EXPECT_EQ(j["training"]["seed"], winner);
  const fs::path alone = dir_ / "alone";
  ASSERT_EQ(run(train_args(alone, winner, 60)).code, 0);
  EXPECT_EQ(slurp(out / "history.csv"), slurp(alone / "history.csv"));
  EXPECT_EQ(slurp(out / "checkpoints" / "epoch_00060.safetensors"), slurp(alone / "checkpoints" / "epoch_00060.safetensors"));
  expect_no_leftovers();
}

TEST_F(Hostile, ARunningTrainHoldsTheLock) {
  const fs::path out = dir_ / "busy";
  Child a(train_args(out, 1, 1000000), dir_ / "err");
  ASSERT_TRUE(a.wait_for("epoch 1/")) << a.err();
  const CliResult r = run(train_args(out, 2, 2) + " --force");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("being written by another infoflow train"), std::string::npos) << r.err;
  a.signal(SIGINT);
  EXPECT_EQ(a.wait(), 130);
  EXPECT_FALSE(fs::exists(out));
  expect_no_leftovers();
}

// Training that blows up (a learning rate of 1e300) stops with an error and keeps the last
// network whose weights were finite.
TEST_F(Hostile, DivergingTrainingStopsAndKeepsTheLastGoodCheckpoint) {
  const fs::path out = dir_ / "div";
  const CliResult r = run("train --preset szt --epochs 50 --track log:2 --no-estimate --optimizer sgd --lr 1e300 --out " +
                          out.string());
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("training diverged at epoch"), std::string::npos) << r.err;
  ASSERT_TRUE(fs::exists(out / "run.json"));
  const auto j = nlohmann::json::parse(slurp(out / "run.json"));
  ASSERT_TRUE(j["stopped"].is_string());
  const int last_good = j["final"]["epoch"];
  EXPECT_LT(last_good, 50);
  char name[64];
  std::snprintf(name, sizeof name, "epoch_%05d.safetensors", last_good);
  EXPECT_TRUE(fs::exists(out / "checkpoints" / name)) << name;
  for (const auto& e : fs::directory_iterator(out / "checkpoints")) {
    const CliResult mi = run("mi --model " + e.path().string() + " --inputs " + (out / "inputs.npy").string() +
                             " --beta 0.005 --samples-per-input 2 --mc-queries 256 --json");
    EXPECT_EQ(mi.code, 0) << e.path() << mi.err;  // every checkpoint kept is a finite network
  }
  const std::string history = slurp(out / "history.csv");
  EXPECT_EQ(std::count(history.begin(), history.end(), '\n'), last_good + 1);
}

}  // namespace
}  // namespace infoflow::testing
