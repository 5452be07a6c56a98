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
#include <cstring>
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

// A link to a run directory (on another disk, say): --force replaces the run it points
// to, and the link stays a link. The current directory is refused: a rename would leave
// the shell in a directory without a name.
TEST_F(Hostile, ForceThroughASymlinkKeepsTheLinkAndTheCurrentDirectoryIsRefused) {
  const fs::path real = make_run("real", 1);
  fs::create_symlink(real, dir_ / "link");
  ASSERT_EQ(run(train_args(dir_ / "link", 5, 2) + " --force").code, 0);
  EXPECT_TRUE(fs::is_symlink(dir_ / "link"));
  EXPECT_EQ(nlohmann::json::parse(slurp(real / "run.json"))["training"]["seed"], 5);
  fs::create_directories(dir_ / "empty");
  const std::string cmd = "cd " + (dir_ / "empty").string() + " && " + INFOFLOW_CLI_PATH +
                          " train --preset szt --epochs 1 --no-estimate --out . 2>" + (dir_ / "err").string();
  EXPECT_EQ(WEXITSTATUS(std::system(cmd.c_str())), 2);
  EXPECT_NE(slurp(dir_ / "err").find("current directory"), std::string::npos) << slurp(dir_ / "err");
  EXPECT_TRUE(fs::is_empty(dir_ / "empty"));
  expect_no_leftovers();
}

// A run interrupted by an earlier version left .partial files and no run.json: --force
// replaces it (every file is one that layout has), and still refuses a user's file in it.
TEST_F(Hostile, ForceReplacesAnInterruptedRunOfTheOldLayout) {
  const fs::path out = dir_ / "old";
  fs::create_directories(out / "checkpoints");
  file("old/metrics.csv.partial", "epoch,layer\n");
  file("old/history.csv.partial", "epoch\n");
  file("old/inputs.npy", "x");
  file("old/checkpoints/epoch_00001.safetensors", "x");
  file("old/notes.txt", "mine");
  expect_error(train_args(out, 1, 2) + " --force", "notes.txt");
  fs::remove(out / "notes.txt");
  expect_error(train_args(out, 1, 2), "--force");
  ASSERT_EQ(run(train_args(out, 1, 2) + " --force").code, 0);
  EXPECT_FALSE(fs::exists(out / "metrics.csv.partial"));
  EXPECT_TRUE(fs::exists(out / ".infoflow-run"));
  expect_no_leftovers();
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

// One signal delivered twice at once (`timeout` signals the process and its group) is one
// interrupt: the run still stops cleanly, not "at once".
TEST_F(Hostile, ASignalDeliveredTwiceAtOnceIsOneInterrupt) {
  const fs::path out = make_run("run");
  const Snapshot before = snapshot(out);
  Child c(train_args(out, 2, 1000000) + " --force", dir_ / "err");
  ASSERT_TRUE(c.wait_for("epoch 1/")) << c.err();
  c.signal(SIGINT);
  c.signal(SIGINT);
  EXPECT_EQ(c.wait(), 130) << c.err();
  EXPECT_NE(c.err().find("interrupted after epoch"), std::string::npos) << c.err();
  EXPECT_EQ(c.err().find("interrupted again"), std::string::npos) << c.err();
  EXPECT_EQ(snapshot(out), before);
  expect_no_leftovers();
}

// A second Ctrl-C does not wait for the epoch (here a long estimate) to end.
TEST_F(Hostile, SecondInterruptExitsAtOnce) {
  const fs::path out = make_run("run");
  const Snapshot before = snapshot(out);
  Child c(train_args(out, 2, 1000000, "--samples-per-input 100 --mc-queries 200000 --backend cpu") + " --force",
          dir_ / "err");
  // Epoch 1's checkpoint is written just before its estimate, which (200,000 queries over
  // 409,600 centres) lasts seconds to minutes: both signals land inside it.
  ASSERT_TRUE(c.wait_for_path(c.staging(out) / "checkpoints" / "epoch_00001.safetensors")) << c.err();
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

// A crash (SIGKILL here: no handler runs) leaves the previous run whole and the staging
// directory under its own name beside it; the next run into the directory removes it.
TEST_F(Hostile, KilledRunLeavesThePreviousRunWhole) {
  const fs::path out = make_run("run");
  const Snapshot before = snapshot(out);
  Child c(train_args(out, 2, 1000000) + " --force", dir_ / "err");
  ASSERT_TRUE(c.wait_for("epoch 1/")) << c.err();
  c.signal(SIGKILL);
  EXPECT_EQ(c.wait(), 128 + SIGKILL);
  EXPECT_EQ(snapshot(out), before);
  bool staging = false;
  for (const auto& e : fs::directory_iterator(dir_)) {
    staging = staging || e.path().filename().string().rfind(".run.infoflow-staging-", 0) == 0;
  }
  EXPECT_TRUE(staging);
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

// ---- Output files: replaced whole, and only when a regular file ----

class HostileOutput : public Hostile {
 protected:
  void SetUp() override {
    Hostile::SetUp();
    queries_ = file("q.csv", "0,0\n1,1\n2,2\n");
    centers_ = file("c.csv", "0,0\n1,1\n");
  }
  CliResult log_density(const std::string& output, const std::string& extra = "") const {
    return run("log-density --queries " + queries_ + " --centers " + centers_ + " --sigma 1 --backend cpu --output " +
               output + " " + extra);
  }
  std::string queries_, centers_;
};

// The .npy log-density writes: shape (m,), as its help says, m = the query rows.
std::vector<double> read_vector_npy(const std::string& bytes, std::string* shape) {
  const std::size_t header_len = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
  const std::string header = bytes.substr(10, header_len);
  const std::size_t a = header.find("'shape': ("), b = header.find(')', a);
  *shape = header.substr(a + 10, b - a - 10);
  std::vector<double> v((bytes.size() - 10 - header_len) / 8);
  std::memcpy(v.data(), bytes.data() + 10 + header_len, v.size() * 8);
  return v;
}

TEST_F(HostileOutput, NpyHasTheShapeTheHelpStatesAndCsvIsText) {
  const fs::path npy = dir_ / "o.npy", csv = dir_ / "o.csv";
  ASSERT_EQ(log_density(npy.string()).code, 0);
  std::string shape;
  const std::vector<double> v = read_vector_npy(slurp(npy), &shape);
  EXPECT_EQ(shape, "3,");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_NE(run("log-density --help").out.find("shape (m,)"), std::string::npos);
  ASSERT_EQ(log_density(csv.string()).code, 0);
  std::stringstream text(slurp(csv));
  for (double expected : v) {
    double got = 0;
    ASSERT_TRUE(text >> got) << slurp(csv);
    EXPECT_EQ(got, expected);  // %.17g round-trips
  }
  EXPECT_EQ(slurp(csv).find("NUMPY"), std::string::npos);
  // Another extension is refused before any work, and nothing is created.
  expect_error("log-density --queries " + queries_ + " --centers " + centers_ + " --sigma 1 --output " +
                   (dir_ / "o.json").string(), "unknown output format '.json'");
  EXPECT_FALSE(fs::exists(dir_ / "o.json"));
}

TEST_F(HostileOutput, OnlyRegularFilesAreReplaced) {
  // A regular file: replaced whole, its permission bits kept.
  const std::string old = file("old.npy", "old bytes");
  fs::permissions(old, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  ASSERT_EQ(log_density(old).code, 0);
  EXPECT_NE(slurp(old), "old bytes");
  EXPECT_EQ(fs::status(old).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  // A symbolic link stays a link; the file it names gets the result.
  const std::string target = file("target.npy", "x");
  fs::create_symlink(target, dir_ / "link.npy");
  ASSERT_EQ(log_density((dir_ / "link.npy").string()).code, 0);
  EXPECT_TRUE(fs::is_symlink(dir_ / "link.npy"));
  EXPECT_EQ(slurp(target), slurp(old));
  // A directory, a dangling link, a missing directory: refused, untouched.
  fs::create_directories(dir_ / "d.npy" / "inner");
  expect_error("log-density --queries " + queries_ + " --centers " + centers_ + " --sigma 1 --output " +
                   (dir_ / "d.npy").string(), "is a directory");
  EXPECT_TRUE(fs::is_directory(dir_ / "d.npy" / "inner"));
  fs::create_symlink(dir_ / "nowhere" / "x.npy", dir_ / "dangling.npy");
  expect_error("log-density --queries " + queries_ + " --centers " + centers_ + " --sigma 1 --output " +
                   (dir_ / "dangling.npy").string(), "symbolic link");
  EXPECT_TRUE(fs::is_symlink(dir_ / "dangling.npy"));
  expect_error("log-density --queries " + queries_ + " --centers " + centers_ + " --sigma 1 --output " +
                   (dir_ / "no" / "such" / "o.npy").string(), "no such directory");
  // Devices are written into, never replaced; a full device is an error.
  ASSERT_EQ(log_density("/dev/null").code, 0);
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
  const CliResult full = log_density("/dev/full");
  EXPECT_EQ(full.code, 2);
  EXPECT_NE(full.err.find("No space left on device"), std::string::npos) << full.err;
  EXPECT_TRUE(fs::is_character_file("/dev/full"));
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().filename().string().find("infoflow-tmp"), std::string::npos) << e.path();
  }
}

// A result printed to a full device is no result: an error, not exit 0.
TEST_F(HostileOutput, ResultThatCannotReachStdoutIsAnError) {
  const std::string cmd = std::string(INFOFLOW_CLI_PATH) + " entropy --input " + centers_ +
                          " --sigma 1 --backend cpu --json >/dev/full 2>" + (dir_ / "err").string();
  EXPECT_EQ(WEXITSTATUS(std::system(cmd.c_str())), 1);
  EXPECT_NE(slurp(dir_ / "err").find("cannot write the result to standard output (No space left on device)"),
            std::string::npos)
      << slurp(dir_ / "err");
}

TEST_F(HostileOutput, FifoIsWrittenIntoNotReplaced) {
  const fs::path fifo = dir_ / "pipe.npy";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  std::string received;
  std::thread reader([&] { received = slurp(fifo); });
  const CliResult r = log_density(fifo.string());
  reader.join();
  EXPECT_EQ(r.code, 0) << r.err;
  std::string shape;
  EXPECT_EQ(read_vector_npy(received, &shape).size(), 3u);
  EXPECT_TRUE(fs::is_fifo(fifo));
}

// ---- Numbers: parsed strictly, never clamped or wrapped ----

TEST_F(Hostile, NumericOptionsAreStrict) {
  const std::string c = file("c.csv", "0,0\n1,1\n");
  std::string twenty;
  for (int i = 0; i < 20; ++i) twenty += std::to_string(i) + "\n";
  const std::string c20 = file("c20.csv", twenty);
  const std::string e = "entropy --input " + c + " --sigma 1 ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {e + "--seed 18446744073709551616", "--seed: '18446744073709551616' is out of range"},
      {e + "--seed 99999999999999999999999", "out of range"},
      {e + "--seed -1", "--seed: '-1' is negative"},
      {e + "--seed ''", "--seed: empty value"},
      {e + "--seed 1.5", "is not an integer"},
      {e + "--seed 0x10", "is not an integer"},
      {e + "--seed ' 1'", "is not an integer"},
      {e + "--samples-per-center 0", "--samples-per-center: 0 is out of range"},
      {e + "--samples-per-center -3", "is negative"},
      {"entropy --input " + c20 + " --sigma 1 --samples-per-center 922337203685477581", "is more than 2^64 - 1"},
      {e + "--samples-per-center 922337203685477581", "more than the 2^40"},
      {"entropy --input " + c + " --sigma ''", "--sigma: empty value"},
      {"entropy --input " + c + " --sigma 1e400", "out of the range of float64"},
      {"entropy --input " + c + " --sigma inf", "not a finite number"},
      {"entropy --input " + c + " --sigma nan", "not a finite number"},
      {"entropy --input " + c + " --sigma -1", "--sigma: -1 is out of range"},
      {"entropy --input " + c + " --sigma 0", "--sigma: 0 is out of range"},
      {"entropy --input " + c + " --sigma 1x", "is not a number"},
      {e + "--threads 2000", "--threads: 2000 is out of range"},
      {e + "--threads 4294967297", "out of range"},
      {e + "--threads -1", "is negative"},
      {e + "--tolerance 1", "--tolerance: 1 is out of range"},
      {e + "--tolerance -0.1", "out of range"},
      {"train --preset szt --out x --epochs 0", "--epochs: 0 is out of range"},
      {"train --preset szt --out x --epochs -1", "is negative"},
      {"train --preset szt --out x --epochs 18446744073709551616", "out of range"},
      {"train --preset szt --out x --batch-size 0", "--batch-size"},
      {"train --preset szt --out x --track-every 0", "--track-every: 0"},
      {"train --preset szt --out x --test-fraction 1", "--test-fraction"},
      {"train --preset szt --out x --momentum 1", "--momentum"},
      {"train --preset szt --out x --bin-size 0", "--bin-size: 0"},
      {"train --preset szt --out x --bin-size -1", "--bin-size"},
      {"train --preset szt --out x --lr 1e999", "out of the range of float64"},
      {"train --preset szt --out x --layers 12,2", "at least one hidden"},
      {"train --preset szt --out x --momentum 0.9", "--momentum applies to --optimizer sgd"},
      {"train --preset szt --out x --orthonormal-alpha 0.1", "--orthonormal-alpha applies with --orthonormal"},
      {"train --preset szt --out x --test-fraction 0.3", "--test-fraction applies to --inputs/--labels"},
      {"train --preset szt --out x --track log:1000000000000000000", "at most 1000000 checkpoints"},
      {"train --preset szt --out x --track log:99999999999999999999", "--track"},
      {"train --preset szt --out x --epochs 1000000000 --track-every 1", "more than 1000000"},
      {"train --preset szt --out x --layers 12,99999999999999999999,2", "--layers"},
      {"mi --model m --inputs i --beta 1 --mc-queries 0", "--mc-queries: 0"},
      {"mi --model m --inputs i --beta 1 --mc-samples-per-center -5", "is negative"},
      {"mi --model m --inputs i --beta 1 --target-stderr 0", "--target-stderr: 0"},
      {"mi --model m --inputs i --beta 0", "--beta: 0"},
  };
  for (const auto& [args, needle] : cases) expect_error(args, needle);
  EXPECT_FALSE(fs::exists("x"));
  // The edges of the range are values.
  const CliResult top = run(e + "--seed 18446744073709551615 --json");
  ASSERT_EQ(top.code, 0) << top.err;
  EXPECT_EQ(nlohmann::json::parse(top.out)["seed"].get<std::uint64_t>(), ~std::uint64_t{0});
  EXPECT_EQ(run(e + "--threads 0 --tolerance 0 --json").code, 0);
}

TEST_F(Hostile, UnknownNamesAndEmptyValuesAreNamed) {
  const std::string c = file("c.csv", "0,0\n1,1\n");
  expect_error("entropi --input " + c + " --sigma 1", "unknown command 'entropi' (did you mean 'entropy'?)");
  expect_error("log-densty", "did you mean 'log-density'");
  expect_error("frobnicate", "unknown command 'frobnicate'");
  expect_error("entropy --input " + c + " --sigam 1", "unknown option '--sigam' for 'infoflow entropy' (did you mean '--sigma'?)");
  expect_error("train --preset szt --out x --epoch 3", "did you mean '--epochs'");
  expect_error("mi --model m --inputs i --beta 1 --sampels-per-input 3", "did you mean '--samples-per-input'");
  expect_error("--verbose entropy", "unknown option '--verbose'");
  expect_error("entropy --input '' --sigma 1", "--input: empty value");
  expect_error("entropy --input " + c + " --sigma 1 --backend ''", "--backend: empty value");
  expect_error("train --preset '' --out x", "--preset: empty value");
  expect_error("entropy --input " + c + " --sigma 1 --sigma=2", "--sigma is given twice");
  // An option's value that starts like an option is a value, not an unknown option.
  expect_error("entropy --input --json --sigma 1", "--json");
}

// ---- CSV: a strict header rule; line ends; streams ----

TEST_F(Hostile, CsvFirstRowWithATypoIsAnErrorNotAHeader) {
  const std::string typo = file("typo.csv", "1,2x\n3,4\n5,6\n");
  expect_error("entropy --input " + typo + " --sigma 1", "line 1, column 2: '2x' is not a number");
  const std::string c = file("c.csv", "0,0\n1,1\n");
  // log-density used to write 2 values for these 3 queries.
  expect_error("log-density --queries " + typo + " --centers " + c + " --sigma 1 --output " + (dir_ / "o.npy").string(),
               "line 1, column 2");
  EXPECT_FALSE(fs::exists(dir_ / "o.npy"));
  const std::string later = file("later.csv", "x,y\n1,2\n3,four\n");
  expect_error("entropy --input " + later + " --sigma 1", "line 3, column 2: 'four' is not a number");
}

TEST_F(Hostile, CsvLineEndsAndBomGiveTheSameMatrix) {
  const std::string ref = run("entropy --input " + file("lf.csv", "x,y\n0,0\n1,2\n3,1\n") + " --sigma 1 --backend cpu --json").out;
  ASSERT_FALSE(ref.empty());
  const double h = nlohmann::json::parse(ref)["entropy_nats"];
  for (const std::string& text : {std::string("x,y\r\n0,0\r\n1,2\r\n3,1\r\n"), std::string("x,y\r0,0\r1,2\r3,1"),
                                  std::string("\xEF\xBB\xBFx,y\n0,0\n1,2\n3,1\n"), std::string("\xEF\xBB\xBF" "0,0\r1,2\r3,1\r")}) {
    const CliResult r = run("entropy --input " + file("v.csv", text) + " --sigma 1 --backend cpu --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["n"], 3);
    EXPECT_EQ(j["entropy_nats"].get<double>(), h);
  }
}

TEST_F(Hostile, StreamsAreReadOnce) {
  const std::string csv = file("c.csv", "x,y\n0,0\n1,2\n3,1\n");
  const double h = nlohmann::json::parse(run("entropy --input " + csv + " --sigma 1 --backend cpu --json").out)["entropy_nats"];
  const fs::path out = dir_ / "out";
  auto through_stdin = [&](const std::string& src) {
    const std::string cmd = "cat " + src + " | " + INFOFLOW_CLI_PATH + " entropy --input /dev/stdin --sigma 1 --backend cpu --json >" +
                            out.string() + " 2>" + (dir_ / "err").string();
    return WEXITSTATUS(std::system(cmd.c_str()));
  };
  ASSERT_EQ(through_stdin(csv), 0) << slurp(dir_ / "err");
  EXPECT_EQ(nlohmann::json::parse(slurp(out))["entropy_nats"].get<double>(), h);
  // A .npy through a pipe (written by log-density: 3 values, d = 1).
  const std::string npy = (dir_ / "v.npy").string();
  ASSERT_EQ(run("log-density --queries " + csv + " --centers " + csv + " --sigma 1 --output " + npy).code, 0);
  const double h_npy = nlohmann::json::parse(run("entropy --input " + npy + " --sigma 1 --backend cpu --json").out)["entropy_nats"];
  ASSERT_EQ(through_stdin(npy), 0) << slurp(dir_ / "err");
  EXPECT_EQ(nlohmann::json::parse(slurp(out))["entropy_nats"].get<double>(), h_npy);
  // A FIFO.
  const fs::path fifo = dir_ / "in.csv";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  std::thread writer([&] { std::ofstream(fifo) << "0,0\n1,2\n3,1\n"; });
  const CliResult r = run("entropy --input " + fifo.string() + " --sigma 1 --backend cpu --json");
  writer.join();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["entropy_nats"].get<double>(), h);
  // A model through a pipe gives the same estimate as the file.
  const std::string model = std::string(INFOFLOW_SOURCE_DIR) + "/examples/szt_random_net.safetensors";
  const std::string x = std::string(INFOFLOW_SOURCE_DIR) + "/data/szt/szt_inputs.npy";
  const std::string mi = " --inputs " + x + " --beta 0.005 --samples-per-input 2 --mc-queries 64 --layers 2 --backend cpu --json";
  const CliResult direct = run("mi --model " + model + mi);
  ASSERT_EQ(direct.code, 0) << direct.err;
  const std::string cmd = "cat " + model + " | " + INFOFLOW_CLI_PATH + " mi --model /dev/stdin" + mi + " >" + out.string() +
                          " 2>" + (dir_ / "err").string();
  ASSERT_EQ(WEXITSTATUS(std::system(cmd.c_str())), 0) << slurp(dir_ / "err");
  EXPECT_EQ(nlohmann::json::parse(slurp(out))["layers"], nlohmann::json::parse(direct.out)["layers"]);
  // Endless binary streams fail at once instead of filling memory.
  expect_error("entropy --input /dev/zero --sigma 1", "not a .npy or .csv file");
  expect_error("entropy --input /dev/urandom --sigma 1", "/dev/urandom");
  expect_error("mi --model /dev/zero" + mi, "/dev/zero: header length 0 out of range");
}

// ---- Sizes derived from input values ----

TEST_F(Hostile, HugeLabelIsRefusedBeforeAllocating) {
  std::string x;
  for (int i = 0; i < 10; ++i) x += std::to_string(i % 2) + "," + std::to_string(i % 3) + "\n";
  const std::string inputs = file("x.csv", x);
  auto labels = [&](std::int64_t big) {
    std::string payload;
    for (int i = 0; i < 10; ++i) {
      const std::int64_t v = i == 3 ? big : i % 2;
      payload.append(reinterpret_cast<const char*>(&v), 8);
    }
    return npy("y.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (10,), }", payload);
  };
  const auto t0 = std::chrono::steady_clock::now();
  const std::string y62 = labels(std::int64_t{1} << 62);
  expect_error("train --inputs " + inputs + " --labels " + y62 + " --epochs 2 --out " + (dir_ / "a").string(),
               "labels up to 4611686018427387904");
  const std::string y40 = labels(std::int64_t{1} << 40);
  expect_error("train --inputs " + inputs + " --labels " + y40 + " --epochs 2 --out " + (dir_ / "a").string(),
               "of memory is available", 3);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  EXPECT_FALSE(fs::exists(dir_ / "a"));
}

// ---- Never a silent non-answer ----

TEST_F(Hostile, ValuesOutsideFloat64AreErrors) {
  const std::string c = file("c.csv", "0\n1\n");
  const std::string far = file("far.csv", "1e160\n");
  expect_error("log-density --queries " + far + " --centers " + c + " --sigma 1 --output " + (dir_ / "o.npy").string(),
               "outside float64");
  EXPECT_FALSE(fs::exists(dir_ / "o.npy"));
}

class HostileMi : public Hostile {
 protected:
  const std::string model_ = std::string(INFOFLOW_SOURCE_DIR) + "/examples/szt_random_net.safetensors";
  const std::string inputs_ = std::string(INFOFLOW_SOURCE_DIR) + "/data/szt/szt_inputs.npy";
  const std::string labels_ = std::string(INFOFLOW_SOURCE_DIR) + "/data/szt/szt_labels.npy";
};

TEST_F(HostileMi, ClassWithZeroWeightContributesNothing) {
  // The SZT labels: weight only on class-0 inputs, so Y is constant and I(Y;T) = 0.
  const CliResult labels_json = run("mi --model " + model_ + " --inputs " + inputs_ + " --labels " + labels_ +
                                    " --beta 0.005 --samples-per-input 2 --mc-queries 512 --layers 1 --json");
  ASSERT_EQ(labels_json.code, 0) << labels_json.err;
  // Weights 1/m0 on class 0, 0 on class 1, from the labels file itself.
  const std::string script = "import numpy as np; y = np.load('" + labels_ + "'); w = (y == 0) / np.sum(y == 0); np.save('" +
                             (dir_ / "w.npy").string() + "', w)";
  if (std::system(("/usr/bin/python3 -c \"" + script + "\" 2>/dev/null").c_str()) != 0) GTEST_SKIP() << "no numpy";
  const CliResult r = run("mi --model " + model_ + " --inputs " + inputs_ + " --labels " + labels_ + " --input-weights " +
                          (dir_ / "w.npy").string() + " --beta 0.005 --samples-per-input 2 --mc-queries 512 --layers 1 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto layer = nlohmann::json::parse(r.out)["layers"][0];
  ASSERT_TRUE(layer["I_YT_nats"].is_number()) << r.out;
  const double i_yt = layer["I_YT_nats"], se = layer["I_YT_stderr_nats"];
  EXPECT_LT(std::abs(i_yt), 5 * se + 1e-3) << r.out;
  EXPECT_TRUE(std::isfinite(layer["I_XT_nats"].get<double>()));
}

TEST_F(HostileMi, NetworkWithoutNoisyLayerIsAnError) {
  // One layer, 12 -> 2: only the output layer, which carries no noise unless asked.
  const std::string header =
      R"({"__metadata__":{"activations":"linear"},"layers.0.weight":{"dtype":"F64","shape":[2,12],"data_offsets":[0,192]},)"
      R"("layers.0.bias":{"dtype":"F64","shape":[2],"data_offsets":[192,208]}})";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  std::string payload(208, '\0');
  const double w = 0.5;
  for (int i = 0; i < 24; ++i) std::memcpy(&payload[8 * i], &w, 8);
  const std::string model = file("one_layer.safetensors", bytes + header + payload);
  expect_error("mi --model " + model + " --inputs " + inputs_ + " --beta 0.005", "the network has no noisy layer");
  // With noise on its only layer it is a question with an answer.
  const CliResult r = run("mi --model " + model + " --inputs " + inputs_ + " --beta 0.005 --noisy-last-layer --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["layers"].size(), 1u);
}

TEST_F(HostileMi, TargetStderrSaysWhetherItWasMet) {
  const CliResult r = run("mi --model " + model_ + " --inputs " + inputs_ + " --beta 0.005 --samples-per-input 2 --layers 1 "
                          "--target-stderr 0.5 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto layer = nlohmann::json::parse(r.out)["layers"][0];
  EXPECT_EQ(layer["target_stderr_met"], true);
  EXPECT_LE(layer["h_T_stderr_nats"].get<double>(), 0.5);
  EXPECT_EQ(r.err.find("not reached"), std::string::npos) << r.err;
}

TEST_F(Hostile, PlotOfADamagedRunIsOneLine) {
  if (std::system("/usr/bin/python3 -c 'import matplotlib' 2>/dev/null") != 0) GTEST_SKIP() << "no matplotlib";
  const fs::path out = make_run("run");
  const std::vector<std::pair<std::string, std::string>> damage = {
      {"metrics.csv", "epoch,layer\n1,x\n"},
      {"metrics.csv", std::string("\x00\xff\xfe", 3)},
      {"run.json", "{not json"},
      {"labels.npy", "garbage"},
  };
  const Snapshot good = snapshot(out);
  for (const auto& [name, bytes] : damage) {
    for (const auto& [rel, content] : good) {
      if (content != "<dir>") std::ofstream(out / rel, std::ios::binary) << content;
    }
    std::ofstream(out / name, std::ios::binary) << bytes;
    const CliResult r = run("plot " + out.string());
    EXPECT_NE(r.code, 0) << name;
    EXPECT_EQ(r.err.find("Traceback"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
  }
  // Figures are replaced whole, and only regular files: a link is refused, its target kept.
  for (const auto& [rel, content] : good) {
    if (content != "<dir>") std::ofstream(out / rel, std::ios::binary) << content;
  }
  const std::string precious = file("precious.png", "not a figure");
  fs::create_directories(out / "figures");
  fs::remove(out / "figures" / "training.png");  // drawn before a damaged labels.npy stopped plot
  fs::create_symlink(precious, out / "figures" / "training.png");
  const CliResult r = run("plot " + out.string());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("training.png: is not a regular file"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(precious), "not a figure");
  fs::remove(out / "figures" / "training.png");
  ASSERT_EQ(run("plot " + out.string()).code, 0);
  for (const auto& e : fs::directory_iterator(out / "figures")) {
    EXPECT_EQ(e.path().filename().string().find("infoflow-tmp"), std::string::npos) << e.path();
  }
}

}  // namespace
}  // namespace infoflow::testing
